/* SPDX-License-Identifier: MIT */
/*
 * What every node does to its data directory, primary or standby: inspect
 * it (what it holds, and whether this unit may use it), render the suite's
 * include file and pg_hba.conf, make sure postgresql.conf includes the
 * former, signal a reload, and exec the postmaster. Failures are returned,
 * not logged, except by node_inspect_datadir() and node_reload_server(),
 * which decide and say so below.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "render.h"

/* Write RENDER_SETTINGS_FILE and pg_hba.conf, and the include line if missing. */
int node_write_config(const Config *c, const char *datadir, const StandbySettings *standby);
/* 1 (and its pid) when a postmaster runs on datadir: postmaster.pid names a live process that
 * works in that directory; 0 when none does. */
int node_postmaster_running(const char *datadir, pid_t *ret_pid);
/* SIGHUP the postmaster running on datadir; -ESRCH when none runs. */
int node_signal_reload(const char *datadir);
/* The same, for a reload's last step: a failure is logged here (no server runs, or it could not be
 * signalled), the one sentence every unit says; success is the caller's to tell. */
int node_reload_server(const char *datadir);
/*
 * The instance's lock NAME in its state directory (made if missing), for work on a side directory
 * of datadir that one process at a time may do: a first start, a clone. Dropped with the exec
 * (O_CLOEXEC) or the exit. -EAGAIN, logged ("Another ... is DOING 'DATADIR'", naming the holder),
 * when another process holds it; other failures are logged too.
 */
int node_lock(const Config *c, const char *name, const char *doing, const char *datadir, int *ret_fd);
/*
 * The last steps before the exec, with what the server will be ("primary on port 5432"): the file
 * systems of datadir and its pg_wal must have NODE_MIN_FREE_BYTES free (a server that cannot write WAL dies at
 * once, in a loop), else -ENOSPC, said in STATUS= and the log; then the STATUS= that stays while
 * the server runs, with what its last run died of when it died (lastexit.h), also logged.
 */
#define NODE_MIN_FREE_BYTES (16ULL << 20) /* one WAL segment of the default size */
int node_before_exec(const Config *c, const char *datadir, const char *what);
/* Replace this process with the postmaster (the stop signals unblocked first, signals.h); returns
 * only on failure. */
int node_exec_postmaster(const Config *c, const char *bindir, const char *datadir);
/* In the state directory while a rewind (standby-bootstrap's rewind.c) is under way. */
#define NODE_REWIND_MARKER "rewind"
/* Whether a rewind of this instance began and did not finish. */
bool node_rewind_pending(const Config *c);

typedef enum DataDirKind {
        DATADIR_EMPTY,       /* absent or empty: a first start */
        DATADIR_PRIMARY,     /* a cluster without standby.signal: a primary, or a standby since promoted */
        DATADIR_STANDBY,     /* standby.signal */
        DATADIR_INTERRUPTED, /* standby.signal, but a promotion was recorded after it was written */
} DataDirKind;

typedef struct DataDir {
        DataDirKind kind;
        char *path;            /* POSTGRESQL_DATA_DIR, a symbolic link resolved: where to work */
        char *bindir;          /* the server's binaries */
        unsigned major;        /* the cluster's PostgreSQL major; 0 when empty */
        unsigned server_major; /* the server's; 0 when it could not be told */
} DataDir;

/*
 * What the data directory is, and whether this unit (c->role) may start on it: the one place that
 * judges what the configuration points at, for a start, a reload and --check alike. Read-only:
 * it creates, writes and locks nothing, and may run as any user. Refused, each logged as one
 * problem of the variable (config_report()) and returned as -PGREPL_E_CONFIG: a symbolic link that
 * leads nowhere or to '/', a path that is not a directory, a POSTGRESQL_BIN_DIR without a server
 * (or no server found), a directory that is not empty but holds no cluster, an incomplete cluster
 * (PG_VERSION without global/pg_control), a cluster of another major than the server's; for the
 * primary a standby's directory, for a standby an empty mount point (a clone cannot be renamed
 * onto it). What cannot be read is logged ("Cannot inspect ...") and returned as its errno.
 */
int node_inspect_datadir(const Config *c, DataDir *ret);
/* What PostgreSQL itself would refuse at its start, asked of d->bindir's server before anything is
 * written (node-settings.c): the `settings` group, POSTGRESQL_EXTRA_FLAGS, MAX_CONNECTIONS,
 * SHARED_PRELOAD_LIBRARIES (each must be in the server's library directory) and SOCKET_DIR (must
 * be a directory). Each refusal is logged as one problem and returned as -PGREPL_E_CONFIG.
 * node_inspect_datadir() calls it. */
int node_check_settings(const Config *c, const DataDir *d);
/* A start, before it writes anything: a server that already runs on the directory (another
 * instance, or one started by hand) is refused with -EAGAIN (exit 75), logged. A reload is what
 * changes a running server's files. */
int node_refuse_running(const DataDir *d);
/* A start, before it writes anything: when no address the postmaster would listen on
 * (listen_addresses) can be bound because another process holds the port, -EAGAIN (exit 75),
 * logged. Only at a start: while the instance runs, its own server holds the port. */
int node_refuse_busy_port(const Config *c);
/* The same for a reload, which needs a cluster: an empty directory is refused (logged, -ESRCH). */
int node_inspect_for_reload(const Config *c, DataDir *ret);
void node_datadir_done(DataDir *d);
/* "empty", "primary", "standby", "standby, promotion interrupted" */
const char *node_datadir_kind_to_string(DataDirKind kind);
