/* SPDX-License-Identifier: MIT */
/*
 * The etcd v3 gateway's text layer: base64 keys and values, int64 fields sent as JSON strings
 * (proto3 JSON omits zero values, so an absent field is 0), gateway error bodies, watch lines.
 * Every answer is untrusted: numbers go through a checked parser, sizes are bounded by the caller.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-internal.h"
#include "macro.h"

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_base64_encode(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;
        char *out, *o;

        if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
                return NULL;
        out = o = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;

                if (i + 1 < n)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                *o++ = b64_alphabet[(v >> 18) & 63];
                *o++ = b64_alphabet[(v >> 12) & 63];
                *o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
        }
        *o = 0;
        return out;
}

static int b64_value(char c) {
        const char *p = c ? strchr(b64_alphabet, c) : NULL;

        return p ? (int) (p - b64_alphabet) : -1;
}

int etcd_base64_decode(const char *s, size_t n, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;

        if (n % 4 != 0)
                return -EPROTO;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i += 4) {
                bool last = i + 4 == n;
                int a = b64_value(s[i]), b = b64_value(s[i + 1]);
                int c = b64_value(s[i + 2]), d = b64_value(s[i + 3]);

                if (a < 0 || b < 0)
                        return -EPROTO;
                if (c < 0 && !(last && s[i + 2] == '=' && s[i + 3] == '='))
                        return -EPROTO;
                if (d < 0 && !(last && s[i + 3] == '='))
                        return -EPROTO;
                out[len++] = (char) (a << 2 | b >> 4);
                if (c >= 0)
                        out[len++] = (char) ((b & 15) << 4 | c >> 2);
                if (d >= 0)
                        out[len++] = (char) ((c & 3) << 6 | d);
        }
        out[len] = 0;
        *ret = TAKE_PTR(out);
        *ret_len = len;
        return 0;
}

int etcd_prefix_end(const char *prefix, char **ret, size_t *ret_len) {
        size_t n = strlen(prefix);
        char *end = malloc(n + 1);

        if (!end)
                return -ENOMEM;
        memcpy(end, prefix, n + 1);
        while (n > 0 && (unsigned char) end[n - 1] == 0xff)
                n--;
        if (n == 0) {
                end[0] = 0;
                *ret = end;
                *ret_len = 1;
                return 0;
        }
        end[n - 1] = (char) ((unsigned char) end[n - 1] + 1);
        end[n] = 0;
        *ret = end;
        *ret_len = n;
        return 0;
}

int etcd_json_parse(const char *buf, size_t n, json_object **ret) {
        struct json_tokener *tok;
        json_object *o;
        size_t used;

        if (n == 0 || n > INT32_MAX || memchr(buf, 0, n))
                return -EPROTO;
        tok = json_tokener_new_ex(32);
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, buf, (int) n);
        used = json_tokener_get_parse_end(tok);
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                json_tokener_free(tok);
                return -EPROTO;
        }
        json_tokener_free(tok);
        for (; used < n; used++)
                if (!isspace((unsigned char) buf[used])) {
                        json_object_put(o);
                        return -EPROTO;
                }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EPROTO;
        }
        *ret = o;
        return 0;
}

static int parse_i64(const char *s, int64_t *ret) {
        long long v;
        char *end;

        if (!s || !(isdigit((unsigned char) s[0]) || (s[0] == '-' && isdigit((unsigned char) s[1]))))
                return -EPROTO;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end)
                return -EPROTO;
        *ret = v;
        return 0;
}

int etcd_json_int64(json_object *o, const char *field, int64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null)) {
                *ret = 0;
                return 0;
        }
        if (json_object_is_type(v, json_type_string)) {
                if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                        return -EPROTO;
                return parse_i64(json_object_get_string(v), ret);
        }
        /* json-c clamps an out-of-range integer: its text form keeps the digits. */
        if (json_object_is_type(v, json_type_int))
                return parse_i64(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), ret);
        return -EPROTO;
}

int etcd_json_bool(json_object *o, const char *field, bool *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null)) {
                *ret = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EPROTO;
        *ret = json_object_get_boolean(v);
        return 0;
}

