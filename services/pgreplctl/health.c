/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"
#include "health.h"
#include "show.h"

int health_primary(const MemberState *m, size_t n) {
        PeerState states[PARTNERS_MAX];

        /* Shallow copies: peer_find_primary() only reads them. */
        if (n > PARTNERS_MAX)
                n = PARTNERS_MAX;
        for (size_t i = 0; i < n; i++)
                states[i] = m[i].peer;
        return peer_find_primary(states, n);
}

int health_other_primary(const MemberState *m, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!m[i].self && m[i].peer.answered && m[i].peer.in_recovery == 0)
                        return (int) i;
        return -1;
}

static const UnitState *unit_of_mode(const InstanceReport *i) {
        return &i->units[i->mode_primary ? 0 : 1];
}

static int check_units(Report *r, const InstanceReport *i) {
        for (size_t k = 0; k < REPORT_UNITS; k++) {
                const UnitState *u = &i->units[k];
                int q;

                if (!u->active || !streq(u->active, "failed"))
                        continue;
                q = report_warn(r, i->name, "%s failed%s%s", u->name, u->status ? ": " : "", u->status ? u->status : "");
                if (q < 0)
                        return q;
        }
        return 0;
}

static int check_server(Report *r, const InstanceReport *i) {
        const ServerState *s = &i->server;
        const UnitState *u = unit_of_mode(i);

        if (!s->checked)
                return 0;
        if (!s->reachable) {
                if (u->active && !streq(u->active, "unknown"))
                        return report_warn(r, i->name, "'%s': server not reachable (%s); %s is %s", i->name, s->reason,
                                           u->name, u->active);
                return report_warn(r, i->name, "'%s': server not reachable (%s)", i->name, s->reason);
        }
        if (s->in_recovery && (!s->receiver_status || !streq(s->receiver_status, "streaming"))) {
                if (s->receiver_status)
                        return report_warn(r, i->name, "'%s': standby is not streaming (WAL receiver %s%s%s)", i->name,
                                           s->receiver_status, s->upstream ? ", upstream " : "",
                                           s->upstream ? s->upstream : "");
                return report_warn(r, i->name, "'%s': standby is not streaming (no WAL receiver runs)", i->name);
        }
        return 0;
}

static int check_slots(Report *r, const InstanceReport *i) {
        for (size_t k = 0; k < i->server.n_slots; k++) {
                const SlotState *s = &i->server.slots[k];
                char size[32];
                int q = 0;

                show_bytes(s->retained, size, sizeof(size));
                if (s->wal_status && (streq(s->wal_status, "lost") || streq(s->wal_status, "unreserved")))
                        q = report_warn(r, i->name, "'%s': slot '%s' %s WAL its standby needs (wal_status %s)", i->name,
                                        s->name, streq(s->wal_status, "lost") ? "has lost" : "may lose", s->wal_status);
                /* A standby's slots are the ones its watcher keeps for the partners: inactive until a promotion,
                 * by design, and advanced at every beat. */
                else if (!s->active && !i->server.in_recovery && s->retained > HEALTH_SLOT_WARN_BYTES)
                        q = report_warn(r, i->name, "'%s': inactive slot '%s' holds %s of WAL", i->name, s->name, size);
                if (q < 0)
                        return q;
        }
        return 0;
}

/* A primary that waits for more synchronous standbys than are connected cannot commit. */
static int check_sync(Report *r, const InstanceReport *i) {
        const ServerState *s = &i->server;
        unsigned have = 0;

        if (!s->reachable || s->in_recovery || i->num_sync == 0)
                return 0;
        for (size_t k = 0; k < s->n_replicas; k++)
                if (s->replicas[k].sync_state &&
                    (streq(s->replicas[k].sync_state, "sync") || streq(s->replicas[k].sync_state, "quorum")))
                        have++;
        if (have >= i->num_sync)
                return 0;
        return report_warn(r, i->name, "'%s': %u synchronous standby%s wanted (POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS), "
                           "%u connected: commits wait", i->name, i->num_sync, i->num_sync == 1 ? "" : "s", have);
}

