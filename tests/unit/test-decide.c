/* SPDX-License-Identifier: MIT */
/*
 * The trigger watcher's decisions (decide_next() in decide.c) without a
 * server: for each state and event, the step the loop must take next and
 * when. Table-driven, then a few sequences as the loop would run them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "assert.h"
#include "macro.h"
#include "decide.h"

#define MS 1000ULL
#define SEC 1000000ULL
/* A moment well after the clock's start, so that "sent 5 s ago" is a time. */
#define T (1000 * SEC)

/* States: what the loop's snapshot holds. */
static const WatchState idle = { 0 };
static const WatchState pending = { .pending = true };
static const WatchState pending_seen = { .pending = true, .seen_recovery = true };

static WatchState with_query(WatchState s, ConnQuery q, uint64_t sent) {
        s.query = q;
        s.query_sent = sent;
        return s;
}

static WatchState with_retry(WatchState s, uint64_t next_retry, uint64_t retry_delay) {
        s.next_retry = next_retry;
        s.retry_delay = retry_delay;
        return s;
}

static WatchState with_sends(WatchState s, unsigned sends) {
        s.sends = sends;
        return s;
}

typedef struct Case {
        const char *what;
        WatchState state;
        WatchEvent event;
        uint64_t now;
        WatchStep want;
        uint64_t want_at, want_delay; /* checked when not 0 */
} Case;

static void run(const Case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const Case *c = &cases[i];
                WatchAction a = decide_next(&c->state, c->event, c->now);

                if (a.step != c->want || (c->want_at && a.at != c->want_at) ||
                    (c->want_delay && a.delay != c->want_delay)) {
                        fprintf(stderr, "case '%s': step %d at %llu delay %llu, want step %d at %llu delay %llu\n",
                                c->what, (int) a.step, (unsigned long long) a.at, (unsigned long long) a.delay,
                                (int) c->want, (unsigned long long) c->want_at, (unsigned long long) c->want_delay);
                        exit(1);
                }
        }
}

static void test_constants(void) {
        ASSERT_EQ(WATCH_RETRY_MIN_USEC, 250 * MS);
        ASSERT_EQ(WATCH_RETRY_MAX_USEC, 5 * SEC);
        ASSERT_EQ(WATCH_DEFER_MAX_USEC, 1 * SEC);
        ASSERT_EQ(WATCH_RECONNECT_USEC, 1 * SEC);
}

/* A trigger behind a status query under way waits for its answer, 1 s at most; then it goes on a new
 * connection. */
