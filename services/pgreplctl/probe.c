/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pg.h"
#include "probe.h"
#include "util.h"

#define Q_BASE "select pg_is_in_recovery(), system_identifier::text from pg_control_system()"
/* A primary's timeline is the one its WAL is written on now: the WAL file name's first 8 digits. */
#define Q_PRIMARY \
        "select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, pg_current_wal_lsn()"
/* A standby's: what its WAL receiver receives, else its last restartpoint's. Replay lag in time only
 * while there is WAL to replay: an idle primary sends no transactions to time. */
#define Q_STANDBY                                                                                          \
        "select coalesce((select received_tli from pg_stat_wal_receiver),"                                 \
        " (select timeline_id from pg_control_checkpoint())),"                                             \
        " pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(),"                                            \
        " case when pg_last_wal_receive_lsn() is null then null"                                           \
        " when pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() then 0"                               \
        " else extract(epoch from now() - pg_last_xact_replay_timestamp()) end"
#define Q_RECEIVER "select status, sender_host, sender_port, latest_end_lsn from pg_stat_wal_receiver"
#define Q_SLOTS                                                                                            \
        "select slot_name, active, wal_status,"                                                            \
        " case when restart_lsn is null then null else ($1::pg_lsn - restart_lsn)::bigint end"             \
        " from pg_replication_slots order by slot_name"
#define Q_REPLICAS                                                                                         \
        "select r.application_name, coalesce(host(r.client_addr), 'local'), r.state, r.sync_state,"        \
        " s.slot_name, r.replay_lsn, (pg_current_wal_lsn() - r.replay_lsn)::bigint,"                       \
        " extract(epoch from r.replay_lag)"                                                                \
        " from pg_stat_replication r left join pg_replication_slots s on s.active_pid = r.pid order by 1, 2"

PGconn *probe_connect(const Config *c) {
        const char *dir = config_get(c, VAR_SOCKET_DIR);
        gid_t egid = getegid(), groups[64];
        struct passwd *pw;
        PGconn *conn;
        int n;

        if (geteuid() != 0 || !(pw = getpwnam(PROBE_SERVICE_USER)))
                return pg_connect_local(dir, c->port, "postgres");
        n = getgroups(ELEMENTSOF(groups), groups);
        /* Peer authentication asks the kernel for the uid that connected: only the connect needs it, as
         * the service user wholly (its group alone, none of root's supplementary groups). */
        if (n < 0 || setgroups(1, &pw->pw_gid) < 0 || setegid(pw->pw_gid) < 0 || seteuid(pw->pw_uid) < 0) {
                if (seteuid(0) < 0 || setegid(egid) < 0 || (n >= 0 && setgroups((size_t) n, groups) < 0))
                        abort(); /* never carry on with the wrong ids */
                return pg_connect_local(dir, c->port, "postgres");
        }
        conn = pg_connect_local(dir, c->port, "postgres");
        if (seteuid(0) < 0 || setegid(egid) < 0 || setgroups((size_t) n, groups) < 0)
                abort(); /* never carry on with the wrong ids */
        return conn;
}

static char *value_str(const PGresult *res, int row, int col) {
        return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

static uint64_t value_lsn(const PGresult *res, int row, int col) {
        uint64_t v = 0;

        if (PQgetisnull(res, row, col) || control_parse_lsn(PQgetvalue(res, row, col), &v) < 0)
                return 0;
        return v;
}

/* A byte count: -1 when null, 0 when below. */
static int64_t value_bytes(const PGresult *res, int row, int col) {
        long long v;
        char *end;

        if (PQgetisnull(res, row, col))
                return -1;
        errno = 0;
        v = strtoll(PQgetvalue(res, row, col), &end, 10);
        if (errno || *end)
                return -1;
        return v < 0 ? 0 : v;
}

static double value_seconds(const PGresult *res, int row, int col) {
        char *end;
        double v;

        if (PQgetisnull(res, row, col))
                return -1;
        v = strtod(PQgetvalue(res, row, col), &end);
        return *end || v < 0 ? 0 : v;
}

static PGresult *query(PGconn *conn, const char *sql, const char *param) {
        PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);

        if (PQresultStatus(res) == PGRES_TUPLES_OK)
                return res;
        log_debug("Query failed: %s", PQerrorMessage(conn));
        PQclear(res);
        return NULL;
}

int probe_position(PGconn *conn, bool *ret_in_recovery, unsigned *ret_timeline, uint64_t *ret_lsn) {
        _cleanup_pqres_ PGresult *base = query(conn, Q_BASE, NULL), *pos = NULL;
        bool rec;

        if (!base || PQntuples(base) != 1)
                return -EIO;
        rec = streq(PQgetvalue(base, 0, 0), "t");
        pos = query(conn, rec ? Q_STANDBY : Q_PRIMARY, NULL);
        if (!pos || PQntuples(pos) != 1 || parse_uint(PQgetvalue(pos, 0, 0), 1, UINT32_MAX, ret_timeline) < 0)
                return -EIO;
        *ret_in_recovery = rec;
        *ret_lsn = value_lsn(pos, 0, rec ? 2 : 1);
        return 0;
}

