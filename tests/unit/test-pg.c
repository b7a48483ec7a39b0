/* SPDX-License-Identifier: MIT */
/*
 * pg.h without a server: binary paths, PG_VERSION and postmaster.pid read
 * from a temporary directory, the connection keywords every connection gets,
 * and the user-facing reason for a failed connection (real failures on a
 * missing socket and a refused TCP port, then the classifier table-driven).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assert.h"
#include "config.h"
#include "errors.h"
#include "fs.h"
#include "macro.h"
#include "pg.h"

static char tmpdir[] = "/tmp/pgrepl-test-pg.XXXXXX";

static const char *const default_keys[] = {
        "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
};
static const char *const default_values[] = { "5", "1", "5", "2", "3" };

static void put(const char *name, const char *content, mode_t mode) {
        char p[512];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
        (void) unlink(p);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
}

static int unlink_in_tmp(const char *name) {
        char p[512];

        snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
        return unlink(p);
}

static void test_pg_bin(void) {
        static const struct { const char *dir, *name, *out; } cases[] = {
                { "/usr/lib/postgresql/15/bin", "postgres", "/usr/lib/postgresql/15/bin/postgres" },
                { "/usr/pgsql-16/bin", "pg_basebackup", "/usr/pgsql-16/bin/pg_basebackup" },
                { "/", "postgres", "/postgres" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *p = pg_bin(cases[i].dir, cases[i].name);

                ASSERT_STREQ(p, cases[i].out);
                free(p);
        }
}

static void test_data_version(void) {
        static const struct {
                const char *content;
                int r;
                unsigned v;
        } cases[] = {
                { "15\n", 0, 15 },
                { "16", 0, 16 },
                { " 13 \n", 0, 13 },
                { "", -EBADMSG, 0 },
                { "\n", -EBADMSG, 0 },
                { "0\n", -EBADMSG, 0 },
                { "1000\n", -EBADMSG, 0 },
                { "fifteen\n", -EBADMSG, 0 },
                { "15 16\n", -EBADMSG, 0 },
        };
        char sub[512];
        unsigned v;

        /* No PG_VERSION (an empty or absent directory): 0, and written. */
        v = 99;
        ASSERT_EQ(pg_data_version(tmpdir, &v), 0);
        ASSERT_EQ(v, 0);
        snprintf(sub, sizeof(sub), "%s/absent", tmpdir);
        v = 99;
        ASSERT_EQ(pg_data_version(sub, &v), 0);
        ASSERT_EQ(v, 0);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r;

                put("PG_VERSION", cases[i].content, 0600);
                v = 99;
                r = pg_data_version(tmpdir, &v);
                if (r != cases[i].r)
                        fprintf(stderr, "PG_VERSION '%s'\n", cases[i].content);
                ASSERT_EQ(r, cases[i].r);
                if (r == 0)
                        ASSERT_EQ(v, cases[i].v);
        }

        /* Unreadable is an error, not "no data directory". */
        snprintf(sub, sizeof(sub), "%s/d", tmpdir);
        ASSERT_EQ(mkdir(sub, 0700), 0);
        snprintf(sub, sizeof(sub), "%s/d/PG_VERSION", tmpdir);
        ASSERT_EQ(mkdir(sub, 0700), 0);
        snprintf(sub, sizeof(sub), "%s/d", tmpdir);
        ASSERT_EQ(pg_data_version(sub, &v), -EBADFD);
}

