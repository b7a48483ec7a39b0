/* SPDX-License-Identifier: MIT */
/*
 * The watcher's event loop and every decision it makes (watch.h): events
 * from the lower modules go through decide_next(); the rest of this file
 * carries the chosen step out, and status.c says what happened.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "control.h"
#include "decide.h"
#include "diverge.h"
#include "dirwatch.h"
#include "errors.h"
#include "fs.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "promote.h"
#include "ratelog.h"
#include "record.h"
#include "trigger.h"
#include "slots.h"
#include "util.h"
#include "watch.h"
#include "watch-internal.h"

static int watch_check(Watch *w);

/* ---- The trigger directory. ---- */

/*
 * A directory on the trigger's path is bad (trigger_dir_classify()): say
 * so, once, and watch its parent for that name to be put right; nothing
 * at the trigger path counts meanwhile. The watcher keeps running: a local
 * user must not be able to stop it for good.
 */
static int watch_untrusted(Watch *w, size_t len, DirVerdict v, uid_t uid) {
        _cleanup_free_ char *bad = strndup(w->dir, len);
        char who[128], me[128], *text = NULL;
        int r;

        if (!bad)
                return log_oom();
        if (v == DIR_UNREADABLE)
                snprintf(who, sizeof(who), "unknown");
        else
                status_owner(uid, who, sizeof(who));
        if (asprintf(&text, "'%s' %s, owner %s", bad, trigger_dir_reason(v), who) < 0)
                return log_oom();
        /* Said when it appears or changes, not at every look (the beats look again). */
        if (!w->dir_problem || !streq(w->dir_problem, text))
                status_say(w, LOG_WARNING, "Not acting on trigger '%s': '%s' on its path %s (owner %s); only real "
                           "directories owned by root or %s may lead to the trigger (name the real directory in "
                           "POSTGRESQL_PROMOTE_TRIGGER_FILE); waiting for that to change", w->path, bad,
                           trigger_dir_reason(v), who, status_owner(w->self, me, sizeof(me)));
        status_set_text(&w->dir_problem, text);
        w->dir_missing_logged = false;
        r = dirwatch_arm_component(&w->dw, len);
        /* Nothing to watch it from ("/" itself, or gone meanwhile): the beats look again. */
        if (r < 0 && r != -ENOENT && r != -ENOTDIR && r != -EACCES)
                return log_error_errno(r, "Cannot watch the parent of '%s': %m", bad);
        w->dw.on_ancestor = true;
        return 0;
}

/*
 * Watch the trigger's directory; while it is missing, its nearest existing
 * ancestor, so that its appearance arms the real watch; while a directory
 * of its path is bad, that directory's parent. The caller then looks at
 * the path: a file that was already there counts.
 */
static int watch_arm(Watch *w) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                DirVerdict v;
                size_t len;
                uid_t uid;
                int r;

                r = dirwatch_trust(w->dir, w->self, &len, &v, &uid);
                if (r < 0)
                        return log_error_errno(r, "Cannot look at '%s': %m", w->dir);
                if (r == DIRWATCH_UNTRUSTED)
                        return watch_untrusted(w, len, v, uid);
                if (r == 0) {
                        r = dirwatch_arm_dir(&w->dw);
                        if (r >= 0) {
                                if (w->dir_missing_logged || w->dir_problem)
                                        status_say(w, LOG_INFO, "Trigger directory '%s' is there again; watching it",
                                                   w->dir);
                                w->dir_missing_logged = false;
                                status_set_text(&w->dir_problem, NULL);
                                status_check_dir(w);
                                return 0;
                        }
                        if (r != -ENOENT && r != -ENOTDIR)
                                return log_error_errno(r, "Cannot watch '%s': %m", w->dir);
                        continue; /* changed meanwhile: look again */
                }
                r = dirwatch_arm_ancestor(&w->dw);
                if (r < 0 && r != -ENOENT && r != -ENOTDIR)
                        return log_error_errno(r, "Cannot watch any parent of '%s': %m", w->dir);
                if (r == 0) {
                        if (!w->dir_missing_logged)
                                status_say(w, LOG_WARNING,
                                           "Trigger directory '%s' does not exist; waiting for it to appear",
                                    w->dir);
                        w->dir_missing_logged = true;
                        status_set_text(&w->dir_problem, strdup("the trigger directory does not exist"));
                        return 0;
                }
        }
        /* It keeps changing under us: the beats look again. */
        status_say(w, LOG_WARNING, "Trigger directory '%s' keeps changing; looking again at the next beat", w->dir);
        w->dw.on_ancestor = true;
        return 0;
}

/*
 * Open the watched directory for one look at the trigger (and its removal):
 * a descriptor checked to be the directory the watch is on, so the look and
 * the removal see one directory whatever a link in the path does meanwhile.
 * A path that now leads elsewhere (a link re-pointed, the directory
 * replaced before its events came) is armed again first. -ENOENT while the
 * directory is missing; other errors are logged.
 */
