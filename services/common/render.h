/* SPDX-License-Identifier: MIT */
/*
 * Renderers: the suite's postgresql.conf include file, pg_hba.conf,
 * synchronous_standby_names, conninfo strings and passfile lines. Each
 * quotes by its own format's rules; every function returns a new string
 * or NULL on allocation failure.
 */
#pragma once

#include "config.h"

/* Name of the include file pgrepl owns inside the data directory. */
#define RENDER_SETTINGS_FILE "pgrepl.auto.conf"
#define RENDER_INCLUDE_LINE "include_if_exists = 'pgrepl.auto.conf'\t# added by pgrepl: keep last"

/* A postgresql.conf string literal: 'it''s' with backslashes doubled. */
char *render_conf_string(const char *s);
/* A conninfo value: single quotes, backslash before ' and \. */
char *render_conninfo_value(const char *s);
/* A pg_hba.conf user or database name: always double quoted. */
char *render_hba_name(const char *s);
/* A passfile field: backslash before ':' and '\'. */
char *render_pgpass_field(const char *s);

/* "host='a' port='5432'": keys and values NULL-terminated, NULL values skipped. */
char *render_conninfo(const char *const *keys, const char *const *values);
/* "host:port:db:user:password\n" */
char *render_pgpass_line(const char *host, const char *port, const char *db,
                         const char *user, const char *password);

/* "" when no synchronous replica is asked for, else [FIRST|ANY ]N ("a","b"). */
char *render_sync_names(const Config *c);

/* Standby-only parameters; all NULL for a primary. */
typedef struct StandbySettings {
        const char *primary_conninfo; /* raw conninfo, quoted by the renderer */
        const char *primary_slot_name;
        /* Rendered last, after the 'settings' group: values a hot standby needs at least
         * (its primary's max_connections and the like). */
        const Setting *floors;
        size_t n_floors;
} StandbySettings;

/* The whole include file for this node. */
char *render_settings(const Config *c, const StandbySettings *standby);
/* The whole pg_hba.conf for this node. */
char *render_hba(const Config *c);
/* True when pg_hba.conf will use trust (no password and ALLOW_EMPTY_PASSWORD). */
bool render_hba_is_trust(const Config *c);
