/* SPDX-License-Identifier: MIT */
/*
 * The suite-wide libconfig file: one key per variable (lower case, prefix
 * dropped), *_file keys for secrets, a `settings` group of extra
 * postgresql.conf parameters and an `hba` list of extra pg_hba rules.
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "errors.h"
#include "config-internal.h"
#include "fs.h"
#include "log.h"
#include "render.h"
#include "util.h"

static int find_key(const char *name, bool *ret_is_file) {
        for (VarId id = 0; id < _VAR_MAX; id++) {
                char key[64];
                size_t n;

                config_var_key(id, key, sizeof(key));
                if (streq(name, key)) {
                        *ret_is_file = false;
                        return (int) id;
                }
                n = strlen(key);
                if (config_vars[id].secret && strncmp(name, key, n) == 0 && streq(name + n, "_file")) {
                        *ret_is_file = true;
                        return (int) id;
                }
        }
        return -1;
}

static bool setting_name_valid(const char *k) {
        if (!k || !(islower((unsigned char) k[0]) || k[0] == '_'))
                return false;
        for (const char *p = k; *p; p++)
                if (!islower((unsigned char) *p) && !isdigit((unsigned char) *p) && !strchr("_.", *p))
                        return false;
        return strlen(k) < 64;
}

/* Render a libconfig scalar as a postgresql.conf literal. */
static char *setting_literal(const config_setting_t *s) {
        char *v = NULL;

        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                if (asprintf(&v, "%lld", (long long) config_setting_get_int64(s)) < 0)
                        return NULL;
                return v;
        case CONFIG_TYPE_FLOAT:
                if (asprintf(&v, "%g", config_setting_get_float(s)) < 0)
                        return NULL;
                return v;
        case CONFIG_TYPE_BOOL:
                return strdup(config_setting_get_bool(s) ? "on" : "off");
        case CONFIG_TYPE_STRING:
                return render_conf_string(config_setting_get_string(s));
        default:
                return NULL;
        }
}

static int load_settings(Config *c, const config_setting_t *group, const char *path) {
        int n = config_setting_length(group), bad = 0;

        if (!config_setting_is_group(group)) {
                log_error("%s:%d: 'settings' must be a group: settings = { name = value; };",
                          path, config_setting_source_line(group));
                return -PGREPL_E_CONFIG;
        }
        c->settings = calloc((size_t) n + 1, sizeof(Setting));
        if (!c->settings)
                return log_oom();
        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
                const char *k = config_setting_name(s);
                char *v;
                bool owned = false;

                for (size_t j = 0; config_owned_settings[j]; j++)
                        if (k && streq(k, config_owned_settings[j]))
                                owned = true;
                if (!setting_name_valid(k) || owned) {
                        log_error("%s:%d: settings.%s: %s", path, config_setting_source_line(s), k ? k : "?",
                                  owned ? "is set by pgrepl from its POSTGRESQL_* variables; use those"
                                        : "not a valid parameter name (lower case letters, digits, '_', '.')");
                        bad++;
                        continue;
                }
                if (config_setting_type(s) == CONFIG_TYPE_STRING &&
                    !string_printable(config_setting_get_string(s))) {
                        log_error("%s:%d: settings.%s: must be one line without control characters (not shown)",
                                  path, config_setting_source_line(s), k);
                        bad++;
                        continue;
                }
                v = setting_literal(s);
                if (!v) {
                        log_error("%s:%d: settings.%s: must be a string, number or boolean",
                                  path, config_setting_source_line(s), k);
                        bad++;
                        continue;
                }
                c->settings[c->n_settings].key = strdup(k);
                c->settings[c->n_settings].value = v;
                if (!c->settings[c->n_settings].key)
                        return log_oom();
                c->n_settings++;
        }
        return bad ? -PGREPL_E_CONFIG : 0;
}

/* Whether an hba rule has its fields: TYPE DATABASE USER [ADDRESS [MASK]] METHOD [OPTIONS], the
 * method one PostgreSQL knows. Fields are split as pg_hba.conf splits them: blanks, "quoted". */
static bool hba_rule_complete(const char *rule) {
        static const char *const methods[] = { "trust", "reject", "scram-sha-256", "md5", "password", "gss",
                                               "sspi", "ident", "peer", "pam", "ldap", "radius", "cert", NULL };
        char fields[6][64];
        size_t n = 0, m;
        const char *p = rule;

        while (n < ELEMENTSOF(fields)) {
                size_t k = 0;
                bool quoted = false;

                p += strspn(p, " \t");
                if (!*p || *p == '#')
                        break;
                while (*p && (quoted || !strchr(" \t#", *p))) {
                        if (*p == '"')
                                quoted = !quoted;
                        else if (k + 1 < sizeof(fields[n]))
                                fields[n][k++] = *p;
                        p++;
                }
                fields[n++][k] = 0;
        }
        if (n < 4)
                return false;
        /* local: the method is the fourth field; host*: the fifth, or the sixth after an IP mask. */
        m = streq(fields[0], "local") ? 3 : 4;
        if (m == 4 && n > 5 && strspn(fields[4], "0123456789.:abcdefABCDEF") == strlen(fields[4]))
                m = 5;
        if (n <= m)
                return false;
        for (size_t i = 0; methods[i]; i++)
                if (streq(fields[m], methods[i]))
                        return true;
        return false;
}

