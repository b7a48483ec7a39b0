/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "health.h"
#include "log.h"
#include "pg.h"
#include "util.h"

#define Q_PRIVILEGED "select pg_has_role('pg_read_all_stats', 'usage')"
#define Q_SYNC                                                                                             \
        "select s.slot_name, r.sync_state, r.state"                                                       \
        " from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid"

int cluster_passfile(const Config *c, bool password_known, Passfile *ret) {
        _cleanup_free_ char *path = peer_passfile_path(c);
        char dir[] = "/tmp/pgreplctl-XXXXXX";

        *ret = (Passfile) {};
        if (!path)
                return -ENOMEM;
        if (access(path, R_OK) == 0) {
                ret->path = TAKE_PTR(path);
                return 0;
        }
        if (!password_known || !config_get(c, VAR_REPLICATION_USER) || !config_get(c, VAR_REPLICATION_PASSWORD))
                return 0;
        if (!mkdtemp(dir))
                return 0;
        ret->tmpdir = strdup(dir);
        ret->path = path_join(dir, "passfile");
        if (!ret->tmpdir || !ret->path) {
                (void) rmdir(dir);
                cluster_passfile_done(ret);
                return -ENOMEM;
        }
        if (peer_write_passfile(c, ret->path) < 0)
                cluster_passfile_done(ret);
        return 0;
}

void cluster_passfile_done(Passfile *p) {
        if (p->tmpdir) {
                if (p->path)
                        (void) unlink(p->path);
                (void) rmdir(p->tmpdir);
        }
        free(p->path);
        free(p->tmpdir);
        *p = (Passfile) {};
}

static int member_init(MemberState *m, const Partner *p) {
        *m = (MemberState) { .port = p->port, .self = p->self, .lag_bytes = -1, .peer = { .in_recovery = -1 } };
        m->member = strdup(p->display);
        m->host = strdup(p->host);
        m->slot = p->slot ? strdup(p->slot) : NULL;
        return !m->member || !m->host || (p->slot && !m->slot) ? -ENOMEM : 0;
}

int cluster_ask_host(const Config *c, const char *passfile, const char *host, unsigned port, MemberState *ret) {
        _cleanup_free_ char *display = NULL;
        Partner p = { .host = (char *) host, .port = port };
        int r;

        if (asprintf(&display, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port) < 0)
                return -ENOMEM;
        p.display = display;
        r = member_init(ret, &p);
        if (r >= 0)
                r = pg_tls_client(c); /* the instance's TLS, as its units connect to other nodes */
        if (r < 0)
                return r;
        return peer_ask(c, &p, passfile, CLUSTER_TIMEOUT_S, &ret->peer);
}

/* The sync state of each member from the primary's pg_stat_replication, when it may be read. */
static void replication_states(PGconn *conn, MemberState *m, size_t n) {
        _cleanup_pqres_ PGresult *priv = PQexec(conn, Q_PRIVILEGED), *res = NULL;

        if (PQresultStatus(priv) != PGRES_TUPLES_OK || PQntuples(priv) != 1 || !streq(PQgetvalue(priv, 0, 0), "t"))
                return;
        res = PQexec(conn, Q_SYNC);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
                return;
        for (size_t i = 0; i < n; i++) {
                m[i].replication_known = true;
                for (int row = 0; row < PQntuples(res); row++) {
                        if (!m[i].slot || !streq(PQgetvalue(res, row, 0), m[i].slot))
                                continue;
                        m[i].sync_state = PQgetisnull(res, row, 1) ? NULL : strdup(PQgetvalue(res, row, 1));
                        m[i].stream_state = PQgetisnull(res, row, 2) ? NULL : strdup(PQgetvalue(res, row, 2));
                }
        }
}

/* A normal connection to the primary member as the replication user, for its pg_stat_replication. */
static PGconn *connect_primary(const Config *c, const char *passfile, const MemberState *p) {
        char port[8];
        const char *keys[] = { "host", "port", "user", "passfile", "dbname", "application_name", NULL };
        const char *values[] = { p->host, port, config_get(c, VAR_REPLICATION_USER), passfile, "postgres",
                                 "pgreplctl", NULL };

        snprintf(port, sizeof(port), "%u", p->port);
        return pg_connect(keys, values);
}

static void lags_and_sync(const Config *c, const char *passfile, PGconn *local, MemberState *m, size_t n) {
        int p = health_primary(m, n);
        _cleanup_pq_ PGconn *remote = NULL;
        PGconn *conn = local;

        if (p < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if ((int) i != p && m[i].peer.answered && m[i].peer.in_recovery != 0 &&
                    m[i].peer.sysid == m[p].peer.sysid)
                        m[i].lag_bytes = m[p].peer.lsn > m[i].peer.lsn ? (int64_t) (m[p].peer.lsn - m[i].peer.lsn) : 0;
        if (!m[p].self || !local) {
                remote = connect_primary(c, passfile, &m[p]);
                conn = remote;
        }
        if (conn && PQstatus(conn) == CONNECTION_OK)
                replication_states(conn, m, n);
        else
                log_debug("Cannot read the pg_stat_replication of '%s': %s", m[p].member, pg_error_reason(conn));
}

int cluster_ask(const Config *c, const char *passfile, PGconn *local, MemberState **ret, size_t *ret_n) {
        const Partners *ps = &c->partners;
        MemberState *m = calloc(ps->n + 1, sizeof(MemberState));
        int r;

        if (!m)
                return -ENOMEM;
        r = pg_tls_client(c); /* the instance's TLS, as its units connect to other nodes */
        for (size_t i = 0; i < ps->n && r >= 0; i++) {
                r = member_init(&m[i], &ps->items[i]);
                if (r >= 0)
                        r = peer_ask(c, &ps->items[i], passfile, CLUSTER_TIMEOUT_S, &m[i].peer);
        }
        if (r < 0) {
                for (size_t i = 0; i < ps->n; i++)
                        member_state_done(&m[i]);
                free(m);
                return r;
        }
        lags_and_sync(c, passfile, local, m, ps->n);
        *ret = m;
        *ret_n = ps->n;
        return 0;
}
