/* SPDX-License-Identifier: MIT */
/*
 * A standby that replayed past a fork (SPEC section 8): after a promotion
 * elsewhere, a sibling that had received a little more WAL from the old
 * primary than the promoted node can never follow the new timeline; only
 * pg_rewind brings it back. The trigger watcher sees it while the server
 * runs (the exact replay position) and writes what it saw into the state
 * directory; the restart that follows (pgrepl-rejoin@.path) lets the
 * standby bootstrap rewind it, with what was seen as the lower bound of its
 * position, which the control file of a stopped standby may not show.
 * Nothing here logs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* In the instance's state directory: the watcher's request, moved to the seen file by the
 * pgrepl-rejoin@ service before it restarts the standby. */
#define DIVERGE_REQUEST "rejoin-request"
#define DIVERGE_SEEN "rejoin-seen"

typedef struct Divergence {
        unsigned tli;      /* the standby's timeline */
        uint64_t replayed; /* what it had replayed on it */
        unsigned newer;    /* the timeline it cannot follow */
        uint64_t fork;     /* where that one forks off tli */
} Divergence;

/*
 * Whether a standby replayed past the fork of the newest timeline: pg_wal holds that timeline's
 * history file (the WAL receiver fetched it from the new primary before it asked for WAL) and the
 * history forks off this standby's timeline (control_wal_timeline()) before replayed, the running
 * server's replay position. Only the newest timeline counts, as for PostgreSQL's
 * recovery_target_timeline=latest. 1 with *ret filled; 0 when not, or when it cannot be told.
 */
int diverge_check(const char *datadir, uint64_t replayed, Divergence *ret);

/* "1 0/3000200 2 0/3000148\n": the record's one line, and back (-EBADMSG when malformed). */
int diverge_format(const Divergence *d, char *buf, size_t n);
int diverge_parse(const char *text, Divergence *ret);
/* Read the record at path: 1 with *ret, 0 when there is none, -EBADMSG or -errno. */
int diverge_read(const char *path, Divergence *ret);
