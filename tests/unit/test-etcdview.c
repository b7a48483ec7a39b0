/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl status` in etcd mode: the keys of one prefix read sorted into the leader key, the
 * switchover request and the members (each parsed when it is a member record), without etcd.
 */
#include <string.h>

#include "assert.h"
#include "etcdview.h"

#define KV(k, v, l) { .key = (char *) (k), .value = (char *) (v), .lease = (l) }

static void test_fill(void) {
        const EtcdKV kvs[] = {
                KV("/pgrepl/main/leader", "10.0.0.1:5432", 0x7fab),
                KV("/pgrepl/main/members/10.0.0.1:5432",
                   "{\"role\":\"primary\",\"timeline\":3,\"lsn\":\"0/3000148\",\"system\":\"7\","
                   "\"sync\":[\"10.0.0.2:5432\",\"10.0.0.3:5432\"],\"time\":1700000000}", 0x7fab),
                KV("/pgrepl/main/members/10.0.0.2:5432",
                   "{\"role\":\"standby\",\"timeline\":3,\"lsn\":\"0/3000000\",\"streaming\":true}", 0x1),
                KV("/pgrepl/main/members/10.0.0.3:5432", "{\"role\":\"boss\",\"lsn\":\"0/1\"}", 0),
                KV("/pgrepl/main/members/a/b", "{}", 0),   /* not a member key */
                KV("/pgrepl/main/members/", "{}", 0),
                KV("/pgrepl/main/switchover", "{\"to\":\"10.0.0.2:5432\",\"from\":\"10.0.0.1:5432\"}", 0x9),
                KV("/pgrepl/main/other", "x", 0),
                KV("/pgrepl/mainx/leader", "elsewhere", 0),
        };
        EtcdView v = { .prefix = strdup("/pgrepl/main/") };

        ASSERT_EQ(etcdview_fill(&v, kvs, sizeof(kvs) / sizeof(kvs[0])), 0);
        ASSERT_STREQ(v.leader, "10.0.0.1:5432");
        ASSERT_EQ(v.leader_lease, 0x7fab);
        ASSERT_STREQ(v.switchover, "{\"to\":\"10.0.0.2:5432\",\"from\":\"10.0.0.1:5432\"}");
        ASSERT_EQ(v.n_members, 3);

        ASSERT_STREQ(v.members[0].name, "10.0.0.1:5432");
        ASSERT_TRUE(v.members[0].parsed);
        ASSERT_STREQ(v.members[0].role, "primary");
        ASSERT_EQ(v.members[0].timeline, 3);
        ASSERT_EQ(v.members[0].lsn, 0x3000148);
        ASSERT_EQ(v.members[0].time, 1700000000);
        ASSERT_EQ(v.members[0].lease, 0x7fab);
        ASSERT_STREQ(v.members[0].sync[0], "10.0.0.2:5432");
        ASSERT_STREQ(v.members[0].sync[1], "10.0.0.3:5432");
        ASSERT_TRUE(!v.members[0].sync[2]);

        ASSERT_TRUE(v.members[1].parsed);
        ASSERT_STREQ(v.members[1].role, "standby");
        ASSERT_TRUE(!v.members[1].sync);
        ASSERT_EQ(v.members[1].time, 0);

        /* Not a member record: kept as stored, nothing made up. */
        ASSERT_STREQ(v.members[2].name, "10.0.0.3:5432");
        ASSERT_TRUE(!v.members[2].parsed && !v.members[2].role && !v.members[2].sync);
        ASSERT_STREQ(v.members[2].value, "{\"role\":\"boss\",\"lsn\":\"0/1\"}");
        etcd_view_done(&v);
}

static void test_empty(void) {
        EtcdView v = { .prefix = strdup("/pgrepl/main/") };

        ASSERT_EQ(etcdview_fill(&v, NULL, 0), 0);
        ASSERT_TRUE(!v.leader && !v.switchover && v.n_members == 0);
        etcd_view_done(&v);
}

int main(void) {
        test_fill();
        test_empty();
        return 0;
}
