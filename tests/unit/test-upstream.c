/* SPDX-License-Identifier: MIT */
/*
 * The standby's view of its primary: default slot names (unique
 * per machine and instance, valid, at most 63 bytes, recorded in the state
 * directory), the conninfo (passfile=,
 * never a password; parsed back by libpq) and the passfile (0600, fields
 * escaped, any password).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "config.h"
#include "fs.h"
#include "macro.h"
#include "upstream.h"

static bool valid_slot(const char *s) {
        if (strlen(s) == 0 || strlen(s) > 63)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

static void test_slot_names(void) {
        static const struct { const char *host, *instance, *expect; } cases[] = {
                { "db1", "main", "pgrepl_db1_main" },
                { "DB-1.example.com", "replica@2", "pgrepl_db_1_example_com_replica_2" },
                { "höst", "a.b", "pgrepl_h__st_a_b" },
        };
        char long_host[80], *a, *b;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = NULL;

                ASSERT_EQ(upstream_slot_name(cases[i].host, cases[i].instance, &s), 0);
                ASSERT_STREQ(s, cases[i].expect);
                ASSERT_TRUE(valid_slot(s));
                free(s);
        }
        /* Long names: cut to 63 with a hash of the whole, so instances still differ. */
        memset(long_host, 'h', sizeof(long_host) - 1);
        long_host[sizeof(long_host) - 1] = 0;
        ASSERT_EQ(upstream_slot_name(long_host, "replica1", &a), 0);
        ASSERT_EQ(upstream_slot_name(long_host, "replica2", &b), 0);
        ASSERT_TRUE(valid_slot(a) && valid_slot(b));
        ASSERT_EQ(strlen(a), 63);
        ASSERT_TRUE(!streq(a, b));
        free(a);
        free(b);
}

static const char *nasty_pw = "pa'ss\\wo rd:\"ü€;$x";

static Config *load(const char *state_dir) {
        char *env[] = { "POSTGRESQL_MASTER_HOST=db.example", "POSTGRESQL_MASTER_PORT_NUMBER=6543",
                        "POSTGRESQL_REPLICATION_USER=re pl'x", NULL, NULL };
        char pw[128];
        Config *c = NULL;

        snprintf(pw, sizeof(pw), "POSTGRESQL_REPLICATION_PASSWORD=%s", nasty_pw);
        env[3] = pw;
        setenv("STATE_DIRECTORY", state_dir, 1);
        ASSERT_EQ(config_load(ROLE_STANDBY, "sb1", NULL, env, &c), 0);
        return c;
}

static void test_conninfo_and_passfile(void) {
        char dir[] = "/tmp/pgrepl-test-upstream-XXXXXX", path[128];
        _cleanup_free_ char *ci = NULL, *content = NULL;
        PQconninfoOption *opts;
        Upstream u;
        Config *c;
        struct stat st;
        bool saw_passfile = false;

        ASSERT_TRUE(mkdtemp(dir));
        c = load(dir);
        ASSERT_EQ(upstream_init(c, true, &u), 0);
        ASSERT_STREQ(u.display, "db.example:6543");
        ASSERT_TRUE(u.slot && strncmp(u.slot, "pgrepl_", 7) == 0 && strstr(u.slot, "_sb1"));

        ci = upstream_conninfo(&u, "app 'one'");
        ASSERT_TRUE(ci);
        ASSERT_TRUE(!strstr(ci, "pa'ss") && !strstr(ci, "password"));
        opts = PQconninfoParse(ci, NULL);
        ASSERT_TRUE(opts);
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (!o->val)
                        continue;
                if (streq(o->keyword, "user"))
                        ASSERT_STREQ(o->val, "re pl'x");
                if (streq(o->keyword, "application_name"))
                        ASSERT_STREQ(o->val, "app 'one'");
                if (streq(o->keyword, "connect_timeout"))
                        ASSERT_STREQ(o->val, "5");
                if (streq(o->keyword, "keepalives"))
                        ASSERT_STREQ(o->val, "1");
                if (streq(o->keyword, "passfile")) {
                        snprintf(path, sizeof(path), "%s/passfile", dir);
                        ASSERT_STREQ(o->val, path);
                        saw_passfile = true;
                }
        }
        PQconninfoFree(opts);
        ASSERT_TRUE(saw_passfile);

        ASSERT_EQ(upstream_write_passfile(&u), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_EQ(fs_read_file(path, &content), 0);
        /* Any host and port: it also matches when libpq spells the primary otherwise. */
        ASSERT_STREQ(content, "*:*:*:re pl'x:pa'ss\\\\wo rd\\:\"ü€;$x\n");

        unlink(path);
        rmdir(dir);
        upstream_done(&u);
        config_free(c);
}

/* The default slot: a first clone names it by this machine's id and the instance, and records it;
 * later starts read it back (a renamed host keeps its slot); a standby of an older pgrepl, with no
 * record, keeps its host-name slot. */
static void test_default_slot_recorded(void) {
        char dir[] = "/tmp/pgrepl-test-upstream-XXXXXX", path[128], host[256] = "";
        _cleanup_free_ char *machine = NULL, *by_host = NULL, *a = NULL, *b = NULL, *c_ = NULL, *text = NULL;
        Config *c;

        ASSERT_TRUE(mkdtemp(dir));
        c = load(dir);
        snprintf(path, sizeof(path), "%s/slot", dir);
        ASSERT_EQ(upstream_slot_name_machine("sb1", &machine), 0);
        ASSERT_TRUE(valid_slot(machine) && strncmp(machine, "pgrepl_", 7) == 0 && strlen(machine) == 7 + 16 + 4);
        ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
        ASSERT_EQ(upstream_slot_name(host, "sb1", &by_host), 0);

        /* First clone: the machine's name, recorded. */
        ASSERT_EQ(upstream_default_slot(c, true, &a), 0);
        ASSERT_STREQ(a, machine);
        ASSERT_EQ(fs_read_file(path, &text), 0);
        ASSERT_TRUE(strncmp(text, machine, strlen(machine)) == 0 && text[strlen(machine)] == '\n');
        /* Later starts (and a later re-clone) read it back, whatever the host name says. */
        ASSERT_EQ(upstream_default_slot(c, false, &b), 0);
        ASSERT_STREQ(b, machine);
        ASSERT_EQ(fs_write_atomic(path, "pgrepl_renamed_host_sb1\n", 0644), 0);
        ASSERT_EQ(upstream_default_slot(c, true, &c_), 0);
        ASSERT_STREQ(c_, "pgrepl_renamed_host_sb1");
        free(c_);
        c_ = NULL;
        /* An existing standby without a record keeps the host-name slot it was made with. */
        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(upstream_default_slot(c, false, &c_), 0);
        ASSERT_STREQ(c_, by_host);
        free(text);
        ASSERT_EQ(fs_read_file(path, &text), 0);
        ASSERT_TRUE(strncmp(text, by_host, strlen(by_host)) == 0);
        /* A record that is not a slot name is refused, not replaced. */
        ASSERT_EQ(fs_write_atomic(path, "x'; drop\n", 0644), 0);
        free(c_);
        c_ = NULL;
        ASSERT_TRUE(upstream_default_slot(c, true, &c_) < 0);
        ASSERT_TRUE(!c_);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(rmdir(dir), 0);
        config_free(c);
}

int main(void) {
        test_slot_names();
        test_conninfo_and_passfile();
        test_default_slot_recorded();
        return 0;
}
