/* SPDX-License-Identifier: MIT */
/*
 * The agent's own server, over its unix socket as the service user (peer
 * authentication): its state in one query, the promotion (the watcher's
 * pg_promote(false) then 1 ms polling, promote.h), the nudge that makes a
 * sibling's startup process retry its upstream at once, and the fence: a
 * fast shutdown of the postmaster. Nothing here logs above debug.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "member.h"

typedef struct Local {
        const Config *c;
        PGconn *conn;
        /* The last answer. */
        bool up;
        bool in_recovery;
        unsigned timeline;
        uint64_t lsn;
        uint64_t sysid;
        bool streaming;
        char sender[MEMBER_NAME_MAX]; /* "host:port" the WAL receiver streams from, "" when none */
        char sync_slots[1024];        /* a primary's synchronous standbys' slots, comma separated */
} Local;

void local_done(Local *l);
/* Ask the server; on any failure l->up is false (and the connection dropped, made again next time). */
void local_refresh(Local *l);
/* This node's member state from the last answer; `self` its name, partners map slots to names. */
void local_member(const Local *l, const char *self, Member *ret);
/* Promote and wait up to wait_s for the server to be writable: 1 writable, 0 not yet, <0 failed
 * (*ret_error, a newly allocated line, may say why). */
int local_promote(Local *l, unsigned wait_s, char **ret_error);
/* SIGHUP through pg_reload_conf(): a startup process waiting wal_retrieve_retry_interval retries now. */
int local_nudge(Local *l);
/* End the WAL receiver (it streams from a node that is no longer the leader). */
int local_end_receiver(Local *l);
/* The fence: SIGINT (fast shutdown) to the postmaster of DATA_DIR; its pid in *ret_pid. -ESRCH when
 * none runs. */
int local_fence(Local *l, pid_t *ret_pid);
/* Whether the postmaster pid still runs. */
bool local_pid_alive(pid_t pid);
/* Whether DATA_DIR is a primary's directory (PG_VERSION, no standby.signal): not a clone in progress. */
bool local_dir_is_primary(const Local *l);
/* Whether DATA_DIR's postmaster.pid names a running postgres. */
bool local_dir_running(const Local *l);
