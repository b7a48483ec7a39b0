/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap.h"
#include "etcd-leader.h"
#include "clone.h"
#include "control.h"
#include "diverge.h"
#include "errors.h"
#include "follow.h"
#include "fs.h"
#include "lastexit.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "params.h"
#include "peer.h"
#include "pg.h"
#include "rewind.h"
#include "signals.h"
#include "upstream.h"
#include "util.h"

/* After the exec PostgreSQL sends READY=1 itself; its start (crash recovery up to a consistent
 * state, bounded by the restartpoint interval) gets this long before the unit's timeout. */
#define POSTMASTER_EXTEND_USEC (3600ULL * 1000000ULL)

static int read_control(const char *bindir, const char *dir, ControlData *ret) {
        int r = control_read(bindir, dir, ret);

        if (r < 0)
                return log_error_errno(r, "Failed to read the control file of '%s' with pg_controldata: %m", dir);
        return 0;
}

static int write_config(const Config *c, const char *dir, const StandbySettings *s) {
        int r = node_write_config(c, dir, s);

        if (r < 0)
                return log_error_errno(r, "Failed to write the settings into '%s': %m", dir);
        return 0;
}

/*
 * The include file for a standby in dir: primary_conninfo (u NULL: none) and slot, then the
 * primary's hot-standby parameters as floors where this node's own would be lower.
 */
static int write_standby_config(const Config *c, const char *bindir, const char *dir, const Upstream *u,
                                const ControlData *cd) {
        _cleanup_free_ char *conninfo = NULL;
        StandbySettings s = {};
        Setting *floors = NULL;
        size_t n = 0;
        int r;

        if (u) {
                conninfo = upstream_conninfo(u, config_get(c, VAR_CLUSTER_APP_NAME));
                if (!conninfo)
                        return log_oom();
                s.primary_conninfo = conninfo;
                s.primary_slot_name = u->slot;
        }
        r = write_config(c, dir, &s);
        if (r < 0)
                return r;
        r = params_floors(bindir, dir, cd, &floors, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read the hot-standby parameters of '%s' with "
                                       "'postgres -C': %m", dir);
        if (n > 0) {
                s.floors = floors;
                s.n_floors = n;
                r = write_config(c, dir, &s);
        }
        params_free(floors, n);
        return r;
}

/*
 * On later starts and reloads the primary may be a new one: put our slot there, and make sure
 * this standby can follow it. Best effort when it cannot be reached (the walreceiver retries by
 * itself). 2 when it is another cluster, 1 when its timeline cannot be followed (either way a
 * sentence in why), 0 otherwise.
 */
static int check_upstream(const Upstream *u, const char *datadir, const ControlData *cd, char *why, size_t n) {
        _cleanup_pq_ PGconn *conn = upstream_connect(u);
        const char *reason = NULL;
        PeerState id = {};
        uint64_t sysid, lsn;
        unsigned ptli, tli;
        int r;

        if (PQstatus(conn) != CONNECTION_OK) {
                log_notice("Primary '%s' is not reachable now (%s); the standby connects when it is",
                           u->display, pg_error_reason(conn));
                return 0;
        }
        if (peer_identify(conn, &id) < 0)
                return 0;
        sysid = id.sysid;
        ptli = id.timeline;
        if (sysid != cd->sysid) {
                snprintf(why, n, "it is another cluster (system identifier %llu, this standby's is %llu)",
                         (unsigned long long) sysid, (unsigned long long) cd->sysid);
                log_error("Primary '%s' cannot be followed: %s. Check POSTGRESQL_MASTER_HOST, or clone afresh: stop "
                          "the unit, move the data directory away, start it again", u->display, why);
                return 2;
        }
        if (follow_position(u->c, datadir, cd, &tli, &lsn) >= 0 && follow_check(conn, ptli, tli, lsn, why, n) > 0) {
                log_error("Primary '%s' cannot be followed: %s. PostgreSQL will retry in vain; clone afresh: stop "
                          "the unit, move the data directory away, start it again", u->display, why);
                return 1;
        }
        if (u->slot) {
                r = upstream_ensure_slot(u, conn, &reason);
                if (r > 0)
                        log_info("Created replication slot '%s' on primary '%s'", u->slot, u->display);
                else if (r < 0)
                        log_warning("Replication slot '%s' on primary '%s': %s; the standby retries until it exists",
                                    u->slot, u->display, reason);
        }
        return 0;
}

