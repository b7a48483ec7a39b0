/* SPDX-License-Identifier: MIT */
/*
 * The failover agent's requests (failover.h): the one word read from failover-request, what
 * `pgreplctl failover-act` does about it for each mode of the env file, and the text its log
 * line shows of a word it does not know.
 */
#include <string.h>

#include "assert.h"
#include "failover.h"

#define PARSE(s) failover_parse((s), sizeof(s) - 1)

static void test_parse(void) {
        ASSERT_EQ(PARSE("rejoin"), FAILOVER_WORD_REJOIN);
        ASSERT_EQ(PARSE("rejoin\n"), FAILOVER_WORD_REJOIN);
        ASSERT_EQ(PARSE("  start \r\n"), FAILOVER_WORD_START);
        ASSERT_EQ(PARSE("start"), FAILOVER_WORD_START);
        /* Only the whole word, in its case, alone. */
        ASSERT_EQ(PARSE(""), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("\n"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("Rejoin"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("rejoi"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("rejoinx"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("start start"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("start\nrejoin\n"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(PARSE("promote"), FAILOVER_WORD_UNKNOWN);
        /* A NUL inside is not the end of the word. */
        ASSERT_EQ(PARSE("start\0junk"), FAILOVER_WORD_UNKNOWN);
        ASSERT_EQ(failover_parse("startx", 5), FAILOVER_WORD_START);
}

static void test_decide(void) {
        ASSERT_EQ(failover_decide(FAILOVER_WORD_REJOIN, ROLE_PRIMARY), FAILOVER_REJOIN);
        ASSERT_EQ(failover_decide(FAILOVER_WORD_REJOIN, ROLE_STANDBY), FAILOVER_START_STANDBY_REJOIN);
        ASSERT_EQ(failover_decide(FAILOVER_WORD_START, ROLE_PRIMARY), FAILOVER_START_PRIMARY);
        ASSERT_EQ(failover_decide(FAILOVER_WORD_START, ROLE_STANDBY), FAILOVER_START_STANDBY);
        ASSERT_EQ(failover_decide(FAILOVER_WORD_UNKNOWN, ROLE_PRIMARY), FAILOVER_IGNORE);
        ASSERT_EQ(failover_decide(FAILOVER_WORD_UNKNOWN, ROLE_STANDBY), FAILOVER_IGNORE);
}

static void test_printable(void) {
        char buf[8];

        failover_printable("a\nb'c\x1b\xff", 7, buf, sizeof(buf));
        ASSERT_STREQ(buf, "a?b?c??");
        failover_printable("0123456789", 10, buf, sizeof(buf));
        ASSERT_STREQ(buf, "0123456");
        failover_printable("", 0, buf, sizeof(buf));
        ASSERT_STREQ(buf, "");
}

int main(void) {
        test_parse();
        test_decide();
        test_printable();
        return 0;
}
