/* SPDX-License-Identifier: MIT */
/*
 * The verdicts of `pgreplctl status`, table-driven: each case a report as the probes would fill
 * it, with the warnings and the exit status it must give.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "health.h"
#include "macro.h"

#define SYS 7000000000000000001ULL
#define HIST2 "1\t0/3000148\tno recovery target specified\n"

static char *sdup(const char *s) {
        return s ? strdup(s) : NULL;
}

/* An instance whose server answered (a primary unless in_recovery). */
static InstanceReport *add(Report *r, const char *name, bool mode_primary, bool in_recovery) {
        InstanceReport *i = report_add(r);
        static const char *const kinds[] = { "primary", "standby", "trigger" };

        i->name = sdup(name);
        i->env_file = sdup("/etc/pgrepl/x.env");
        i->mode_primary = mode_primary;
        for (size_t k = 0; k < REPORT_UNITS; k++) {
                char n[64];

                snprintf(n, sizeof(n), "pgrepl-%s@%s", kinds[k], name);
                i->units[k].name = sdup(n);
                i->units[k].active = sdup("unknown");
        }
        i->server = (ServerState) { .checked = true, .reachable = true, .sysid = SYS, .in_recovery = in_recovery,
                                    .timeline = 1, .write_lsn = 0x3000000, .lag_bytes = -1, .lag_seconds = -1 };
        if (in_recovery) {
                i->server.receiver_status = sdup("streaming");
                i->server.upstream = sdup("10.0.0.1:5432");
                i->server.upstream_host = sdup("10.0.0.1");
                i->server.upstream_port = 5432;
        }
        return i;
}

static void add_slot(InstanceReport *i, const char *name, bool active, const char *wal_status, int64_t retained) {
        ServerState *s = &i->server;

        s->slots = realloc(s->slots, (s->n_slots + 1) * sizeof(SlotState));
        s->slots[s->n_slots++] = (SlotState) { sdup(name), active, sdup(wal_status), retained };
}

static void add_replica(InstanceReport *i, const char *name, const char *sync) {
        ServerState *s = &i->server;

        s->replicas = realloc(s->replicas, (s->n_replicas + 1) * sizeof(ReplicaState));
        s->replicas[s->n_replicas++] = (ReplicaState) { .name = sdup(name), .client = sdup("10.0.0.2"),
                                                        .state = sdup("streaming"), .sync_state = sdup(sync),
                                                        .lag_bytes = 0, .lag_seconds = 0 };
}

/* A member: answered (tli > 0) as a primary (rec 0) or standby (rec 1), or not (tli 0). */
static MemberState *add_member(InstanceReport *i, const char *member, bool self, unsigned tli, int rec, uint64_t lsn,
                               const char *history) {
        MemberState *m;

        i->members = realloc(i->members, (i->n_members + 1) * sizeof(MemberState));
        m = &i->members[i->n_members++];
        *m = (MemberState) { .member = sdup(member), .host = sdup("h"), .port = 5432, .self = self, .lag_bytes = -1,
                             .peer = { .answered = tli > 0, .sysid = SYS, .timeline = tli, .in_recovery = rec,
                                       .lsn = lsn, .history = sdup(history) } };
        if (tli == 0)
                snprintf(m->peer.reason, sizeof(m->peer.reason), "connection refused");
        return m;
}

/* Judge r; its warnings, joined by '|', must be expected and the verdict verdict. */
static void expect(Report *r, int verdict, const char *expected) {
        char got[4096] = "";

        ASSERT_EQ(health_check(r), 0);
        for (size_t k = 0; k < r->n_warnings; k++) {
                strcat(got, k ? "|" : "");
                strcat(got, r->warnings[k].text);
        }
        ASSERT_STREQ(got, expected);
        ASSERT_EQ(health_verdict(r), verdict);
        report_done(r);
}

static void test_local(void) {
        Report r = {};
        InstanceReport *i;

        /* A primary and its streaming standby: healthy. */
        i = add(&r, "main", true, false);
        add_slot(i, "pgrepl_a", true, "reserved", 0);
        add_replica(i, "walreceiver", "async");
        add(&r, "replica", false, true);
        expect(&r, HEALTH_OK, "");

        /* A standby whose server is down, with its unit's state; one not streaming. */
        i = add(&r, "a", false, true);
        i->server.reachable = false;
        snprintf(i->server.reason, sizeof(i->server.reason), "no server on that socket");
        free(i->units[1].active);
        i->units[1].active = sdup("inactive");
        i = add(&r, "b", false, true);
        free(i->server.receiver_status);
        i->server.receiver_status = sdup("waiting");
        i = add(&r, "c", false, true);
        free(i->server.receiver_status);
        i->server.receiver_status = NULL;
        expect(&r, HEALTH_DEGRADED,
               "'a': server not reachable (no server on that socket); pgrepl-standby@a is inactive|"
               "'b': standby is not streaming (WAL receiver waiting, upstream 10.0.0.1:5432)|"
               "'c': standby is not streaming (no WAL receiver runs)");

        /* Not checked (another user) is no warning; an unreadable instance is an error. */
        i = add(&r, "a", true, false);
        i->server = (ServerState) { .checked = false, .lag_bytes = -1, .lag_seconds = -1 };
        i = report_add(&r);
        i->name = sdup("bad");
        i->error = sdup("the configuration is not valid");
        expect(&r, HEALTH_ERROR, "");

        /* A failed unit. */
        i = add(&r, "a", true, false);
        free(i->units[0].active);
        i->units[0].active = sdup("failed");
        i->units[0].status = sdup("superseded by '10.0.0.2:5432'");
        expect(&r, HEALTH_DEGRADED, "pgrepl-primary@a failed: superseded by '10.0.0.2:5432'");
}

