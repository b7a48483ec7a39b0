/* SPDX-License-Identifier: MIT */
/*
 * The failover agent's member records (JSON both ways) and the election's
 * rules: synchronous commit makes only the last primary's synchronous
 * standbys eligible, otherwise the lag bound applies; the most advanced
 * eligible member goes first, ties to the lower name; a switchover names
 * its one candidate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "member.h"

static Member mk(const char *name, MemberRole role, uint64_t lsn) {
        Member m = { .role = role, .lsn = lsn, .sysid = 42, .timeline = 1 };

        snprintf(m.name, sizeof(m.name), "%s", name);
        return m;
}

static void test_json_round_trip(void) {
        Member p = mk("10.0.0.1:5432", MEMBER_PRIMARY, 0x3000148), q;
        char *json = NULL;

        p.timeline = 3;
        p.time = 1700000000;
        strcpy(p.sync[p.n_sync++], "10.0.0.2:5432");
        ASSERT_EQ(member_to_json(&p, &json), 0);
        ASSERT_TRUE(strstr(json, "\"lsn\":\"0/3000148\""));
        ASSERT_TRUE(strstr(json, "\"sync\":[\"10.0.0.2:5432\"]"));
        ASSERT_EQ(member_from_json("10.0.0.1:5432", json, &q), 0);
        ASSERT_EQ(q.role, MEMBER_PRIMARY);
        ASSERT_EQ(q.timeline, 3);
        ASSERT_EQ(q.lsn, 0x3000148);
        ASSERT_EQ(q.sysid, 42);
        ASSERT_EQ(q.n_sync, 1);
        ASSERT_TRUE(member_lists_sync(&q, "10.0.0.2:5432"));
        ASSERT_TRUE(!member_lists_sync(&q, "10.0.0.3:5432"));
        free(json);

        /* What is not one of ours is refused, not half read. */
        ASSERT_EQ(member_from_json("x", "not json", &q), -EBADMSG);
        ASSERT_EQ(member_from_json("x", "{\"role\":\"king\",\"lsn\":\"0/1\"}", &q), -EBADMSG);
        ASSERT_EQ(member_from_json("x", "{\"role\":\"standby\",\"lsn\":\"zz\"}", &q), -EBADMSG);
        ASSERT_EQ(member_from_json("x", "{\"role\":\"standby\",\"lsn\":\"0/1\",\"timeline\":-1}", &q), -EBADMSG);
        ASSERT_EQ(member_from_json("x", "{\"role\":\"primary\",\"lsn\":\"0/1\",\"sync\":[1]}", &q), -EBADMSG);
        ASSERT_EQ(member_from_json("x", "[]", &q), -EBADMSG);
}

static void test_sync_record(void) {
        Member p = mk("10.0.0.1:5432", MEMBER_PRIMARY, 0x5000000), q;
        char *a = NULL, *b = NULL, name[MEMBER_NAME_MAX];

        strcpy(p.sync[p.n_sync++], "10.0.0.2:5432");
        p.time = 1700000000;
        ASSERT_EQ(member_to_sync_json(&p, &a), 0);
        /* The record changes with the list, not with the position or the time. */
        p.lsn += 100;
        p.time += 5;
        ASSERT_EQ(member_to_sync_json(&p, &b), 0);
        ASSERT_STREQ(a, b);
        ASSERT_EQ(member_sync_owner(a, name, sizeof(name)), 0);
        ASSERT_STREQ(name, "10.0.0.1:5432");
        ASSERT_EQ(member_from_json(name, a, &q), 0);
        ASSERT_TRUE(member_lists_sync(&q, "10.0.0.2:5432"));
        ASSERT_EQ(member_sync_owner("{\"sync\":[]}", name, sizeof(name)), -EBADMSG);
        free(a);
        free(b);
}

static void test_switchover_target(void) {
        char *to = NULL;

        ASSERT_EQ(member_switchover_target("{\"to\":\"10.0.0.2:5432\",\"from\":\"10.0.0.1:5432\"}", &to), 0);
        ASSERT_STREQ(to, "10.0.0.2:5432");
        free(to);
        ASSERT_EQ(member_switchover_target("{\"from\":\"a\"}", &to), -EBADMSG);
        ASSERT_EQ(member_switchover_target("{\"to\":\"\"}", &to), -EBADMSG);
        ASSERT_EQ(member_switchover_target("garbage", &to), -EBADMSG);
}