static int start_postmaster(const Config *c, const DataDir *d, const char *what) {
        int r;

        /* A stop request that came during the last steps is honoured, not lost in the exec. */
        if (signals_stop_requested())
                return -EINTR;
        /* The last STATUS= before the exec stays until PostgreSQL stops: it is what systemctl shows. */
        r = node_before_exec(c, d->path, what);
        if (r < 0)
                return r;
        notify_extend_timeout(POSTMASTER_EXTEND_USEC);
        /* The marker --record-exit looks back to (lastexit.h). */
        log_info(LASTEXIT_MARKER "(%s) on port %u, data directory '%s'", what, c->port, d->path);
        return log_error_errno(node_exec_postmaster(c, d->bindir, d->path),
                               "Failed to execute the postmaster in '%s': %m", d->bindir);
}

/* Who a promoted node no longer follows, for messages: the master host, or with partners the others. */
static const char *old_upstream(const Config *c, const Upstream *u) {
        return config_get(c, VAR_MASTER_HOST) ? config_get(c, VAR_MASTER_HOST) : u->display;
}

static void log_promoted(const Config *c, const Upstream *u, const char *datadir) {
        if (config_has_partners(c))
                log_notice("'%s' was promoted and no partner has moved past it: starting it as the primary it "
                           "now is", datadir);
        else
                log_notice("'%s' was promoted: starting it as the primary it now is; it will not follow '%s' "
                           "again. To make it a standby again: pgreplctl rejoin %s --reclone (or set "
                           "POSTGRESQL_PARTNER_NODES, with which a superseded node is rewound)", datadir,
                           old_upstream(c, u), c->instance);
}

static void log_interrupted(const Config *c, const Upstream *u, const char *datadir) {
        log_notice("'%s' still has standby.signal, but a promotion was recorded after it was cloned: the "
                   "promotion was interrupted. Starting it without primary_conninfo, so it never follows '%s' "
                   "again; finish the promotion with SELECT pg_promote() or the trigger file",
                   datadir, old_upstream(c, u));
}

/* A promoted data directory starts as the primary it now is: no primary_conninfo, no standby.signal. */
static int prepare_promoted(const Config *c, const Upstream *u, const char *datadir, char *what, size_t n) {
        log_promoted(c, u, datadir);
        snprintf(what, n, "primary: promoted, no longer a standby");
        return write_config(c, datadir, NULL);
}

/* A promotion that began but did not finish: a standby again, but one that follows nobody. */
static int prepare_interrupted(const Config *c, const DataDir *d, const Upstream *u, bool reload, char *what,
                               size_t n) {
        ControlData cd;
        int r;

        if (!reload)
                log_interrupted(c, u, d->path);
        snprintf(what, n, "standby without upstream: promotion interrupted");
        r = read_control(d->bindir, d->path, &cd);
        if (r < 0)
                return r;
        return write_standby_config(c, d->bindir, d->path, NULL, &cd);
}

/* The primary among the partners to rewind from: its index in states; -EAGAIN while no partner is a
 * primary (the unit tries again), -PGREPL_E_CONFIG when it is another cluster, both logged. */
static int find_source(const Config *c, const Upstream *u, uint64_t sysid, PeerState *states) {
        int p, r;

        r = peer_ask_all(c, u->passfile, c->fence_timeout, 0, 0, states);
        if (r < 0)
                return r == -ENOMEM ? log_oom() : r;
        p = peer_find_primary(states, c->partners.n);
        if (p < 0) {
                log_notice("No partner is a primary now: this node is rewound once one is");
                notify_status("waiting for a primary among the partners to rewind from");
                return -EAGAIN;
        }
        if (states[p].sysid != sysid) {
                log_error("Partner '%s' is another cluster (system identifier %" PRIu64 "): it cannot be "
                          "followed; list only the nodes of this cluster in POSTGRESQL_PARTNER_NODES",
                          c->partners.items[p].display, states[p].sysid);
                return -PGREPL_E_CONFIG;
        }
        return p;
}

/* A file of the watcher's in the state directory (diverge.h), removed: after a rewind or a clone what
 * it saw (DIVERGE_SEEN) is history. */
static void forget_state_file(const Config *c, const char *name) {
        _cleanup_free_ char *state = config_state_dir(c);
        _cleanup_free_ char *p = state ? path_join(state, name) : NULL;

        if (p && unlink(p) < 0 && errno != ENOENT)
                log_debug_errno(-errno, "Cannot remove '%s': %m", p);
}

/* A request of the watcher's that its path unit did not act on is answered by this start: what the
 * watcher saw (the replay position) is kept for it, as the pgrepl-rejoin@ service would have. */
static void take_request(const Config *c) {
        _cleanup_free_ char *state = config_state_dir(c);
        _cleanup_free_ char *req = state ? path_join(state, DIVERGE_REQUEST) : NULL;
        _cleanup_free_ char *seen = state ? path_join(state, DIVERGE_SEEN) : NULL;

        if (req && seen && rename(req, seen) < 0 && errno != ENOENT)
                log_debug_errno(-errno, "Cannot move '%s' to '%s': %m", req, seen);
}

