/* SPDX-License-Identifier: MIT */
/*
 * The etcd v3 gateway client's transport (etcd-json.c has the text layer): requests run
 * synchronously on one reused curl handle (keep-alive), trying the next endpoint when a request
 * could not be sent; the watch streams on a second handle in a curl multi handle, so the caller
 * can wait for it beside its own descriptor. No proxy (the environment's http_proxy is ignored),
 * no redirects, no signals (CURLOPT_NOSIGNAL), answers bounded by ETCD_ANSWER_MAX.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-internal.h"
#include "log.h"
#include "macro.h"
#include "util.h"

size_t etcd_answer_write(char *p, size_t size, size_t n, void *userdata) {
        Answer *a = userdata;
        size_t k = size * n;

        if (k > ETCD_ANSWER_MAX || a->len + k > ETCD_ANSWER_MAX) {
                a->too_big = true;
                return 0;
        }
        if (a->len + k + 1 > a->cap) {
                size_t cap = ETCD_MAX(a->cap * 2, a->len + k + 1);
                char *d = realloc(a->data, cap);

                if (!d)
                        return 0;
                a->data = d;
                a->cap = cap;
        }
        memcpy(a->data + a->len, p, k);
        a->len += k;
        a->data[a->len] = 0;
        return k;
}

void etcd_answer_done(Answer *a) {
        free(a->data);
        *a = (Answer) {};
}

static int split_endpoints(const char *endpoints, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *copy = strdup(endpoints);
        size_t n = 0;
        char *state = NULL;

        if (!copy)
                return -ENOMEM;
        if (!string_printable(endpoints) || strstr(endpoints, ",,") || *strstrip(copy) == ',' || (*copy && copy[strlen(copy) - 1] == ','))
                return -EINVAL;
        for (char *t = strtok_r(copy, ",", &state); t; t = strtok_r(NULL, ",", &state)) {
                const char *scheme = "http://";
                char *s = strstrip(t), **nv;
                size_t len;

                if (!*s || !string_printable(s) || strpbrk(s, " \t"))
                        return -EINVAL;
                if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0)
                        scheme = "";
                else if (strstr(s, "://"))
                        return -EINVAL;
                len = strlen(s);
                while (len > 0 && s[len - 1] == '/')
                        s[--len] = 0;
                if (len == 0 || streq(s, "http:") || streq(s, "https:") ||
                    (!*scheme && strlen(s) <= strlen("https://")))
                        return -EINVAL;
                nv = reallocarray(v, n + 2, sizeof(char *));
                if (!nv)
                        return -ENOMEM;
                v = nv;
                if (asprintf(&v[n], "%s%s", scheme, s) < 0) {
                        v[n] = NULL;
                        return -ENOMEM;
                }
                v[++n] = NULL;
        }
        if (n == 0)
                return -EINVAL;
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* What every handle shares: no signals, no proxy, http(s) only, the connect timeout, TLS files. */
int etcd_handle_setup(Etcd *e, CURL *c, char *error_buffer) {
        CURLcode cc = CURLE_OK;

#define SET(opt, val) if (cc == CURLE_OK) cc = curl_easy_setopt(c, opt, val)
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_PROXY, "");
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long) e->timeout_ms);
        /* A watch to a host that vanished without a reset ends within about a minute. */
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_TCP_KEEPIDLE, 5L);
        SET(CURLOPT_TCP_KEEPINTVL, 5L);
        SET(CURLOPT_HTTPHEADER, e->headers);
        SET(CURLOPT_ERRORBUFFER, error_buffer);
        if (e->ca_file)
                SET(CURLOPT_CAINFO, e->ca_file);
        if (e->cert_file)
                SET(CURLOPT_SSLCERT, e->cert_file);
        if (e->key_file)
                SET(CURLOPT_SSLKEY, e->key_file);
#undef SET
        return cc == CURLE_OK ? 0 : -ENOMEM;
}

