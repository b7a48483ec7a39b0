/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fence.h"
#include "initscripts.h"
#include "lastexit.h"
#include "fs.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "pg.h"
#include "primary.h"
#include "roles.h"
#include "spawn-util.h"
#include "util.h"

/* initdb into an empty data directory: UTF8, checksums, superuser postgres. */
static int run_initdb(const Config *c, const char *bindir, const char *datadir) {
        _cleanup_free_ char *initdb = pg_bin(bindir, "initdb"), *waldir = NULL;
        _cleanup_strv_free_ char **args = NULL, **env = NULL;
        char *argv[8 + CONFIG_INITDB_ARGS_MAX];
        size_t n = 0;
        int r;

        if (!initdb)
                return log_oom();
        r = strv_split_words(config_get(c, VAR_INITDB_ARGS), &args);
        if (r < 0)
                return log_oom();
        /* config_check() refused more. */
        if (strv_length(args) > CONFIG_INITDB_ARGS_MAX)
                return log_error_errno(-E2BIG, "POSTGRESQL_INITDB_ARGS: more than %d arguments", CONFIG_INITDB_ARGS_MAX);
        argv[n++] = initdb;
        argv[n++] = "-D";
        argv[n++] = (char *) datadir;
        argv[n++] = "--username=postgres";
        argv[n++] = "--encoding=UTF8";
        argv[n++] = "--data-checksums";
        argv[n++] = "--auth=peer";
        if (config_get(c, VAR_INITDB_WAL_DIR)) {
                if (asprintf(&waldir, "--waldir=%s", config_get(c, VAR_INITDB_WAL_DIR)) < 0)
                        return log_oom();
                argv[n++] = waldir;
        }
        for (size_t i = 0; args[i]; i++)
                argv[n++] = args[i];
        argv[n] = NULL;

        r = spawn_env(NULL, &env);
        if (r < 0)
                return log_oom();
        r = spawn_run(argv, env);
        if (r < 0)
                return log_error_errno(r, "Failed to run '%s': %m", initdb);
        if (r != 0) {
                log_error("initdb failed with status %d (see its output above) in '%s'", r, datadir);
                return -EPROTO;
        }
        return 0;
}

static int make_datadir(const char *datadir) {
        int r = fs_mkdir_p(datadir, 0700);

        if (r < 0)
                return log_error_errno(r, "Failed to create the data directory '%s': %m", datadir);
        if (chmod(datadir, 0700) < 0)
                return log_error_errno(-errno, "Failed to set the mode of '%s': %m", datadir);
        return 0;
}

/* Roles (when need_roles) and the partners' slots through a short-lived server on a private socket,
 * before the real start. */
static int setup_via_private_server(const Config *c, const char *bindir, const char *datadir, bool need_roles,
                                    char *const *slots, bool scripts) {
        _cleanup_free_ char *rundir = config_runtime_dir(c);
        _cleanup_pq_ PGconn *conn = NULL;
        PgServer s = {};
        int r, k;

        if (!rundir)
                return log_oom();
        notify_status("creating roles and database");
        r = pg_server_start_private(bindir, datadir, rundir, c->port, &s);
        if (r == -EPROTO)
                return log_error_errno(r, "PostgreSQL exited during setup; see its log above");
        if (r < 0)
                return log_error_errno(r, "Failed to start PostgreSQL on a private socket in '%s': %m", rundir);
        conn = pg_connect_local(s.socket_dir, s.port, "postgres");
        if (PQstatus(conn) != CONNECTION_OK)
                r = log_error_errno(-EPROTO, "Failed to connect to the setup server: %s", PQerrorMessage(conn));
        else {
                r = need_roles ? roles_apply(c, conn) : 0;
                if (r >= 0)
                        r = fence_create_slots(conn, slots);
                /* After the roles and the database, before the real start (and so before READY). */
                if (r >= 0 && scripts)
                        r = initscripts_run(c, bindir, s.socket_dir, s.port);
        }
        PQfinish(TAKE_PTR(conn));
        k = pg_server_stop(&s);
        if (k < 0 && r >= 0)
                return log_error_errno(k, "PostgreSQL did not shut down cleanly after setup: %m");
        return r;
}

