/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading and validation, table-driven: one row per variable
 * says its name, alias, type, default and whether it is a secret. Values
 * are kept as strings with their source; typed fields are filled at the end
 * once every value has been validated.
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "config-internal.h"
#include "pgrepl-build.h"
#include "log.h"
#include "util.h"

static const char *const modes[] = { "master", "slave", "primary", "standby", NULL };
static const char *const commit_modes[] = { "on", "remote_apply", "remote_write", "local", "off", NULL };
static const char *const encryptions[] = { "scram-sha-256", "md5", NULL };
static const char *const wal_levels[] = { "replica", "logical", NULL };
static const char *const sync_modes[] = { "FIRST", "ANY", NULL };
static const char *const client_levels[] = { "debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice",
                                             "warning", "error", NULL };
static const char *const toast_compressions[] = { "pglz", "lz4", NULL };
static const char *const isolations[] = { "serializable", "repeatable read", "read committed", "read uncommitted",
                                          NULL };
static const char *const shutdown_modes[] = { "fast", "smart", "immediate", NULL };
static const char *const ldap_schemes[] = { "ldap", "ldaps", NULL };
static const char *const failover_modes[] = { "manual", "etcd", NULL };

const VarInfo config_vars[_VAR_MAX] = {
        [VAR_REPLICATION_MODE] = { "REPLICATION_MODE", "POSTGRES_REPLICATION_MODE", T_ENUM, NULL, modes },
        [VAR_REPLICATION_USER] = { "REPLICATION_USER", "POSTGRES_REPLICATION_USER", T_NAME },
        [VAR_REPLICATION_PASSWORD] = { "REPLICATION_PASSWORD", "POSTGRES_REPLICATION_PASSWORD", T_STRING, .secret = true },
        [VAR_MASTER_HOST] = { "MASTER_HOST", "POSTGRES_MASTER_HOST", T_HOST },
        [VAR_MASTER_PORT_NUMBER] = { "MASTER_PORT_NUMBER", "POSTGRES_MASTER_PORT_NUMBER", T_PORT, "5432" },
        [VAR_USERNAME] = { "USERNAME", "POSTGRES_USER", T_NAME, "postgres" },
        [VAR_PASSWORD] = { "PASSWORD", "POSTGRES_PASSWORD", T_STRING, .secret = true },
        [VAR_DATABASE] = { "DATABASE", "POSTGRES_DB", T_NAME, "postgres" },
        [VAR_SYNCHRONOUS_COMMIT_MODE] = { "SYNCHRONOUS_COMMIT_MODE", "POSTGRES_SYNCHRONOUS_COMMIT_MODE", T_ENUM, "on", commit_modes },
        [VAR_NUM_SYNCHRONOUS_REPLICAS] = { "NUM_SYNCHRONOUS_REPLICAS", "POSTGRES_NUM_SYNCHRONOUS_REPLICAS", T_UINT, "0", .max = 64 },
        [VAR_CLUSTER_APP_NAME] = { "CLUSTER_APP_NAME", "POSTGRES_CLUSTER_APP_NAME", T_APPNAMES, "walreceiver" },
        [VAR_PORT_NUMBER] = { "PORT_NUMBER", "POSTGRES_PORT_NUMBER", T_PORT, "5432" },
        [VAR_DATA_DIR] = { "DATA_DIR", "POSTGRES_DATA_DIR", T_PATH },
        [VAR_POSTGRES_PASSWORD] = { "POSTGRES_PASSWORD", "POSTGRES_POSTGRES_PASSWORD", T_STRING, .secret = true },
        [VAR_ALLOW_EMPTY_PASSWORD] = { "ALLOW_EMPTY_PASSWORD", NULL, T_BOOL, "no" },
        [VAR_INITDB_ARGS] = { "INITDB_ARGS", "POSTGRES_INITDB_ARGS", T_STRING },
        [VAR_INITDB_WAL_DIR] = { "INITDB_WAL_DIR", "POSTGRES_INITDB_WALDIR", T_PATH },
        [VAR_PASSWORD_ENCRYPTION] = { "PASSWORD_ENCRYPTION", "POSTGRES_PASSWORD_ENCRYPTION", T_ENUM, "scram-sha-256", encryptions },
        [VAR_WAL_LEVEL] = { "WAL_LEVEL", "POSTGRES_WAL_LEVEL", T_ENUM, "replica", wal_levels },
        [VAR_SYNCHRONOUS_REPLICAS_MODE] = { "SYNCHRONOUS_REPLICAS_MODE", "POSTGRES_SYNCHRONOUS_REPLICAS_MODE", T_ENUM, NULL, sync_modes },
        [VAR_ALLOW_REMOTE_CONNECTIONS] = { "ALLOW_REMOTE_CONNECTIONS", "POSTGRES_ALLOW_REMOTE_CONNECTIONS", T_BOOL, "yes" },
        [VAR_MAX_CONNECTIONS] = { "MAX_CONNECTIONS", "POSTGRES_MAX_CONNECTIONS", T_UINT, .max = 262143 },
        [VAR_SHARED_PRELOAD_LIBRARIES] = { "SHARED_PRELOAD_LIBRARIES", "POSTGRES_SHARED_PRELOAD_LIBRARIES", T_LIBS },
        [VAR_FSYNC] = { "FSYNC", "POSTGRES_FSYNC", T_BOOL },
        [VAR_EXTRA_FLAGS] = { "EXTRA_FLAGS", "POSTGRES_EXTRA_FLAGS", T_STRING },
        [VAR_INIT_MAX_TIMEOUT] = { "INIT_MAX_TIMEOUT", "POSTGRES_INIT_MAX_TIMEOUT", T_UINT, "0", .max = 31536000 },
        [VAR_REPLICATION_USE_PASSFILE] = { "REPLICATION_USE_PASSFILE", "POSTGRES_REPLICATION_USE_PASSFILE", T_BOOL, "yes" },
        [VAR_REPLICATION_PASSFILE_PATH] = { "REPLICATION_PASSFILE_PATH", "POSTGRES_REPLICATION_PASSFILE_PATH", T_PATH },
        [VAR_PROMOTE_TRIGGER_FILE] = { "PROMOTE_TRIGGER_FILE", NULL, T_PATH },
        [VAR_BIN_DIR] = { "BIN_DIR", NULL, T_PATH },
        [VAR_REPLICATION_SLOT] = { "REPLICATION_SLOT", NULL, T_SLOT, "on" },
        [VAR_MAX_SLOT_WAL_KEEP_SIZE] = { "MAX_SLOT_WAL_KEEP_SIZE", NULL, T_SIZE, "4GB" },
        [VAR_SOCKET_DIR] = { "SOCKET_DIR", NULL, T_PATH, "/run/postgresql" },
        [VAR_PARTNER_NODES] = { "PARTNER_NODES", NULL, T_PARTNERS },
        [VAR_FENCE_TIMEOUT] = { "FENCE_TIMEOUT", NULL, T_UINT, "10", .max = 3600 },
        [VAR_ENABLE_TLS] = { "ENABLE_TLS", NULL, T_BOOL, "no" },
        [VAR_TLS_CERT_FILE] = { "TLS_CERT_FILE", NULL, T_PATH },
        [VAR_TLS_KEY_FILE] = { "TLS_KEY_FILE", NULL, T_PATH },
        [VAR_TLS_CA_FILE] = { "TLS_CA_FILE", NULL, T_PATH },
        [VAR_TLS_CRL_FILE] = { "TLS_CRL_FILE", NULL, T_PATH },
        [VAR_TLS_PREFER_SERVER_CIPHERS] = { "TLS_PREFER_SERVER_CIPHERS", NULL, T_BOOL, "yes" },
        [VAR_TIMEZONE] = { "TIMEZONE", NULL, T_STRING, .guc = "timezone" },
        [VAR_LOG_TIMEZONE] = { "LOG_TIMEZONE", NULL, T_STRING, .guc = "log_timezone" },
        [VAR_LOG_LINE_PREFIX] = { "LOG_LINE_PREFIX", NULL, T_STRING, .guc = "log_line_prefix" },
        [VAR_LOG_CONNECTIONS] = { "LOG_CONNECTIONS", NULL, T_BOOL, .guc = "log_connections" },
        [VAR_LOG_DISCONNECTIONS] = { "LOG_DISCONNECTIONS", NULL, T_BOOL, .guc = "log_disconnections" },
        [VAR_LOG_HOSTNAME] = { "LOG_HOSTNAME", NULL, T_BOOL, .guc = "log_hostname" },
        [VAR_CLIENT_MIN_MESSAGES] = { "CLIENT_MIN_MESSAGES", NULL, T_ENUM, NULL, client_levels,
                                      .guc = "client_min_messages" },
        [VAR_TCP_KEEPALIVES_IDLE] = { "TCP_KEEPALIVES_IDLE", NULL, T_UINT, .max = 2147483647,
                                      .guc = "tcp_keepalives_idle" },
        [VAR_TCP_KEEPALIVES_INTERVAL] = { "TCP_KEEPALIVES_INTERVAL", NULL, T_UINT, .max = 2147483647,
                                          .guc = "tcp_keepalives_interval" },
        [VAR_TCP_KEEPALIVES_COUNT] = { "TCP_KEEPALIVES_COUNT", NULL, T_UINT, .max = 2147483647,
                                       .guc = "tcp_keepalives_count" },
        [VAR_STATEMENT_TIMEOUT] = { "STATEMENT_TIMEOUT", NULL, T_STRING, .guc = "statement_timeout" },
        [VAR_DEFAULT_TOAST_COMPRESSION] = { "DEFAULT_TOAST_COMPRESSION", "POSTGRES_DEFAULT_COMPRESSION", T_ENUM, NULL,
                                            toast_compressions, .guc = "default_toast_compression" },
        [VAR_DEFAULT_TRANSACTION_ISOLATION] = { "DEFAULT_TRANSACTION_ISOLATION", NULL, T_ENUM, NULL, isolations,
                                                .guc = "default_transaction_isolation" },
        [VAR_PGAUDIT_LOG] = { "PGAUDIT_LOG", NULL, T_STRING, .guc = "pgaudit.log" },
        [VAR_PGAUDIT_LOG_CATALOG] = { "PGAUDIT_LOG_CATALOG", NULL, T_BOOL, .guc = "pgaudit.log_catalog" },
        [VAR_PGAUDIT_LOG_PARAMETER] = { "PGAUDIT_LOG_PARAMETER", NULL, T_BOOL, .guc = "pgaudit.log_parameter" },
        [VAR_SHUTDOWN_MODE] = { "SHUTDOWN_MODE", "POSTGRES_SHUTDOWN_MODE", T_ENUM, "fast", shutdown_modes },
        [VAR_PGHBA_REMOVE_FILTERS] = { "PGHBA_REMOVE_FILTERS", NULL, T_STRING },
        [VAR_INITSCRIPTS_DIR] = { "INITSCRIPTS_DIR", NULL, T_PATH },
        [VAR_INITSCRIPTS_USERNAME] = { "INITSCRIPTS_USERNAME", "POSTGRES_INITSCRIPTS_USERNAME", T_NAME },
        [VAR_INITSCRIPTS_PASSWORD] = { "INITSCRIPTS_PASSWORD", "POSTGRES_INITSCRIPTS_PASSWORD", T_STRING, .secret = true },
        [VAR_USERNAME_CONNECTION_LIMIT] = { "USERNAME_CONNECTION_LIMIT", NULL, T_UINT, .max = 262143 },
        [VAR_POSTGRES_CONNECTION_LIMIT] = { "POSTGRES_CONNECTION_LIMIT", NULL, T_UINT, .max = 262143 },
        [VAR_ENABLE_LDAP] = { "ENABLE_LDAP", NULL, T_BOOL, "no" },
        [VAR_LDAP_URL] = { "LDAP_URL", NULL, T_STRING },
        [VAR_LDAP_SERVER] = { "LDAP_SERVER", NULL, T_STRING },
        [VAR_LDAP_PORT] = { "LDAP_PORT", NULL, T_PORT },
        [VAR_LDAP_SCHEME] = { "LDAP_SCHEME", NULL, T_ENUM, NULL, ldap_schemes },
        [VAR_LDAP_TLS] = { "LDAP_TLS", NULL, T_BOOL },
        [VAR_LDAP_PREFIX] = { "LDAP_PREFIX", NULL, T_STRING },
        [VAR_LDAP_SUFFIX] = { "LDAP_SUFFIX", NULL, T_STRING },
        [VAR_LDAP_BASE_DN] = { "LDAP_BASE_DN", NULL, T_STRING },
        [VAR_LDAP_BIND_DN] = { "LDAP_BIND_DN", NULL, T_STRING },
        [VAR_LDAP_BIND_PASSWORD] = { "LDAP_BIND_PASSWORD", NULL, T_STRING, .secret = true },
        [VAR_LDAP_SEARCH_ATTR] = { "LDAP_SEARCH_ATTR", NULL, T_STRING },
        [VAR_LDAP_SEARCH_FILTER] = { "LDAP_SEARCH_FILTER", NULL, T_STRING },
        [VAR_FAILOVER] = { "FAILOVER", NULL, T_ENUM, "manual", failover_modes },
        [VAR_ETCD_HOSTS] = { "ETCD_HOSTS", NULL, T_STRING },
        [VAR_CLUSTER_NAME] = { "CLUSTER_NAME", NULL, T_STRING, "pgrepl" },
        [VAR_FAILOVER_TTL] = { "FAILOVER_TTL", NULL, T_UINT, "30", .max = 3600 },
        [VAR_MAXIMUM_LAG_ON_FAILOVER] = { "MAXIMUM_LAG_ON_FAILOVER", NULL, T_UINT, "1048576", .max = UINT_MAX },
        [VAR_ETCD_CA_FILE] = { "ETCD_CA_FILE", NULL, T_PATH },
        [VAR_ETCD_CERT_FILE] = { "ETCD_CERT_FILE", NULL, T_PATH },
        [VAR_ETCD_KEY_FILE] = { "ETCD_KEY_FILE", NULL, T_PATH },
};

