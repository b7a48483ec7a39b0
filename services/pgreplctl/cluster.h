/* SPDX-License-Identifier: MIT */
/*
 * The other nodes, as the commands see them: every entry of POSTGRESQL_PARTNER_NODES (or one host
 * named on the command line) asked over a replication connection with the replication user's
 * passfile, the lag of each behind the primary, and the sync state of each from the primary's
 * pg_stat_replication (matched by the member's slot; readable by a superuser or a member of
 * pg_read_all_stats, else not known).
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>

#include "config.h"
#include "report.h"

/* How long one member may take to answer. */
#define CLUSTER_TIMEOUT_S 3

typedef struct Passfile {
        char *path;   /* NULL: none (libpq's default then) */
        char *tmpdir; /* a private directory made for this run, removed by cluster_passfile_done() */
} Passfile;

/* The passfile the units use when this user can read it; else one written for this run from the
 * configuration's replication password (0600 in a private 0700 directory), unless the password is
 * not known (password_known false). -ENOMEM; other failures leave path NULL. */
int cluster_passfile(const Config *c, bool password_known, Passfile *ret);
void cluster_passfile_done(Passfile *p);

/* Ask every partner entry (this node's too); local: a connection to this node's own server (may
 * be NULL), used when it is the primary. Only -ENOMEM is an error. */
int cluster_ask(const Config *c, const char *passfile, PGconn *local, MemberState **ret, size_t *ret_n);
/* Ask one host (a master host, a command's target) as cluster_ask() asks a member. */
int cluster_ask_host(const Config *c, const char *passfile, const char *host, unsigned port, MemberState *ret);
