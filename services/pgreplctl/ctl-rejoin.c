/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl rejoin NAME [--master=HOST[:PORT]] [--reclone]` (SPEC section 8): turn an old primary
 * into a standby of the current primary. Only a node that another has moved past (peer_decide()'s
 * SUPERSEDED) is turned; the newest primary never is. The env file is checked as the standby unit
 * would read it before anything is stopped; then pgrepl-primary@NAME is stopped and disabled, the
 * mode and master host written (every other line kept), pgrepl-standby@NAME enabled and started:
 * its start rewinds the data directory with pg_rewind. --reclone moves the data directory aside
 * (renamed, never deleted) so that the standby clones afresh instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "errors.h"
#include "health.h"
#include "log.h"
#include "control.h"
#include "pg.h"
#include "probe.h"
#include "show.h"
#include "units.h"
#include "util.h"

typedef struct Rejoin {
        const CtlArgs *a;
        Instance *i;
        const char *passfile;
        uint64_t sysid;
        unsigned timeline;
        MemberState *members;
        size_t n_members;
        int primary;          /* index in members of the node to follow */
} Rejoin;

/* This node's system identifier and timeline: from its server when it runs, else its control file. */
static int local_position(Rejoin *j) {
        _cleanup_pq_ PGconn *conn = NULL;
        _cleanup_free_ char *bindir = NULL;
        ServerState s = {};
        ControlData cd = {};
        unsigned major;
        int r;

        r = probe_server(j->i->config, &s, &conn);
        if (r < 0)
                return log_oom();
        j->sysid = s.sysid;
        j->timeline = s.timeline;
        server_state_done(&s);
        if (conn)
                return 0;
        if (pg_data_version(config_get(j->i->config, VAR_DATA_DIR), &major) < 0)
                major = 0;
        r = pg_find_bindir(j->i->config, major, &bindir);
        if (r >= 0)
                r = control_read(bindir, config_get(j->i->config, VAR_DATA_DIR), &cd);
        if (r < 0)
                return r;
        j->sysid = cd.sysid;
        j->timeline = cd.timeline;
        return 0;
}

/* Ask the nodes that may be the current primary: --master, else the partners. */
static int ask_others(Rejoin *j) {
        const Config *c = j->i->config;
        _cleanup_free_ char *host = NULL;
        unsigned port = 0;

        if (j->a->master) {
                if (args_parse_target(j->a->master, &host, &port) < 0)
                        return log_oom();
                j->members = calloc(1, sizeof(MemberState));
                if (!j->members)
                        return log_oom();
                j->n_members = 1;
                return cluster_ask_host(c, j->passfile, host, port ? port : c->master_port, &j->members[0]);
        }
        if (!config_has_partners(c)) {
                log_error("'%s' has no POSTGRESQL_PARTNER_NODES: name the current primary with --master=HOST[:PORT]",
                          j->i->name);
                return -PGREPL_E_USAGE;
        }
        /* Its own server would answer as a primary past it: never guess which entry is this node. */
        if (c->partners.self < 0) {
                log_error("No entry of POSTGRESQL_PARTNER_NODES is recognised as '%s' itself (an address of this "
                          "host and port %u): name the current primary with --master=HOST[:PORT]", j->i->name, c->port);
                return -PGREPL_E_USAGE;
        }
        return cluster_ask(c, j->passfile, NULL, &j->members, &j->n_members);
}

/* Whether this node was superseded, and by whom: 0 to go on (j->primary set), else the exit status. */
static int decide(Rejoin *j) {
        PeerState states[PARTNERS_MAX];
        size_t index[PARTNERS_MAX], n = 0, by = 0;
        uint64_t fork = 0;
        PeerVerdict v;
        int p;

        for (size_t k = 0; k < j->n_members && n < PARTNERS_MAX; k++)
                if (!j->members[k].self) {
                        index[n] = k;
                        states[n++] = j->members[k].peer; /* shallow: only read */
                }
        v = peer_decide(j->sysid, j->timeline, states, n, &by, &fork);
        p = peer_find_primary(states, n);
        j->primary = p >= 0 ? (int) index[p] : -1;
        if (v == PEER_SUPERSEDED && j->primary >= 0)
                return 0;
        if (v == PEER_SUPERSEDED)
                log_error("No node that answers is a writable primary: there is nothing for '%s' to follow yet",
                          j->i->name);
        else if (v == PEER_FOREIGN)
                log_error("'%s' is another cluster (system identifier %" PRIu64 ", this node's %" PRIu64 "): refusing",
                          j->members[index[by]].member, states[by].sysid, j->sysid);
        else if (v == PEER_UNCHECKED && n > 0)
                log_error("No other node answers (%s: %s): cannot tell whether '%s' was superseded",
                          j->members[index[0]].member, j->members[index[0]].peer.reason, j->i->name);
        else if (v == PEER_UNCHECKED)
                log_error("There is no other node to ask: cannot tell whether '%s' was superseded", j->i->name);
        else
                log_error("No other node is past '%s' (timeline %u): it is the newest primary, and rejoin never "
                          "demotes that one", j->i->name, j->timeline);
        return CTL_EXIT_FAILED;
}

/* Rename the data directory (where a link points, when it is one) to DATADIR.pgrepl-old-<UTC time>. */
static int move_aside(const Instance *i) {
        const char *datadir = config_get(i->config, VAR_DATA_DIR);
        _cleanup_free_ char *real = realpath(datadir, NULL), *aside = NULL;
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        pid_t pid;

        if (!real) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(-errno, "Cannot resolve the data directory '%s': %m", datadir);
        }
        if (pg_postmaster_pid(real, &pid) >= 0) {
                log_error("A server still runs on '%s' (pid %d): not moving it", real, (int) pid);
                return -EBUSY;
        }
        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0 ||
            asprintf(&aside, "%s.pgrepl-old-%s", real, stamp) < 0)
                return log_oom();
        if (rename(real, aside) < 0)
                return log_error_errno(-errno, "Failed to move '%s' aside to '%s': %m", real, aside);
        printf("Moved the data directory '%s' aside to '%s' (nothing was deleted)\n", real, aside);
        return 0;
}

static int run(const char *verb, const char *opt, UnitKind kind, const char *instance) {
        _cleanup_free_ char *unit = units_name(kind, instance);
        int r;

        if (!unit)
                return log_oom();
        r = opt ? units_run((const char *const[]) { verb, opt, unit, NULL })
                : units_run((const char *const[]) { verb, unit, NULL });
        if (r != 0)
                log_error("systemctl %s%s%s %s failed (%d)", verb, opt ? " " : "", opt ? opt : "", unit, r);
        return r == 0 ? 0 : -EIO;
}

/* Wait a little for the new standby to stream, then say how it went. */
static int report(const Rejoin *j) {
        const MemberState *p = &j->members[j->primary];
        uint64_t deadline = now_usec() + (uint64_t) ARGS_FOLLOW_WAIT * 1000000ULL;
        ServerState s = {};

        for (;;) {
                _cleanup_pq_ PGconn *conn = NULL;

                server_state_done(&s);
                if (probe_server(j->i->config, &s, &conn) < 0)
                        return ctl_exit(log_oom());
                if ((s.reachable && s.in_recovery && s.receiver_status && streq(s.receiver_status, "streaming")) ||
                    now_usec() >= deadline)
                        break;
                (void) usleep(200 * 1000);
        }
        if (s.reachable && s.in_recovery) {
                printf("'%s' is a standby of '%s' now%s%s\n", j->i->name, p->member,
                       s.receiver_status ? ", WAL receiver " : " (no WAL receiver runs yet)",
                       s.receiver_status ? s.receiver_status : "");
                server_state_done(&s);
                return CTL_EXIT_OK;
        }
        log_error("'%s' did not come back as a standby: %s", j->i->name,
                  !s.reachable ? s.reason : "its server is writable");
        ctl_tell_unit(j->i->name, UNIT_STANDBY);
        log_notice("See journalctl -u pgrepl-standby@%s", j->i->name);
        server_state_done(&s);
        return CTL_EXIT_FAILED;
}

static int switch_units(Rejoin *j, const char *const *names, const char *const *values) {
        const char *name = j->i->name;
        int r;

        r = run("stop", NULL, UNIT_STANDBY, name);
        if (r >= 0)
                r = run("stop", NULL, UNIT_PRIMARY, name);
        if (r >= 0)
                r = run("disable", NULL, UNIT_PRIMARY, name);
        if (r >= 0 && j->a->reclone)
                r = move_aside(j->i);
        if (r >= 0)
                r = instance_edit(j->i, ROLE_STANDBY, j->a->config, names, values, false);
        if (r >= 0)
                printf("Wrote POSTGRESQL_REPLICATION_MODE=slave and master host '%s' port %s to '%s'\n", values[1],
                       values[2], j->i->path);
        if (r >= 0)
                r = run("enable", "--now", UNIT_STANDBY, name);
        return r;
}

static int rejoin(Rejoin *j) {
        const MemberState *p;
        char port[8];
        const char *names[] = { "POSTGRESQL_REPLICATION_MODE", "POSTGRESQL_MASTER_HOST",
                                "POSTGRESQL_MASTER_PORT_NUMBER", NULL };
        const char *values[] = { "slave", NULL, port, NULL };
        int r;

        r = local_position(j);
        if (r >= 0)
                r = ask_others(j);
        if (r < 0)
                return r == -PGREPL_E_USAGE ? CTL_EXIT_USAGE : ctl_exit(r);
        r = decide(j);
        if (r != 0)
                return r;
        /* The standby unit rewinds only with partners: without, it would start the old primary's directory
         * as the primary it still looks like. */
        if (!config_has_partners(j->i->config) && !j->a->reclone) {
                log_error("'%s' has no POSTGRESQL_PARTNER_NODES, so its standby unit cannot rewind it: add "
                          "--reclone (the data directory is moved aside and cloned afresh), or set "
                          "POSTGRESQL_PARTNER_NODES on every node", j->i->name);
                return CTL_EXIT_USAGE;
        }
        p = &j->members[j->primary];
        values[1] = p->host;
        snprintf(port, sizeof(port), "%u", p->port);
        /* Everything the standby unit will read is checked before anything is stopped. */
        r = instance_edit(j->i, ROLE_STANDBY, j->a->config, names, values, true);
        if (r < 0)
                return ctl_exit(r);
        printf("Rejoining '%s' (timeline %u) as a standby of '%s' (timeline %u)%s\n", j->i->name, j->timeline,
               p->member, p->peer.timeline, j->a->reclone ? ", by a new clone" : ", by rewind");
        r = switch_units(j, names, values);
        if (r < 0) {
                ctl_tell_unit(j->i->name, UNIT_STANDBY);
                return ctl_exit(r);
        }
        return report(j);
}

int ctl_rejoin(const CtlArgs *a) {
        Instance i = {};
        Passfile pf = {};
        Rejoin j = { .a = a, .i = &i, .primary = -1 };
        int r;

        r = ctl_require_root(a);
        if (r != 0)
                return r;
        if (!units_available()) {
                log_error("systemd is not running here: rejoin stops, disables and starts the instance's units");
                return CTL_EXIT_FAILED;
        }
        r = ctl_load(a, &i, &pf);
        if (r != 0)
                return r;
        j.passfile = pf.path;
        r = rejoin(&j);
        for (size_t k = 0; k < j.n_members; k++)
                member_state_done(&j.members[k]);
        free(j.members);
        cluster_passfile_done(&pf);
        instance_done(&i);
        return r;
}