static int watch_open_dir(Watch *w, int *ret_fd) {
        for (unsigned attempt = 0; attempt < 3; attempt++) {
                int r;

                if (w->dw.on_ancestor)
                        return -ENOENT;
                r = dirwatch_open(&w->dw, ret_fd);
                if (r == 0)
                        return 0;
                if (r < 0)
                        return log_error_errno(r, "Cannot open the trigger directory '%s': %m", w->dir);
                /* A missing one is reported by watch_arm(). */
                if (r == DIRWATCH_ELSEWHERE)
                        status_say(w, LOG_INFO,
                                   "Trigger directory '%s' is not the one watched any more; watching it again",
                            w->dir);
                r = watch_arm(w);
                if (r < 0)
                        return r;
        }
        status_say(w, LOG_WARNING, "Trigger directory '%s' keeps changing; looking again at the next beat", w->dir);
        return -ENOENT;
}

/* Every directory on the path still trusted, at the moment of a look: else nothing counts, and the
 * watch goes where the problem is. 0 when trusted, 1 when not. */
static int watch_still_trusted(Watch *w) {
        DirVerdict v;
        size_t len;
        uid_t uid;
        int r = dirwatch_trust(w->dir, w->self, &len, &v, &uid);

        if (r == 0)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot look at '%s': %m", w->dir);
        r = watch_arm(w);
        return r < 0 ? r : 1;
}

/* ---- Carrying out the decisions. ---- */

static WatchState watch_state(const Watch *w) {
        return (WatchState) {
                .pending = w->pending,
                .query = w->conn.query,
                .query_sent = w->conn.sent,
                .next_retry = w->next_retry,
                .retry_delay = w->retry_delay,
                .sends = w->sends,
                .seen_recovery = w->seen_recovery,
                .keep_slots = w->keep_slots,
                .hand_over = w->config->failover_etcd,
        };
}

static WatchAction watch_decide_now(const Watch *w, WatchEvent e) {
        WatchState s = watch_state(w);

        return decide_next(&s, e, now_usec());
}

static void forget_pending(Watch *w) {
        w->pending = false;
        w->next_status = 0;
        w->next_retry = 0;
        w->retry_delay = 0;
        w->promote_sent = 0;
        w->sends = 0;
}

static int watch_do(Watch *w, WatchAction a);

static int watch_on(Watch *w, WatchEvent e) {
        return watch_do(w, watch_decide_now(w, e));
}

/* The held connection, opened if need be: 0 when it is ready; -ENOTCONN when the server is not reachable
 * (reported, and what next decided); other errors logged. */
static int watch_connect(Watch *w) {
        const char *reason = NULL;
        int r = conn_open(&w->conn, &reason);

        if (r == -ENOTCONN) {
                status_connect_failed(w, reason);
                r = watch_on(w, WATCH_EVENT_UNREACHABLE);
                return r < 0 ? r : -ENOTCONN;
        }
        if (r == -EPROTONOSUPPORT) {
                log_error("PostgreSQL %d has no pg_promote(): pgrepl needs 12 or later", w->conn.version);
                return -PGREPL_E_CONFIG;
        }
        if (r <= 0)
                return r;
        if (w->last_reason && !w->pending)
                log_info("Local server is reachable again");
        w->last_reason = NULL;
        return watch_on(w, WATCH_EVENT_CONNECTED);
}

/* Ask for the periodic STATUS=: open the connection if need be, send the status query. */
static int watch_probe(Watch *w) {
        int r;

        if (w->conn.query != CONN_IDLE)
                return 0;
        r = watch_connect(w);
        if (r == -ENOTCONN) {
                status_unreachable(w, w->last_reason);
                return 0;
        }
        if (r < 0)
                return r;
        r = conn_send_status(&w->conn, now_usec());
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_free_ char *e = conn_error_line(&w->conn);

                log_warning("Cannot send the status query: %s", e ? e : "out of memory");
                conn_drop(&w->conn);
        }
        return 0;
}

/* The server closed the connection (shutdown, restart, a terminated backend). */
static int watch_lost(Watch *w) {
        _cleanup_free_ char *e = conn_lost_reason(&w->conn);

        log_info("Lost the connection to the local server (%s); connecting again", e ? e : "closed");
        conn_drop(&w->conn);
        return watch_on(w, WATCH_EVENT_LOST);
}

