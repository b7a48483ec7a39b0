/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "bootstrap.h"
#include "clone.h"
#include "control.h"
#include "follow.h"
#include "fs.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "params.h"
#include "pg.h"
#include "signals.h"
#include "upstream.h"
#include "util.h"

/* After the exec PostgreSQL sends READY=1 itself; its start (crash recovery up to a consistent
 * state, bounded by the restartpoint interval) gets this long before the unit's timeout. */
#define POSTMASTER_EXTEND_USEC (3600ULL * 1000000ULL)

typedef enum StartKind {
        START_CLONE,       /* empty: wait for the primary and clone it */
        START_STANDBY,     /* a standby: re-render and start */
        START_PROMOTED,    /* no standby.signal: the primary it now is */
        START_INTERRUPTED, /* standby.signal, but promoted after the copy: never follow the old primary */
} StartKind;

/* Settings a standby cannot work with, found before anything is touched. */
static int check_config(const Config *c, const char *datadir) {
        const char *pw = config_get(c, VAR_REPLICATION_PASSWORD);

        if (pw && strpbrk(pw, "\n\r")) {
                log_error("POSTGRESQL_REPLICATION_PASSWORD (from %s): must not contain a line break (a standby "
                          "keeps it in a passfile, one line)", c->sources[VAR_REPLICATION_PASSWORD]);
                return -PGREPL_E_CONFIG;
        }
        if (streq(datadir, "/")) {
                log_error("POSTGRESQL_DATA_DIR='/' (from %s): not a data directory", c->sources[VAR_DATA_DIR]);
                return -PGREPL_E_CONFIG;
        }
        if (config_get(c, VAR_INITDB_WAL_DIR))
                log_warning("POSTGRESQL_INITDB_WAL_DIR (from %s) is ignored on a standby: the clone keeps pg_wal "
                            "inside the data directory", c->sources[VAR_INITDB_WAL_DIR]);
        return 0;
}

/* An empty mount point cannot be replaced by a rename: say so instead of failing after the copy. */
static int check_not_mount_point(const char *datadir) {
        _cleanup_free_ char *parent = path_parent(datadir);
        struct stat a, b;

        if (!parent)
                return log_oom();
        if (stat(datadir, &a) < 0 || stat(parent, &b) < 0)
                return 0;
        if (a.st_dev != b.st_dev) {
                log_error("POSTGRESQL_DATA_DIR='%s' is a mount point: the clone is renamed into place, which "
                          "cannot replace a mount point. Use a directory below it, e.g. '%s/data'", datadir, datadir);
                return -PGREPL_E_CONFIG;
        }
        return 0;
}

/* A promotion record newer than standby.signal (written at the copy) means a promotion began. */
static bool promoted_after_copy(const Config *c, const char *datadir) {
        _cleanup_free_ char *state = config_state_dir(c), *rec = NULL, *sig = path_join(datadir, "standby.signal");
        struct stat r, s;

        if (!state || !sig || !(rec = path_join(state, "promotion")))
                return false;
        if (stat(rec, &r) < 0 || stat(sig, &s) < 0)
                return false;
        return r.st_mtim.tv_sec > s.st_mtim.tv_sec ||
               (r.st_mtim.tv_sec == s.st_mtim.tv_sec && r.st_mtim.tv_nsec > s.st_mtim.tv_nsec);
}

static int decide(const Config *c, const char *bindir, const char *datadir, StartKind *ret) {
        int r;

        r = node_check_datadir(datadir, bindir);
        if (r < 0)
                return r;
        if (r > 0) {
                r = check_not_mount_point(datadir);
                if (r < 0)
                        return r;
                *ret = START_CLONE;
                return 0;
        }
        if (!node_is_standby(datadir))
                *ret = START_PROMOTED;
        else
                *ret = promoted_after_copy(c, datadir) ? START_INTERRUPTED : START_STANDBY;
        return 0;
}

/*
 * A data directory that is a symlink (to another disk, say) is worked on where it points: the
 * clone's side directory goes next to the real directory, so the final rename stays on one file
 * system and replaces the directory, not the link.
 */
