/* SPDX-License-Identifier: MIT */
/*
 * node_check_settings() (node.h): what PostgreSQL itself would refuse at its start, asked of the
 * server binaries in use before anything is written. The `settings` group, POSTGRESQL_EXTRA_FLAGS
 * and the values pgrepl passes through are handed to `postgres -C port --config-file=/dev/null
 * -c ...`, which parses every option and value with the server's own rules (names, types, units,
 * ranges, enumerations, check hooks) and stops before it needs a data directory; as the first
 * argument -C is allowed as root, so --check can ask it too. One run, about a tenth of a second.
 * The libraries of POSTGRESQL_SHARED_PRELOAD_LIBRARIES must exist in the server's library
 * directory, and POSTGRESQL_SOCKET_DIR must be a directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "log.h"
#include "node.h"
#include "pg.h"
#include "spawn-util.h"
#include "util.h"

/* The value of a postgresql.conf literal as rendered by config-file.c (render_conf_string() for a
 * string: quotes doubled, backslashes doubled), for a -c option. */
static char *unquote(const char *lit) {
        size_t n = strlen(lit);
        char *out, *o;

        if (n < 2 || lit[0] != '\'' || lit[n - 1] != '\'')
                return strdup(lit);
        out = o = malloc(n);
        if (!out)
                return NULL;
        for (size_t i = 1; i + 1 < n; i++) {
                if ((lit[i] == '\'' || lit[i] == '\\') && i + 2 < n && lit[i + 1] == lit[i])
                        i++;
                *o++ = lit[i];
        }
        *o = 0;
        return out;
}

/* Run argv, both outputs into one string (the first 16 KiB); the exit status is not the verdict. */
static int run_collect(char *const *argv, char **ret) {
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        _cleanup_close_ int rfd = -1, wfd = -1;
        _cleanup_free_ char *out = NULL;
        size_t n = 0, cap = 16384;
        int fds[2], r, st;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0];
        wfd = fds[1];
        r = spawn_start(argv, envp, wfd, wfd, &pid);
        if (r < 0)
                return r;
        close(TAKE_FD(wfd));
        out = malloc(cap);
        if (!out)
                r = -ENOMEM;
        for (;;) {
                char drain[4096];
                ssize_t k;

                if (out && n + 1 < cap)
                        k = read(rfd, out + n, cap - n - 1);
                else
                        k = read(rfd, drain, sizeof(drain));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (out && n + 1 < cap)
                        n += (size_t) k;
        }
        if (spawn_wait(pid, &st) < 0 && r >= 0)
                r = -ECHILD;
        if (r < 0)
                return r;
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* The parameter a FATAL line names ("... parameter \"work_mem\": ..."), into buf; "" when none. */
static void named_parameter(const char *msg, char *buf, size_t n) {
        const char *p = strstr(msg, "parameter \"");
        size_t k;

        buf[0] = 0;
        if (!p)
                return;
        p += strlen("parameter \"");
        k = strcspn(p, "\"");
        if (k < n)
                snprintf(buf, n, "%.*s", (int) k, p);
}

/* Say which configuration the server's refusal is about: a settings entry, EXTRA_FLAGS or a
 * variable pgrepl passes through. */
