/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "pgrepl-build.h"
#include "render.h"
#include "util.h"

/* Wrap s in quote characters, putting esc_with before every char in specials. */
static char *quote(const char *s, char open, const char *specials, char esc_with) {
        Buf b = {};

        buf_printf(&b, "%c", open);
        for (const char *p = s; *p; p++) {
                if (strchr(specials, *p))
                        buf_printf(&b, "%c", esc_with == 0 ? *p : esc_with);
                buf_printf(&b, "%c", *p);
        }
        buf_printf(&b, "%c", open);
        return buf_steal(&b);
}

char *render_conf_string(const char *s) {
        Buf b = {};

        /* GUC strings: a quote is doubled, a backslash starts an escape. A line break cannot
         * stand in one (the file's lexer ends the token there and the rest becomes a line of its
         * own): it is written as the \n or \r escape PostgreSQL reads back (GUC_scanstr). */
        buf_puts(&b, "'");
        for (const char *p = s; *p; p++) {
                if (*p == '\'')
                        buf_puts(&b, "''");
                else if (*p == '\\')
                        buf_puts(&b, "\\\\");
                else if (*p == '\n')
                        buf_puts(&b, "\\n");
                else if (*p == '\r')
                        buf_puts(&b, "\\r");
                else
                        buf_printf(&b, "%c", *p);
        }
        buf_puts(&b, "'");
        return buf_steal(&b);
}

char *render_conninfo_value(const char *s) {
        return quote(s, '\'', "'\\", '\\');
}

char *render_hba_name(const char *s) {
        /* pg_hba.conf: a double quote inside a quoted name is written twice. */
        return quote(s, '"', "\"", 0);
}

char *render_pgpass_field(const char *s) {
        Buf b = {};

        for (const char *p = s; *p; p++) {
                if (*p == ':' || *p == '\\')
                        buf_puts(&b, "\\");
                buf_printf(&b, "%c", *p);
        }
        return buf_steal(&b);
}

char *render_conninfo(const char *const *keys, const char *const *values) {
        Buf b = {};

        for (size_t i = 0; keys[i]; i++) {
                _cleanup_free_ char *q = NULL;

                if (!values[i])
                        continue;
                q = render_conninfo_value(values[i]);
                if (!q) {
                        buf_free(&b);
                        return NULL;
                }
                buf_printf(&b, "%s%s=%s", b.len ? " " : "", keys[i], q);
        }
        return buf_steal(&b);
}

char *render_pgpass_line(const char *host, const char *port, const char *db,
                         const char *user, const char *password) {
        const char *in[] = { host, port, db, user, password };
        Buf b = {};

        for (size_t i = 0; i < ELEMENTSOF(in); i++) {
                _cleanup_free_ char *f = NULL;

                f = streq(in[i], "*") ? strdup("*") : render_pgpass_field(in[i]);
                if (!f) {
                        buf_free(&b);
                        return NULL;
                }
                buf_printf(&b, "%s%s", f, i + 1 < ELEMENTSOF(in) ? ":" : "\n");
                explicit_bzero(f, strlen(f));
        }
        return buf_steal(&b);
}

char *render_sync_names(const Config *c) {
        _cleanup_free_ char *names = NULL;
        const char *mode = config_get(c, VAR_SYNCHRONOUS_REPLICAS_MODE);
        char *save = NULL;
        Buf b = {};

        if (c->num_sync == 0)
                return strdup("");
        names = strdup(config_get(c, VAR_CLUSTER_APP_NAME));
        if (!names)
                return NULL;
        buf_printf(&b, "%s%s%u (", mode ? mode : "", mode ? " " : "", c->num_sync);
        for (char *t = strtok_r(names, ",", &save), *sep = ""; t; t = strtok_r(NULL, ",", &save), sep = ",") {
                _cleanup_free_ char *q = quote(strstrip(t), '"', "\"", 0);

                if (!q) {
                        buf_free(&b);
                        return NULL;
                }
                buf_printf(&b, "%s%s", sep, q);
        }
        buf_puts(&b, ")");
        return buf_steal(&b);
}

/* The libconfig file the settings came from, else the one that would be read (--config or the default). */
static const char *config_file(const Config *c) {
        return c->config_file ? c->config_file : PGREPL_CONFIG_DEFAULT;
}

static void put_string(Buf *b, const char *key, const char *value) {
        _cleanup_free_ char *q = render_conf_string(value);

        if (!q)
                b->oom = true;
        else
                buf_printf(b, "%s = %s\n", key, q);
}

