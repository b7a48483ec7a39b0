/* SPDX-License-Identifier: MIT */
/*
 * The standby's upstream: how to reach the primary (conninfo with passfile=,
 * never a password), the passfile itself, the physical replication slot,
 * and the wait for the primary with capped exponential backoff, reported in
 * STATUS= and kept alive with EXTEND_TIMEOUT_USEC=.
 */
#pragma once

#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Backoff between attempts: 1 s doubling to 30 s. */
#define UPSTREAM_BACKOFF_MAX_S 30U
/* STATUS= (and EXTEND_TIMEOUT_USEC=) at least this often while waiting or cloning. */
#define UPSTREAM_STATUS_EVERY_S 5U
/* Each extension covers a few refresh intervals and one slow connection attempt. */
#define UPSTREAM_EXTEND_USEC (30ULL * 1000000ULL)

/* Set by SIGINT/SIGTERM while waiting or cloning: the signal number. */
extern volatile sig_atomic_t upstream_interrupted;
/* Catch SIGINT/SIGTERM (no SA_RESTART) so sleeps and the clone end promptly. */
int upstream_catch_signals(void);

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

/* Fill u from the configuration; touches nothing. */
int upstream_init(const Config *c, Upstream *u);
void upstream_done(Upstream *u);

/* Default slot name: pgrepl_<host>_<instance>, [a-z0-9_], at most 63 bytes. */
int upstream_slot_name(const char *hostname, const char *instance, char **ret);
/* Next backoff delay in seconds after prev (0 for the first). */
unsigned upstream_backoff_next(unsigned prev);

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
/* Identify the primary: system identifier and timeline (IDENTIFY_SYSTEM). */
int upstream_identify(PGconn *conn, uint64_t *ret_sysid, unsigned *ret_timeline);

/* Attempts, backoff and the POSTGRESQL_INIT_MAX_TIMEOUT deadline. */
typedef struct Waiter {
        uint64_t start_usec;
        uint64_t deadline_usec; /* 0: no limit */
        unsigned delay;         /* seconds of the last pause */
        unsigned attempt;
} Waiter;

void waiter_init(Waiter *w, unsigned max_timeout_s);
/*
 * After a failed attempt: sleep the next backoff delay, refreshing STATUS=
 * ("waiting for primary 'h:p': <reason>, retry in 8s") and
 * EXTEND_TIMEOUT_USEC= every few seconds. -ETIMEDOUT once the deadline has
 * passed, -EINTR on SIGINT/SIGTERM.
 */
int waiter_pause(Waiter *w, const Upstream *u, const char *reason);

/*
 * Wait until a replication connection succeeds and the slot is in place.
 * Returns 0, -ETIMEDOUT (exit 69) or -EINTR.
 */
int upstream_wait(const Upstream *u, Waiter *w);