static int report_refusal(const Config *c, const DataDir *d, const char *out) {
        static const struct {
                const char *name;
                VarId id;
        } passed[] = {
                { "max_connections", VAR_MAX_CONNECTIONS },
                { "shared_preload_libraries", VAR_SHARED_PRELOAD_LIBRARIES },
                { "max_slot_wal_keep_size", VAR_MAX_SLOT_WAL_KEEP_SIZE },
        };
        const char *fatal = out ? strstr(out, "FATAL:") : NULL, *value;
        char msg[512], name[128];
        size_t value_len = 0;

        if (fatal)
                fatal += strlen("FATAL:") + strspn(fatal + strlen("FATAL:"), " ");
        else
                fatal = out ? out : "";
        {
                /* The first line (a copy, not "%.*s": gcc's sanitizer build sees a null argument there). */
                size_t len = strcspn(fatal, "\n");

                if (len >= sizeof(msg))
                        len = sizeof(msg) - 1;
                memcpy(msg, fatal, len);
                msg[len] = 0;
        }
        /* Its hint names the allowed values of an enumeration. */
        {
                const char *hint = strstr(fatal, "HINT:");

                if (hint) {
                        size_t used = strlen(msg);

                        hint += strlen("HINT:") + strspn(hint + strlen("HINT:"), " ");
                        snprintf(msg + used, sizeof(msg) - used, " (%.*s)", (int) strcspn(hint, "\n"), hint);
                }
        }
        named_parameter(msg, name, sizeof(name));

        /* The value it quotes tells a settings entry from an EXTRA_FLAGS option of the same name. */
        value = strstr(msg, "\": \"");
        if (value) {
                value += 4;
                value_len = strcspn(value, "\"");
        }
        for (size_t i = 0; name[0] && i < c->n_settings; i++) {
                _cleanup_free_ char *v = unquote(c->settings[i].value);

                if (!v)
                        return -ENOMEM;
                if (value && (strlen(v) != value_len || strncmp(v, value, value_len) != 0))
                        continue;
                if (streq(c->settings[i].key, name)) {
                        log_error("%s: settings.%s = %s: PostgreSQL %u refuses it: %s", c->config_file, name,
                                  c->settings[i].value, d->server_major, msg);
                        return -PGREPL_E_CONFIG;
                }
        }
        for (size_t i = 0; name[0] && i < ELEMENTSOF(passed); i++)
                if (streq(passed[i].name, name) && config_get(c, passed[i].id)) {
                        config_report(c, passed[i].id, "PostgreSQL %u refuses it: %s", d->server_major, msg);
                        return -PGREPL_E_CONFIG;
                }
        if (config_get(c, VAR_EXTRA_FLAGS)) {
                config_report(c, VAR_EXTRA_FLAGS, "PostgreSQL %u refuses it: %s", d->server_major, msg);
                return -PGREPL_E_CONFIG;
        }
        log_error("PostgreSQL %u in '%s' refuses the settings: %s", d->server_major, d->bindir, msg);
        return -PGREPL_E_CONFIG;
}

static int check_with_server(const Config *c, const DataDir *d) {
        _cleanup_free_ char *postgres = pg_bin(d->bindir, "postgres"), *out = NULL, *libs = NULL, *mc = NULL,
                            *keep = NULL;
        _cleanup_strv_free_ char **flags = NULL, **settings = NULL;
        char **argv;
        size_t n = 0;
        int r;

        if (!postgres)
                return -ENOMEM;
        r = strv_split_words(config_get(c, VAR_EXTRA_FLAGS), &flags);
        if (r < 0)
                return r;
        settings = calloc(c->n_settings + 1, sizeof(char *));
        if (!settings)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_settings; i++) {
                _cleanup_free_ char *v = unquote(c->settings[i].value);

                if (!v || asprintf(&settings[i], "%s=%s", c->settings[i].key, v) < 0)
                        return -ENOMEM;
        }
        if ((c->max_connections > 0 && asprintf(&mc, "max_connections=%u", c->max_connections) < 0) ||
            (config_get(c, VAR_SHARED_PRELOAD_LIBRARIES) &&
             asprintf(&libs, "shared_preload_libraries=%s", config_get(c, VAR_SHARED_PRELOAD_LIBRARIES)) < 0) ||
            asprintf(&keep, "max_slot_wal_keep_size=%s", config_get(c, VAR_MAX_SLOT_WAL_KEEP_SIZE)) < 0)
                return -ENOMEM;

        /* postgres -C port --config-file, -c each setting, max_connections, the libraries, the slot bound, the
         * flags, NULL. */
        argv = calloc(4 + 2 * (c->n_settings + 3) + strv_length(flags) + 1, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        argv[n++] = postgres;
        argv[n++] = "-C";
        argv[n++] = "port";
        argv[n++] = "--config-file=/dev/null";
        for (size_t i = 0; settings[i]; i++) {
                argv[n++] = "-c";
                argv[n++] = settings[i];
        }
        if (mc) {
                argv[n++] = "-c";
                argv[n++] = mc;
        }
        if (libs) {
                argv[n++] = "-c";
                argv[n++] = libs;
        }
        argv[n++] = "-c";
        argv[n++] = keep;
        for (size_t i = 0; flags[i]; i++)
                argv[n++] = flags[i];
        argv[n] = NULL;

        r = run_collect(argv, &out);
        free(argv);
        if (r < 0)
                return r;
        /* Every option parsed: the server goes on to look for its data directory, which it was not given. */
        if (strstr(out, "does not know where to find the database system data"))
                return 0;
        if (strstr(out, "FATAL:") || strstr(out, "invalid argument") || strstr(out, "--help"))
                return report_refusal(c, d, out);
        /* Some other answer (another major's wording): not a verdict on the settings. */
        log_debug("'%s -C port' answered: %s", postgres, out);
        return 0;
}

