/* SPDX-License-Identifier: MIT */
/*
 * Instances from a directory of env files: listing, the role a file's mode gives, loading with
 * the units' loader, and edits that keep every other byte and the file's mode, checked before
 * anything is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "errors.h"
#include "fs.h"
#include "instance.h"
#include "macro.h"
#include "util.h"

static char dir[] = "/tmp/test-instance-XXXXXX";
static char conf[128];

#define STANDBY_ENV                                          \
        "# replica of pg1\n"                                 \
        "POSTGRESQL_REPLICATION_MODE=slave\n"                \
        "   POSTGRESQL_MASTER_HOST = pg1   \n"               \
        "POSTGRESQL_REPLICATION_USER=repl\n"                 \
        "POSTGRESQL_REPLICATION_PASSWORD='s3cret $x'\n"      \
        "; trailing comment\n"

static void write_file(const char *name, const char *text, mode_t mode) {
        _cleanup_free_ char *p = path_join(dir, name);

        ASSERT_EQ(fs_write_atomic(p, text, mode), 0);
}

static void test_role(void) {
        static const struct {
                const char *text;
                Role role;
        } cases[] = {
                { "POSTGRESQL_REPLICATION_MODE=master\n", ROLE_PRIMARY },
                { "POSTGRESQL_REPLICATION_MODE=Primary\n", ROLE_PRIMARY },
                { "POSTGRESQL_REPLICATION_MODE=slave\n", ROLE_STANDBY },
                { "POSTGRESQL_REPLICATION_MODE=STANDBY\n", ROLE_STANDBY },
                { "POSTGRES_REPLICATION_MODE=slave\n", ROLE_STANDBY },
                { "POSTGRESQL_MASTER_HOST=pg1\n", ROLE_STANDBY },
                { "POSTGRESQL_PASSWORD=x\n", ROLE_PRIMARY },
                { "", ROLE_PRIMARY },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                EnvFile f = {};

                ASSERT_EQ(envfile_parse(cases[i].text, &f, NULL), 0);
                ASSERT_EQ(instance_role(&f), cases[i].role);
                envfile_done(&f);
        }
}

static void test_list_and_load(void) {
        _cleanup_strv_free_ char **names = NULL;
        Instance i = {};

        write_file("b.env", STANDBY_ENV, 0640);
        write_file("a.env", "POSTGRESQL_PASSWORD=pw\nPOSTGRESQL_PORT_NUMBER=5433\n", 0600);
        write_file("bad name.env", "", 0600);
        write_file("c.envx", "", 0600);
        write_file("broken.env", "POSTGRESQL_REPLICATION_MODE=slave\n", 0600);
        ASSERT_EQ(instance_list(&names), 0);
        ASSERT_EQ(strv_length(names), 3);
        ASSERT_STREQ(names[0], "a");
        ASSERT_STREQ(names[1], "b");
        ASSERT_STREQ(names[2], "broken");

        ASSERT_EQ(instance_load("a", conf, true, &i), 0);
        ASSERT_EQ(i.role, ROLE_PRIMARY);
        ASSERT_EQ(i.config->port, 5433);
        ASSERT_CONTAINS(i.config->sources[VAR_PASSWORD], "/a.env");
        instance_done(&i);
        ASSERT_EQ(instance_load("b", conf, false, &i), 0);
        ASSERT_EQ(i.role, ROLE_STANDBY);
        ASSERT_STREQ(config_get(i.config, VAR_MASTER_HOST), "pg1");
        ASSERT_STREQ(config_get(i.config, VAR_REPLICATION_PASSWORD), "s3cret $x");
        instance_done(&i);
        ASSERT_EQ(instance_load("nope", conf, true, &i), -ENOENT);
        ASSERT_EQ(instance_load("broken", conf, true, &i), -PGREPL_E_CONFIG);
}

static void test_edit(void) {
        _cleanup_free_ char *path = path_join(dir, "b.env"), *text = NULL;
        const char *names[] = { "POSTGRESQL_MASTER_HOST", "POSTGRESQL_MASTER_PORT_NUMBER", NULL };
        const char *values[] = { "10.0.0.9", "5433", NULL };
        const char *bad[] = { "POSTGRESQL_MASTER_PORT_NUMBER", NULL }, *bad_values[] = { "0", NULL };
        Instance i = {};
        struct stat st;

        ASSERT_EQ(instance_load("b", conf, false, &i), 0);
        /* A dry run and a change the standby unit would refuse write nothing. */
        ASSERT_EQ(instance_edit(&i, ROLE_STANDBY, conf, names, values, true), 0);
        ASSERT_EQ(instance_edit(&i, ROLE_STANDBY, conf, bad, bad_values, false), -PGREPL_E_CONFIG);
        ASSERT_EQ(fs_read_file(path, &text), 0);
        ASSERT_STREQ(text, STANDBY_ENV);
        free(TAKE_PTR(text));

        ASSERT_EQ(instance_edit(&i, ROLE_STANDBY, conf, names, values, false), 0);
        ASSERT_EQ(fs_read_file(path, &text), 0);
        ASSERT_STREQ(text, "# replica of pg1\n"
                           "POSTGRESQL_REPLICATION_MODE=slave\n"
                           "   POSTGRESQL_MASTER_HOST=10.0.0.9\n"
                           "POSTGRESQL_REPLICATION_USER=repl\n"
                           "POSTGRESQL_REPLICATION_PASSWORD='s3cret $x'\n"
                           "; trailing comment\n"
                           "POSTGRESQL_MASTER_PORT_NUMBER=5433\n");
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0640);
        ASSERT_EQ(i.config->master_port, 5433);
        instance_done(&i);
}

int main(void) {
        _cleanup_free_ char *cleanup = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        snprintf(conf, sizeof(conf), "%s/pgrepl.conf", dir);
        write_file("pgrepl.conf", "", 0644);
        setenv("PGREPL_CONFDIR", dir, 1);
        test_role();
        test_list_and_load();
        test_edit();
        ASSERT_TRUE(asprintf(&cleanup, "rm -rf -- '%s'", dir) > 0);
        return system(cleanup) == 0 ? 0 : 1;
}
