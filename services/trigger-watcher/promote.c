/* SPDX-License-Identifier: MIT */
/*
 * What the watcher says to the local server (promote.h): connection
 * parameters, the SQL of each query by server version, and the answers
 * parsed and classified. No state, no logging.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pg.h"
#include "promote.h"
#include "util.h"

PGconn *promote_connect(const char *socket_dir, unsigned port) {
        char p[16];
        const char *keys[] = { "host", "port", "dbname", "user", "application_name", "options", NULL };
        const char *values[] = { socket_dir, p, "postgres", "postgres",
                                 "pgrepl-trigger-watcher",
                                 /* pg_promote(true, N) waits N seconds: no server default may cut it short. */
                                 "-c statement_timeout=0", NULL };

        snprintf(p, sizeof(p), "%u", port);
        return pg_connect(keys, values);
}

const char *promote_session_query(int server_version) {
        /* An unknown name in the startup options would fail the connection on 12 and 13. */
        return server_version >= 140000 ? "SET idle_session_timeout = 0" : NULL;
}

/*
 * One row, eight columns: in recovery, WAL receiver status, its upstream
 * host and port, replay lag in bytes, PostgreSQL's own
 * promote_trigger_file, how long ago (ms) the last message from the
 * upstream came, and wal_receiver_timeout (ms). The lag is what was
 * received but not yet replayed; without a WAL receiver
 * pg_last_wal_receive_lsn() still says how far streaming got.
 */
#define STATUS_QUERY(received_col, trigger_expr)                                                     \
        "SELECT pg_is_in_recovery(), w.status, w.sender_host, w.sender_port, "                       \
        "pg_wal_lsn_diff(COALESCE(w." received_col ", pg_last_wal_receive_lsn()), "                  \
        "pg_last_wal_replay_lsn())::bigint, " trigger_expr ", "                                      \
        "(extract(epoch FROM clock_timestamp() - w.last_msg_receipt_time) * 1000)::bigint, "         \
        "(SELECT setting FROM pg_settings WHERE name = 'wal_receiver_timeout')::bigint "             \
        "FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS w ON true"

const char *promote_status_query(int server_version) {
        if (server_version < PROMOTE_MIN_VERSION)
                return NULL;
        /* 12 calls the received position received_lsn; 13 renamed it flushed_lsn. */
        if (server_version < 130000)
                return STATUS_QUERY("received_lsn", "current_setting('promote_trigger_file')");
        /* 16 removed promote_trigger_file. */
        if (server_version < 160000)
                return STATUS_QUERY("flushed_lsn", "current_setting('promote_trigger_file')");
        return STATUS_QUERY("flushed_lsn", "NULL::text");
}

void promote_state_done(StandbyState *s) {
        free(s->wal_status);
        free(s->upstream);
        free(s->trigger_setting);
        *s = (StandbyState) {};
}