/* The server's library directory: what its pg_config says, else BINDIR/../lib (Debian, PGDG). */
static char *pkglibdir(const char *bindir) {
        _cleanup_free_ char *pg_config = pg_bin(bindir, "pg_config"), *out = NULL;
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };

        if (pg_config && access(pg_config, X_OK) == 0) {
                char *argv[] = { pg_config, "--pkglibdir", NULL };

                if (spawn_capture(argv, envp, &out) >= 0 && out[0] == '/') {
                        out[strcspn(out, "\n")] = 0;
                        return TAKE_PTR(out);
                }
        }
        {
                _cleanup_free_ char *parent = path_parent(bindir);

                return parent ? path_join(parent, "lib") : NULL;
        }
}

static int check_libraries(const Config *c, const DataDir *d) {
        const char *list = config_get(c, VAR_SHARED_PRELOAD_LIBRARIES);
        _cleanup_free_ char *copy = NULL, *libdir = NULL;
        char *rest, *t;

        if (!list)
                return 0;
        copy = strdup(list);
        libdir = pkglibdir(d->bindir);
        if (!copy || !libdir)
                return -ENOMEM;
        rest = copy;
        while ((t = strsep(&rest, ","))) {
                _cleanup_free_ char *path = NULL;
                const char *name = strstrip(t);
                bool has_suffix = strlen(name) > 3 && streq(name + strlen(name) - 3, ".so");

                if (strncmp(name, "$libdir/", 8) == 0)
                        name += 8;
                if (name[0] == '/')
                        path = strdup(name);
                else if (asprintf(&path, "%s/%s", libdir, name) < 0)
                        path = NULL;
                if (!path)
                        return -ENOMEM;
                if (access(path, F_OK) == 0)
                        continue;
                if (!has_suffix) {
                        _cleanup_free_ char *so = NULL;

                        if (asprintf(&so, "%s.so", path) < 0)
                                return -ENOMEM;
                        if (access(so, F_OK) == 0)
                                continue;
                }
                config_report(c, VAR_SHARED_PRELOAD_LIBRARIES, "no library '%s' in '%s' (PostgreSQL %u): install "
                              "the extension's package for this major, or remove it from the list", name, libdir,
                              d->server_major);
                return -PGREPL_E_CONFIG;
        }
        return 0;
}

static int check_socket_dir(const Config *c) {
        const char *dir = config_get(c, VAR_SOCKET_DIR);
        struct stat st;

        if (stat(dir, &st) < 0) {
                if (errno == EACCES)
                        return 0; /* not this user's to judge: the server says so at its start */
                if (errno != ENOENT && errno != ENOTDIR)
                        return -errno;
        } else if (S_ISDIR(st.st_mode))
                return 0;
        config_report(c, VAR_SOCKET_DIR, "does not exist or is not a directory: the server puts its socket there; "
                      "create it for the service user (the postgresql-common package makes /run/postgresql)");
        return -PGREPL_E_CONFIG;
}

/* The service user (no capabilities in the units) binds only ports from
 * net.ipv4.ip_unprivileged_port_start (1024 unless lowered). */
static int check_port(const Config *c) {
        _cleanup_free_ char *s = NULL;
        unsigned start = 1024;

        if (fs_read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", &s) >= 0 &&
            parse_uint(strstrip(s), 0, 65536, &start) < 0)
                start = 1024;
        if (c->port >= start)
                return 0;
        config_report(c, VAR_PORT_NUMBER, "is below %u (net.ipv4.ip_unprivileged_port_start): the service user "
                      "cannot listen on it; use a port from %u", start, start);
        return -PGREPL_E_CONFIG;
}

int node_check_settings(const Config *c, const DataDir *d) {
        int r;

        r = check_port(c);
        if (r >= 0)
                r = check_socket_dir(c);
        if (r >= 0)
                r = check_libraries(c, d);
        if (r >= 0)
                r = check_with_server(c, d);
        return r;
}