/* postgresql.conf parameters pgrepl renders itself: the `settings` group
 * may not override them, or the suite would lose track of its own server. */
const char *const config_owned_settings[] = {
        "port", "listen_addresses", "unix_socket_directories", "wal_level",
        "hot_standby", "wal_log_hints", "password_encryption",
        "synchronous_commit", "synchronous_standby_names", "primary_conninfo",
        "primary_slot_name", "max_connections", "shared_preload_libraries",
        "fsync", "max_slot_wal_keep_size", "promote_trigger_file", "hba_file",
        "data_directory", "config_file", "include", "include_if_exists",
        "include_dir", NULL,
};

static char name_buf[_VAR_MAX][64];

const char *config_var_name(VarId id) {
        if (!name_buf[id][0]) {
                if (streq(config_vars[id].suffix, "ALLOW_EMPTY_PASSWORD"))
                        snprintf(name_buf[id], sizeof(name_buf[id]), "%s", config_vars[id].suffix);
                else
                        snprintf(name_buf[id], sizeof(name_buf[id]), "POSTGRESQL_%s", config_vars[id].suffix);
        }
        return name_buf[id];
}

static char alias_buf[_VAR_MAX][64];

const char *config_var_alias(VarId id) {
        if (config_vars[id].alias)
                return config_vars[id].alias;
        if (streq(config_vars[id].suffix, "ALLOW_EMPTY_PASSWORD"))
                return NULL;
        if (!alias_buf[id][0])
                snprintf(alias_buf[id], sizeof(alias_buf[id]), "POSTGRES_%s", config_vars[id].suffix);
        return alias_buf[id];
}

