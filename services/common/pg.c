/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "log.h"
#include "pg.h"
#include "spawn-util.h"
#include "util.h"

char *pg_bin(const char *bindir, const char *name) {
        return path_join(bindir, name);
}

static bool has_postgres(const char *bindir) {
        _cleanup_free_ char *p = pg_bin(bindir, "postgres");

        return p && access(p, X_OK) == 0;
}

/* Highest N for which PARENT/PREFIX<N>/bin holds an executable postgres. */
static unsigned scan_majors(const char *parent, const char *prefix) {
        DIR *d = opendir(parent);
        struct dirent *de;
        unsigned best = 0;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                char path[512];
                unsigned v;

                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
                        continue;
                if (parse_uint(de->d_name + strlen(prefix), 9, 999, &v) < 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s%u/bin", parent, prefix, v);
                if (v > best && has_postgres(path))
                        best = v;
        }
        closedir(d);
        return best;
}

/* ROOT/usr/lib/postgresql/N/bin (Debian, Ubuntu) or ROOT/usr/pgsql-N/bin (PGDG RPMs) holding an
 * executable postgres, else 0. */
static int major_bindir(const char *root, unsigned major, char *buf, size_t n) {
        snprintf(buf, n, "%s/usr/lib/postgresql/%u/bin", root, major);
        if (has_postgres(buf))
                return 1;
        snprintf(buf, n, "%s/usr/pgsql-%u/bin", root, major);
        return has_postgres(buf);
}

