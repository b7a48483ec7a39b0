/* SPDX-License-Identifier: MIT */
/*
 * What `pgreplctl status` found, as plain data: per local instance its units, its server, its
 * promotion record and, with partners, one row per member of the cluster; then the warnings the
 * health checks derived. The probes fill it, health.c judges it, show.c prints it; the last two
 * are pure. In etcd mode, the cluster's keys as etcd has them too (etcdview.c). Positions are LSNs with 0 for "not known" (PostgreSQL's invalid LSN); byte counts and
 * seconds are -1 when not known.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "peer.h"
#include "record.h"

#define REPORT_UNITS 3 /* pgrepl-primary@, pgrepl-standby@, pgrepl-trigger@ */

typedef struct UnitState {
        char *name;    /* "pgrepl-standby@main" */
        char *active;  /* ActiveState ("active", "failed", ...); "unknown" without systemd */
        char *sub;     /* SubState, NULL when not known */
        char *enabled; /* UnitFileState, NULL when not known */
        char *status;  /* StatusText=, NULL when empty */
} UnitState;

typedef struct SlotState {
        char *name;
        bool active;
        char *wal_status;  /* "reserved", "extended", "unreserved", "lost"; NULL when not known */
        int64_t retained;  /* bytes of WAL behind the server's position, -1 when not known */
} SlotState;

typedef struct ReplicaState {   /* a row of the server's pg_stat_replication */
        char *name;       /* application_name */
        char *client;     /* client address, "local" for a socket */
        char *state;      /* "streaming", "catchup", ... */
        char *sync_state; /* "async", "sync", "potential", "quorum" */
        char *slot;       /* the slot it uses, NULL when none */
        uint64_t replay_lsn;
        int64_t lag_bytes;
        double lag_seconds;
} ReplicaState;

typedef struct ServerState {
        bool checked;      /* false: not looked at (this user may not connect); reason says why */
        bool reachable;
        char reason[200];
        uint64_t sysid;
        bool in_recovery;
        unsigned timeline;
        uint64_t write_lsn;   /* a primary's current position; a standby's received and flushed one */
        uint64_t replay_lsn;  /* a standby's; 0 on a primary */
        char *upstream;       /* a standby's WAL sender "host:port", NULL when no WAL receiver runs */
        char *upstream_host;
        unsigned upstream_port;
        char *receiver_status; /* "streaming", "waiting", ...; NULL when no WAL receiver runs */
        int64_t lag_bytes;     /* a standby's: what its upstream has and it has not replayed */
        double lag_seconds;    /* a standby's: since the last replayed transaction, 0 when caught up */
        SlotState *slots;
        size_t n_slots;
        ReplicaState *replicas;
        size_t n_replicas;
} ServerState;

typedef struct MemberState {    /* one entry of POSTGRESQL_PARTNER_NODES, as `patronictl list` shows it */
        char *member;           /* "host:port" */
        char *host;
        unsigned port;
        char *slot;             /* the slot every other node keeps for it */
        bool self;
        PeerState peer;         /* what it answered over a replication connection */
        int64_t lag_bytes;      /* behind the primary; -1 for the primary itself or when not known */
        bool replication_known; /* the primary's pg_stat_replication could be read */
        char *sync_state;       /* from the primary's pg_stat_replication, NULL when not streaming there */
        char *stream_state;
} MemberState;

typedef struct EtcdMemberView { /* PREFIX members/NAME, as etcd has it (POSTGRESQL_FAILOVER=etcd) */
        char *name;             /* the key's last part: the member's partner entry, "host:port" */
        char *value;            /* the published JSON, as stored */
        bool parsed;            /* value is a member record; the fields below are filled */
        char *role;             /* "primary", "standby", "down" */
        unsigned timeline;
        uint64_t lsn;
        char **sync;            /* a primary's synchronous standbys, NULL-terminated; NULL for none */
        int64_t time;           /* when published, unix seconds; 0 when not said */
        int64_t lease;          /* the agent's lease the key is attached to, 0: none */
} EtcdMemberView;

typedef struct EtcdView {       /* the cluster's keys in etcd, `status` of an instance in etcd mode */
        bool asked;             /* the instance has POSTGRESQL_FAILOVER=etcd */
        char *error;            /* etcd could not be asked, one line; nothing below is filled then */
        char *endpoint;         /* the endpoint that answered */
        char *prefix;           /* "/pgrepl/CLUSTER/" */
        char *leader;           /* the leader key's value, NULL when there is none */
        int64_t leader_lease;
        int64_t lease_ttl;      /* the leader lease's remaining seconds; -1 when not known (gone) */
        int64_t lease_granted;  /* its TTL when granted; -1 when not known */
        char *switchover;       /* a switchover request (PREFIX switchover), NULL when none */
        EtcdMemberView *members;
        size_t n_members;
} EtcdView;

typedef struct InstanceReport {
        char *name;
        char *env_file;
        char *error;          /* why the instance could not be read; nothing else is filled then */
        bool mode_primary;    /* POSTGRESQL_REPLICATION_MODE */
        unsigned num_sync;    /* POSTGRESQL_NUM_SYNCHRONOUS_REPLICAS */
        UnitState units[REPORT_UNITS];
        ServerState server;
        bool has_promotion;
        PromotionRecord promotion;
        MemberState *members; /* n_members == 0 without partners */
        size_t n_members;
        char *members_error;  /* why the partners were not asked (this user cannot authenticate) */
        EtcdView etcd;        /* POSTGRESQL_FAILOVER=etcd (etcd.asked) */
} InstanceReport;

typedef struct Warning {
        char *instance; /* the local instance it is about, NULL for the cluster as a whole */
        char *text;
} Warning;

typedef struct Report {
        InstanceReport *items;
        size_t n;
        Warning *warnings;
        size_t n_warnings;
} Report;

void unit_state_done(UnitState *u);
void server_state_done(ServerState *s);
void member_state_done(MemberState *m);
void etcd_view_done(EtcdView *v);
void instance_report_done(InstanceReport *r);
void report_done(Report *r);

/* A new, zeroed instance at the end of r->items; NULL when out of memory. */
InstanceReport *report_add(Report *r);
/* Add a warning unless the same text is already there; -ENOMEM. */
int report_warn(Report *r, const char *instance, const char *fmt, ...) _printf_(3, 4);
