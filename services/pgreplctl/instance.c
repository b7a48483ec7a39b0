/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "errors.h"
#include "instance.h"
#include "log.h"
#include "util.h"

#define STAND_IN "(not readable)"

const char *instance_confdir(void) {
        const char *e = getenv("PGREPL_CONFDIR");

        return e && *e ? e : PGREPL_CONFDIR_DEFAULT;
}

static int compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int instance_list(char ***ret) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        if (!v)
                return -ENOMEM;
        d = opendir(instance_confdir());
        if (!d && errno != ENOENT)
                return -errno;
        while (d && (de = readdir(d))) {
                size_t k = strlen(de->d_name);
                char *name, **nv;

                if (k <= 4 || !streq(de->d_name + k - 4, ".env"))
                        continue;
                name = strndup(de->d_name, k - 4);
                if (name && !config_instance_valid(name)) {
                        free(name);
                        continue;
                }
                nv = name ? realloc(v, (n + 2) * sizeof(char *)) : NULL;
                if (!nv) {
                        free(name);
                        closedir(d);
                        return -ENOMEM;
                }
                v = nv;
                v[n++] = name;
                v[n] = NULL;
        }
        if (d)
                closedir(d);
        qsort(v, n, sizeof(char *), compare);
        *ret = TAKE_PTR(v);
        return 0;
}

Role instance_role(const EnvFile *env) {
        const char *mode = envfile_get(env, "POSTGRESQL_REPLICATION_MODE");

        if (!mode || !*mode)
                mode = envfile_get(env, "POSTGRES_REPLICATION_MODE");
        if (mode && *mode)
                return strcasecmp(mode, "slave") == 0 || strcasecmp(mode, "standby") == 0 ? ROLE_STANDBY
                                                                                           : ROLE_PRIMARY;
        return envfile_get(env, "POSTGRESQL_MASTER_HOST") || envfile_get(env, "POSTGRES_MASTER_HOST") ? ROLE_STANDBY
                                                                                                   : ROLE_PRIMARY;
}

static bool is_stand_in(const char *entry) {
        const char *eq = strchr(entry, '=');

        return eq && streq(eq + 1, STAND_IN);
}

/* Whether a stand-in for entry's name is in envp. */
static bool stood_in(char *const *envp, const char *entry) {
        size_t k = strcspn(entry, "=");

        for (size_t i = 0; envp[i]; i++)
                if (strncmp(envp[i], entry, k) == 0 && envp[i][k] == '=' && is_stand_in(envp[i]))
                        return true;
        return false;
}

/* Replace every *_PASSWORD_FILE=PATH this user cannot read by *_PASSWORD=(not readable), and drop
 * the plain variable of that name: the unit would have used the file. */
static int stand_in_secrets(char **envp, bool *ret_any) {
        size_t n = strv_length(envp), out = 0;
        _cleanup_free_ bool *drop = calloc(n + 1, sizeof(bool));

        if (!drop)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char *eq = strchr(envp[i], '='), *s = NULL;
                size_t k = eq ? (size_t) (eq - envp[i]) : 0;

                if (k < 14 || strncmp(eq - 14, "_PASSWORD_FILE", 14) != 0 || access(eq + 1, R_OK) == 0)
                        continue;
                if (asprintf(&s, "%.*s=%s", (int) (k - 5), envp[i], STAND_IN) < 0)
                        return -ENOMEM;
                free(envp[i]);
                envp[i] = s;
                *ret_any = true;
        }
        for (size_t i = 0; i < n; i++)
                drop[i] = !is_stand_in(envp[i]) && stood_in(envp, envp[i]);
        for (size_t i = 0; i <= n; i++) {
                if (i < n && drop[i]) {
                        free(envp[i]);
                        continue;
                }
                envp[out++] = envp[i];
        }
        return 0;
}

/* Load the configuration env gives, as the unit for role would. */
static int load_config(const Instance *i, const EnvFile *env, Role role, const char *config_file, bool reading,
                       bool *ret_stood_in, Config **ret) {
        _cleanup_free_ char *file_var = NULL, *inst_var = NULL;
        _cleanup_strv_free_ char **envp = NULL;
        int r;

        if (asprintf(&file_var, "PGREPL_ENV_FILE=%s", i->path) < 0 || asprintf(&inst_var, "PGREPL_INSTANCE=%s", i->name) < 0)
                return log_oom();
        r = envfile_envp(env, (char *const[]) { file_var, inst_var, NULL }, &envp);
        if (r < 0)
                return log_oom();
        if (reading) {
                r = stand_in_secrets(envp, ret_stood_in);
                if (r < 0)
                        return log_oom();
        }
        return config_load(role, i->name, config_file, envp, ret);
}

int instance_load(const char *name, const char *config_file, bool reading, Instance *ret) {
        Instance i = {};
        unsigned bad = 0;
        int r;

        if (!config_instance_valid(name)) {
                log_error("'%s' is not an instance name: 1-64 of letters, digits, '_', '.', '@', '-'", name);
                return -ENOENT;
        }
        i.name = strdup(name);
        if (!i.name || asprintf(&i.path, "%s/%s.env", instance_confdir(), name) < 0) {
                instance_done(&i);
                return log_oom();
        }
        r = envfile_read(i.path, &i.env, &bad);
        if (r == -ENOENT)
                log_error("No instance '%s': '%s' does not exist", name, i.path);
        else if (r == -EBADMSG)
                log_error("'%s', line %u: invalid UTF-8; systemd refuses the whole file", i.path, bad);
        else if (r < 0)
                log_error_errno(r, "Cannot read '%s': %m", i.path);
        if (r >= 0) {
                i.role = instance_role(&i.env);
                r = load_config(&i, &i.env, i.role, config_file, reading, &i.secrets_unreadable, &i.config);
        }
        if (r == -EBADMSG)
                r = -PGREPL_E_CONFIG;
        if (r < 0) {
                instance_done(&i);
                return r;
        }
        *ret = i;
        return 0;
}

void instance_done(Instance *i) {
        free(i->name);
        free(i->path);
        envfile_done(&i->env);
        config_free(i->config);
        *i = (Instance) {};
}

int instance_edit(Instance *i, Role role, const char *config_file, const char *const *names,
                  const char *const *values, bool dry_run) {
        _cleanup_(config_freep) Config *c = NULL;
        EnvFile edited = {};
        bool ignored = false;
        int r;

        r = envfile_parse(i->env.text, &edited, NULL);
        for (size_t k = 0; r >= 0 && names[k]; k++) {
                r = envfile_set(&edited, names[k], values[k]);
                if (r == -EBADMSG)
                        log_error("Cannot set %s in '%s' without changing another line's meaning (does the file "
                                  "end inside quotes?); nothing written", names[k], i->path);
        }
        if (r >= 0) {
                r = load_config(i, &edited, role, config_file, false, &ignored, &c);
                if (r < 0)
                        log_error("'%s' would not be accepted with that change (see above); nothing written", i->path);
        }
        if (r >= 0 && dry_run) {
                envfile_done(&edited);
                return 0;
        }
        if (r >= 0) {
                r = envfile_write(i->path, edited.text);
                if (r < 0)
                        log_error_errno(r, "Failed to write '%s': %m", i->path);
        }
        if (r < 0) {
                envfile_done(&edited);
                return r == -EBADMSG ? -PGREPL_E_CONFIG : r;
        }
        envfile_done(&i->env);
        i->env = edited;
        config_free(i->config);
        i->config = TAKE_PTR(c);
        i->role = role;
        return 0;
}
