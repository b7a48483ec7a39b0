/* SPDX-License-Identifier: MIT */
/*
 * libpq and PostgreSQL helpers: finding the server binaries, connecting
 * with timeouts and keepalives, short queries, reading a data directory's
 * state, and a short-lived server on a private socket for setup work.
 * Nothing here logs above debug: failures are returned (negative errno),
 * and the caller, who knows what they mean, says so.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "macro.h"

static inline void PQfinishp(PGconn **c) {
        if (*c)
                PQfinish(*c);
}
static inline void PQclearp(PGresult **r) {
        if (*r)
                PQclear(*r);
}
#define _cleanup_pq_ _cleanup_(PQfinishp)
#define _cleanup_pqres_ _cleanup_(PQclearp)

/* POSTGRESQL_BIN_DIR; else, when want_major is not 0 (a data directory's PG_VERSION), that major's
 * /usr/lib/postgresql/N/bin or /usr/pgsql-N/bin if installed, so that installing a newer major
 * beside it changes nothing; else the highest major under those, else /usr/bin (Fedora/RHEL's own
 * server). -ENOENT when that directory has no executable postgres. */
int pg_find_bindir(const Config *c, unsigned want_major, char **ret);
/* The same search below root ("" for /), with bin_dir as POSTGRESQL_BIN_DIR (NULL: unset). */
int pg_find_bindir_below(const char *root, const char *bin_dir, unsigned want_major, char **ret);
/* "BINDIR/NAME" */
char *pg_bin(const char *bindir, const char *name);
/* Major version of a data directory from PG_VERSION (0 when absent; -EBADMSG when it holds no number). */
int pg_data_version(const char *datadir, unsigned *ret);
/* Major version of the server binaries: from a path that carries it (Debian's, PGDG's), else from
 * what `postgres --version` says (Fedora's and RHEL's /usr/bin). */
int pg_bin_version(const char *bindir, unsigned *ret);

/* Connection keywords: the caller's (NULL values skipped), then connect_timeout and TCP keepalives
 * where the caller gave none of its own. */
typedef struct PgConnParams {
        const char *keys[32], *values[32];
} PgConnParams;
void pg_conn_params(const char *const *keys, const char *const *values, PgConnParams *ret);

/*
 * POSTGRESQL_ENABLE_TLS for the connections this process makes to other nodes (a host that is not a
 * socket directory): sslmode=verify-full with POSTGRESQL_TLS_CA_FILE as the root certificate and the
 * node's own certificate and key as its client certificate, else sslmode=require. pg_conn_params()
 * adds them; call once after config_load(). -ENOMEM or 0.
 */
int pg_tls_client(const Config *c);

/*
 * Connect with connect_timeout and TCP keepalives added. keys/values are
 * NULL-terminated; a NULL value is skipped. The connection is returned even
 * when it failed, so the caller can classify the error; check PQstatus().
 */
PGconn *pg_connect(const char *const *keys, const char *const *values);
/* Connect to the local server over its unix socket as the superuser. */
PGconn *pg_connect_local(const char *socket_dir, unsigned port, const char *dbname);
/* A short, user-facing reason for a failed connection ("connection refused"). */
const char *pg_error_reason(const PGconn *conn);
/* Run a command; -EIO on failure (PQerrorMessage() has the server's words; logged at debug). */
int pg_exec(PGconn *conn, const char *sql);
/* One value of a one-row query with text parameters; NULL value gives *ret NULL. */
int pg_query_value(PGconn *conn, const char *sql, int nparams, const char *const *params, char **ret);

/* The running postmaster's pid from postmaster.pid, -ESRCH when none. */
int pg_postmaster_pid(const char *datadir, pid_t *ret);

typedef struct PgServer {
        pid_t pid;
        char *socket_dir;
        unsigned port;
} PgServer;

/*
 * Start `postgres` on a private socket directory with no TCP listener,
 * no NOTIFY_SOCKET and a trust-only hba file of its own (the directory is
 * 0700, so only the service user can reach it), and wait until it accepts
 * connections. For setup work before the real start. -EPROTO when the
 * server exits before it accepts connections (its own log says why).
 */
int pg_server_start_private(const char *bindir, const char *datadir, const char *rundir, unsigned port,
                            PgServer *ret);
/* Fast shutdown and wait; -EPROTO when it did not exit cleanly. */
int pg_server_stop(PgServer *s);
