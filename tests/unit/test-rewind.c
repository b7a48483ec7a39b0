/* SPDX-License-Identifier: MIT */
/*
 * What pg_rewind's output (LC_ALL=C) tells the rewind: where the two
 * histories forked, that nothing needed rewinding, or nothing at all.
 */
#include <stdint.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "rewind.h"

static void test_parse(void) {
        static const struct {
                const char *line;
                int told;
                uint64_t fork;
                unsigned tli;
                bool not_needed;
        } cases[] = {
                { "pg_rewind: servers diverged at WAL location 0/3000148 on timeline 1", 1, 0x3000148, 1, false },
                { "servers diverged at WAL location 16/B374D848 on timeline 7", 1, 0x16B374D848ULL, 7, false },
                { "pg_rewind: no rewind required", 1, 0, 0, true },
                { "pg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1", 0, 0, 0, false },
                { "pg_rewind: servers diverged at WAL location garbage", 0, 0, 0, false },
                { "16384/16384 kB (100%) copied", 0, 0, 0, false },
                { "", 0, 0, 0, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                RewindReport r = {};

                ASSERT_EQ(rewind_parse_line(cases[i].line, &r), cases[i].told);
                ASSERT_TRUE(r.fork == cases[i].fork);
                ASSERT_EQ(r.fork_tli, cases[i].tli);
                ASSERT_EQ(r.not_needed, cases[i].not_needed);
        }
}

int main(void) {
        test_parse();
        return 0;
}
