/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-trigger-watcher's daemon: one poll loop over an inotify watch on
 * the trigger path's directory, a signalfd, a timerfd (watchdog and STATUS=
 * cadence, connection retries) and the socket of the one connection it
 * holds to the local server. It never polls the path. Functions return 0
 * to go on, 1 when the watcher's work is done (exit 0), or a negative errno.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config.h"
#include "record.h"
#include "trigger.h"

/* STATUS= cadence without a watchdog (by hand). */
#define WATCH_STATUS_INTERVAL_USEC (30ULL * 1000000ULL)
/* Retry delays while a trigger waits for the local server. */
#define WATCH_RETRY_MIN_USEC (250ULL * 1000ULL)
#define WATCH_RETRY_MAX_USEC (5ULL * 1000000ULL)
/* Lock directory shared by every watcher on the host (the unit's RuntimeDirectory=); beside
 * /run/pgrepl, not in it, where any name could be an instance's own runtime directory. */
#define WATCH_LOCK_DIR "/run/pgrepl-triggers"

typedef struct Watch {
        const Config *config;
        char *path, *dir, *name; /* the trigger path and its parts */
        char *state_dir;
        uid_t self;

        int lock_fd, inotify_fd, signal_fd, timer_fd;
        /* The trigger's directory, opened when its watch is armed (-1 while it is missing): every
         * look at the trigger and its removal go through it, so re-pointing a symbolic link in the
         * configured path after that cannot send them to another directory. */
        int dir_fd;

        /* The one inotify watch: the trigger's directory, or while that is
         * missing, its nearest existing ancestor (expect: the child to wait for). */
        int wd;
        bool on_ancestor, dir_missing_logged;
        char *expect;

        uint64_t interval, next_tick, next_retry, retry_delay, timer_armed; /* CLOCK_MONOTONIC usec */
        bool watchdog;

        PromotionRecord record;
        bool have_record;
        bool seen_recovery;      /* a successful connection answered "in recovery" */
        const char *last_reason; /* last connection failure reported (log changes only) */
        bool warned_setting;
        struct stat warned;      /* last ignored file warned about: warn once per file */
        bool have_warned;
        char *state_text, *ignored_text;

        /* The trigger being acted on. */
        bool pending;
        TriggerId trigger;
        uid_t trigger_uid;
        struct timespec touched; /* its ctime when first seen: "touch-to-promoted" */
        uint64_t detected, promote_sent;
        unsigned sends;          /* pg_promote() calls sent for it */

        /* The connection to the local server, held while idle: a trigger then costs no
         * connection set-up (a backend fork) before pg_promote() is sent. NULL while the
         * server is unreachable. in_flight: pg_promote() sent, its answer not yet in. */
        PGconn *conn;
        bool in_flight;
} Watch;

int watch_run(const Config *c);

/* act.c: deciding and promoting. */
uint64_t now_usec(void);
void watch_status(Watch *w);
int watch_check(Watch *w);
int watch_promote(Watch *w);
int watch_promote_io(Watch *w);
int watch_conn_io(Watch *w);
int watch_probe(Watch *w);
void watch_schedule_retry(Watch *w);