char *render_settings(const Config *c, const StandbySettings *standby) {
        _cleanup_free_ char *sync = render_sync_names(c);
        Buf b = {};

        if (!sync)
                return NULL;
        buf_printf(&b, "# Written by pgrepl for instance '%s' at every start and reload.\n"
                       "# Do not edit: your own settings belong in postgresql.conf, ALTER SYSTEM,\n"
                       "# or the 'settings' group of %s.\n",
                   c->instance, config_file(c));
        put_string(&b, "listen_addresses", c->allow_remote ? "*" : "localhost");
        buf_printf(&b, "port = %u\n", c->port);
        put_string(&b, "unix_socket_directories", config_get(c, VAR_SOCKET_DIR));
        put_string(&b, "wal_level", config_get(c, VAR_WAL_LEVEL));
        buf_puts(&b, "max_wal_senders = 16\nmax_replication_slots = 16\nwal_keep_size = '128MB'\n");
        put_string(&b, "max_slot_wal_keep_size", config_get(c, VAR_MAX_SLOT_WAL_KEEP_SIZE));
        buf_puts(&b, "hot_standby = on\nwal_log_hints = on\n");
        put_string(&b, "password_encryption", config_get(c, VAR_PASSWORD_ENCRYPTION));
        put_string(&b, "synchronous_commit", config_get(c, VAR_SYNCHRONOUS_COMMIT_MODE));
        if (*sync)
                put_string(&b, "synchronous_standby_names", sync);
        if (c->max_connections > 0)
                buf_printf(&b, "max_connections = %u\n", c->max_connections);
        if (config_get(c, VAR_SHARED_PRELOAD_LIBRARIES))
                put_string(&b, "shared_preload_libraries", config_get(c, VAR_SHARED_PRELOAD_LIBRARIES));
        if (c->fsync >= 0)
                buf_printf(&b, "fsync = %s\n", c->fsync ? "on" : "off");
        if (c->tls) {
                /* As the image: the server's files; PostgreSQL rereads them at every reload. */
                buf_puts(&b, "ssl = on\n");
                put_string(&b, "ssl_cert_file", config_get(c, VAR_TLS_CERT_FILE));
                put_string(&b, "ssl_key_file", c->tls_key);
                if (config_get(c, VAR_TLS_CA_FILE))
                        put_string(&b, "ssl_ca_file", config_get(c, VAR_TLS_CA_FILE));
                if (config_get(c, VAR_TLS_CRL_FILE))
                        put_string(&b, "ssl_crl_file", config_get(c, VAR_TLS_CRL_FILE));
                buf_printf(&b, "ssl_prefer_server_ciphers = %s\n",
                           config_parse_bool(config_get(c, VAR_TLS_PREFER_SERVER_CIPHERS)) == 1 ? "on" : "off");
        }
        if (standby && standby->primary_conninfo)
                put_string(&b, "primary_conninfo", standby->primary_conninfo);
        if (standby && standby->primary_slot_name)
                put_string(&b, "primary_slot_name", standby->primary_slot_name);
        /* With partners a standby's WAL receiver looks for the new primary after a promotion anywhere:
         * every 200 ms instead of 5 s (each attempt that finds none is one line in the log). */
        if (config_has_partners(c))
                buf_puts(&b, "wal_retrieve_retry_interval = '200ms'\n");
        /* The image's plain settings (POSTGRESQL_TIMEZONE, ...), before the 'settings' group, which wins. */
        for (VarId id = 0; id < _VAR_MAX; id++) {
                const char *v = config_get(c, id);

                if (!config_var_setting(id) || !v)
                        continue;
                if (config_var_is_bool(id))
                        v = config_parse_bool(v) == 1 ? "on" : "off";
                put_string(&b, config_var_setting(id), v);
        }
        if (c->n_settings > 0)
                buf_printf(&b, "# from the 'settings' group of %s\n", config_file(c));
        for (size_t i = 0; i < c->n_settings; i++)
                buf_printf(&b, "%s = %s\n", c->settings[i].key, c->settings[i].value);
        if (standby && standby->n_floors > 0)
                buf_puts(&b, "# at least the primary's values, or a hot standby refuses to start\n");
        for (size_t i = 0; standby && i < standby->n_floors; i++)
                buf_printf(&b, "%s = %s\n", standby->floors[i].key, standby->floors[i].value);
        return buf_steal(&b);
}

bool render_hba_is_trust(const Config *c) {
        return !config_get(c, VAR_PASSWORD) && c->allow_empty_password;
}

/* One generated rule, unless POSTGRESQL_PGHBA_REMOVE_FILTERS names a word of it (the image's rule:
 * any line containing any of the comma-separated strings goes). */
