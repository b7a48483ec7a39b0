/* SPDX-License-Identifier: MIT */
/*
 * Renderers: each output format quotes by its own rules. Conninfo strings
 * are round-tripped through libpq's own parser; every format is fed quotes,
 * backslashes, spaces, colons and non-ASCII text.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "macro.h"
#include "config.h"
#include "render.h"

static const char *const nasty[] = {
        "plain", "it's", "back\\slash", "with space", "co:lon", "dq\"uote", "ünïcødé €", "'\\:\" mix ''\\\\",
        "trailing\\", "=eq=", "",
};

static void test_conf_string(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "abc", "'abc'" },
                { "it's", "'it''s'" },
                { "a\\b", "'a\\\\b'" },
                { "ü €", "'ü €'" },
                { "", "''" },
                /* a line break is an escape: raw, it would end the string and start a line */
                { "a\nb", "'a\\nb'" },
                { "x\r\n' y", "'x\\r\\n'' y'" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = render_conf_string(cases[i].in);
                ASSERT_STREQ(s, cases[i].out);
                free(s);
        }
}

static void test_conninfo_roundtrip(void) {
        for (size_t i = 0; i < ELEMENTSOF(nasty); i++) {
                const char *keys[] = { "host", "user", "application_name", "passfile", NULL };
                const char *values[] = { "db.example", nasty[i], nasty[i], "/var/lib/pgrepl/x y/passfile", NULL };
                char *s = render_conninfo(keys, values), *err = NULL;
                PQconninfoOption *opts = PQconninfoParse(s, &err);
                int seen = 0;

                if (!opts) {
                        fprintf(stderr, "conninfo '%s' did not parse: %s\n", s, err);
                        exit(1);
                }
                for (PQconninfoOption *o = opts; o->keyword; o++) {
                        if (strcmp(o->keyword, "user") == 0 || strcmp(o->keyword, "application_name") == 0) {
                                ASSERT_STREQ(o->val, nasty[i]);
                                seen++;
                        }
                        if (strcmp(o->keyword, "passfile") == 0) {
                                ASSERT_STREQ(o->val, "/var/lib/pgrepl/x y/passfile");
                                seen++;
                        }
                }
                ASSERT_EQ(seen, 3);
                PQconninfoFree(opts);
                free(s);
        }
        {
                const char *keys[] = { "host", "port", "user", NULL };
                const char *values[] = { "h", NULL, "u", NULL };
                char *s = render_conninfo(keys, values);
                ASSERT_STREQ(s, "host='h' user='u'");
                free(s);
        }
}

/* Parse one passfile field back the way libpq does: backslash escapes the next char. */
static char *unescape_pgpass(const char **p) {
        char *out = calloc(1, strlen(*p) + 1), *o = out;

        while (**p && **p != ':' && **p != '\n') {
                if (**p == '\\' && (*p)[1])
                        (*p)++;
                *o++ = *(*p)++;
        }
        if (**p == ':')
                (*p)++;
        return out;
}

static void test_pgpass(void) {
        for (size_t i = 0; i < ELEMENTSOF(nasty); i++) {
                char *line = render_pgpass_line("10.0.0.1", "5432", "*", nasty[i], nasty[i]);
                const char *p = line;
                char *f[5];

                ASSERT_TRUE(line[strlen(line) - 1] == '\n');
                for (int k = 0; k < 5; k++)
                        f[k] = unescape_pgpass(&p);
                ASSERT_STREQ(f[0], "10.0.0.1");
                ASSERT_STREQ(f[1], "5432");
                ASSERT_STREQ(f[2], "*");
                ASSERT_STREQ(f[3], nasty[i]);
                ASSERT_STREQ(f[4], nasty[i]);
                for (int k = 0; k < 5; k++)
                        free(f[k]);
                free(line);
        }
        {
                char *line = render_pgpass_line("h", "1", "*", "u:x", "p\\w");
                ASSERT_STREQ(line, "h:1:*:u\\:x:p\\\\w\n");
                free(line);
        }
}

