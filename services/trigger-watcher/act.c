/* SPDX-License-Identifier: MIT */
/*
 * The watcher's decisions: what sits at the trigger path, and the
 * promotion itself (pg_promote(true, N) sent without blocking on the held
 * connection, then the record, the trigger's removal and the report).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "notify.h"
#include "promote.h"
#include "util.h"
#include "watch.h"

/* "'nobody', uid 65534"; names are looked up only for messages. */
static const char *owner(uid_t uid, char *buf, size_t n) {
        struct passwd *pw = getpwuid(uid);

        if (pw)
                snprintf(buf, n, "'%s', uid %u", pw->pw_name, (unsigned) uid);
        else
                snprintf(buf, n, "uid %u", (unsigned) uid);
        return buf;
}

static void set_text(char **field, char *text) {
        free(*field);
        *field = text;
}

void watch_set_state(Watch *w, char *text) {
        set_text(&w->state_text, text);
}

void watch_status(Watch *w) {
        uint64_t now = now_usec();

        if (w->pending && watch_promoting(w))
                notify_status("promoting: pg_promote() running for %llu s after trigger '%s'",
                              (unsigned long long) ((now - w->promote_sent) / 1000000ULL), w->path);
        else if (w->pending)
                notify_status("trigger '%s' seen %llu s ago; waiting for the local server: %s", w->path,
                              (unsigned long long) ((now - w->detected) / 1000000ULL),
                              w->last_reason ? w->last_reason : "retrying");
        else
                notify_status("%s; watching '%s'%s%s", w->state_text ? w->state_text : "starting", w->path,
                              w->ignored_text ? "; " : "", w->ignored_text ? w->ignored_text : "");
}

void watch_schedule_retry(Watch *w) {
        w->retry_delay = w->retry_delay ? w->retry_delay * 2 : WATCH_RETRY_MIN_USEC;
        if (w->retry_delay > WATCH_RETRY_MAX_USEC)
                w->retry_delay = WATCH_RETRY_MAX_USEC;
        w->next_retry = now_usec() + w->retry_delay;
}

int watch_not_a_standby(Watch *w) {
        if (w->seen_recovery) {
                log_notice("The local server is no longer in recovery (promoted by other means): nothing left to watch");
                notify_status("promoted by other means: nothing left to watch");
        } else {
                log_notice("The local server is not in recovery (it is a primary): nothing to watch for");
                notify_status("the local server is a primary: nothing to do");
        }
        return 1;
}

static void forget_pending(Watch *w) {
        w->pending = false;
        w->next_retry = 0;
        w->retry_delay = 0;
        w->promote_sent = 0;
        w->sends = 0;
}

static void warn_ignored(Watch *w, TriggerVerdict v, const struct stat *st) {
        char who[128], me[128];

        /* Once per file: a reused inode number with another type or owner is another file. */
        if (w->have_warned && w->warned.st_dev == st->st_dev && w->warned.st_ino == st->st_ino &&
            (w->warned.st_mode & S_IFMT) == (st->st_mode & S_IFMT) && w->warned.st_uid == st->st_uid)
                return;
        w->warned = *st;
        w->have_warned = true;
        owner(st->st_uid, who, sizeof(who));
        if (v == TRIGGER_DONE)
                log_warning("Ignoring '%s' (owner %s): this node was already promoted by this very file (see "
                            "'%s/%s'); remove it, or touch it again to promote once more", w->path, who,
                            w->state_dir, RECORD_FILE);
        else
                log_warning("Ignoring '%s' (owner %s): it %s; only a regular file owned by root or %s promotes "
                            "this node", w->path, who, trigger_verdict_reason(v), owner(w->self, me, sizeof(me)));
        set_text(&w->ignored_text, NULL);
        if (asprintf(&w->ignored_text, "ignoring '%s': %s, owner %s", w->path, trigger_verdict_reason(v), who) < 0)
                w->ignored_text = NULL;
        watch_status(w);
}

/* What is at the trigger path now, in dir_fd (the watched directory); never through a link. */
static int trigger_stat(const Watch *w, int dir_fd, struct stat *ret) {
        if (dir_fd < 0)
                return -ENOENT;
        return dirwatch_look(&w->dw, dir_fd, ret);
}

