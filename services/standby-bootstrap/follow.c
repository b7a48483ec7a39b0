/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diverge.h"
#include "follow.h"
#include "log.h"
#include "peer.h"
#include "pg.h"
#include "util.h"

int follow_decide(unsigned tli, uint64_t lsn, unsigned primary_tli, const char *history, char *buf, size_t n) {
        uint64_t sw;

        if (primary_tli == tli)
                return 0;
        if (primary_tli < tli) {
                snprintf(buf, n, "it is on timeline %u, older than this standby's %u (a primary that was replaced?)",
                         primary_tli, tli);
                return 1;
        }
        if (!history)
                return 0;
        if (peer_history_switchpoint(history, tli, &sw) > 0) {
                if (lsn <= sw)
                        return 0;
                snprintf(buf, n, "its timeline %u forked off timeline %u at " LSN_FMT ", before this standby's "
                         "position " LSN_FMT, primary_tli, tli, LSN_ARGS(sw), LSN_ARGS(lsn));
                return 1;
        }
        snprintf(buf, n, "this standby's timeline %u is not in the history of its timeline %u", tli, primary_tli);
        return 1;
}

int follow_position(const Config *c, const char *datadir, const ControlData *cd, unsigned *ret_tli,
                    uint64_t *ret_lsn) {
        _cleanup_pq_ PGconn *conn = NULL;
        unsigned low = cd->timeline > cd->min_recovery_tli ? cd->timeline : cd->min_recovery_tli;
        uint64_t lsn = cd->min_recovery_lsn > cd->checkpoint_lsn ? cd->min_recovery_lsn : cd->checkpoint_lsn;
        _cleanup_free_ char *v = NULL, *state = config_state_dir(c);
        _cleanup_free_ char *seen = state ? path_join(state, DIVERGE_SEEN) : NULL;
        uint64_t replayed;
        Divergence d;

        /* The control file lags behind a timeline switch: WAL received on a later timeline means the
         * standby may be on it already. Then the timeline is not known for sure, and nothing is claimed. */
        if (control_wal_timeline(datadir) > low)
                return -EAGAIN;
        conn = pg_connect_local(config_get(c, VAR_SOCKET_DIR), c->port, "postgres");
        if (PQstatus(conn) == CONNECTION_OK &&
            pg_query_value(conn, "SELECT pg_last_wal_replay_lsn()", 0, NULL, &v) >= 0 &&
            control_parse_lsn(v, &replayed) >= 0 && replayed > lsn)
                lsn = replayed;
        /* What the watcher saw the running server replay, when it found it could not follow
         * (diverge.h): a stopped standby's control file may not show that far. */
        if (state && seen && diverge_read(seen, &d) > 0 && d.tli == low && d.replayed > lsn)
                lsn = d.replayed;
        *ret_tli = low;
        *ret_lsn = lsn;
        return 0;
}

int follow_check(PGconn *conn, unsigned primary_tli, unsigned tli, uint64_t lsn, char *buf, size_t n) {
        _cleanup_pqres_ PGresult *res = NULL;
        char sql[64];

        if (primary_tli <= tli)
                return follow_decide(tli, lsn, primary_tli, NULL, buf, n);
        snprintf(sql, sizeof(sql), "TIMELINE_HISTORY %u", primary_tli);
        res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 2) {
                log_debug("TIMELINE_HISTORY %u failed: %s", primary_tli, PQerrorMessage(conn));
                return 0;
        }
        return follow_decide(tli, lsn, primary_tli, PQgetvalue(res, 0, 1), buf, n);
}
