/* SPDX-License-Identifier: MIT */
/*
 * The etcd client's watch: POST /v3/watch streams one JSON message per line ({"result":{...}})
 * for as long as the connection lasts. It runs on its own curl handle inside a multi handle so
 * that etcd_watch_wait() can sleep in curl_multi_poll() on it and on the caller's descriptor at
 * once. Events are queued as lines complete; the stream's end is told once the queue is empty.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-internal.h"
#include "log.h"
#include "macro.h"
#include "util.h"

void etcd_watch_stop(Etcd *e) {
        if (e->watch) {
                if (e->multi)
                        curl_multi_remove_handle(e->multi, e->watch);
                curl_easy_cleanup(e->watch);
                e->watch = NULL;
        }
        etcd_answer_done(&e->watch_buf);
        etcd_events_free(e->pending, e->n_pending);
        e->pending = NULL;
        e->n_pending = 0;
        e->watch_answered = e->watch_ended = false;
        e->watch_error = 0;
}

/* Complete lines become events; the rest waits for more bytes. */
static int watch_lines(Etcd *e) {
        char *start = e->watch_buf.data, *nl;
        size_t left = e->watch_buf.len;
        int r;

        while ((nl = memchr(start, '\n', left))) {
                size_t len = (size_t) (nl - start);

                left -= len + 1;
                if (len > 0 && start[len - 1] == '\r')
                        len--;
                if (len > 0) {
                        r = etcd_watch_parse_line(start, len, &e->pending, &e->n_pending, &e->compact_revision,
                                                  e->last_error, sizeof(e->last_error));
                        if (r < 0)
                                return r;
                }
                start = nl + 1;
        }
        memmove(e->watch_buf.data, start, left);
        e->watch_buf.len = left;
        e->watch_buf.data[left] = 0;
        return 0;
}

static size_t watch_write(char *p, size_t size, size_t n, void *userdata) {
        Etcd *e = userdata;
        long status = 0;
        int r;

        e->watch_answered = true;
        if (etcd_answer_write(p, size, n, &e->watch_buf) != size * n) {
                e->watch_error = e->watch_buf.too_big ? -EMSGSIZE : -ENOMEM;
                snprintf(e->last_error, sizeof(e->last_error), "%s: watch message too long",
                         e->endpoints[e->watch_endpoint]);
                return 0;
        }
        (void) curl_easy_getinfo(e->watch, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) /* an error body, read whole when the transfer ends */
                return size * n;
        r = watch_lines(e);
        if (r < 0) {
                e->watch_error = r;
                return 0;
        }
        return size * n;
}

int etcd_watch_start(Etcd *e, const char *prefix, int64_t start_revision) {
        _cleanup_json_ json_object *body = json_object_new_object();
        _cleanup_free_ char *url = NULL, *key = NULL, *end = NULL, *end64 = NULL;
        json_object *create = json_object_new_object();
        char rev[32];
        size_t end_len;
        const char *text;
        int r;

        etcd_watch_stop(e);
        e->compact_revision = 0;
        if (!body || !create || json_object_object_add(body, "create_request", create) < 0) {
                json_object_put(create);
                return -ENOMEM;
        }
        r = etcd_prefix_end(prefix, &end, &end_len);
        if (r < 0)
                return r;
        key = etcd_base64_encode(prefix, strlen(prefix));
        end64 = etcd_base64_encode(end, end_len);
        snprintf(rev, sizeof(rev), "%" PRId64, start_revision);
        if (!key || !end64 ||
            json_object_object_add(create, "key", json_object_new_string(key)) < 0 ||
            json_object_object_add(create, "range_end", json_object_new_string(end64)) < 0 ||
            (start_revision > 0 &&
             json_object_object_add(create, "start_revision", json_object_new_string(rev)) < 0))
                return -ENOMEM;
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text || asprintf(&url, "%s/v3/watch", e->endpoints[e->current]) < 0)
                return -ENOMEM;
        if (!e->multi) {
                e->multi = curl_multi_init();
                if (!e->multi)
                        return -ENOMEM;
        }
        e->watch = curl_easy_init();
        if (!e->watch)
                return -ENOMEM;
        /* No CURLOPT_TIMEOUT_MS: the stream lasts as long as the watch. */
        r = etcd_handle_setup(e, e->watch, e->watch_curl_error);
        if (r < 0 || curl_easy_setopt(e->watch, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(e->watch, CURLOPT_COPYPOSTFIELDS, text) != CURLE_OK ||
            curl_easy_setopt(e->watch, CURLOPT_WRITEFUNCTION, watch_write) != CURLE_OK ||
            curl_easy_setopt(e->watch, CURLOPT_WRITEDATA, e) != CURLE_OK ||
            curl_multi_add_handle(e->multi, e->watch) != CURLM_OK) {
                etcd_watch_stop(e);
                return -ENOMEM;
        }
        e->watch_endpoint = e->current;
        log_debug("etcd watch of '%s' from revision %" PRId64 " on '%s'", prefix, start_revision,
                  e->endpoints[e->current]);
        return 0;
}

