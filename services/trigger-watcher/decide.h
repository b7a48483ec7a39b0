/* SPDX-License-Identifier: MIT */
/*
 * The trigger watcher's decisions, pure: from a snapshot of the loop's state
 * (WatchState) and what a lower module reported (WatchEvent), the next step
 * and when (WatchAction). No I/O, no logging; watch.c carries the steps out.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"

/* Retry delays while a trigger waits for the local server. */
#define WATCH_RETRY_MIN_USEC (250ULL * 1000ULL)
#define WATCH_RETRY_MAX_USEC (5ULL * 1000000ULL)
/* After the server closed the held connection, one prompt attempt to open it again (a server
 * restarting after a crash takes about this long); later ones come with the STATUS= beats. */
#define WATCH_RECONNECT_USEC (1000ULL * 1000ULL)
/* How long a trigger waits for a status query under way before it goes on a connection of its own. */
#define WATCH_DEFER_MAX_USEC (1000ULL * 1000ULL)
/* How long the new timeline and position may take after the promotion before they are recorded as
 * unknown: the record must not wait on a server that stopped answering. */
#define WATCH_POSITION_MAX_USEC (5ULL * 1000000ULL)
/* What the lower modules reported. */
typedef enum WatchEvent {
        WATCH_EVENT_TRIGGER,                 /* a valid trigger: a new one, or another file than the one in hand */
        WATCH_EVENT_TRIGGER_AGAIN,           /* the trigger in hand, seen again (touch sends several events) */
        WATCH_EVENT_TRIGGER_GONE,            /* nothing valid at the trigger path any more */
        WATCH_EVENT_RETRY_DUE,               /* the time planned for the next attempt has come */
        WATCH_EVENT_BEAT,                    /* the watchdog and STATUS= beat */
        WATCH_EVENT_STOP,                    /* SIGTERM or SIGINT */
        WATCH_EVENT_CONNECTED,               /* the held connection was opened (again) */
        WATCH_EVENT_UNREACHABLE,             /* it could not be opened */
        WATCH_EVENT_LOST,                    /* the server closed it */
        WATCH_EVENT_STATUS_STANDBY,          /* the status query's answer: in recovery */
        WATCH_EVENT_STATUS_PRIMARY,          /* the answer: not in recovery */
        WATCH_EVENT_STATUS_FAILED,           /* the query failed on a connection still good */
        WATCH_EVENT_PROMOTE_SENT,            /* pg_promote() is on its way */
        WATCH_EVENT_PROMOTE_UNSENT,          /* it could not be sent */
        WATCH_EVENT_PROMOTE_DONE,            /* it returned true: a primary now */
        WATCH_EVENT_PROMOTE_PENDING,         /* false: still finishing recovery after N seconds */
        WATCH_EVENT_PROMOTE_NOT_IN_RECOVERY, /* refused: not (or no longer) a standby */
        WATCH_EVENT_PROMOTE_FAILED,          /* any other error */
        WATCH_EVENT_POSITION,                /* the new timeline and position came, or cannot */
        WATCH_EVENT_SLOTS_DONE,              /* the partners' slots round answered (or failed) */
        WATCH_EVENT_HAND_OVER_FAILED,        /* etcd mode: the switchover request could not be written */
} WatchEvent;

/* What the loop does next. */
typedef enum WatchStep {
        WATCH_STEP_NONE,
        WATCH_STEP_WAIT,           /* the status query under way answers first; wait for it until .at at most */
        WATCH_STEP_PROMOTE,        /* send pg_promote() on the held connection, opened if need be */
        WATCH_STEP_PROMOTE_AFRESH, /* leave the unanswered status query to its backend; promote on a new connection */
        WATCH_STEP_RESEND,         /* still pending: send pg_promote() again */
        WATCH_STEP_RETRY,          /* try the trigger again at .at (.delay: this step of the backoff) */
        WATCH_STEP_RECONNECT,      /* no trigger: open the connection again at .at */
        WATCH_STEP_CANCEL_RETRY,   /* nothing is planned any more */
        WATCH_STEP_FORGET,         /* drop the trigger in hand */
        WATCH_STEP_CHECK,          /* look at the trigger path */
        WATCH_STEP_PROBE,          /* send the status query */
        WATCH_STEP_REPORT,         /* refresh STATUS= */
        WATCH_STEP_ASK_POSITION,   /* promoted: ask for the new timeline and position, until .at at most */
        WATCH_STEP_RECORD,         /* record the promotion, remove the trigger, report: done (exit 0) */
        WATCH_STEP_NOT_A_STANDBY,  /* the server is a primary: leave the trigger alone, done (exit 0) */
        WATCH_STEP_STOP,           /* stop as asked */
        WATCH_STEP_SLOTS,          /* send the partners' slots round (slots.c) */
        WATCH_STEP_HAND_OVER,      /* etcd mode: ask the failover agent for a switchover, remove the trigger */
} WatchStep;

typedef struct WatchAction {
        WatchStep step;
        uint64_t at;    /* CLOCK_MONOTONIC usec, for the steps that plan a time */
        uint64_t delay; /* WATCH_STEP_RETRY: the delay now reached, the next one doubles it */
} WatchAction;

/* What the decisions depend on: a snapshot of the loop's state. */
typedef struct WatchState {
        bool pending;           /* a trigger is in hand */
        ConnQuery query;        /* what runs on the held connection */
        uint64_t query_sent;    /* when it went out */
        uint64_t next_retry;    /* the time planned for the next attempt, 0: none */
        uint64_t retry_delay;   /* the last backoff delay, 0: none yet */
        unsigned sends;         /* pg_promote() calls sent for the trigger in hand */
        bool seen_recovery;     /* a status answer said "in recovery" */
        bool keep_slots;        /* partners are set: a slots round follows each status answer */
        bool hand_over;         /* POSTGRESQL_FAILOVER=etcd: a trigger goes to the failover agent, no pg_promote() */
} WatchState;

/* The next step after event e at time now (CLOCK_MONOTONIC usec). Pure: no I/O, no logging. */
WatchAction decide_next(const WatchState *s, WatchEvent e, uint64_t now);
