/* SPDX-License-Identifier: MIT */
/*
 * The watcher's one connection to the local server, held while idle so a
 * trigger goes straight to pg_promote(): opening one then would put a
 * backend's start-up between the touch and the promotion. The periodic
 * status query runs on it too, sent and collected by the poll loop so a
 * server that stops answering cannot stall the watchdog; such a query is
 * reported and left to its backend, never piled up on new connections. It
 * costs one idle backend (application_name pgrepl-trigger-watcher); a smart
 * shutdown of the server would wait for it, but the units stop the watcher
 * first and use a fast shutdown. Opening it blocks (connect_timeout).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "pg.h"
#include "promote.h"
#include "util.h"
#include "watch.h"

/* The server's messages outside a query (its reason for closing the connection) go to our log,
 * not raw to stderr as libpq's default would. */
static void on_notice(void *userdata, const char *message) {
        Watch *w = userdata;
        _cleanup_free_ char *line = promote_error_line(message);

        if (!line)
                return;
        log_debug("Local server: %s", line);
        snprintf(w->notice, sizeof(w->notice), "%s", line);
}

void local_drop(Watch *w) {
        if (w->result)
                PQclear(w->result);
        w->result = NULL;
        if (w->conn)
                PQfinish(w->conn);
        w->conn = NULL;
        w->query = QUERY_NONE;
        w->session_set = false;
        w->overdue = false;
        w->notice[0] = 0;
}

/* A failed connection attempt: report a change of reason once, not every attempt. */
static void connect_failed(Watch *w, PGconn *conn) {
        const char *reason = pg_error_reason(conn);

        if (reason != w->last_reason) {
                if (w->pending)
                        log_warning("Trigger '%s' seen, but the local server on '%s' port %u is not reachable (%s); "
                                    "retrying", w->path, config_get(w->config, VAR_SOCKET_DIR), w->config->port,
                                    reason);
                else
                        log_info("Local server on '%s' port %u is not reachable (%s); will try again",
                                 config_get(w->config, VAR_SOCKET_DIR), w->config->port, reason);
        }
        w->last_reason = reason;
}

/*
 * The held connection, opened if there is none or it was lost. 0 with
 * w->conn idle and ready; -ENOTCONN when the server is not reachable
 * (reported; the caller decides when to try again); -PGREPL_E_CONFIG when it is
 * too old.
 */
int local_ensure(Watch *w) {
        PGconn *conn;

        /* Reading what is there (nothing, or the server's goodbye) finds a connection lost unseen. */
        if (w->conn && (!PQconsumeInput(w->conn) || PQstatus(w->conn) != CONNECTION_OK))
                local_drop(w);
        if (w->conn)
                return 0;
        conn = promote_connect(w->config);
        if (PQstatus(conn) != CONNECTION_OK) {
                connect_failed(w, conn);
                PQfinish(conn);
                return -ENOTCONN;
        }
        if (PQserverVersion(conn) < PROMOTE_MIN_VERSION) {
                log_error("PostgreSQL %d has no pg_promote(): pgrepl needs 12 or later", PQserverVersion(conn));
                PQfinish(conn);
                return -PGREPL_E_CONFIG;
        }
        PQsetNoticeProcessor(conn, on_notice, w);
        if (w->last_reason && !w->pending)
                log_info("Local server is reachable again");
        w->last_reason = NULL;
        /* A reconnect planned while idle is done. */
        if (!w->pending)
                w->next_retry = 0;
        w->conn = conn;
        return 0;
}

static void set_unreachable(Watch *w, const char *why) {
        char *text = NULL;

        if (asprintf(&text, "local server not reachable (%s)", why) < 0)
                text = NULL;
        watch_set_state(w, text);
        watch_status(w);
}

/* The server closed the connection (shutdown, restart, a terminated backend). */
static int lost(Watch *w) {
        _cleanup_free_ char *e = w->notice[0] ? strdup(w->notice) : promote_error_line(PQerrorMessage(w->conn));

        log_info("Lost the connection to the local server (%s); connecting again", e ? e : "closed");
        local_drop(w);
        /* With a trigger waiting, the retries back off; otherwise one prompt try, then the beats. */
        if (w->pending)
                watch_schedule_retry(w);
        else
                w->next_retry = now_usec() + WATCH_RECONNECT_USEC;
        return 0;
}