int etcd_new(const char *endpoints, const EtcdTLS *tls, unsigned timeout_ms, Etcd **ret) {
        _cleanup_etcd_ Etcd *e = NULL;
        int r;

        if (!endpoints || timeout_ms == 0)
                return -EINVAL;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        e = calloc(1, sizeof(Etcd));
        if (!e) {
                curl_global_cleanup();
                return -ENOMEM;
        }
        e->timeout_ms = timeout_ms;
        r = split_endpoints(endpoints, &e->endpoints, &e->n_endpoints);
        if (r < 0)
                return r;
        if (tls) {
                if ((tls->ca_file && !(e->ca_file = strdup(tls->ca_file))) ||
                    (tls->cert_file && !(e->cert_file = strdup(tls->cert_file))) ||
                    (tls->key_file && !(e->key_file = strdup(tls->key_file))))
                        return -ENOMEM;
        }
        /* No "Expect: 100-continue": the gateway answers at once anyway. gRPC metadata
         * "hasleader": a member cut off from its cluster's leader answers "unavailable" at once
         * (and ends a watch) instead of letting requests wait for their timeout, so the next
         * endpoint is tried. */
        e->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (!e->headers || !curl_slist_append(e->headers, "Expect:") ||
            !curl_slist_append(e->headers, "Grpc-Metadata-hasleader: true"))
                return -ENOMEM;
        e->curl = curl_easy_init();
        if (!e->curl)
                return -ENOMEM;
        r = etcd_handle_setup(e, e->curl, e->curl_error);
        if (r < 0)
                return r;
        if (curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms) != CURLE_OK ||
            curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, etcd_answer_write) != CURLE_OK)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}

Etcd *etcd_free(Etcd *e) {
        if (!e)
                return NULL;
        etcd_watch_stop(e);
        if (e->multi)
                curl_multi_cleanup(e->multi);
        if (e->curl)
                curl_easy_cleanup(e->curl);
        curl_slist_free_all(e->headers);
        strv_freep(&e->endpoints);
        free(e->ca_file);
        free(e->cert_file);
        free(e->key_file);
        free(e);
        curl_global_cleanup();
        return NULL;
}

const char *etcd_endpoint(const Etcd *e) {
        return e->endpoints[e->current];
}

const char *etcd_last_error(const Etcd *e) {
        return e->last_error;
}

int64_t etcd_watch_compact_revision(const Etcd *e) {
        return e->compact_revision;
}

int etcd_curl_errno(CURL *c, CURLcode cc, bool too_big) {
        long os = 0;

        switch (cc) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                (void) curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os);
                return (os == EHOSTUNREACH || os == ENETUNREACH) ? -(int) os : -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_WRITE_ERROR:
                return too_big ? -EMSGSIZE : -ENOMEM;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CIPHER:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_WEIRD_SERVER_REPLY:
                return -EPROTO;
        default:
                return -EIO;
        }
}

/* One request to one endpoint. *answered: whether the endpoint answered or may have carried it out
 * (then no other endpoint is asked). */
static int request_one(Etcd *e, size_t idx, const char *path, const char *body, json_object **ret,
                       bool *answered) {
        _cleanup_free_ char *url = NULL;
        Answer a = {};
        curl_off_t sent = 0;
        long status = 0;
        CURLcode cc;
        int r;

        *answered = false;
        if (asprintf(&url, "%s%s", e->endpoints[idx], path) < 0)
                return -ENOMEM;
        e->curl_error[0] = 0;
        if (curl_easy_setopt(e->curl, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
            curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &a) != CURLE_OK)
                return -ENOMEM;
        cc = curl_easy_perform(e->curl);
        (void) curl_easy_getinfo(e->curl, CURLINFO_REQUEST_SIZE, &sent);
        if (cc != CURLE_OK) {
                r = etcd_curl_errno(e->curl, cc, a.too_big);
                snprintf(e->last_error, sizeof(e->last_error), "%s: %s", e->endpoints[idx],
                         a.too_big ? "answer too long" : e->curl_error[0] ? e->curl_error : curl_easy_strerror(cc));
                etcd_answer_done(&a);
                /* Nothing left us: the next endpoint may take it (a request that may have been
                 * carried out is not repeated elsewhere: a transaction must not run twice). */
                *answered = sent > 0 && r != -ECONNREFUSED && r != -EHOSTUNREACH && r != -ENETUNREACH;
                return r;
        }
        *answered = true;
        (void) curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
        r = etcd_answer_parse(status, a.data ? a.data : "", a.len, ret, e->last_error, sizeof(e->last_error));
        etcd_answer_done(&a);
        if (r == -EAGAIN) /* "unavailable": not carried out, another member may do it */
                *answered = false;
        return r;
}

static int etcd_request(Etcd *e, const char *path, json_object *body, json_object **ret) {
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        int r = -EIO;

        if (!text)
                return -ENOMEM;
        e->last_error[0] = 0;
        for (size_t i = 0; i < e->n_endpoints; i++) {
                size_t idx = (e->current + i) % e->n_endpoints;
                bool answered;

                r = request_one(e, idx, path, text, ret, &answered);
                if (answered || r == -ENOMEM) {
                        /* Not repeated elsewhere; but a member that let a sent request time out (one cut
                         * off from its peers may) is not asked first again. */
                        if (answered)
                                e->current = r == -ETIMEDOUT ? (idx + 1) % e->n_endpoints : idx;
                        break;
                }
                log_debug_errno(r, "etcd %s on '%s' failed, trying the next endpoint: %m", path, e->endpoints[idx]);
        }
        if (r >= 0)
                e->last_error[0] = 0;
        else
                log_debug_errno(r, "etcd %s failed: %s", path, e->last_error);
        return r;
}