static int dup_or_null(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int parse_ms(const char *v, int64_t *ret) {
        long long x;
        char *end;

        if (!v)
                return 0;
        errno = 0;
        x = strtoll(v, &end, 10);
        if (errno || *end || end == v)
                return -EBADMSG;
        *ret = x < 0 ? 0 : x;
        return 0;
}

int promote_parse_state(const char *const *values, size_t n, StandbyState *ret) {
        StandbyState s = { .lag = -1, .silent_ms = -1, .receiver_timeout_ms = -1 };
        unsigned port;

        if (n != PROMOTE_STATE_COLUMNS || !values[0] || (!streq(values[0], "t") && !streq(values[0], "f")))
                return -EBADMSG;
        s.in_recovery = streq(values[0], "t");
        if (dup_or_null(values[1], &s.wal_status) < 0 || dup_or_null(values[5], &s.trigger_setting) < 0)
                goto oom;
        if (values[2]) {
                bool has_port = values[3] && parse_uint(values[3], 1, 65535, &port) >= 0;
                /* An IPv6 address gets brackets so the port stays readable. */
                bool v6 = strchr(values[2], ':') != NULL;

                if (has_port ? asprintf(&s.upstream, v6 ? "[%s]:%u" : "%s:%u", values[2], port) < 0
                             : asprintf(&s.upstream, "%s", values[2]) < 0) {
                        s.upstream = NULL;
                        goto oom;
                }
        }
        if (values[4]) {
                long long v;
                char *end;

                errno = 0;
                v = strtoll(values[4], &end, 10);
                if (errno || *end || end == values[4]) {
                        promote_state_done(&s);
                        return -EBADMSG;
                }
                /* WAL restored from an archive can put replay ahead of receipt. */
                s.lag = v < 0 ? 0 : v;
        }
        if (parse_ms(values[6], &s.silent_ms) < 0 || parse_ms(values[7], &s.receiver_timeout_ms) < 0) {
                promote_state_done(&s);
                return -EBADMSG;
        }
        *ret = s;
        return 0;
oom:
        promote_state_done(&s);
        return -ENOMEM;
}

static bool result_failed(const PGresult *res) {
        ExecStatusType st = PQresultStatus(res);

        return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
}

/*
 * Read what arrived and take the results that are complete, never waiting:
 * 0 while more is to come (*kept holds what came so far: pass it again);
 * once the query is done, 1 with *ret the result that tells (the first
 * failed one, else the last; NULL when none came), or -EIO with *ret what
 * came when the connection failed. *kept is then empty.
 */
static int collect(PGconn *conn, PGresult **kept, PGresult **ret) {
        PGresult *res;

        if (!PQconsumeInput(conn)) {
                *ret = TAKE_PTR(*kept);
                return -EIO;
        }
        /* PQgetResult() only while it cannot block: the rest may come in a later read. */
        while (!PQisBusy(conn)) {
                res = PQgetResult(conn);
                if (!res) {
                        *ret = TAKE_PTR(*kept);
                        return 1;
                }
                if (*kept && result_failed(*kept)) {
                        PQclear(res);
                        continue;
                }
                if (*kept)
                        PQclear(*kept);
                *kept = res;
        }
        return 0;
}

int promote_send_state(PGconn *conn, bool with_setup) {
        const char *sql = promote_status_query(PQserverVersion(conn));
        const char *setup = with_setup ? promote_session_query(PQserverVersion(conn)) : NULL;
        _cleanup_free_ char *both = NULL;

        if (!sql)
                return -EPROTONOSUPPORT;
        /* Two statements in one simple query: one round trip, two results. */
        if (setup) {
                if (asprintf(&both, "%s; %s", setup, sql) < 0)
                        return -ENOMEM;
                sql = both;
        }
        return PQsendQuery(conn, sql) ? 0 : -EIO;
}

/*
 * collect() for a query whose answer is one row of nfields: 0 while not complete; 1 with *ret that
 * row's result; -EIO with a one-line *ret_error when the query or the connection failed; -EBADMSG
 * for another shape; -ENOMEM.
 */
static int collect_row(PGconn *conn, PGresult **kept, int nfields, PGresult **ret, char **ret_error) {
        _cleanup_pqres_ PGresult *res = NULL;
        int r;

        r = collect(conn, kept, &res);
        if (r == 0)
                return 0;
        if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK) {
                *ret_error = promote_error_line(res && PQresultStatus(res) != PGRES_COMMAND_OK
                                                        ? PQresultErrorMessage(res)
                                                        : PQerrorMessage(conn));
                return *ret_error ? -EIO : -ENOMEM;
        }
        if (PQntuples(res) != 1 || PQnfields(res) != nfields)
                return -EBADMSG;
        *ret = TAKE_PTR(res);
        return 1;
}