/* Members that did not answer, several primaries or none. */
static int check_member_roles(Report *r, const InstanceReport *i) {
        int first = -1, answered = 0, q;

        for (size_t k = 0; k < i->n_members; k++) {
                const MemberState *m = &i->members[k];

                if (!m->peer.answered) {
                        /* This node's own server, when it does not answer, has its warning already. */
                        if (m->self && i->server.checked && !i->server.reachable)
                                continue;
                        q = report_warn(r, NULL, "partner '%s' is unreachable: %s", m->member, m->peer.reason);
                        if (q < 0)
                                return q;
                        continue;
                }
                answered++;
                if (m->peer.in_recovery != 0)
                        continue;
                if (first < 0) {
                        first = (int) k;
                        continue;
                }
                q = report_warn(r, NULL, "two writable primaries: '%s' (timeline %u) and '%s' (timeline %u)",
                                i->members[first].member, i->members[first].peer.timeline, m->member, m->peer.timeline);
                if (q < 0)
                        return q;
        }
        if (answered > 0 && first < 0)
                return report_warn(r, NULL, "no partner is a writable primary");
        return 0;
}

/* Standbys that are another cluster, cannot follow the primary's timeline, or do not stream from it. */
static int check_member_standbys(Report *r, const InstanceReport *i) {
        int p = health_primary(i->members, i->n_members);
        const PeerState *ps;

        if (p < 0)
                return 0;
        ps = &i->members[p].peer;
        for (size_t k = 0; k < i->n_members; k++) {
                const MemberState *m = &i->members[k];
                char why[256];
                int q = 0;

                if (!m->peer.answered || (int) k == p)
                        continue;
                if (m->peer.sysid != ps->sysid)
                        q = report_warn(r, NULL, "partner '%s' is another cluster (system identifier %" PRIu64
                                        ", the primary's %" PRIu64 ")", m->member, m->peer.sysid, ps->sysid);
                else if (m->peer.in_recovery == 0)
                        continue;
                else if (follow_decide(m->peer.timeline, m->peer.lsn, ps->timeline, ps->history, why, sizeof(why)) > 0)
                        q = report_warn(r, NULL, "standby '%s' cannot follow primary '%s': %s", m->member,
                                        i->members[p].member, why);
                else if (m->replication_known && !m->stream_state)
                        q = report_warn(r, NULL, "standby '%s' does not stream from primary '%s'", m->member,
                                        i->members[p].member);
                if (q < 0)
                        return q;
        }
        return 0;
}

/* Without partners the host's own instances are all there is to compare. */
static int check_local_primaries(Report *r) {
        for (size_t a = 0; a < r->n; a++)
                for (size_t b = a + 1; b < r->n; b++) {
                        const ServerState *x = &r->items[a].server, *y = &r->items[b].server;
                        int q;

                        /* With partners the members' check says it, by their addresses. */
                        if (r->items[a].n_members > 0 || r->items[b].n_members > 0)
                                continue;
                        if (!x->reachable || !y->reachable || x->in_recovery || y->in_recovery || x->sysid != y->sysid)
                                continue;
                        q = report_warn(r, NULL, "two writable primaries: '%s' (timeline %u) and '%s' (timeline %u)",
                                        r->items[a].name, x->timeline, r->items[b].name, y->timeline);
                        if (q < 0)
                                return q;
                }
        return 0;
}

int health_check(Report *r) {
        int q = 0;

        for (size_t k = 0; k < r->n && q >= 0; k++) {
                const InstanceReport *i = &r->items[k];

                if (i->error)
                        continue;
                q = check_units(r, i);
                if (q >= 0)
                        q = check_server(r, i);
                if (q >= 0)
                        q = check_slots(r, i);
                if (q >= 0)
                        q = check_sync(r, i);
                if (q >= 0)
                        q = check_member_roles(r, i);
                if (q >= 0)
                        q = check_member_standbys(r, i);
        }
        if (q >= 0)
                q = check_local_primaries(r);
        return q;
}

int health_verdict(const Report *r) {
        for (size_t k = 0; k < r->n; k++)
                if (r->items[k].error)
                        return HEALTH_ERROR;
        return r->n_warnings > 0 ? HEALTH_DEGRADED : HEALTH_OK;
}