static int resolve_symlink(const Config *c, char **datadir) {
        _cleanup_free_ char *real = NULL;
        struct stat st;

        if (lstat(*datadir, &st) < 0 || !S_ISLNK(st.st_mode))
                return 0;
        real = realpath(*datadir, NULL);
        if (!real) {
                log_error("POSTGRESQL_DATA_DIR='%s' (from %s) is a symbolic link that leads nowhere: %s; "
                          "point it at an existing directory, or remove it", *datadir, c->sources[VAR_DATA_DIR],
                          strerror(errno));
                return -PGREPL_E_CONFIG;
        }
        if (streq(real, "/")) {
                log_error("POSTGRESQL_DATA_DIR='%s' (from %s) leads to '/': not a data directory", *datadir,
                          c->sources[VAR_DATA_DIR]);
                return -PGREPL_E_CONFIG;
        }
        log_debug("POSTGRESQL_DATA_DIR='%s' is a symbolic link to '%s'", *datadir, real);
        free(*datadir);
        *datadir = TAKE_PTR(real);
        return 0;
}

static int prepare(const Config *c, char **ret_bindir, char **ret_datadir, StartKind *ret_kind) {
        _cleanup_free_ char *bindir = NULL, *datadir = strdup(config_get(c, VAR_DATA_DIR));
        size_t n;
        int r;

        if (!datadir)
                return log_oom();
        n = strlen(datadir);
        while (n > 1 && datadir[n - 1] == '/')
                datadir[--n] = 0;
        r = check_config(c, datadir);
        if (r < 0)
                return r;
        r = resolve_symlink(c, &datadir);
        if (r < 0)
                return r;
        r = pg_find_bindir(c, &bindir);
        if (r < 0)
                return r;
        r = decide(c, bindir, datadir, ret_kind);
        if (r < 0)
                return r;
        *ret_bindir = TAKE_PTR(bindir);
        *ret_datadir = TAKE_PTR(datadir);
        return 0;
}

static int read_control(const char *bindir, const char *dir, ControlData *ret) {
        int r = control_read(bindir, dir, ret);

        if (r < 0)
                return log_error_errno(r, "Failed to read the control file of '%s' with pg_controldata: %m", dir);
        return 0;
}

/*
 * The include file for a standby in dir: primary_conninfo (u NULL: none) and slot, then the
 * primary's hot-standby parameters as floors where this node's own would be lower.
 */
static int write_standby_config(const Config *c, const char *bindir, const char *dir, const Upstream *u,
                                const ControlData *cd) {
        _cleanup_free_ char *conninfo = NULL;
        StandbySettings s = {};
        Setting *floors = NULL;
        size_t n = 0;
        int r;

        if (u) {
                conninfo = upstream_conninfo(u, config_get(c, VAR_CLUSTER_APP_NAME));
                if (!conninfo)
                        return log_oom();
                s.primary_conninfo = conninfo;
                s.primary_slot_name = u->slot;
        }
        r = node_write_config(c, dir, &s);
        if (r < 0)
                return r;
        r = params_floors(bindir, dir, cd, &floors, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read the hot-standby parameters of '%s' with "
                                       "'postgres -C': %m", dir);
        if (n > 0) {
                s.floors = floors;
                s.n_floors = n;
                r = node_write_config(c, dir, &s);
        }
        params_free(floors, n);
        return r;
}

/*
 * On later starts and reloads the primary may be a new one: put our slot there, and make sure
 * this standby can follow it. Best effort when it cannot be reached (the walreceiver retries by
 * itself). 2 when it is another cluster, 1 when its timeline cannot be followed (either way a
 * sentence in why), 0 otherwise.
 */
static int check_upstream(const Upstream *u, const char *datadir, const ControlData *cd, char *why, size_t n) {
        _cleanup_pq_ PGconn *conn = upstream_connect(u);
        const char *reason = NULL;
        uint64_t sysid, lsn;
        unsigned ptli, tli;
        int r;

        if (PQstatus(conn) != CONNECTION_OK) {
                log_notice("Primary '%s' is not reachable now (%s); the standby connects when it is",
                           u->display, pg_error_reason(conn));
                return 0;
        }
        if (upstream_identify(conn, &sysid, &ptli) < 0)
                return 0;
        if (sysid != cd->sysid) {
                snprintf(why, n, "it is another cluster (system identifier %llu, this standby's is %llu)",
                         (unsigned long long) sysid, (unsigned long long) cd->sysid);
                log_error("Primary '%s' cannot be followed: %s. Check POSTGRESQL_MASTER_HOST, or clone afresh: stop "
                          "the unit, move the data directory away, start it again", u->display, why);
                return 2;
        }
        if (follow_position(u->c, datadir, cd, &tli, &lsn) >= 0 && follow_check(conn, ptli, tli, lsn, why, n) > 0) {
                log_error("Primary '%s' cannot be followed: %s. PostgreSQL will retry in vain; clone afresh: stop "
                          "the unit, move the data directory away, start it again", u->display, why);
                return 1;
        }
        if (u->slot) {
                r = upstream_ensure_slot(u, conn, &reason);
                if (r > 0)
                        log_info("Created replication slot '%s' on primary '%s'", u->slot, u->display);
                else if (r < 0)
                        log_warning("Replication slot '%s' on primary '%s': %s; the standby retries until it exists",
                                    u->slot, u->display, reason);
        }
        return 0;
}

