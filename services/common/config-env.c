/* SPDX-License-Identifier: MIT */
/*
 * Values from the process environment (systemd's EnvironmentFile=): the
 * POSTGRESQL_* spelling, then the aliases Bitnami reads; every variable's
 * *_FILE form wins over the plain values (the passwords' files may be
 * root-only: secrets.h). An empty value counts as unset, as in the image's
 * scripts. The image's variables pgrepl does not implement are refused here,
 * by name, never ignored (SPEC section 10).
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
        if (config_role_is_helper(c->role)) {
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

/* The image's other spellings of a variable, beyond config_vars[].alias (its postgresql-env.sh). */
static const struct {
        VarId id;
        const char *name;
} more_aliases[] = {
        { VAR_DATA_DIR, "PGDATA" },
        { VAR_USERNAME, "POSTGRESQL_USER" },
        { VAR_USERNAME, "POSTGRES_USERNAME" },
        { VAR_DATABASE, "POSTGRES_DATABASE" },
        { VAR_INITDB_WAL_DIR, "POSTGRES_INITDB_WAL_DIR" },
};

/* Every name a variable is read under, in order of precedence; returns how many. */
static size_t var_names(VarId id, const char *names[static 2 + ELEMENTSOF(more_aliases)]) {
        size_t n = 0;

        names[n++] = config_var_name(id);
        if (config_var_alias(id))
                names[n++] = config_var_alias(id);
        for (size_t i = 0; i < ELEMENTSOF(more_aliases); i++)
                if (more_aliases[i].id == id)
                        names[n++] = more_aliases[i].name;
        return n;
}

/* NAME_FILE of a variable that is no secret: the file's content is the value, as in the image. */
static int load_value_file(Config *c, char *const *envp, VarId id, const char *fname, const char *path) {
        _cleanup_free_ char *value = NULL, *source = NULL, *where = NULL;
        int r;

        r = fs_read_secret(path, &value);
        if (r < 0) {
                where = env_source(envp, fname, false);
                log_error_errno(r, "%s='%s' (from %s): cannot read the file: %m", fname, path,
                                where ? where : "environment");
                return -PGREPL_E_CONFIG;
        }
        if (!*value)
                return 0;
        if (asprintf(&source, "file '%s' (%s)", path, fname) < 0 || config_set_value(c, id, value, source) < 0)
                return log_oom();
        return 0;
}