/* Roles and the database in line with the configuration, unless nothing they depend on changed
 * (always on a new cluster: the fingerprint in the state directory may be an earlier cluster's);
 * with partners, a slot for each of the others. Both need a server: one private start for both. */
static int ensure_roles(const Config *c, const char *bindir, const char *datadir, bool new_cluster) {
        _cleanup_strv_free_ char **slots = NULL;
        int r, need_roles, scripts;

        scripts = initscripts_state(c);
        if (scripts < 0)
                return scripts;
        need_roles = new_cluster ? 1 : roles_need_work(c, datadir);
        if (need_roles < 0)
                return need_roles;
        r = fence_missing_slots(c, datadir, &slots);
        if (r < 0)
                return log_oom();
        if (!need_roles && !slots[0] && scripts != INITSCRIPTS_PENDING) {
                log_debug("Roles and database unchanged since the last start; skipping role work");
                return 0;
        }
        r = setup_via_private_server(c, bindir, datadir, need_roles, slots, scripts == INITSCRIPTS_PENDING);
        if (r < 0 || !need_roles)
                return r;
        return roles_save_fingerprint(c, datadir);
}

/* "DATADIR.pgrepl-initdb": a first start is made there and renamed into place only when complete. */
static char *initdb_side_path(const char *datadir) {
        char *p = NULL;

        return asprintf(&p, "%s.pgrepl-initdb", datadir) < 0 ? NULL : p;
}