static void test_bin_version(void) {
        static const struct {
                const char *dir;
                int r;
                unsigned v;
        } cases[] = {
                { "/usr/lib/postgresql/15/bin", 0, 15 },
                { "/usr/lib/postgresql/9/bin", 0, 9 },
                { "/usr/pgsql-16/bin", 0, 16 },
                { "/opt/x/usr/lib/postgresql/17/bin", 0, 17 },
                /* The path does not tell and there is no server to ask. */
                { "/nonexistent/bin", -ENOENT, 0 },
                { "/usr/lib/postgresql/1000/bin", -ENOENT, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 99;
                int r = pg_bin_version(cases[i].dir, &v);

                ASSERT_EQ(r, cases[i].r);
                if (r == 0)
                        ASSERT_EQ(v, cases[i].v);
        }

        /* Where the path does not tell (Fedora's /usr/bin), the server itself is asked. */
        {
                unsigned v = 0;

                put("postgres", "#!/bin/sh\necho 'postgres (PostgreSQL) 16.2'\n", 0755);
                ASSERT_EQ(pg_bin_version(tmpdir, &v), 0);
                ASSERT_EQ(v, 16);
                put("postgres", "#!/bin/sh\necho 'no version here'\n", 0755);
                ASSERT_EQ(pg_bin_version(tmpdir, &v), -EBADMSG);
                put("postgres", "#!/bin/sh\nexit 1\n", 0755);
                ASSERT_TRUE(pg_bin_version(tmpdir, &v) < 0);
                (void) unlink_in_tmp("postgres");
        }
}

static void test_postmaster_pid(void) {
        char pidline[64];
        pid_t pid = 0, child;
        int st;

        ASSERT_EQ(pg_postmaster_pid(tmpdir, &pid), -ESRCH); /* no postmaster.pid */

        snprintf(pidline, sizeof(pidline), "%d\n/var/lib/postgresql/15/main\n1700000000\n5432\n", (int) getpid());
        put("postmaster.pid", pidline, 0600);
        ASSERT_EQ(pg_postmaster_pid(tmpdir, &pid), 0);
        ASSERT_EQ(pid, getpid());

        put("postmaster.pid", "garbage\n", 0600);
        ASSERT_EQ(pg_postmaster_pid(tmpdir, &pid), -EBADMSG);
        put("postmaster.pid", "", 0600);
        ASSERT_EQ(pg_postmaster_pid(tmpdir, &pid), -EBADMSG);
        put("postmaster.pid", "0\n", 0600);
        ASSERT_EQ(pg_postmaster_pid(tmpdir, &pid), -EBADMSG);

        /* A stale file from a postmaster that is gone. */
        child = fork();
        ASSERT_TRUE(child >= 0);
        if (child == 0)
                _exit(0);
        ASSERT_EQ(waitpid(child, &st, 0), child);
        snprintf(pidline, sizeof(pidline), "%d\n", (int) child);
        put("postmaster.pid", pidline, 0600);
        pid = 0;
        ASSERT_EQ(pg_postmaster_pid(tmpdir, &pid), -ESRCH);
        ASSERT_EQ(pid, 0);
}

static int nparams(const PgConnParams *p) {
        int n = 0;

        while (n < 32 && p->keys[n])
                n++;
        ASSERT_TRUE(n < 32);
        ASSERT_TRUE(p->values[n] == NULL);
        return n;
}

static void check_defaults_at(const PgConnParams *p, int at) {
        for (size_t i = 0; i < ELEMENTSOF(default_keys); i++) {
                ASSERT_STREQ(p->keys[at + i], default_keys[i]);
                ASSERT_STREQ(p->values[at + i], default_values[i]);
        }
}

static void test_conn_params(void) {
        PgConnParams p;

        {
                const char *keys[] = { "host", "port", "user", "passfile", NULL };
                const char *values[] = { "10.0.0.1", NULL, "repl", "/run/x/passfile", NULL };

                memset(&p, 0xaa, sizeof(p));
                pg_conn_params(keys, values, &p);
                ASSERT_EQ(nparams(&p), 3 + 5);
                /* The caller's, in order, NULL values skipped; then the defaults. */
                ASSERT_STREQ(p.keys[0], "host");
                ASSERT_STREQ(p.values[0], "10.0.0.1");
                ASSERT_STREQ(p.keys[1], "user");
                ASSERT_STREQ(p.values[1], "repl");
                ASSERT_STREQ(p.keys[2], "passfile");
                ASSERT_STREQ(p.values[2], "/run/x/passfile");
                check_defaults_at(&p, 3);
        }
        {
                const char *keys[] = { NULL };
                const char *values[] = { NULL };

                pg_conn_params(keys, values, &p);
                ASSERT_EQ(nparams(&p), 5);
                check_defaults_at(&p, 0);
        }
        {
                const char *keys[] = { "host", "port", NULL };
                const char *values[] = { NULL, NULL, NULL };

                pg_conn_params(keys, values, &p);
                ASSERT_EQ(nparams(&p), 5);
                check_defaults_at(&p, 0);
        }
        {
                /* A default the caller gives is the caller's (libpq would take the last one). */
                const char *keys[] = { "host", "connect_timeout", NULL };
                const char *values[] = { "h", "2", NULL };
                size_t timeouts = 0;

                pg_conn_params(keys, values, &p);
                ASSERT_EQ(nparams(&p), 2 + 4);
                for (size_t i = 0; p.keys[i]; i++)
                        if (streq(p.keys[i], "connect_timeout")) {
                                timeouts++;
                                ASSERT_STREQ(p.values[i], "2");
                        }
                ASSERT_EQ(timeouts, 1);
        }
        {
                /* More keys than fit: the arrays stay terminated and the defaults are all there. */
                static char names[40][16];
                const char *keys[41], *values[41];
                int n;

                for (int i = 0; i < 40; i++) {
                        snprintf(names[i], sizeof(names[i]), "k%d", i);
                        keys[i] = values[i] = names[i];
                }
                keys[40] = values[40] = NULL;
                pg_conn_params(keys, values, &p);
                n = nparams(&p);
                ASSERT_TRUE(n >= 5);
                ASSERT_STREQ(p.keys[0], "k0");
                check_defaults_at(&p, n - 5);
        }
}

static const char *conninfo_value(PGconn *conn, const char *key) {
        static char buf[256];
        PQconninfoOption *opts = PQconninfo(conn);

        buf[0] = 0;
        ASSERT_TRUE(opts);
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (streq(o->keyword, key) && o->val)
                        snprintf(buf, sizeof(buf), "%s", o->val);
        PQconninfoFree(opts);
        return buf;
}

static void test_connect_local_no_server(void) {
        char dir[512];
        PGconn *conn;

        snprintf(dir, sizeof(dir), "%s/nosocket", tmpdir);
        conn = pg_connect_local(dir, 5999, NULL);
        ASSERT_TRUE(conn);
        ASSERT_TRUE(PQstatus(conn) == CONNECTION_BAD);
        ASSERT_STREQ(pg_error_reason(conn), "no server on that socket");
        /* What pg_connect_local asked for, plus what pg_connect adds. */
        ASSERT_STREQ(conninfo_value(conn, "host"), dir);
        ASSERT_STREQ(conninfo_value(conn, "port"), "5999");
        ASSERT_STREQ(conninfo_value(conn, "dbname"), "postgres");
        ASSERT_STREQ(conninfo_value(conn, "user"), "postgres");
        ASSERT_STREQ(conninfo_value(conn, "application_name"), "pgrepl");
        for (size_t i = 0; i < ELEMENTSOF(default_keys); i++)
                ASSERT_STREQ(conninfo_value(conn, default_keys[i]), default_values[i]);
        PQfinish(conn);

        conn = pg_connect_local(dir, 5432, "template1");
        ASSERT_STREQ(conninfo_value(conn, "dbname"), "template1");
        PQfinish(conn);
}

static void test_connect_refused(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        char port[16];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        PGconn *conn;

        /* A port bound but not listening: nothing else can take it, and a connect is refused. */
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0) {
                fprintf(stderr, "no loopback TCP here, skipping the refused connection\n");
                if (fd >= 0)
                        close(fd);
                return;
        }
        snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
        {
                const char *keys[] = { "host", "port", "user", "dbname", "sslmode", "gssencmode", NULL };
                const char *values[] = { "127.0.0.1", port, "x", "x", "disable", "disable", NULL };

                conn = pg_connect(keys, values);
        }
        ASSERT_TRUE(PQstatus(conn) == CONNECTION_BAD);
        ASSERT_STREQ(pg_error_reason(conn), "connection refused");
        ASSERT_STREQ(conninfo_value(conn, "connect_timeout"), "5");
        PQfinish(conn);
        close(fd);
}