int pg_find_bindir_below(const char *root, const char *bin_dir, unsigned want_major, char **ret) {
        char path[512], parent[512];
        unsigned deb, rhel;

        if (bin_dir)
                snprintf(path, sizeof(path), "%s", bin_dir);
        else if (want_major > 0 && major_bindir(root, want_major, path, sizeof(path)))
                ; /* the major of the data directory (or of the primary to clone) */
        else {
                snprintf(parent, sizeof(parent), "%s/usr/lib/postgresql", root);
                deb = scan_majors(parent, "");
                snprintf(parent, sizeof(parent), "%s/usr", root);
                rhel = scan_majors(parent, "pgsql-");
                if (deb > 0 && deb >= rhel)
                        snprintf(path, sizeof(path), "%s/usr/lib/postgresql/%u/bin", root, deb);
                else if (rhel > 0)
                        snprintf(path, sizeof(path), "%s/usr/pgsql-%u/bin", root, rhel);
                else
                        /* Fedora's and RHEL's own postgresql-server: one major, in /usr/bin. */
                        snprintf(path, sizeof(path), "%s/usr/bin", root);
        }
        if (!has_postgres(path))
                return -ENOENT;
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

int pg_find_bindir(const Config *c, unsigned want_major, char **ret) {
        return pg_find_bindir_below("", config_get(c, VAR_BIN_DIR), want_major, ret);
}

int pg_data_version(const char *datadir, unsigned *ret) {
        _cleanup_free_ char *p = path_join(datadir, "PG_VERSION"), *s = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = fs_read_file(p, &s);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return r;
        return parse_uint(strstrip(s), 1, 999, ret) < 0 ? -EBADMSG : 0;
}

/* The number p starts with, 1 to 999 (a major version), else 0; *ret_end is what follows it. */
static unsigned leading_major(const char *p, const char **ret_end) {
        unsigned v;
        char buf[8];
        size_t n = strspn(p, "0123456789");

        *ret_end = p + n;
        if (n == 0 || n >= sizeof(buf))
                return 0;
        memcpy(buf, p, n);
        buf[n] = 0;
        return parse_uint(buf, 1, 999, &v) < 0 ? 0 : v;
}

/* The major in "postgres (PostgreSQL) 15.5 (Debian 15.5-1)"; 0 when there is none. */
static unsigned version_from_output(const char *out) {
        const char *p = strstr(out, "PostgreSQL)"), *end;

        p = p ? p + strlen("PostgreSQL)") : out;
        return leading_major(p + strcspn(p, "0123456789"), &end);
}

/* The major a Debian or PGDG path carries (/usr/lib/postgresql/15/bin, /usr/pgsql-15/bin), else 0. */
static unsigned version_from_path(const char *bindir) {
        const char *p = strstr(bindir, "/postgresql/"), *end;
        unsigned v;

        if (p)
                p += strlen("/postgresql/");
        else if ((p = strstr(bindir, "/pgsql-")))
                p += strlen("/pgsql-");
        else
                return 0;
        v = leading_major(p, &end);
        return *end == '/' || *end == 0 ? v : 0;
}

int pg_bin_version(const char *bindir, unsigned *ret) {
        _cleanup_free_ char *postgres = NULL, *out = NULL;
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        char *argv[] = { NULL, "--version", NULL };
        unsigned v = version_from_path(bindir);
        int r;

        if (v == 0) {
                /* /usr/bin and the like do not tell: ask the server itself. */
                argv[0] = postgres = pg_bin(bindir, "postgres");
                if (!postgres)
                        return -ENOMEM;
                r = spawn_capture(argv, envp, &out);
                if (r < 0)
                        return r;
                v = version_from_output(out);
                if (v == 0)
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* What every connection to another node adds when POSTGRESQL_ENABLE_TLS is on (pg_tls_client()). */
static struct {
        char *keys[5], *values[5];
} client_tls;

int pg_tls_client(const Config *c) {
        const char *ca = config_get(c, VAR_TLS_CA_FILE), *crl = config_get(c, VAR_TLS_CRL_FILE);
        /* The units can always read the (staged) key; pgreplctl run by another user cannot, and then
         * verifies the server all the same, without a certificate of its own. */
        bool own = ca && c->tls_key && access(c->tls_key, R_OK) >= 0;
        const char *v[][2] = {
                { "sslmode", ca ? "verify-full" : "require" },
                /* With a CA the node's own certificate is its client certificate too: one pair per node. */
                { "sslrootcert", ca },
                { "sslcert", own ? config_get(c, VAR_TLS_CERT_FILE) : NULL },
                { "sslkey", own ? c->tls_key : NULL },
                { "sslcrl", ca ? crl : NULL },
        };
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(client_tls.keys); i++) {
                free(client_tls.values[i]);
                client_tls.keys[i] = client_tls.values[i] = NULL;
        }
        if (!c->tls)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                if (!v[i][1])
                        continue;
                client_tls.keys[n] = (char *) v[i][0];
                client_tls.values[n] = strdup(v[i][1]);
                if (!client_tls.values[n++])
                        return -ENOMEM;
        }
        return 0;
}

static bool over_tcp(const char *const *keys, const char *const *values) {
        for (size_t i = 0; keys[i]; i++)
                if (streq(keys[i], "host"))
                        return values[i] && values[i][0] != '/';
        return false;
}

void pg_conn_params(const char *const *keys, const char *const *values, PgConnParams *ret) {
        /* A silent peer is noticed in seconds, on every connection the suite makes or configures. */
        static const char *const defaults[][2] = {
                { "connect_timeout", "5" },
                { "keepalives", "1" },
                { "keepalives_idle", "5" },
                { "keepalives_interval", "2" },
                { "keepalives_count", "3" },
        };
        size_t n = 0;

        for (size_t i = 0; keys[i] && n + ELEMENTSOF(defaults) + 1 < ELEMENTSOF(ret->keys); i++)
                if (values[i]) {
                        ret->keys[n] = keys[i];
                        ret->values[n++] = values[i];
                }
        /* libpq takes the last of a repeated keyword: a default the caller gave is left out, not appended. */
        for (size_t i = 0, given = n; i < ELEMENTSOF(defaults); i++) {
                bool dup = false;

                for (size_t j = 0; j < given && !dup; j++)
                        dup = streq(ret->keys[j], defaults[i][0]);
                if (dup)
                        continue;
                ret->keys[n] = defaults[i][0];
                ret->values[n++] = defaults[i][1];
        }
        /* A unix socket never carries TLS; every connection to another node does. */
        if (client_tls.keys[0] && over_tcp(keys, values))
                for (size_t i = 0; i < ELEMENTSOF(client_tls.keys) && client_tls.keys[i] &&
                                   n + 1 < ELEMENTSOF(ret->keys); i++) {
                        ret->keys[n] = client_tls.keys[i];
                        ret->values[n++] = client_tls.values[i];
                }
        ret->keys[n] = ret->values[n] = NULL;
}

PGconn *pg_connect(const char *const *keys, const char *const *values) {
        PgConnParams p;

        pg_conn_params(keys, values, &p);
        return PQconnectdbParams(p.keys, p.values, 0);
}

PGconn *pg_connect_local(const char *socket_dir, unsigned port, const char *dbname) {
        char p[16];
        const char *keys[] = { "host", "port", "dbname", "user", "application_name", NULL };
        const char *values[] = { socket_dir, p, dbname ? dbname : "postgres", "postgres", "pgrepl", NULL };

        snprintf(p, sizeof(p), "%u", port);
        return pg_connect(keys, values);
}

const char *pg_error_reason(const PGconn *conn) {
        /* libpq's and the server's words (the first match wins) → a reason for STATUS=. */
        static const struct {
                const char *needles[3];
                const char *reason;
        } table[] = {
                /* First: libpq's TLS messages also say "does not exist" (a missing root certificate). */
                { { "does not match host name" }, "its TLS certificate does not match the host name" },
                { { "certificate verify failed", "root certificate file" },
                  "its TLS certificate was not verified with POSTGRESQL_TLS_CA_FILE" },
                { { "server does not support SSL" }, "it does not offer TLS" },
                { { "private key file" }, "its TLS key was refused (POSTGRESQL_TLS_KEY_FILE)" },
                { { "certificate" }, "TLS certificate refused" },
                { { "SSL error", "SSL SYSCALL error" }, "the TLS handshake failed" },
                { { "Connection refused" }, "connection refused" },
                { { "could not translate host name", "Name or service not known" }, "host unknown" },
                { { "password authentication failed", "no password supplied" }, "authentication failed" },
                { { "does not exist" }, "role does not exist yet" },
                { { "no pg_hba.conf entry" }, "not allowed by the primary's pg_hba.conf" },
                { { "too many connections", "remaining connection slots",
                    "number of requested standby connections exceeds" }, "too many connections" },
                { { "the database system is starting up", "shutting down" }, "primary is starting or stopping" },
                { { "timeout expired", "timed out" }, "timed out" },
                { { "No route to host", "Network is unreachable" }, "host unreachable" },
                { { "No such file or directory" }, "no server on that socket" },
        };
        const char *m = conn ? PQerrorMessage(conn) : "";

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                for (size_t k = 0; k < ELEMENTSOF(table[i].needles) && table[i].needles[k]; k++)
                        if (strstr(m, table[i].needles[k]))
                                return table[i].reason;
        return "connection failed";
}

int pg_exec(PGconn *conn, const char *sql) {
        _cleanup_pqres_ PGresult *res = PQexec(conn, sql);
        ExecStatusType st = PQresultStatus(res);

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                log_debug("query failed: %s", PQerrorMessage(conn));
                return -EIO;
        }
        return 0;
}

