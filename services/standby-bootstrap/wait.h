/* SPDX-License-Identifier: MIT */
/*
 * Waiting for the primary: attempts, capped exponential backoff, the
 * POSTGRESQL_INIT_MAX_TIMEOUT deadline, and pauses that keep STATUS= and
 * EXTEND_TIMEOUT_USEC= fresh and end at once on a stop request (signals.h).
 */
#pragma once

#include <stdint.h>

/* Backoff between attempts: 1 s doubling to 30 s. */
#define WAIT_BACKOFF_MAX_S 30U
/* STATUS= (and EXTEND_TIMEOUT_USEC=) at least this often while waiting or cloning. */
#define WAIT_STATUS_EVERY_S 5U
/* Each extension covers a few refresh intervals and one slow connection attempt. */
#define WAIT_EXTEND_USEC (30ULL * 1000000ULL)

typedef struct Waiter {
        uint64_t start_usec;
        uint64_t deadline_usec; /* 0: no limit */
        unsigned delay;         /* seconds of the last pause */
        unsigned attempt;
} Waiter;

void wait_init(Waiter *w, unsigned max_timeout_s);
/* Next backoff delay in seconds after prev (0 for the first). */
unsigned wait_backoff_next(unsigned prev);
/*
 * After a failed attempt: sleep the next backoff delay, refreshing STATUS=
 * ("waiting for primary 'h:p': <reason>, retry in 8s (attempt 3)") and
 * EXTEND_TIMEOUT_USEC= every second. -ETIMEDOUT once the deadline has passed,
 * -EINTR on a stop request.
 */
int wait_pause(Waiter *w, const char *display, const char *reason);
