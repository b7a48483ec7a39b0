/* SPDX-License-Identifier: MIT */
/*
 * Values from the process environment (systemd's EnvironmentFile=): the
 * POSTGRESQL_* spelling, then the POSTGRES_* alias Bitnami reads; for the
 * three secrets the *_FILE forms win over the plain values. An empty value
 * counts as unset, as in the image's scripts.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "config-internal.h"
#include "fs.h"
#include "log.h"
#include "secrets.h"
#include "util.h"

static char *env_source(char *const *envp, const char *name, bool alias) {
        const char *file = strv_env_get(envp, "PGREPL_ENV_FILE");
        char *s = NULL;
        int r;

        if (file && *file)
                r = asprintf(&s, "env file '%s'%s%s", file, alias ? ", as " : "", alias ? name : "");
        else
                r = asprintf(&s, "environment%s%s", alias ? ", as " : "", alias ? name : "");
        return r < 0 ? NULL : s;
}

/* A *_FILE variable: read the secret it names, from a regular file only its owner can read. */
static int load_secret_file(Config *c, char *const *envp, VarId id, const char *fname, const char *path) {
        _cleanup_erase_ char *secret = NULL;
        _cleanup_free_ char *source = NULL, *where = NULL, *staged = NULL;
        struct stat st;
        int r;

        where = env_source(envp, fname, false);
        if (!where)
                return log_oom();
        if (!string_printable(path)) {
                /* The lines systemd joined after an unbalanced quote may be other secrets: never shown. */
                log_error("%s (from %s): the value %s: an unbalanced quote in the env file? It must name one file",
                          fname, where, strpbrk(path, "\n\r") ? "spans several lines (not shown)"
                                                              : "holds control characters (not shown)");
                return -PGREPL_E_CONFIG;
        }
        /* The watcher never uses a password: it does not need to read one. */
        if (c->role == ROLE_WATCHER) {
                if (asprintf(&source, "file '%s' (%s, not read by this unit)", path, fname) < 0)
                        return log_oom();
                return config_set_value(c, id, path, source) < 0 ? log_oom() : 0;
        }
        r = fs_stat_regular(path, &st);
        if (r >= 0 && (st.st_mode & 0077)) {
                log_error("%s='%s' (from %s): a secret in a file others can read (mode %04o); chmod 600 (a "
                          "root-only file is fine: the unit stages a copy for the service user)",
                          fname, path, where, (unsigned) (st.st_mode & 07777));
                return -PGREPL_E_CONFIG;
        }
        if (r >= 0)
                r = fs_read_secret(path, &secret);
        if (r == -EACCES && (staged = secrets_staged_path(fname)))
                /* Root-only file: the unit's ExecStartPre=+ staged a copy for us. */
                r = fs_read_secret(staged, &secret);
        if (r < 0) {
                log_error("%s='%s' (from %s): cannot read the secret file: %s", fname, path, where, fs_strerror(r));
                return -PGREPL_E_CONFIG;
        }
        if (asprintf(&source, "file '%s' (%s)", path, fname) < 0)
                return log_oom();
        if (!*secret)
                return 0;
        return config_set_value(c, id, secret, source) < 0 ? log_oom() : 0;
}

static int load_one(Config *c, char *const *envp, VarId id) {
        const char *names[2] = { config_var_name(id), config_vars[id].alias };

        if (config_vars[id].secret)
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        char fname[96];
                        const char *v;

                        if (!names[i])
                                continue;
                        snprintf(fname, sizeof(fname), "%s_FILE", names[i]);
                        v = strv_env_get(envp, fname);
                        if (v && *v)
                                return load_secret_file(c, envp, id, fname, v);
                }

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *source = NULL;
                const char *v;

                if (!names[i])
                        continue;
                v = strv_env_get(envp, names[i]);
                if (!v || !*v)
                        continue;
                source = env_source(envp, names[i], i > 0);
                if (!source || config_set_value(c, id, v, source) < 0)
                        return log_oom();
                return 0;
        }
        return 0;
}

static bool known_env(const char *name, size_t n) {
        for (VarId id = 0; id < _VAR_MAX; id++) {
                const char *k = config_var_name(id);
                size_t kn = strlen(k);

                if (kn == n && strncmp(name, k, n) == 0)
                        return true;
                if (config_vars[id].secret && n == kn + 5 && strncmp(name, k, kn) == 0 &&
                    strncmp(name + kn, "_FILE", 5) == 0)
                        return true;
        }
        return false;
}

/* Unknown POSTGRESQL_* names are most often typos: say which name was meant. */
static void warn_unknown(char *const *envp) {
        for (char *const *e = envp; e && *e; e++) {
                char name[128];
                size_t n = strcspn(*e, "=");
                const char *hint;

                if (strncmp(*e, "POSTGRESQL_", 11) != 0 || known_env(*e, n) || n >= sizeof(name))
                        continue;
                memcpy(name, *e, n);
                name[n] = 0;
                hint = config_closest(name, false);
                log_warning("Unknown variable %s ignored%s%s%s", name, hint ? "; did you mean " : "",
                            hint ? hint : "", hint ? "?" : ".");
        }
}

int config_load_env(Config *c, char *const *envp) {
        int bad = 0;

        warn_unknown(envp);
        for (VarId id = 0; id < _VAR_MAX; id++) {
                int r = load_one(c, envp, id);

                if (r == -PGREPL_E_CONFIG)
                        bad++;
                else if (r < 0)
                        return r;
        }
        return bad ? -PGREPL_E_CONFIG : 0;
}