static int json_bytes(json_object *o, const char *field, char **ret) {
        json_object *v;
        size_t len;

        if (!json_object_object_get_ex(o, field, &v) || json_object_is_type(v, json_type_null)) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EPROTO;
        return etcd_base64_decode(json_object_get_string(v), (size_t) json_object_get_string_len(v), ret,
                                  &len);
}

int etcd_json_kv(json_object *o, EtcdKV *ret) {
        _cleanup_free_ char *key = NULL, *value = NULL;
        EtcdKV kv = {};
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EPROTO;
        r = json_bytes(o, "key", &key);
        if (r < 0)
                return r;
        if (!*key)
                return -EPROTO;
        r = json_bytes(o, "value", &value);
        if (r < 0)
                return r;
        if (etcd_json_int64(o, "lease", &kv.lease) < 0 ||
            etcd_json_int64(o, "mod_revision", &kv.mod_revision) < 0 ||
            etcd_json_int64(o, "create_revision", &kv.create_revision) < 0)
                return -EPROTO;
        kv.key = TAKE_PTR(key);
        kv.value = TAKE_PTR(value);
        *ret = kv;
        return 0;
}

/* gRPC status codes as errnos. */
static int grpc_errno(int64_t code) {
        switch (code) {
        case 1: return -ECANCELED;
        case 3: return -EINVAL;
        case 4: return -ETIMEDOUT;
        case 5: return -ENOENT;
        case 6: return -EEXIST;
        case 7: case 16: return -EACCES;
        case 8: return -ENOSPC;
        case 14: return -EAGAIN;
        default: return -EIO;
        }
}

/* etcd's "unavailable" (14) is mostly "not carried out, ask another member" ("no leader", "server
 * stopped"), but its "request timed out" may still be carried out: that one is a timeout, which the
 * caller does not repeat elsewhere. */
static int unavailable_errno(int64_t code, const char *msg) {
        if (code == 14 && msg && strstr(msg, "timed out"))
                return -ETIMEDOUT;
        return grpc_errno(code);
}

static void copy_message(json_object *o, char *msg, size_t msg_size) {
        json_object *m;

        if ((json_object_object_get_ex(o, "message", &m) || json_object_object_get_ex(o, "error", &m)) &&
            json_object_is_type(m, json_type_string))
                snprintf(msg, msg_size, "%s", json_object_get_string(m));
        else
                snprintf(msg, msg_size, "etcd error without a message");
}

int etcd_json_error(json_object *o, char *msg, size_t msg_size) {
        json_object *err;
        char text[256];
        int64_t code = 0;

        if (!json_object_object_get_ex(o, "error", &err) || json_object_is_type(err, json_type_null))
                return 0;
        if (json_object_is_type(err, json_type_object)) { /* a stream's error */
                if (etcd_json_int64(err, "grpc_code", &code) < 0)
                        code = 2;
                copy_message(err, text, sizeof(text));
        } else if (json_object_is_type(err, json_type_string) && json_object_get_string_len(err) == 0)
                return 0; /* LeaseGrantResponse's own empty "error" */
        else {
                if (etcd_json_int64(o, "code", &code) < 0)
                        code = 2;
                copy_message(o, text, sizeof(text));
        }
        if (msg && msg_size > 0)
                snprintf(msg, msg_size, "%s", text);
        return unavailable_errno(code, text);
}

