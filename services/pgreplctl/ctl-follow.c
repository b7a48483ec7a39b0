/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl follow NAME HOST[:PORT]`: the seed's re-pointing of a standby (edit the master host,
 * reload) as one command that says whether it worked: the env file's POSTGRESQL_MASTER_HOST (and
 * port) set with every other line kept, `systemctl reload pgrepl-standby@NAME`, then the standby's
 * WAL receiver watched until it streams from HOST, or why not.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "follow.h"
#include "log.h"
#include "pg.h"
#include "probe.h"
#include "units.h"
#include "util.h"

static bool streams_from(const ServerState *s, const char *host, unsigned port) {
        return s->reachable && s->receiver_status && streq(s->receiver_status, "streaming") && s->upstream_host &&
               streq(s->upstream_host, host) && s->upstream_port == port;
}

/* Poll the standby until it streams from host:port or the deadline passes; *s keeps the last look. */
static int wait_streaming(const Config *c, const char *host, unsigned port, uint64_t deadline, ServerState *s) {
        for (;;) {
                _cleanup_pq_ PGconn *conn = NULL;
                int r;

                server_state_done(s);
                r = probe_server(c, s, &conn);
                if (r < 0)
                        return r;
                if (streams_from(s, host, port))
                        return 1;
                if (now_usec() >= deadline)
                        return 0;
                (void) usleep(200 * 1000);
        }
}

/* What HOST says, against where this standby is: the reason it cannot follow, when there is one. */
static void explain_target(const Instance *i, const char *passfile, const char *host, unsigned port,
                           const ServerState *s) {
        MemberState m = {};
        char why[256];

        if (cluster_ask_host(i->config, passfile, host, port, &m) < 0) {
                log_oom();
                return;
        }
        if (!m.peer.answered)
                log_notice("'%s' does not answer: %s", m.member, m.peer.reason);
        else if (s->reachable && m.peer.sysid != s->sysid)
                log_notice("'%s' is another cluster (system identifier %" PRIu64 ", this standby's %" PRIu64 ")",
                           m.member, m.peer.sysid, s->sysid);
        else if (s->reachable && follow_decide(s->timeline, s->replay_lsn, m.peer.timeline, m.peer.history, why,
                                               sizeof(why)) > 0)
                log_notice("'%s' cannot be followed: %s; clone this node afresh (pgreplctl rejoin %s --reclone "
                           "--master=%s), or set POSTGRESQL_PARTNER_NODES, with which a restart rewinds it",
                           m.member, why, i->name, m.member);
        else if (m.peer.in_recovery == 1)
                log_notice("'%s' answers, as a standby itself (this one would cascade from it)", m.member);
        else
                log_notice("'%s' answers as a primary on timeline %u", m.member, m.peer.timeline);
        member_state_done(&m);
}

static void explain(const Instance *i, const char *passfile, const char *host, unsigned port, unsigned wait,
                    const ServerState *s) {
        if (!s->reachable)
                log_error("'%s' is not streaming from '%s' after %u s: its server does not answer (%s)", i->name, host,
                          wait, s->reason);
        else if (!s->receiver_status)
                log_error("'%s' is not streaming from '%s' after %u s: no WAL receiver runs", i->name, host, wait);
        else
                log_error("'%s' is not streaming from '%s' after %u s: its WAL receiver is %s%s%s", i->name, host,
                          wait, s->receiver_status, s->upstream ? ", upstream " : "", s->upstream ? s->upstream : "");
        explain_target(i, passfile, host, port, s);
        ctl_tell_unit(i->name, UNIT_STANDBY);
        ctl_tell_unit(i->name, UNIT_TRIGGER);
}

/* The reload that applies the new master host: 0 to go on watching, else the exit status. */
static int reload(const Instance *i) {
        UnitState units[REPORT_UNITS] = {};
        const UnitState *u = &units[UNIT_STANDBY];
        int r;

        if (!units_available()) {
                log_error("systemd is not running here: reload the standby yourself (pgrepl-standby-bootstrap "
                          "--reload, as its unit does)");
                return CTL_EXIT_FAILED;
        }
        r = units_show(i->name, units);
        if (r >= 0 && (!u->active || !streq(u->active, "active"))) {
                log_error("%s is %s: it follows the new master host when it starts", u->name,
                          u->active ? u->active : "unknown");
                r = CTL_EXIT_FAILED;
        } else if (r >= 0) {
                r = units_run((const char *const[]) { "reload", u->name, NULL });
                if (r != 0)
                        log_error("systemctl reload %s failed (status %d)", u->name, r);
                r = r != 0 ? CTL_EXIT_FAILED : 0;
        } else
                r = ctl_exit(log_oom());
        for (size_t k = 0; k < REPORT_UNITS; k++)
                unit_state_done(&units[k]);
        return r;
}

static int refuse(const Instance *i) {
        if (i->role != ROLE_STANDBY) {
                log_error("'%s' is a primary instance: to make it a standby, use pgreplctl rejoin %s", i->name,
                          i->name);
                return CTL_EXIT_FAILED;
        }
        if (config_has_partners(i->config)) {
                log_error("'%s' has POSTGRESQL_PARTNER_NODES: it follows whichever partner is the primary by itself, "
                          "and its master host only chooses where a first clone comes from", i->name);
                return CTL_EXIT_FAILED;
        }
        return 0;
}

static int follow(const CtlArgs *a, Instance *i, const char *passfile, const char *host, unsigned port) {
        char port_s[8];
        const char *names[] = { "POSTGRESQL_MASTER_HOST", port ? "POSTGRESQL_MASTER_PORT_NUMBER" : NULL, NULL };
        const char *values[] = { host, port_s, NULL };
        ServerState s = {};
        int r;

        snprintf(port_s, sizeof(port_s), "%u", port);
        r = instance_edit(i, ROLE_STANDBY, a->config, names, values, false);
        if (r < 0)
                return ctl_exit(r);
        port = i->config->master_port;
        printf("Set the master host of '%s' to '%s' port %u in '%s'\n", i->name, host, port, i->path);
        r = reload(i);
        if (r != 0)
                return r;
        r = wait_streaming(i->config, host, port, now_usec() + (uint64_t) a->wait * 1000000ULL, &s);
        if (r > 0)
                printf("'%s' streams from '%s' port %u\n", i->name, host, port);
        else if (r == 0)
                explain(i, passfile, host, port, a->wait, &s);
        server_state_done(&s);
        return r > 0 ? CTL_EXIT_OK : r == 0 ? CTL_EXIT_FAILED : ctl_exit(log_oom());
}

int ctl_follow(const CtlArgs *a) {
        _cleanup_free_ char *host = NULL;
        Instance i = {};
        Passfile pf = {};
        unsigned port = 0;
        int r;

        r = ctl_require_root(a);
        if (r != 0)
                return r;
        if (args_parse_target(a->target, &host, &port) < 0)
                return ctl_exit(log_oom()); /* checked by args_parse(): only allocation can fail */
        r = ctl_load(a, &i, &pf);
        if (r != 0)
                return r;
        r = refuse(&i);
        if (r == 0)
                r = follow(a, &i, pf.path, host, port);
        cluster_passfile_done(&pf);
        instance_done(&i);
        return r;
}
