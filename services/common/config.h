/* SPDX-License-Identifier: MIT */
/*
 * The one configuration loader every binary uses (SPEC section 2):
 * built-in defaults < libconfig file (/etc/pgrepl/pgrepl.conf) < the
 * process environment (systemd's EnvironmentFile=). Every value that is set
 * is validated before anything is touched; each problem is one line naming
 * the variable, the value (never a secret), what is allowed and where the
 * value came from. config_load() returns -PGREPL_E_CONFIG for a configuration
 * error (the caller exits 78) after logging every problem. This module logs:
 * it decides what is wrong with a configuration.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "partners.h"

typedef enum Role {
        ROLE_PRIMARY,
        ROLE_STANDBY,
        ROLE_WATCHER,
        ROLE_AGENT,   /* pgrepl-failover-agent: either mode, no password, no data directory of its own to inspect */
} Role;

/* The watcher and the failover agent: they talk to their own server over its unix socket, read no password
 * or TLS file, and have no data directory of their own to inspect. */
static inline bool config_role_is_helper(Role r) {
        return r == ROLE_WATCHER || r == ROLE_AGENT;
}

typedef enum VarId {
        VAR_REPLICATION_MODE,
        VAR_REPLICATION_USER,
        VAR_REPLICATION_PASSWORD,
        VAR_MASTER_HOST,
        VAR_MASTER_PORT_NUMBER,
        VAR_USERNAME,
        VAR_PASSWORD,
        VAR_DATABASE,
        VAR_SYNCHRONOUS_COMMIT_MODE,
        VAR_NUM_SYNCHRONOUS_REPLICAS,
        VAR_CLUSTER_APP_NAME,
        VAR_PORT_NUMBER,
        VAR_DATA_DIR,
        VAR_POSTGRES_PASSWORD,
        VAR_ALLOW_EMPTY_PASSWORD,
        VAR_INITDB_ARGS,
        VAR_INITDB_WAL_DIR,
        VAR_PASSWORD_ENCRYPTION,
        VAR_WAL_LEVEL,
        VAR_SYNCHRONOUS_REPLICAS_MODE,
        VAR_ALLOW_REMOTE_CONNECTIONS,
        VAR_MAX_CONNECTIONS,
        VAR_SHARED_PRELOAD_LIBRARIES,
        VAR_FSYNC,
        VAR_EXTRA_FLAGS,
        VAR_INIT_MAX_TIMEOUT,
        VAR_REPLICATION_USE_PASSFILE,
        VAR_REPLICATION_PASSFILE_PATH,
        VAR_PROMOTE_TRIGGER_FILE,
        VAR_BIN_DIR,
        VAR_REPLICATION_SLOT,
        VAR_MAX_SLOT_WAL_KEEP_SIZE,
        VAR_SOCKET_DIR,
        VAR_PARTNER_NODES,
        VAR_FENCE_TIMEOUT,
        VAR_ENABLE_TLS,
        VAR_TLS_CERT_FILE,
        VAR_TLS_KEY_FILE,
        VAR_TLS_CA_FILE,
        VAR_TLS_CRL_FILE,
        VAR_TLS_PREFER_SERVER_CIPHERS,
        VAR_TIMEZONE,
        VAR_LOG_TIMEZONE,
        VAR_LOG_LINE_PREFIX,
        VAR_LOG_CONNECTIONS,
        VAR_LOG_DISCONNECTIONS,
        VAR_LOG_HOSTNAME,
        VAR_CLIENT_MIN_MESSAGES,
        VAR_TCP_KEEPALIVES_IDLE,
        VAR_TCP_KEEPALIVES_INTERVAL,
        VAR_TCP_KEEPALIVES_COUNT,
        VAR_STATEMENT_TIMEOUT,
        VAR_DEFAULT_TOAST_COMPRESSION,
        VAR_DEFAULT_TRANSACTION_ISOLATION,
        VAR_PGAUDIT_LOG,
        VAR_PGAUDIT_LOG_CATALOG,
        VAR_PGAUDIT_LOG_PARAMETER,
        VAR_SHUTDOWN_MODE,
        VAR_PGHBA_REMOVE_FILTERS,
        VAR_INITSCRIPTS_DIR,
        VAR_INITSCRIPTS_USERNAME,
        VAR_INITSCRIPTS_PASSWORD,
        VAR_USERNAME_CONNECTION_LIMIT,
        VAR_POSTGRES_CONNECTION_LIMIT,
        VAR_ENABLE_LDAP,
        VAR_LDAP_URL,
        VAR_LDAP_SERVER,
        VAR_LDAP_PORT,
        VAR_LDAP_SCHEME,
        VAR_LDAP_TLS,
        VAR_LDAP_PREFIX,
        VAR_LDAP_SUFFIX,
        VAR_LDAP_BASE_DN,
        VAR_LDAP_BIND_DN,
        VAR_LDAP_BIND_PASSWORD,
        VAR_LDAP_SEARCH_ATTR,
        VAR_LDAP_SEARCH_FILTER,
        VAR_FAILOVER,
        VAR_ETCD_HOSTS,
        VAR_CLUSTER_NAME,
        VAR_FAILOVER_TTL,
        VAR_MAXIMUM_LAG_ON_FAILOVER,
        VAR_ETCD_CA_FILE,
        VAR_ETCD_CERT_FILE,
        VAR_ETCD_KEY_FILE,
        _VAR_MAX,
} VarId;