/*
 * Rejoin by rewind (SPEC section 8, partners only): rewind this data directory from the primary
 * among the partners, then render it a standby of whichever is primary. Nothing is ever deleted.
 */
static int rejoin(const Config *c, const DataDir *d, const Upstream *u, uint64_t sysid, char *what, size_t n) {
        PeerState states[PARTNERS_MAX] = {};
        ControlData cd;
        int p, r;

        notify_status("looking for the primary among the partners to rewind from");
        p = find_source(c, u, sysid, states);
        r = p < 0 ? p : rewind_run(c, d->bindir, d->path, &c->partners.items[p], states[p].timeline, u->passfile);
        for (size_t i = 0; i < c->partners.n; i++)
                peer_state_done(&states[i]);
        if (r < 0)
                return r;
        r = read_control(d->bindir, d->path, &cd);
        if (r < 0)
                return r;
        forget_state_file(c, DIVERGE_SEEN);
        snprintf(what, n, "standby of '%s' (rewound)", u->display);
        return write_standby_config(c, d->bindir, d->path, u, &cd);
}

/*
 * A standby: the primary may be a new one. A start follows it even when it cannot (and says so in
 * what); a reload never re-points a running standby at a primary it cannot follow (another
 * cluster, a timeline forked before its position): it would retry for ever, while the primary it
 * follows now may be fine.
 */
static int prepare_standby(const Config *c, const DataDir *d, const Upstream *u, bool reload, char *what,
                           size_t n) {
        _cleanup_erase_ char *old = NULL;
        char why[384];
        ControlData cd;
        int r;

        r = read_control(d->bindir, d->path, &cd);
        if (r < 0)
                return r;
        /* The new primary is checked with the new passfile; on a reload the old one comes back when it
         * is refused, since the running walreceiver still uses it. */
        if (reload)
                (void) fs_read_file(u->passfile, &old);
        r = upstream_write_passfile(u);
        if (r < 0)
                return r;
        snprintf(what, n, "standby of '%s'", u->display);
        r = check_upstream(u, d->path, &cd, why, sizeof(why));
        if (r == 1 && !reload && config_has_partners(c)) {
                log_notice("'%s' cannot stream from the primary (%s): rejoining by pg_rewind", d->path, why);
                return rejoin(c, d, u, cd.sysid, what, n);
        }
        if (r > 0) {
                if (reload) {
                        if (old)
                                (void) fs_write_atomic(u->passfile, old, 0600);
                        return -PGREPL_E_CONFIG;
                }
                snprintf(what, n, "standby of '%s', which it cannot follow: %s", u->display, why);
        }
        return write_standby_config(c, d->bindir, d->path, u, &cd);
}

/* pg_basebackup fsynced every file and directory before it exited 0 (we never pass --no-sync); what
 * is added here is written with fsync, and the rename is made durable with the parent's fsync. A
 * second pass over the tree would only cost time. */
