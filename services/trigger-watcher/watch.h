/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-trigger-watcher's daemon, and the one module that decides: a poll
 * loop over the trigger directory's watch (dirwatch.c), a signalfd, a
 * timerfd and the held connection (conn.c). Those report outcomes; each
 * becomes an event, decide_next() (decide.c: pure, unit-tested) picks the next step,
 * and the loop carries it out. No query blocks the loop; opening the
 * connection does, bounded by connect_timeout (conn_open()).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "conn.h"
#include "decide.h"

/* STATUS= cadence without a watchdog (by hand). */
#define WATCH_STATUS_INTERVAL_USEC (30ULL * 1000000ULL)
/* Lock directory shared by every watcher on the host (the unit's RuntimeDirectory=); beside
 * /run/pgrepl, not in it, where any name could be an instance's own runtime directory. */
#define WATCH_LOCK_DIR "/run/pgrepl-triggers"

/* Run the watcher until a promotion or a stop: 0, or a negative errno (logged). */
int watch_run(const Config *c);
