/* SPDX-License-Identifier: MIT */
/*
 * The standby's upstream: how to reach the primary (conninfo with passfile=,
 * never a password), the passfile itself, the physical replication slot,
 * and the wait until the primary accepts a replication connection (wait.h
 * paces the attempts).
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "wait.h"

typedef struct Upstream {
        const Config *c;
        /* Where the clone and the checks connect: POSTGRESQL_MASTER_HOST, or with partners and no
         * master host, every other partner (libpq's multi-host lists) with target_session_attrs. */
        char *host;
        char *port;
        /* What primary_conninfo names: with partners every other partner, so the standby follows
         * whichever is primary with no edit; else the same as host/port. */
        char *follow_host;
        char *follow_port;
        const char *target;  /* target_session_attrs, NULL for a single host */
        char *display;   /* "host:port" or "[v6]:port" (a list with partners), for messages */
        char *passfile;  /* $STATE_DIRECTORY/passfile or POSTGRESQL_REPLICATION_PASSFILE_PATH */
        char *slot;      /* NULL when POSTGRESQL_REPLICATION_SLOT=off */
} Upstream;

/* Fill u from the configuration; touches nothing but the state directory's slot file
 * (upstream_default_slot()). first: for a first start, whose clone comes from
 * POSTGRESQL_MASTER_HOST when set; later starts with partners always look among the partners. */
int upstream_init(const Config *c, bool first, Upstream *u);
void upstream_done(Upstream *u);

/* Slot name pgrepl_<host>_<instance>, [a-z0-9_], at most 63 bytes. */
int upstream_slot_name(const char *hostname, const char *instance, char **ret);
/* pgrepl_<machine>_<instance>: <machine> is 16 hex digits of this machine's id for pgrepl
 * (sd_id128_get_machine_app_specific()), so two machines with one host name differ. */
int upstream_slot_name_machine(const char *instance, char **ret);
/*
 * The slot name without partners and without POSTGRESQL_REPLICATION_SLOT=<name>: the one recorded
 * in STATE_DIRECTORY/slot; when none is, chosen and recorded: for a first clone (first) by
 * upstream_slot_name_machine(), for a standby of an older pgrepl by the host name rule it was made
 * with (its slot on the primary holds its WAL). A renamed host keeps its slot. Logs.
 */
int upstream_default_slot(const Config *c, bool first, char **ret);

/* Write the passfile (0600, atomically): the only place the password lives. */
int upstream_write_passfile(const Upstream *u);
/* Conninfo for primary_conninfo: passfile=, timeouts, keepalives; every partner with partners. */
char *upstream_conninfo(const Upstream *u, const char *application_name);
/* Conninfo for pg_basebackup -d: the master host, or with partners and none, the primary among them. */
char *upstream_clone_conninfo(const Upstream *u);
/* A replication connection to the primary (check PQstatus()). */
PGconn *upstream_connect(const Upstream *u);
/*
 * Create the slot, or reuse it when it exists. Returns 1 when created, 0 when
 * reused, -EIO with a reason for STATUS= in *ret_reason (static string).
 */
int upstream_ensure_slot(const Upstream *u, PGconn *conn, const char **ret_reason);

/*
 * Wait until a replication connection succeeds and the slot is in place.
 * local_major (0: unknown, not checked) is the major of this node's
 * binaries: streaming replication needs the same one. A primary of another
 * major whose binaries are installed here too (POSTGRESQL_BIN_DIR unset)
 * gives -EXDEV with that major in *ret_major, for the caller to use them;
 * otherwise it is refused before anything is copied, with STATUS= and the
 * log saying both. Returns 0, -EXDEV, -PGREPL_E_CONFIG (refused, logged;
 * exit 78), -ETIMEDOUT (logged; exit 69) or -EINTR on a stop request.
 */
int upstream_wait(const Upstream *u, Waiter *w, unsigned local_major, unsigned *ret_major);
