/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"
#include "log.h"
#include "errors.h"
#include "secrets.h"
#include "util.h"

char *secrets_staged_path(const char *file_var) {
        const char *rt = getenv("RUNTIME_DIRECTORY");
        char *p = NULL;

        if (!rt || !*rt)
                return NULL;
        if (asprintf(&p, "%.*s/secrets/%s", (int) strcspn(rt, ":"), rt, file_var) < 0)
                return NULL;
        if (access(p, F_OK) < 0) {
                free(p);
                return NULL;
        }
        return p;
}

/* Every component of p, from '/', owned by root, and no directory writable by group or others
 * without the sticky bit: nobody but root can change what p names. */
static bool root_only_walk(const char *p) {
        char buf[4096];
        size_t n = strlen(p);

        if (p[0] != '/' || n >= sizeof(buf))
                return false;
        memcpy(buf, p, n + 1);
        for (size_t i = 1; i <= n; i++) {
                struct stat st;
                char saved = buf[i];

                if (buf[i] != '/' && buf[i] != 0)
                        continue;
                buf[i] = 0;
                if (lstat(buf, &st) < 0 || st.st_uid != 0 ||
                    (S_ISDIR(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
                        return false;
                buf[i] = saved;
        }
        return true;
}

/*
 * Root copies a file for the service user only when only root can change what its path leads to,
 * as written and as resolved: else the service user (who may write a directory on the way, a data
 * directory say) could swap in a link to any root-only file. Such a file is not staged; the service
 * reads it itself, or its loader says it cannot.
 */
static bool stageable(const char *path) {
        _cleanup_free_ char *real = realpath(path, NULL);

        return real && root_only_walk(path) && root_only_walk(real);
}

/* Write one secret below dfd without following anything the service user planted. */
static int stage_one(int dfd, uid_t uid, gid_t gid, const char *name, const char *secret) {
        _cleanup_close_ int fd = -1;
        size_t n = strlen(secret);

        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (fchown(fd, uid, gid) < 0)
                return -errno;
        if (write(fd, secret, n) != (ssize_t) n)
                return errno ? -errno : -EIO;
        return 0;
}

/* POSTGRESQL_TLS_KEY_FILE: PostgreSQL wants its key owned by itself (or root) and private, which a
 * key shared with other services rarely is; the copy always is. Refreshed at every start and reload,
 * so a renewed key is served after `systemctl reload`. A key others may read is not copied: the
 * loader refuses it by name. */
static int stage_tls_key(char *const *envp, int dfd, uid_t uid, gid_t gid) {
        static const char name[] = "POSTGRESQL_TLS_KEY_FILE";
        const char *enable = strv_env_get(envp, "POSTGRESQL_ENABLE_TLS");
        const char *path = strv_env_get(envp, name);
        _cleanup_erase_ char *key = NULL;
        struct stat st;
        int r;

        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Cannot remove the old copy of %s: %m", name);
        if (!enable || config_parse_bool(enable) != 1 || !path || !*path)
                return 0;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & S_IRWXO))
                return 0; /* the loader says what is wrong with it */
        if (!stageable(path)) {
                log_notice("%s='%s' is not root's alone (path or file): not staged; the server reads it itself",
                           name, path);
                return 0;
        }
        r = fs_read_file(path, &key);
        if (r < 0) {
                log_warning_errno(r, "%s='%s': cannot read the key: %m", name, path);
                return 0;
        }
        r = stage_one(dfd, uid, gid, name, key);
        if (r < 0)
                return log_error_errno(r, "Cannot stage %s: %m", name);
        return 0;
}

int secrets_stage(char *const *envp) {
        static const char *const prefixes[] = { "POSTGRESQL_", "POSTGRES_" };
        static const VarId ids[] = { VAR_PASSWORD, VAR_REPLICATION_PASSWORD, VAR_POSTGRES_PASSWORD,
                                     VAR_INITSCRIPTS_PASSWORD, VAR_LDAP_BIND_PASSWORD };
        const char *rt = getenv("RUNTIME_DIRECTORY");
        _cleanup_close_ int rfd = -1, dfd = -1;
        struct stat st;
        int r;

        if (geteuid() != 0)
                return log_error_errno(-EPERM, "--stage-secrets must run as root (ExecStartPre=+...)");
        if (!rt || !*rt)
                return log_error("--stage-secrets needs $RUNTIME_DIRECTORY (RuntimeDirectory=)"), -PGREPL_E_CONFIG;
        {
                _cleanup_free_ char *dir = strndup(rt, strcspn(rt, ":"));

                if (!dir)
                        return log_oom();
                rfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (rfd < 0 || fstat(rfd, &st) < 0)
                        return log_error_errno(-errno, "Cannot open '%s': %m", dir);
        }
        /* The copies belong to whoever owns the runtime directory: the service user. */
        if (mkdirat(rfd, "secrets", 0700) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Cannot create the secrets directory: %m");
        dfd = openat(rfd, "secrets", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 || fchown(dfd, st.st_uid, st.st_gid) < 0 || fchmod(dfd, 0700) < 0)
                return log_error_errno(-errno, "Cannot prepare the secrets directory: %m");

        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                for (size_t k = 0; k < ELEMENTSOF(prefixes); k++) {
                        _cleanup_erase_ char *secret = NULL;
                        const char *base = config_var_name(ids[i]) + strlen("POSTGRESQL_");
                        char name[96];
                        const char *path;

                        snprintf(name, sizeof(name), "%s%s_FILE", prefixes[k], base);
                        path = strv_env_get(envp, name);
                        if (!path || !*path)
                                continue;
                        if (!stageable(path)) {
                                log_notice("%s='%s' is not root's alone (path or file): not staged; the service "
                                           "reads it itself", name, string_shown(path));
                                continue;
                        }
                        r = fs_read_secret(path, &secret);
                        if (r < 0) {
                                /* The unit's own loader reports it with the variable's name. */
                                log_warning("%s='%s': cannot read the secret file: %s", name, string_shown(path),
                                            fs_strerror(r));
                                continue;
                        }
                        r = stage_one(dfd, st.st_uid, st.st_gid, name, secret);
                        if (r < 0)
                                return log_error_errno(r, "Cannot stage %s: %m", name);
                }
        return stage_tls_key(envp, dfd, st.st_uid, st.st_gid);
}
