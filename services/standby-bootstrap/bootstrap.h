/* SPDX-License-Identifier: MIT */
/*
 * The standby: decide from the data directory what this start is (a first
 * start that waits and clones, a later start that re-renders, a promoted
 * node that starts as the primary it now is), then exec the postmaster.
 * Nothing but pgrepl's own side directory is ever removed.
 */
#pragma once

#include "config.h"

/* Prepare and exec the postmaster; returns only on failure (-EINTR after SIGINT/SIGTERM). */
int bootstrap_run(const Config *c);
/* Re-render the settings (a new primary, a new password) and reload the running server. */
int bootstrap_reload(const Config *c);