static void test_trigger(void) {
        const Case cases[] = {
                { "idle connection", idle, WATCH_EVENT_TRIGGER, T, WATCH_STEP_PROMOTE },
                { "no connection yet, pending", pending, WATCH_EVENT_TRIGGER, T, WATCH_STEP_PROMOTE },
                { "status query 200 ms old", with_query(idle, CONN_STATUS, T - 200 * MS), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_WAIT, T + 800 * MS },
                { "status query just sent", with_query(idle, CONN_STATUS, T), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_WAIT, T + 1 * SEC },
                { "status query 999 ms old", with_query(idle, CONN_STATUS, T - 999 * MS), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_WAIT, T + 1 * MS },
                { "status query 1 s old", with_query(idle, CONN_STATUS, T - 1 * SEC), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_PROMOTE_AFRESH },
                { "status query overdue", with_query(idle, CONN_STATUS, T - 30 * SEC), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_PROMOTE_AFRESH },
                { "another file while promoting", with_query(pending, CONN_PROMOTE, T - 1 * SEC),
                  WATCH_EVENT_TRIGGER, T, WATCH_STEP_NONE },
                { "another file after the promotion", with_query(pending, CONN_POSITION, T), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_NONE },
                { "another file while a retry waits", with_retry(pending, T + 2 * SEC, 2 * SEC),
                  WATCH_EVENT_TRIGGER, T, WATCH_STEP_PROMOTE },

                /* The same file seen again: what is planned for it stands. */
                { "again, nothing planned", pending, WATCH_EVENT_TRIGGER_AGAIN, T, WATCH_STEP_PROMOTE },
                { "again, a retry planned", with_retry(pending, T + 500 * MS, 500 * MS), WATCH_EVENT_TRIGGER_AGAIN,
                  T, WATCH_STEP_NONE },
                { "again, waiting for the status query",
                  with_retry(with_query(pending, CONN_STATUS, T - 100 * MS), T + 900 * MS, 0),
                  WATCH_EVENT_TRIGGER_AGAIN, T, WATCH_STEP_NONE },
                { "again when the wait is over", with_query(pending, CONN_STATUS, T - 1 * SEC),
                  WATCH_EVENT_TRIGGER_AGAIN, T, WATCH_STEP_PROMOTE_AFRESH },
                { "again while promoting", with_query(pending, CONN_PROMOTE, T), WATCH_EVENT_TRIGGER_AGAIN, T,
                  WATCH_STEP_NONE },

                /* Gone before pg_promote() was sent: forgotten; after: it is PostgreSQL's now. */
                { "gone while waiting", with_retry(pending, T + 1 * SEC, 1 * SEC), WATCH_EVENT_TRIGGER_GONE, T,
                  WATCH_STEP_FORGET },
                { "gone behind a status query", with_query(pending, CONN_STATUS, T), WATCH_EVENT_TRIGGER_GONE, T,
                  WATCH_STEP_FORGET },
                { "gone while promoting", with_query(pending, CONN_PROMOTE, T), WATCH_EVENT_TRIGGER_GONE, T,
                  WATCH_STEP_NONE },
                { "gone after the promotion", with_query(pending, CONN_POSITION, T), WATCH_EVENT_TRIGGER_GONE, T,
                  WATCH_STEP_NONE },
                { "nothing there, nothing in hand", idle, WATCH_EVENT_TRIGGER_GONE, T, WATCH_STEP_NONE },
        };

        run(cases, ELEMENTSOF(cases));
}

/* Retries back off: 250 ms, doubling, never more than 5 s. */
static void test_backoff(void) {
        static const uint64_t want[] = { 250 * MS, 500 * MS, 1 * SEC, 2 * SEC, 4 * SEC, 5 * SEC, 5 * SEC };
        static const WatchEvent failures[] = { WATCH_EVENT_UNREACHABLE, WATCH_EVENT_PROMOTE_UNSENT,
                                               WATCH_EVENT_PROMOTE_FAILED, WATCH_EVENT_LOST };

        for (size_t f = 0; f < ELEMENTSOF(failures); f++) {
                WatchState s = pending;
                uint64_t now = T;

                for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                        WatchAction a = decide_next(&s, failures[f], now);

                        ASSERT_EQ(a.step, WATCH_STEP_RETRY);
                        ASSERT_EQ(a.delay, want[i]);
                        ASSERT_EQ(a.at, now + want[i]);
                        /* What the loop keeps; the retry comes, and fails again. */
                        s.retry_delay = a.delay;
                        now = a.at;
                }
        }
}

static void test_connection(void) {
        const Case cases[] = {
                /* Lost while idle: one prompt try 1 s later (a server restarting), then the beats. */
                { "lost, idle", idle, WATCH_EVENT_LOST, T, WATCH_STEP_RECONNECT, T + 1 * SEC },
                { "lost, trigger waiting", with_retry(pending, 0, 1 * SEC), WATCH_EVENT_LOST, T, WATCH_STEP_RETRY,
                  T + 2 * SEC, 2 * SEC },
                { "reconnect due", idle, WATCH_EVENT_RETRY_DUE, T, WATCH_STEP_PROBE },
                { "reconnected, idle", with_retry(idle, T + 1 * SEC, 0), WATCH_EVENT_CONNECTED, T,
                  WATCH_STEP_CANCEL_RETRY },
                { "reconnected, trigger waiting", with_retry(pending, T + 1 * SEC, 1 * SEC), WATCH_EVENT_CONNECTED, T,
                  WATCH_STEP_NONE },
                { "unreachable, idle", idle, WATCH_EVENT_UNREACHABLE, T, WATCH_STEP_NONE },
                { "unreachable, trigger waiting", pending, WATCH_EVENT_UNREACHABLE, T, WATCH_STEP_RETRY,
                  T + 250 * MS, 250 * MS },
                { "retry due, trigger waiting", pending, WATCH_EVENT_RETRY_DUE, T, WATCH_STEP_CHECK },
                { "beat, idle", idle, WATCH_EVENT_BEAT, T, WATCH_STEP_PROBE },
                { "beat, trigger waiting", pending, WATCH_EVENT_BEAT, T, WATCH_STEP_REPORT },
                { "beat, promoting", with_query(pending, CONN_PROMOTE, T), WATCH_EVENT_BEAT, T, WATCH_STEP_REPORT },
        };

        run(cases, ELEMENTSOF(cases));
}

