/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "fs.h"
#include "log.h"
#include "pg.h"
#include "roles.h"
#include "util.h"

#define FINGERPRINT_FILE "pgrepl.roles"

static void PQfreememp(char **p) {
        if (*p)
                PQfreemem(*p);
}


static char *fingerprint(const Config *c, const char *salt) {
        static const VarId ids[] = { VAR_USERNAME, VAR_DATABASE, VAR_REPLICATION_USER, VAR_PASSWORD,
                                     VAR_POSTGRES_PASSWORD, VAR_REPLICATION_PASSWORD,
                                     VAR_PASSWORD_ENCRYPTION, VAR_USERNAME_CONNECTION_LIMIT,
                                     VAR_POSTGRES_CONNECTION_LIMIT };
        _cleanup_free_ char *hash = NULL;
        char *line = NULL;
        Buf b = {};

        /* v2 with partners: the replication user also gets what pg_rewind needs. */
        buf_puts(&b, config_has_partners(c) ? "v2" : "v1");
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                const char *v = config_get(c, ids[i]);

                buf_printf(&b, "\x1f%c%s", v ? '+' : '-', v ? v : "");
        }
        if (b.oom) {
                buf_free(&b);
                return NULL;
        }
        /* A salted one-way hash: the file never holds a password. */
        hash = PQencryptPassword(b.data, salt);
        buf_free(&b);
        if (!hash || asprintf(&line, "%s %s\n", salt, hash) < 0)
                return NULL;
        return line;
}

static char *fingerprint_path(const char *datadir) {
        return path_join(datadir, FINGERPRINT_FILE);
}

int roles_need_work(const Config *c, const char *datadir) {
        _cleanup_free_ char *path = fingerprint_path(datadir), *old = NULL, *now = NULL;
        char salt[40];
        int r;

        if (!path)
                return log_oom();
        r = fs_read_file(path, &old);
        if (r == -ENOENT)
                return 1;
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", path);
        if (sscanf(old, "%39s ", salt) != 1)
                return 1;
        now = fingerprint(c, salt);
        if (!now)
                return log_oom();
        return streq(now, old) ? 0 : 1;
}

