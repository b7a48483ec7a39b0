/* SPDX-License-Identifier: MIT */
/*
 * The configuration loader: precedence (default < libconfig file <
 * environment), POSTGRES_* aliases, *_FILE secrets, the settings group and
 * hba list, and a table of bad inputs that must each be rejected naming
 * the right variable (exit 78).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "macro.h"
#include "cli.h"
#include "config.h"
#include "errors.h"
#include "fs.h"

static char tmpdir[] = "/tmp/pgrepl-test-config-XXXXXX";
static char errbuf[16384];

static char *write_tmp(const char *name, const char *content, mode_t mode) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        ASSERT_EQ(fs_write_atomic(p, content, mode), 0);
        return p;
}

/* Load with stderr captured into errbuf. envp is NULL-terminated. */
static int load(Role role, const char *conf, char **envp, Config **ret) {
        char path[256];
        int saved = dup(STDERR_FILENO), fd, r;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/stderr", tmpdir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        r = config_load(role, "main", conf ? conf : "/nonexistent-pgrepl.conf-default", envp, ret);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        lseek(fd, 0, SEEK_SET);
        n = read(fd, errbuf, sizeof(errbuf) - 1);
        errbuf[n > 0 ? n : 0] = 0;
        close(fd);
        return r;
}

/* An explicit path that does not exist is an error; for "no file" use an empty one. */
static char *empty_conf;

static void test_defaults(void) {
        char *env[] = { "POSTGRESQL_PASSWORD=x", NULL };
        Config *c = NULL;

        ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
        ASSERT_STREQ(config_get(c, VAR_REPLICATION_MODE), "master");
        ASSERT_EQ(c->port, 5432);
        ASSERT_EQ(c->master_port, 5432);
        ASSERT_STREQ(config_get(c, VAR_USERNAME), "postgres");
        ASSERT_STREQ(config_get(c, VAR_DATABASE), "postgres");
        ASSERT_STREQ(config_get(c, VAR_SYNCHRONOUS_COMMIT_MODE), "on");
        ASSERT_STREQ(config_get(c, VAR_CLUSTER_APP_NAME), "walreceiver");
        ASSERT_STREQ(config_get(c, VAR_DATA_DIR), "/var/lib/pgrepl/main/data");
        ASSERT_STREQ(config_get(c, VAR_PROMOTE_TRIGGER_FILE), "/tmp/postgresql.trigger.5432");
        ASSERT_STREQ(config_get(c, VAR_PASSWORD_ENCRYPTION), "scram-sha-256");
        ASSERT_EQ(c->num_sync, 0);
        ASSERT_EQ(c->init_max_timeout, 0);
        ASSERT_TRUE(c->allow_remote);
        ASSERT_TRUE(c->use_slot);
        ASSERT_EQ(c->fsync, -1);
        ASSERT_STREQ(c->sources[VAR_PORT_NUMBER], "default");
        config_free(c);
}

static void test_precedence_file_then_env(void) {
        char *conf = write_tmp("prec.conf",
                               "port_number = 6000;\nmaster_port_number = 6001;\nusername = \"fromfile\";\n"
                               "allow_remote_connections = false;\n",
                               0644);
        char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_PORT_NUMBER=7000", NULL };
        Config *c = NULL;

        ASSERT_EQ(load(ROLE_PRIMARY, conf, env, &c), 0);
        ASSERT_EQ(c->port, 7000);                      /* env wins over file */
        ASSERT_EQ(c->master_port, 6001);               /* file wins over default */
        ASSERT_STREQ(config_get(c, VAR_USERNAME), "fromfile");
        ASSERT_TRUE(!c->allow_remote);
        ASSERT_STREQ(c->sources[VAR_PORT_NUMBER], "environment");
        ASSERT_CONTAINS(c->sources[VAR_MASTER_PORT_NUMBER], "prec.conf:2");
        ASSERT_STREQ(config_get(c, VAR_PROMOTE_TRIGGER_FILE), "/tmp/postgresql.trigger.6001");
        config_free(c);
        free(conf);
}

static void test_aliases(void) {
        char *env[] = { "POSTGRES_USER=alias_user", "POSTGRES_DB=alias_db", "POSTGRES_PASSWORD=pw",
                        "POSTGRES_REPLICATION_MODE=master", "POSTGRESQL_DATABASE=main_db",
                        "PGREPL_ENV_FILE=/etc/pgrepl/main.env", NULL };
        Config *c = NULL;

        ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
        ASSERT_STREQ(config_get(c, VAR_USERNAME), "alias_user");
        ASSERT_STREQ(config_get(c, VAR_DATABASE), "main_db"); /* POSTGRESQL_* wins */
        ASSERT_STREQ(config_get(c, VAR_PASSWORD), "pw");
        ASSERT_STREQ(c->sources[VAR_USERNAME], "env file '/etc/pgrepl/main.env', as POSTGRES_USER");
        config_free(c);
}