/* Send pg_promote(true, N) on the held connection; the answer arrives in the poll loop. */
static int watch_promote(Watch *w) {
        char who[128];
        int r;

        r = watch_connect(w);
        if (r == -ENOTCONN) {
                status_report(w);
                return 0;
        }
        if (r < 0)
                return r;
        if (conn_send_promote(&w->conn, now_usec()) < 0) {
                _cleanup_free_ char *e = conn_error_line(&w->conn);

                log_warning("Cannot send pg_promote(): %s; retrying", e ? e : "out of memory");
                conn_drop(&w->conn);
                return watch_on(w, WATCH_EVENT_PROMOTE_UNSENT);
        }
        w->sends++;
        log_debug("pg_promote() sent %llu us after the trigger was seen",
                  (unsigned long long) (now_usec() - w->detected));
        if (!w->promote_sent) {
                w->promote_sent = now_usec();
                log_info("Trigger '%s' (owner %s): promoting the local server", w->path,
                         status_owner(w->trigger_uid, who, sizeof(who)));
        }
        status_report(w);
        return watch_on(w, WATCH_EVENT_PROMOTE_SENT);
}

/* pg_promote() failed, or could not be sent again: retry, on this connection if it is still good. */
static int watch_promote_failed(Watch *w, const char *error) {
        int r;

        log_warning("pg_promote() failed: %s; retrying", error ? error : "unknown error");
        if (!conn_ok(&w->conn))
                conn_drop(&w->conn);
        r = watch_on(w, WATCH_EVENT_PROMOTE_FAILED);
        status_report(w);
        return r;
}

/* pg_promote() returned false after N seconds: PostgreSQL is still finishing recovery; ask again. */
static int watch_resend(Watch *w) {
        _cleanup_free_ char *e = NULL;

        log_warning("Promotion requested %llu s ago is still pending (PostgreSQL is finishing recovery); "
                    "waiting", (unsigned long long) ((now_usec() - w->promote_sent) / 1000000ULL));
        if (conn_send_promote(&w->conn, now_usec()) >= 0) {
                w->sends++;
                status_report(w);
                return 0;
        }
        e = conn_error_line(&w->conn);
        return watch_promote_failed(w, e);
}

static long long ms_between(const struct timespec *from, const struct timespec *to) {
        long long ms = (long long) (to->tv_sec - from->tv_sec) * 1000LL + (to->tv_nsec - from->tv_nsec) / 1000000L;

        return ms < 0 ? 0 : ms;
}

/* The trigger in hand was acted on: record it in the state directory's file (with its latest
 * ctime), then remove it. 0, or the record's write error (logged). */
static int watch_settle(Watch *w, PromotionRecord *rec, const char *file) {
        _cleanup_close_ int dir_fd = -1;
        struct stat st;
        int r, ret = 0;

        /* One descriptor of the watched directory for the look and the removal: a link in the path
         * re-pointed meanwhile cannot send the removal elsewhere. */
        (void) watch_open_dir(w, &dir_fd);
        /* The file as it is now (touch changes its ctime after creating it). */
        if (dirwatch_look(&w->dw, dir_fd, &st) >= 0 && st.st_dev == w->trigger.dev && st.st_ino == w->trigger.ino)
                rec->trigger = trigger_id_from_stat(&st);
        /* Record first: if the trigger cannot be removed, the record keeps it from acting twice. */
        r = record_write_file(w->state_dir, file, rec);
        if (r < 0)
                ret = log_error_errno(r, "Cannot write the record '%s/%s': %m", w->state_dir, file);
        if (dirwatch_look(&w->dw, dir_fd, &st) < 0 || st.st_dev != rec->trigger.dev || st.st_ino != rec->trigger.ino)
                log_warning("Trigger '%s' was removed or replaced meanwhile; leaving the path alone", w->path);
        else if ((r = dirwatch_remove(&w->dw, dir_fd)) < 0)
                log_warning_errno(r, "Cannot remove trigger '%s': %m; the record '%s/%s' keeps this node from "
                                  "acting on it again, but remove it by hand", w->path, w->state_dir, file);
        return ret;
}

/* Promoted (by us, or by other means while a trigger was pending): record it, remove the trigger,
 * report, done. */
static int watch_record(Watch *w) {
        PromotionRecord rec = { .time = (int64_t) time(NULL), .trigger_path = w->path, .trigger = w->trigger };
        long long touch_ms = ms_between(&w->touched, &w->promoted_wall);
        long long seen_ms = (long long) ((w->promoted - w->detected) / 1000ULL);
        int r, ret = 1;

        rec.timeline = w->have_position ? w->timeline : 0;
        snprintf(rec.lsn, sizeof(rec.lsn), "%s", w->have_position ? w->lsn : "0/0");
        if (!w->have_position)
                log_warning("Promoted, but cannot read the new timeline and position; recording them as unknown");
        r = watch_settle(w, &rec, RECORD_FILE);
        if (r < 0)
                ret = r;

        log_notice("Promoted: the local server is a primary on timeline %u at %s, %lld ms after trigger '%s' was "
                   "touched (%lld ms after the watcher saw it)", rec.timeline, rec.lsn, touch_ms, w->path, seen_ms);
        notify_status("promoted: primary on timeline %u at %s, %lld ms after the trigger", rec.timeline, rec.lsn,
                      touch_ms);
        forget_pending(w);
        return ret;
}

