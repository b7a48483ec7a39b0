/* SPDX-License-Identifier: MIT */
/* Rate-limiting of repeated log lines (ratelog.c): once, then once a minute, per distinct line. */
#include <stdio.h>

#include "assert.h"
#include "ratelog.h"

#define SEC 1000000ULL

int main(void) {
        RateLog r = {};
        unsigned held = 99;

        /* The first of its kind is said, the same again within a minute is not. */
        ASSERT_TRUE(ratelog_allow(&r, "Trigger directory '/tmp/d' does not exist", 10 * SEC, &held));
        ASSERT_EQ(held, 0u);
        for (unsigned i = 0; i < 300; i++) {
                ASSERT_TRUE(!ratelog_allow(&r, "Trigger directory '/tmp/d' does not exist", 11 * SEC, &held));
                /* Another line is another problem: said once too. */
                ASSERT_EQ(ratelog_allow(&r, "Trigger directory '/tmp/d' is there again", 11 * SEC, &held), i == 0);
        }
        /* A minute on: said again, with how many were held back. */
        ASSERT_TRUE(!ratelog_allow(&r, "Trigger directory '/tmp/d' does not exist", 69 * SEC, &held));
        ASSERT_TRUE(ratelog_allow(&r, "Trigger directory '/tmp/d' does not exist", 70 * SEC, &held));
        ASSERT_EQ(held, 301u);
        ASSERT_TRUE(!ratelog_allow(&r, "Trigger directory '/tmp/d' does not exist", 71 * SEC, &held));

        /* More distinct lines than slots: the oldest is forgotten, and then said again. */
        for (unsigned i = 0; i < RATELOG_SLOTS + 2; i++) {
                char line[64];

                snprintf(line, sizeof(line), "line %u", i);
                ASSERT_TRUE(ratelog_allow(&r, line, 80 * SEC, &held));
        }
        ASSERT_TRUE(ratelog_allow(&r, "Trigger directory '/tmp/d' does not exist", 81 * SEC, &held));
        return 0;
}
