/* SPDX-License-Identifier: MIT */
/*
 * The etcd gateway's answers (etcd-json.c): an answer body (etcd_answer_parse() and the key-value
 * objects in it), a watch line (etcd_watch_parse_line()) and base64. Properties: no crash or leak
 * on any input; a watch line gives whole messages only; base64 that decodes encodes back to bytes
 * that decode to the same.
 */
#include "etcd-internal.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_quiet();
        return 0;
}

static void answer(const char *text, size_t size) {
        json_object *o = NULL, *kvs, *header;
        char msg[128];
        int64_t v;

        if (etcd_answer_parse(200, text, size, &o, msg, sizeof(msg)) < 0)
                return;
        if (json_object_object_get_ex(o, "header", &header))
                (void) etcd_json_int64(header, "revision", &v);
        if (json_object_object_get_ex(o, "kvs", &kvs) && json_object_is_type(kvs, json_type_array))
                for (size_t i = 0; i < json_object_array_length(kvs); i++) {
                        EtcdKV kv = {};

                        if (etcd_json_kv(json_object_array_get_idx(kvs, i), &kv) == 0) {
                                fuzz_assert(kv.key && kv.value && *kv.key);
                                etcd_kv_done(&kv);
                        }
                }
        json_object_put(o);
}

static void watch_line(const char *text, size_t size) {
        EtcdEvent *ev = NULL;
        size_t n = 0;
        int64_t compact = 0;
        char msg[128];
        int r;

        r = etcd_watch_parse_line(text, size, &ev, &n, &compact, msg, sizeof(msg));
        fuzz_assert(r == 0 || n == 0);
        for (size_t i = 0; i < n; i++)
                fuzz_assert(ev[i].kv.key && ev[i].kv.value && (ev[i].type == ETCD_PUT || ev[i].type == ETCD_DELETE));
        etcd_events_free(ev, n);
}

static void base64(const char *text, size_t size) {
        _cleanup_free_ char *dec = NULL, *enc = NULL, *again = NULL;
        size_t len, len2;

        if (etcd_base64_decode(text, size, &dec, &len) < 0)
                return;
        enc = etcd_base64_encode(dec, len);
        fuzz_assert(enc);
        fuzz_assert(etcd_base64_decode(enc, strlen(enc), &again, &len2) == 0);
        fuzz_assert(len2 == len && memcmp(again, dec, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = fuzz_string(data, size);
        answer(text, size);
        watch_line(text, size);
        base64(text, size);
        return 0;
}