/* Look at the trigger path after an event, at start, and on every retry. */
int watch_check(Watch *w) {
        _cleanup_close_ int dir_fd = -1;
        struct stat st;
        bool there;
        TriggerVerdict v;
        int r;

        r = watch_open_dir(w, &dir_fd);
        if (r < 0 && r != -ENOENT)
                return r;
        r = trigger_stat(w, dir_fd, &st);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot look at '%s': %m", w->path);
        there = r >= 0;
        v = trigger_classify(there ? &st : NULL, w->self, w->have_record ? &w->record.trigger : NULL);
        if (v != TRIGGER_VALID) {
                if (w->pending && !watch_promoting(w)) {
                        log_notice("Trigger '%s' went away before the promotion was requested; not promoting", w->path);
                        forget_pending(w);
                }
                if (v == TRIGGER_ABSENT) {
                        w->have_warned = false;
                        if (w->ignored_text) {
                                set_text(&w->ignored_text, NULL);
                                watch_status(w);
                        }
                } else
                        warn_ignored(w, v, there ? &st : NULL);
                return 0;
        }
        set_text(&w->ignored_text, NULL);
        w->have_warned = false;
        /* The same file again (touch sends several events): already in hand. */
        if (w->pending && w->trigger.dev == st.st_dev && w->trigger.ino == st.st_ino) {
                w->trigger = trigger_id_from_stat(&st);
                return watch_promoting(w) || w->next_retry ? 0 : watch_promote(w);
        }
        if (w->pending && watch_promoting(w))
                return 0;
        if (!w->pending) {
                w->detected = now_usec();
                w->touched = st.st_ctim;
        }
        w->pending = true;
        w->trigger = trigger_id_from_stat(&st);
        w->trigger_uid = st.st_uid;
        return watch_promote(w);
}

/* Send pg_promote(true, N) on the held connection; the answer arrives in the poll loop. */
int watch_promote(Watch *w) {
        char who[128];
        int r;

        /* A status query runs: its answer, due at once, comes first and calls this again. One
         * that keeps us waiting is left to its backend, and pg_promote() goes on a new connection. */
        if (w->query == QUERY_STATUS) {
                uint64_t waited = now_usec() - w->query_sent;

                if (waited < WATCH_DEFER_MAX_USEC) {
                        w->next_retry = w->query_sent + WATCH_DEFER_MAX_USEC;
                        return 0;
                }
                log_warning("The local server has not answered the status query for %llu ms; promoting on a new "
                            "connection", (unsigned long long) (waited / 1000ULL));
                local_drop(w);
        }
        r = local_ensure(w);
        if (r == -ENOTCONN) {
                watch_schedule_retry(w);
                watch_status(w);
                return 0;
        }
        if (r < 0)
                return r;
        if (promote_send(w->conn, PROMOTE_WAIT_SEC) < 0) {
                _cleanup_free_ char *e = promote_error_line(PQerrorMessage(w->conn));

                log_warning("Cannot send pg_promote(): %s; retrying", e ? e : "out of memory");
                local_drop(w);
                watch_schedule_retry(w);
                return 0;
        }
        w->query = QUERY_PROMOTE;
        w->next_retry = 0;
        w->sends++;
        log_debug("pg_promote() sent %llu us after the trigger was seen",
                  (unsigned long long) (now_usec() - w->detected));
        if (!w->promote_sent) {
                w->promote_sent = now_usec();
                log_info("Trigger '%s' (owner %s): promoting the local server", w->path,
                         owner(w->trigger_uid, who, sizeof(who)));
        }
        watch_status(w);
        return 0;
}

static long long ms_since(const struct timespec *t) {
        struct timespec now;
        long long ms;

        clock_gettime(CLOCK_REALTIME, &now);
        ms = (long long) (now.tv_sec - t->tv_sec) * 1000LL + (now.tv_nsec - t->tv_nsec) / 1000000L;
        return ms < 0 ? 0 : ms;
}

/* Promoted (by us, or by other means while a trigger was pending): record it, remove the trigger,
 * report, done. */