static void test_slots_and_sync(void) {
        Report r = {};
        InstanceReport *i;

        i = add(&r, "main", true, false);
        add_slot(i, "held", false, "reserved", 48 * 1024 * 1024);
        add_slot(i, "small", false, "reserved", 1024);
        add_slot(i, "busy", true, "reserved", 64 * 1024 * 1024);
        add_slot(i, "gone", false, "lost", -1);
        add_slot(i, "risky", true, "unreserved", 0);
        expect(&r, HEALTH_DEGRADED,
               "'main': inactive slot 'held' holds 48.0 MiB of WAL|"
               "'main': slot 'gone' has lost WAL its standby needs (wal_status lost)|"
               "'main': slot 'risky' may lose WAL its standby needs (wal_status unreserved)");

        /* A standby's partner slots (its watcher keeps them) are inactive by design; a lost one still tells. */
        i = add(&r, "sb", false, true);
        add_slot(i, "pgrepl_ha1_5432", false, "reserved", 48 * 1024 * 1024);
        expect(&r, HEALTH_OK, "");
        i = add(&r, "sb", false, true);
        add_slot(i, "pgrepl_ha1_5432", false, "lost", -1);
        expect(&r, HEALTH_DEGRADED, "'sb': slot 'pgrepl_ha1_5432' has lost WAL its standby needs (wal_status lost)");

        /* Two synchronous standbys wanted, one connected (a potential one does not count). */
        i = add(&r, "main", true, false);
        i->num_sync = 2;
        add_replica(i, "s1", "sync");
        add_replica(i, "s2", "potential");
        expect(&r, HEALTH_DEGRADED,
               "'main': 2 synchronous standbys wanted (POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS), 1 connected: commits wait");
        i = add(&r, "main", true, false);
        i->num_sync = 2;
        add_replica(i, "s1", "quorum");
        add_replica(i, "s2", "quorum");
        expect(&r, HEALTH_OK, "");
}

static void test_members(void) {
        Report r = {};
        InstanceReport *i;
        MemberState *m;

        /* A primary and its streaming standby. */
        i = add(&r, "main", true, false);
        add_member(i, "p:5432", true, 1, 0, 0x3000000, NULL);
        m = add_member(i, "s:5432", false, 1, 1, 0x3000000, NULL);
        m->replication_known = true;
        m->stream_state = sdup("streaming");
        expect(&r, HEALTH_OK, "");

        /* A stopped standby is named; two primaries; a standby past the fork cannot follow. */
        i = add(&r, "main", true, false);
        add_member(i, "p:5432", true, 1, 0, 0x3000200, NULL);
        add_member(i, "q:5432", false, 2, 0, 0x3000300, HIST2);
        add_member(i, "s:5432", false, 0, -1, 0, NULL);
        add_member(i, "t:5432", false, 1, 1, 0x3000200, NULL);
        expect(&r, HEALTH_DEGRADED,
               "two writable primaries: 'p:5432' (timeline 1) and 'q:5432' (timeline 2)|"
               "partner 's:5432' is unreachable: connection refused|"
               "standby 't:5432' cannot follow primary 'q:5432': its timeline 2 forked off timeline 1 at 0/3000148, "
               "before this standby's position 0/3000200");

        /* No primary at all; this node's own entry unreachable is said once, by its server. */
        i = add(&r, "main", false, true);
        i->server.reachable = false;
        snprintf(i->server.reason, sizeof(i->server.reason), "connection refused");
        add_member(i, "p:5432", true, 0, -1, 0, NULL);
        add_member(i, "s:5432", false, 1, 1, 0x3000000, NULL);
        expect(&r, HEALTH_DEGRADED, "'main': server not reachable (connection refused)|no partner is a writable primary");

        /* A standby the primary's pg_stat_replication does not show; another cluster. */
        i = add(&r, "main", true, false);
        add_member(i, "p:5432", true, 1, 0, 0x3000000, NULL);
        m = add_member(i, "s:5432", false, 1, 1, 0x3000000, NULL);
        m->replication_known = true;
        m = add_member(i, "x:5432", false, 1, 1, 0x3000000, NULL);
        m->peer.sysid = 42;
        expect(&r, HEALTH_DEGRADED,
               "standby 's:5432' does not stream from primary 'p:5432'|"
               "partner 'x:5432' is another cluster (system identifier 42, the primary's 7000000000000000001)");
}

static void test_local_primaries(void) {
        Report r = {};

        add(&r, "a", true, false);
        add(&r, "b", false, false)->server.timeline = 2;
        expect(&r, HEALTH_DEGRADED, "two writable primaries: 'a' (timeline 1) and 'b' (timeline 2)");
        add(&r, "a", true, false);
        add(&r, "b", true, false)->server.sysid = 5;
        expect(&r, HEALTH_OK, "");
}

static void test_other_primary(void) {
        InstanceReport i = {};

        add_member(&i, "self:5432", true, 1, 1, 0x3000000, NULL);
        add_member(&i, "s:5432", false, 1, 1, 0x3000000, NULL);
        ASSERT_EQ(health_other_primary(i.members, i.n_members), -1);
        add_member(&i, "p:5432", false, 0, -1, 0, NULL);
        ASSERT_EQ(health_other_primary(i.members, i.n_members), -1);
        i.members[2].peer.answered = true;
        i.members[2].peer.in_recovery = 0;
        ASSERT_EQ(health_other_primary(i.members, i.n_members), 2);
        i.members[0].peer.in_recovery = 0;
        i.members[0].peer.timeline = 3;
        ASSERT_EQ(health_primary(i.members, i.n_members), 0);
        instance_report_done(&i);
}

int main(void) {
        test_local();
        test_slots_and_sync();
        test_members();
        test_local_primaries();
        test_other_primary();
        return 0;
}