int promote_receive_state(PGconn *conn, PGresult **kept, StandbyState *ret, char **ret_error) {
        _cleanup_pqres_ PGresult *res = NULL;
        const char *values[PROMOTE_STATE_COLUMNS];
        int r;

        r = collect_row(conn, kept, PROMOTE_STATE_COLUMNS, &res, ret_error);
        if (r <= 0)
                return r;
        for (int i = 0; i < PROMOTE_STATE_COLUMNS; i++)
                values[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
        r = promote_parse_state(values, PROMOTE_STATE_COLUMNS, ret);
        return r < 0 ? r : 1;
}

char *promote_describe(const StandbyState *s) {
        bool streaming = s->wal_status && streq(s->wal_status, "streaming");
        /* The WAL receiver asks for an answer after half of wal_receiver_timeout without a message: past
         * that (and a margin for the round trip), the upstream failed to answer it. */
        bool unanswered = streaming && s->silent_ms >= 0 && s->receiver_timeout_ms > 0 &&
                          s->silent_ms > s->receiver_timeout_ms / 2 + PROMOTE_PING_MARGIN_MS;
        Buf b = {};

        if (!s->in_recovery)
                return strdup("not in recovery (a primary)");
        if (s->upstream)
                buf_printf(&b, "standby of '%s'", s->upstream);
        else
                buf_puts(&b, "standby");
        if (unanswered)
                buf_printf(&b, ", upstream silent for %lld s (no answer to the WAL receiver's ping; it gives up "
                           "after %lld s)", (long long) (s->silent_ms / 1000),
                           (long long) (s->receiver_timeout_ms / 1000));
        else if (streaming)
                buf_puts(&b, ", streaming");
        else if (s->wal_status)
                buf_printf(&b, ", not streaming (WAL receiver %s)", s->wal_status);
        else
                buf_puts(&b, ", not streaming (no WAL receiver)");
        if (s->lag >= 0)
                buf_printf(&b, ", replay lag %lld bytes", (long long) s->lag);
        /* A link cut, a stopped upstream: nothing for a few seconds is worth saying, even before the ping. */
        if (streaming && !unanswered && s->silent_ms >= PROMOTE_SILENT_MS)
                buf_printf(&b, ", last message from upstream %lld s ago", (long long) (s->silent_ms / 1000));
        return buf_steal(&b);
}

PromoteOutcome promote_classify(ExecStatusType status, const char *sqlstate, const char *value) {
        if (status == PGRES_TUPLES_OK && value)
                return streq(value, "t") ? PROMOTE_DONE : streq(value, "f") ? PROMOTE_PENDING : PROMOTE_FAILED;
        /* 55000 (object_not_in_prerequisite_state): "recovery is not in progress". */
        if (status == PGRES_FATAL_ERROR && sqlstate && streq(sqlstate, "55000"))
                return PROMOTE_NOT_IN_RECOVERY;
        return PROMOTE_FAILED;
}

/*
 * pg_promote(wait => true) checks every 100 ms whether recovery has ended,
 * so its answer, and the time the watcher reports, would come up to 100 ms
 * after the server became writable (which takes ~15 ms). Instead: ask
 * without waiting, then poll pg_is_in_recovery() every millisecond in the
 * same round trip, up to wait_seconds, and answer as pg_promote(true, N)
 * does: true once a primary, false while still in recovery. An error
 * (55000, not in recovery) stops the rest, and is the answer. A refused
 * signal (false) answers false at once: the caller asks again.
 */
int promote_send(PGconn *conn, unsigned wait_seconds) {
        _cleanup_free_ char *sql = NULL;

        if (asprintf(&sql,
                     "DO $pgrepl$ DECLARE stop timestamptz := clock_timestamp() + interval '%u s'; BEGIN "
                     "IF NOT pg_promote(false) THEN RETURN; END IF; "
                     "WHILE pg_is_in_recovery() AND clock_timestamp() < stop LOOP PERFORM pg_sleep(0.001); "
                     "END LOOP; END $pgrepl$; "
                     "SELECT NOT pg_is_in_recovery()",
                     wait_seconds) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        return PQsendQuery(conn, sql) ? 0 : -EIO;
}

char *promote_error_line(const char *msg) {
        char *s = strdup(msg && *msg ? msg : "unknown error"), *t;

        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        t = strstrip(s);
        memmove(s, t, strlen(t) + 1);
        return s;
}

int promote_receive(PGconn *conn, PGresult **kept, PromoteOutcome *ret, char **ret_error) {
        PromoteOutcome outcome = PROMOTE_FAILED;
        _cleanup_pqres_ PGresult *res = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = collect(conn, kept, &res);
        if (r == 0)
                return 0;
        if (r > 0 && res) {
                ExecStatusType st = PQresultStatus(res);
                const char *v = st == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                                        ? PQgetvalue(res, 0, 0)
                                        : NULL;

                outcome = promote_classify(st, PQresultErrorField(res, PG_DIAG_SQLSTATE), v);
                if (outcome == PROMOTE_FAILED)
                        error = promote_error_line(PQresultErrorMessage(res));
        } else
                error = promote_error_line(PQerrorMessage(conn));
        if (outcome == PROMOTE_FAILED && !error)
                return -ENOMEM;
        *ret = outcome;
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return 1;
}

int promote_parse_timeline(const char *walfile, unsigned *ret) {
        unsigned long v;
        char hex[9];
        char *end;

        if (strlen(walfile) != 24 || strspn(walfile, "0123456789ABCDEFabcdef") != 24)
                return -EBADMSG;
        memcpy(hex, walfile, 8);
        hex[8] = 0;
        v = strtoul(hex, &end, 16);
        if (*end || v == 0)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

int promote_receive_slots(PGconn *conn, PGresult **kept, char *lsn, size_t lsn_size, char **ret_error) {
        _cleanup_pqres_ PGresult *res = NULL;
        int r;

        r = collect_row(conn, kept, 1, &res, ret_error);
        if (r <= 0)
                return r;
        /* NULL once not in recovery: nothing to advance to. */
        snprintf(lsn, lsn_size, "%s", PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
        return 1;
}

int promote_send_position(PGconn *conn) {
        /* pg_walfile_name() names the file on the timeline the server now writes. */
        return PQsendQuery(conn, "SELECT pg_current_wal_lsn(), pg_walfile_name(pg_current_wal_lsn())") ? 0 : -EIO;
}

int promote_receive_position(PGconn *conn, PGresult **kept, unsigned *ret_timeline, char *lsn, size_t lsn_size) {
        _cleanup_pqres_ PGresult *res = NULL;
        int r;

        r = collect(conn, kept, &res);
        if (r == 0)
                return 0;
        if (r < 0 || PQresultStatus(res) != PGRES_TUPLES_OK)
                return -EIO;
        if (PQntuples(res) != 1 || PQnfields(res) != 2 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
                return -EBADMSG;
        r = promote_parse_timeline(PQgetvalue(res, 0, 1), ret_timeline);
        if (r < 0)
                return r;
        snprintf(lsn, lsn_size, "%s", PQgetvalue(res, 0, 0));
        return 1;
}