static int start_postmaster(const Config *c, const char *bindir, const char *datadir, const char *what) {
        /* A stop request that came during the last steps is honoured, not lost in the exec. */
        if (signals_stop_requested())
                return -EINTR;
        /* The last STATUS= before the exec stays until PostgreSQL stops: it is what systemctl shows. */
        notify_status("%s", what);
        notify_extend_timeout(POSTMASTER_EXTEND_USEC);
        log_info("Starting PostgreSQL (%s) on port %u, data directory '%s'", what, c->port, datadir);
        return node_exec_postmaster(c, bindir, datadir);
}

static void log_promoted(const Config *c, const char *datadir) {
        log_notice("'%s' was promoted: starting it as the primary it now is; it will not follow '%s' again. "
                   "To make it a standby again: stop pgrepl-standby@%s, move '%s' away, and start the unit: it "
                   "clones afresh (pg_rewind is not supported yet)", datadir, config_get(c, VAR_MASTER_HOST),
                   c->instance, datadir);
}

static void log_interrupted(const Config *c, const char *datadir) {
        log_notice("'%s' still has standby.signal, but a promotion was recorded after it was cloned: the "
                   "promotion was interrupted. Starting it without primary_conninfo, so it never follows '%s' "
                   "again; finish the promotion with SELECT pg_promote() or the trigger file",
                   datadir, config_get(c, VAR_MASTER_HOST));
}

/* A promoted data directory starts as the primary it now is: no primary_conninfo, no standby.signal. */
static int prepare_promoted(const Config *c, const char *datadir, char *what, size_t n) {
        log_promoted(c, datadir);
        snprintf(what, n, "primary: promoted, no longer a standby");
        return node_write_config(c, datadir, NULL);
}

/* A promotion that began but did not finish: a standby again, but one that follows nobody. */
static int prepare_interrupted(const Config *c, const char *bindir, const char *datadir, bool reload, char *what,
                               size_t n) {
        ControlData cd;
        int r;

        if (!reload)
                log_interrupted(c, datadir);
        snprintf(what, n, "standby without upstream: promotion interrupted");
        r = read_control(bindir, datadir, &cd);
        if (r < 0)
                return r;
        return write_standby_config(c, bindir, datadir, NULL, &cd);
}

/*
 * A standby: the primary may be a new one. A start follows it even when it cannot (and says so in
 * what); a reload never re-points a running standby at a primary it cannot follow (another
 * cluster, a timeline forked before its position): it would retry for ever, while the primary it
 * follows now may be fine.
 */
static int prepare_standby(const Config *c, const char *bindir, const char *datadir, const Upstream *u,
                           bool reload, char *what, size_t n) {
        _cleanup_erase_ char *old = NULL;
        char why[384];
        ControlData cd;
        int r;

        r = read_control(bindir, datadir, &cd);
        if (r < 0)
                return r;
        /* The new primary is checked with the new passfile; on a reload the old one comes back when it
         * is refused, since the running walreceiver still uses it. */
        if (reload)
                (void) fs_read_file(u->passfile, &old);
        r = upstream_write_passfile(u);
        if (r < 0)
                return r;
        snprintf(what, n, "standby of '%s'", u->display);
        if (check_upstream(u, datadir, &cd, why, sizeof(why)) > 0) {
                if (reload) {
                        if (old)
                                (void) fs_write_atomic(u->passfile, old, 0600);
                        return -PGREPL_E_CONFIG;
                }
                snprintf(what, n, "standby of '%s', which it cannot follow: %s", u->display, why);
        }
        return write_standby_config(c, bindir, datadir, u, &cd);
}

