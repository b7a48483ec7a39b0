/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl status` of an instance with POSTGRESQL_FAILOVER=etcd (SPEC section 11): the
 * cluster's keys as etcd has them, PREFIX = /pgrepl/CLUSTER/: the leader key (its holder, its
 * lease and what is left of it) and each member's published record. etcdview_gather() asks etcd
 * (one prefix read, one lease look-up); etcdview_fill() sorts the keys, pure.
 */
#pragma once

#include <stddef.h>

#include "config.h"
#include "etcd.h"
#include "report.h"

/* Milliseconds per request and endpoint: status must not hang on an etcd that is gone. */
#define ETCDVIEW_TIMEOUT_MS 2000

/* The keys of one prefix read into v (v->prefix set): the leader key, PREFIX members/NAME (each
 * parsed when it is a member record), the switchover key; others are skipped. -ENOMEM. */
int etcdview_fill(EtcdView *v, const EtcdKV *kvs, size_t n);
/* Ask etcd for c's cluster. etcd unreachable (or answering nonsense) is not an error: v->error
 * says so in one line. -ENOMEM only. */
int etcdview_gather(const Config *c, EtcdView *v);
