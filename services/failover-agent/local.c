/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "fs.h"
#include "local.h"
#include "log.h"
#include "pg.h"
#include "promote.h"
#include "util.h"

/* Everything in one round trip: role, position, timeline, system, WAL receiver, synchronous standbys. */
static const char state_query[] =
        "SELECT r, CASE WHEN r THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
        "              ELSE pg_current_wal_lsn() END,"
        "       CASE WHEN r THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),"
        "                                 (SELECT timeline_id FROM pg_control_checkpoint()))"
        "            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
        "       (SELECT system_identifier FROM pg_control_system()),"
        "       (SELECT status FROM pg_stat_wal_receiver),"
        "       (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),"
        "       CASE WHEN r THEN NULL ELSE (SELECT string_agg(s.slot_name, ',') FROM pg_stat_replication p"
        "            JOIN pg_replication_slots s ON s.active_pid = p.pid"
        "            WHERE p.sync_state IN ('sync', 'quorum')) END"
        "  FROM pg_is_in_recovery() AS r";

void local_done(Local *l) {
        if (l->conn)
                PQfinish(l->conn);
        l->conn = NULL;
        l->up = false;
}

static void drop(Local *l) {
        local_done(l);
        l->streaming = false;
        l->sender[0] = 0;
}

static bool connect_local(Local *l) {
        if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
                return true;
        if (l->conn)
                PQfinish(l->conn);
        {
                char port[16];
                /* 2 s, libpq's least: the agent has deadlines to keep (the fence timer covers the rest). */
                const char *keys[] = { "host", "port", "dbname", "user", "application_name", "options",
                                       "connect_timeout", NULL };
                const char *values[] = { config_get(l->c, VAR_SOCKET_DIR), port, "postgres", "postgres",
                                         "pgrepl-failover-agent", "-c statement_timeout=0", "2", NULL };

                snprintf(port, sizeof(port), "%u", l->c->port);
                l->conn = pg_connect(keys, values);
        }
        if (l->conn && PQstatus(l->conn) == CONNECTION_OK) {
                const char *setup = promote_session_query(PQserverVersion(l->conn));

                if (setup)
                        (void) pg_exec(l->conn, setup);
        }
        if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
                if (l->conn)
                        log_debug("Local server: %s", PQerrorMessage(l->conn));
                if (l->conn)
                        PQfinish(l->conn);
                l->conn = NULL;
                return false;
        }
        return true;
}

/* A server that does not answer within this long counts as down (the agent has deadlines to keep). */
#define LOCAL_QUERY_TIMEOUT_MS 2000

/* PQexec() with a time limit: NULL when the query could not be sent or its answer did not come in time
 * (the caller drops the connection). */
static PGresult *query_timed(PGconn *conn, const char *sql, int timeout_ms) {
        uint64_t end = now_usec() + (uint64_t) timeout_ms * 1000;
        PGresult *res, *last = NULL;

        if (!PQsendQuery(conn, sql))
                return NULL;
        for (;;) {
                while (!PQisBusy(conn)) {
                        res = PQgetResult(conn);
                        if (!res)
                                return last;
                        PQclear(last);
                        last = res;
                }
                uint64_t now = now_usec();
                struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };

                if (now >= end || poll(&p, 1, (int) ((end - now + 999) / 1000)) <= 0 || !PQconsumeInput(conn)) {
                        PQclear(last);
                        return NULL;
                }
        }
}

void local_refresh(Local *l) {
        PGresult *res;
        const char *v;
        uint64_t u;

        if (!connect_local(l)) {
                drop(l);
                return;
        }
        res = query_timed(l->conn, state_query, LOCAL_QUERY_TIMEOUT_MS);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 7) {
                log_debug("Local server: %s", PQerrorMessage(l->conn));
                PQclear(res);
                drop(l);
                return;
        }
        l->up = true;
        l->in_recovery = streq(PQgetvalue(res, 0, 0), "t");
        if (control_parse_lsn(PQgetvalue(res, 0, 1), &u) >= 0)
                l->lsn = u;
        if (parse_u64(PQgetvalue(res, 0, 2), &u) >= 0 && u <= UINT32_MAX)
                l->timeline = (unsigned) u;
        if (parse_u64(PQgetvalue(res, 0, 3), &u) >= 0)
                l->sysid = u;
        l->streaming = !PQgetisnull(res, 0, 4) && streq(PQgetvalue(res, 0, 4), "streaming");
        v = PQgetisnull(res, 0, 5) ? "" : PQgetvalue(res, 0, 5);
        snprintf(l->sender, sizeof(l->sender), "%s", v);
        v = PQgetisnull(res, 0, 6) ? "" : PQgetvalue(res, 0, 6);
        snprintf(l->sync_slots, sizeof(l->sync_slots), "%s", v);
        PQclear(res);
}