/* Promoted: the new timeline and position, for the record and the log, come on the held connection
 * like any answer; without them by the deadline, the promotion is recorded anyway. */
static int watch_ask_position(Watch *w, uint64_t deadline) {
        w->promoted = now_usec();
        clock_gettime(CLOCK_REALTIME, &w->promoted_wall);
        w->have_position = false;
        if (conn_send_position(&w->conn, now_usec()) < 0)
                return watch_record(w);
        w->next_retry = deadline;
        return 0;
}

static int watch_not_a_standby(Watch *w) {
        forget_pending(w);
        if (w->seen_recovery) {
                log_notice("The local server is no longer in recovery (promoted by other means): nothing left to watch");
                notify_status("promoted by other means: nothing left to watch");
        } else {
                log_notice("The local server is not in recovery (it is a primary): nothing to watch for");
                notify_status("the local server is a primary: nothing to do");
        }
        return 1;
}

/* A round of the partners' slots, after a status answer "in recovery". */
static int watch_keep_slots(Watch *w) {
        _cleanup_free_ char *sql = NULL;
        int r;

        r = slots_round_query(&w->config->partners, w->slots_lsn, &sql);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_oom();
        r = conn_send_slots(&w->conn, sql, now_usec());
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                log_debug("Cannot send the slots' round now (%d)", r);
        return 0;
}

/*
 * POSTGRESQL_FAILOVER=etcd (SPEC section 11): a valid trigger is a switchover, which the failover
 * agent carries out (the old primary steps down, this node takes the leader key, then is promoted):
 * ask it with an empty request in the state directory, and settle the trigger as after a
 * promotion, in a record of its own. The watcher goes on; it ends when it sees its server promoted.
 */
static int watch_hand_over(Watch *w) {
        _cleanup_free_ char *request = path_join(w->state_dir, SWITCHOVER_REQUEST), *text = NULL;
        time_t now = time(NULL);
        PromotionRecord rec = { .time = (int64_t) now, .lsn = "0/0", .trigger_path = w->path, .trigger = w->trigger };
        char who[128], when[32];
        struct tm tm;
        int r;

        if (!request)
                return log_oom();
        r = fs_write_atomic(request, "", 0600);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask the failover agent for a switchover ('%s'): %m; retrying", request);
                return watch_on(w, WATCH_EVENT_HAND_OVER_FAILED);
        }
        (void) watch_settle(w, &rec, SWITCHOVER_RECORD);
        w->handed.trigger = rec.trigger;
        w->have_handed = true;
        status_owner(w->trigger_uid, who, sizeof(who));
        log_notice("POSTGRESQL_FAILOVER=etcd: asked the failover agent for a switchover to this node (trigger '%s', "
                   "owner %s)", w->path, who);
        notify_status("POSTGRESQL_FAILOVER=etcd: asked the failover agent for a switchover to this node (trigger "
                      "'%s', owner %s)", w->path, who);
        /* Kept in the idle STATUS= with its time: the agent may drop a request (this node leads already). */
        strftime(when, sizeof(when), "%H:%M:%S UTC", gmtime_r(&now, &tm) ? &tm : &(struct tm) {});
        if (asprintf(&text, "switchover to this node asked of the failover agent at %s (trigger '%s', owner %s)",
                     when, w->path, who) < 0)
                return log_oom();
        status_set_text(&w->handed_text, TAKE_PTR(text));
        forget_pending(w);
        return 0;
}

static int watch_do(Watch *w, WatchAction a) {
        switch (a.step) {
        case WATCH_STEP_NONE:
        case WATCH_STEP_STOP: /* the signal handler's */
                return 0;
        case WATCH_STEP_RETRY:
                w->retry_delay = a.delay;
                w->next_retry = a.at;
                return 0;
        case WATCH_STEP_WAIT:
        case WATCH_STEP_RECONNECT:
                w->next_retry = a.at;
                return 0;
        case WATCH_STEP_CANCEL_RETRY:
                w->next_retry = 0;
                return 0;
        case WATCH_STEP_PROMOTE_AFRESH:
                log_warning("The local server has not answered the status query for %llu ms; promoting on a new "
                            "connection", (unsigned long long) ((now_usec() - w->conn.sent) / 1000ULL));
                conn_drop(&w->conn);
                return watch_promote(w);
        case WATCH_STEP_PROMOTE:
                return watch_promote(w);
        case WATCH_STEP_RESEND:
                return watch_resend(w);
        case WATCH_STEP_FORGET:
                log_notice("Trigger '%s' went away before the promotion was requested; not promoting", w->path);
                forget_pending(w);
                return 0;
        case WATCH_STEP_CHECK:
                return watch_check(w);
        case WATCH_STEP_PROBE:
                return watch_probe(w);
        case WATCH_STEP_REPORT:
                status_report(w);
                return 0;
        case WATCH_STEP_ASK_POSITION:
                return watch_ask_position(w, a.at);
        case WATCH_STEP_RECORD:
                return watch_record(w);
        case WATCH_STEP_NOT_A_STANDBY:
                return watch_not_a_standby(w);
        case WATCH_STEP_SLOTS:
                return watch_keep_slots(w);
        case WATCH_STEP_HAND_OVER:
                return watch_hand_over(w);
        }
        return 0;
}

