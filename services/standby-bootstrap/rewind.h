/* SPDX-License-Identifier: MIT */
/*
 * Rejoin by rewind (SPEC section 8): a data directory that cannot stream
 * from the current primary (an old primary, a superseded promoted node, a
 * standby that replayed past the fork) is rewound with pg_rewind from that
 * primary and left a standby (standby.signal), never deleted. A marker in
 * the state directory says a rewind began: until it is done the directory
 * is never started as a primary, whatever it looks like.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "partners.h"

/* What pg_rewind said: where the two histories forked, or that nothing needed rewinding. */
typedef struct RewindReport {
        uint64_t fork;     /* 0: not said */
        unsigned fork_tli;
        bool not_needed;
} RewindReport;

/* Take one line of pg_rewind's output (LC_ALL=C) into *r; returns 1 when it told something. */
int rewind_parse_line(const char *line, RewindReport *r);

/*
 * Rewind datadir from source (a primary among the partners, on timeline source_tli) with pg_rewind, progress in STATUS=,
 * the discarded WAL range in the log, then standby.signal. The caller renders pgrepl's files
 * again (pg_rewind copies the source's). -PGREPL_E_REJOIN when pg_rewind failed (logged, why
 * included): nothing was deleted.
 */
int rewind_run(const Config *c, const char *bindir, const char *datadir, const Partner *source,
               unsigned source_tli, const char *passfile);
