/* SPDX-License-Identifier: MIT */
/*
 * pg_controldata's output (LC_ALL=C) into the primary's hot-standby
 * parameters, identifier, timeline and positions; a missing field is an
 * error. LSNs as PostgreSQL prints them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "control.h"

static const char sample[] =
        "pg_control version number:            1300\n"
        "Database system identifier:           7712069219431683293\n"
        "Database cluster state:               in archive recovery\n"
        "Latest checkpoint location:           0/5000060\n"
        "Latest checkpoint's TimeLineID:       3\n"
        "Latest checkpoint's PrevTimeLineID:   3\n"
        "Minimum recovery ending location:     0/50001A0\n"
        "Min recovery ending loc's timeline:   3\n"
        "wal_level setting:                    replica\n"
        "max_connections setting:              200\n"
        "max_worker_processes setting:         8\n"
        "max_wal_senders setting:              16\n"
        "max_prepared_xacts setting:           0\n"
        "max_locks_per_xact setting:           64\n"
        "track_commit_timestamp setting:       off\n";

static void test_parse(void) {
        ControlData cd;

        ASSERT_EQ(control_parse(sample, &cd), 0);
        ASSERT_TRUE(cd.sysid == 7712069219431683293ULL);
        ASSERT_EQ(cd.timeline, 3);
        ASSERT_TRUE(cd.checkpoint_lsn == 0x5000060ULL);
        ASSERT_TRUE(cd.min_recovery_lsn == 0x50001A0ULL);
        ASSERT_EQ(cd.min_recovery_tli, 3);
        ASSERT_STREQ(control_param_name(0), "max_connections");
        ASSERT_EQ(cd.values[0], 200);
        ASSERT_EQ(cd.values[1], 8);
        ASSERT_EQ(cd.values[2], 16);
        ASSERT_STREQ(control_param_name(3), "max_prepared_transactions");
        ASSERT_EQ(cd.values[3], 0);
        ASSERT_STREQ(control_param_name(4), "max_locks_per_transaction");
        ASSERT_EQ(cd.values[4], 64);
        ASSERT_TRUE(control_param_name(CONTROL_N_PARAMS) == NULL);
}

static void test_lsn(void) {
        uint64_t v = 0;

        ASSERT_EQ(control_parse_lsn("16/B374D848", &v), 0);
        ASSERT_TRUE(v == 0x16B374D848ULL);
        ASSERT_EQ(control_parse_lsn("0/0", &v), 0);
        ASSERT_TRUE(v == 0);
        ASSERT_TRUE(control_parse_lsn("16B374D848", &v) < 0);
        ASSERT_TRUE(control_parse_lsn("0/3000000 ", &v) < 0);
        ASSERT_TRUE(control_parse_lsn("", &v) < 0);
        ASSERT_TRUE(control_parse_lsn(NULL, &v) < 0);
}

static void test_missing_or_bad_field(void) {
        static const char *const drop[] = { "Database system identifier:", "Latest checkpoint's TimeLineID:",
                                            "max_connections setting:", "max_locks_per_xact setting:" };
        ControlData cd;

        for (size_t i = 0; i < ELEMENTSOF(drop); i++) {
                char *s = strdup(sample), *p = strstr(s, drop[i]);

                ASSERT_TRUE(p);
                p[0] = 'X'; /* the label no longer matches */
                ASSERT_TRUE(control_parse(s, &cd) < 0);
                free(s);
        }
        {
                char *s = strdup(sample), *p = strstr(s, "200");

                p[0] = 'x';
                ASSERT_TRUE(control_parse(s, &cd) < 0);
                free(s);
        }
        ASSERT_TRUE(control_parse("", &cd) < 0);
}

int main(void) {
        test_parse();
        test_missing_or_bad_field();
        test_lsn();
        return 0;
}