/* ---- The trigger path. ---- */

/* Nothing valid at the trigger path: a trigger in hand not yet acted on is dropped; a bad file is warned about. */
static int watch_unusable(Watch *w, TriggerVerdict v, const struct stat *st) {
        int r = watch_on(w, WATCH_EVENT_TRIGGER_GONE);

        if (r != 0)
                return r;
        if (v != TRIGGER_ABSENT) {
                status_warn_ignored(w, v, st);
                return 0;
        }
        w->have_warned = false;
        if (w->ignored_text) {
                status_set_text(&w->ignored_text, NULL);
                status_report(w);
        }
        return 0;
}

/* A valid trigger: the one in hand seen again, or one to take in hand and promote. */
static int watch_take(Watch *w, const struct stat *st) {
        WatchAction a;

        if (w->pending && w->trigger.dev == st->st_dev && w->trigger.ino == st->st_ino) {
                /* Its latest ctime is what the record keeps. */
                w->trigger = trigger_id_from_stat(st);
                return watch_on(w, WATCH_EVENT_TRIGGER_AGAIN);
        }
        a = watch_decide_now(w, WATCH_EVENT_TRIGGER);
        /* Another file while pg_promote() runs is not taken. */
        if (a.step == WATCH_STEP_NONE)
                return 0;
        if (!w->pending) {
                w->detected = now_usec();
                w->touched = st->st_ctim;
        }
        w->pending = true;
        w->trigger = trigger_id_from_stat(st);
        w->trigger_uid = st->st_uid;
        return watch_do(w, a);
}

/* Look at the trigger path after an event, at start, and on every retry. */
static int watch_check(Watch *w) {
        _cleanup_close_ int dir_fd = -1;
        struct stat st;
        TriggerVerdict v;
        int r;

        r = watch_open_dir(w, &dir_fd);
        if (r < 0 && r != -ENOENT)
                return r;
        if (dir_fd >= 0) {
                r = watch_still_trusted(w);
                if (r < 0)
                        return r;
                if (r > 0) {
                        closep(&dir_fd);
                        dir_fd = -1;
                }
        }
        r = dirwatch_look(&w->dw, dir_fd, &st);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot look at '%s': %m", w->path);
        v = trigger_classify(r >= 0 ? &st : NULL, w->self, w->have_record ? &w->record.trigger : NULL);
        if (v == TRIGGER_VALID && w->have_handed &&
            trigger_classify(&st, w->self, &w->handed.trigger) == TRIGGER_DONE)
                v = TRIGGER_HANDED;
        if (v != TRIGGER_VALID)
                return watch_unusable(w, v, r >= 0 ? &st : NULL);
        status_set_text(&w->ignored_text, NULL);
        w->have_warned = false;
        return watch_take(w, &st);
}

/* ---- The server's answers. ---- */

static int on_status(Watch *w) {
        _cleanup_free_ char *error = NULL;
        StandbyState s = {};
        WatchEvent e;
        int r;

        r = conn_receive_status(&w->conn, &s, &error);
        if (r == 0)
                return 0;
        if (r == -ENOMEM)
                return log_oom();
        if (r == -ECONNRESET)
                return watch_lost(w);
        if (w->conn.overdue)
                log_info("The local server answers again (%llu s after the status query)",
                         (unsigned long long) ((now_usec() - w->conn.sent) / 1000000ULL));
        w->conn.overdue = false;
        if (r < 0) {
                log_warning("Status query failed: %s", error ? error : "malformed answer");
                e = WATCH_EVENT_STATUS_FAILED;
        } else if (!s.in_recovery)
                e = WATCH_EVENT_STATUS_PRIMARY;
        else {
                status_standby_seen(w, &s);
                e = WATCH_EVENT_STATUS_STANDBY;
        }
        promote_state_done(&s);
        return watch_on(w, e);
}

static int on_promote(Watch *w) {
        _cleanup_free_ char *error = NULL;
        PromoteOutcome o;
        int r;

        r = conn_receive_promote(&w->conn, &o, &error);
        if (r < 0)
                return log_oom();
        if (r == 0)
                return 0;
        switch (o) {
        case PROMOTE_DONE:
                return watch_on(w, WATCH_EVENT_PROMOTE_DONE);
        case PROMOTE_PENDING:
                return watch_on(w, WATCH_EVENT_PROMOTE_PENDING);
        case PROMOTE_NOT_IN_RECOVERY:
                return watch_on(w, WATCH_EVENT_PROMOTE_NOT_IN_RECOVERY);
        case PROMOTE_FAILED:
                break;
        }
        return watch_promote_failed(w, error);
}