/* POSTGRESQL_INITDB_ARGS: at most this many words. */
#define CONFIG_INITDB_ARGS_MAX 40

typedef struct Setting {
        char *key;
        char *value; /* as written in postgresql.conf: already a valid literal */
} Setting;

typedef struct Config {
        Role role;
        char *instance;
        char *config_file; /* NULL when the default file is absent */

        char *values[_VAR_MAX];  /* effective value, NULL when unset */
        char *sources[_VAR_MAX]; /* "default", "environment", "/etc/...:12" */

        /* Parsed forms, valid after a successful config_load(). */
        bool mode_primary;
        unsigned port;
        unsigned master_port;
        unsigned num_sync;
        unsigned max_connections;   /* 0: not set */
        unsigned init_max_timeout;  /* seconds, 0: no limit */
        bool allow_empty_password;
        bool allow_remote;
        int fsync;                  /* -1: not set */
        bool use_slot;
        char *slot_name;            /* NULL: derive from host and instance */
        Partners partners;          /* POSTGRESQL_PARTNER_NODES; n == 0 when unset (SPEC section 8 off) */
        unsigned fence_timeout;     /* seconds to wait for partners before starting a primary */
        bool failover_etcd;         /* POSTGRESQL_FAILOVER=etcd (SPEC section 11) */
        unsigned failover_ttl;      /* seconds: the leader lease */
        uint64_t max_lag_failover;  /* bytes behind the last primary a standby may be to take over */
        bool tls;                   /* POSTGRESQL_ENABLE_TLS */
        char *tls_key;              /* the key PostgreSQL and libpq read: the staged copy when there is one */

        Setting *settings;
        size_t n_settings;
        char **hba;
        size_t n_hba;
} Config;

/* Name of a variable, "POSTGRESQL_PORT_NUMBER" (or "ALLOW_EMPTY_PASSWORD"). */
const char *config_var_name(VarId id);
/* The image's other spelling of a variable: its own alias (POSTGRES_USER), else POSTGRES_<NAME> as the
 * image's postgresql-env.sh has for every POSTGRESQL_<NAME>; NULL for ALLOW_EMPTY_PASSWORD. */
const char *config_var_alias(VarId id);
bool config_var_is_secret(VarId id);
/* The postgresql.conf parameter a plain setting of the image renders ("timezone"), else NULL; whether
 * its value is a boolean (rendered as on/off). */
const char *config_var_setting(VarId id);
bool config_var_is_bool(VarId id);

/*
 * Load and validate. config_path NULL means the default file, whose absence
 * is not an error. envp is the environment to read (normally environ).
 * Returns 0, -PGREPL_E_CONFIG on a configuration error (every problem
 * logged, exit 78), or another negative errno (logged).
 */
int config_load(Role role, const char *instance, const char *config_path,
                char *const *envp, Config **ret);
Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}

static inline const char *config_get(const Config *c, VarId id) {
        return c->values[id];
}

/*
 * Report a problem with variable id as one error line: its name, its value (never a secret) and
 * where it came from, then what fmt says. The caller returns -PGREPL_E_CONFIG.
 */
void config_report(const Config *c, VarId id, const char *fmt, ...) _printf_(3, 4);

/* Print every effective value and its source; secrets as "(set)". */
void config_dump(const Config *c, FILE *f);

/* The instance's state directory ($STATE_DIRECTORY, else /var/lib/pgrepl/NAME). */
char *config_state_dir(const Config *c);
/* The runtime directory ($RUNTIME_DIRECTORY, else /run/pgrepl/NAME). */
char *config_runtime_dir(const Config *c);

/* Whether a partner list is set: everything of SPEC section 8 is opt-in through it. */
static inline bool config_has_partners(const Config *c) {
        return c->partners.n > 0;
}

/* A host name, an IPv4/IPv6 address (no brackets) or a socket directory. */
bool config_host_valid(const char *s);

/* Validate an instance name (used for paths): [A-Za-z0-9_.@-], 1-64. */
bool config_instance_valid(const char *name);

/* Parse a boolean the way every variable does. Returns 0/1 or -EINVAL. */
int config_parse_bool(const char *s);

/* Edit distance, for "did you mean" hints. */
size_t config_distance(const char *a, const char *b);
