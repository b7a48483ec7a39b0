/* SPDX-License-Identifier: MIT */
/*
 * pg_controldata's output (LC_ALL=C) into the primary's hot-standby
 * parameters, identifier, timeline and positions; a missing field is an
 * error. LSNs as PostgreSQL prints them.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void touch_in(const char *dir, const char *name) {
        char p[512];
        int fd;

        snprintf(p, sizeof(p), "%s/pg_wal/%s", dir, name);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        close(fd);
}

/* The timeline a directory's WAL shows: segments count, history files and other names do not. */
static void test_wal_timeline(void) {
        char dir[] = "/tmp/pgrepl-test-control.XXXXXX", wal[600];
        ControlData cd = { .timeline = 1, .min_recovery_tli = 0 };

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_EQ(control_wal_timeline(dir), 0); /* no pg_wal */
        snprintf(wal, sizeof(wal), "%s/pg_wal", dir);
        ASSERT_EQ(mkdir(wal, 0700), 0);
        ASSERT_EQ(control_wal_timeline(dir), 0);
        touch_in(dir, "000000010000000000000003");
        ASSERT_EQ(control_wal_timeline(dir), 1);
        /* A fetched history of a timeline with no WAL received on it: still timeline 1. */
        touch_in(dir, "00000002.history");
        touch_in(dir, "000000020000000000000003.partial");
        touch_in(dir, "00000003000000000000000X");
        ASSERT_EQ(control_wal_timeline(dir), 1);
        ASSERT_EQ(control_timeline(&cd, dir), 1);
        /* Promoted: the first segment of the new timeline is there before any checkpoint. */
        touch_in(dir, "000000020000000000000003");
        ASSERT_EQ(control_wal_timeline(dir), 2);
        ASSERT_EQ(control_timeline(&cd, dir), 2);
        cd.timeline = 4;
        ASSERT_EQ(control_timeline(&cd, dir), 4);
        cd = (ControlData) { .timeline = 1, .min_recovery_tli = 5 };
        ASSERT_EQ(control_timeline(&cd, dir), 5);
        {
                char cmd[700];

                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                ASSERT_EQ(system(cmd), 0);
        }
}

int main(void) {
        test_parse();
        test_wal_timeline();
        test_missing_or_bad_field();
        test_lsn();
        return 0;
}