static void test_hba_name(void) {
        char *s = render_hba_name("re pl\"x");
        ASSERT_STREQ(s, "\"re pl\"\"x\"");
        free(s);
        s = render_hba_name("all");
        ASSERT_STREQ(s, "\"all\""); /* a user named all is not the keyword */
        free(s);
}

static Config *config_with(char **env) {
        Config *c = NULL;

        if (config_load(ROLE_PRIMARY, "main", "/dev/null", env, &c) < 0) {
                fprintf(stderr, "config_load failed\n");
                exit(1);
        }
        return c;
}

static void test_sync_names(void) {
        static const struct { const char *n, *mode, *apps, *out; } cases[] = {
                { "0", NULL, "walreceiver", "" },
                { "1", NULL, "walreceiver", "1 (\"walreceiver\")" },
                { "2", "FIRST", "a, b", "FIRST 2 (\"a\",\"b\")" },
                { "1", "ANY", "x\"y,z w", "ANY 1 (\"x\"\"y\",\"z w\")" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char n[64], m[64], a[128];
                char *env[] = { "POSTGRESQL_PASSWORD=x", n, a, cases[i].mode ? m : NULL, NULL };
                Config *c;
                char *s;

                snprintf(n, sizeof(n), "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS=%s", cases[i].n);
                snprintf(m, sizeof(m), "POSTGRESQL_SYNCHRONOUS_REPLICAS_MODE=%s", cases[i].mode ? cases[i].mode : "");
                snprintf(a, sizeof(a), "POSTGRESQL_CLUSTER_APP_NAME=%s", cases[i].apps);
                c = config_with(env);
                s = render_sync_names(c);
                ASSERT_STREQ(s, cases[i].out);
                free(s);
                config_free(c);
        }
}

static void test_settings_file(void) {
        char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS=1",
                        "POSTGRESQL_MAX_CONNECTIONS=200", "POSTGRESQL_FSYNC=no", NULL };
        Config *c = config_with(env);
        StandbySettings st = { .primary_conninfo = "host='h' user='it\\'s'", .primary_slot_name = "slot_1" };
        char *s = render_settings(c, NULL), *t;

        ASSERT_CONTAINS(s, "\nport = 5432\n");
        ASSERT_CONTAINS(s, "\nwal_level = 'replica'\n");
        ASSERT_CONTAINS(s, "\nhot_standby = on\n");
        ASSERT_CONTAINS(s, "\nwal_log_hints = on\n");
        ASSERT_CONTAINS(s, "\nsynchronous_standby_names = '1 (\"walreceiver\")'\n");
        ASSERT_CONTAINS(s, "\nmax_connections = 200\n");
        ASSERT_CONTAINS(s, "\nfsync = off\n");
        ASSERT_CONTAINS(s, "\nmax_slot_wal_keep_size = '4GB'\n");
        ASSERT_TRUE(!strstr(s, "primary_conninfo"));
        ASSERT_TRUE(!strstr(s, "promote_trigger_file"));
        t = render_settings(c, &st);
        ASSERT_CONTAINS(t, "\nprimary_conninfo = 'host=''h'' user=''it\\\\''s'''\n");
        ASSERT_CONTAINS(t, "\nprimary_slot_name = 'slot_1'\n");
        free(s);
        free(t);
        config_free(c);
}

