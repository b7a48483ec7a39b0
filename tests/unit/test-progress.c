/* SPDX-License-Identifier: MIT */
/*
 * pg_basebackup's stderr: its progress lines (as -P writes them when stderr
 * is not a terminal, with and without --verbose), its phase lines, the
 * extension policy and the STATUS= text.
 */
#include <stdint.h>
#include <stdlib.h>

#include "assert.h"
#include "progress.h"
#include "macro.h"

static void test_progress(void) {
        static const struct {
                const char *line;
                int r;
                uint64_t done, total;
                unsigned pct;
        } cases[] = {
                { "23169/23169 kB (100%), 1/1 tablespace", 0, 23169, 23169, 100 },
                { "     0/1119311 kB (0%), 0/1 tablespace", 0, 0, 1119311, 0 },
                { "  421888/1119311 kB (37%), 0/1 tablespace (/var/lib/x.pgrepl-clone/base/5/16398)", 0, 421888,
                  1119311, 37 },
                { "1234/1000 kB (100%), 0/2 tablespaces", 0, 1234, 1000, 100 },
                { "12/34 kB (5%), 0/1 Tablespace", 0, 12, 34, 5 }, /* a translation: only numbers count */
                { "pg_basebackup: checkpoint completed", -1 },
                { "pg_basebackup: error: could not connect to server", -1 },
                { "", -1 },
                { "12/ kB (5%)", -1 },
                { "12/34 kB", -1 },
                { "12/34 kB (x%)", -1 },
                { "12/34 kB (101%)", -1 },
                { "/34 kB (5%)", -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t done = 77, total = 77;
                unsigned pct = 77;
                int r = progress_parse(cases[i].line, &done, &total, &pct);

                if (cases[i].r < 0) {
                        ASSERT_TRUE(r < 0);
                        ASSERT_EQ(done, 77); /* outputs untouched on failure */
                        continue;
                }
                ASSERT_EQ(r, 0);
                ASSERT_EQ(done, cases[i].done);
                ASSERT_EQ(total, cases[i].total);
                ASSERT_EQ(pct, cases[i].pct);
        }
}

static void test_phases(void) {
        ASSERT_EQ(progress_phase_of("pg_basebackup: initiating base backup, waiting for checkpoint to complete"),
                  PROGRESS_STARTING);
        ASSERT_EQ(progress_phase_of("pg_basebackup: checkpoint completed"), PROGRESS_COPYING);
        ASSERT_EQ(progress_phase_of("pg_basebackup: write-ahead log end point: 0/2000100"), PROGRESS_FINISHING);
        ASSERT_EQ(progress_phase_of("pg_basebackup: syncing data to disk ..."), PROGRESS_FINISHING);
        ASSERT_EQ(progress_phase_of("pg_basebackup: starting background WAL receiver"), -1);
        ASSERT_EQ(progress_phase_of("100/200 kB (50%), 0/1 tablespace"), -1);
}

static void test_extend_policy(void) {
        const uint64_t s = 1000000ULL, t0 = 1000 * s;

        /* Copying: a minute without new bytes ends the extensions. */
        ASSERT_TRUE(progress_extend_allowed(PROGRESS_COPYING, t0, t0 + 59 * s));
        ASSERT_TRUE(!progress_extend_allowed(PROGRESS_COPYING, t0, t0 + 61 * s));
        /* A checkpoint or the final sync may be silent much longer, but not for ever. */
        ASSERT_TRUE(progress_extend_allowed(PROGRESS_STARTING, t0, t0 + 600 * s));
        ASSERT_TRUE(progress_extend_allowed(PROGRESS_FINISHING, t0, t0 + 600 * s));
        ASSERT_TRUE(!progress_extend_allowed(PROGRESS_STARTING, t0, t0 + 3600 * s));
        ASSERT_TRUE(!progress_extend_allowed(PROGRESS_FINISHING, t0, t0 + 3600 * s));
}

static void test_status(void) {
        char buf[256];

        progress_format_status(buf, sizeof(buf), "10.0.0.1:5432", 412 * 1024 + 5, 1093 * 1024, 38);
        ASSERT_STREQ(buf, "cloning from '10.0.0.1:5432': 412/1093 MB, 38%");
}

int main(void) {
        test_progress();
        test_phases();
        test_extend_policy();
        test_status();
        return 0;
}