static int probe_receiver(PGconn *conn, ServerState *s) {
        _cleanup_pqres_ PGresult *res = query(conn, Q_RECEIVER, NULL);
        uint64_t latest;

        if (!res || PQntuples(res) != 1)
                return 0;
        s->receiver_status = value_str(res, 0, 0);
        s->upstream_host = value_str(res, 0, 1);
        (void) parse_uint(PQgetvalue(res, 0, 2), 1, 65535, &s->upstream_port);
        if (s->upstream_host && asprintf(&s->upstream, "%s:%u", s->upstream_host, s->upstream_port) < 0)
                s->upstream = NULL;
        latest = value_lsn(res, 0, 3);
        if (latest < s->write_lsn)
                latest = s->write_lsn;
        if (latest && s->replay_lsn)
                s->lag_bytes = latest > s->replay_lsn ? (int64_t) (latest - s->replay_lsn) : 0;
        return !s->receiver_status || (s->upstream_host && !s->upstream) ? -ENOMEM : 0;
}

static int probe_positions(PGconn *conn, ServerState *s) {
        _cleanup_pqres_ PGresult *res = query(conn, s->in_recovery ? Q_STANDBY : Q_PRIMARY, NULL);

        if (!res || PQntuples(res) != 1)
                return -EIO;
        (void) parse_uint(PQgetvalue(res, 0, 0), 1, UINT32_MAX, &s->timeline);
        s->write_lsn = value_lsn(res, 0, 1);
        if (!s->in_recovery)
                return 0;
        s->replay_lsn = value_lsn(res, 0, 2);
        s->lag_seconds = value_seconds(res, 0, 3);
        return probe_receiver(conn, s);
}

static int probe_slots(PGconn *conn, ServerState *s) {
        char pos[32];
        uint64_t at = s->in_recovery ? s->replay_lsn : s->write_lsn;
        _cleanup_pqres_ PGresult *res = NULL;

        snprintf(pos, sizeof(pos), LSN_FMT, LSN_ARGS(at));
        res = query(conn, Q_SLOTS, at ? pos : NULL);
        if (!res)
                return -EIO;
        s->slots = calloc((size_t) PQntuples(res) + 1, sizeof(SlotState));
        if (!s->slots)
                return -ENOMEM;
        for (int i = 0; i < PQntuples(res); i++) {
                SlotState *sl = &s->slots[s->n_slots++];

                sl->name = value_str(res, i, 0);
                sl->active = streq(PQgetvalue(res, i, 1), "t");
                sl->wal_status = value_str(res, i, 2);
                sl->retained = value_bytes(res, i, 3);
                if (!sl->name)
                        return -ENOMEM;
        }
        return 0;
}

static int probe_replicas(PGconn *conn, ServerState *s) {
        _cleanup_pqres_ PGresult *res = query(conn, Q_REPLICAS, NULL);

        if (!res)
                return -EIO;
        s->replicas = calloc((size_t) PQntuples(res) + 1, sizeof(ReplicaState));
        if (!s->replicas)
                return -ENOMEM;
        for (int i = 0; i < PQntuples(res); i++) {
                ReplicaState *x = &s->replicas[s->n_replicas++];

                x->name = value_str(res, i, 0);
                x->client = value_str(res, i, 1);
                x->state = value_str(res, i, 2);
                x->sync_state = value_str(res, i, 3);
                x->slot = value_str(res, i, 4);
                x->replay_lsn = value_lsn(res, i, 5);
                x->lag_bytes = value_bytes(res, i, 6);
                x->lag_seconds = value_seconds(res, i, 7);
                if (!x->name || !x->client)
                        return -ENOMEM;
        }
        return 0;
}

/* Why the connection failed, in a few words; unchecked when this user may not connect. */
static void connect_failed(PGconn *conn, ServerState *s) {
        const char *m = PQerrorMessage(conn);

        s->checked = !strstr(m, "Peer authentication failed");
        if (!s->checked)
                snprintf(s->reason, sizeof(s->reason), "this user may not connect as %s (peer authentication); "
                         "run pgreplctl as root or %s", PROBE_SERVICE_USER, PROBE_SERVICE_USER);
        else
                snprintf(s->reason, sizeof(s->reason), "%s", pg_error_reason(conn));
}

int probe_server(const Config *c, ServerState *s, PGconn **ret_conn) {
        _cleanup_pq_ PGconn *conn = probe_connect(c);
        _cleanup_pqres_ PGresult *base = NULL;
        int r;

        *s = (ServerState) { .checked = true, .lag_bytes = -1, .lag_seconds = -1 };
        *ret_conn = NULL;
        if (!conn)
                return -ENOMEM;
        if (PQstatus(conn) != CONNECTION_OK) {
                connect_failed(conn, s);
                return 0;
        }
        base = query(conn, Q_BASE, NULL);
        if (!base || PQntuples(base) != 1 || parse_u64(PQgetvalue(base, 0, 1), &s->sysid) < 0) {
                snprintf(s->reason, sizeof(s->reason), "%.*s", (int) strcspn(PQerrorMessage(conn), "\n"),
                         PQerrorMessage(conn));
                return 0;
        }
        s->in_recovery = streq(PQgetvalue(base, 0, 0), "t");
        r = probe_positions(conn, s);
        if (r >= 0)
                r = probe_slots(conn, s);
        if (r >= 0 && !s->in_recovery)
                r = probe_replicas(conn, s);
        if (r == -ENOMEM)
                return r;
        s->reachable = true;
        *ret_conn = TAKE_PTR(conn);
        return 0;
}