static void test_secret_files(void) {
        char *f1 = write_tmp("pw1", "from-file\n", 0600);
        char *f2 = write_tmp("pw2", "repl: secret\\x\n\n", 0600);
        char *e1 = NULL, *e2 = NULL;
        Config *c = NULL;

        ASSERT_TRUE(asprintf(&e1, "POSTGRESQL_PASSWORD_FILE=%s", f1) > 0);
        ASSERT_TRUE(asprintf(&e2, "POSTGRES_REPLICATION_PASSWORD_FILE=%s", f2) > 0);
        {
                char *env[] = { "POSTGRESQL_PASSWORD=plain", e1, e2, "POSTGRESQL_REPLICATION_USER=r",
                                "POSTGRESQL_REPLICATION_PASSWORD=plain2", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
        }
        ASSERT_STREQ(config_get(c, VAR_PASSWORD), "from-file"); /* _FILE wins, one newline stripped */
        ASSERT_STREQ(config_get(c, VAR_REPLICATION_PASSWORD), "repl: secret\\x\n");
        ASSERT_CONTAINS(c->sources[VAR_PASSWORD], "POSTGRESQL_PASSWORD_FILE");
        config_free(c);

        /* Paths that merely end in _FILE are not secrets. */
        {
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_PROMOTE_TRIGGER_FILE=/run/x.trigger", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                ASSERT_STREQ(config_get(c, VAR_PROMOTE_TRIGGER_FILE), "/run/x.trigger");
                ASSERT_TRUE(!config_var_is_secret(VAR_PROMOTE_TRIGGER_FILE));
                ASSERT_TRUE(!config_var_is_secret(VAR_REPLICATION_PASSFILE_PATH));
                config_free(c);
        }
        free(e1);
        free(e2);
        free(f1);
        free(f2);
}

static void test_settings_and_hba(void) {
        char *conf = write_tmp("groups.conf",
                               "settings = { work_mem = \"64MB\"; log_connections = true; max_wal_senders = 20;"
                               " application_name = \"it's\"; };\n"
                               "hba = [ \"host all all 10.0.0.0/8 scram-sha-256\" ];\n",
                               0644);
        char *env[] = { "POSTGRESQL_PASSWORD=x", NULL };
        Config *c = NULL;

        ASSERT_EQ(load(ROLE_PRIMARY, conf, env, &c), 0);
        ASSERT_EQ(c->n_settings, 4);
        ASSERT_STREQ(c->settings[0].key, "work_mem");
        ASSERT_STREQ(c->settings[0].value, "'64MB'");
        ASSERT_STREQ(c->settings[1].value, "on");
        ASSERT_STREQ(c->settings[2].value, "20");
        ASSERT_STREQ(c->settings[3].value, "'it''s'");
        ASSERT_EQ(c->n_hba, 1);
        ASSERT_STREQ(c->hba[0], "host all all 10.0.0.0/8 scram-sha-256");
        config_free(c);
        free(conf);

        /* Complete rules in their other shapes: a mask, options, quoted names, a local rule. */
        conf = write_tmp("hba.conf",
                         "hba = [ \"host all all 10.0.0.0 255.0.0.0 md5\", \"hostssl \\\"my db\\\" all ::1/128 cert clientcert=verify-full\",\n"
                         "        \"local sameuser all peer map=m\", \"host all all all reject # none\" ];\n"
                         "settings = { superuser_reserved_connections = 2; };\n",
                         0644);
        {
                char *env2[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_MAX_CONNECTIONS=3", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, conf, env2, &c), 0);
        }
        ASSERT_EQ(c->n_hba, 4);
        config_free(c);
        free(conf);
}

static void test_booleans_and_enums(void) {
        static const char *const truths[] = { "yes", "TRUE", "On", "1" };
        static const char *const lies[] = { "no", "False", "OFF", "0" };

        for (size_t i = 0; i < 4; i++) {
                ASSERT_EQ(config_parse_bool(truths[i]), 1);
                ASSERT_EQ(config_parse_bool(lies[i]), 0);
        }
        ASSERT_EQ(config_parse_bool("y"), -EINVAL);
        {
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_SYNCHRONOUS_COMMIT_MODE=REMOTE_APPLY",
                                "POSTGRESQL_SYNCHRONOUS_REPLICAS_MODE=any", "POSTGRESQL_REPLICATION_MODE=Primary",
                                "POSTGRESQL_FSYNC=off", "POSTGRESQL_REPLICATION_SLOT=my_slot_1", NULL };
                Config *c = NULL;

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                ASSERT_STREQ(config_get(c, VAR_SYNCHRONOUS_COMMIT_MODE), "remote_apply");
                ASSERT_STREQ(config_get(c, VAR_SYNCHRONOUS_REPLICAS_MODE), "ANY");
                ASSERT_STREQ(config_get(c, VAR_REPLICATION_MODE), "primary");
                ASSERT_EQ(c->fsync, 0);
                ASSERT_TRUE(c->use_slot);
                ASSERT_STREQ(c->slot_name, "my_slot_1");
                config_free(c);
        }
}

static void test_roles(void) {
        Config *c = NULL;
        {
                /* A standby needs only the replication user, its password and the master host. */
                char *env[] = { "POSTGRESQL_REPLICATION_USER=r", "POSTGRESQL_REPLICATION_PASSWORD=p",
                                "POSTGRESQL_MASTER_HOST=10.0.0.1", "POSTGRESQL_USERNAME=ignored", NULL };

                ASSERT_EQ(load(ROLE_STANDBY, empty_conf, env, &c), 0);
                ASSERT_STREQ(config_get(c, VAR_REPLICATION_MODE), "slave");
                ASSERT_TRUE(!c->mode_primary);
                config_free(c);
        }
        {
                char *env[] = { "ALLOW_EMPTY_PASSWORD=yes", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                ASSERT_TRUE(c->allow_empty_password);
                config_free(c);
        }
        {
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_MASTER_HOSTT=x", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                ASSERT_CONTAINS(errbuf, "Unknown variable POSTGRESQL_MASTER_HOSTT ignored; did you mean "
                                        "POSTGRESQL_MASTER_HOST?");
                config_free(c);
        }
}

typedef struct BadCase {
        Role role;
        const char *env[4];
        const char *conf; /* libconfig text, or NULL */
        const char *expect;
} BadCase;

#define P(...) ROLE_PRIMARY, { "POSTGRESQL_PASSWORD=s3cr3t-never-shown", __VA_ARGS__ }
#define S(...) ROLE_STANDBY, { "POSTGRESQL_REPLICATION_USER=r", "POSTGRESQL_REPLICATION_PASSWORD=s3cr3t-never-shown", "POSTGRESQL_MASTER_HOST=h", __VA_ARGS__ }

static const BadCase bad_cases[] = {
        { P("POSTGRESQL_PORT_NUMBER=0"), NULL, "POSTGRESQL_PORT_NUMBER='0'" },
        { P("POSTGRESQL_PORT_NUMBER=65536"), NULL, "POSTGRESQL_PORT_NUMBER='65536'" },
        { P("POSTGRESQL_PORT_NUMBER=54x"), NULL, "POSTGRESQL_PORT_NUMBER='54x'" },
        { P("POSTGRESQL_PORT_NUMBER=-1"), NULL, "POSTGRESQL_PORT_NUMBER='-1'" },
        { P("POSTGRESQL_MASTER_PORT_NUMBER= 5432"), NULL, "POSTGRESQL_MASTER_PORT_NUMBER" },
        { P("POSTGRESQL_REPLICATION_MODE=replica"), NULL, "POSTGRESQL_REPLICATION_MODE='replica'" },
        { P("POSTGRESQL_REPLICATION_MODE=slave"), NULL, "contradicts the primary unit" },
        { S("POSTGRESQL_REPLICATION_MODE=master"), NULL, "contradicts the standby unit" },
        { P("POSTGRESQL_SYNCHRONOUS_COMMIT_MODE=yes"), NULL, "POSTGRESQL_SYNCHRONOUS_COMMIT_MODE='yes'" },
        { P("POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS=-1"), NULL, "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS='-1'" },
        { P("POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS=two"), NULL, "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS='two'" },
        { P("POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS=1000"), NULL, "POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS='1000'" },
        { P("POSTGRESQL_SYNCHRONOUS_REPLICAS_MODE=SOME"), NULL, "POSTGRESQL_SYNCHRONOUS_REPLICAS_MODE='SOME'" },
        { P("ALLOW_EMPTY_PASSWORD=maybe"), NULL, "ALLOW_EMPTY_PASSWORD='maybe'" },
        { P("POSTGRESQL_ALLOW_REMOTE_CONNECTIONS=y"), NULL, "POSTGRESQL_ALLOW_REMOTE_CONNECTIONS='y'" },
        { P("POSTGRESQL_FSYNC=2"), NULL, "POSTGRESQL_FSYNC='2'" },
        { P("POSTGRESQL_DATA_DIR=relative/dir"), NULL, "POSTGRESQL_DATA_DIR='relative/dir'" },
        { P("POSTGRESQL_INITDB_WAL_DIR=wal"), NULL, "POSTGRESQL_INITDB_WAL_DIR='wal'" },
        { P("POSTGRESQL_PASSWORD_ENCRYPTION=sha1"), NULL, "POSTGRESQL_PASSWORD_ENCRYPTION='sha1'" },
        { P("POSTGRESQL_WAL_LEVEL=minimal"), NULL, "POSTGRESQL_WAL_LEVEL='minimal'" },
        { P("POSTGRESQL_MAX_CONNECTIONS=lots"), NULL, "POSTGRESQL_MAX_CONNECTIONS='lots'" },
        { P("POSTGRESQL_INIT_MAX_TIMEOUT=1.5"), NULL, "POSTGRESQL_INIT_MAX_TIMEOUT='1.5'" },
        { P("POSTGRESQL_MAX_SLOT_WAL_KEEP_SIZE=10G"), NULL, "POSTGRESQL_MAX_SLOT_WAL_KEEP_SIZE='10G'" },
        { P("POSTGRESQL_REPLICATION_SLOT=Bad-Slot"), NULL, "POSTGRESQL_REPLICATION_SLOT='Bad-Slot'" },
        { P("POSTGRESQL_CLUSTER_APP_NAME=caf\xc3\xa9"), NULL, "POSTGRESQL_CLUSTER_APP_NAME" },
        { P("POSTGRESQL_CLUSTER_APP_NAME=a,,b"), NULL, "POSTGRESQL_CLUSTER_APP_NAME='a,,b'" },
        { P("POSTGRESQL_SHARED_PRELOAD_LIBRARIES=pg audit"), NULL, "POSTGRESQL_SHARED_PRELOAD_LIBRARIES" },
        { P("POSTGRESQL_MASTER_HOST=bad host"), NULL, "POSTGRESQL_MASTER_HOST='bad host'" },
        { P("POSTGRESQL_USERNAME=a123456789012345678901234567890123456789012345678901234567890123"), NULL,
          "POSTGRESQL_USERNAME" },
        { P("POSTGRESQL_PROMOTE_TRIGGER_FILE=trigger"), NULL, "POSTGRESQL_PROMOTE_TRIGGER_FILE='trigger'" },
        { P("POSTGRESQL_BIN_DIR=bin"), NULL, "POSTGRESQL_BIN_DIR='bin'" },
        { P("POSTGRESQL_SOCKET_DIR=run"), NULL, "POSTGRESQL_SOCKET_DIR='run'" },
        { P("POSTGRESQL_REPLICATION_USER=r"), NULL, "POSTGRESQL_REPLICATION_PASSWORD is not set" },
        { ROLE_PRIMARY, { NULL }, NULL, "POSTGRESQL_PASSWORD is not set" },
        { ROLE_STANDBY, { "POSTGRESQL_MASTER_HOST=h", NULL }, NULL, "POSTGRESQL_REPLICATION_USER is not set" },
        { ROLE_STANDBY, { "POSTGRESQL_REPLICATION_USER=r", "POSTGRESQL_REPLICATION_PASSWORD=p", NULL }, NULL,
          "POSTGRESQL_MASTER_HOST is not set" },
        { P(NULL), "port_number = \"abc\";", "POSTGRESQL_PORT_NUMBER='abc' (from " },
        { P(NULL), "port_number = 1;\nmaster_port_number = 70000;", "bad.conf:2" },
        { P(NULL), "port_number = ;", "bad.conf:1" },             /* syntax error */
        { P(NULL), "settings = { port = 5433; };", "settings.port" },
        { P(NULL), "settings = { \"Bad-Name\" = 1; };", "bad.conf:1" },
        { P(NULL), "hba = [ \"allow everything\" ];", "hba[0]" },
        { P(NULL), "password = \"in a readable file\";", "a secret in a file others can read" },
        { P(NULL), "fsync = 1.5;", "fsync: must be a string, integer or boolean" },
        { P("POSTGRESQL_PASSWORD_FILE=/nonexistent/pgrepl-secret"), NULL, "POSTGRESQL_PASSWORD_FILE='/nonexistent/pgrepl-secret'" },
        /* An unbalanced quote in the env file: the next lines, secrets too, become part of the value. */
        { P("POSTGRESQL_DATABASE=appdb\nPOSTGRESQL_REPLICATION_PASSWORD=s3cr3t-never-shown"), NULL,
          "POSTGRESQL_DATABASE (from environment): the value spans several lines (not shown" },
        { P("POSTGRESQL_CLUSTER_APP_NAME=app\nPOSTGRESQL_PASSWORD=s3cr3t-never-shown"), NULL,
          "POSTGRESQL_CLUSTER_APP_NAME (from environment): the value spans several lines (not shown" },
        { P("POSTGRESQL_REPLICATION_USER=repl\rs3cr3t-never-shown", "POSTGRESQL_REPLICATION_PASSWORD=x"), NULL,
          "POSTGRESQL_REPLICATION_USER (from environment): the value spans several lines" },
        { P("POSTGRESQL_USERNAME=ad\x1bmin"), NULL, "POSTGRESQL_USERNAME (from environment): the value holds control characters (not shown)" },
        { P("POSTGRESQL_FSYNC=yes\ns3cr3t-never-shown"), NULL, "POSTGRESQL_FSYNC (from environment): the value spans several lines" },
        { S("POSTGRESQL_MASTER_PORT_NUMBER=5432\ns3cr3t-never-shown"), NULL, "POSTGRESQL_MASTER_PORT_NUMBER (from environment): the value spans" },
        { P("POSTGRESQL_PASSWORD_FILE=/etc/pw\ns3cr3t-never-shown"), NULL,
          "POSTGRESQL_PASSWORD_FILE (from environment): the value spans several lines (not shown)" },
        { P("POSTGRESQL_PASSWORD_FILE=/dev/null"), NULL, "cannot read the secret file: not a regular file" },
        { P("POSTGRESQL_PASSWORD_FILE=/"), NULL, "cannot read the secret file: not a regular file" },
        { P(NULL), "password_file = \"/dev/null\";", "not a regular file" },
        { P("POSTGRESQL_USERNAME=pg_app"), NULL, "POSTGRESQL_USERNAME='pg_app' (from environment): must not start with 'pg_'" },
        { P("POSTGRESQL_REPLICATION_USER=pg_repl", "POSTGRESQL_REPLICATION_PASSWORD=x"), NULL, "POSTGRESQL_REPLICATION_USER='pg_repl'" },
        { P("POSTGRESQL_INITDB_ARGS=-U root"), NULL, "POSTGRESQL_INITDB_ARGS='-U root' (from environment): must not set" },
        { P("POSTGRESQL_INITDB_ARGS=--data-checksums --username=x"), NULL, "must not set what pgrepl passes to initdb" },
        { P("POSTGRESQL_INITDB_ARGS=-D/tmp/x"), NULL, "must not set what pgrepl passes to initdb" },
        { P("POSTGRESQL_INITDB_ARGS=--pwprompt"), NULL, "must not set what pgrepl passes to initdb" },
        { P("POSTGRESQL_EXTRA_FLAGS=-c port=1"), NULL, "POSTGRESQL_EXTRA_FLAGS='-c port=1' (from environment): must not set" },
        { P("POSTGRESQL_EXTRA_FLAGS=-cfsync=off"), NULL, "must not set what pgrepl renders" },
        { P("POSTGRESQL_EXTRA_FLAGS=--hba-file=/tmp/trust"), NULL, "must not set what pgrepl renders" },
        { P("POSTGRESQL_EXTRA_FLAGS=-B 100 -p 5433"), NULL, "must not set what pgrepl renders" },
        { P("POSTGRESQL_EXTRA_FLAGS=-c primary_conninfo=x"), NULL, "must not set what pgrepl renders" },
        { P("POSTGRESQL_MAX_CONNECTIONS=3"), NULL, "must be more than superuser_reserved_connections (3)" },
        { P("POSTGRESQL_MAX_CONNECTIONS=10"), "settings = { superuser_reserved_connections = 10; };",
          "must be more than superuser_reserved_connections (10)" },
        { P(NULL), "settings = { application_name = \"a\\nb\"; };", "settings.application_name: must be one line" },
        { P(NULL), "hba = [ \"host all all\" ];", "hba[0]: 'host all all' is incomplete" },
        { P(NULL), "hba = [ \"local all all\" ];", "is incomplete" },
        { P(NULL), "hba = [ \"host all all 10.0.0.0/8 sesame\" ];", "is incomplete" },
        { P(NULL), "hba = [ \"host all all 10.0.0.0 255.0.0.0\" ];", "is incomplete" },
};

static void test_bad_inputs(void) {
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const BadCase *b = &bad_cases[i];
                char *env[5] = {};
                _cleanup_free_ char *conf = NULL;
                Config *c = NULL;
                int r;

                for (size_t j = 0; j < 4 && b->env[j]; j++)
                        env[j] = (char *) b->env[j];
                conf = write_tmp("bad.conf", b->conf ? b->conf : "", 0644);
                r = load(b->role, conf, env, &c);
                if (r != -PGREPL_E_CONFIG || !strstr(errbuf, b->expect) || strstr(errbuf, "s3cr3t-never-shown")) {
                        fprintf(stderr, "bad case %zu (expect '%s'): r=%d, stderr:\n%s\n", i, b->expect, r, errbuf);
                        exit(1);
                }
                ASSERT_EQ(exit_status(r), 78);
                ASSERT_TRUE(c == NULL);
        }
        ASSERT_TRUE(ELEMENTSOF(bad_cases) >= 30);
}

