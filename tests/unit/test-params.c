/* SPDX-License-Identifier: MIT */
/*
 * pg_controldata's output (LC_ALL=C) into the primary's hot-standby
 * parameters, identifier and timeline; a missing field is an error.
 */
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "params.h"

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

        ASSERT_EQ(params_parse_controldata(sample, &cd), 0);
        ASSERT_TRUE(cd.sysid == 7712069219431683293ULL);
        ASSERT_EQ(cd.timeline, 3);
        ASSERT_TRUE(cd.checkpoint_lsn == 0x5000060ULL);
        ASSERT_TRUE(cd.min_recovery_lsn == 0x50001A0ULL);
        ASSERT_EQ(cd.min_recovery_tli, 3);
        ASSERT_STREQ(params_guc(0), "max_connections");
        ASSERT_EQ(cd.values[0], 200);
        ASSERT_EQ(cd.values[1], 8);
        ASSERT_EQ(cd.values[2], 16);
        ASSERT_STREQ(params_guc(3), "max_prepared_transactions");
        ASSERT_EQ(cd.values[3], 0);
        ASSERT_STREQ(params_guc(4), "max_locks_per_transaction");
        ASSERT_EQ(cd.values[4], 64);
        ASSERT_TRUE(params_guc(PARAMS_N) == NULL);
}

static void test_missing_or_bad_field(void) {
        static const char *const drop[] = { "Database system identifier:", "Latest checkpoint's TimeLineID:",
                                            "max_connections setting:", "max_locks_per_xact setting:" };
        ControlData cd;

        for (size_t i = 0; i < ELEMENTSOF(drop); i++) {
                char *s = strdup(sample), *p = strstr(s, drop[i]);

                ASSERT_TRUE(p);
                p[0] = 'X'; /* the label no longer matches */
                ASSERT_TRUE(params_parse_controldata(s, &cd) < 0);
                free(s);
        }
        {
                char *s = strdup(sample), *p = strstr(s, "200");

                p[0] = 'x';
                ASSERT_TRUE(params_parse_controldata(s, &cd) < 0);
                free(s);
        }
        ASSERT_TRUE(params_parse_controldata("", &cd) < 0);
}

int main(void) {
        test_parse();
        test_missing_or_bad_field();
        return 0;
}
