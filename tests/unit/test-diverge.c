/* SPDX-License-Identifier: MIT */
/*
 * A standby that replayed past a newer timeline's fork, told from the
 * history files its WAL receiver fetched and the segments it holds: a
 * certain verdict or none. The record the watcher leaves for the standby's
 * next start, and back.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "diverge.h"
#include "macro.h"

static void write_in(const char *dir, const char *name, const char *text) {
        char p[512];
        FILE *f;

        snprintf(p, sizeof(p), "%s/pg_wal/%s", dir, name);
        f = fopen(p, "we");
        ASSERT_TRUE(f);
        fputs(text, f);
        fclose(f);
}

static void unlink_in(const char *dir, const char *name) {
        char p[512];

        snprintf(p, sizeof(p), "%s/pg_wal/%s", dir, name);
        ASSERT_EQ(unlink(p), 0);
}

static void test_check(void) {
        char dir[] = "/tmp/pgrepl-test-diverge.XXXXXX", wal[600], cmd[700];
        Divergence d = {};

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_EQ(diverge_check(dir, 0x3000200, &d), 0); /* no pg_wal */
        snprintf(wal, sizeof(wal), "%s/pg_wal", dir);
        ASSERT_EQ(mkdir(wal, 0700), 0);
        /* A history file but no segment: the timeline is not known. */
        write_in(dir, "00000002.history", "1\t0/3000148\tno recovery target specified\n");
        ASSERT_EQ(diverge_check(dir, 0x3000200, &d), 0);
        write_in(dir, "000000010000000000000003", "");
        /* At or before the fork: it crosses to timeline 2 by itself. */
        ASSERT_EQ(diverge_check(dir, 0x3000148, &d), 0);
        ASSERT_EQ(diverge_check(dir, 0x3000100, &d), 0);
        /* Past it: it cannot. */
        ASSERT_EQ(diverge_check(dir, 0x3000200, &d), 1);
        ASSERT_EQ(d.tli, 1u);
        ASSERT_EQ(d.newer, 2u);
        ASSERT_EQ(d.fork, 0x3000148u);
        ASSERT_EQ(d.replayed, 0x3000200u);
        /* Only the newest timeline is judged: timeline 3 forks off 1 after this position, so the
         * standby can follow it, whatever the older sibling timeline 2 says. */
        write_in(dir, "00000003.history", "1\t0/3000300\tno recovery target specified\n");
        write_in(dir, "0000000X.history", "1\t0/1\tx\n");
        ASSERT_EQ(diverge_check(dir, 0x3000200, &d), 0);
        ASSERT_EQ(diverge_check(dir, 0x3000301, &d), 1);
        ASSERT_EQ(d.newer, 3u);
        ASSERT_EQ(d.fork, 0x3000300u);
        /* A newest timeline whose history leaves timeline 1 out makes no claim. */
        write_in(dir, "00000004.history", "# nothing of timeline 1\n7\t0/1000000\tx\n");
        ASSERT_EQ(diverge_check(dir, 0x3000301, &d), 0);
        unlink_in(dir, "00000004.history");
        write_in(dir, "00000003.history", "1\t0/3000148\tno recovery target specified\n"
                                          "2\t0/5000000\tno recovery target specified\n");
        ASSERT_EQ(diverge_check(dir, 0x3000200, &d), 1);
        ASSERT_EQ(d.newer, 3u);
        /* On timeline 2 already (a segment of it), before timeline 3's fork at 0/5000000: fine. */
        write_in(dir, "000000020000000000000004", "");
        ASSERT_EQ(diverge_check(dir, 0x4000200, &d), 0);
        ASSERT_EQ(diverge_check(dir, 0x5000001, &d), 1);
        ASSERT_EQ(d.tli, 2u);
        ASSERT_EQ(d.newer, 3u);
        ASSERT_EQ(d.fork, 0x5000000u);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ASSERT_EQ(system(cmd), 0);
}

static void test_record(void) {
        Divergence d = { .tli = 1, .replayed = 0x3000200, .newer = 2, .fork = 0x3000148 }, back = {};
        char buf[96], small[8];

        ASSERT_EQ(diverge_format(&d, buf, sizeof(buf)), 0);
        ASSERT_STREQ(buf, "1 0/3000200 2 0/3000148\n");
        ASSERT_EQ(diverge_parse(buf, &back), 0);
        ASSERT_EQ(back.tli, 1u);
        ASSERT_EQ(back.replayed, 0x3000200u);
        ASSERT_EQ(back.newer, 2u);
        ASSERT_EQ(back.fork, 0x3000148u);
        ASSERT_TRUE(diverge_format(&d, small, sizeof(small)) < 0);
        /* Malformed, or not a divergence at all: refused. */
        ASSERT_EQ(diverge_parse("", &back), -EBADMSG);
        ASSERT_EQ(diverge_parse("1 0/3000200 2 0/3000148", &back), -EBADMSG);
        ASSERT_EQ(diverge_parse("1 0/3000200 2 0/3000148\nmore", &back), 0);
        ASSERT_EQ(diverge_parse("1 0/3000200 1 0/3000148\n", &back), -EBADMSG);
        ASSERT_EQ(diverge_parse("1 0/3000100 2 0/3000148\n", &back), -EBADMSG);
        ASSERT_EQ(diverge_parse("1 zz 2 0/3000148\n", &back), -EBADMSG);
        ASSERT_EQ(diverge_read("/nonexistent/pgrepl-rejoin-seen", &back), 0);
}

int main(void) {
        test_check();
        test_record();
        return 0;
}