int etcd_answer_parse(long http_status, const char *body, size_t n, json_object **ret, char *msg,
                      size_t msg_size) {
        json_object *o = NULL;
        int r;

        r = etcd_json_parse(body, n, &o);
        if (r < 0) {
                if (msg && msg_size > 0)
                        snprintf(msg, msg_size, "malformed answer (HTTP status %ld)", http_status);
                return r;
        }
        r = etcd_json_error(o, msg, msg_size);
        if (r == 0 && http_status != 200) {
                if (msg && msg_size > 0)
                        snprintf(msg, msg_size, "HTTP status %ld without an etcd error", http_status);
                r = -EPROTO;
        }
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

static int parse_event(json_object *ev, EtcdEvent *ret) {
        json_object *type, *kv;
        EtcdEventType t = ETCD_PUT;

        if (!json_object_is_type(ev, json_type_object))
                return -EPROTO;
        if (json_object_object_get_ex(ev, "type", &type) && !json_object_is_type(type, json_type_null)) {
                const char *s = json_object_get_string(type);

                if (!json_object_is_type(type, json_type_string))
                        return -EPROTO;
                if (streq(s, "DELETE"))
                        t = ETCD_DELETE;
                else if (!streq(s, "PUT"))
                        return -EPROTO;
        }
        if (!json_object_object_get_ex(ev, "kv", &kv))
                return -EPROTO;
        ret->type = t;
        return etcd_json_kv(kv, &ret->kv);
}

int etcd_watch_parse_line(const char *line, size_t n, EtcdEvent **events, size_t *n_events,
                          int64_t *compact_revision, char *msg, size_t msg_size) {
        json_object *o = NULL, *result, *evs;
        EtcdEvent *all;
        size_t k, n0 = *n_events;
        bool canceled;
        int r;

        r = etcd_json_parse(line, n, &o);
        if (r < 0)
                return r;
        r = etcd_json_error(o, msg, msg_size);
        if (r < 0) {
                json_object_put(o);
                return r == -ENOMEM ? -ECONNRESET : r;
        }
        if (!json_object_object_get_ex(o, "result", &result) || !json_object_is_type(result, json_type_object))
                goto malformed;
        if (etcd_json_bool(result, "canceled", &canceled) < 0 ||
            etcd_json_int64(result, "compact_revision", compact_revision) < 0)
                goto malformed;
        if (canceled) {
                json_object *reason;

                if (msg && msg_size > 0) {
                        if (json_object_object_get_ex(result, "cancel_reason", &reason) &&
                            json_object_is_type(reason, json_type_string))
                                snprintf(msg, msg_size, "watch cancelled: %s", json_object_get_string(reason));
                        else
                                snprintf(msg, msg_size, "watch cancelled (compacted revision %" PRId64 ")",
                                         *compact_revision);
                }
                json_object_put(o);
                return -ECONNRESET;
        }
        *compact_revision = 0;
        if (!json_object_object_get_ex(result, "events", &evs) || json_object_is_type(evs, json_type_null)) {
                json_object_put(o);
                return 0;
        }
        if (!json_object_is_type(evs, json_type_array))
                goto malformed;
        k = json_object_array_length(evs);
        if (k == 0) {
                json_object_put(o);
                return 0;
        }
        all = reallocarray(*events, *n_events + k, sizeof(EtcdEvent));
        if (!all) {
                json_object_put(o);
                return -ENOMEM;
        }
        *events = all;
        for (size_t i = 0; i < k; i++) {
                r = parse_event(json_object_array_get_idx(evs, i), &all[*n_events]);
                if (r < 0) {
                        /* All of a message or nothing of it. */
                        for (size_t u = n0; u < *n_events; u++)
                                etcd_kv_done(&all[u].kv);
                        *n_events = n0;
                        if (msg && msg_size > 0)
                                snprintf(msg, msg_size, "malformed watch event");
                        json_object_put(o);
                        return r;
                }
                (*n_events)++;
        }
        json_object_put(o);
        return 0;

malformed:
        if (msg && msg_size > 0)
                snprintf(msg, msg_size, "malformed watch message");
        json_object_put(o);
        return -EPROTO;
}

void etcd_kv_done(EtcdKV *kv) {
        if (!kv)
                return;
        free(kv->key);
        free(kv->value);
        *kv = (EtcdKV) {};
}

void etcd_kvs_free(EtcdKV *kvs, size_t n) {
        for (size_t i = 0; kvs && i < n; i++)
                etcd_kv_done(&kvs[i]);
        free(kvs);
}

void etcd_events_free(EtcdEvent *ev, size_t n) {
        for (size_t i = 0; ev && i < n; i++)
                etcd_kv_done(&ev[i].kv);
        free(ev);
}
