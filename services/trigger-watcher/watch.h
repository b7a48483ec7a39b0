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
#include "dirwatch.h"
#include "record.h"
#include "trigger.h"

/* STATUS= cadence without a watchdog (by hand). */
#define WATCH_STATUS_INTERVAL_USEC (30ULL * 1000000ULL)
/* Retry delays while a trigger waits for the local server. */
#define WATCH_RETRY_MIN_USEC (250ULL * 1000ULL)
#define WATCH_RETRY_MAX_USEC (5ULL * 1000000ULL)
/* After the server closed the held connection, one prompt attempt to open it again (a server
 * restarting after a crash takes about this long); later ones come with the STATUS= beats. */
#define WATCH_RECONNECT_USEC (1000ULL * 1000ULL)
/* How long a trigger waits for a status query under way before it goes on a connection of its own. */
#define WATCH_DEFER_MAX_USEC (1000ULL * 1000ULL)
/* Lock directory shared by every watcher on the host (the unit's RuntimeDirectory=); beside
 * /run/pgrepl, not in it, where any name could be an instance's own runtime directory. */
#define WATCH_LOCK_DIR "/run/pgrepl-triggers"

typedef enum Query {
        QUERY_NONE,
        QUERY_STATUS,  /* the periodic status query */
        QUERY_PROMOTE, /* pg_promote(true, N) */
} Query;

typedef struct Watch {
        const Config *config;
        char *path, *dir, *name; /* the trigger path and its parts */
        char *state_dir;
        uid_t self;

        int lock_fd, signal_fd, timer_fd;
        DirWatch dw;             /* the trigger directory's watch */
        bool dir_missing_logged;

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
         * server is unreachable. Queries on it never block the loop: sent, then collected
         * when its socket is readable. */
        PGconn *conn;
        Query query;             /* what runs on it */
        PGresult *result;        /* its results so far */
        uint64_t query_sent;
        bool session_set;        /* the session set-up went with a status query */
        bool overdue;            /* the status query has been reported unanswered */
        char notice[256];        /* the server's last message outside a query ("terminating ...") */
} Watch;

static inline bool watch_promoting(const Watch *w) {
        return w->query == QUERY_PROMOTE;
}

int watch_run(const Config *c);
/* watch.c: arming the watch; the watched directory, opened for one look at the trigger. */
int watch_arm(Watch *w);
int watch_open_dir(Watch *w, int *ret_fd);

/* act.c: deciding and promoting. */
void watch_status(Watch *w);
void watch_set_state(Watch *w, char *text);
int watch_check(Watch *w);
int watch_promote(Watch *w);
int watch_promote_io(Watch *w);
int watch_not_a_standby(Watch *w);
int watch_finish(Watch *w);
void watch_schedule_retry(Watch *w);

/* local.c: the held connection and the status query. */
int local_ensure(Watch *w);
void local_drop(Watch *w);
int watch_conn_io(Watch *w);
int watch_probe(Watch *w);
void watch_check_overdue(Watch *w);
