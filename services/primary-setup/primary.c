/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
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
        char *argv[64];
        size_t n = 0;
        int r;

        if (!initdb)
                return log_oom();
        r = strv_split_words(config_get(c, VAR_INITDB_ARGS), &args);
        if (r < 0)
                return log_oom();
        if (strv_length(args) > 40) {
                log_error("POSTGRESQL_INITDB_ARGS (from %s): at most 40 arguments", c->sources[VAR_INITDB_ARGS]);
                return -PGREPL_E_CONFIG;
        }
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

/* Decide what the data directory needs before touching anything. */
static int check_datadir(const Config *c, const char *bindir, bool *ret_first) {
        const char *datadir = config_get(c, VAR_DATA_DIR);
        int r;

        r = node_check_datadir(datadir, bindir);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret_first = true;
                return 0;
        }
        if (node_is_standby(datadir)) {
                log_error("POSTGRESQL_DATA_DIR='%s' is a standby (standby.signal exists): the primary unit "
                          "never promotes a standby. Start it with pgrepl-standby@%s, or promote it by its "
                          "trigger file", datadir, c->instance);
                return -PGREPL_E_CONFIG;
        }
        *ret_first = false;
        return 0;
}

static int make_datadir(const char *datadir) {
        int r = fs_mkdir_p(datadir, 0700);

        if (r < 0)
                return log_error_errno(r, "Failed to create the data directory '%s': %m", datadir);
        if (chmod(datadir, 0700) < 0)
                return log_error_errno(errno, "Failed to set the mode of '%s': %m", datadir);
        return 0;
}

/* Roles through a short-lived server on a private socket, before the real start. */
static int roles_via_private_server(const Config *c, const char *bindir, const char *datadir) {
        _cleanup_free_ char *rundir = config_runtime_dir(c);
        _cleanup_pq_ PGconn *conn = NULL;
        PgServer s = {};
        int r, k;

        if (!rundir)
                return log_oom();
        notify_status("creating roles and database");
        r = pg_server_start_private(bindir, datadir, rundir, c->port, &s);
        if (r < 0)
                return r;
        conn = pg_connect_local(s.socket_dir, s.port, "postgres");
        if (PQstatus(conn) != CONNECTION_OK) {
                r = log_error_errno(-EPROTO, "Failed to connect to the setup server: %s", PQerrorMessage(conn));
        } else
                r = roles_apply(c, conn);
        PQfinish(TAKE_PTR(conn));
        k = pg_server_stop(&s);
        return r < 0 ? r : k;
}

int primary_run(const Config *c) {
        const char *datadir = config_get(c, VAR_DATA_DIR);
        _cleanup_free_ char *bindir = NULL;
        bool first = false;
        int r;

        r = pg_find_bindir(c, &bindir);
        if (r < 0)
                return r;
        r = check_datadir(c, bindir, &first);
        if (r < 0)
                return r;

        if (first) {
                notify_status("initializing the data directory '%s'", datadir);
                log_info("First start: initializing '%s' with %s/initdb", datadir, bindir);
                r = make_datadir(datadir);
                if (r < 0)
                        return r;
                r = run_initdb(c, bindir, datadir);
                if (r < 0)
                        return r;
        }

        notify_status("writing settings");
        r = node_write_config(c, datadir, NULL);
        if (r < 0)
                return r;

        r = roles_need_work(c, datadir);
        if (r < 0)
                return r;
        if (r > 0) {
                r = roles_via_private_server(c, bindir, datadir);
                if (r < 0)
                        return r;
                r = roles_save_fingerprint(c, datadir);
                if (r < 0)
                        return r;
        } else
                log_debug("Roles and database unchanged since the last start; skipping role work");

        /* The last STATUS= before the exec: it stays while the server runs. */
        notify_status("primary on port %u", c->port);
        log_info("Starting PostgreSQL primary on port %u, data directory '%s'", c->port, datadir);
        return node_exec_postmaster(c, bindir, datadir);
}

int primary_reload(const Config *c) {
        const char *datadir = config_get(c, VAR_DATA_DIR);
        _cleanup_free_ char *bindir = NULL;
        bool first = false;
        int r;

        r = pg_find_bindir(c, &bindir);
        if (r < 0)
                return r;
        r = check_datadir(c, bindir, &first);
        if (r < 0)
                return r;
        if (first) {
                log_error("POSTGRESQL_DATA_DIR='%s' is empty: nothing to reload (start the unit first)", datadir);
                return -ESRCH;
        }
        r = node_write_config(c, datadir, NULL);
        if (r < 0)
                return r;

        /* Roles changed in the configuration are applied to the running server. */
        r = roles_need_work(c, datadir);
        if (r > 0) {
                _cleanup_pq_ PGconn *conn = pg_connect_local(config_get(c, VAR_SOCKET_DIR), c->port, "postgres");

                if (PQstatus(conn) != CONNECTION_OK)
                        log_warning("Roles changed but the server cannot be reached over '%s' (%s); they will "
                                    "be applied at the next start", config_get(c, VAR_SOCKET_DIR),
                                    pg_error_reason(conn));
                else if (roles_apply(c, conn) >= 0)
                        (void) roles_save_fingerprint(c, datadir);
        }

        r = node_signal_reload(datadir);
        if (r == -ESRCH) {
                log_error("No server runs on '%s': settings were written and apply at the next start", datadir);
                return r;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to signal the server on '%s': %m", datadir);
        log_info("Settings re-rendered and the server on '%s' reloaded", datadir);
        return 0;
}
