/* SPDX-License-Identifier: MIT */
/*
 * The standby, as a story: what the data directory is (node_inspect_datadir())
 * picks the start — a first start waits for the primary and clones it; a
 * standby is re-rendered for its (maybe new) primary; a promoted node starts
 * as the primary it now is; an interrupted promotion starts following nobody
 * — then the postmaster is exec'd. A reload re-renders the same way and
 * signals the running server. Nothing but pgrepl's own side directory is
 * ever removed.
 */
#pragma once

#include "config.h"

/* Prepare and exec the postmaster; returns only on failure (-EINTR, unlogged, on a stop request:
 * signals_stop_requested() says which signal). */
int bootstrap_run(const Config *c);
/* Re-render the settings (a new primary, a new password) and reload the running server. */
int bootstrap_reload(const Config *c);