static int on_position(Watch *w) {
        int r = conn_receive_position(&w->conn, &w->timeline, w->lsn, sizeof(w->lsn));

        if (r == 0)
                return 0;
        w->have_position = r > 0;
        return watch_on(w, WATCH_EVENT_POSITION);
}

/*
 * With partners, after a slots' round: a standby that does not stream and replayed past where a newer
 * timeline forks off its own can never follow the new primary (diverge.h). Ask once for the restart
 * that rewinds it (pgrepl-rejoin@.path): the standby's start decides, with the position seen here.
 */
static void watch_check_fork(Watch *w, const char *replayed) {
        _cleanup_free_ char *request = NULL, *seen = NULL;
        const char *name = w->config->instance;
        Divergence d, before;
        uint64_t lsn;
        char line[96];
        int r;

        if (w->streaming || control_parse_lsn(replayed, &lsn) < 0 ||
            diverge_check(config_get(w->config, VAR_DATA_DIR), lsn, &d) <= 0)
                return;
        request = path_join(w->state_dir, DIVERGE_REQUEST);
        seen = path_join(w->state_dir, DIVERGE_SEEN);
        if (!request || !seen) {
                log_oom();
                return;
        }
        if (diverge_read(request, &before) > 0 || (diverge_read(seen, &before) > 0 && before.newer >= d.newer)) {
                if (!w->fork_logged)
                        log_warning("This standby still cannot follow timeline %u, which forks off its timeline %u at "
                                    LSN_FMT ", before its position " LSN_FMT "; a restart to rewind it was asked "
                                    "for already: see the journal of pgrepl-standby@%s, or run pgreplctl rejoin %s",
                                    d.newer, d.tli, LSN_ARGS(d.fork), LSN_ARGS(d.replayed), name, name);
                w->fork_logged = true;
                return;
        }
        if (diverge_format(&d, line, sizeof(line)) < 0)
                return;
        r = fs_write_atomic(request, line, 0600);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask for the restart that rewinds this standby ('%s'): %m", request);
                return;
        }
        log_notice("This standby replayed up to " LSN_FMT " on timeline %u, past where the new primary's timeline %u "
                   "forks off it (" LSN_FMT "): it cannot follow. Asked for a restart of pgrepl-standby@%s, which "
                   "rewinds it", LSN_ARGS(d.replayed), d.tli, d.newer, LSN_ARGS(d.fork), name);
}

/* The slots' round answered: the replay position for the next one; a failure said once. */
static int on_slots(Watch *w) {
        _cleanup_free_ char *error = NULL;
        char lsn[32];
        int r;

        r = conn_receive_slots(&w->conn, lsn, sizeof(lsn), &error);
        if (r == 0)
                return 0;
        if (r == -ENOMEM)
                return log_oom();
        if (r > 0) {
                uint64_t v;

                /* It goes into the next round's SQL: only what parses as a position. */
                snprintf(w->slots_lsn, sizeof(w->slots_lsn), "%s", control_parse_lsn(lsn, &v) >= 0 ? lsn : "");
                watch_check_fork(w, w->slots_lsn);
                if (w->slots_error)
                        log_info("The partners' replication slots are kept again");
                status_set_text(&w->slots_error, NULL);
        } else if (!w->slots_error || !error || !streq(w->slots_error, error)) {
                log_warning("Cannot keep the partners' replication slots: %s", error ? error : "malformed answer");
                status_set_text(&w->slots_error, error ? TAKE_PTR(error) : strdup("malformed answer"));
        }
        return watch_on(w, WATCH_EVENT_SLOTS_DONE);
}

/* The held connection's socket is readable. */
static int on_conn(Watch *w) {
        switch (w->conn.query) {
        case CONN_SLOTS:
                return on_slots(w);
        case CONN_STATUS:
                return on_status(w);
        case CONN_PROMOTE:
                return on_promote(w);
        case CONN_POSITION:
                return on_position(w);
        case CONN_IDLE:
                break;
        }
        /* Idle: a notice (kept for the log), or the server closing the connection. */
        return conn_receive_idle(&w->conn) < 0 ? watch_lost(w) : 0;
}

/* ---- The event sources. ---- */

static int on_inotify(Watch *w) {
        int r = dirwatch_dispatch(&w->dw);
        bool check;

        if (r < 0)
                return log_error_errno(r, "Cannot read inotify events: %m");
        check = r & DIRWATCH_CHECK;
        if (r & DIRWATCH_REARM) {
                r = watch_arm(w);
                if (r < 0)
                        return r;
                /* The directory may be a new one, with a trigger in it already. */
                check = !w->dw.on_ancestor;
        }
        return check ? watch_check(w) : 0;
}

