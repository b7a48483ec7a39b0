/* SPDX-License-Identifier: MIT */
/*
 * What the watcher asks the local server, over its unix socket as the
 * service user (peer authentication), on the one connection it holds: a
 * session set-up that keeps server timeouts from closing it, one cheap
 * status query, chosen by server version (pg_stat_wal_receiver renamed a
 * column in 13; promote_trigger_file is gone in 16), the promotion
 * (pg_promote(false), then pg_is_in_recovery() every millisecond, up to N s)
 * and then the new timeline and position: all sent asynchronously, so the
 * event loop keeps serving the watchdog and signals while PostgreSQL
 * finishes recovery. Helpers that don't decide don't log.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


/* pg_promote() exists from 12 on. */
#define PROMOTE_MIN_VERSION 120000
/* promote_send(): N seconds per call; a false answer means still pending. */
#define PROMOTE_WAIT_SEC 60

/* Connect to the local server on its unix socket as postgres (blocking, connect_timeout applies); check
 * PQstatus(). */
PGconn *promote_connect(const char *socket_dir, unsigned port);

/*
 * The statement that keeps an idle held connection open whatever the
 * server's defaults (idle_session_timeout, from 14), NULL when none is
 * needed. statement_timeout=0 goes in the startup options: it exists on
 * every version, and pg_promote(true, N) must not be cut short.
 */
const char *promote_session_query(int server_version);

/* The status query for a server version (PQserverVersion()), NULL before 12. */
const char *promote_status_query(int server_version);

typedef struct StandbyState {
        bool in_recovery;
        char *wal_status;      /* pg_stat_wal_receiver.status; NULL: no WAL receiver */
        char *upstream;        /* "host:port" the WAL receiver follows; NULL: unknown */
        int64_t lag;           /* received but not yet replayed, bytes; -1: unknown */
        char *trigger_setting; /* PostgreSQL's own promote_trigger_file (12-15), NULL or "" when unset */
        int64_t silent_ms;     /* since the last message from the upstream (pg_stat_wal_receiver's
                                * last_msg_receipt_time); -1: unknown, no WAL receiver */
        int64_t receiver_timeout_ms; /* wal_receiver_timeout; 0: none, -1: unknown */
} StandbyState;

/* Columns of the status query. */
#define PROMOTE_STATE_COLUMNS 8
/* STATUS= says "last message from upstream N s ago" from this age on. An idle primary's messages
 * can be 15 s apart, so this is a fact to read, not a fault; a fault is a missed ping (below). */
#define PROMOTE_SILENT_MS 5000
/* Past half of wal_receiver_timeout plus this, the upstream did not answer the WAL receiver's ping. */
#define PROMOTE_PING_MARGIN_MS 3000

void promote_state_done(StandbyState *s);
/* One row of the status query as text values (NULL for SQL NULL). -EBADMSG when malformed. */
int promote_parse_state(const char *const *values, size_t n, StandbyState *ret);
/* Send the status query, after the session set-up when with_setup, without waiting for the
 * answer. -EPROTONOSUPPORT before 12, -EIO (message in PQerrorMessage) when it cannot be sent. */
int promote_send_state(PGconn *conn, bool with_setup);
/*
 * Call when the connection's socket is readable, with *kept the results
 * so far (NULL at first; the caller clears it when it gives up): 0 while
 * the answer is not complete, 1 with *ret once it is; -EIO with a newly
 * allocated one-line *ret_error when the query or the connection failed,
 * -EBADMSG for a malformed row, -ENOMEM.
 */
int promote_receive_state(PGconn *conn, PGresult **kept, StandbyState *ret, char **ret_error);
/* For STATUS=: "standby of '10.0.0.1:5432', streaming, replay lag 0 bytes", then ", last message from
 * upstream N s ago" once that is PROMOTE_SILENT_MS old; "standby of '...', upstream silent for N s (no
 * answer to the WAL receiver's ping ...)" once the upstream missed a ping. */
char *promote_describe(const StandbyState *s);

typedef enum PromoteOutcome {
        PROMOTE_DONE,            /* pg_promote returned true: the server is a primary */
        PROMOTE_PENDING,         /* false: still finishing recovery after N seconds */
        PROMOTE_NOT_IN_RECOVERY, /* the server was not (or no longer) a standby */
        PROMOTE_FAILED,          /* any other error: retry */
} PromoteOutcome;

/* Classify a result of pg_promote(): status, SQLSTATE (may be NULL), first value (may be NULL). */
PromoteOutcome promote_classify(ExecStatusType status, const char *sqlstate, const char *value);

/*
 * Send, without waiting for the answer, what pg_promote(true, wait_seconds)
 * does, but answered within a millisecond of the server becoming writable
 * (pg_promote's own wait looks every 100 ms): pg_promote(false), then
 * pg_is_in_recovery() polled every millisecond up to wait_seconds; the last
 * result is true (a primary) or false (still in recovery). -ENOMEM, -EIO.
 */
int promote_send(PGconn *conn, unsigned wait_seconds);
/*
 * Call when the connection's socket is readable, kept as for
 * promote_receive_state(): 0 while the answer is not complete, 1 with *ret
 * (and on PROMOTE_FAILED a newly allocated one-line *ret_error) once it is.
 */
int promote_receive(PGconn *conn, PGresult **kept, PromoteOutcome *ret, char **ret_error);

/*
 * A round of slots.c's query, kept as for promote_receive_state(): 0 while not complete, 1 with the
 * replay position in lsn ("" when not in recovery); -EIO with a one-line *ret_error, -EBADMSG, -ENOMEM.
 */
int promote_receive_slots(PGconn *conn, PGresult **kept, char *lsn, size_t lsn_size, char **ret_error);

/* After the promotion, the new timeline and the current WAL position: send the query without waiting,
 * then call promote_receive_position() when the socket is readable, kept as for promote_receive_state():
 * 0 while the answer is not complete, 1 with both, -EIO when the query failed, -EBADMSG. */
int promote_send_position(PGconn *conn);
int promote_receive_position(PGconn *conn, PGresult **kept, unsigned *ret_timeline, char *lsn, size_t lsn_size);
/* Timeline from a WAL file name ("000000020000000000000003" -> 2). */
int promote_parse_timeline(const char *walfile, unsigned *ret);

/* The server's message as one line, no trailing newline (newly allocated). */
char *promote_error_line(const char *msg);
