/* SPDX-License-Identifier: MIT */
/*
 * The image's init scripts (POSTGRESQL_INITSCRIPTS_DIR: *.sh, *.sql,
 * *.sql.gz in name order), run once: on a primary's first start, against the
 * private setup server, after the roles and the database exist and before
 * the real start. The state directory keeps where they are:
 * initscripts.pending from initdb until the last script succeeded (empty:
 * none started yet; else the name of the script that was running), then
 * initscripts.done. A start that finds a script's name in the pending marker
 * refuses (exit 78) rather than run a set twice or skip part of it.
 */
#pragma once

#include "config.h"

typedef enum InitScriptsState {
        INITSCRIPTS_NONE,    /* not a first start, or nothing to run */
        INITSCRIPTS_PENDING, /* to run at this start */
} InitScriptsState;

/* Right after initdb: remember that the scripts (if any) are owed. */
int initscripts_mark_first_start(const Config *c);
/* INITSCRIPTS_PENDING or INITSCRIPTS_NONE; -PGREPL_E_CONFIG (logged) when a set failed part way. */
int initscripts_state(const Config *c);
/* Run them all against the server on socket_dir:port; logs and returns -PGREPL_E_CONFIG when one fails. */
int initscripts_run(const Config *c, const char *bindir, const char *socket_dir, unsigned port);