static void test_missing_named_config(void) {
        char *env[] = { "POSTGRESQL_PASSWORD=x", NULL };
        Config *c = NULL;

        ASSERT_EQ(load(ROLE_PRIMARY, "/nonexistent/pgrepl.conf", env, &c), -PGREPL_E_CONFIG);
        ASSERT_CONTAINS(errbuf, "--config='/nonexistent/pgrepl.conf'");
}

static void test_distance(void) {
        ASSERT_EQ(config_distance("kitten", "sitting"), 3);
        ASSERT_EQ(config_distance("", "abc"), 3);
        ASSERT_EQ(config_distance("same", "same"), 0);
        ASSERT_TRUE(config_instance_valid("main"));
        ASSERT_TRUE(config_instance_valid("replica-1.a_b"));
        ASSERT_TRUE(!config_instance_valid("../etc"));
        ASSERT_TRUE(!config_instance_valid("a/b"));
        ASSERT_TRUE(!config_instance_valid(""));
}

/* The image's other aliases, and _FILE for a variable that is no secret. */
static void test_image_aliases_and_value_files(void) {
        char *f = write_tmp("host", "10.0.0.9\n", 0644);
        char *e = NULL;
        Config *c = NULL;

        ASSERT_TRUE(asprintf(&e, "POSTGRESQL_MASTER_HOST_FILE=%s", f) > 0);
        {
                char *env[] = { "PGDATA=/srv/pg/data", "POSTGRESQL_USER=u1", "POSTGRES_DATABASE=d1",
                                "POSTGRES_INITDB_WAL_DIR=/srv/wal", "POSTGRESQL_PASSWORD=x",
                                "POSTGRESQL_MASTER_HOST=ignored", e,
                                /* The image's POSTGRES_<NAME> for every POSTGRESQL_<NAME>. */
                                "POSTGRES_TIMEZONE=Europe/Paris", "POSTGRES_STATEMENT_TIMEOUT=5s", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
        }
        ASSERT_STREQ(config_get(c, VAR_TIMEZONE), "Europe/Paris");
        ASSERT_CONTAINS(c->sources[VAR_TIMEZONE], "POSTGRES_TIMEZONE");
        ASSERT_STREQ(config_get(c, VAR_STATEMENT_TIMEOUT), "5s");
        ASSERT_STREQ(config_get(c, VAR_DATA_DIR), "/srv/pg/data");
        ASSERT_STREQ(config_get(c, VAR_USERNAME), "u1");
        ASSERT_STREQ(config_get(c, VAR_DATABASE), "d1");
        ASSERT_STREQ(config_get(c, VAR_INITDB_WAL_DIR), "/srv/wal");
        ASSERT_STREQ(config_get(c, VAR_MASTER_HOST), "10.0.0.9"); /* _FILE wins, as in the image */
        ASSERT_CONTAINS(c->sources[VAR_MASTER_HOST], "POSTGRESQL_MASTER_HOST_FILE");
        ASSERT_TRUE(strstr(errbuf, "Unknown") == NULL);
        config_free(c);
        free(e);
        free(f);
}

/* The image's variables pgrepl does not implement are refused by name; a false boolean asks for nothing. */
static void test_unsupported_image_variables(void) {
        static const char *const refused[] = { "POSTGRESQL_PERFORM_RESTORE=yes", "POSTGRESQL_SR_CHECK_USERNAME=x",
                                               "POSTGRES_SR_CHECK=yes", "POSTGRES_VOLUME_DIR_FILE=/v",
                                               "POSTGRESQL_SR_CHECK=yes", "POSTGRESQL_AUTOCTL_MODE=monitor",
                                               "POSTGRESQL_SR_CHECK_PASSWORD_FILE=/x", "POSTGRESQL_VOLUME_DIR=/v" };
        Config *c = NULL;

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                char *env[] = { "POSTGRESQL_PASSWORD=x", (char *) refused[i], NULL };
                char name[64];

                snprintf(name, sizeof(name), "%.*s", (int) strcspn(refused[i], "="), refused[i]);
                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), -PGREPL_E_CONFIG);
                ASSERT_CONTAINS(errbuf, name);
                ASSERT_CONTAINS(errbuf, "pgrepl does not support this variable of the image");
                ASSERT_TRUE(strstr(errbuf, "Unknown") == NULL);
        }
        {
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_PERFORM_RESTORE=no", "POSTGRESQL_SR_CHECK=false",
                                NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                config_free(c);
        }
        {
                /* A typo keeps its hint. */
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_TIMEZOEN=UTC", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                ASSERT_CONTAINS(errbuf, "did you mean POSTGRESQL_TIMEZONE?");
                config_free(c);
        }
}

