/* SPDX-License-Identifier: MIT */
/*
 * The primary's side of the partners (fence.c) without a server: which
 * partners' slots a data directory lacks (pg_replslot), never this node's
 * own, none without partners or with POSTGRESQL_REPLICATION_SLOT=off; and
 * that without partners the fence asks nobody.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "assert.h"
#include "config.h"
#include "fence.h"
#include "macro.h"

static Config *load(const char *partners, const char *slot) {
        char p[256], s[64];
        char *env[] = { "POSTGRESQL_PASSWORD=x", "POSTGRESQL_REPLICATION_USER=repl",
                        "POSTGRESQL_REPLICATION_PASSWORD=y", "POSTGRESQL_PORT_NUMBER=5433", p, s, NULL };
        Config *c = NULL;

        snprintf(p, sizeof(p), "POSTGRESQL_PARTNER_NODES=%s", partners ? partners : "");
        snprintf(s, sizeof(s), "POSTGRESQL_REPLICATION_SLOT=%s", slot);
        ASSERT_EQ(config_load(ROLE_PRIMARY, "main", "/dev/null", env, &c), 0);
        return c;
}

static void test_missing_slots(void) {
        char dir[] = "/tmp/pgrepl-test-fence.XXXXXX", sub[600];
        Config *c;
        char **v = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        snprintf(sub, sizeof(sub), "%s/pg_replslot", dir);
        ASSERT_EQ(mkdir(sub, 0700), 0);

        /* 127.0.0.1:5433 is this node (its port, an address of this host). */
        c = load("192.0.2.1:5432,127.0.0.1:5433,192.0.2.2:5432", "on");
        ASSERT_EQ(c->partners.self, 1);
        ASSERT_EQ(fence_missing_slots(c, dir, &v), 0);
        ASSERT_STREQ(v[0], "pgrepl_192_0_2_1_5432");
        ASSERT_STREQ(v[1], "pgrepl_192_0_2_2_5432");
        ASSERT_TRUE(v[2] == NULL);
        strv_freep(&v);

        snprintf(sub, sizeof(sub), "%s/pg_replslot/pgrepl_192_0_2_1_5432", dir);
        ASSERT_EQ(mkdir(sub, 0700), 0);
        ASSERT_EQ(fence_missing_slots(c, dir, &v), 0);
        ASSERT_STREQ(v[0], "pgrepl_192_0_2_2_5432");
        ASSERT_TRUE(v[1] == NULL);
        strv_freep(&v);
        config_free(c);

        c = load("192.0.2.1:5432,127.0.0.1:5433", "off");
        ASSERT_EQ(fence_missing_slots(c, dir, &v), 0);
        ASSERT_TRUE(v[0] == NULL);
        strv_freep(&v);
        config_free(c);

        c = load(NULL, "on");
        ASSERT_EQ(fence_missing_slots(c, dir, &v), 0);
        ASSERT_TRUE(v[0] == NULL);
        strv_freep(&v);
        /* No partners: nothing to ask, whatever the directory is. */
        {
                DataDir d = { .kind = DATADIR_PRIMARY, .path = dir };

                ASSERT_EQ(fence_check(c, &d), 0);
        }
        config_free(c);
        {
                char cmd[700];

                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                ASSERT_EQ(system(cmd), 0);
        }
}

int main(void) {
        test_missing_slots();
        return 0;
}