static int load_one(Config *c, char *const *envp, VarId id) {
        const char *names[2 + ELEMENTSOF(more_aliases)];
        size_t n_names = var_names(id, names);

        /* Every variable has its _FILE form (the image's), which wins; only the passwords are secrets. */
        for (size_t i = 0; i < n_names; i++) {
                char fname[96];
                const char *v;

                snprintf(fname, sizeof(fname), "%s_FILE", names[i]);
                v = strv_env_get(envp, fname);
                if (v && *v)
                        return config_vars[id].secret ? load_secret_file(c, envp, id, fname, v)
                                                      : load_value_file(c, envp, id, fname, v);
        }

        for (size_t i = 0; i < n_names; i++) {
                _cleanup_free_ char *source = NULL;
                const char *v;

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

#define INITSCRIPTS_INSTEAD "put the scripts in POSTGRESQL_INITSCRIPTS_DIR, which pgrepl runs after the roles exist"

/* The image's variables pgrepl does not implement: a start that sets one is refused rather than run
 * without what it asks for (SPEC section 10). off_ok: a false boolean asks for nothing and is accepted. */
static const struct {
        const char *name;
        const char *instead;
        bool off_ok;
} unsupported[] = {
        { "POSTGRESQL_VOLUME_DIR", "set POSTGRESQL_DATA_DIR" },
        { "POSTGRESQL_PGCTLTIMEOUT", "the units stop the server themselves: set TimeoutStopSec= in a drop-in" },
        { "POSTGRESQL_SR_CHECK", "create such a user in an init script or by hand", true },
        { "POSTGRESQL_SR_CHECK_USERNAME", "create such a user in an init script or by hand" },
        { "POSTGRESQL_SR_CHECK_PASSWORD", "create such a user in an init script or by hand" },
        { "POSTGRESQL_SR_CHECK_DATABASE", "create such a user in an init script or by hand" },
        { "POSTGRESQL_PREINITSCRIPTS_DIR", INITSCRIPTS_INSTEAD },
        { "POSTGRESQL_REPLICATION_NODES", "pgrepl writes synchronous_standby_names from "
                                          "POSTGRESQL_CLUSTER_APP_NAME" },
        { "POSTGRESQL_PERFORM_RESTORE", "restore into the data directory before the first start", true },
        { "POSTGRESQL_AUTOCTL_CONF_DIR", "pgrepl is not pg_auto_failover: see POSTGRESQL_PARTNER_NODES" },
        { "POSTGRESQL_AUTOCTL_MODE", "pgrepl is not pg_auto_failover: see POSTGRESQL_PARTNER_NODES" },
        { "POSTGRESQL_AUTOCTL_MONITOR_HOST", "pgrepl is not pg_auto_failover: see POSTGRESQL_PARTNER_NODES" },
        { "POSTGRESQL_AUTOCTL_HOSTNAME", "pgrepl is not pg_auto_failover: see POSTGRESQL_PARTNER_NODES" },
};

static bool is_unsupported(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++) {
                size_t k = strlen(unsupported[i].name);

                if ((n == k || (n == k + 5 && strncmp(name + k, "_FILE", 5) == 0)) &&
                    strncmp(name, unsupported[i].name, k) == 0)
                        return true;
        }
        return false;
}

/* One line per unsupported variable that is set (or its _FILE form); the caller exits 78. */
static int refuse_unsupported(char *const *envp) {
        int bad = 0;

        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++) {
                /* POSTGRESQL_X, POSTGRESQL_X_FILE, and the image's POSTGRES_X spellings of both. */
                for (unsigned f = 0; f < 4; f++) {
                        _cleanup_free_ char *where = NULL;
                        char name[96];
                        const char *v;

                        snprintf(name, sizeof(name), "%s%s%s", f & 2 ? "POSTGRES_" : "",
                                 f & 2 ? unsupported[i].name + strlen("POSTGRESQL_") : unsupported[i].name,
                                 f & 1 ? "_FILE" : "");
                        v = strv_env_get(envp, name);
                        if (!v || !*v || (!f && unsupported[i].off_ok && config_parse_bool(v) == 0))
                                continue;
                        where = env_source(envp, name, false);
                        log_error("%s (from %s): pgrepl does not support this variable of the image; %s",
                                  name, where ? where : "environment", unsupported[i].instead);
                        bad++;
                }
        }
        return bad;
}

static bool known_env(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(more_aliases); i++) {
                size_t k = strlen(more_aliases[i].name);

                if ((n == k || (n == k + 5 && strncmp(name + k, "_FILE", 5) == 0)) &&
                    strncmp(name, more_aliases[i].name, k) == 0)
                        return true;
        }
        for (VarId id = 0; id < _VAR_MAX; id++)
                for (unsigned a = 0; a < 2; a++) {
                        const char *k = a ? config_var_alias(id) : config_var_name(id);
                        size_t kn = k ? strlen(k) : 0;

                        if (!k)
                                continue;
                        if (kn == n && strncmp(name, k, n) == 0)
                                return true;
                        if (n == kn + 5 && strncmp(name, k, kn) == 0 && strncmp(name + kn, "_FILE", 5) == 0)
                                return true;
                }
        return false;
}

/* Unknown POSTGRESQL_* (and the image's POSTGRES_*) names are most often typos: say which was meant. */
static void warn_unknown(char *const *envp) {
        for (char *const *e = envp; e && *e; e++) {
                char name[128];
                size_t n = strcspn(*e, "=");
                const char *hint;

                char long_name[136];

                if (n >= sizeof(name) || known_env(*e, n))
                        continue;
                /* The image's POSTGRES_X spelling of an unsupported POSTGRESQL_X is refused, not warned. */
                if (strncmp(*e, "POSTGRES_", 9) == 0) {
                        snprintf(long_name, sizeof(long_name), "POSTGRESQL_%.*s", (int) (n - 9), *e + 9);
                        if (is_unsupported(long_name, strlen(long_name)))
                                continue;
                } else if (strncmp(*e, "POSTGRESQL_", 11) != 0 || is_unsupported(*e, n))
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
        bad += refuse_unsupported(envp);
        for (VarId id = 0; id < _VAR_MAX; id++) {
                int r = load_one(c, envp, id);

                if (r == -PGREPL_E_CONFIG)
                        bad++;
                else if (r < 0)
                        return r;
        }
        return bad ? -PGREPL_E_CONFIG : 0;
}
