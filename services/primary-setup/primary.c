/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fence.h"
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
                log_error("initdb failed with status %d (see its output above); the data directory '%s' "
                          "was left as initdb left it", r, datadir);
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
                                    char *const *slots) {
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
        }
        PQfinish(TAKE_PTR(conn));
        k = pg_server_stop(&s);
        if (k < 0 && r >= 0)
                return log_error_errno(k, "PostgreSQL did not shut down cleanly after setup: %m");
        return r;
}

/* An empty data directory: create it and run initdb. */
static int first_start(const Config *c, const DataDir *d) {
        int r;

        notify_status("initializing the data directory '%s'", d->path);
        log_info("First start: initializing '%s' with %s/initdb", d->path, d->bindir);
        r = make_datadir(d->path);
        if (r < 0)
                return r;
        return run_initdb(c, d->bindir, d->path);
}

/* Roles and the database in line with the configuration, unless nothing they depend on changed;
 * with partners, a slot for each of the others. Both need a server: one private start for both. */
static int ensure_roles(const Config *c, const DataDir *d) {
        _cleanup_strv_free_ char **slots = NULL;
        int r, need_roles;

        need_roles = roles_need_work(c, d->path);
        if (need_roles < 0)
                return need_roles;
        r = fence_missing_slots(c, d->path, &slots);
        if (r < 0)
                return log_oom();
        if (!need_roles && !slots[0]) {
                log_debug("Roles and database unchanged since the last start; skipping role work");
                return 0;
        }
        r = setup_via_private_server(c, d->bindir, d->path, need_roles, slots);
        if (r < 0 || !need_roles)
                return r;
        return roles_save_fingerprint(c, d->path);
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
        int r;

        r = prepare(c, false, &d);
        if (r < 0)
                return r;
        r = ensure_roles(c, &d);
        if (r < 0)
                return r;
        /* The last STATUS= before the exec: it stays while the server runs. */
        notify_status("primary on port %u", c->port);
        log_info("Starting PostgreSQL primary on port %u, data directory '%s'", c->port, d.path);
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