/* A later start or a reload: render what this kind of data directory needs; what gets its STATUS=. */
static int prepare_later(const Config *c, StartKind kind, const char *bindir, const char *datadir,
                         const Upstream *u, bool reload, char *what, size_t n) {
        switch (kind) {
        case START_PROMOTED:
                return prepare_promoted(c, datadir, what, n);
        case START_INTERRUPTED:
                return prepare_interrupted(c, bindir, datadir, reload, what, n);
        case START_STANDBY:
                return prepare_standby(c, bindir, datadir, u, reload, what, n);
        case START_CLONE:
                break;
        }
        return -EINVAL;
}

/* pg_basebackup fsynced every file and directory before it exited 0 (we never pass --no-sync); what
 * is added here is written with fsync, and the rename is made durable with the parent's fsync. A
 * second pass over the tree would only cost time. */
static int finish_clone(const Config *c, const char *bindir, const char *side, const char *datadir,
                        const Upstream *u) {
        _cleanup_free_ char *signal_path = path_join(side, "standby.signal");
        ControlData cd;
        int r;

        if (!signal_path)
                return log_oom();
        notify_status("cloned from '%s': writing the standby settings", u->display);
        r = fs_write_atomic(signal_path, "", 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to finish the copy in '%s': %m", side);
        r = read_control(bindir, side, &cd);
        if (r >= 0)
                r = write_standby_config(c, bindir, side, u, &cd);
        if (r >= 0)
                r = clone_commit(side, datadir);
        if (r < 0)
                return r;
        log_info("Clone of '%s' is in place in '%s'", u->display, datadir);
        return 0;
}

/* An empty data directory: wait for the primary, clone it, make the copy a standby, start it. */
static int start_first(const Config *c, const char *bindir, const char *datadir, const Upstream *u) {
        _cleanup_free_ char *side = clone_side_path(datadir);
        _cleanup_close_ int lock_fd = -1;
        char what[256];
        int r;

        if (!side)
                return log_oom();
        log_info("First start: cloning primary '%s' into '%s'", u->display, datadir);
        r = clone_prepare(c, datadir, side, &lock_fd);
        if (r < 0)
                return r;
        r = upstream_write_passfile(u);
        if (r < 0)
                return r;
        r = clone_until_done(u, bindir, side);
        if (r < 0)
                return r;
        r = finish_clone(c, bindir, side, datadir, u);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "standby of '%s'", u->display);
        return start_postmaster(c, bindir, datadir, what);
}

int bootstrap_run(const Config *c) {
        _cleanup_free_ char *bindir = NULL, *datadir = NULL;
        _cleanup_(upstream_done) Upstream u = {};
        char what[512];
        StartKind kind;
        int r;

        /* From here on a stop request is read where the work waits (signals.h), not caught. */
        r = signals_block_stop();
        if (r < 0)
                return log_error_errno(r, "Failed to block SIGINT and SIGTERM: %m");
        r = prepare(c, &bindir, &datadir, &kind);
        if (r < 0)
                return r;
        r = upstream_init(c, &u);
        if (r < 0)
                return r;
        if (kind == START_CLONE)
                return start_first(c, bindir, datadir, &u);
        r = prepare_later(c, kind, bindir, datadir, &u, false, what, sizeof(what));
        if (r < 0)
                return r;
        return start_postmaster(c, bindir, datadir, what);
}

int bootstrap_reload(const Config *c) {
        _cleanup_free_ char *bindir = NULL, *datadir = NULL;
        _cleanup_(upstream_done) Upstream u = {};
        char what[512];
        StartKind kind;
        int r;

        r = prepare(c, &bindir, &datadir, &kind);
        if (r < 0)
                return r;
        if (kind == START_CLONE) {
                log_error("POSTGRESQL_DATA_DIR='%s' is empty: nothing to reload (the first start clones)", datadir);
                return -ESRCH;
        }
        r = upstream_init(c, &u);
        if (r < 0)
                return r;
        r = prepare_later(c, kind, bindir, datadir, &u, true, what, sizeof(what));
        if (r < 0)
                return r;
        r = node_signal_reload(datadir);
        if (r == -ESRCH)
                return log_error("No server runs on '%s': settings were written and apply at the next start",
                                 datadir), r;
        if (r < 0)
                return log_error_errno(r, "Failed to signal the server on '%s': %m", datadir);
        log_info("Settings re-rendered for primary '%s' and the server on '%s' reloaded", u.display, datadir);
        return 0;
}