static int status_io(Watch *w) {
        _cleanup_free_ char *error = NULL;
        StandbyState s = {};
        int r;

        r = promote_receive_state(w->conn, &w->result, &s, &error);
        if (r == 0)
                return 0;
        w->query = QUERY_NONE;
        if (r == -ENOMEM)
                return log_oom();
        /* The server's reason for closing, if it came during the query, goes to the log. */
        if (r < 0 && PQstatus(w->conn) != CONNECTION_OK)
                return lost(w);
        w->notice[0] = 0;
        if (w->overdue)
                log_info("The local server answers again (%llu s after the status query)",
                         (unsigned long long) ((now_usec() - w->query_sent) / 1000000ULL));
        w->overdue = false;
        if (r < 0)
                log_warning("Status query failed: %s", error ? error : "malformed answer");
        else if (!s.in_recovery) {
                standby_state_done(&s);
                /* Promoted by other means while a trigger waited: that trigger is done with too. */
                if (w->pending && w->seen_recovery)
                        return watch_finish(w);
                return watch_not_a_standby(w);
        } else {
                w->session_set = true;
                w->seen_recovery = true;
                if (!strempty(s.trigger_setting) && !w->warned_setting) {
                        log_warning("PostgreSQL's own promote_trigger_file is set ('%s'): it polls, and may race "
                                    "this watcher; pgrepl never sets it, remove it", s.trigger_setting);
                        w->warned_setting = true;
                }
                watch_set_state(w, promote_describe(&s));
                standby_state_done(&s);
                watch_status(w);
        }
        /* A trigger that came while the status query ran waited for it. */
        if (w->pending) {
                w->next_retry = 0;
                return watch_promote(w);
        }
        return 0;
}

/* The held connection's socket is readable. */
int watch_conn_io(Watch *w) {
        switch (w->query) {
        case QUERY_PROMOTE:
                return watch_promote_io(w);
        case QUERY_STATUS:
                return status_io(w);
        case QUERY_NONE:
                break;
        }
        /* Idle: a notice (kept by on_notice()), or the server closing the connection. */
        if (!PQconsumeInput(w->conn) || PQstatus(w->conn) != CONNECTION_OK)
                return lost(w);
        return 0;
}

/* Ask for the periodic STATUS=: open the connection if need be, send the status query. */
int watch_probe(Watch *w) {
        int r;

        if (w->query != QUERY_NONE)
                return 0;
        r = local_ensure(w);
        if (r == -ENOTCONN) {
                set_unreachable(w, w->last_reason);
                return 0;
        }
        if (r < 0)
                return r;
        r = promote_send_state(w->conn, !w->session_set);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_free_ char *e = promote_error_line(PQerrorMessage(w->conn));

                log_warning("Cannot send the status query: %s", e ? e : "out of memory");
                local_drop(w);
                return 0;
        }
        w->query = QUERY_STATUS;
        w->query_sent = now_usec();
        return 0;
}

/*
 * At a beat: a status query sent at the last one and still unanswered means
 * a server (or backend) that hangs. Say so; the query stays with its
 * backend rather than a new backend being started every beat, and a
 * trigger goes on a connection of its own (watch_promote()).
 */
void watch_check_overdue(Watch *w) {
        uint64_t waited = now_usec() - w->query_sent;
        char why[64];

        /* Sent just after the last beat's tick: a little short of an interval is a whole beat. */
        if (w->query != QUERY_STATUS || waited + w->interval / 4 < w->interval)
                return;
        if (!w->overdue)
                log_warning("The local server has not answered the status query for %llu s; waiting for it",
                            (unsigned long long) (waited / 1000000ULL));
        w->overdue = true;
        snprintf(why, sizeof(why), "not answering for %llu s", (unsigned long long) (waited / 1000000ULL));
        set_unreachable(w, why);
}