static void test_async_election(void) {
        Member lp = mk("p:5432", MEMBER_PRIMARY, 10000000);
        Member ms[] = { mk("a:5432", MEMBER_STANDBY, 9999000), mk("b:5432", MEMBER_STANDBY, 9999500),
                        mk("c:5432", MEMBER_STANDBY, 1000) };
        ElectInput in = { .members = ms, .n_members = ELEMENTSOF(ms), .last_primary = &lp, .max_lag = 1048576 };
        const char *why = NULL;

        /* b has more WAL: a waits, b takes. */
        in.self = "a:5432";
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_WAIT);
        in.self = "b:5432";
        ASSERT_EQ(elect_decide(&in, &ms[1], &why), ELECT_TAKE);
        /* c is too far behind to take over at all, even after the grace. */
        in.self = "c:5432";
        in.grace_over = true;
        ASSERT_EQ(elect_decide(&in, &ms[2], &why), ELECT_INELIGIBLE);
        ASSERT_TRUE(strstr(why, "MAXIMUM_LAG_ON_FAILOVER"));
        /* After the grace, a does not wait for b any longer (b may be gone). */
        in.self = "a:5432";
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_TAKE);
        in.grace_over = false;

        /* Ties go to the lower name. */
        ms[0].lsn = ms[1].lsn;
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_TAKE);
        in.self = "b:5432";
        ASSERT_EQ(elect_decide(&in, &ms[1], &why), ELECT_WAIT);

        /* A member that is not a running standby never takes over, nor one of another system. */
        Member down = mk("d:5432", MEMBER_DOWN, 99999999), other = mk("e:5432", MEMBER_STANDBY, 10000000);

        other.sysid = 7;
        in.self = "d:5432";
        ASSERT_EQ(elect_decide(&in, &down, &why), ELECT_INELIGIBLE);
        in.self = "e:5432";
        ASSERT_EQ(elect_decide(&in, &other, &why), ELECT_INELIGIBLE);

        /* Without a last primary seen, the lag cannot be told: any running standby may. */
        in.last_primary = NULL;
        in.self = "c:5432";
        ASSERT_TRUE(elect_ineligible_why(&in, &ms[2]) == NULL);
}

static void test_sync_election(void) {
        Member lp = mk("p:5432", MEMBER_PRIMARY, 10000000);
        Member ms[] = { mk("a:5432", MEMBER_STANDBY, 10000000), mk("b:5432", MEMBER_STANDBY, 10000100) };
        ElectInput in = { .members = ms, .n_members = ELEMENTSOF(ms), .last_primary = &lp, .sync_mode = true,
                          .max_lag = 1048576 };
        const char *why = NULL;

        strcpy(lp.sync[lp.n_sync++], "a:5432");
        /* c received more than b, but only a was synchronous and b is behind it: not eligible. */
        Member c = mk("c:5432", MEMBER_STANDBY, 9999999);

        in.self = "c:5432";
        in.grace_over = true;
        ASSERT_EQ(elect_decide(&in, &c, &why), ELECT_INELIGIBLE);
        ASSERT_TRUE(strstr(why, "synchronous"));
        in.self = "a:5432";
        in.grace_over = false;
        ms[1].lsn = 9999999;
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_TAKE);
        ms[1].lsn = 10000100;
        /* The list may be a moment old: b, with at least as much WAL as the listed a, may take over, and
         * goes first since it has more; but only against a's position published after the key went. */
        in.self = "b:5432";
        in.grace_over = false;
        in.fresh_after = 5;
        ms[0].revision = 5;
        ASSERT_TRUE(elect_ineligible_why(&in, &ms[1]) != NULL);
        ms[0].revision = 6;
        ASSERT_TRUE(elect_ineligible_why(&in, &ms[1]) == NULL);
        ASSERT_EQ(elect_decide(&in, &ms[1], &why), ELECT_TAKE);
        in.self = "a:5432";
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_WAIT);
        /* a is listed: after the grace it goes, b may be gone. b, eligible by its position alone, never
         * goes before a better member, grace or not. */
        in.grace_over = true;
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_TAKE);
        ms[0].lsn = ms[1].lsn + 1;
        in.self = "b:5432";
        ASSERT_TRUE(elect_ineligible_why(&in, &ms[1]) != NULL);
        ms[0].lsn = 10000000;
        in.grace_over = false;
        ms[1].lsn = ms[0].lsn - 1;
        ASSERT_TRUE(elect_ineligible_why(&in, &ms[1]) != NULL);
        /* With the listed standby gone, an unlisted one never takes over: it may lack acknowledged commits. */
        ms[1].lsn = ms[0].lsn + 100;
        ms[0].role = MEMBER_DOWN;
        ASSERT_TRUE(elect_ineligible_why(&in, &ms[1]) != NULL);
        ms[0].role = MEMBER_STANDBY;
        /* Never having seen the last primary's list, nobody is eligible in synchronous mode. */
        in.last_primary = NULL;
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_INELIGIBLE);
}

static void test_switchover_election(void) {
        Member ms[] = { mk("a:5432", MEMBER_STANDBY, 100), mk("b:5432", MEMBER_STANDBY, 200) };
        ElectInput in = { .members = ms, .n_members = ELEMENTSOF(ms), .switchover_to = "a:5432" };
        const char *why = NULL;

        in.self = "a:5432";
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_TAKE);
        in.self = "b:5432";
        ASSERT_EQ(elect_decide(&in, &ms[1], &why), ELECT_WAIT);
        /* After the grace the target may be gone: the others race as usual. */
        in.grace_over = true;
        ASSERT_EQ(elect_decide(&in, &ms[1], &why), ELECT_TAKE);
        /* A target is held to the same rules: an ineligible one never takes over. */
        Member lp = mk("p:5432", MEMBER_PRIMARY, 300);

        strcpy(lp.sync[lp.n_sync++], "b:5432");
        in.last_primary = &lp;
        in.sync_mode = true;
        in.grace_over = false;
        in.self = "a:5432";
        ASSERT_EQ(elect_decide(&in, &ms[0], &why), ELECT_INELIGIBLE);
}

int main(void) {
        test_json_round_trip();
        test_switchover_target();
        test_sync_record();
        test_async_election();
        test_sync_election();
        test_switchover_election();
        printf("test-member: ok\n");
        return 0;
}
