/* SPDX-License-Identifier: MIT */
/*
 * The other nodes of a cluster, as a node sees them over a replication
 * connection (SPEC section 8): system identifier, timeline, position,
 * whether in recovery, and the history of its timeline. On that rests the
 * fence: a node whose timeline a partner has moved past was superseded and
 * must not run writable. peer_decide() and the history helpers are pure;
 * peer_ask() and peer_ask_all() talk to partners and never log (the latter
 * says whom it awaits in STATUS=); peer_write_passfile() and peer_fence()
 * log what they find, as their comments say.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "control.h"
#include "partners.h"

typedef struct PeerState {
        bool answered;
        char reason[160];     /* why it did not answer ("connection refused") */
        uint64_t sysid;
        unsigned timeline;
        uint64_t lsn;         /* IDENTIFY_SYSTEM's position: written (primary) or replayed (standby) */
        int in_recovery;      /* 1 standby, 0 primary, -1 not known (before PostgreSQL 14) */
        char *history;        /* its timeline's history file; NULL on timeline 1 */
} PeerState;

void peer_state_done(PeerState *s);

/*
 * Where timeline tli ended according to a history file's text ("<tli>\t<X/X>\t<reason>" lines):
 * 1 with *ret_lsn, 0 when tli is not in it (or history is NULL).
 */
int peer_history_switchpoint(const char *history, unsigned tli, uint64_t *ret_lsn);

/* IDENTIFY_SYSTEM on a replication connection: s's sysid, timeline and lsn. -EIO, -EBADMSG. */
int peer_identify(PGconn *conn, PeerState *s);

/* The replication password's passfile for this node ($STATE_DIRECTORY/passfile unless the
 * configuration names one), newly allocated. */
char *peer_passfile_path(const Config *c);
/* Write it (0600, atomically): the only place the password lives on disk. Logs on failure. */
int peer_write_passfile(const Config *c, const char *path);

/*
 * Ask one partner (blocking; connect_timeout_s bounds the connection). 0 with *ret filled and
 * answered set, or 0 with answered false and the reason; -ENOMEM.
 */
int peer_ask(const Config *c, const Partner *p, const char *passfile, unsigned connect_timeout_s, PeerState *ret);

typedef enum PeerVerdict {
        PEER_CLEAR,      /* partners answered; none is past this node */
        PEER_UNCHECKED,  /* no partner answered */
        PEER_SUPERSEDED, /* a partner is on a later timeline, or a primary on this one */
        PEER_FOREIGN,    /* a partner is another cluster (a configuration error) */
} PeerVerdict;

/*
 * Decide, for a node of system sysid on timeline tli about to run as a primary, from what the
 * partners said (n states, entries that did not answer skipped). *ret_by: the partner that decides
 * SUPERSEDED or FOREIGN (a primary preferred, then the highest timeline); *ret_fork: where this
 * node's timeline forked off in its history, 0 when not known.
 */
PeerVerdict peer_decide(uint64_t sysid, unsigned tli, const PeerState *states, size_t n, size_t *ret_by,
                        uint64_t *ret_fork);

/*
 * Ask every partner but this node, again every half second those that did not answer, until all
 * answered, one supersedes a node of (sysid, tli) (sysid 0: nothing to supersede, a node with no
 * data yet), or timeout_s passed; STATUS= says who is awaited. states: c->partners.n entries, in
 * the partners' order (this node's stays unanswered). Bounded by timeout_s; -ENOMEM, -EINTR on a stop
 * request (signals.h).
 */
int peer_ask_all(const Config *c, const char *passfile, unsigned timeout_s, uint64_t sysid, unsigned tli,
                 PeerState *states);

/*
 * The fence before a node of (sysid, tli) runs as a primary: ask the partners (up to
 * POSTGRESQL_FENCE_TIMEOUT), then decide. Returns the verdict (PEER_*) with *ret_by and *ret_fork
 * as peer_decide() gives them; logs what only it knows (who did not answer, a foreign partner),
 * not SUPERSEDED, whose meaning depends on the unit. -ENOMEM.
 */
int peer_fence(const Config *c, const char *passfile, uint64_t sysid, unsigned tli, PeerState *states,
               size_t *ret_by, uint64_t *ret_fork);

/* Index of the primary among the answers (not in recovery, the highest timeline), -1 when none. */
int peer_find_primary(const PeerState *states, size_t n);
