/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "errors.h"
#include "etcd-leader.h"
#include "fence.h"
#include "fs.h"
#include "log.h"
#include "notify.h"
#include "peer.h"
#include "pg.h"
#include "util.h"

static void states_done(PeerState *states, size_t n) {
        for (size_t i = 0; i < n; i++)
                peer_state_done(&states[i]);
}

/* A first start: one quick round; a running primary among the partners means this node should
 * clone it, not initdb a second cluster. */
static int check_first(const Config *c, const char *passfile, PeerState *states) {
        int p, r;

        r = peer_ask_all(c, passfile, 0, 0, 0, states);
        if (r < 0)
                return r == -ENOMEM ? log_oom() : r;
        p = peer_find_primary(states, c->partners.n);
        if (p < 0)
                return 0;
        log_error("POSTGRESQL_DATA_DIR='%s' is empty, but partner '%s' already runs a primary (timeline %u): a "
                  "first start here would make a second cluster. Start this node as a standby instead "
                  "(POSTGRESQL_REPLICATION_MODE=slave, pgrepl-standby@%s), which clones it",
                  config_get(c, VAR_DATA_DIR), c->partners.items[p].display, states[p].timeline, c->instance);
        return -PGREPL_E_CONFIG;
}

static void report_superseded(const Config *c, const ControlData *cd, const PeerState *s, const Partner *by,
                              uint64_t fork) {
        char where[64] = "";

        if (fork)
                snprintf(where, sizeof(where), ", which forked off timeline %u at " LSN_FMT, cd->timeline,
                         LSN_ARGS(fork));
        log_error("This node (timeline %u) was superseded: partner '%s' is a %s on timeline %u%s. Not starting "
                  "it as a primary. To make it a standby of the current primary: pgreplctl rejoin %s (pg_rewind; "
                  "--reclone to copy afresh)", cd->timeline, by->display,
                  s->in_recovery == 0 ? "primary" : "standby", s->timeline, where, c->instance);
        notify_status("superseded by '%s' (timeline %u%s): not started; pgreplctl rejoin %s", by->display,
                      s->timeline, where, c->instance);
}

static int check_later(const Config *c, const DataDir *d, const char *passfile, PeerState *states) {
        ControlData cd;
        uint64_t fork = 0;
        size_t by = 0;
        int r;

        r = control_read(d->bindir, d->path, &cd);
        if (r < 0)
                return log_error_errno(r, "Failed to read the control file of '%s' with pg_controldata: %m",
                                       d->path);
        /* Promoted and stopped before a checkpoint: the control file still names the old timeline. */
        cd.timeline = control_timeline(&cd, d->path);
        notify_status("asking the partners before starting as a primary");
        r = peer_fence(c, passfile, cd.sysid, cd.timeline, states, &by, &fork);
        if (r < 0)
                return r == -ENOMEM ? log_oom() : r;
        if (r == PEER_FOREIGN)
                return -PGREPL_E_CONFIG;
        if (r == PEER_SUPERSEDED) {
                report_superseded(c, &cd, &states[by], &c->partners.items[by], fork);
                return -PGREPL_E_SUPERSEDED;
        }
        /* With POSTGRESQL_FAILOVER=etcd, not while another member holds the leader key (etcd-leader.h). */
        return etcd_leader_refuse(c, "this node as a primary");
}

int fence_check(const Config *c, const DataDir *d) {
        _cleanup_free_ char *passfile = NULL;
        PeerState states[PARTNERS_MAX] = {};
        int r;

        if (!config_has_partners(c))
                return 0;
        passfile = peer_passfile_path(c);
        if (!passfile)
                return log_oom();
        r = peer_write_passfile(c, passfile);
        if (r < 0)
                return r;
        r = d->kind == DATADIR_EMPTY ? check_first(c, passfile, states) : check_later(c, d, passfile, states);
        states_done(states, c->partners.n);
        return r;
}

int fence_missing_slots(const Config *c, const char *datadir, char ***ret) {
        char **v = calloc(c->partners.n + 1, sizeof(char *));
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < c->partners.n && c->use_slot; i++) {
                _cleanup_free_ char *dir = NULL;

                if (c->partners.items[i].self)
                        continue;
                if (asprintf(&dir, "%s/pg_replslot/%s", datadir, c->partners.items[i].slot) < 0)
                        goto oom;
                if (fs_exists(dir))
                        continue;
                v[n] = strdup(c->partners.items[i].slot);
                if (!v[n++])
                        goto oom;
        }
        *ret = v;
        return 0;
oom:
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return -ENOMEM;
}

int fence_create_slots(PGconn *conn, char *const *slots) {
        for (size_t i = 0; slots && slots[i]; i++) {
                const char *params[] = { slots[i] };
                _cleanup_free_ char *v = NULL;
                int r;

                /* Reserved now: WAL from here on is kept for the partner, bounded by max_slot_wal_keep_size. */
                r = pg_query_value(conn, "SELECT count(pg_create_physical_replication_slot(s, true)) FROM "
                                   "(SELECT $1::name AS s) x WHERE NOT EXISTS "
                                   "(SELECT 1 FROM pg_replication_slots WHERE slot_name = x.s)", 1, params, &v);
                if (r < 0)
                        return log_error_errno(r, "Failed to create replication slot '%s': %s", slots[i],
                                               PQerrorMessage(conn));
                if (v && streq(v, "1"))
                        log_info("Created replication slot '%s' for a partner", slots[i]);
        }
        return 0;
}
