/* SPDX-License-Identifier: MIT */
/*
 * With POSTGRESQL_FAILOVER=etcd (SPEC section 11): who holds the leader key,
 * asked once by a server unit before it starts a writable primary. A node
 * whose agent would fence it at once never starts writable in the first
 * place. In the pgrepl-etcd library; only etcd_leader_refuse() logs.
 */
#pragma once

#include "config.h"

/* PREFIX of the cluster's keys, "/pgrepl/NAME/" (newly allocated). */
char *etcd_leader_prefix(const Config *c);
/* 1 with the holder's member name (newly allocated) when the leader key is held, 0 when it is free, a
 * negative errno when etcd could not be asked (within about two seconds). */
int etcd_leader_holder(const Config *c, char **ret_holder);
/* Whether another member than this node holds the key: 1 with its name, 0 (free, this node's, or etcd
 * not answering: the partners' check and the agent decide then), -ENOMEM. Does nothing (0) without
 * POSTGRESQL_FAILOVER=etcd. */
int etcd_leader_other(const Config *c, char **ret_holder);
/* The server units' check before they start a writable primary: -PGREPL_E_SUPERSEDED, logged (with
 * `what`, the node being started) and in STATUS=, when another member holds the key; else 0. */
int etcd_leader_refuse(const Config *c, const char *what);