static void test_hba_file(void) {
        char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_REPLICATION_USER=rep\"l",
                        "POSTGRESQL_REPLICATION_PASSWORD=y", "POSTGRESQL_PASSWORD_ENCRYPTION=md5", NULL };
        char *env2[] = { "ALLOW_EMPTY_PASSWORD=yes", "POSTGRESQL_ALLOW_REMOTE_CONNECTIONS=no", NULL };
        Config *c = config_with(env);
        char *s = render_hba(c), *first, *repl;

        first = strstr(s, "local   all          postgres");
        repl = strstr(s, "host    replication  \"rep\"\"l\"");
        ASSERT_TRUE(first && repl && first < strstr(s, "local   all          all"));
        ASSERT_CONTAINS(s, "0.0.0.0/0        md5");
        ASSERT_TRUE(!strstr(s, "trust"));
        ASSERT_TRUE(!render_hba_is_trust(c));
        free(s);
        config_free(c);

        c = config_with(env2);
        s = render_hba(c);
        ASSERT_TRUE(render_hba_is_trust(c));
        ASSERT_CONTAINS(s, "127.0.0.1/32     trust");
        ASSERT_TRUE(!strstr(s, "0.0.0.0/0"));  /* no remote connections */
        ASSERT_TRUE(!strstr(s, "replication")); /* no replication user */
        free(s);
        config_free(c);
}

/* TLS: the server's files in the settings, hostssl for replication only, nothing of either when off. */
static void test_tls(void) {
        char dir[] = "/tmp/test-render-tls-XXXXXX", crt[128], key[128], ca[128];
        char env_crt[192], env_key[192], env_ca[192];
        char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_REPLICATION_USER=repl",
                        "POSTGRESQL_REPLICATION_PASSWORD=y", "POSTGRESQL_ENABLE_TLS=yes",
                        "POSTGRESQL_TLS_PREFER_SERVER_CIPHERS=no", env_crt, env_key, env_ca, NULL };
        char *off[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_REPLICATION_USER=repl",
                        "POSTGRESQL_REPLICATION_PASSWORD=y", NULL };
        Config *c;
        char *s;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(crt, sizeof(crt), "%s/server.crt", dir);
        snprintf(key, sizeof(key), "%s/server.key", dir);
        snprintf(ca, sizeof(ca), "%s/it's ca.crt", dir);
        for (const char *const *f = (const char *const[]) { crt, key, ca, NULL }; *f; f++) {
                FILE *fp = fopen(*f, "w");

                ASSERT_TRUE(fp != NULL);
                fclose(fp);
        }
        snprintf(env_crt, sizeof(env_crt), "POSTGRESQL_TLS_CERT_FILE=%s", crt);
        snprintf(env_key, sizeof(env_key), "POSTGRESQL_TLS_KEY_FILE=%s", key);
        snprintf(env_ca, sizeof(env_ca), "POSTGRESQL_TLS_CA_FILE=%s", ca);
        ASSERT_TRUE(chmod(key, 0600) == 0);

        c = config_with(env);
        s = render_settings(c, NULL);
        ASSERT_CONTAINS(s, "ssl = on\n");
        ASSERT_CONTAINS(s, "ssl_key_file = '/tmp/test-render-tls-");
        ASSERT_CONTAINS(s, "/it''s ca.crt'\n");
        ASSERT_CONTAINS(s, "ssl_prefer_server_ciphers = off\n");
        ASSERT_TRUE(!strstr(s, "ssl_crl_file"));
        free(s);
        s = render_hba(c);
        ASSERT_CONTAINS(s, "hostssl replication  \"repl\"               127.0.0.1/32");
        ASSERT_CONTAINS(s, "hostssl replication  \"repl\"               ::/0");
        ASSERT_CONTAINS(s, "host    all          all                  0.0.0.0/0");
        ASSERT_TRUE(!strstr(s, "host    replication"));
        free(s);
        config_free(c);

        c = config_with(off);
        s = render_settings(c, NULL);
        ASSERT_TRUE(!strstr(s, "ssl"));
        free(s);
        s = render_hba(c);
        ASSERT_TRUE(!strstr(s, "hostssl"));
        free(s);
        config_free(c);

        unlink(crt);
        unlink(key);
        unlink(ca);
        rmdir(dir);
}

int main(void) {
        test_conf_string();
        test_conninfo_roundtrip();
        test_pgpass();
        test_hba_name();
        test_sync_names();
        test_settings_file();
        test_hba_file();
        test_tls();
        printf("test-render: ok\n");
        return 0;
}
