/* SPDX-License-Identifier: MIT */
/*
 * Validation of the values themselves: every value that is set, whatever the
 * role, then what the role requires. Enumerations are normalized to their
 * canonical spelling so the renderers never see "ON" or "any", and the data
 * directory loses its trailing slashes. What a value points at on disk is
 * node_inspect_datadir()'s to judge (node.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "config-internal.h"
#include "log.h"
#include "util.h"

bool config_host_valid(const char *s) {
        if (strlen(s) > 255)
                return false;
        if (s[0] == '/')
                return !strpbrk(s, "\n\r");
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr(".-:_%", *p))
                        return false;
        return true;
}

static bool check_size(const char *s) {
        static const char *const units[] = { "", "kB", "MB", "GB", "TB", NULL };
        char *end;
        long long v;

        if (streq(s, "-1"))
                return true;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0 || !isdigit((unsigned char) s[0]))
                return false;
        for (size_t i = 0; units[i]; i++)
                if (streq(end, units[i]))
                        return true;
        return false;
}

static bool check_slot_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 63)
                return false;
        for (; *s; s++)
                if (!islower((unsigned char) *s) && !isdigit((unsigned char) *s) && *s != '_')
                        return false;
        return true;
}

static bool check_list(const char *s, bool names) {
        _cleanup_free_ char *copy = strdup(s);
        char *rest = copy, *t;
        size_t count = 0;

        if (!copy)
                return false;
        /* strsep, not strtok: an empty element ("a,,b") is an error, not skipped. */
        while ((t = strsep(&rest, ","))) {
                char *w = strstrip(t);

                if (!*w || strlen(w) > 63)
                        return false;
                for (char *p = w; *p; p++)
                        if (names ? ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
                                  : (!isalnum((unsigned char) *p) && !strchr("_-.$/", *p)))
                                return false;
                count++;
        }
        return count > 0;
}

/* Validate one value by its type; returns the message describing what is allowed on failure. */
static const char *check_value(Config *c, VarId id) {
        const VarInfo *v = &config_vars[id];
        const char *s = c->values[id];
        unsigned u;

        switch (v->type) {
        case T_STRING:
                return strpbrk(s, "\n\r") && !v->secret ? "must be a single line" : NULL;
        case T_NAME:
                if (!string_printable(s))
                        return "must be a name without control characters such as a line break";
                return strlen(s) > 63 ? "must be 1 to 63 bytes long (PostgreSQL's NAMEDATALEN)" : NULL;
        case T_HOST:
                return config_host_valid(s) ? NULL
                                     : "must be a host name, an IPv4/IPv6 address or a socket directory";
        case T_PORT:
                return parse_uint(s, 1, 65535, &u) < 0 ? "must be a port number from 1 to 65535" : NULL;
        case T_UINT:
                if (parse_uint(s, 0, v->max, &u) < 0) {
                        static char buf[64];

                        snprintf(buf, sizeof(buf), "must be a whole number from 0 to %u", v->max);
                        return buf;
                }
                return NULL;
        case T_BOOL:
                return config_parse_bool(s) < 0 ? "must be yes/no, true/false, on/off or 1/0" : NULL;
        case T_ENUM:
                for (size_t i = 0; v->choices[i]; i++)
                        if (strcasecmp(s, v->choices[i]) == 0) {
                                strcpy(c->values[id], v->choices[i]);
                                return NULL;
                        }
                if (id == VAR_REPLICATION_MODE)
                        return "must be one of master, slave (or primary, standby)";
                if (id == VAR_SYNCHRONOUS_COMMIT_MODE)
                        return "must be one of on, remote_apply, remote_write, local, off";
                if (id == VAR_PASSWORD_ENCRYPTION)
                        return "must be scram-sha-256 or md5";
                if (id == VAR_WAL_LEVEL)
                        return "must be replica or logical (minimal cannot replicate)";
                if (id == VAR_SYNCHRONOUS_REPLICAS_MODE)
                        return "must be empty, FIRST or ANY";
                return config_enum_allowed(id);
        case T_PATH:
                return s[0] == '/' && !strpbrk(s, "\n\r") ? NULL : "must be an absolute path";
        case T_SIZE:
                return check_size(s) ? NULL : "must be -1 or a size such as 512MB, 10GB (units kB, MB, GB, TB)";
        case T_SLOT:
                return config_parse_bool(s) >= 0 || check_slot_name(s)
                               ? NULL
                               : "must be on/off or a slot name (1-63 of a-z, 0-9, _)";
        case T_APPNAMES:
                return check_list(s, true) ? NULL
                                           : "must be application names (printable ASCII, 1-63 bytes each, comma separated)";
        case T_LIBS:
                return check_list(s, false) ? NULL : "must be a comma separated list of library names";
        case T_PARTNERS: {
                const char *why = NULL;
                unsigned port = 5432;

                /* The port default is the node's own port, validated (or defaulted) on its own. */
                (void) parse_uint(c->values[VAR_PORT_NUMBER] ? c->values[VAR_PORT_NUMBER] : "5432", 1, 65535, &port);
                partners_done(&c->partners);
                if (partners_parse(s, port, &c->partners, &why) == -ENOMEM)
                        return "could not be parsed: out of memory";
                return why;
        }
        }
        return NULL;
}