bool config_var_is_secret(VarId id) {
        return config_vars[id].secret;
}

const char *config_var_setting(VarId id) {
        return config_vars[id].guc;
}

bool config_var_is_bool(VarId id) {
        return config_vars[id].type == T_BOOL;
}

void config_var_key(VarId id, char *buf, size_t n) {
        size_t i;

        for (i = 0; config_vars[id].suffix[i] && i + 1 < n; i++)
                buf[i] = (char) tolower((unsigned char) config_vars[id].suffix[i]);
        buf[i] = 0;
}

size_t config_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        size_t row[128];

        if (lb >= ELEMENTSOF(row))
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];

                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        size_t best = diag + cost;

                        if (row[j] + 1 < best)
                                best = row[j] + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

int config_parse_bool(const char *s) {
        static const char *const yes[] = { "yes", "true", "on", "1", NULL };
        static const char *const no[] = { "no", "false", "off", "0", NULL };

        for (size_t i = 0; yes[i]; i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; no[i]; i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

bool config_instance_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > 64 || name[0] == '.')
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_.@-", *p))
                        return false;
        return true;
}

int config_set_value(Config *c, VarId id, const char *value, const char *source) {
        char *v = strdup(value), *s = strdup(source);

        if (!v || !s) {
                free(v);
                free(s);
                return -ENOMEM;
        }
        if (c->values[id] && config_vars[id].secret)
                explicit_bzero(c->values[id], strlen(c->values[id]));
        free(c->values[id]);
        free(c->sources[id]);
        c->values[id] = v;
        c->sources[id] = s;
        return 0;
}

