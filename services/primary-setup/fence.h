/* SPDX-License-Identifier: MIT */
/*
 * The primary's side of SPEC section 8, with POSTGRESQL_PARTNER_NODES set
 * (without it every function here does nothing): a superseded node never
 * starts writable, a first start never makes a second cluster beside a
 * running primary, and every other partner has its physical slot here.
 */
#pragma once

#include <libpq-fe.h>

#include "config.h"
#include "node.h"

/*
 * Ask the partners before the server starts. 0: start. -PGREPL_E_SUPERSEDED: a partner moved past
 * this node (logged and in STATUS=, with the partner, its timeline, the fork point and how to
 * rejoin). -PGREPL_E_CONFIG: a partner is another cluster, or on a first start already a primary.
 */
int fence_check(const Config *c, const DataDir *d);

/* Slots of the other partners missing from datadir (pg_replslot), newly allocated, NULL-terminated. */
int fence_missing_slots(const Config *c, const char *datadir, char ***ret);
/* Create them on a server (a physical slot that reserves WAL now); logs a failure. */
int fence_create_slots(PGconn *conn, char *const *slots);