/* initdb options pgrepl passes itself, or that keep initdb from making a cluster (SPEC section 2:
 * superuser postgres, UTF8, checksums, peer; the data and WAL directories are variables). */
static const char *initdb_collision(char **words) {
        static const char *const longs[] = { "--pgdata", "--username", "--waldir", "--auth", "--auth-local",
                                             "--auth-host", "--pwfile", "--pwprompt", "--sync-only", "--show",
                                             "--version", "--help", NULL };

        for (size_t i = 0; words && words[i]; i++) {
                const char *w = words[i];

                if (w[0] != '-' || !w[1])
                        continue;
                if (w[1] == '-') {
                        size_t n = strcspn(w, "=");

                        for (size_t j = 0; longs[j]; j++)
                                if (strlen(longs[j]) == n && strncmp(w, longs[j], n) == 0)
                                        return w;
                } else if (strchr("DUXAWSV?", w[1]))
                        return w;
        }
        return NULL;
}

/* A postgres option that sets what pgrepl renders itself (config_owned_settings[]), or that makes
 * postgres do something else than run: the name of the parameter, or the option. */
static bool owned_setting(const char *name, size_t n) {
        for (size_t j = 0; config_owned_settings[j]; j++) {
                const char *o = config_owned_settings[j];
                bool same = strlen(o) == n;

                for (size_t k = 0; same && k < n; k++)
                        same = o[k] == (name[k] == '-' ? '_' : name[k]);
                if (same)
                        return true;
        }
        return false;
}

static const char *extra_flags_collision(char **words) {
        for (size_t i = 0; words && words[i]; i++) {
                const char *w = words[i], *name = NULL;

                if (streq(w, "-c"))
                        name = words[i + 1];
                else if (strncmp(w, "-c", 2) == 0)
                        name = w + 2;
                else if (strncmp(w, "--", 2) == 0)
                        name = w + 2;
                else if (w[0] == '-' && w[1] && strchr("pDkhiNFCsS", w[1]))
                        return w; /* port, data directory, sockets, listen, connections, fsync, -C, single user */
                if (name && owned_setting(name, strcspn(name, "=")))
                        return w;
        }
        return NULL;
}

/* superuser_reserved_connections as the settings group sets it, else PostgreSQL's default. */
static unsigned reserved_connections(const Config *c) {
        unsigned v = 3;

        for (size_t i = 0; i < c->n_settings; i++)
                if (streq(c->settings[i].key, "superuser_reserved_connections"))
                        (void) parse_uint(c->settings[i].value, 0, UINT_MAX, &v);
        return v;
}