static void hba_put(Buf *b, const Config *c, const char *kind, const char *db, const char *user, const char *addr,
                    const char *method) {
        const char *filters = config_get(c, VAR_PGHBA_REMOVE_FILTERS);
        _cleanup_free_ char *copy = filters ? strdup(filters) : NULL;
        char line[4096], *rest = copy, *w;

        if (filters && !copy) {
                b->oom = true;
                return;
        }
        snprintf(line, sizeof(line), "%-7s %-12s %-20s %-16s %s", kind, db, user, addr, method);
        while ((w = strsep(&rest, ",")))
                if (*strstrip(w) && strstr(line, strstrip(w)))
                        return;
        buf_printf(b, "%s\n", line);
}

/* kind: "host" or, for replication over TLS, "hostssl": a plain-text walsender connection is refused. */
static void hba_lines(Buf *b, const Config *c, const char *kind, const char *db, const char *user, const char *method,
                      bool remote) {
        hba_put(b, c, "local", db, user, "", method);
        hba_put(b, c, kind, db, user, "127.0.0.1/32", method);
        hba_put(b, c, kind, db, user, "::1/128", method);
        if (remote) {
                hba_put(b, c, kind, db, user, "0.0.0.0/0", method);
                hba_put(b, c, kind, db, user, "::/0", method);
        }
}

/* "ldap ldapserver=... ..." as the image writes it (values double quoted where the image quotes them). */
static char *ldap_method(const Config *c) {
        static const struct {
                VarId id;
                const char *key;
                bool quote;
        } opts[] = {
                { VAR_LDAP_SERVER, "ldapserver" },         { VAR_LDAP_PREFIX, "ldapprefix", true },
                { VAR_LDAP_SUFFIX, "ldapsuffix", true },   { VAR_LDAP_PORT, "ldapport" },
                { VAR_LDAP_BASE_DN, "ldapbasedn", true },  { VAR_LDAP_BIND_DN, "ldapbinddn", true },
                { VAR_LDAP_BIND_PASSWORD, "ldapbindpasswd", true },
                { VAR_LDAP_SEARCH_ATTR, "ldapsearchattribute" },
                { VAR_LDAP_SEARCH_FILTER, "ldapsearchfilter", true },
                { VAR_LDAP_TLS, "ldaptls" },               { VAR_LDAP_SCHEME, "ldapscheme" },
        };
        Buf b = {};

        buf_puts(&b, "ldap");
        if (config_get(c, VAR_LDAP_URL)) {
                buf_printf(&b, " ldapurl=\"%s\"", config_get(c, VAR_LDAP_URL));
                return buf_steal(&b);
        }
        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                const char *v = config_get(c, opts[i].id);

                if (!v)
                        continue;
                if (opts[i].id == VAR_LDAP_TLS)
                        v = config_parse_bool(v) == 1 ? "1" : "0";
                buf_printf(&b, opts[i].quote ? " %s=\"%s\"" : " %s=%s", opts[i].key, v);
        }
        return buf_steal(&b);
}

/* With POSTGRESQL_ENABLE_LDAP, as the image: every TCP login but postgres's is checked against LDAP
 * (postgres keeps its password); the socket keeps password authentication. */
static void hba_ldap_lines(Buf *b, const Config *c, const char *method) {
        static const char *const addrs[] = { "127.0.0.1/32", "::1/128", "0.0.0.0/0", "::/0" };
        _cleanup_free_ char *ldap = ldap_method(c);

        if (!ldap) {
                b->oom = true;
                return;
        }
        hba_put(b, c, "local", "all", "all", "", method);
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++)
                if (i < 2 || c->allow_remote)
                        hba_put(b, c, "host", "all", "postgres", addrs[i], method);
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++)
                if (i < 2 || c->allow_remote)
                        hba_put(b, c, "host", "all", "all", addrs[i], ldap);
}

char *render_hba(const Config *c) {
        const char *pw_method = config_get(c, VAR_PASSWORD_ENCRYPTION);
        Buf b = {};

        buf_printf(&b, "# Written by pgrepl for instance '%s' at every start and reload.\n"
                       "# Do not edit: add rules to the 'hba' list of %s.\n",
                   c->instance, config_file(c));
        buf_puts(&b, "local   all          postgres                                peer\n");
        for (size_t i = 0; i < c->n_hba; i++)
                buf_printf(&b, "%s\n", c->hba[i]);
        if (config_parse_bool(config_get(c, VAR_ENABLE_LDAP)) == 1)
                hba_ldap_lines(&b, c, render_hba_is_trust(c) ? "trust" : pw_method);
        else
                hba_lines(&b, c, "host", "all", "all", render_hba_is_trust(c) ? "trust" : pw_method, c->allow_remote);
        if (config_get(c, VAR_REPLICATION_USER)) {
                _cleanup_free_ char *u = render_hba_name(config_get(c, VAR_REPLICATION_USER));

                if (!u)
                        b.oom = true;
                else
                        hba_lines(&b, c, c->tls ? "hostssl" : "host", "replication", u, pw_method, c->allow_remote);
        }
        return buf_steal(&b);
}
