/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fs.h"
#include "log.h"
#include "pg.h"
#include "roles.h"
#include "util.h"

/* The fingerprint and its key live in the state directory, never in the data directory: the
 * clone copies that to every standby. A file of the old scheme there (an MD5 salted beside it, a
 * cheap check of a password guess) is removed by the next role work. */
#define FINGERPRINT_FILE "roles.fingerprint"
#define KEY_FILE "roles.key"
#define LEGACY_FINGERPRINT_FILE "pgrepl.roles"
#define KEY_BYTES 32

static void PQfreememp(char **p) {
        if (*p)
                PQfreemem(*p);
}

static void hex(const unsigned char *raw, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The key (hex) from STATE_DIR/roles.key; created (0600) when absent and create is set. -ENOENT
 * when absent and not created. */
static int fingerprint_key(const char *state_dir, bool create, char **ret) {
        _cleanup_free_ char *path = path_join(state_dir, KEY_FILE), *key = NULL;
        unsigned char raw[KEY_BYTES];
        char text[2 * KEY_BYTES + 2];
        int r;

        if (!path)
                return log_oom();
        r = fs_read_secret(path, &key);
        if (r >= 0 && strlen(key) == 2 * KEY_BYTES && strspn(key, "0123456789abcdef") == 2 * KEY_BYTES) {
                *ret = TAKE_PTR(key);
                return 0;
        }
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read '%s': %m", path);
        if (!create)
                return -ENOENT; /* absent or not a key of ours: the next role work makes a new one */
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
                return log_error_errno(negative_errno(), "Failed to get random bytes: %m");
        hex(raw, sizeof(raw), text);
        explicit_bzero(raw, sizeof(raw));
        strcat(text, "\n");
        r = fs_write_atomic(path, text, 0600);
        if (r < 0) {
                explicit_bzero(text, sizeof(text));
                return log_error_errno(r, "Failed to write '%s': %m", path);
        }
        text[2 * KEY_BYTES] = 0;
        *ret = strdup(text);
        explicit_bzero(text, sizeof(text));
        return *ret ? 0 : log_oom();
}

/* "hmac-sha256 <hex>\n": HMAC-SHA256, keyed with the state directory's key, of every setting the
 * roles depend on, passwords included. Without the key the file says nothing about a password. */
static char *fingerprint(const Config *c, const char *key) {
        static const VarId ids[] = { VAR_USERNAME, VAR_DATABASE, VAR_REPLICATION_USER, VAR_PASSWORD,
                                     VAR_POSTGRES_PASSWORD, VAR_REPLICATION_PASSWORD,
                                     VAR_PASSWORD_ENCRYPTION, VAR_USERNAME_CONNECTION_LIMIT,
                                     VAR_POSTGRES_CONNECTION_LIMIT };
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        char text[2 * EVP_MAX_MD_SIZE + 1];
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
        if (!HMAC(EVP_sha256(), key, (int) strlen(key), (const unsigned char *) b.data, b.len, mac, &mac_len))
                mac_len = 0;
        explicit_bzero(b.data, b.len);
        buf_free(&b);
        if (mac_len == 0)
                return NULL;
        hex(mac, mac_len, text);
        if (asprintf(&line, "hmac-sha256 %s\n", text) < 0)
                return NULL;
        return line;
}

int roles_need_work(const Config *c, const char *datadir) {
        _cleanup_free_ char *state = config_state_dir(c), *path = NULL, *legacy = NULL, *key = NULL,
                            *old = NULL, *now = NULL;
        int r;

        if (!state)
                return log_oom();
        legacy = path_join(datadir, LEGACY_FINGERPRINT_FILE);
        path = path_join(state, FINGERPRINT_FILE);
        if (!legacy || !path)
                return log_oom();
        if (fs_exists(legacy)) {
                log_info("'%s' is of an older pgrepl: roles are applied once more and it is removed", legacy);
                return 1;
        }
        r = fs_read_file(path, &old);
        if (r == -ENOENT)
                return 1;
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", path);
        r = fingerprint_key(state, false, &key);
        if (r == -ENOENT)
                return 1;
        if (r < 0)
                return r;
        now = fingerprint(c, key);
        explicit_bzero(key, strlen(key));
        if (!now)
                return log_oom();
        return streq(now, old) ? 0 : 1;
}

int roles_save_fingerprint(const Config *c, const char *datadir) {
        _cleanup_free_ char *state = config_state_dir(c), *path = NULL, *legacy = NULL, *key = NULL,
                            *line = NULL;
        int r;

        if (!state)
                return log_oom();
        legacy = path_join(datadir, LEGACY_FINGERPRINT_FILE);
        path = path_join(state, FINGERPRINT_FILE);
        if (!legacy || !path)
                return log_oom();
        r = fingerprint_key(state, true, &key);
        if (r < 0)
                return r;
        line = fingerprint(c, key);
        explicit_bzero(key, strlen(key));
        if (!line)
                return log_oom();
        r = fs_write_atomic(path, line, 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", path);
        if (unlink(legacy) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Failed to remove '%s': %m", legacy);
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