/* One etcd endpoint as etcd writes them: http(s)://host:port, or a bare host:port (http). */
static bool check_etcd_endpoint(const char *s) {
        const char *hostport = s, *colon;
        unsigned port;

        if (strncmp(s, "http://", 7) == 0)
                hostport = s + 7;
        else if (strncmp(s, "https://", 8) == 0)
                hostport = s + 8;
        colon = strrchr(hostport, ':');
        if (!colon || colon == hostport || parse_uint(colon + 1, 1, 65535, &port) < 0)
                return false;
        for (const char *p = hostport; p < colon; p++)
                if (!isalnum((unsigned char) *p) && !strchr(".-_[]:", *p))
                        return false;
        return true;
}

static bool check_etcd_hosts(const char *s) {
        _cleanup_free_ char *copy = strdup(s);
        char *rest = copy, *t;

        if (!copy)
                return false;
        while ((t = strsep(&rest, ",")))
                if (!check_etcd_endpoint(strstrip(t)))
                        return false;
        return true;
}

/* Rules of one variable beyond its type; the value has passed check_value(). */
static const char *check_specific(Config *c, VarId id) {
        char *s = c->values[id];

        if (id == VAR_ETCD_HOSTS && !check_etcd_hosts(s))
                return "must be etcd client URLs separated by commas, http://HOST:PORT or https://HOST:PORT "
                       "(a bare HOST:PORT means http://)";
        if (id == VAR_CLUSTER_NAME) {
                if (!*s || strlen(s) > 63 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                      "0123456789_.-") != strlen(s))
                        return "must be 1 to 63 of A-Z, a-z, 0-9, '_', '.', '-' (it is part of the etcd keys)";
        }
        if (id == VAR_FAILOVER_TTL) {
                unsigned u = 0;

                (void) parse_uint(s, 0, UINT_MAX, &u);
                if (u < 2)
                        return "must be a whole number of seconds from 2 to 3600";
        }

        if (id == VAR_DATA_DIR) {
                size_t n = strlen(s);

                while (n > 1 && s[n - 1] == '/')
                        s[--n] = 0;
                return streq(s, "/") ? "not a data directory" : NULL;
        }
        if (id == VAR_INITDB_ARGS) {
                _cleanup_strv_free_ char **words = NULL;

                /* Out of memory is noticed again, and logged, where the words are used. */
                if (strv_split_words(s, &words) >= 0 && strv_length(words) > CONFIG_INITDB_ARGS_MAX)
                        return "at most " STRINGIFY(CONFIG_INITDB_ARGS_MAX) " arguments";
                if (initdb_collision(words))
                        return "must not set what pgrepl passes to initdb itself or stop initdb from making a "
                               "cluster (-D/--pgdata, -U/--username: the superuser is postgres, -X/--waldir: use "
                               "POSTGRESQL_INITDB_WAL_DIR, -A/--auth*, -W/--pwprompt, --pwfile, -S, --show, -V)";
        }
        if (id == VAR_EXTRA_FLAGS) {
                _cleanup_strv_free_ char **words = NULL;

                if (strv_split_words(s, &words) >= 0 && extra_flags_collision(words))
                        return "must not set what pgrepl renders from its variables (port, listen_addresses, "
                               "unix_socket_directories, data_directory, hba_file, config_file, max_connections, "
                               "fsync, primary_conninfo, ...: -p -D -k -h -i -N -F or -c NAME=...) nor change how "
                               "postgres runs (-C, -s, -S); use the POSTGRESQL_* variables";
        }
        if ((id == VAR_USERNAME || id == VAR_REPLICATION_USER) && strncmp(s, "pg_", 3) == 0)
                return "must not start with 'pg_': PostgreSQL reserves those role names";
        if (id == VAR_MAX_CONNECTIONS) {
                static char buf[160];
                unsigned v = 0, reserved = reserved_connections(c);

                (void) parse_uint(s, 0, UINT_MAX, &v);
                if (v <= reserved) {
                        snprintf(buf, sizeof(buf), "must be more than superuser_reserved_connections (%u): "
                                 "PostgreSQL does not start otherwise", reserved);
                        return buf;
                }
        }
        return NULL;
}