/* initdb, the settings, the roles and the init scripts, in dir; *ret_made once initdb made it. */
static int initialize(const Config *c, const DataDir *d, const char *dir, bool *ret_made) {
        int r;

        r = run_initdb(c, d->bindir, dir);
        *ret_made = r >= 0;
        if (r >= 0)
                r = initscripts_mark_first_start(c);
        if (r < 0)
                return r;
        r = node_write_config(c, dir, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to write the settings into '%s': %m", dir);
        return ensure_roles(c, d->bindir, dir, true);
}

/* An empty data directory: initialize a cluster beside it and rename it into place, as the standby's
 * clone does, so that a first start that fails (initdb, or the server refusing the settings) leaves
 * the data directory as it was and nothing half-made beside it. An empty mount point cannot be
 * replaced by a rename: it is initialized in place, and emptied again on failure. */
static int first_start(const Config *c, const DataDir *d) {
        _cleanup_free_ char *side = initdb_side_path(d->path), *parent = path_parent(d->path);
        _cleanup_close_ int lock_fd = -1;
        struct stat st, pst;
        bool in_place, made = false;
        int r;

        if (!side || !parent)
                return log_oom();
        notify_status("initializing the data directory '%s'", d->path);
        log_info("First start: initializing '%s' with %s/initdb", d->path, d->bindir);
        /* One first start per instance at a time: a second one would take the first one's side
         * directory for a leftover. */
        r = node_lock(c, "initdb.lock", "initializing", d->path, &lock_fd);
        if (r < 0)
                return r;
        r = fs_mkdir_p(parent, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", parent);
        in_place = stat(d->path, &st) >= 0 && stat(parent, &pst) >= 0 && st.st_dev != pst.st_dev;
        if (in_place) {
                free(side);
                side = strdup(d->path);
        }
        if (!side)
                return log_oom();
        if (!in_place && lstat(side, &st) >= 0) {
                _cleanup_free_ char *version = path_join(side, "PG_VERSION");

                /* Ours, left by a first start that was killed (the lock says no other one runs): a
                 * directory, empty or made by initdb, on which no server runs any more. */
                if (!version)
                        return log_oom();
                if (!S_ISDIR(st.st_mode) || (fs_dir_is_empty(side) == 0 && !fs_exists(version)) ||
                    node_postmaster_running(side, NULL) != 0) {
                        log_error("'%s' is in the way of the first start but is not an interrupted one of pgrepl's "
                                  "(or a server still runs in it); it is left alone: move it away", side);
                        return -EEXIST;
                }
                log_notice("Removing '%s', left over from an interrupted first start", side);
                r = fs_remove_tree(side);
                if (r < 0)
                        return log_error_errno(r, "Failed to remove '%s': %m", side);
        }
        r = make_datadir(side);
        if (r < 0)
                return r;
        r = initialize(c, d, side, &made);
        if (r >= 0 && !in_place) {
                /* An empty data directory (made by an admin or a package) makes way for the cluster. */
                if (rmdir(d->path) < 0 && errno != ENOENT)
                        r = log_error_errno(-errno, "Failed to remove the empty data directory '%s' before the "
                                            "rename: %m", d->path);
                else if (rename(side, d->path) < 0)
                        r = log_error_errno(-errno, "Failed to rename '%s' to '%s': %m", side, d->path);
                else
                        (void) fs_fsync_path(parent);
        }
        if (r < 0) {
                const char *wal = config_get(c, VAR_INITDB_WAL_DIR);
                int k = in_place ? fs_empty_dir(side) : fs_remove_tree(side);

                /* initdb --waldir filled a directory it found empty: empty it again, or every later first
                 * start would fail on it (the removal above only drops the pg_wal link). */
                if (k >= 0 && made && wal)
                        k = fs_empty_dir(wal);
                if (k < 0)
                        log_warning_errno(k, "Failed to remove the incomplete cluster in '%s': %m", side);
                else
                        log_notice("The incomplete cluster was removed; '%s' is as it was", d->path);
        }
        return r;
}

/* What a start and a reload share: the data directory inspected (and initialized on a first
 * start), the settings and pg_hba.conf written. */
static int prepare(const Config *c, bool reload, DataDir *d) {
        int r;

        r = reload ? node_inspect_for_reload(c, d) : node_inspect_datadir(c, d);
        if (r < 0)
                return r;
        /* Before anything is written: a running server's directory and a superseded node are left
         * exactly as they are. */
        if (!reload) {
                r = node_refuse_running(d);
                if (r >= 0)
                        r = node_refuse_busy_port(c);
                if (r < 0)
                        return r;
                r = fence_check(c, d);
                if (r < 0)
                        return r;
        }
        if (d->kind == DATADIR_EMPTY) {
                r = first_start(c, d);
                if (r < 0)
                        return r;
        }
        if (!reload)
                notify_status("writing settings");
        r = node_write_config(c, d->path, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to write the settings into '%s': %m", d->path);
        return 0;
}

int primary_run(const Config *c) {
        _cleanup_(node_datadir_done) DataDir d = {};
        char what[64];
        int r;

        r = prepare(c, false, &d);
        if (r < 0)
                return r;
        r = ensure_roles(c, d.bindir, d.path, false);
        if (r < 0)
                return r;
        /* The last STATUS= before the exec: it stays while the server runs. */
        snprintf(what, sizeof(what), "primary on port %u", c->port);
        r = node_before_exec(c, d.path, what);
        if (r < 0)
                return r;
        /* The marker --record-exit looks back to (lastexit.h). */
        log_info(LASTEXIT_MARKER "primary on port %u, data directory '%s'", c->port, d.path);
        r = node_exec_postmaster(c, d.bindir, d.path);
        return log_error_errno(r, "Failed to execute the postmaster in '%s': %m", d.bindir);
}

/* Roles changed in the configuration, and slots of partners added to it, are applied to the running
 * server. */
static void reload_roles(const Config *c, const char *datadir) {
        _cleanup_strv_free_ char **slots = NULL;
        _cleanup_pq_ PGconn *conn = NULL;
        int need_roles = roles_need_work(c, datadir);

        if (fence_missing_slots(c, datadir, &slots) < 0) {
                log_oom();
                return;
        }
        if (need_roles <= 0 && !slots[0])
                return;
        conn = pg_connect_local(config_get(c, VAR_SOCKET_DIR), c->port, "postgres");
        if (PQstatus(conn) != CONNECTION_OK)
                log_warning("Roles or slots changed but the server cannot be reached over '%s' (%s); they will "
                            "be applied at the next start", config_get(c, VAR_SOCKET_DIR), pg_error_reason(conn));
        else if ((need_roles <= 0 || roles_apply(c, conn) >= 0) && fence_create_slots(conn, slots) >= 0 &&
                 need_roles > 0)
                (void) roles_save_fingerprint(c, datadir);
}

int primary_reload(const Config *c) {
        _cleanup_(node_datadir_done) DataDir d = {};
        int r = prepare(c, true, &d);

        if (r >= 0) {
                reload_roles(c, d.path);
                r = node_reload_server(d.path);
        }
        if (r >= 0)
                log_info("Settings re-rendered and the server on '%s' reloaded", d.path);
        return r;
}
