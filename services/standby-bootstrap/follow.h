/* SPDX-License-Identifier: MIT */
/*
 * Whether this standby can follow its primary's timeline (SPEC section 7):
 * a primary promoted after this standby had replayed past the fork point,
 * or one on an older timeline (the old primary after a failover), can never
 * be followed; PostgreSQL would retry in a loop. Checked on later starts
 * and reloads, said in the log and STATUS=. Only a certain verdict counts:
 * the standby's position is a lower bound when the server is down.
 */
#pragma once

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "control.h"

/*
 * Decide from the primary's timeline and its history file (NULL when the
 * primary is on timeline 1). 0: can follow (or cannot tell); 1: cannot,
 * with a sentence in buf.
 */
int follow_decide(unsigned tli, uint64_t lsn, unsigned primary_tli, const char *history, char *buf, size_t n);
/*
 * This standby's timeline and a lower bound of its replay position: from
 * the control file, the timeline history files it holds, the running
 * server when there is one, and what the trigger watcher saw it replay
 * when it found it could not follow (diverge.h).
 */
int follow_position(const Config *c, const char *datadir, const ControlData *cd, unsigned *ret_tli,
                    uint64_t *ret_lsn);
/* Ask the primary (replication connection) and decide; 1 with a sentence in buf when it cannot be followed. */
int follow_check(PGconn *conn, unsigned primary_tli, unsigned tli, uint64_t lsn, char *buf, size_t n);