static int on_signal(Watch *w) {
        struct signalfd_siginfo si;
        const char *name;
        WatchAction a;

        if (read(w->signal_fd, &si, sizeof(si)) != sizeof(si))
                return 0;
        if (si.ssi_signo == SIGHUP) {
                log_debug("SIGHUP: nothing to reload");
                return 0;
        }
        name = strsignal((int) si.ssi_signo);
        notify_stopping();
        a = watch_decide_now(w, WATCH_EVENT_STOP);
        if (a.step != WATCH_STEP_STOP) {
                log_info("Stopping on %s once the promotion is recorded", name);
                return watch_do(w, a);
        }
        if (w->conn.query == CONN_PROMOTE)
                log_warning("Stopping while pg_promote() is in flight: PostgreSQL completes the promotion on its "
                            "own; the trigger '%s' and the promotion record are left as they are", w->path);
        else
                log_info("Stopping on %s", name);
        return 1;
}

static int on_timer(Watch *w) {
        uint64_t expirations, now;
        int r = 0;

        if (read(w->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
                return log_error_errno(-errno, "Cannot read the timer: %m");
        now = now_usec();
        if (w->next_status && now >= w->next_status)
                status_report(w);
        if (w->next_retry && now >= w->next_retry) {
                w->next_retry = 0;
                r = watch_on(w, WATCH_EVENT_RETRY_DUE);
                if (r != 0)
                        return r;
        }
        if (now >= w->next_tick) {
                while (w->next_tick <= now)
                        w->next_tick += w->interval;
                if (w->watchdog)
                        notify_watchdog();
                /* Not on the trigger's directory (missing, bad, or changing fast): look at the path again. */
                if (w->dw.on_ancestor && !w->pending) {
                        r = watch_arm(w);
                        if (r == 0 && !w->dw.on_ancestor)
                                r = watch_check(w);
                        if (r != 0)
                                return r;
                }
                status_check_overdue(w, now);
                r = watch_on(w, WATCH_EVENT_BEAT);
        }
        return r;
}

static int arm_timer(Watch *w) {
        uint64_t when = w->next_retry && w->next_retry < w->next_tick ? w->next_retry : w->next_tick;

        if (w->next_status && w->next_status < when)
                when = w->next_status;
        struct itimerspec its = { .it_value = { (time_t) (when / 1000000), (long) (when % 1000000) * 1000 } };

        if (when == w->timer_armed)
                return 0;
        if (timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                return log_error_errno(-errno, "Cannot arm the timer: %m");
        w->timer_armed = when;
        return 0;
}

static int watch_loop(Watch *w) {
        for (;;) {
                struct pollfd p[] = {
                        { .fd = w->signal_fd, .events = POLLIN },
                        { .fd = w->dw.fd, .events = POLLIN },
                        { .fd = w->timer_fd, .events = POLLIN },
                        { .fd = conn_fd(&w->conn), .events = POLLIN },
                };
                int r = arm_timer(w);

                if (r < 0)
                        return r;
                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(-errno, "poll() failed: %m");
                }
                /* Signals first: a stop request wins over anything else that is ready. */
                r = p[0].revents ? on_signal(w) : 0;
                if (r == 0 && p[3].revents && w->conn.pg)
                        r = on_conn(w);
                if (r == 0 && p[1].revents)
                        r = on_inotify(w);
                if (r == 0 && p[2].revents)
                        r = on_timer(w);
                if (r != 0)
                        return r;
        }
}

/* ---- Setting up. ---- */

/* The path two watchers would really share: the directory resolved when it exists. */
static char *canonical_path(const Watch *w) {
        _cleanup_free_ char *real = realpath(w->dir, NULL);
        const char *d = real ? real : w->dir;
        char *p = NULL;

        if (asprintf(&p, "%s/%s", streq(d, "/") ? "" : d, w->name) < 0)
                return NULL;
        return p;
}

/* One watcher per trigger path per host: an flock() in a directory every instance shares. */
static int watch_lock(Watch *w) {
        const char *env = getenv("RUNTIME_DIRECTORY");
        _cleanup_free_ char *dir = env && *env ? strndup(env, strcspn(env, ":")) : strdup(WATCH_LOCK_DIR);
        _cleanup_free_ char *canon = canonical_path(w), *name = NULL, *lock = NULL, *holder = NULL;
        char buf[256];
        int r;

        if (!dir || !canon || trigger_lock_name(canon, &name) < 0 || asprintf(&lock, "%s/%s", dir, name) < 0)
                return log_oom();
        r = fs_mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create the lock directory '%s': %m (the unit's "
                                       "RuntimeDirectory= provides it; by hand, create it for the service "
                                       "user or set RUNTIME_DIRECTORY)", dir);
        snprintf(buf, sizeof(buf), "pid %d, instance '%s'\n", (int) getpid(), w->config->instance);
        r = fs_lock(lock, buf, &w->lock_fd, &holder);
        if (r == -EWOULDBLOCK) {
                log_error("Trigger path '%s' is already watched by another pgrepl-trigger-watcher (%s; lock '%s'): "
                          "two standbys on one host must not share a trigger, set POSTGRESQL_PROMOTE_TRIGGER_FILE "
                          "for each", canon, holder && *holder ? holder : "holder unknown", lock);
                return -PGREPL_E_CONFIG;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot lock '%s': %m", lock);
        return 0;
}

/* The signalfd, the timerfd and the directory's inotify instance the loop polls. */
static int setup_events(Watch *w) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Cannot block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        w->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (w->signal_fd < 0 || w->timer_fd < 0)
                return log_error_errno(-errno, "Cannot set up the event loop: %m");
        r = dirwatch_init(&w->dw, w->dir, w->name);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");
        return 0;
}

static int watch_setup(Watch *w, const Config *c) {
        uint64_t wd_usec = notify_watchdog_usec();
        int r;

        w->config = c;
        w->self = geteuid();
        w->keep_slots = config_has_partners(c) && c->use_slot;
        w->path = strdup(config_get(c, VAR_PROMOTE_TRIGGER_FILE));
        w->state_dir = config_state_dir(c);
        if (!w->path || !w->state_dir)
                return log_oom();
        r = trigger_split_path(w->path, &w->dir, &w->name);
        if (r < 0)
                return r == -ENOMEM ? log_oom()
                                    : (log_error("POSTGRESQL_PROMOTE_TRIGGER_FILE='%s' (from %s): must name a file",
                                                 w->path, c->sources[VAR_PROMOTE_TRIGGER_FILE]), -PGREPL_E_CONFIG);
        conn_init(&w->conn, config_get(c, VAR_SOCKET_DIR), c->port);

        /* The record must be writable before anything may be promoted. */
        r = fs_mkdir_p(w->state_dir, 0700);
        if (r >= 0 && access(w->state_dir, W_OK) < 0)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "State directory '%s' is not usable: %m", w->state_dir);
        r = record_read(w->state_dir, &w->record);
        if (r < 0)
                log_warning_errno(r, "Ignoring unreadable promotion record in '%s': %m", w->state_dir);
        w->have_record = r > 0;
        r = record_read_file(w->state_dir, SWITCHOVER_RECORD, &w->handed);
        if (r < 0)
                log_warning_errno(r, "Ignoring unreadable switchover record in '%s': %m", w->state_dir);
        w->have_handed = r > 0;

        r = watch_lock(w);
        if (r < 0)
                return r;
        /* The trigger directory is watched through its descriptor's /proc/self/fd link. */
        if (access("/proc/self/fd", F_OK) < 0)
                return log_error_errno(-errno, "Cannot use '/proc/self/fd': %m (the watcher needs /proc)");
        r = setup_events(w);
        if (r < 0)
                return r;

        /* Ping at half of WatchdogSec=, and refresh STATUS= at the same beat: one wake-up. */
        w->watchdog = wd_usec > 0;
        w->interval = w->watchdog ? wd_usec / 2 : WATCH_STATUS_INTERVAL_USEC;
        if (w->interval < 100000)
                w->interval = 100000;
        w->next_tick = now_usec() + w->interval;
        return 0;
}

static void watch_free(Watch *w) {
        conn_drop(&w->conn);
        free(w->slots_error);
        closep(&w->lock_fd);
        dirwatch_done(&w->dw);
        closep(&w->signal_fd);
        closep(&w->timer_fd);
        record_done(&w->record);
        record_done(&w->handed);
        free(w->handed_text);
        free(w->path);
        free(w->dir);
        free(w->name);
        free(w->state_dir);
        free(w->state_text);
        free(w->ignored_text);
        free(w->dir_problem);
}

int watch_run(const Config *c) {
        Watch w = { .lock_fd = -1, .signal_fd = -1, .timer_fd = -1, .dw = { .fd = -1, .wd = -1 } };
        int r;

        r = watch_setup(&w, c);
        if (r >= 0)
                r = watch_arm(&w);
        if (r >= 0) {
                notify_ready(NULL);
                log_info("Watching '%s' (state in '%s')", w.path, w.state_dir);
                /* A trigger touched before we came up counts; without one, ask the server what it is. */
                r = w.dw.on_ancestor ? 0 : watch_check(&w);
                if (r == 0 && !w.pending)
                        r = watch_probe(&w);
        }
        if (r == 0)
                r = watch_loop(&w);
        watch_free(&w);
        return r < 0 ? r : 0;
}
