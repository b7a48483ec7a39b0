/* SPDX-License-Identifier: MIT */
/*
 * What each agent publishes about its node under PREFIX/members/NAME (SPEC
 * section 11), and the election's pure rules: who may take the leader key
 * when it is gone. JSON in and out through json-c; nothing here logs or
 * talks to etcd or PostgreSQL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMBER_NAME_MAX 300
#define MEMBER_SYNC_MAX 16

typedef enum MemberRole {
        MEMBER_DOWN,    /* the server does not answer (or was fenced) */
        MEMBER_STANDBY,
        MEMBER_PRIMARY,
        _MEMBER_ROLE_MAX,
} MemberRole;

typedef struct Member {
        char name[MEMBER_NAME_MAX];  /* the node's POSTGRESQL_PARTNER_NODES entry, "host:port" */
        MemberRole role;
        unsigned timeline;
        uint64_t lsn;                /* a primary's current WAL position, a standby's received (or replayed) */
        uint64_t sysid;
        bool streaming;              /* a standby whose WAL receiver streams */
        char sync[MEMBER_SYNC_MAX][MEMBER_NAME_MAX]; /* a primary's synchronous standbys */
        size_t n_sync;
        int64_t time;                /* when published, seconds since the epoch */
        int64_t revision;            /* etcd's mod_revision of the record (not in the JSON) */
} Member;

const char *member_role_to_string(MemberRole r);
/* The published value, newly allocated. */
int member_to_json(const Member *m, char **ret);
/* PREFIX/sync, kept by the leader without a lease: its member name and synchronous standbys, so that an
 * agent started after the leader's record expired still knows who may take over. */
int member_to_sync_json(const Member *m, char **ret);
/* The leader named in a PREFIX/sync value, into name (n bytes). -EBADMSG. */
int member_sync_owner(const char *json, char *name, size_t n);
/* Parse a published value; name is the key's last component. -EBADMSG when it is not one of ours. */
int member_from_json(const char *name, const char *json, Member *ret);
bool member_lists_sync(const Member *primary, const char *name);
/* PREFIX/switchover's value, {"to":"NAME","from":"NAME"}: the target, newly allocated. -EBADMSG. */
int member_switchover_target(const char *json, char **ret_to);

typedef struct ElectInput {
        const char *self;
        const Member *members;        /* as etcd has them, this node's own entry included */
        size_t n_members;
        const Member *last_primary;   /* the last primary's last published state; NULL: never seen */
        bool sync_mode;               /* synchronous commit: only its synchronous standbys are eligible */
        uint64_t max_lag;             /* otherwise: at most this many bytes behind the last primary */
        const char *switchover_to;    /* a switchover in progress to this member, or NULL */
        bool grace_over;              /* the better candidates had their chance */
        int64_t fresh_after;          /* records with a greater revision were published after the key went */
} ElectInput;

typedef enum ElectVerdict {
        ELECT_TAKE,        /* try to create the leader key now */
        ELECT_WAIT,        /* another member goes first */
        ELECT_INELIGIBLE,  /* never this time (*ret_why says why) */
} ElectVerdict;

/* Whether the member `self` (its freshest state) may take the free leader key. */
ElectVerdict elect_decide(const ElectInput *in, const Member *self, const char **ret_why);
/* Whether a member could be elected at all: NULL when it may, else why not. With synchronous commit:
 * a synchronous standby of the last primary, or a running standby with at least as much WAL as one
 * of those published after the key went (the primary's list may be a moment older than its last
 * commits). */
const char *elect_ineligible_why(const ElectInput *in, const Member *m);
