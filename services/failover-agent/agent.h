/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-failover-agent's one loop (SPEC section 11): it holds a lease in
 * etcd, publishes its node's state under it, keeps the leader key while its
 * server is the writable primary, fences that server when it cannot, races
 * for the key when it goes, promotes the winner, and asks root (through the
 * state directory's failover-request, pgrepl-failover-act@.path) for what
 * it cannot do itself: a rejoin as a standby, or a start.
 */
#pragma once

#include "config.h"

/* In the state directory: the agent's request to root, moved aside by pgreplctl failover-act. */
#define AGENT_REQUEST "failover-request"
/* In the state directory: the watcher's hand-over of a trigger (a switchover to this node). */
#define AGENT_SWITCHOVER_REQUEST "switchover-request"

int agent_run(const Config *c);
