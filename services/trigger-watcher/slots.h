/* SPDX-License-Identifier: MIT */
/*
 * The slots a standby keeps in its own server for every other partner
 * (SPEC section 8), so that once promoted it already retains the WAL its
 * siblings still need. One round per status beat: create the missing ones,
 * advance the idle ones, learn this node's replay position. Advancing is
 * conservative: to this node's replay position of the round before (a beat
 * ago), never to where it is now, so a sibling a little behind this node
 * still finds its WAL here after a promotion. Pure: SQL text only.
 */
#pragma once

#include "partners.h"

/*
 * The round as one simple query, the replay position its last result: prev_lsn is the position the
 * round before learned (NULL or "" at first: nothing is advanced yet). -ENOENT when no other
 * partner has an entry; -ENOMEM.
 */
int slots_round_query(const Partners *p, const char *prev_lsn, char **ret);
