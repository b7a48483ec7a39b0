/* SPDX-License-Identifier: MIT */
/*
 * The watcher's one connection to the local server and the query in flight
 * on it. Held while idle, so that a trigger goes straight to pg_promote()
 * without a backend's start-up first. Queries are sent and their answers
 * collected when the socket is readable, never waited for; this module
 * reports outcomes and never logs above debug: the loop (watch.c) decides.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "promote.h"

typedef enum ConnQuery {
        CONN_IDLE,
        CONN_STATUS,   /* the periodic status query */
        CONN_PROMOTE,  /* pg_promote(true, N) */
        CONN_POSITION, /* after the promotion: the new timeline and WAL position */
        CONN_SLOTS,    /* a round of the partners' slots (slots.c), after a status answer */
} ConnQuery;

typedef struct Conn {
        const char *socket_dir; /* borrowed: the caller's, outliving the connection */
        unsigned port;
        PGconn *pg;             /* NULL while there is none */
        int version;            /* PQserverVersion() of the last connection made */
        ConnQuery query;        /* what runs on it */
        uint64_t sent;          /* when that query went out (CLOCK_MONOTONIC usec) */
        PGresult *result;       /* its results so far */
        bool session_set;       /* the session set-up went with an answered status query */
        bool overdue;           /* the loop has reported the status query unanswered */
        char notice[256];       /* the server's last message outside a query ("terminating ...") */
} Conn;

void conn_init(Conn *c, const char *socket_dir, unsigned port);
/* Close the connection (if any) and forget the query in flight. */
void conn_drop(Conn *c);

/*
 * The held connection, opened if there is none or it was lost unseen: 0
 * when it was there, 1 when opened now, -ENOTCONN when the server is not
 * reachable (*ret_reason: a short static reason), -EPROTONOSUPPORT when it
 * has no pg_promote() (c->version says which it is). Opening
 * blocks, bounded by connect_timeout (pg_conn_params()): a local socket
 * answers at once unless the server hangs, and the watchdog's interval is
 * far longer.
 */
int conn_open(Conn *c, const char **ret_reason);

/* Send a query, without waiting for its answer: 0, -ENOTCONN without a connection, -EBUSY while another
 * runs, -EIO (conn_error_line() says why), -ENOMEM. */
int conn_send_status(Conn *c, uint64_t now);
int conn_send_promote(Conn *c, uint64_t now);
int conn_send_position(Conn *c, uint64_t now);
int conn_send_slots(Conn *c, const char *sql, uint64_t now);

/*
 * Call when the socket is readable. Each returns 0 while the answer is not
 * complete, and once it is, leaves the connection idle and returns:
 * status: 1 with *ret; -EIO with a one-line *ret_error (or -EBADMSG) when
 * the query failed on a connection still good; -ECONNRESET when the
 * connection was lost (conn_lost_reason()); -ENOMEM.
 * promote: 1 with *ret (and on PROMOTE_FAILED a one-line *ret_error); -ENOMEM.
 * position: 1 with *ret_timeline and lsn; -EIO or -EBADMSG when not known.
 */
int conn_receive_status(Conn *c, StandbyState *ret, char **ret_error);
int conn_receive_promote(Conn *c, PromoteOutcome *ret, char **ret_error);
int conn_receive_position(Conn *c, unsigned *ret_timeline, char *lsn, size_t lsn_size);
/* slots: 1 with the replay position in lsn; -EIO with a one-line *ret_error, -EBADMSG, -ENOMEM. */
int conn_receive_slots(Conn *c, char *lsn, size_t lsn_size, char **ret_error);
/* Readable while idle: a notice (kept), or the server closing: 0 still good, -ECONNRESET lost. */
int conn_receive_idle(Conn *c);

/* The socket to poll, -1 without a connection. */
int conn_fd(const Conn *c);
bool conn_ok(const Conn *c);
/* libpq's last error as one line (newly allocated; NULL on allocation failure). */
char *conn_error_line(const Conn *c);
/* Why the connection was lost: the server's last message if it gave one, else libpq's (newly allocated). */
char *conn_lost_reason(const Conn *c);
/* The status query (or the slots round after it) has run for about a beat (interval) or more: a
 * server or backend that hangs. */
bool conn_status_overdue(const Conn *c, uint64_t interval, uint64_t now);
