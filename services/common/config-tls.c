/* SPDX-License-Identifier: MIT */
/*
 * POSTGRESQL_ENABLE_TLS and its files, checked as the image checks them
 * (the certificate and the key are required and must exist, so must a CA or
 * CRL file that is named), plus one rule the image leaves to the postmaster:
 * a key that others may read is refused here, in one line, before anything
 * starts. The key PostgreSQL and libpq read is the copy the unit's root step
 * staged (secrets.h) when there is one: it is 0600 and owned by the service
 * user, which both of them accept, whoever owns the original.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"
#include "errors.h"
#include "log.h"
#include "secrets.h"
#include "util.h"

static const VarId tls_files[] = { VAR_TLS_CERT_FILE, VAR_TLS_KEY_FILE, VAR_TLS_CA_FILE, VAR_TLS_CRL_FILE };

/* 0 when the file is there; 1 when it is there but this user may not look (the caller decides); else
 * -PGREPL_E_CONFIG, reported. */
static int check_file(const Config *c, VarId id, struct stat *ret) {
        if (stat(c->values[id], ret) < 0) {
                if (errno == EACCES)
                        return 1;
                config_report(c, id, "%s", errno == ENOENT ? "does not exist" : strerror(errno));
                return -PGREPL_E_CONFIG;
        }
        if (!S_ISREG(ret->st_mode)) {
                config_report(c, id, "is not a regular file");
                return -PGREPL_E_CONFIG;
        }
        return 0;
}

static int require_tls(const Config *c, VarId id, const char *what) {
        if (c->values[id])
                return 0;
        log_error("%s is not set: POSTGRESQL_ENABLE_TLS=yes needs %s", config_var_name(id), what);
        return 1;
}

static int check_key(Config *c) {
        _cleanup_free_ char *staged = secrets_staged_path("POSTGRESQL_TLS_KEY_FILE");
        struct stat st;
        int r;

        r = check_file(c, VAR_TLS_KEY_FILE, &st);
        if (r < 0)
                return r;
        if (r == 0 && (st.st_mode & S_IRWXO)) {
                config_report(c, VAR_TLS_KEY_FILE, "others may read it (mode %04o): a private key must be readable "
                              "by its owner or group only (chmod o-rwx)", (unsigned) (st.st_mode & 07777));
                return -PGREPL_E_CONFIG;
        }
        /* Not ours to refuse: pgreplctl or --check may run as another user than the unit's. */
        if (r == 1 && !staged)
                log_notice("%s='%s': cannot be checked as uid %u, and no copy was staged for it (the unit's root "
                           "step stages it)", config_var_name(VAR_TLS_KEY_FILE), c->values[VAR_TLS_KEY_FILE],
                           (unsigned) geteuid());
        c->tls_key = strdup(staged ? staged : c->values[VAR_TLS_KEY_FILE]);
        return c->tls_key ? 0 : log_oom();
}

int config_check_tls(Config *c) {
        int bad = 0, r;

        c->tls = config_parse_bool(c->values[VAR_ENABLE_TLS]) == 1;
        if (!c->tls) {
                for (size_t i = 0; i < ELEMENTSOF(tls_files); i++)
                        if (c->values[tls_files[i]])
                                log_warning("%s (from %s) is set but POSTGRESQL_ENABLE_TLS is not: TLS stays off",
                                            config_var_name(tls_files[i]), c->sources[tls_files[i]]);
                return 0;
        }
        /* The watcher only talks to its own server over the unix socket: it reads none of the files. */
        if (config_role_is_helper(c->role))
                return 0;
        bad += require_tls(c, VAR_TLS_CERT_FILE, "an X.509 certificate");
        bad += require_tls(c, VAR_TLS_KEY_FILE, "its private key");
        if (bad)
                return -PGREPL_E_CONFIG;
        for (size_t i = 0; i < ELEMENTSOF(tls_files); i++) {
                struct stat st;

                if (tls_files[i] == VAR_TLS_KEY_FILE || !c->values[tls_files[i]])
                        continue;
                r = check_file(c, tls_files[i], &st);
                if (r == 1)
                        log_warning("%s='%s': cannot be checked as uid %u; PostgreSQL, which reads it as the "
                                    "service user, will say whether it can", config_var_name(tls_files[i]),
                                    c->values[tls_files[i]], (unsigned) geteuid());
                bad += r < 0;
        }
        r = check_key(c);
        if (r == -ENOMEM)
                return r;
        bad += r < 0;
        return bad ? -PGREPL_E_CONFIG : 0;
}