static void test_error_reason(void) {
        /*
         * libpq quotes an invalid sslmode value verbatim in its error message, without connecting:
         * a way to hand the classifier any message through a real PGconn.
         */
        static const struct { const char *msg, *reason; } cases[] = {
                { "Connection refused", "connection refused" },
                { "could not translate host name \"db\" to address: Name or service not known", "host unknown" },
                { "Name or service not known", "host unknown" },
                { "password authentication failed for user \"repl\"", "authentication failed" },
                { "fe_sendauth: no password supplied", "authentication failed" },
                { "role \"repl\" does not exist", "role does not exist yet" },
                { "no pg_hba.conf entry for replication connection from host \"10.0.0.2\"",
                  "not allowed by the primary's pg_hba.conf" },
                { "remaining connection slots are reserved for non-replication superuser connections",
                  "too many connections" },
                { "too many connections for role \"repl\"", "too many connections" },
                { "number of requested standby connections exceeds max_wal_senders (currently 10)",
                  "too many connections" },
                { "the database system is starting up", "primary is starting or stopping" },
                { "the database system is shutting down", "primary is starting or stopping" },
                { "timeout expired", "timed out" },
                { "No route to host", "host unreachable" },
                { "Network is unreachable", "host unreachable" },
                { "No such file or directory", "no server on that socket" },
                { "server certificate for \"db1\" does not match host name \"10.0.0.1\"",
                  "its TLS certificate does not match the host name" },
                { "SSL error: certificate verify failed", "its TLS certificate was not verified with POSTGRESQL_TLS_CA_FILE" },
                { "root certificate file \"/x/ca.crt\" does not exist",
                  "its TLS certificate was not verified with POSTGRESQL_TLS_CA_FILE" },
                { "server does not support SSL, but SSL was required", "it does not offer TLS" },
                { "private key file \"/k\" has group or world access", "its TLS key was refused (POSTGRESQL_TLS_KEY_FILE)" },
                { "SSL error: tlsv1 alert unknown ca", "the TLS handshake failed" },
                { "something nobody foresaw", "connection failed" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *keys[] = { "host", "sslmode", NULL };
                const char *values[] = { "/nonexistent", cases[i].msg, NULL };
                PGconn *conn = PQconnectdbParams(keys, values, 0);

                ASSERT_TRUE(PQstatus(conn) == CONNECTION_BAD);
                ASSERT_CONTAINS(PQerrorMessage(conn), cases[i].msg);
                ASSERT_STREQ(pg_error_reason(conn), cases[i].reason);
                PQfinish(conn);
        }
        ASSERT_STREQ(pg_error_reason(NULL), "connection failed");
}

static void test_find_bindir(void) {
        char bin[512], env_bin[600], *dir = NULL;
        char *env[] = { "POSTGRESQL_PASSWORD=x", env_bin, NULL };
        Config *c = NULL;

        snprintf(bin, sizeof(bin), "%s/bin", tmpdir);
        ASSERT_EQ(mkdir(bin, 0755), 0);
        snprintf(env_bin, sizeof(env_bin), "POSTGRESQL_BIN_DIR=%s", bin);
        ASSERT_EQ(config_load(ROLE_PRIMARY, "main", "/dev/null", env, &c), 0);

        /* No executable postgres there: -ENOENT, which node_inspect_datadir() reports as the
         * configuration's fault (test_check_agrees.py). */
        put("bin/postgres", "#!/bin/sh\n", 0644);
        ASSERT_EQ(pg_find_bindir(c, 0, &dir), -ENOENT);
        ASSERT_TRUE(dir == NULL);

        {
                char p[600];

                snprintf(p, sizeof(p), "%s/postgres", bin);
                ASSERT_EQ(chmod(p, 0755), 0);
        }
        ASSERT_EQ(pg_find_bindir(c, 0, &dir), 0);
        ASSERT_STREQ(dir, bin);
        free(dir);
        config_free(c);
}

/* A root with two majors installed, as on a Debian host during an upgrade: /usr/lib/postgresql/15
 * and 16, each with an executable postgres (links to the real server when it is installed). */
static void test_find_bindir_for_major(void) {
        static const char *const dirs[] = { "root", "root/usr", "root/usr/lib", "root/usr/lib/postgresql",
                                            "root/usr/lib/postgresql/15", "root/usr/lib/postgresql/15/bin",
                                            "root/usr/lib/postgresql/16", "root/usr/lib/postgresql/16/bin", NULL };
        char root[512], want15[600], want16[600], *dir = NULL;

        for (size_t i = 0; dirs[i]; i++) {
                char p[600];

                snprintf(p, sizeof(p), "%s/%s", tmpdir, dirs[i]);
                ASSERT_EQ(mkdir(p, 0755), 0);
        }
        for (unsigned major = 15; major <= 16; major++) {
                char p[600];

                snprintf(p, sizeof(p), "%s/root/usr/lib/postgresql/%u/bin/postgres", tmpdir, major);
                if (access("/usr/lib/postgresql/15/bin/postgres", X_OK) == 0)
                        ASSERT_EQ(symlink("/usr/lib/postgresql/15/bin/postgres", p), 0);
                else {
                        put(p + strlen(tmpdir) + 1, "#!/bin/sh\n", 0755);
                }
        }
        snprintf(root, sizeof(root), "%s/root", tmpdir);
        snprintf(want15, sizeof(want15), "%s/usr/lib/postgresql/15/bin", root);
        snprintf(want16, sizeof(want16), "%s/usr/lib/postgresql/16/bin", root);

        /* A cluster of 15 keeps 15's server though 16 is installed beside it. */
        ASSERT_EQ(pg_find_bindir_below(root, NULL, 15, &dir), 0);
        ASSERT_STREQ(dir, want15);
        free(dir);
        /* No cluster yet (a new primary): the highest. */
        ASSERT_EQ(pg_find_bindir_below(root, NULL, 0, &dir), 0);
        ASSERT_STREQ(dir, want16);
        free(dir);
        /* A major that is not installed: the highest, which inspect_cluster() then refuses by name. */
        ASSERT_EQ(pg_find_bindir_below(root, NULL, 14, &dir), 0);
        ASSERT_STREQ(dir, want16);
        free(dir);
        /* POSTGRESQL_BIN_DIR wins over both. */
        ASSERT_EQ(pg_find_bindir_below(root, want15, 16, &dir), 0);
        ASSERT_STREQ(dir, want15);
        free(dir);
}

int main(void) {
        ASSERT_TRUE(mkdtemp(tmpdir));
        test_pg_bin();
        test_data_version();
        test_bin_version();
        test_postmaster_pid();
        test_conn_params();
        test_connect_local_no_server();
        test_connect_refused();
        test_error_reason();
        test_find_bindir();
        test_find_bindir_for_major();
        ASSERT_EQ(fs_remove_tree(tmpdir), 0);
        printf("test-pg: ok\n");
        return 0;
}