int roles_save_fingerprint(const Config *c, const char *datadir) {
        _cleanup_free_ char *path = fingerprint_path(datadir), *line = NULL;
        unsigned char raw[12];
        char salt[2 * sizeof(raw) + 1];
        int r;

        if (!path)
                return log_oom();
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
                return log_error_errno(negative_errno(), "Failed to get random bytes: %m");
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(salt + 2 * i, 3, "%02x", raw[i]);
        line = fingerprint(c, salt);
        if (!line)
                return log_oom();
        r = fs_write_atomic(path, line, 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", path);
        return 0;
}

static int exists(PGconn *conn, const char *sql, const char *name) {
        const char *params[] = { name };
        _cleanup_free_ char *v = NULL;
        int r = pg_query_value(conn, sql, 1, params, &v);

        if (r == -ENODATA)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Query failed: %s", PQerrorMessage(conn));
        return 1;
}

static int run(PGconn *conn, const char *what, const char *sql) {
        if (pg_exec(conn, sql) < 0)
                return log_error_errno(-EPROTO, "Failed to %s: %s", what, PQerrorMessage(conn));
        return 0;
}

/* CREATE or ALTER a role with attributes; set its password pre-hashed. */
static int ensure_role(const Config *c, PGconn *conn, const char *name, const char *attrs, const char *password) {
        _cleanup_(PQfreememp) char *ident = PQescapeIdentifier(conn, name, strlen(name));
        _cleanup_free_ char *sql = NULL;
        int r;

        if (!ident)
                return log_oom();
        r = exists(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", name);
        if (r < 0)
                return r;
        if (asprintf(&sql, "%s ROLE %s WITH %s", r ? "ALTER" : "CREATE", ident, attrs) < 0)
                return log_oom();
        r = run(conn, "create or alter a role", sql);
        if (r < 0)
                return r;
        if (!r)
                log_debug("Role '%s' ensured", name);
        if (password) {
                _cleanup_(PQfreememp) char *hashed = PQencryptPasswordConn(conn, password, name,
                                                                          config_get(c, VAR_PASSWORD_ENCRYPTION));
                _cleanup_(PQfreememp) char *lit = NULL;
                _cleanup_free_ char *sql2 = NULL;

                if (!hashed)
                        return log_error_errno(-EPROTO, "Failed to hash a password: %s", PQerrorMessage(conn));
                lit = PQescapeLiteral(conn, hashed, strlen(hashed));
                if (!lit || asprintf(&sql2, "ALTER ROLE %s PASSWORD %s", ident, lit) < 0)
                        return log_oom();
                r = run(conn, "set a password", sql2);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ensure_database(PGconn *conn, const char *db, const char *owner) {
        _cleanup_(PQfreememp) char *dbi = PQescapeIdentifier(conn, db, strlen(db));
        _cleanup_(PQfreememp) char *owneri = PQescapeIdentifier(conn, owner, strlen(owner));
        _cleanup_free_ char *sql = NULL;
        int r;

        if (!dbi || !owneri)
                return log_oom();
        r = exists(conn, "SELECT 1 FROM pg_database WHERE datname = $1", db);
        if (r < 0)
                return r;
        if (r == 0) {
                if (asprintf(&sql, "CREATE DATABASE %s OWNER %s", dbi, owneri) < 0)
                        return log_oom();
                return run(conn, "create the database", sql);
        }
        if (streq(owner, "postgres"))
                return 0;
        if (asprintf(&sql, "GRANT ALL PRIVILEGES ON DATABASE %s TO %s", dbi, owneri) < 0)
                return log_oom();
        return run(conn, "grant privileges on the database", sql);
}

/*
 * What pg_rewind needs of its source, granted to the replication user rather than a superuser
 * (PostgreSQL's pg_rewind documentation lists these four functions). Every partner may be the
 * source one day: the grants replicate with the catalog.
 */
static int grant_rewind(PGconn *conn, const char *repl) {
        _cleanup_free_ char *grant = NULL;
        static const char *const functions[] = {
                "pg_catalog.pg_ls_dir(text, boolean, boolean)",
                "pg_catalog.pg_stat_file(text, boolean)",
                "pg_catalog.pg_read_binary_file(text)",
                "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
        };
        _cleanup_(PQfreememp) char *ident = PQescapeIdentifier(conn, repl, strlen(repl));

        if (!ident)
                return log_oom();
        for (size_t i = 0; i < ELEMENTSOF(functions); i++) {
                _cleanup_free_ char *sql = NULL;
                int r;

                if (asprintf(&sql, "GRANT EXECUTE ON FUNCTION %s TO %s", functions[i], ident) < 0)
                        return log_oom();
                r = run(conn, "grant what pg_rewind needs", sql);
                if (r < 0)
                        return r;
        }
        /* A promoted server's control file names its new timeline only after a checkpoint; pg_rewind
         * reads it, so the node that rewinds asks for one first (pg_checkpoint exists from 15 on). */
        if (PQserverVersion(conn) < 150000)
                return 0;
        if (asprintf(&grant, "GRANT pg_checkpoint TO %s", ident) < 0)
                return log_oom();
        return run(conn, "grant pg_checkpoint", grant);
}

static int connection_limit(PGconn *conn, const char *role, const char *limit) {
        _cleanup_(PQfreememp) char *ident = NULL;
        _cleanup_free_ char *sql = NULL;

        if (!limit)
                return 0;
        ident = PQescapeIdentifier(conn, role, strlen(role));
        /* The limit passed config_check() as a whole number. */
        if (!ident || asprintf(&sql, "ALTER ROLE %s CONNECTION LIMIT %s", ident, limit) < 0)
                return log_oom();
        return run(conn, "set a connection limit", sql);
}

int roles_apply(const Config *c, PGconn *conn) {
        const char *user = config_get(c, VAR_USERNAME), *repl = config_get(c, VAR_REPLICATION_USER);
        const char *su_password;
        int r;

        /* Role work must not wait for a synchronous standby that may not exist yet. */
        r = run(conn, "set synchronous_commit", "SET synchronous_commit TO local");
        if (r < 0)
                return r;

        if (streq(user, "postgres"))
                su_password = config_get(c, VAR_PASSWORD);
        else {
                r = ensure_role(c, conn, user, "LOGIN CREATEDB", config_get(c, VAR_PASSWORD));
                if (r < 0)
                        return r;
                su_password = config_get(c, VAR_POSTGRES_PASSWORD);
        }
        if (su_password) {
                r = ensure_role(c, conn, "postgres", "SUPERUSER LOGIN", su_password);
                if (r < 0)
                        return r;
        }
        r = ensure_database(conn, config_get(c, VAR_DATABASE), user);
        if (r < 0)
                return r;
        if (repl) {
                r = ensure_role(c, conn, repl, "REPLICATION LOGIN", config_get(c, VAR_REPLICATION_PASSWORD));
                if (r >= 0 && config_has_partners(c))
                        r = grant_rewind(conn, repl);
                if (r < 0)
                        return r;
        }
        /* As the image: the limits when set (the postgres role's last, so it wins when it is the user). */
        r = connection_limit(conn, user, config_get(c, VAR_USERNAME_CONNECTION_LIMIT));
        if (r >= 0)
                r = connection_limit(conn, "postgres", config_get(c, VAR_POSTGRES_CONNECTION_LIMIT));
        if (r < 0)
                return r;
        log_info("Roles and database are in line with the configuration");
        return 0;
}