void config_report(const Config *c, VarId id, const char *fmt, ...) {
        char what[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (config_vars[id].secret || !c->values[id])
                log_error("%s (from %s): %s", config_var_name(id), c->sources[id] ? c->sources[id] : "unset", what);
        else if (strpbrk(c->values[id], "\n\r"))
                /* systemd joins the lines after an unbalanced quote into the value: they may hold secrets. */
                log_error("%s (from %s): the value spans several lines (not shown; an unbalanced quote in the "
                          "env file?): %s", config_var_name(id), c->sources[id], what);
        else if (!string_printable(c->values[id]))
                log_error("%s (from %s): the value holds control characters (not shown): %s", config_var_name(id),
                          c->sources[id], what);
        else
                log_error("%s='%s' (from %s): %s", config_var_name(id), c->values[id], c->sources[id], what);
}

/* Problems are reported as they are found; the caller counts them. */
void config_problem(const Config *c, VarId id, const char *allowed) {
        config_report(c, id, "%s", allowed);
}


const char *config_closest(const char *name, bool as_key) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (VarId id = 0; id < _VAR_MAX; id++) {
                char key[64];
                const char *cand = config_var_name(id);
                size_t d;

                if (as_key) {
                        config_var_key(id, key, sizeof(key));
                        cand = key;
                }
                d = config_distance(name, cand);
                if (d < best_d) {
                        best_d = d;
                        best = config_var_name(id);
                }
        }
        /* Only a plausible typo is worth a hint. */
        if (best_d > 3 && best_d * 3 > strlen(name))
                return NULL;
        return best;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (VarId id = 0; id < _VAR_MAX; id++) {
                if (c->values[id] && config_vars[id].secret)
                        explicit_bzero(c->values[id], strlen(c->values[id]));
                free(c->values[id]);
                free(c->sources[id]);
        }
        for (size_t i = 0; i < c->n_settings; i++) {
                free(c->settings[i].key);
                free(c->settings[i].value);
        }
        free(c->settings);
        for (size_t i = 0; i < c->n_hba; i++)
                free(c->hba[i]);
        free(c->hba);
        free(c->slot_name);
        free(c->tls_key);
        partners_done(&c->partners);
        free(c->instance);
        free(c->config_file);
        free(c);
        return NULL;
}