int pg_query_value(PGconn *conn, const char *sql, int nparams, const char *const *params, char **ret) {
        _cleanup_pqres_ PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
        char *v = NULL;

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                log_debug("query failed: %s", PQerrorMessage(conn));
                return -EIO;
        }
        if (PQntuples(res) < 1 || PQnfields(res) < 1)
                return -ENODATA;
        if (!PQgetisnull(res, 0, 0)) {
                v = strdup(PQgetvalue(res, 0, 0));
                if (!v)
                        return -ENOMEM;
        }
        *ret = v;
        return 0;
}

int pg_postmaster_pid(const char *datadir, pid_t *ret) {
        _cleanup_free_ char *p = NULL, *s = NULL;
        unsigned pid;
        int r;

        if (asprintf(&p, "%s/postmaster.pid", datadir) < 0)
                return -ENOMEM;
        r = fs_read_file(p, &s);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        if (parse_uint(s, 1, INT32_MAX, &pid) < 0)
                return -EBADMSG;
        if (kill((pid_t) pid, 0) < 0 && errno == ESRCH)
                return -ESRCH;
        *ret = (pid_t) pid;
        return 0;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* A private socket directory (0700) and a trust-only hba file of its own, below rundir. */
static int private_dir(const char *rundir, char **ret_sock, char **ret_hba) {
        _cleanup_free_ char *sock = path_join(rundir, "setup"), *hba = NULL;
        int r;

        if (!sock || !(hba = path_join(sock, "hba.conf")))
                return -ENOMEM;
        r = fs_mkdir_p(sock, 0700);
        if (r < 0)
                return r;
        (void) chmod(sock, 0700);
        r = fs_write_atomic(hba, "local all all trust\n", 0600);
        if (r < 0)
                return r;
        *ret_sock = TAKE_PTR(sock);
        *ret_hba = TAKE_PTR(hba);
        return 0;
}

static int spawn_private(const char *bindir, const char *datadir, const char *sock, const char *hba,
                         unsigned port, pid_t *ret_pid) {
        _cleanup_free_ char *postgres = pg_bin(bindir, "postgres"), *sockopt = NULL, *hbaopt = NULL, *portopt = NULL;
        _cleanup_strv_free_ char **env = NULL;
        int r;

        if (!postgres || asprintf(&sockopt, "unix_socket_directories=%s", sock) < 0 ||
            asprintf(&hbaopt, "hba_file=%s", hba) < 0 || asprintf(&portopt, "port=%u", port) < 0)
                return -ENOMEM;
        r = spawn_env(NULL, &env);
        if (r < 0)
                return r;
        {
                char *argv[] = { postgres, "-D", (char *) datadir, "-c", "listen_addresses=", "-c", sockopt,
                                 "-c", hbaopt, "-c", portopt, "-c", "synchronous_standby_names=",
                                 "-c", "logging_collector=off", NULL };

                return spawn_start(argv, env, -1, -1, ret_pid);
        }
}

/* Until the server on sock accepts connections: -EPROTO when it exits first (it says why itself). */
static int wait_accepting(pid_t pid, const char *sock, unsigned port) {
        const char *keys[] = { "host", "port", "dbname", "user", NULL };
        const char *values[] = { sock, NULL, "postgres", "postgres", NULL };
        char portbuf[16];
        int st;

        snprintf(portbuf, sizeof(portbuf), "%u", port);
        values[1] = portbuf;
        for (unsigned i = 0; PQpingParams(keys, values, 0) != PQPING_OK; i++) {
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        log_debug("PostgreSQL exited during setup with status %d",
                                  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                        return -EPROTO;
                }
                /* Crash recovery can take long; the unit has no start timeout for it. */
                sleep_ms(i < 200 ? 5 : 50);
        }
        return 0;
}

int pg_server_start_private(const char *bindir, const char *datadir, const char *rundir, unsigned port,
                            PgServer *ret) {
        _cleanup_free_ char *sock = NULL, *hba = NULL;
        pid_t pid;
        int r;

        r = private_dir(rundir, &sock, &hba);
        if (r < 0)
                return r;
        r = spawn_private(bindir, datadir, sock, hba, port, &pid);
        if (r < 0)
                return r;
        r = wait_accepting(pid, sock, port);
        if (r < 0)
                return r;
        *ret = (PgServer) { .pid = pid, .socket_dir = TAKE_PTR(sock), .port = port };
        return 0;
}

int pg_server_stop(PgServer *s) {
        int st, r;

        if (s->pid <= 0)
                return 0;
        (void) kill(s->pid, SIGINT);
        r = spawn_wait(s->pid, &st);
        s->pid = 0;
        free(s->socket_dir);
        s->socket_dir = NULL;
        if (r < 0)
                return r;
        if (st != 0) {
                log_debug("PostgreSQL exited with status %d after setup", st);
                return -EPROTO;
        }
        return 0;
}