/* Request bodies: json-c objects, int64 as strings (as the gateway sends them). */
static int add_i64(json_object *o, const char *field, int64_t v) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRId64, v);
        return json_object_object_add(o, field, json_object_new_string(buf));
}

static int add_bytes(json_object *o, const char *field, const char *s, size_t n) {
        _cleanup_free_ char *b = etcd_base64_encode(s, n);
        json_object *v;

        if (!b)
                return -ENOMEM;
        v = json_object_new_string(b);
        if (!v)
                return -ENOMEM;
        return json_object_object_add(o, field, v) < 0 ? -ENOMEM : 0;
}

static json_object *key_body(const char *key, const char *value, int64_t lease) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        if (add_bytes(o, "key", key, strlen(key)) < 0 ||
            (value && add_bytes(o, "value", value, strlen(value)) < 0) ||
            (lease != 0 && add_i64(o, "lease", lease) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static json_object *id_body(int64_t id) {
        json_object *o = json_object_new_object();

        if (o && add_i64(o, "ID", id) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

int etcd_lease_grant(Etcd *e, unsigned ttl_s, int64_t *ret_id) {
        _cleanup_json_ json_object *body = json_object_new_object(), *answer = NULL;
        int64_t id;
        int r;

        if (!body || add_i64(body, "TTL", ttl_s) < 0)
                return -ENOMEM;
        r = etcd_request(e, "/v3/lease/grant", body, &answer);
        if (r < 0)
                return r;
        if (etcd_json_int64(answer, "ID", &id) < 0 || id <= 0)
                return -EPROTO;
        *ret_id = id;
        return 0;
}

int etcd_lease_keepalive(Etcd *e, int64_t id, int64_t *ret_ttl) {
        _cleanup_json_ json_object *body = id_body(id), *answer = NULL;
        json_object *result;
        int64_t ttl;
        int r;

        if (!body)
                return -ENOMEM;
        /* A streaming call: one request, one {"result":...} line. */
        r = etcd_request(e, "/v3/lease/keepalive", body, &answer);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(answer, "result", &result) || etcd_json_int64(result, "TTL", &ttl) < 0)
                return -EPROTO;
        if (ttl <= 0)
                return -ENOENT;
        if (ret_ttl)
                *ret_ttl = ttl;
        return 0;
}

int etcd_lease_ttl(Etcd *e, int64_t id, int64_t *ret_remaining, int64_t *ret_granted) {
        _cleanup_json_ json_object *body = id_body(id), *answer = NULL;
        int64_t ttl, granted;
        int r;

        if (!body)
                return -ENOMEM;
        r = etcd_request(e, "/v3/lease/timetolive", body, &answer);
        if (r < 0)
                return r;
        if (etcd_json_int64(answer, "TTL", &ttl) < 0 || etcd_json_int64(answer, "grantedTTL", &granted) < 0)
                return -EPROTO;
        if (ttl < 0)
                return -ENOENT;
        if (ret_remaining)
                *ret_remaining = ttl;
        if (ret_granted)
                *ret_granted = granted;
        return 0;
}

int etcd_lease_revoke(Etcd *e, int64_t id) {
        _cleanup_json_ json_object *body = id_body(id), *answer = NULL;

        if (!body)
                return -ENOMEM;
        return etcd_request(e, "/v3/lease/revoke", body, &answer);
}

int etcd_put(Etcd *e, const char *key, const char *value, int64_t lease) {
        _cleanup_json_ json_object *body = key_body(key, value, lease), *answer = NULL;

        if (!body)
                return -ENOMEM;
        return etcd_request(e, "/v3/kv/put", body, &answer);
}

static int range(Etcd *e, const char *key, bool prefix, EtcdKV **ret, size_t *ret_n, int64_t *ret_revision) {
        _cleanup_json_ json_object *body = key_body(key, NULL, 0), *answer = NULL;
        json_object *kvs, *header;
        EtcdKV *v = NULL;
        size_t n = 0, k;
        int r;

        if (!body)
                return -ENOMEM;
        if (prefix) {
                _cleanup_free_ char *end = NULL;
                size_t len;

                r = etcd_prefix_end(key, &end, &len);
                if (r < 0)
                        return r;
                r = add_bytes(body, "range_end", end, len);
                if (r < 0)
                        return r;
        }
        r = etcd_request(e, "/v3/kv/range", body, &answer);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(answer, "header", &header) ||
            etcd_json_int64(header, "revision", ret_revision) < 0)
                return -EPROTO;
        if (!json_object_object_get_ex(answer, "kvs", &kvs) || json_object_is_type(kvs, json_type_null)) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (!json_object_is_type(kvs, json_type_array))
                return -EPROTO;
        k = json_object_array_length(kvs);
        v = calloc(k ? k : 1, sizeof(EtcdKV));
        if (!v)
                return -ENOMEM;
        for (; n < k; n++) {
                r = etcd_json_kv(json_object_array_get_idx(kvs, n), &v[n]);
                if (r < 0) {
                        etcd_kvs_free(v, n);
                        return r;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int etcd_get(Etcd *e, const char *key, EtcdKV *ret) {
        EtcdKV *kvs = NULL;
        size_t n = 0;
        int64_t rev;
        int r;

        r = range(e, key, false, &kvs, &n, &rev);
        if (r < 0)
                return r;
        if (n == 0) {
                free(kvs);
                return -ENOENT;
        }
        if (n > 1 || !streq(kvs[0].key, key)) {
                etcd_kvs_free(kvs, n);
                return -EPROTO;
        }
        *ret = kvs[0];
        free(kvs);
        return 0;
}

int etcd_get_prefix(Etcd *e, const char *prefix, EtcdKV **ret, size_t *ret_n, int64_t *ret_revision) {
        EtcdKV *kvs = NULL;
        size_t n = 0;
        int64_t rev;
        int r;

        r = range(e, prefix, true, &kvs, &n, &rev);
        if (r < 0)
                return r;
        if (n == 0) {
                free(kvs);
                kvs = NULL;
        }
        *ret = kvs;
        *ret_n = n;
        if (ret_revision)
                *ret_revision = rev;
        return 0;
}

/* A one-compare transaction: 1 when the compare held (and `op` ran), 0 when not. */
static int txn(Etcd *e, json_object *compare, const char *op_name, json_object *op) {
        _cleanup_json_ json_object *body = json_object_new_object(), *answer = NULL;
        json_object *cmps = json_object_new_array(), *ops = json_object_new_array(), *wrap = json_object_new_object();
        bool ok;
        int r;

        if (!body || !cmps || !ops || !wrap || json_object_array_add(cmps, compare) < 0) {
                json_object_put(cmps);
                json_object_put(ops);
                json_object_put(wrap);
                json_object_put(op);
                json_object_put(compare);
                return -ENOMEM;
        }
        json_object_object_add(wrap, op_name, op);
        json_object_array_add(ops, wrap);
        json_object_object_add(body, "compare", cmps);
        json_object_object_add(body, "success", ops);
        r = etcd_request(e, "/v3/kv/txn", body, &answer);
        if (r < 0)
                return r;
        if (etcd_json_bool(answer, "succeeded", &ok) < 0)
                return -EPROTO;
        return ok;
}

int etcd_create(Etcd *e, const char *key, const char *value, int64_t lease) {
        json_object *cmp = key_body(key, NULL, 0), *op = key_body(key, value, lease);

        if (!cmp || !op || json_object_object_add(cmp, "target", json_object_new_string("CREATE")) < 0 ||
            json_object_object_add(cmp, "result", json_object_new_string("EQUAL")) < 0 ||
            add_i64(cmp, "create_revision", 0) < 0) {
                json_object_put(cmp);
                json_object_put(op);
                return -ENOMEM;
        }
        return txn(e, cmp, "request_put", op);
}

int etcd_delete_if_value(Etcd *e, const char *key, const char *value) {
        json_object *cmp = key_body(key, value, 0), *op = key_body(key, NULL, 0);

        if (!cmp || !op || json_object_object_add(cmp, "target", json_object_new_string("VALUE")) < 0 ||
            json_object_object_add(cmp, "result", json_object_new_string("EQUAL")) < 0) {
                json_object_put(cmp);
                json_object_put(op);
                return -ENOMEM;
        }
        return txn(e, cmp, "request_delete_range", op);
}

int etcd_delete(Etcd *e, const char *key) {
        _cleanup_json_ json_object *body = key_body(key, NULL, 0), *answer = NULL;
        int64_t deleted;
        int r;

        if (!body)
                return -ENOMEM;
        r = etcd_request(e, "/v3/kv/deleterange", body, &answer);
        if (r < 0)
                return r;
        if (etcd_json_int64(answer, "deleted", &deleted) < 0 || deleted < 0 || deleted > 1)
                return -EPROTO;
        return (int) deleted;
}
