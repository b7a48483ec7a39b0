/* SPDX-License-Identifier: MIT */
/*
 * The wait for the primary: capped exponential backoff, pauses cut short by
 * the POSTGRESQL_INIT_MAX_TIMEOUT deadline (then -ETIMEDOUT) and by a stop
 * request (-EINTR, at once).
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "assert.h"
#include "macro.h"
#include "signals.h"
#include "util.h"
#include "wait.h"

static void test_backoff(void) {
        static const unsigned expect[] = { 1, 2, 4, 8, 16, 30, 30, 30 };
        unsigned d = 0;

        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                d = wait_backoff_next(d);
                ASSERT_EQ(d, expect[i]);
        }
}

static void test_deadline(void) {
        uint64_t t0 = now_usec();
        Waiter w;

        wait_init(&w, 0);
        ASSERT_EQ(w.deadline_usec, 0);
        wait_init(&w, 3600);
        ASSERT_TRUE(w.deadline_usec > t0);
        /* A pause never sleeps past the deadline, and none starts after it. */
        w.deadline_usec = now_usec() + 200000ULL;
        ASSERT_EQ(wait_pause(&w, "db:5432", "connection refused"), 0);
        ASSERT_TRUE(now_usec() - t0 < 900000ULL);
        ASSERT_EQ(wait_pause(&w, "db:5432", "connection refused"), -ETIMEDOUT);
}

static void test_stop_request(void) {
        uint64_t t0;
        Waiter w;

        wait_init(&w, 0);
        w.delay = WAIT_BACKOFF_MAX_S;
        ASSERT_EQ(signals_block_stop(), 0);
        ASSERT_EQ(kill(getpid(), SIGINT), 0);
        t0 = now_usec();
        ASSERT_EQ(wait_pause(&w, "db:5432", "connection refused"), -EINTR);
        ASSERT_TRUE(now_usec() - t0 < 1000000ULL);
        ASSERT_EQ(signals_stop_requested(), SIGINT);
}

int main(void) {
        test_backoff();
        test_deadline();
        test_stop_request();
        return 0;
}