int config_load(Role role, const char *instance, const char *config_path,
                char *const *envp, Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom();
        c->role = role;
        c->fsync = -1;
        c->partners.self = -1;
        c->instance = strdup(instance);
        if (!c->instance)
                return log_oom();

        for (VarId id = 0; id < _VAR_MAX; id++)
                if (config_vars[id].def) {
                        r = config_set_value(c, id, config_vars[id].def, "default");
                        if (r < 0)
                                return log_oom();
                }
        /* The agent serves either unit: without the variable its mode is pgreplctl's guess (check_role()). */
        r = role == ROLE_AGENT ? 0 : config_set_value(c, VAR_REPLICATION_MODE, role == ROLE_PRIMARY ? "master" : "slave",
                                                      "default for this unit");
        if (r < 0)
                return log_oom();

        r = config_load_file(c, config_path ? config_path : PGREPL_CONFIG_DEFAULT, config_path != NULL);
        if (r < 0)
                return r;
        r = config_load_env(c, envp);
        if (r < 0)
                return r;
        r = config_check(c);
        if (r < 0)
                return r;
        if (config_has_partners(c) && partners_find_self(&c->partners, c->port) < 0)
                log_notice("POSTGRESQL_PARTNER_NODES (from %s): no entry is this node (an address of this host "
                           "with port %u); every entry is taken for another node", c->sources[VAR_PARTNER_NODES],
                           c->port);

        *ret = TAKE_PTR(c);
        return 0;
}

void config_dump(const Config *c, FILE *f) {
        fprintf(f, "instance %s\n", c->instance);
        fprintf(f, "config file %s\n", c->config_file ? c->config_file : "(none)");
        for (VarId id = 0; id < _VAR_MAX; id++) {
                const char *v = c->values[id];

                if (v && config_vars[id].secret)
                        v = "(set)";
                fprintf(f, "%s=%s\t(%s)\n", config_var_name(id), v ? v : "",
                        c->sources[id] ? c->sources[id] : "unset");
        }
        for (size_t i = 0; i < c->partners.n; i++)
                fprintf(f, "partner %s\tslot %s%s\n", c->partners.items[i].display, c->partners.items[i].slot,
                        c->partners.items[i].self ? "\t(this node)" : "");
        for (size_t i = 0; i < c->n_settings; i++)
                fprintf(f, "settings.%s = %s\n", c->settings[i].key, c->settings[i].value);
        for (size_t i = 0; i < c->n_hba; i++)
                fprintf(f, "hba: %s\n", c->hba[i]);
}

static char *dir_from_env(const char *env, const char *base, const char *instance) {
        const char *e = getenv(env);

        /* systemd may pass several directories separated by ':'; ours is first. */
        if (e && *e) {
                size_t n = strcspn(e, ":");

                return strndup(e, n);
        }
        return path_join(base, instance);
}

char *config_state_dir(const Config *c) {
        return dir_from_env("STATE_DIRECTORY", "/var/lib/pgrepl", c->instance);
}

char *config_runtime_dir(const Config *c) {
        return dir_from_env("RUNTIME_DIRECTORY", "/run/pgrepl", c->instance);
}
