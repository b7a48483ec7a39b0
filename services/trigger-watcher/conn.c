/* SPDX-License-Identifier: MIT */
/*
 * The held connection (conn.h). It costs one idle backend (application_name
 * pgrepl-trigger-watcher); a smart shutdown of the server would wait for it,
 * but the units stop the watcher first and use a fast shutdown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "macro.h"
#include "pg.h"

void conn_init(Conn *c, const char *socket_dir, unsigned port) {
        *c = (Conn) { .socket_dir = socket_dir, .port = port };
}

void conn_drop(Conn *c) {
        if (c->result)
                PQclear(c->result);
        c->result = NULL;
        if (c->pg)
                PQfinish(c->pg);
        c->pg = NULL;
        c->query = CONN_IDLE;
        c->session_set = false;
        c->overdue = false;
        c->notice[0] = 0;
}

/* The server's messages outside a query (its reason for closing the connection) are kept for the
 * loop's log, not printed raw to stderr as libpq's default would. */
static void on_notice(void *userdata, const char *message) {
        Conn *c = userdata;
        _cleanup_free_ char *line = promote_error_line(message);

        if (!line)
                return;
        log_debug("Local server: %s", line);
        snprintf(c->notice, sizeof(c->notice), "%s", line);
}

int conn_open(Conn *c, const char **ret_reason) {
        PGconn *pg;

        /* Reading what is there (nothing, or the server's goodbye) finds a connection lost unseen. */
        if (c->pg && (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK))
                conn_drop(c);
        if (c->pg)
                return 0;
        pg = promote_connect(c->socket_dir, c->port);
        if (PQstatus(pg) != CONNECTION_OK) {
                *ret_reason = pg_error_reason(pg);
                PQfinish(pg);
                return -ENOTCONN;
        }
        c->version = PQserverVersion(pg);
        if (c->version < PROMOTE_MIN_VERSION) {
                PQfinish(pg);
                return -EPROTONOSUPPORT;
        }
        PQsetNoticeProcessor(pg, on_notice, c);
        c->pg = pg;
        return 1;
}

static int sent(Conn *c, int r, ConnQuery q, uint64_t now) {
        if (r < 0)
                return r;
        c->query = q;
        c->sent = now;
        return 0;
}

static int can_send(const Conn *c) {
        if (!c->pg)
                return -ENOTCONN;
        return c->query == CONN_IDLE ? 0 : -EBUSY;
}

int conn_send_status(Conn *c, uint64_t now) {
        int r = can_send(c);

        return r < 0 ? r : sent(c, promote_send_state(c->pg, !c->session_set), CONN_STATUS, now);
}

int conn_send_promote(Conn *c, uint64_t now) {
        int r = can_send(c);

        return r < 0 ? r : sent(c, promote_send(c->pg, PROMOTE_WAIT_SEC), CONN_PROMOTE, now);
}

int conn_send_position(Conn *c, uint64_t now) {
        int r = can_send(c);

        return r < 0 ? r : sent(c, promote_send_position(c->pg), CONN_POSITION, now);
}

int conn_send_slots(Conn *c, const char *sql, uint64_t now) {
        int r = can_send(c);

        return r < 0 ? r : sent(c, PQsendQuery(c->pg, sql) ? 0 : -EIO, CONN_SLOTS, now);
}

/* An answer is complete: the connection is idle again, and the server's earlier notice is spent. */
static void answered(Conn *c) {
        c->query = CONN_IDLE;
        c->notice[0] = 0;
}

int conn_receive_status(Conn *c, StandbyState *ret, char **ret_error) {
        int r = promote_receive_state(c->pg, &c->result, ret, ret_error);

        if (r == 0)
                return 0;
        c->query = CONN_IDLE;
        if (r == -ENOMEM)
                return r;
        /* Keep the server's reason for closing, if it came during the query, for the log. */
        if (r < 0 && PQstatus(c->pg) != CONNECTION_OK) {
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = NULL;
                }
                return -ECONNRESET;
        }
        answered(c);
        if (r > 0)
                c->session_set = true;
        return r;
}

int conn_receive_promote(Conn *c, PromoteOutcome *ret, char **ret_error) {
        int r = promote_receive(c->pg, &c->result, ret, ret_error);

        if (r != 0)
                answered(c);
        return r;
}

int conn_receive_position(Conn *c, unsigned *ret_timeline, char *lsn, size_t lsn_size) {
        int r = promote_receive_position(c->pg, &c->result, ret_timeline, lsn, lsn_size);

        if (r != 0)
                answered(c);
        return r;
}

int conn_receive_slots(Conn *c, char *lsn, size_t lsn_size, char **ret_error) {
        int r = promote_receive_slots(c->pg, &c->result, lsn, lsn_size, ret_error);

        if (r != 0)
                answered(c);
        return r;
}

int conn_receive_idle(Conn *c) {
        return PQconsumeInput(c->pg) && PQstatus(c->pg) == CONNECTION_OK ? 0 : -ECONNRESET;
}

int conn_fd(const Conn *c) {
        return c->pg ? PQsocket(c->pg) : -1;
}

bool conn_ok(const Conn *c) {
        return c->pg && PQstatus(c->pg) == CONNECTION_OK;
}

char *conn_error_line(const Conn *c) {
        return promote_error_line(c->pg ? PQerrorMessage(c->pg) : NULL);
}

char *conn_lost_reason(const Conn *c) {
        return c->notice[0] ? strdup(c->notice) : conn_error_line(c);
}

bool conn_status_overdue(const Conn *c, uint64_t interval, uint64_t now) {
        /* Sent just after the last beat's tick: a little short of an interval is a whole beat. */
        return (c->query == CONN_STATUS || c->query == CONN_SLOTS) && now - c->sent + interval / 4 >= interval;
}