void local_member(const Local *l, const char *self, Member *ret) {
        Member m = { .time = (int64_t) time(NULL) };
        _cleanup_free_ char *slots = NULL;
        char *rest, *t;

        snprintf(m.name, sizeof(m.name), "%s", self);
        m.role = !l->up ? MEMBER_DOWN : l->in_recovery ? MEMBER_STANDBY : MEMBER_PRIMARY;
        m.timeline = l->timeline;
        m.lsn = l->lsn;
        m.sysid = l->sysid;
        m.streaming = l->up && l->in_recovery && l->streaming;
        if (m.role == MEMBER_PRIMARY && (slots = strdup(l->sync_slots))) {
                const Partners *p = &l->c->partners;

                rest = slots;
                while ((t = strsep(&rest, ",")) && m.n_sync < MEMBER_SYNC_MAX)
                        for (size_t k = 0; k < p->n; k++)
                                if (p->items[k].slot && streq(p->items[k].slot, t))
                                        snprintf(m.sync[m.n_sync++], MEMBER_NAME_MAX, "%s", p->items[k].display);
        }
        *ret = m;
}

int local_promote(Local *l, unsigned wait_s, char **ret_error) {
        PGresult *kept = NULL;
        PromoteOutcome out = PROMOTE_FAILED;
        char *error = NULL;
        int r;

        if (!connect_local(l))
                return -ECONNREFUSED;
        r = promote_send(l->conn, wait_s);
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd p = { .fd = PQsocket(l->conn), .events = POLLIN };

                if (poll(&p, 1, (int) (wait_s + 1) * 1000) <= 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                r = promote_receive(l->conn, &kept, &out, &error);
                if (r != 0)
                        break;
        }
        PQclear(kept);
        if (r < 0) {
                free(error);
                drop(l);
                return r;
        }
        if (out == PROMOTE_DONE || out == PROMOTE_NOT_IN_RECOVERY) {
                free(error);
                return 1;
        }
        if (out == PROMOTE_PENDING) {
                free(error);
                return 0;
        }
        *ret_error = error;
        return -EIO;
}

static int exec_simple(Local *l, const char *sql) {
        PGresult *res;
        int r = 0;

        if (!connect_local(l))
                return -ECONNREFUSED;
        res = PQexec(l->conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
                r = -EIO;
        PQclear(res);
        return r;
}

int local_nudge(Local *l) {
        return exec_simple(l, "SELECT pg_reload_conf()");
}

int local_end_receiver(Local *l) {
        return exec_simple(l, "SELECT pg_terminate_backend(pid) FROM pg_stat_wal_receiver");
}

int local_fence(Local *l, pid_t *ret_pid) {
        pid_t pid;
        int r;

        drop(l);
        r = pg_postmaster_pid(config_get(l->c, VAR_DATA_DIR), &pid);
        if (r < 0)
                return r;
        if (kill(pid, SIGINT) < 0)
                return -errno;
        *ret_pid = pid;
        return 0;
}

bool local_pid_alive(pid_t pid) {
        _cleanup_free_ char *path = NULL, *stat = NULL;
        const char *p;

        if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
                return false;
        /* A zombie has stopped serving: its parent only has not reaped it yet. */
        if (asprintf(&path, "/proc/%d/stat", (int) pid) < 0 || fs_read_file(path, &stat) < 0)
                return true;
        p = strrchr(stat, ')');
        return !(p && p[1] == ' ' && p[2] == 'Z');
}

static bool dir_has(const Local *l, const char *name) {
        _cleanup_free_ char *p = path_join(config_get(l->c, VAR_DATA_DIR), name);

        return p && access(p, F_OK) == 0;
}

bool local_dir_is_primary(const Local *l) {
        return dir_has(l, "PG_VERSION") && !dir_has(l, "standby.signal");
}

bool local_dir_running(const Local *l) {
        _cleanup_free_ char *path = NULL, *comm = NULL;
        pid_t pid;

        /* A stale postmaster.pid (a crash, a reboot) may name a PID some other process has now. */
        if (pg_postmaster_pid(config_get(l->c, VAR_DATA_DIR), &pid) < 0)
                return false;
        if (asprintf(&path, "/proc/%d/comm", (int) pid) < 0 || fs_read_file(path, &comm) < 0)
                return true; /* cannot tell: count it as running, the safe side */
        return strncmp(comm, "postgres", 8) == 0;
}