static int finish_clone(const Config *c, const DataDir *d, const char *side, const Upstream *u) {
        _cleanup_free_ char *signal_path = path_join(side, "standby.signal");
        ControlData cd;
        int r;

        if (!signal_path)
                return log_oom();
        notify_status("cloned from '%s': writing the standby settings", u->display);
        r = fs_write_atomic(signal_path, "", 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to finish the copy in '%s': %m", side);
        r = read_control(d->bindir, side, &cd);
        if (r >= 0)
                r = write_standby_config(c, d->bindir, side, u, &cd);
        if (r >= 0)
                r = clone_commit(side, d->path);
        if (r < 0)
                return r;
        log_info("Clone of '%s' is in place in '%s'", u->display, d->path);
        return 0;
}

/* An empty data directory: wait for the primary, clone it, make the copy a standby, start it. */
static int start_first(const Config *c, DataDir *d, const Upstream *u) {
        _cleanup_free_ char *side = clone_side_path(d->path);
        _cleanup_close_ int lock_fd = -1;
        char what[256];
        int r;

        if (!side)
                return log_oom();
        log_info("First start: cloning primary '%s' into '%s'", u->display, d->path);
        r = clone_prepare(c, d->path, side, &lock_fd);
        if (r < 0)
                return r;
        r = upstream_write_passfile(u);
        if (r < 0)
                return r;
        r = clone_until_done(u, &d->bindir, side);
        if (r < 0)
                return r;
        r = finish_clone(c, d, side, u);
        if (r < 0)
                return r;
        snprintf(what, sizeof(what), "standby of '%s'", u->display);
        return start_postmaster(c, d, what);
}

/*
 * A promoted data directory with partners: ask them first. Superseded (a partner moved past it):
 * it rejoins as a standby, which is this unit's job; otherwise it is the newest primary and starts
 * as one. A rewind that began and did not finish is finished first, whatever the partners say.
 */
static int prepare_promoted_with_partners(const Config *c, const DataDir *d, const Upstream *u, char *what,
                                          size_t n) {
        PeerState states[PARTNERS_MAX] = {};
        ControlData cd;
        uint64_t fork = 0;
        size_t by = 0;
        int r;

        r = read_control(d->bindir, d->path, &cd);
        if (r >= 0)
                r = upstream_write_passfile(u);
        if (r < 0)
                return r;
        if (node_rewind_pending(c)) {
                log_notice("A rewind of '%s' began and did not finish: rewinding it again", d->path);
                return rejoin(c, d, u, cd.sysid, what, n);
        }
        /* Promoted and stopped before a checkpoint: the control file still names the old timeline. */
        cd.timeline = control_timeline(&cd, d->path);
        notify_status("asking the partners before starting as a primary");
        r = peer_fence(c, u->passfile, cd.sysid, cd.timeline, states, &by, &fork);
        if (r == PEER_SUPERSEDED)
                log_notice("'%s' (timeline %u) was superseded: partner '%s' is on timeline %u. Rejoining it as a "
                           "standby with pg_rewind", d->path, cd.timeline, c->partners.items[by].display,
                           states[by].timeline);
        for (size_t i = 0; i < c->partners.n; i++)
                peer_state_done(&states[i]);
        if (r < 0)
                return r == -ENOMEM ? log_oom() : r;
        if (r == PEER_FOREIGN)
                return -PGREPL_E_CONFIG;
        if (r == PEER_SUPERSEDED)
                return rejoin(c, d, u, cd.sysid, what, n);
        /* With POSTGRESQL_FAILOVER=etcd, not writable while another member holds the leader key (exit 79,
         * not restarted): the agent asks for the start again once that member is the primary, and the
         * partners' check then rewinds this node. */
        r = etcd_leader_refuse(c, "this promoted node");
        if (r < 0)
                return r;
        return prepare_promoted(c, u, d->path, what, n);
}

/* A later start or a reload: render what this kind of data directory needs; what gets its STATUS=. */
static int prepare_later(const Config *c, const DataDir *d, const Upstream *u, bool reload, char *what,
                         size_t n) {
        switch (d->kind) {
        case DATADIR_PRIMARY:
                if (config_has_partners(c) && !reload)
                        return prepare_promoted_with_partners(c, d, u, what, n);
                return prepare_promoted(c, u, d->path, what, n);
        case DATADIR_INTERRUPTED:
                return prepare_interrupted(c, d, u, reload, what, n);
        case DATADIR_STANDBY:
                return prepare_standby(c, d, u, reload, what, n);
        case DATADIR_EMPTY:
                break;
        }
        return -EINVAL;
}

/* What a start and a reload share: the data directory inspected, the primary known. */
static int prepare(const Config *c, bool reload, DataDir *d, Upstream *u) {
        int r;

        r = reload ? node_inspect_for_reload(c, d) : node_inspect_datadir(c, d);
        if (r >= 0 && !reload)
                r = node_refuse_running(d);
        if (r >= 0 && !reload)
                r = node_refuse_busy_port(c);
        if (r < 0)
                return r;
        return upstream_init(c, d->kind == DATADIR_EMPTY, u);
}

int bootstrap_run(const Config *c) {
        _cleanup_(node_datadir_done) DataDir d = {};
        _cleanup_(upstream_done) Upstream u = {};
        char what[512];
        int r;

        /* From here on a stop request is read where the work waits (signals.h), not caught. */
        r = signals_block_stop();
        if (r < 0)
                return log_error_errno(r, "Failed to block SIGINT and SIGTERM: %m");
        r = prepare(c, false, &d, &u);
        if (r < 0)
                return r;
        take_request(c);
        if (d.kind == DATADIR_EMPTY) {
                forget_state_file(c, DIVERGE_SEEN);
                return start_first(c, &d, &u);
        }
        r = prepare_later(c, &d, &u, false, what, sizeof(what));
        if (r < 0)
                return r;
        return start_postmaster(c, &d, what);
}

int bootstrap_reload(const Config *c) {
        _cleanup_(node_datadir_done) DataDir d = {};
        _cleanup_(upstream_done) Upstream u = {};
        char what[512];
        int r;

        r = prepare(c, true, &d, &u);
        if (r < 0)
                return r;
        r = prepare_later(c, &d, &u, true, what, sizeof(what));
        if (r < 0)
                return r;
        r = node_reload_server(d.path);
        if (r < 0)
                return r;
        /* What the start said stays until something else says otherwise: a re-pointed standby would
         * still name its old primary (the unit's NotifyAccess=exec lets this control process say it). */
        notify_status("%s", what);
        log_info("Settings re-rendered for primary '%s' and the server on '%s' reloaded", u.display, d.path);
        return 0;
}