int watch_finish(Watch *w) {
        PromotionRecord rec = { .time = (int64_t) time(NULL), .trigger_path = w->path, .trigger = w->trigger };
        long long touch_ms = ms_since(&w->touched);
        long long seen_ms = (long long) ((now_usec() - w->detected) / 1000ULL);
        _cleanup_close_ int dir_fd = -1;
        struct stat st;
        int r, ret = 1;

        r = promote_query_position(w->conn, &rec.timeline, rec.lsn, sizeof(rec.lsn));
        if (r < 0) {
                log_warning("Promoted, but cannot read the new timeline and position; recording them as unknown");
                rec.timeline = 0;
                snprintf(rec.lsn, sizeof(rec.lsn), "0/0");
        }
        w->query = QUERY_NONE;

        /* One descriptor of the watched directory for the look and the removal: a link in the path
         * re-pointed meanwhile cannot send the removal elsewhere. */
        (void) watch_open_dir(w, &dir_fd);
        /* The file as it is now (touch changes its ctime after creating it). */
        if (trigger_stat(w, dir_fd, &st) >= 0 && st.st_dev == w->trigger.dev && st.st_ino == w->trigger.ino)
                rec.trigger = trigger_id_from_stat(&st);
        /* Record first: if the trigger cannot be removed, the record keeps it from acting twice. */
        r = record_write(w->state_dir, &rec);
        if (r < 0)
                ret = log_error_errno(r, "Cannot write the promotion record '%s/%s': %m", w->state_dir, RECORD_FILE);
        if (trigger_stat(w, dir_fd, &st) < 0 || st.st_dev != rec.trigger.dev || st.st_ino != rec.trigger.ino)
                log_warning("Trigger '%s' was removed or replaced meanwhile; leaving the path alone", w->path);
        else if ((r = dirwatch_remove(&w->dw, dir_fd)) < 0)
                log_warning_errno(r, "Cannot remove trigger '%s': %m; the promotion record keeps this node "
                                  "from acting on it again, but remove it by hand", w->path);

        log_notice("Promoted: the local server is a primary on timeline %u at %s, %lld ms after trigger '%s' was "
                   "touched (%lld ms after the watcher saw it)", rec.timeline, rec.lsn, touch_ms, w->path, seen_ms);
        notify_status("promoted: primary on timeline %u at %s, %lld ms after the trigger", rec.timeline, rec.lsn,
                      touch_ms);
        forget_pending(w);
        return ret;
}

/* The promotion connection is readable. */
int watch_promote_io(Watch *w) {
        _cleanup_free_ char *error = NULL;
        PromoteOutcome o;
        int r;

        r = promote_receive(w->conn, &w->result, &o, &error);
        if (r < 0)
                return log_oom();
        if (r == 0)
                return 0;
        w->notice[0] = 0;
        switch (o) {
        case PROMOTE_DONE:
                return watch_finish(w);
        case PROMOTE_PENDING:
                log_warning("Promotion requested %llu s ago is still pending (PostgreSQL is finishing recovery); "
                            "waiting", (unsigned long long) ((now_usec() - w->promote_sent) / 1000000ULL));
                watch_status(w);
                if (promote_send(w->conn, PROMOTE_WAIT_SEC) >= 0) {
                        w->sends++;
                        return 0;
                }
                error = promote_error_line(PQerrorMessage(w->conn));
                break;
        case PROMOTE_NOT_IN_RECOVERY:
                /* The first request refused, and never seen in recovery: not a standby to begin with,
                 * leave the trigger alone. Otherwise it got promoted meanwhile (by us or otherwise). */
                if (w->sends == 1 && !w->seen_recovery) {
                        w->query = QUERY_NONE;
                        forget_pending(w);
                        return watch_not_a_standby(w);
                }
                return watch_finish(w);
        case PROMOTE_FAILED:
                break;
        }
        log_warning("pg_promote() failed: %s; retrying", error ? error : "unknown error");
        w->query = QUERY_NONE;
        /* A connection still good is kept for the retry. */
        if (PQstatus(w->conn) != CONNECTION_OK)
                local_drop(w);
        watch_schedule_retry(w);
        watch_status(w);
        return 0;
}