/* The transfer ended: why, in watch_error (always < 0 then). */
static void watch_check_done(Etcd *e) {
        CURLMsg *m;
        int queued;

        while ((m = curl_multi_info_read(e->multi, &queued))) {
                CURLcode cc = m->data.result;
                long status = 0;
                int r = -ECONNRESET;

                if (m->msg != CURLMSG_DONE || m->easy_handle != e->watch)
                        continue;
                e->watch_ended = true;
                (void) curl_easy_getinfo(e->watch, CURLINFO_RESPONSE_CODE, &status);
                if (e->watch_error < 0)
                        ; /* told already, by watch_write() */
                else if (cc != CURLE_OK) {
                        r = etcd_curl_errno(e->watch, cc, false);
                        snprintf(e->last_error, sizeof(e->last_error), "%s: %s", e->endpoints[e->watch_endpoint],
                                 e->watch_curl_error[0] ? e->watch_curl_error : curl_easy_strerror(cc));
                } else if (status != 200) {
                        json_object *o = NULL;

                        r = etcd_answer_parse(status, e->watch_buf.data ? e->watch_buf.data : "", e->watch_buf.len,
                                              &o, e->last_error, sizeof(e->last_error));
                        json_object_put(o);
                        if (r == 0)
                                r = -EPROTO;
                } else if (e->watch_buf.len > 0) {
                        /* The last message, without its line break (an error etcd ended with). */
                        r = etcd_watch_parse_line(e->watch_buf.data, e->watch_buf.len, &e->pending, &e->n_pending,
                                                  &e->compact_revision, e->last_error, sizeof(e->last_error));
                        if (r == 0) {
                                r = -ECONNRESET;
                                snprintf(e->last_error, sizeof(e->last_error), "%s: the watch stream ended",
                                         e->endpoints[e->watch_endpoint]);
                        }
                } else
                        snprintf(e->last_error, sizeof(e->last_error), "%s: the watch stream ended",
                                 e->endpoints[e->watch_endpoint]);
                if (e->watch_error == 0)
                        e->watch_error = r;
                log_debug_errno(e->watch_error, "etcd watch ended: %s", e->last_error);
                /* Never reached, or cut off from its leader: the caller's restart goes to the
                 * next endpoint. */
                if ((!e->watch_answered || e->watch_error == -EAGAIN) && e->current == e->watch_endpoint)
                        e->current = (e->current + 1) % e->n_endpoints;
                curl_multi_remove_handle(e->multi, e->watch);
        }
}

static bool fd_readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

int etcd_watch_wait(Etcd *e, int extra_fd, int timeout_ms, EtcdEvent **ret_events, size_t *ret_n) {
        uint64_t deadline = now_usec() + (uint64_t) (timeout_ms > 0 ? timeout_ms : 0) * 1000;
        bool ready = false;

        for (;;) {
                struct curl_waitfd w = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
                uint64_t now;
                int running, left;

                if (e->watch && !e->watch_ended) {
                        CURLMcode mc = curl_multi_perform(e->multi, &running);

                        if (mc != CURLM_OK)
                                return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
                        watch_check_done(e);
                }
                if (ready || e->n_pending > 0 || e->watch_ended)
                        break;
                now = now_usec();
                if (timeout_ms >= 0 && now >= deadline)
                        break;
                left = timeout_ms < 0 ? 60000 : (int) ((deadline - now + 999) / 1000);
                if (e->watch && !e->watch_ended) {
                        CURLMcode mc = curl_multi_poll(e->multi, extra_fd >= 0 ? &w : NULL, extra_fd >= 0 ? 1 : 0,
                                                       left, NULL);

                        if (mc != CURLM_OK)
                                return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
                        ready = w.revents != 0;
                } else {
                        struct pollfd p = { .fd = extra_fd, .events = POLLIN };

                        if (poll(&p, extra_fd >= 0 ? 1 : 0, left) < 0 && errno != EINTR)
                                return -errno;
                        ready = p.revents != 0;
                }
        }
        if (!ready)
                ready = fd_readable(extra_fd);
        if (e->n_pending == 0 && e->watch_ended)
                return e->watch_error == -ENOMEM ? -ENOMEM : -ECONNRESET;
        *ret_events = TAKE_PTR(e->pending);
        *ret_n = e->n_pending;
        e->n_pending = 0;
        return ready;
}
