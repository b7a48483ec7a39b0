/* SPDX-License-Identifier: MIT */
/*
 * The etcd client's text layer (etcd-json.c), shared by etcd.c, its unit test and its fuzz target:
 * base64, the gateway's JSON (int64 as strings, zero values omitted), its error bodies and the
 * watch stream's messages. Pure: no I/O, no logging; every answer is untrusted input.
 */
#pragma once

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

/* Standard base64 with padding (Go's encoding of []byte). Returns NULL on allocation failure. */
char *etcd_base64_encode(const char *s, size_t n);
/* Strict: only the standard alphabet, padded; -EPROTO otherwise. *ret is NUL-terminated. */
int etcd_base64_decode(const char *s, size_t n, char **ret, size_t *ret_len);
/* The first key after every key starting with prefix (etcd's range_end for a prefix), as raw
 * bytes in *ret (length *ret_len): "\0" (every key) when the prefix is empty or all 0xff. */
int etcd_prefix_end(const char *prefix, char **ret, size_t *ret_len);

/* A whole answer body as one JSON object: -EPROTO when it is not exactly one (NUL bytes, trailing
 * data, nesting deeper than 32, not an object). */
int etcd_json_parse(const char *buf, size_t n, json_object **ret);
/* An int64 field, sent as a JSON string (or a number); absent or null = 0. -EPROTO otherwise. */
int etcd_json_int64(json_object *o, const char *field, int64_t *ret);
/* A boolean field; absent = false. -EPROTO when not a boolean. */
int etcd_json_bool(json_object *o, const char *field, bool *ret);
/* A mvccpb.KeyValue object. */
int etcd_json_kv(json_object *o, EtcdKV *ret);
/* A gateway error in an object ({"error":"..","code":N} or a stream's {"error":{"grpc_code":N,..}})
 * as a negative errno (message copied to msg), 0 when the object carries none. */
int etcd_json_error(json_object *o, char *msg, size_t msg_size);
/* A request's answer: HTTP status and body → the answer object (status 200, no error in it), or
 * the errno its error maps to (-EPROTO when the body says nothing usable). gRPC's "unavailable"
 * (no leader, stopping) is -EAGAIN: the caller may try another endpoint. */
int etcd_answer_parse(long http_status, const char *body, size_t n, json_object **ret, char *msg,
                      size_t msg_size);
/* One line of the watch stream: its events appended to *events / *n_events (all of the line's
 * or none). Returns 0, or -ECONNRESET when etcd cancelled the watch (*compact_revision set when
 * compacted), the errno of an error etcd sent instead (-EAGAIN: "no leader"), -EPROTO for a
 * malformed line, -ENOMEM; a message in msg. */
int etcd_watch_parse_line(const char *line, size_t n, EtcdEvent **events, size_t *n_events,
                          int64_t *compact_revision, char *msg, size_t msg_size);

/* The client's state, shared by etcd.c (requests) and etcd-watch.c (the watch). */
typedef struct Answer {
        char *data;
        size_t len, cap;
        bool too_big;
} Answer;

struct Etcd {
        char **endpoints;
        size_t n_endpoints, current;
        char *ca_file, *cert_file, *key_file;
        unsigned timeout_ms;
        CURL *curl;
        struct curl_slist *headers;
        char curl_error[CURL_ERROR_SIZE];
        char last_error[CURL_ERROR_SIZE + 256];

        /* the watch (etcd-watch.c) */
        CURLM *multi;
        CURL *watch;
        char watch_curl_error[CURL_ERROR_SIZE];
        size_t watch_endpoint;
        Answer watch_buf;      /* the stream's unfinished line (or a non-200 answer's body) */
        bool watch_answered;   /* bytes arrived: the endpoint was reached */
        bool watch_ended;
        int watch_error;       /* why the stream cannot continue (0: it can) */
        int64_t compact_revision;
        EtcdEvent *pending;
        size_t n_pending;
};

/* curl's write callback into an Answer, bounded by ETCD_ANSWER_MAX (too_big set beyond). */
size_t etcd_answer_write(char *p, size_t size, size_t n, void *userdata);
void etcd_answer_done(Answer *a);
/* What every handle shares: no signals, no proxy, http(s) only, the connect timeout, TLS files. */
int etcd_handle_setup(Etcd *e, CURL *c, char *error_buffer);
/* A curl failure as a negative errno. */
int etcd_curl_errno(CURL *c, CURLcode cc, bool too_big);
void etcd_watch_stop(Etcd *e);

static inline void etcd_json_putp(json_object **o) {
        json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(etcd_json_putp)))

#define ETCD_MAX(a, b) ((a) > (b) ? (a) : (b))