static void test_status_answers(void) {
        const Case cases[] = {
                { "standby, idle", idle, WATCH_EVENT_STATUS_STANDBY, T, WATCH_STEP_NONE },
                { "failed, idle", idle, WATCH_EVENT_STATUS_FAILED, T, WATCH_STEP_NONE },
                /* The answer a deferred trigger waited for: promote now, on that connection. */
                { "standby, trigger waited", with_retry(pending_seen, T + 600 * MS, 0), WATCH_EVENT_STATUS_STANDBY,
                  T, WATCH_STEP_PROMOTE },
                { "failed, trigger waited", with_retry(pending, T + 600 * MS, 0), WATCH_EVENT_STATUS_FAILED, T,
                  WATCH_STEP_PROMOTE },
                /* Not in recovery. */
                { "primary from the start", idle, WATCH_EVENT_STATUS_PRIMARY, T, WATCH_STEP_NOT_A_STANDBY },
                { "promoted by other means, idle", (WatchState) { .seen_recovery = true },
                  WATCH_EVENT_STATUS_PRIMARY, T, WATCH_STEP_NOT_A_STANDBY },
                { "primary, trigger at start", pending, WATCH_EVENT_STATUS_PRIMARY, T, WATCH_STEP_NOT_A_STANDBY },
                { "promoted by other means while a trigger waited", pending_seen, WATCH_EVENT_STATUS_PRIMARY, T,
                  WATCH_STEP_ASK_POSITION, T + WATCH_POSITION_MAX_USEC },
        };

        run(cases, ELEMENTSOF(cases));
}

static void test_promote_answers(void) {
        const Case cases[] = {
                { "sent: what was planned is done", with_retry(pending, T + 1 * SEC, 1 * SEC),
                  WATCH_EVENT_PROMOTE_SENT, T, WATCH_STEP_CANCEL_RETRY },
                { "done", with_sends(pending_seen, 1), WATCH_EVENT_PROMOTE_DONE, T, WATCH_STEP_ASK_POSITION,
                  T + WATCH_POSITION_MAX_USEC },
                { "done, never seen in recovery", with_sends(pending, 1), WATCH_EVENT_PROMOTE_DONE, T,
                  WATCH_STEP_ASK_POSITION },
                { "still pending", with_sends(pending_seen, 1), WATCH_EVENT_PROMOTE_PENDING, T, WATCH_STEP_RESEND },
                { "still pending again", with_sends(pending_seen, 4), WATCH_EVENT_PROMOTE_PENDING, T,
                  WATCH_STEP_RESEND },
                /* Refused: not a standby to begin with, or promoted meanwhile. */
                { "refused at once, never a standby", with_sends(pending, 1), WATCH_EVENT_PROMOTE_NOT_IN_RECOVERY, T,
                  WATCH_STEP_NOT_A_STANDBY },
                { "refused at once, was a standby", with_sends(pending_seen, 1), WATCH_EVENT_PROMOTE_NOT_IN_RECOVERY,
                  T, WATCH_STEP_ASK_POSITION },
                { "refused after a pending answer", with_sends(pending, 2), WATCH_EVENT_PROMOTE_NOT_IN_RECOVERY, T,
                  WATCH_STEP_ASK_POSITION },
                { "failed", with_sends(pending_seen, 1), WATCH_EVENT_PROMOTE_FAILED, T, WATCH_STEP_RETRY,
                  T + 250 * MS },
                { "not sent", pending_seen, WATCH_EVENT_PROMOTE_UNSENT, T, WATCH_STEP_RETRY, T + 250 * MS },
        };

        run(cases, ELEMENTSOF(cases));
}

