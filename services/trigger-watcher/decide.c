/* SPDX-License-Identifier: MIT */
#include "decide.h"

static WatchAction step(WatchStep s) {
        return (WatchAction) { .step = s };
}

static WatchAction step_at(WatchStep s, uint64_t at) {
        return (WatchAction) { .step = s, .at = at };
}

/* Promote now, unless a status query runs: its answer, due at once, comes first and promotes then. One
 * that keeps us waiting is left to its backend, and pg_promote() goes on a new connection. */
static WatchAction decide_promote(const WatchState *s, uint64_t now) {
        /* In etcd mode the failover agent promotes, after the old primary stepped down: never here. */
        if (s->hand_over)
                return step(WATCH_STEP_HAND_OVER);
        if (s->query != CONN_STATUS && s->query != CONN_SLOTS)
                return step(WATCH_STEP_PROMOTE);
        if (now - s->query_sent < WATCH_DEFER_MAX_USEC)
                return step_at(WATCH_STEP_WAIT, s->query_sent + WATCH_DEFER_MAX_USEC);
        return step(WATCH_STEP_PROMOTE_AFRESH);
}

/* Try the trigger again later: the delay doubles from 250 ms up to 5 s, so a server that comes up is
 * found soon and one that stays down costs little. */
static WatchAction retry_later(const WatchState *s, uint64_t now) {
        uint64_t delay = s->retry_delay ? s->retry_delay * 2 : WATCH_RETRY_MIN_USEC;

        if (delay > WATCH_RETRY_MAX_USEC)
                delay = WATCH_RETRY_MAX_USEC;
        return (WatchAction) { .step = WATCH_STEP_RETRY, .at = now + delay, .delay = delay };
}

/* What the server answered to what was sent. */
static WatchAction decide_answer(const WatchState *s, WatchEvent e, uint64_t now) {
        WatchAction ask_position = step_at(WATCH_STEP_ASK_POSITION, now + WATCH_POSITION_MAX_USEC);

        switch (e) {
        case WATCH_EVENT_STATUS_STANDBY:
                /* A trigger that came while the status query ran waited for it; else, with partners,
                 * the round of their slots follows the status on the same connection. */
                if (s->pending)
                        return decide_promote(s, now);
                return step(s->keep_slots ? WATCH_STEP_SLOTS : WATCH_STEP_NONE);
        case WATCH_EVENT_STATUS_FAILED:
        case WATCH_EVENT_SLOTS_DONE:
                return s->pending ? decide_promote(s, now) : step(WATCH_STEP_NONE);
        case WATCH_EVENT_STATUS_PRIMARY:
                /* Promoted by other means while a trigger waited: that trigger is done with too. */
                return s->pending && s->seen_recovery ? ask_position : step(WATCH_STEP_NOT_A_STANDBY);
        case WATCH_EVENT_PROMOTE_SENT:
                return step(WATCH_STEP_CANCEL_RETRY);
        case WATCH_EVENT_PROMOTE_UNSENT:
        case WATCH_EVENT_PROMOTE_FAILED:
        case WATCH_EVENT_HAND_OVER_FAILED:
                return retry_later(s, now);
        case WATCH_EVENT_PROMOTE_DONE:
                return ask_position;
        case WATCH_EVENT_PROMOTE_PENDING:
                return step(WATCH_STEP_RESEND);
        case WATCH_EVENT_PROMOTE_NOT_IN_RECOVERY:
                /* Refused at the first request and never seen in recovery: not a standby to begin with,
                 * leave the trigger alone. Otherwise it got promoted meanwhile (by us or otherwise). */
                return s->sends == 1 && !s->seen_recovery ? step(WATCH_STEP_NOT_A_STANDBY) : ask_position;
        case WATCH_EVENT_POSITION:
                return step(WATCH_STEP_RECORD);
        default:
                return step(WATCH_STEP_NONE);
        }
}

WatchAction decide_next(const WatchState *s, WatchEvent e, uint64_t now) {
        /* pg_promote() is running, or has done its work: nothing may start another. */
        bool in_flight = s->query == CONN_PROMOTE || s->query == CONN_POSITION;

        switch (e) {
        case WATCH_EVENT_TRIGGER:
                return in_flight ? step(WATCH_STEP_NONE) : decide_promote(s, now);
        case WATCH_EVENT_TRIGGER_AGAIN:
                /* Touch sends several events: a wait or a retry already planned for this file stands. */
                return in_flight || s->next_retry ? step(WATCH_STEP_NONE) : decide_promote(s, now);
        case WATCH_EVENT_TRIGGER_GONE:
                return step(s->pending && !in_flight ? WATCH_STEP_FORGET : WATCH_STEP_NONE);
        case WATCH_EVENT_RETRY_DUE:
                /* A trigger waiting for the server, the position's deadline, or a reconnect while idle. */
                if (!s->pending)
                        return step(WATCH_STEP_PROBE);
                return step(s->query == CONN_POSITION ? WATCH_STEP_RECORD : WATCH_STEP_CHECK);
        case WATCH_EVENT_BEAT:
                /* While a trigger is being handled its own path reports; otherwise ask the server. */
                return step(s->pending ? WATCH_STEP_REPORT : WATCH_STEP_PROBE);
        case WATCH_EVENT_STOP:
                /* Promoted already: the record must not be lost to a stop that came meanwhile. */
                return step(s->query == CONN_POSITION ? WATCH_STEP_RECORD : WATCH_STEP_STOP);
        case WATCH_EVENT_CONNECTED:
                /* A reconnect planned while idle is done; a trigger's retries are its own. */
                return step(s->pending ? WATCH_STEP_NONE : WATCH_STEP_CANCEL_RETRY);
        case WATCH_EVENT_UNREACHABLE:
                return s->pending ? retry_later(s, now) : step(WATCH_STEP_NONE);
        case WATCH_EVENT_LOST:
                /* With a trigger waiting, the retries back off; otherwise one prompt try, then the beats. */
                return s->pending ? retry_later(s, now) : step_at(WATCH_STEP_RECONNECT, now + WATCH_RECONNECT_USEC);
        default:
                return decide_answer(s, e, now);
        }
}
