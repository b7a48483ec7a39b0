/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "notify.h"
#include "peer.h"
#include "pg.h"
#include "signals.h"
#include "render.h"
#include "util.h"

void peer_state_done(PeerState *s) {
        free(s->history);
        *s = (PeerState) { .in_recovery = -1 };
}

int peer_history_switchpoint(const char *history, unsigned tli, uint64_t *ret_lsn) {
        if (!history)
                return 0;
        /* "<parent tli>\t<switch point>\t<reason>" per ancestor timeline; '#' lines are comments. */
        for (const char *p = history; *p; p = strchrnul(p, '\n'), p += *p == '\n') {
                unsigned t, hi, lo;

                if (sscanf(p, "%u\t%X/%X", &t, &hi, &lo) != 3 || t != tli)
                        continue;
                *ret_lsn = ((uint64_t) hi << 32) | lo;
                return 1;
        }
        return 0;
}

char *peer_passfile_path(const Config *c) {
        _cleanup_free_ char *state = NULL;
        const char *pf = config_get(c, VAR_REPLICATION_PASSFILE_PATH);

        if (pf)
                return strdup(pf);
        state = config_state_dir(c);
        return state ? path_join(state, "passfile") : NULL;
}

int peer_write_passfile(const Config *c, const char *path) {
        /* Any host and port: the file is this node's alone and holds one password, so it also
         * matches when libpq spells the host otherwise (a socket directory is "localhost" there). */
        _cleanup_erase_ char *line = render_pgpass_line("*", "*", "*", config_get(c, VAR_REPLICATION_USER),
                                                        config_get(c, VAR_REPLICATION_PASSWORD));
        int r;

        if (!line)
                return log_oom();
        r = fs_write_atomic(path, line, 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write the replication passfile '%s': %m", path);
        return 0;
}

int peer_identify(PGconn *conn, PeerState *s) {
        _cleanup_pqres_ PGresult *res = PQexec(conn, "IDENTIFY_SYSTEM");

        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3)
                return -EIO;
        if (parse_u64(PQgetvalue(res, 0, 0), &s->sysid) < 0 ||
            parse_uint(PQgetvalue(res, 0, 1), 1, UINT32_MAX, &s->timeline) < 0 ||
            control_parse_lsn(PQgetvalue(res, 0, 2), &s->lsn) < 0)
                return -EBADMSG;
        return 0;
}

static int recovery_and_history(PGconn *conn, PeerState *s) {
        _cleanup_pqres_ PGresult *res = NULL;
        char sql[64];

        /* in_hot_standby exists from 14 on; pgrepl always runs standbys with hot_standby=on. */
        if (PQserverVersion(conn) >= 140000) {
                res = PQexec(conn, "SHOW in_hot_standby");
                if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
                        return -EIO;
                s->in_recovery = streq(PQgetvalue(res, 0, 0), "on");
                PQclear(TAKE_PTR(res));
        }
        if (s->timeline == 1)
                return 0;
        snprintf(sql, sizeof(sql), "TIMELINE_HISTORY %u", s->timeline);
        res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 2)
                return -EIO;
        s->history = strdup(PQgetvalue(res, 0, 1));
        return s->history ? 0 : -ENOMEM;
}

int peer_ask(const Config *c, const Partner *p, const char *passfile, unsigned connect_timeout_s, PeerState *ret) {
        char port[8], timeout[16];
        const char *keys[] = { "host", "port", "user", "passfile", "dbname", "replication", "application_name",
                               "connect_timeout", NULL };
        const char *values[] = { p->host, port, config_get(c, VAR_REPLICATION_USER), passfile, "replication",
                                 "true", "pgrepl", timeout, NULL };
        _cleanup_pq_ PGconn *conn = NULL;
        PeerState s = { .in_recovery = -1 };
        int r;

        snprintf(port, sizeof(port), "%u", p->port);
        snprintf(timeout, sizeof(timeout), "%u", connect_timeout_s ? connect_timeout_s : 1);
        conn = pg_connect(keys, values);
        if (PQstatus(conn) != CONNECTION_OK) {
                snprintf(ret->reason, sizeof(ret->reason), "%s", pg_error_reason(conn));
                ret->answered = false;
                return 0;
        }
        r = peer_identify(conn, &s);
        if (r >= 0)
                r = recovery_and_history(conn, &s);
        if (r == -ENOMEM) {
                peer_state_done(&s);
                return r;
        }
        if (r < 0) {
                const char *m = PQerrorMessage(conn);

                snprintf(s.reason, sizeof(s.reason), "%.*s", (int) strcspn(m, "\n"),
                         *m ? m : "unexpected answer to IDENTIFY_SYSTEM");
                free(TAKE_PTR(s.history));
        }
        s.answered = r >= 0;
        peer_state_done(ret);
        *ret = s;
        return 0;
}

/* Which of two answers is the later word on the cluster: a primary over a standby on the same
 * timeline, else the higher timeline. */
static bool outranks(const PeerState *a, const PeerState *b) {
        if (a->timeline != b->timeline)
                return a->timeline > b->timeline;
        return a->in_recovery == 0 && b->in_recovery != 0;
}