/* After PROMOTE_DONE: the position is asked for, and whatever comes, the promotion is recorded. */
static void test_finish(void) {
        const WatchState asking = with_sends(with_retry(with_query(pending_seen, CONN_POSITION, T),
                                                        T + WATCH_POSITION_MAX_USEC, 0),
                                             1);
        const Case cases[] = {
                { "position answered", asking, WATCH_EVENT_POSITION, T + 1 * MS, WATCH_STEP_RECORD },
                { "position not answered in time", with_retry(asking, 0, 0), WATCH_EVENT_RETRY_DUE,
                  T + WATCH_POSITION_MAX_USEC, WATCH_STEP_RECORD },
                { "stop while asking", asking, WATCH_EVENT_STOP, T + 1 * MS, WATCH_STEP_RECORD },
                { "touched again meanwhile", asking, WATCH_EVENT_TRIGGER_AGAIN, T + 1 * MS, WATCH_STEP_NONE },
                { "removed meanwhile", asking, WATCH_EVENT_TRIGGER_GONE, T + 1 * MS, WATCH_STEP_NONE },
                { "a beat meanwhile", asking, WATCH_EVENT_BEAT, T + 1 * MS, WATCH_STEP_REPORT },
                /* Other stops stop. */
                { "stop while promoting", with_query(pending, CONN_PROMOTE, T), WATCH_EVENT_STOP, T,
                  WATCH_STEP_STOP },
                { "stop, idle", idle, WATCH_EVENT_STOP, T, WATCH_STEP_STOP },
        };

        run(cases, ELEMENTSOF(cases));
}

/* A trigger behind a status query that never answers, as the loop runs it. */
static void test_deferred_trigger_sequence(void) {
        WatchState s = with_query(idle, CONN_STATUS, T);
        WatchAction a;

        /* Touched 300 ms after the query went out: wait until 1 s after it. */
        a = decide_next(&s, WATCH_EVENT_TRIGGER, T + 300 * MS);
        ASSERT_EQ(a.step, WATCH_STEP_WAIT);
        ASSERT_EQ(a.at, T + WATCH_DEFER_MAX_USEC);
        s.pending = true;
        s.next_retry = a.at;
        /* Touch's further events change nothing. */
        ASSERT_EQ(decide_next(&s, WATCH_EVENT_TRIGGER_AGAIN, T + 301 * MS).step, WATCH_STEP_NONE);
        /* The time comes (the loop clears next_retry): look again, and promote on a new connection. */
        s.next_retry = 0;
        ASSERT_EQ(decide_next(&s, WATCH_EVENT_RETRY_DUE, T + 1 * SEC).step, WATCH_STEP_CHECK);
        ASSERT_EQ(decide_next(&s, WATCH_EVENT_TRIGGER_AGAIN, T + 1 * SEC).step, WATCH_STEP_PROMOTE_AFRESH);
        /* The old connection dropped, pg_promote() sent on the new one. */
        s.query = CONN_PROMOTE;
        s.sends = 1;
        ASSERT_EQ(decide_next(&s, WATCH_EVENT_PROMOTE_SENT, T + 1 * SEC).step, WATCH_STEP_CANCEL_RETRY);
        s.query = CONN_IDLE;
        ASSERT_EQ(decide_next(&s, WATCH_EVENT_PROMOTE_DONE, T + 2 * SEC).step, WATCH_STEP_ASK_POSITION);
}

/* With partners a slots round follows each status answer "in recovery" on the same connection; a
 * trigger behind it waits as behind the status query (1 s at most), and is promoted once it answers. */
