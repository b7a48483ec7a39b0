/* SPDX-License-Identifier: MIT */
/*
 * Rate-limiting of repeated log lines: a user who can make the watcher say
 * something (a directory removed and made again in a loop, a file planted
 * and removed) must not be able to fill the journal. Each distinct line is
 * said the first time, then at most once a minute, with how many were held
 * back meanwhile. Pure: the caller passes the time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define RATELOG_INTERVAL_USEC (60ULL * 1000000ULL)
#define RATELOG_SLOTS 16

typedef struct RateLog {
        struct {
                uint64_t hash, at; /* the line's hash, when it was last said */
                unsigned held;     /* held back since */
                bool used;
        } slot[RATELOG_SLOTS];
        unsigned next;             /* the slot a new line takes when all are used */
} RateLog;

/*
 * May this line be said at now (CLOCK_MONOTONIC usec)? True the first time
 * and once RATELOG_INTERVAL_USEC has passed since it was last said, with
 * *ret_held how many times it was held back in between; false otherwise
 * (counted). The RATELOG_SLOTS most recent distinct lines are remembered.
 */
bool ratelog_allow(RateLog *r, const char *line, uint64_t now, unsigned *ret_held);