static int require(Config *c, VarId id, const char *why) {
        if (c->values[id])
                return 0;
        log_error("%s is not set: %s", config_var_name(id), why);
        return -PGREPL_E_CONFIG;
}

/* With partners every node may become the primary, and asks the others before it starts as one. */
static int check_partners(Config *c) {
        int bad = 0;

        if (c->role == ROLE_PRIMARY)
                bad += require(c, VAR_REPLICATION_USER, "with POSTGRESQL_PARTNER_NODES the primary asks its partners "
                               "over a replication connection, and every node streams from whichever is primary") < 0;
        if (c->values[VAR_REPLICATION_SLOT] && config_parse_bool(c->values[VAR_REPLICATION_SLOT]) < 0) {
                config_problem(c, VAR_REPLICATION_SLOT, "must be on or off with POSTGRESQL_PARTNER_NODES: slot names "
                               "are derived from the partner entries");
                bad++;
        }
        return bad;
}

static int check_standby(Config *c) {
        const char *pw = c->values[VAR_REPLICATION_PASSWORD];

        if (c->values[VAR_INITDB_WAL_DIR])
                log_warning("POSTGRESQL_INITDB_WAL_DIR (from %s) is ignored on a standby: the clone keeps pg_wal "
                            "inside the data directory", c->sources[VAR_INITDB_WAL_DIR]);
        if (pw && strpbrk(pw, "\n\r")) {
                config_problem(c, VAR_REPLICATION_PASSWORD, "must not contain a line break (a standby keeps it in "
                               "a passfile, one line)");
                return 1;
        }
        return 0;
}

static int check_role(Config *c) {
        bool standby_mode;
        int bad = 0;

        /* The agent's file may leave the mode out, as the image allows: a master host means a standby. */
        if (!c->values[VAR_REPLICATION_MODE] &&
            config_set_value(c, VAR_REPLICATION_MODE, c->values[VAR_MASTER_HOST] ? "slave" : "master",
                             "default (POSTGRESQL_MASTER_HOST is set or not)") < 0)
                return log_oom(), 1;
        standby_mode = streq(c->values[VAR_REPLICATION_MODE], "slave") ||
                       streq(c->values[VAR_REPLICATION_MODE], "standby");

        c->mode_primary = !standby_mode;
        if (c->role == ROLE_PRIMARY && standby_mode) {
                config_problem(c, VAR_REPLICATION_MODE, "contradicts the primary unit (use pgrepl-standby@ for a standby)");
                bad++;
        } else if (c->role != ROLE_PRIMARY && c->role != ROLE_AGENT && !standby_mode) {
                config_problem(c, VAR_REPLICATION_MODE, "contradicts the standby unit (use pgrepl-primary@ for a primary)");
                bad++;
        }

        if (c->values[VAR_REPLICATION_USER] && !config_role_is_helper(c->role))
                bad += require(c, VAR_REPLICATION_PASSWORD,
                               "required with POSTGRESQL_REPLICATION_USER (or POSTGRESQL_REPLICATION_PASSWORD_FILE)") < 0;

        if (!config_role_is_helper(c->role) && !c->values[VAR_PASSWORD] && c->allow_empty_password)
                log_warning("No password is set and ALLOW_EMPTY_PASSWORD=yes: pg_hba.conf lets anyone in "
                            "with 'trust'. For development only.");
        if (c->role == ROLE_PRIMARY && !c->values[VAR_PASSWORD] && !c->allow_empty_password) {
                log_error("POSTGRESQL_PASSWORD is not set: set it (or POSTGRESQL_PASSWORD_FILE), "
                          "or set ALLOW_EMPTY_PASSWORD=yes to allow password-less logins (development only)");
                bad++;
        }
        if (c->role == ROLE_STANDBY) {
                bad += require(c, VAR_REPLICATION_USER, "a standby needs the replication user") < 0;
                bad += check_standby(c);
        }
        if (streq(c->values[VAR_FAILOVER], "etcd")) {
                bad += require(c, VAR_ETCD_HOSTS, "POSTGRESQL_FAILOVER=etcd needs the etcd endpoints") < 0;
                bad += require(c, VAR_PARTNER_NODES, "POSTGRESQL_FAILOVER=etcd needs the partners: every node "
                               "may become the primary, and each is named in etcd by its partner entry") < 0;
        }
        if (config_has_partners(c))
                bad += check_partners(c);
        else if (c->role == ROLE_STANDBY)
                bad += require(c, VAR_MASTER_HOST, "a standby needs the primary's address") < 0;
        return bad;
}

