/* SPDX-License-Identifier: MIT */
/*
 * Whether a standby at (timeline, position) can follow a primary on a
 * timeline with a given history: same timeline, forked after or before
 * the standby's position, an older primary, a foreign history.
 */
#include <stdint.h>
#include <string.h>

#include "assert.h"
#include "follow.h"
#include "macro.h"

static void test_decide(void) {
        /* Timeline 3's history: 1 ended at 0/3000000, 2 at 0/5000000. */
        const char *h3 = "1\t0/3000000\tno recovery target specified\n"
                         "\n# a comment\n"
                         "2\t0/5000000\tno recovery target specified\n";
        static const struct {
                unsigned tli;
                uint64_t lsn;
                unsigned ptli;
                int expect;
                const char *says;
        } cases[] = {
                { 3, 0x9000000, 3, 0, NULL },
                { 2, 0x4000000, 3, 0, NULL },           /* behind the fork: follows */
                { 2, 0x5000000, 3, 0, NULL },           /* exactly at it */
                { 2, 0x5000001, 3, 1, "forked off timeline 2 at 0/5000000" },
                { 1, 0x3000028, 3, 1, "forked off timeline 1 at 0/3000000" },
                { 1, 0x2000000, 3, 0, NULL },
                { 4, 0x1000000, 3, 1, "older than this standby's 4" },
                { 7, 0x1000000, 9, 1, "timeline 7 is not in the history" },
        };
        char buf[256];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                buf[0] = 0;
                ASSERT_EQ(follow_decide(cases[i].tli, cases[i].lsn, cases[i].ptli, h3, buf, sizeof(buf)),
                          cases[i].expect);
                if (cases[i].says)
                        ASSERT_CONTAINS(buf, cases[i].says);
        }
        /* Without a history nothing is claimed for a newer primary. */
        ASSERT_EQ(follow_decide(1, 0x9000000, 2, NULL, buf, sizeof(buf)), 0);
}

int main(void) {
        test_decide();
        return 0;
}
