/* SPDX-License-Identifier: MIT */
/*
 * What the watcher says (watch-internal.h): its log lines about the
 * trigger, its directory and the local server, rate-limited where a local
 * user could make them repeat, and STATUS=.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "util.h"
#include "watch-internal.h"

/* "'nobody', uid 65534"; names are looked up only for messages. */
const char *status_owner(uid_t uid, char *buf, size_t n) {
        struct passwd *pw = getpwuid(uid);

        if (pw)
                snprintf(buf, n, "'%s', uid %u", pw->pw_name, (unsigned) uid);
        else
                snprintf(buf, n, "uid %u", (unsigned) uid);
        return buf;
}

/* A line a local user could make the watcher repeat: said once, then at most once a minute. */
void status_say(Watch *w, int level, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        unsigned held = 0;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (r < 0) {
                (void) log_oom();
                return;
        }
        if (!ratelog_allow(&w->ratelog, line, now_usec(), &held))
                return;
        if (held > 0)
                (void) log_internal(level, 0, "%s (and %u times more in the last minute)", line, held);
        else
                (void) log_internal(level, 0, "%s", line);
}

void status_set_text(char **field, char *text) {
        free(*field);
        *field = text;
}

bool status_promoting(const Watch *w) {
        return w->conn.query == CONN_PROMOTE || w->conn.query == CONN_POSITION;
}

void status_report(Watch *w) {
        uint64_t now = now_usec();

        w->next_status = 0;
        if (w->pending && status_promoting(w)) {
                uint64_t secs = (now - w->promote_sent) / 1000000ULL;

                notify_status("promoting: pg_promote() running for %llu s after trigger '%s'",
                              (unsigned long long) secs, w->path);
                /* The counter stays true: said again at each whole second (arm_timer()). */
                w->next_status = w->promote_sent + (secs + 1) * 1000000ULL;
        } else if (w->pending) {
                /* From the trigger's own time (its ctime), not from when this process saw it: a watcher
                 * restarted meanwhile counts the same. */
                long long ago = (long long) time(NULL) - (long long) w->touched.tv_sec;

                notify_status("trigger '%s' touched %lld s ago; waiting for the local server: %s", w->path,
                              ago < 0 ? 0 : ago, w->last_reason ? w->last_reason : "retrying");
        }
        else if (w->dir_problem)
                notify_status("%s; NOT watching '%s': %s", w->state_text ? w->state_text : "starting", w->path,
                              w->dir_problem);
        else
                notify_status("%s; watching '%s'%s%s%s%s", w->state_text ? w->state_text : "starting", w->path,
                              w->handed_text ? "; " : "", w->handed_text ? w->handed_text : "",
                              w->ignored_text ? "; " : "", w->ignored_text ? w->ignored_text : "");
}

void status_unreachable(Watch *w, const char *why) {
        char *text = NULL;

        if (asprintf(&text, "local server not reachable (%s)", why) < 0)
                text = NULL;
        status_set_text(&w->state_text, text);
        status_report(w);
}

void status_warn_ignored(Watch *w, TriggerVerdict v, const struct stat *st) {
        char who[128], me[128];

        /* Once per file: a reused inode number with another type or owner is another file. */
        if (w->have_warned && w->warned.st_dev == st->st_dev && w->warned.st_ino == st->st_ino &&
            (w->warned.st_mode & S_IFMT) == (st->st_mode & S_IFMT) && w->warned.st_uid == st->st_uid)
                return;
        w->warned = *st;
        w->have_warned = true;
        status_owner(st->st_uid, who, sizeof(who));
        if (v == TRIGGER_DONE)
                status_say(w, LOG_WARNING, "Ignoring '%s' (owner %s): this node was already promoted by this very "
                           "file (see '%s/%s'); remove it, or touch it again to promote once more", w->path, who,
                           w->state_dir, RECORD_FILE);
        else if (v == TRIGGER_HANDED)
                status_say(w, LOG_WARNING, "Ignoring '%s' (owner %s): this very file was already handed to the "
                           "failover agent as a switchover (see '%s/%s'); remove it, or touch it again to ask once "
                           "more", w->path, who, w->state_dir, SWITCHOVER_RECORD);
        else
                status_say(w, LOG_WARNING, "Ignoring '%s' (owner %s): it %s; only a regular file made in place "
                           "(touch) and owned by root or %s promotes this node", w->path, who,
                           trigger_verdict_reason(v), status_owner(w->self, me, sizeof(me)));
        status_set_text(&w->ignored_text, NULL);
        if (asprintf(&w->ignored_text, "ignoring '%s': %s, owner %s", w->path, trigger_verdict_reason(v), who) < 0)
                w->ignored_text = NULL;
        status_report(w);
}

/* Warn about a trusted trigger directory that its group may still write to without the sticky bit. */
void status_check_dir(Watch *w) {
        struct stat st;

        if (stat(w->dir, &st) >= 0 && (st.st_mode & S_IWGRP) && !(st.st_mode & S_ISVTX))
                status_say(w, LOG_WARNING, "Trigger directory '%s' is writable by its group (gid %u) without the "
                           "sticky bit: its members can rename a root-owned file onto the trigger path", w->dir,
                           (unsigned) st.st_gid);
}

/* A failed connection attempt: report a change of reason once, not every attempt. */
void status_connect_failed(Watch *w, const char *reason) {
        if (reason != w->last_reason) {
                if (w->pending)
                        log_warning("Trigger '%s' seen, but the local server on '%s' port %u is not reachable (%s); "
                                    "retrying", w->path, w->conn.socket_dir, w->conn.port, reason);
                else
                        log_info("Local server on '%s' port %u is not reachable (%s); will try again",
                                 w->conn.socket_dir, w->conn.port, reason);
        }
        w->last_reason = reason;
}

/*
 * At a beat: a status query sent at the last one and still unanswered means
 * a server (or backend) that hangs. Say so; the query stays with its
 * backend rather than a new backend being started every beat, and a
 * trigger goes on a connection of its own (WATCH_STEP_PROMOTE_AFRESH).
 */
void status_check_overdue(Watch *w, uint64_t now) {
        uint64_t waited = now - w->conn.sent;
        char why[64];

        if (!conn_status_overdue(&w->conn, w->interval, now))
                return;
        if (!w->conn.overdue)
                log_warning("The local server has not answered the status query for %llu s; waiting for it",
                            (unsigned long long) (waited / 1000000ULL));
        w->conn.overdue = true;
        snprintf(why, sizeof(why), "not answering for %llu s", (unsigned long long) (waited / 1000000ULL));
        status_unreachable(w, why);
}

/* A status answer "in recovery": what STATUS= says while idle. */
void status_standby_seen(Watch *w, const StandbyState *s) {
        w->seen_recovery = true;
        w->streaming = s->wal_status && streq(s->wal_status, "streaming");
        if (!strempty(s->trigger_setting) && !w->warned_setting) {
                log_warning("PostgreSQL's own promote_trigger_file is set ('%s'): it polls, and may race "
                            "this watcher; pgrepl never sets it, remove it", s->trigger_setting);
                w->warned_setting = true;
        }
        status_set_text(&w->state_text, promote_describe(s));
        status_report(w);
}