/* The image's plain settings: validated here, rendered as their parameters. */
static void test_plain_settings(void) {
        static const struct { const char *env, *expect; } bad[] = {
                { "POSTGRESQL_TIMEZONE=Mars/Olympus", "POSTGRESQL_TIMEZONE='Mars/Olympus'" },
                { "POSTGRESQL_LOG_TIMEZONE=../etc/passwd", "must be a time zone of this host" },
                { "POSTGRESQL_STATEMENT_TIMEOUT=soon", "POSTGRESQL_STATEMENT_TIMEOUT='soon'" },
                { "POSTGRESQL_CLIENT_MIN_MESSAGES=loud", "must be one of debug5," },
                { "POSTGRESQL_DEFAULT_TOAST_COMPRESSION=zstd", "must be one of pglz, lz4" },
                { "POSTGRESQL_TCP_KEEPALIVES_IDLE=-1", "POSTGRESQL_TCP_KEEPALIVES_IDLE" },
                { "POSTGRESQL_LOG_CONNECTIONS=sometimes", "POSTGRESQL_LOG_CONNECTIONS" },
                { "POSTGRESQL_PGAUDIT_LOG=ddl", "needs pgaudit in POSTGRESQL_SHARED_PRELOAD_LIBRARIES" },
                { "POSTGRESQL_SHUTDOWN_MODE=smart", "always stop the server with a fast shutdown" },
                { "POSTGRESQL_PGHBA_REMOVE_FILTERS=md5,,local", "none empty" },
                { "POSTGRESQL_ENABLE_LDAP=yes", "needs POSTGRESQL_LDAP_URL or POSTGRESQL_LDAP_SERVER" },
        };
        static const char *const ldap_bad[][3] = {
                { "POSTGRESQL_LDAP_URL=ldap://a", "POSTGRESQL_LDAP_SERVER=b", "cannot be set together" },
                { "POSTGRESQL_LDAP_SERVER=a", "POSTGRESQL_LDAP_PREFIX=\"x", "must not contain a double quote" },
                { "POSTGRESQL_LDAP_PREFIX=cn=", "POSTGRESQL_LDAP_BASE_DN=dc=x", "cannot be combined" },
                { "POSTGRESQL_LDAP_SERVER=a", "POSTGRESQL_LDAP_SCHEME=ftp", "must be one of ldap, ldaps" },
        };
        Config *c = NULL;

        for (size_t i = 0; i < ELEMENTSOF(ldap_bad); i++) {
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_ENABLE_LDAP=yes", (char *) ldap_bad[i][0],
                                (char *) ldap_bad[i][1], NULL };

                if (load(ROLE_PRIMARY, empty_conf, env, &c) != -PGREPL_E_CONFIG || !strstr(errbuf, ldap_bad[i][2])) {
                        fprintf(stderr, "ldap case %zu: %s\n", i, errbuf);
                        exit(1);
                }
        }

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *env[] = { "POSTGRESQL_PASSWORD=x", (char *) bad[i].env, NULL };

                if (load(ROLE_PRIMARY, empty_conf, env, &c) != -PGREPL_E_CONFIG || !strstr(errbuf, bad[i].expect)) {
                        fprintf(stderr, "plain setting case %zu: %s\n", i, errbuf);
                        exit(1);
                }
        }
        {
                char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_TIMEZONE=Europe/Berlin",
                                "POSTGRESQL_STATEMENT_TIMEOUT=30s", "POSTGRESQL_CLIENT_MIN_MESSAGES=WARNING",
                                "POSTGRESQL_SHUTDOWN_MODE=fast", "POSTGRES_SHUTDOWN_MODE=smart", NULL };

                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), 0);
                ASSERT_STREQ(config_get(c, VAR_CLIENT_MIN_MESSAGES), "warning");
                ASSERT_STREQ(config_var_setting(VAR_TIMEZONE), "timezone");
                ASSERT_TRUE(config_var_setting(VAR_SHUTDOWN_MODE) == NULL);
                config_free(c);
        }
}