PeerVerdict peer_decide(uint64_t sysid, unsigned tli, const PeerState *states, size_t n, size_t *ret_by,
                        uint64_t *ret_fork) {
        const PeerState *best = NULL;
        bool any = false;

        *ret_fork = 0;
        for (size_t i = 0; i < n; i++) {
                const PeerState *s = &states[i];

                if (!s->answered)
                        continue;
                any = true;
                if (s->sysid != sysid) {
                        *ret_by = i;
                        return PEER_FOREIGN;
                }
                /* Past this node: a later timeline (whatever its role: a standby there has followed a
                 * promotion this node never saw), or a primary already running on this timeline. */
                if (s->timeline < tli || (s->timeline == tli && s->in_recovery != 0))
                        continue;
                if (!best || outranks(s, best)) {
                        best = s;
                        *ret_by = i;
                }
        }
        if (best) {
                if (best->timeline > tli)
                        (void) peer_history_switchpoint(best->history, tli, ret_fork);
                return PEER_SUPERSEDED;
        }
        return any ? PEER_CLEAR : PEER_UNCHECKED;
}

static size_t first_other(const Config *c) {
        for (size_t i = 0; i < c->partners.n; i++)
                if (!c->partners.items[i].self)
                        return i;
        return 0;
}

/* Whether the round can end: every other partner answered, or one already decides. */
static bool round_done(const Config *c, uint64_t sysid, unsigned tli, const PeerState *states) {
        const Partners *p = &c->partners;
        size_t by;
        uint64_t fork;

        if (sysid && peer_decide(sysid, tli, states, p->n, &by, &fork) >= PEER_SUPERSEDED)
                return true;
        for (size_t i = 0; i < p->n; i++)
                if (!p->items[i].self && !states[i].answered)
                        return false;
        return true;
}

int peer_ask_all(const Config *c, const char *passfile, unsigned timeout_s, uint64_t sysid, unsigned tli,
                 PeerState *states) {
        const Partners *p = &c->partners;
        uint64_t deadline = now_usec() + (uint64_t) timeout_s * 1000000ULL;

        for (;;) {
                /* POSTGRESQL_FENCE_TIMEOUT may be longer than the unit's start timeout: ask for the rest. */
                uint64_t start = now_usec();

                notify_extend_timeout((start < deadline ? deadline - start : 0) + 30ULL * 1000000ULL);
                for (size_t i = 0; i < p->n; i++) {
                        uint64_t now = now_usec();
                        unsigned left = now < deadline ? (unsigned) ((deadline - now + 999999ULL) / 1000000ULL) : 1;
                        int r;

                        if (p->items[i].self || states[i].answered)
                                continue;
                        /* A black-holed partner costs at most 2 s of the round. */
                        r = peer_ask(c, &p->items[i], passfile, left < 2 ? left : 2, &states[i]);
                        if (r < 0)
                                return r;
                        if (!states[i].answered)
                                notify_status("asking partner '%s' before starting: %s", p->items[i].display,
                                              states[i].reason);
                }
                if (round_done(c, sysid, tli, states) || now_usec() >= deadline)
                        return 0;
                if (signals_sleep(500 * 1000) == -EINTR)
                        return -EINTR;
        }
}

int peer_fence(const Config *c, const char *passfile, uint64_t sysid, unsigned tli, PeerState *states,
               size_t *ret_by, uint64_t *ret_fork) {
        PeerVerdict v;
        int r;

        r = peer_ask_all(c, passfile, c->fence_timeout, sysid, tli, states);
        if (r < 0)
                return r;
        v = peer_decide(sysid, tli, states, c->partners.n, ret_by, ret_fork);
        if (v == PEER_FOREIGN)
                log_error("POSTGRESQL_PARTNER_NODES (from %s): partner '%s' is another cluster (system identifier "
                          "%" PRIu64 ", this node's is %" PRIu64 "); list only the nodes of this cluster",
                          c->sources[VAR_PARTNER_NODES], c->partners.items[*ret_by].display,
                          states[*ret_by].sysid, sysid);
        else if (v == PEER_UNCHECKED) {
                size_t i = first_other(c);

                log_warning("No partner answered within POSTGRESQL_FENCE_TIMEOUT=%us ('%s': %s): starting without "
                            "knowing whether another node was promoted meanwhile", c->fence_timeout,
                            c->partners.items[i].display, states[i].reason);
        }
        for (size_t i = 0; i < c->partners.n; i++)
                if (!c->partners.items[i].self && !states[i].answered && v != PEER_UNCHECKED)
                        log_info("Partner '%s' did not answer: %s", c->partners.items[i].display, states[i].reason);
        return v;
}

int peer_find_primary(const PeerState *states, size_t n) {
        int best = -1;

        for (size_t i = 0; i < n; i++)
                if (states[i].answered && states[i].in_recovery == 0 &&
                    (best < 0 || states[i].timeline > states[best].timeline))
                        best = (int) i;
        return best;
}
