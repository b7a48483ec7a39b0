/* SPDX-License-Identifier: MIT */
/*
 * A small client of etcd 3.4's v3 JSON gateway (POST /v3/..., keys and values base64, int64 as
 * JSON strings) over libcurl and json-c: leases, keys, two transactions and a prefix watch.
 * Requests are synchronous on one reused handle; the watch streams on its own handle driven by a
 * curl multi handle. Functions return 0/a count or a negative errno and log at debug only (the
 * caller decides); etcd_last_error() has the last failure's words for the caller's log line.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct Etcd Etcd;
typedef struct EtcdTLS {
        const char *ca_file, *cert_file, *key_file; /* any may be NULL */
} EtcdTLS;
typedef struct EtcdKV {
        char *key;
        char *value;
        int64_t lease;
        int64_t mod_revision;
        int64_t create_revision;
} EtcdKV;
typedef enum EtcdEventType { ETCD_PUT, ETCD_DELETE } EtcdEventType;
typedef struct EtcdEvent {
        EtcdEventType type;
        EtcdKV kv; /* a DELETE has the key and mod_revision only */
} EtcdEvent;

/* The largest answer (or watch message) accepted: a hostile endpoint cannot make us allocate more. */
#define ETCD_ANSWER_MAX (4U * 1024U * 1024U)

/* endpoints: "http://h:2379,https://h2:2379" or bare "h:2379" (= http://); -EINVAL when malformed.
 * timeout_ms: per request and endpoint (connect + transfer), so a request that falls through
 * every endpoint may take n × timeout_ms. */
int etcd_new(const char *endpoints, const EtcdTLS *tls, unsigned timeout_ms, Etcd **ret);
Etcd *etcd_free(Etcd *e);
static inline void etcd_freep(Etcd **e) {
        if (*e)
                etcd_free(*e);
}
#define _cleanup_etcd_ __attribute__((cleanup(etcd_freep)))

/* The endpoint that last answered (the first one before any answer), for logs. */
const char *etcd_endpoint(const Etcd *e);
/* What the last failed call ran into ("Connection refused", "etcdserver: ..."), "" if nothing. */
const char *etcd_last_error(const Etcd *e);

/* Errors of every request: -ETIMEDOUT, -ECONNREFUSED/-EHOSTUNREACH/-ENETUNREACH (unreachable),
 * -EAGAIN (the member is cut off from its cluster's leader: "no leader", answered at once since
 * every request asks for a leader), -ECONNRESET (connection lost mid-answer), -EPROTO (a malformed
 * answer, or TLS failed), -EMSGSIZE (answer over ETCD_ANSWER_MAX), -EINVAL/-EACCES/-ENOSPC/-EIO
 * (what else etcd reported). A request that could not be sent to an endpoint, or that a member
 * answered with "unavailable", tries the next endpoint; one that was sent and then timed out is
 * not repeated elsewhere (a transaction must not run twice): -ETIMEDOUT, also for etcd's own
 * "request timed out", may have been carried out. */
int etcd_lease_grant(Etcd *e, unsigned ttl_s, int64_t *ret_id);
/* -ENOENT when the lease is gone (TTL 0 / not found). */
int etcd_lease_keepalive(Etcd *e, int64_t id, int64_t *ret_ttl);
/* -ENOENT if gone (etcd's TTL -1). ret_* may be NULL. */
int etcd_lease_ttl(Etcd *e, int64_t id, int64_t *ret_remaining, int64_t *ret_granted);
/* -ENOENT if the lease did not exist. Its keys are deleted. */
int etcd_lease_revoke(Etcd *e, int64_t id);
/* lease 0: none; -ENOENT if the lease does not exist. */
int etcd_put(Etcd *e, const char *key, const char *value, int64_t lease);
/* -ENOENT when absent. On success *ret is filled (free with etcd_kv_done()). */
int etcd_get(Etcd *e, const char *key, EtcdKV *ret);
/* Every key starting with prefix, in key order, and the store's revision of that answer
 * (ret_revision may be NULL). *ret is NULL when there are none. */
int etcd_get_prefix(Etcd *e, const char *prefix, EtcdKV **ret, size_t *ret_n, int64_t *ret_revision);
/* Transaction: if the key does not exist (create_revision == 0), put it. 1 created, 0 existed. */
int etcd_create(Etcd *e, const char *key, const char *value, int64_t lease);
/* Transaction: if the key's value is `value`, delete it. 1 deleted, 0 not (other value, absent). */
int etcd_delete_if_value(Etcd *e, const char *key, const char *value);
/* The number of keys deleted (0 or 1). */
int etcd_delete(Etcd *e, const char *key);

/* Watch a prefix from a revision (0: now), non-blocking, on its own curl handle driven by a curl
 * multi handle, on the endpoint that last answered. A watch already running is replaced. For no
 * gap, start from etcd_get_prefix()'s revision + 1. The stream has no timeout: a member that
 * loses its leader ends it ("no leader", after a few election timeouts), but a stream to a host
 * that vanished without a reset stays silent until TCP keep-alive gives up: the lease keep-alive
 * is what tells that etcd is gone. */
int etcd_watch_start(Etcd *e, const char *prefix, int64_t start_revision);
/* Wait up to timeout_ms for watch data or for extra_fd (e.g. a signalfd; -1 none) to be readable,
 * then return the events that arrived (may be 0; free with etcd_events_free()). Returns 1 if
 * extra_fd is readable, 0 otherwise, <0 on error (no events then). A watch stream that ended or
 * failed is reported as -ECONNRESET once its last events were returned (the caller restarts it
 * from its last revision + 1; a watch that could not connect, or whose member has no leader,
 * moves to the next endpoint). Without
 * a watch it waits for extra_fd only. */
int etcd_watch_wait(Etcd *e, int extra_fd, int timeout_ms, EtcdEvent **ret_events, size_t *ret_n);
/* When etcd cancelled the watch because its start revision was compacted (-ECONNRESET), the
 * compaction's revision: restart from 0 after reading the state again. 0 otherwise. */
int64_t etcd_watch_compact_revision(const Etcd *e);

void etcd_kv_done(EtcdKV *kv);
void etcd_kvs_free(EtcdKV *kvs, size_t n);
void etcd_events_free(EtcdEvent *ev, size_t n);