/* SPEC section 11: the failover variables, their defaults, and what etcd mode requires. */
static void test_failover(void) {
        char *plain[] = { "POSTGRESQL_PASSWORD=x", NULL };
        char *etcd[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_FAILOVER=ETCD", "POSTGRESQL_REPLICATION_USER=r",
                         "POSTGRESQL_REPLICATION_PASSWORD=p", "POSTGRESQL_PARTNER_NODES=10.0.0.1,10.0.0.2",
                         "POSTGRESQL_ETCD_HOSTS=10.0.0.9:2379, https://etcd.example:2379",
                         "POSTGRESQL_FAILOVER_TTL=6", "POSTGRESQL_MAXIMUM_LAG_ON_FAILOVER=0", NULL };
        char *no_hosts[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_FAILOVER=etcd", "POSTGRESQL_REPLICATION_USER=r",
                             "POSTGRESQL_REPLICATION_PASSWORD=p", "POSTGRESQL_PARTNER_NODES=10.0.0.1,10.0.0.2", NULL };
        char *no_partners[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_FAILOVER=etcd",
                                "POSTGRESQL_ETCD_HOSTS=http://10.0.0.9:2379", NULL };
        char *agent_on_standby[] = { "POSTGRESQL_REPLICATION_MODE=slave", "POSTGRESQL_FAILOVER=etcd",
                                     "POSTGRESQL_ETCD_HOSTS=http://10.0.0.9:2379",
                                     "POSTGRESQL_PARTNER_NODES=10.0.0.1,10.0.0.2", NULL };
        static const struct { const char *var, *value, *says; } bad[] = {
                { "POSTGRESQL_FAILOVER", "patroni", "POSTGRESQL_FAILOVER" },
                { "POSTGRESQL_ETCD_HOSTS", "ftp://h:2379", "POSTGRESQL_ETCD_HOSTS" },
                { "POSTGRESQL_ETCD_HOSTS", "h", "POSTGRESQL_ETCD_HOSTS" },
                { "POSTGRESQL_ETCD_HOSTS", "h:2379,,i:2379", "POSTGRESQL_ETCD_HOSTS" },
                { "POSTGRESQL_CLUSTER_NAME", "a/b", "POSTGRESQL_CLUSTER_NAME" },
                { "POSTGRESQL_FAILOVER_TTL", "1", "POSTGRESQL_FAILOVER_TTL" },
                { "POSTGRESQL_FAILOVER_TTL", "3601", "POSTGRESQL_FAILOVER_TTL" },
                { "POSTGRESQL_MAXIMUM_LAG_ON_FAILOVER", "1MB", "POSTGRESQL_MAXIMUM_LAG_ON_FAILOVER" },
        };
        Config *c = NULL;

        ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, plain, &c), 0);
        ASSERT_TRUE(!c->failover_etcd);
        ASSERT_STREQ(config_get(c, VAR_FAILOVER), "manual");
        ASSERT_STREQ(config_get(c, VAR_CLUSTER_NAME), "pgrepl");
        ASSERT_EQ(c->failover_ttl, 30);
        ASSERT_EQ(c->max_lag_failover, 1048576);
        c = config_free(c);

        ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, etcd, &c), 0);
        ASSERT_TRUE(c->failover_etcd);
        ASSERT_EQ(c->failover_ttl, 6);
        ASSERT_EQ(c->max_lag_failover, 0);
        c = config_free(c);

        ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, no_hosts, &c), -PGREPL_E_CONFIG);
        ASSERT_TRUE(strstr(errbuf, "POSTGRESQL_ETCD_HOSTS is not set"));
        ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, no_partners, &c), -PGREPL_E_CONFIG);
        ASSERT_TRUE(strstr(errbuf, "POSTGRESQL_PARTNER_NODES is not set"));

        /* The agent reads either mode's file, and no password. */
        ASSERT_EQ(load(ROLE_AGENT, empty_conf, agent_on_standby, &c), 0);
        ASSERT_TRUE(!c->mode_primary);
        c = config_free(c);
        ASSERT_EQ(load(ROLE_AGENT, empty_conf, etcd, &c), 0);
        ASSERT_TRUE(c->mode_primary);
        c = config_free(c);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char line[256];
                char *env[] = { "POSTGRESQL_PASSWORD=x", line, NULL };

                snprintf(line, sizeof(line), "%s=%s", bad[i].var, bad[i].value);
                ASSERT_EQ(load(ROLE_PRIMARY, empty_conf, env, &c), -PGREPL_E_CONFIG);
                ASSERT_TRUE(strstr(errbuf, bad[i].says));
        }
}

int main(void) {
        ASSERT_TRUE(mkdtemp(tmpdir));
        empty_conf = write_tmp("empty.conf", "", 0644);
        test_defaults();
        test_precedence_file_then_env();
        test_aliases();
        test_secret_files();
        test_settings_and_hba();
        test_booleans_and_enums();
        test_roles();
        test_bad_inputs();
        test_missing_named_config();
        test_distance();
        test_image_aliases_and_value_files();
        test_unsupported_image_variables();
        test_plain_settings();
        test_failover();
        free(empty_conf);
        (void) fs_remove_tree(tmpdir);
        printf("test-config: ok\n");
        return 0;
}