static int load_hba(Config *c, const config_setting_t *list, const char *path) {
        int n = config_setting_length(list), bad = 0;

        if (!config_setting_is_aggregate(list) || config_setting_is_group(list)) {
                log_error("%s:%d: 'hba' must be a list of strings: hba = [ \"host all all 10.0.0.0/8 scram-sha-256\" ];",
                          path, config_setting_source_line(list));
                return -PGREPL_E_CONFIG;
        }
        c->hba = calloc((size_t) n + 1, sizeof(char *));
        if (!c->hba)
                return log_oom();
        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(list, (unsigned) i);
                const char *v = config_setting_get_string(s);
                static const char *const kinds[] = { "local", "host", "hostssl", "hostnossl",
                                                     "hostgssenc", "hostnogssenc", NULL };
                bool ok = false;

                for (size_t j = 0; v && kinds[j]; j++) {
                        size_t k = strlen(kinds[j]);

                        if (strncmp(v, kinds[j], k) == 0 && (v[k] == ' ' || v[k] == '\t'))
                                ok = true;
                }
                if (!ok || strpbrk(v, "\n\r")) {
                        log_error("%s:%d: hba[%d]: must be one pg_hba.conf rule starting with local, host, "
                                  "hostssl, hostnossl, hostgssenc or hostnogssenc",
                                  path, config_setting_source_line(s), i);
                        bad++;
                        continue;
                }
                if (!hba_rule_complete(v)) {
                        log_error("%s:%d: hba[%d]: '%s' is incomplete: local DATABASE USER METHOD, or host... "
                                  "DATABASE USER ADDRESS METHOD, with a method PostgreSQL knows (scram-sha-256, "
                                  "md5, peer, trust, reject, ...)", path, config_setting_source_line(s), i, v);
                        bad++;
                        continue;
                }
                c->hba[c->n_hba] = strdup(v);
                if (!c->hba[c->n_hba])
                        return log_oom();
                c->n_hba++;
        }
        return bad ? -PGREPL_E_CONFIG : 0;
}

/* One variable from the file; a secret only from a file others cannot read. */
static int load_var(Config *c, const config_setting_t *s, VarId id, bool is_file, const char *path,
                    const struct stat *st) {
        _cleanup_free_ char *source = NULL;
        _cleanup_erase_ char *secret = NULL;
        char buf[32];
        const char *v;
        int line = config_setting_source_line(s), r;
        /* The file the setting was read from: the main one, or one it @includes. */
        const char *from = config_setting_source_file(s);
        bool included = from && !streq(from, path);

        if (asprintf(&source, "%s:%d", included ? from : path, line) < 0)
                return log_oom();
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_STRING:
                v = config_setting_get_string(s);
                break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                snprintf(buf, sizeof(buf), "%lld", (long long) config_setting_get_int64(s));
                v = buf;
                break;
        case CONFIG_TYPE_BOOL:
                v = config_setting_get_bool(s) ? "yes" : "no";
                break;
        default:
                log_error("%s: %s: must be a string, integer or boolean", source, config_setting_name(s));
                return -PGREPL_E_CONFIG;
        }
        if (is_file) {
                struct stat fst;

                if (!string_printable(v)) {
                        log_error("%s: %s: the value holds a line break or control characters (not shown): it must "
                                  "name one file", source, config_setting_name(s));
                        return -PGREPL_E_CONFIG;
                }
                r = fs_stat_regular(v, &fst);
                if (r >= 0 && (fst.st_mode & 0077)) {
                        log_error("%s: %s='%s': a secret in a file others can read (mode %04o); chmod 600",
                                  source, config_setting_name(s), v, (unsigned) (fst.st_mode & 07777));
                        return -PGREPL_E_CONFIG;
                }
                if (r >= 0)
                        r = fs_read_secret(v, &secret);
                if (r < 0) {
                        log_error("%s: %s='%s': cannot read the secret file: %s",
                                  source, config_setting_name(s), v, fs_strerror(r));
                        return -PGREPL_E_CONFIG;
                }
                free(source);
                source = NULL;
                if (asprintf(&source, "file '%s' (%s:%d)", v, path, line) < 0)
                        return log_oom();
                v = secret;
        } else if (config_vars[id].secret) {
                struct stat ist = *st;

                if (included && stat(from, &ist) < 0)
                        ist.st_mode = 0777; /* it was read a moment ago: gone or replaced, so not trusted */
                if (ist.st_mode & 0077) {
                        log_error("%s: %s: a secret in a file others can read (mode %04o); use %s_file or chmod 600",
                                  source, config_setting_name(s), (unsigned) (ist.st_mode & 07777),
                                  config_setting_name(s));
                        return -PGREPL_E_CONFIG;
                }
        }
        if (!*v)
                return 0;
        r = config_set_value(c, id, v, source);
        return r < 0 ? log_oom() : 0;
}