static void test_slots(void) {
        const WatchState partners = { .keep_slots = true };
        const WatchState partners_pending = { .keep_slots = true, .pending = true };
        const Case cases[] = {
                { "standby, partners", partners, WATCH_EVENT_STATUS_STANDBY, T, WATCH_STEP_SLOTS },
                { "standby, no partners", idle, WATCH_EVENT_STATUS_STANDBY, T, WATCH_STEP_NONE },
                { "standby, partners, a trigger waits", partners_pending, WATCH_EVENT_STATUS_STANDBY, T,
                  WATCH_STEP_PROMOTE },
                { "primary, partners", partners, WATCH_EVENT_STATUS_PRIMARY, T, WATCH_STEP_NOT_A_STANDBY },
                { "status failed, partners", partners, WATCH_EVENT_STATUS_FAILED, T, WATCH_STEP_NONE },
                { "round done", with_query(partners, CONN_IDLE, 0), WATCH_EVENT_SLOTS_DONE, T, WATCH_STEP_NONE },
                { "round done, a trigger waited", partners_pending, WATCH_EVENT_SLOTS_DONE, T, WATCH_STEP_PROMOTE },
                { "trigger behind a round 300 ms old", with_query(partners, CONN_SLOTS, T - 300 * MS),
                  WATCH_EVENT_TRIGGER, T, WATCH_STEP_WAIT, T + 700 * MS },
                { "trigger behind a round 1 s old", with_query(partners, CONN_SLOTS, T - 1 * SEC),
                  WATCH_EVENT_TRIGGER, T, WATCH_STEP_PROMOTE_AFRESH },
                { "gone behind a round", with_query(partners_pending, CONN_SLOTS, T), WATCH_EVENT_TRIGGER_GONE, T,
                  WATCH_STEP_FORGET },
        };

        run(cases, ELEMENTSOF(cases));
}

/* POSTGRESQL_FAILOVER=etcd: every road to pg_promote() is a hand-over to the failover agent instead. */
static void test_hand_over(void) {
        const WatchState etcd = { .hand_over = true }, etcd_pending = { .pending = true, .hand_over = true };
        const Case cases[] = {
                { "trigger", etcd, WATCH_EVENT_TRIGGER, T, WATCH_STEP_HAND_OVER },
                { "trigger behind a status query", with_query(etcd, CONN_STATUS, T), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_HAND_OVER },
                { "trigger behind a slots round", with_query(etcd, CONN_SLOTS, T - 5 * SEC), WATCH_EVENT_TRIGGER, T,
                  WATCH_STEP_HAND_OVER },
                { "seen again", etcd_pending, WATCH_EVENT_TRIGGER_AGAIN, T, WATCH_STEP_HAND_OVER },
                { "seen again, retry planned", with_retry(etcd_pending, T + SEC, 250 * MS),
                  WATCH_EVENT_TRIGGER_AGAIN, T, WATCH_STEP_NONE },
                { "request not written", etcd_pending, WATCH_EVENT_HAND_OVER_FAILED, T, WATCH_STEP_RETRY,
                  T + WATCH_RETRY_MIN_USEC, WATCH_RETRY_MIN_USEC },
                { "retry due", with_retry(etcd_pending, 0, 250 * MS), WATCH_EVENT_RETRY_DUE, T, WATCH_STEP_CHECK },
                { "status answer while retrying", etcd_pending, WATCH_EVENT_STATUS_STANDBY, T, WATCH_STEP_HAND_OVER },
                { "status failed while retrying", etcd_pending, WATCH_EVENT_STATUS_FAILED, T, WATCH_STEP_HAND_OVER },
                { "idle status answer", etcd, WATCH_EVENT_STATUS_STANDBY, T, WATCH_STEP_NONE },
                { "promoted by the agent", (WatchState) { .hand_over = true, .seen_recovery = true },
                  WATCH_EVENT_STATUS_PRIMARY, T, WATCH_STEP_NOT_A_STANDBY },
                { "gone before it was asked", etcd_pending, WATCH_EVENT_TRIGGER_GONE, T, WATCH_STEP_FORGET },
        };

        run(cases, ELEMENTSOF(cases));
}

int main(void) {
        test_constants();
        test_hand_over();
        test_slots();
        test_trigger();
        test_backoff();
        test_connection();
        test_status_answers();
        test_promote_answers();
        test_finish();
        test_deferred_trigger_sequence();
        return 0;
}