static int set_default(Config *c, VarId id, const char *prefix, const char *arg, const char *suffix) {
        _cleanup_free_ char *v = NULL;

        if (c->values[id])
                return 0;
        if (asprintf(&v, "%s%s%s", prefix, arg, suffix) < 0 || config_set_value(c, id, v, "default") < 0)
                return -ENOMEM;
        return 0;
}

static void parse_fields(Config *c) {
        const char *slot = c->values[VAR_REPLICATION_SLOT];
        int b;

        (void) parse_uint(c->values[VAR_PORT_NUMBER], 1, 65535, &c->port);
        (void) parse_uint(c->values[VAR_MASTER_PORT_NUMBER], 1, 65535, &c->master_port);
        (void) parse_uint(c->values[VAR_NUM_SYNCHRONOUS_REPLICAS], 0, UINT_MAX, &c->num_sync);
        (void) parse_uint(c->values[VAR_INIT_MAX_TIMEOUT], 0, UINT_MAX, &c->init_max_timeout);
        (void) parse_uint(c->values[VAR_FENCE_TIMEOUT], 0, UINT_MAX, &c->fence_timeout);
        c->failover_etcd = streq(c->values[VAR_FAILOVER], "etcd");
        (void) parse_uint(c->values[VAR_FAILOVER_TTL], 0, UINT_MAX, &c->failover_ttl);
        {
                unsigned lag = 0;

                (void) parse_uint(c->values[VAR_MAXIMUM_LAG_ON_FAILOVER], 0, UINT_MAX, &lag);
                c->max_lag_failover = lag;
        }
        if (c->values[VAR_MAX_CONNECTIONS])
                (void) parse_uint(c->values[VAR_MAX_CONNECTIONS], 0, UINT_MAX, &c->max_connections);
        c->allow_remote = config_parse_bool(c->values[VAR_ALLOW_REMOTE_CONNECTIONS]) == 1;
        c->fsync = c->values[VAR_FSYNC] ? config_parse_bool(c->values[VAR_FSYNC]) : -1;

        b = config_parse_bool(slot);
        c->use_slot = b != 0;
        if (b < 0)
                c->slot_name = strdup(slot);
}

int config_check(Config *c) {
        int bad = 0, r;

        for (VarId id = 0; id < _VAR_MAX; id++) {
                const char *msg;

                if (!c->values[id])
                        continue;
                msg = check_value(c, id);
                if (!msg)
                        msg = check_specific(c, id);
                if (msg) {
                        config_problem(c, id, msg);
                        bad++;
                }
        }
        if (bad)
                return -PGREPL_E_CONFIG;

        c->allow_empty_password = config_parse_bool(c->values[VAR_ALLOW_EMPTY_PASSWORD]) == 1;
        bad += check_role(c);
        if (bad)
                return -PGREPL_E_CONFIG;
        r = config_check_tls(c);
        if (r < 0)
                return r;
        r = config_check_image(c);
        if (r < 0)
                return r;

        parse_fields(c);
        r = set_default(c, VAR_DATA_DIR, "/var/lib/pgrepl/", c->instance, "/data");
        if (r >= 0)
                r = set_default(c, VAR_PROMOTE_TRIGGER_FILE, "/tmp/postgresql.trigger.",
                                c->values[VAR_MASTER_PORT_NUMBER], "");
        if (r < 0 || (c->use_slot && config_parse_bool(c->values[VAR_REPLICATION_SLOT]) < 0 && !c->slot_name))
                return log_oom();
        return 0;
}