/* The file names @include lines give, as libconfig 1.5's scanner matches them (a line starting with
 * optional blanks, @include, blanks, a quoted name); libconfig opens them itself with fopen(), and
 * its include hook came in 1.7, so they are looked at here first: a FIFO would block that open for
 * ever. The check is conservative: an @include inside a block comment is looked at too. */
static int check_includes(const char *path, const char *text, unsigned depth) {
        unsigned line = 0;

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                _cleanup_free_ char *name = NULL, *inc = NULL;
                const char *q = p + strspn(p, " \t"), *end;
                int r;

                line++;
                if (strncmp(q, "@include", 8) != 0 || !strchr(" \t", q[8]) || !q[8])
                        continue;
                q += 8 + strspn(q + 8, " \t");
                if (*q != '"' || !(end = strpbrk(q + 1, "\"\n")) || *end != '"')
                        continue;
                name = strndup(q + 1, (size_t) (end - q - 1));
                if (!name)
                        return log_oom();
                r = fs_stat_regular(name, NULL);
                if (r == -EBADFD) {
                        log_error("%s:%u: @include \"%s\": %s", path, line, name, fs_strerror(r));
                        return -PGREPL_E_CONFIG;
                }
                if (r < 0)
                        continue; /* libconfig says it cannot open it, with the line */
                if (depth >= 10)
                        continue; /* libconfig refuses deeper nesting itself */
                r = fs_read_file(name, &inc);
                if (r < 0)
                        continue;
                r = check_includes(name, inc, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_load_file(Config *c, const char *path, bool explicit_path) {
        _cleanup_free_ char *text = NULL;
        config_t cf;
        config_setting_t *root;
        struct stat st;
        int bad = 0, r = 0;

        if (stat(path, &st) < 0) {
                if (!explicit_path && errno == ENOENT)
                        return 0;
                log_error_errno(-errno, "--config='%s': cannot read the configuration file: %m", path);
                return -PGREPL_E_CONFIG;
        }
        /* --config=/dev/null: no file, the usual way to say so. */
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
                return 0;
        /* Read once, by a non-blocking open of a regular file only; libconfig parses the text. */
        r = fs_read_file(path, &text);
        if (r >= 0 && fs_stat_regular(path, &st) < 0)
                r = -EBADFD;
        if (r < 0) {
                log_error("%s'%s'%s: cannot read the configuration file: %s", explicit_path ? "--config=" : "",
                          path, explicit_path ? "" : " (the default configuration file)", fs_strerror(r));
                return -PGREPL_E_CONFIG;
        }
        r = check_includes(path, text, 0);
        if (r < 0)
                return r;
        c->config_file = strdup(path);
        if (!c->config_file)
                return log_oom();

        config_init(&cf);
        if (!config_read_string(&cf, text)) {
                if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
                        log_error("%s: cannot read the configuration file", path);
                else
                        log_error("%s:%d: %s", config_error_file(&cf) ? config_error_file(&cf) : path,
                                  config_error_line(&cf), config_error_text(&cf));
                config_destroy(&cf);
                return -PGREPL_E_CONFIG;
        }

        root = config_root_setting(&cf);
        for (unsigned i = 0; i < (unsigned) config_setting_length(root); i++) {
                config_setting_t *s = config_setting_get_elem(root, i);
                const char *name = config_setting_name(s);
                bool is_file = false;
                int id;

                if (streq(name, "settings"))
                        r = load_settings(c, s, path);
                else if (streq(name, "hba"))
                        r = load_hba(c, s, path);
                else if ((id = find_key(name, &is_file)) >= 0)
                        r = load_var(c, s, (VarId) id, is_file, path, &st);
                else {
                        const char *hint = config_closest(name, true);

                        log_warning("%s:%d: unknown key '%s' ignored%s%s", path, config_setting_source_line(s),
                                    name, hint ? "; did you mean the key for " : "", hint ? hint : "");
                        r = 0;
                }
                if (r == -PGREPL_E_CONFIG)
                        bad++;
                else if (r < 0)
                        break;
        }
        config_destroy(&cf);
        if (r < 0 && r != -PGREPL_E_CONFIG)
                return r;
        return bad ? -PGREPL_E_CONFIG : 0;
}
