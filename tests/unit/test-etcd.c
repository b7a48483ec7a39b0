/* SPDX-License-Identifier: MIT */
/*
 * The etcd client against a real etcd (/usr/bin/etcd, Debian's etcd-server; skipped without it),
 * started on free local ports in a temporary directory and killed at exit; the text layer's
 * parsers table-driven; hostile endpoints (an answer too long, not JSON, one that never answers)
 * played by local sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "assert.h"
#include "etcd-internal.h"
#include "etcd.h"
#include "util.h"

#define ETCD_BIN "/usr/bin/etcd"

static char tmpdir[] = "/tmp/test-etcd-XXXXXX";
static pid_t etcd_pid = -1, member_pid[2] = { -1, -1 };
static char client_url[64];

static void kill_wait(pid_t *pid) {
        if (*pid > 0) {
                kill(*pid, SIGKILL);
                waitpid(*pid, NULL, 0);
                *pid = -1;
        }
}

static void cleanup(void) {
        kill_wait(&etcd_pid);
        kill_wait(&member_pid[0]);
        kill_wait(&member_pid[1]);
        if (tmpdir[strlen(tmpdir) - 1] != 'X') {
                pid_t p = fork();

                if (p == 0) {
                        execl("/bin/rm", "rm", "-rf", tmpdir, (char *) NULL);
                        _exit(127);
                }
                if (p > 0)
                        waitpid(p, NULL, 0);
        }
}

/* A listening socket on 127.0.0.1 and a free port. */
static int listen_local(unsigned *ret_port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        ASSERT_EQ(listen(fd, 16), 0);
        ASSERT_EQ(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        *ret_port = ntohs(a.sin_port);
        return fd;
}

static uint64_t ms_since(uint64_t start_usec) {
        return (now_usec() - start_usec) / 1000;
}

static void free_port_url(char *buf, size_t size) {
        unsigned port;
        int fd = listen_local(&port);

        close(fd);
        snprintf(buf, size, "http://127.0.0.1:%u", port);
}

/* One etcd member, its data and log in the temporary directory; extra: more options (NULL ends). */
static pid_t start_member_tls(const char *name, const char *client, const char *peer, const char *cluster,
                              const char *tls_dir) {
        char data[128], logf[128];
        pid_t pid;

        snprintf(data, sizeof(data), "%s/%s", tmpdir, name);
        snprintf(logf, sizeof(logf), "%s/%s.log", tmpdir, name);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(127);
                if (tls_dir) {
                        char cert[160], key[160], ca[160];

                        snprintf(cert, sizeof(cert), "%s/server.crt", tls_dir);
                        snprintf(key, sizeof(key), "%s/server.key", tls_dir);
                        snprintf(ca, sizeof(ca), "%s/ca.crt", tls_dir);
                        execl(ETCD_BIN, "etcd", "--name", name, "--data-dir", data, "--listen-client-urls", client,
                              "--advertise-client-urls", client, "--listen-peer-urls", peer,
                              "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                              "--cert-file", cert, "--key-file", key, "--client-cert-auth", "--trusted-ca-file", ca,
                              (char *) NULL);
                }
                execl(ETCD_BIN, "etcd", "--name", name, "--data-dir", data, "--listen-client-urls", client,
                      "--advertise-client-urls", client, "--listen-peer-urls", peer,
                      "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster, (char *) NULL);
                _exit(127);
        }
        return pid;
}

static pid_t start_member(const char *name, const char *client, const char *peer, const char *cluster) {
        return start_member_tls(name, client, peer, cluster, NULL);
}

static void start_etcd(const char *name) {
        char peer[64], cluster[128];

        free_port_url(client_url, sizeof(client_url));
        free_port_url(peer, sizeof(peer));
        snprintf(cluster, sizeof(cluster), "%s=%s", name, peer);
        etcd_pid = start_member(name, client_url, peer, cluster);
}

static void wait_for_etcd(const char *url, const EtcdTLS *tls) {
        Etcd *e = NULL;
        EtcdKV kv;
        int r = -1;

        ASSERT_EQ(etcd_new(url, tls, 1000, &e), 0);
        for (int i = 0; i < 300; i++) {
                r = etcd_get(e, "/probe", &kv);
                if (r == -ENOENT)
                        break;
                usleep(100 * 1000);
        }
        if (r != -ENOENT) {
                fprintf(stderr, "etcd did not come up on %s: %d\n", url, r);
                exit(1);
        }
        etcd_free(e);
}

static void test_parsers(void) {
        static const struct {
                const char *plain, *b64;
        } b64[] = {
                { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "/pgrepl/x/leader", "L3BncmVwbC94L2xlYWRlcg==" },
        };
        static const char *bad_b64[] = { "Zg=", "Z===", "Zm9v!", "Zg==Zg==", "Zm=v", "Zg\n=" };
        static const struct {
                const char *json;
                int r;
                int64_t v;
        } ints[] = {
                { "{\"x\":\"4111120488374752773\"}", 0, 4111120488374752773LL },
                { "{\"x\":\"-1\"}", 0, -1 },
                { "{}", 0, 0 },
                { "{\"x\":null}", 0, 0 },
                { "{\"x\":12}", 0, 12 },
                { "{\"x\":\"9223372036854775808\"}", -EPROTO, 0 },
                { "{\"x\":18446744073709551615}", -EPROTO, 0 },
                { "{\"x\":\"12a\"}", -EPROTO, 0 },
                { "{\"x\":\" 12\"}", -EPROTO, 0 },
                { "{\"x\":\"\"}", -EPROTO, 0 },
                { "{\"x\":1.5}", -EPROTO, 0 },
                { "{\"x\":\"1\\u00002\"}", -EPROTO, 0 },
                { "{\"x\":true}", -EPROTO, 0 },
        };
        static const char *bad_json[] = { "", "[]", "{} x", "{\"a\":1}{}", "\"s\"", "{", "{\"a\":1\0}" };

        for (size_t i = 0; i < ELEMENTSOF(b64); i++) {
                _cleanup_free_ char *enc = etcd_base64_encode(b64[i].plain, strlen(b64[i].plain)), *dec = NULL;
                size_t len;

                ASSERT_STREQ(enc, b64[i].b64);
                ASSERT_EQ(etcd_base64_decode(b64[i].b64, strlen(b64[i].b64), &dec, &len), 0);
                ASSERT_EQ(len, strlen(b64[i].plain));
                ASSERT_STREQ(dec, b64[i].plain);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad_b64); i++) {
                char *dec = NULL;
                size_t len;

                ASSERT_EQ(etcd_base64_decode(bad_b64[i], strlen(bad_b64[i]), &dec, &len), -EPROTO);
        }
        for (size_t i = 0; i < ELEMENTSOF(ints); i++) {
                json_object *o = NULL;
                int64_t v = 77;

                ASSERT_EQ(etcd_json_parse(ints[i].json, strlen(ints[i].json), &o), 0);
                ASSERT_EQ(etcd_json_int64(o, "x", &v), ints[i].r);
                if (ints[i].r == 0)
                        ASSERT_EQ(v, ints[i].v);
                json_object_put(o);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad_json); i++) {
                json_object *o = NULL;
                size_t n = i == ELEMENTSOF(bad_json) - 1 ? 9 : strlen(bad_json[i]);

                ASSERT_EQ(etcd_json_parse(bad_json[i], n, &o), -EPROTO);
        }

        /* Prefix ends. */
        {
                _cleanup_free_ char *end = NULL;
                size_t len;

                ASSERT_EQ(etcd_prefix_end("/a/", &end, &len), 0);
                ASSERT_EQ(len, 3);
                ASSERT_TRUE(memcmp(end, "/a0", 3) == 0);
                free(end);
                end = NULL;
                ASSERT_EQ(etcd_prefix_end("a\xff", &end, &len), 0);
                ASSERT_EQ(len, 1);
                ASSERT_TRUE(end[0] == 'b');
                free(end);
                end = NULL;
                ASSERT_EQ(etcd_prefix_end("", &end, &len), 0);
                ASSERT_EQ(len, 1);
                ASSERT_TRUE(end[0] == 0);
        }

        /* Errors: the gateway's body, a stream's, LeaseGrantResponse's empty "error". */
        {
                static const struct {
                        long status;
                        const char *body;
                        int r;
                } answers[] = {
                        { 200, "{\"header\":{}}", 0 },
                        { 200, "{\"ID\":\"5\",\"TTL\":\"3\",\"error\":\"\"}", 0 },
                        { 404, "{\"error\":\"etcdserver: requested lease not found\",\"code\":5}", -ENOENT },
                        { 503, "{\"error\":\"etcdserver: no leader\",\"code\":14}", -EAGAIN },
                        { 503, "{\"error\":\"etcdserver: request timed out\",\"message\":\"etcdserver: request timed out\",\"code\":14}", -ETIMEDOUT },
                        { 400, "{\"error\":\"bad\",\"code\":3}", -EINVAL },
                        { 200, "{\"error\":{\"grpc_code\":14,\"message\":\"x\"}}", -EAGAIN },
                        { 500, "{\"header\":{}}", -EPROTO },
                        { 404, "404 page not found\n", -EPROTO },
                        { 200, "{\"error\":\"lease too short\"}", -EIO },
                };

                for (size_t i = 0; i < ELEMENTSOF(answers); i++) {
                        json_object *o = NULL;
                        char msg[128] = "";

                        ASSERT_EQ(etcd_answer_parse(answers[i].status, answers[i].body, strlen(answers[i].body), &o,
                                                    msg, sizeof(msg)),
                                  answers[i].r);
                        if (answers[i].r < 0)
                                ASSERT_TRUE(msg[0]);
                        json_object_put(o);
                }
        }

        /* Watch lines. */
        {
                static const char created[] = "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}";
                static const char evs[] =
                        "{\"result\":{\"header\":{},\"events\":[{\"kv\":{\"key\":\"L2EvYg==\",\"create_revision\":\"2\","
                        "\"mod_revision\":\"5\",\"version\":\"2\",\"value\":\"dg==\",\"lease\":\"41\"}},"
                        "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L2Evbg==\",\"mod_revision\":\"6\"}}]}}";
                static const char half_bad[] =
                        "{\"result\":{\"events\":[{\"kv\":{\"key\":\"L2EvYg==\"}},{\"type\":\"EXPIRE\",\"kv\":{\"key\":\"L2Evbg==\"}}]}}";
                static const char canceled[] = "{\"result\":{\"canceled\":true,\"compact_revision\":\"7\"}}";
                static const char no_leader[] = "{\"error\":{\"grpc_code\":14,\"http_code\":503,"
                                                "\"message\":\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}";
                EtcdEvent *ev = NULL;
                size_t n = 0;
                int64_t compact = -1;
                char msg[128];

                ASSERT_EQ(etcd_watch_parse_line(created, strlen(created), &ev, &n, &compact, msg, sizeof(msg)), 0);
                ASSERT_EQ(n, 0);
                ASSERT_EQ(etcd_watch_parse_line(evs, strlen(evs), &ev, &n, &compact, msg, sizeof(msg)), 0);
                ASSERT_EQ(n, 2);
                ASSERT_EQ(ev[0].type, ETCD_PUT);
                ASSERT_STREQ(ev[0].kv.key, "/a/b");
                ASSERT_STREQ(ev[0].kv.value, "v");
                ASSERT_EQ(ev[0].kv.lease, 41);
                ASSERT_EQ(ev[0].kv.mod_revision, 5);
                ASSERT_EQ(ev[1].type, ETCD_DELETE);
                ASSERT_STREQ(ev[1].kv.key, "/a/n");
                ASSERT_STREQ(ev[1].kv.value, "");
                ASSERT_EQ(etcd_watch_parse_line(half_bad, strlen(half_bad), &ev, &n, &compact, msg, sizeof(msg)), -EPROTO);
                ASSERT_EQ(n, 2);
                ASSERT_EQ(etcd_watch_parse_line(canceled, strlen(canceled), &ev, &n, &compact, msg, sizeof(msg)),
                          -ECONNRESET);
                ASSERT_EQ(compact, 7);
                ASSERT_EQ(etcd_watch_parse_line(no_leader, strlen(no_leader), &ev, &n, &compact, msg, sizeof(msg)),
                          -EAGAIN);
                ASSERT_STREQ(msg, "etcdserver: no leader");
                ASSERT_EQ(n, 2);
                etcd_events_free(ev, n);
        }
}

static void test_endpoints(void) {
        static const char *bad[] = { "", ",", "a:1,", ",a:1", "a:1,,b:2", "ftp://a:1", "http://", "a b:1", "a:1\n" };
        Etcd *e = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_EQ(etcd_new(bad[i], NULL, 1000, &e), -EINVAL);
        ASSERT_EQ(etcd_new(" 10.0.0.5:2379 , https://h2:2379/", NULL, 1000, &e), 0);
        ASSERT_STREQ(etcd_endpoint(e), "http://10.0.0.5:2379");
        e = etcd_free(e);
        ASSERT_TRUE(!e);
}

/* A one-shot HTTP server in a child: reads the request, answers `head` then `fill` bytes of 'x'. */
static pid_t serve_once(int lfd, const char *head, size_t fill) {
        pid_t p = fork();

        ASSERT_TRUE(p >= 0);
        if (p == 0) {
                int fd = accept(lfd, NULL, NULL);
                char buf[4096];
                static char chunk[65536];

                if (fd < 0)
                        _exit(1);
                (void) !read(fd, buf, sizeof(buf));
                (void) !write(fd, head, strlen(head));
                memset(chunk, 'x', sizeof(chunk));
                while (fill > 0) {
                        ssize_t k = write(fd, chunk, fill < sizeof(chunk) ? fill : sizeof(chunk));

                        if (k <= 0)
                                break;
                        fill -= (size_t) k;
                }
                close(fd);
                _exit(0);
        }
        return p;
}

static void test_hostile(void) {
        unsigned port;
        char url[64], head[128];
        int lfd;
        pid_t p;
        uint64_t t;
        Etcd *e = NULL;
        EtcdKV kv;

        /* Longer than ETCD_ANSWER_MAX: refused, not allocated. */
        lfd = listen_local(&port);
        snprintf(url, sizeof(url), "127.0.0.1:%u", port);
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %u\r\n\r\n",
                 ETCD_ANSWER_MAX + 100);
        p = serve_once(lfd, head, ETCD_ANSWER_MAX + 100);
        ASSERT_EQ(etcd_new(url, NULL, 5000, &e), 0);
        ASSERT_EQ(etcd_get(e, "/k", &kv), -EMSGSIZE);
        ASSERT_CONTAINS(etcd_last_error(e), "too long");
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);

        /* Not JSON. */
        p = serve_once(lfd, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!", 0);
        ASSERT_EQ(etcd_get(e, "/k", &kv), -EPROTO);
        waitpid(p, NULL, 0);
        e = etcd_free(e);

        /* Accepts (the backlog does) but never answers: the request's timeout. */
        ASSERT_EQ(etcd_new(url, NULL, 400, &e), 0);
        t = now_usec();
        ASSERT_EQ(etcd_put(e, "/k", "v", 0), -ETIMEDOUT);
        ASSERT_TRUE(ms_since(t) >= 350 && ms_since(t) < 2000);
        e = etcd_free(e);
        close(lfd);
}

static bool collect(Etcd *w, EtcdEvent **all, size_t *n_all, size_t want) {
        uint64_t t = now_usec();

        while (*n_all < want && ms_since(t) < 5000) {
                EtcdEvent *ev = NULL;
                size_t n = 0;
                int r = etcd_watch_wait(w, -1, 500, &ev, &n);

                ASSERT_TRUE(r >= 0);
                *all = reallocarray(*all, *n_all + n + 1, sizeof(EtcdEvent));
                ASSERT_TRUE(*all);
                memcpy(*all + *n_all, ev, n * sizeof(EtcdEvent));
                *n_all += n;
                free(ev);
        }
        return *n_all >= want;
}

static void test_etcd(void) {
        Etcd *e = NULL, *w = NULL;
        int64_t lease, ttl, granted, rev;
        EtcdKV kv, *kvs = NULL;
        EtcdEvent *ev = NULL;
        size_t n = 0;
        char endpoints[128];
        int pipefd[2];
        uint64_t t;
        int r;

        /* The first endpoint refuses: the second answers and is remembered. */
        snprintf(endpoints, sizeof(endpoints), "http://127.0.0.1:1,%s", client_url + strlen("http://"));
        ASSERT_EQ(etcd_new(endpoints, NULL, 2000, &e), 0);
        ASSERT_STREQ(etcd_endpoint(e), "http://127.0.0.1:1");

        ASSERT_EQ(etcd_lease_grant(e, 30, &lease), 0);
        ASSERT_STREQ(etcd_endpoint(e), client_url);
        ASSERT_TRUE(lease > 0);
        ASSERT_EQ(etcd_lease_keepalive(e, lease, &ttl), 0);
        ASSERT_EQ(ttl, 30);
        ASSERT_EQ(etcd_lease_ttl(e, lease, &ttl, &granted), 0);
        ASSERT_TRUE(ttl > 25 && ttl <= 30);
        ASSERT_EQ(granted, 30);

        /* put, get, get_prefix */
        ASSERT_EQ(etcd_put(e, "/t/a", "alpha", lease), 0);
        ASSERT_EQ(etcd_put(e, "/t/b", "", 0), 0);
        ASSERT_EQ(etcd_put(e, "/t0", "outside", 0), 0);
        ASSERT_EQ(etcd_put(e, "/t/c", "ä \"{}\n\\", 0), 0);
        ASSERT_EQ(etcd_get(e, "/t/a", &kv), 0);
        ASSERT_STREQ(kv.key, "/t/a");
        ASSERT_STREQ(kv.value, "alpha");
        ASSERT_EQ(kv.lease, lease);
        ASSERT_TRUE(kv.create_revision > 0 && kv.mod_revision >= kv.create_revision);
        etcd_kv_done(&kv);
        ASSERT_EQ(etcd_get(e, "/t/c", &kv), 0);
        ASSERT_STREQ(kv.value, "ä \"{}\n\\");
        ASSERT_EQ(kv.lease, 0);
        etcd_kv_done(&kv);
        ASSERT_EQ(etcd_get(e, "/t/none", &kv), -ENOENT);
        ASSERT_EQ(etcd_get_prefix(e, "/t/", &kvs, &n, &rev), 0);
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(kvs[0].key, "/t/a");
        ASSERT_STREQ(kvs[1].key, "/t/b");
        ASSERT_STREQ(kvs[1].value, "");
        ASSERT_STREQ(kvs[2].key, "/t/c");
        ASSERT_TRUE(rev >= kvs[2].mod_revision);
        etcd_kvs_free(kvs, n);
        ASSERT_EQ(etcd_get_prefix(e, "/nothing/", &kvs, &n, NULL), 0);
        ASSERT_EQ(n, 0);
        ASSERT_TRUE(!kvs);
        ASSERT_EQ(etcd_put(e, "/t/x", "v", lease + 1000), -ENOENT); /* no such lease */

        /* create: once; delete_if_value: only the right value */
        ASSERT_EQ(etcd_create(e, "/t/leader", "n1", lease), 1);
        ASSERT_EQ(etcd_create(e, "/t/leader", "n2", 0), 0);
        ASSERT_EQ(etcd_get(e, "/t/leader", &kv), 0);
        ASSERT_STREQ(kv.value, "n1");
        ASSERT_EQ(kv.lease, lease);
        etcd_kv_done(&kv);
        ASSERT_EQ(etcd_delete_if_value(e, "/t/leader", "n2"), 0);
        ASSERT_EQ(etcd_get(e, "/t/leader", &kv), 0);
        etcd_kv_done(&kv);
        ASSERT_EQ(etcd_delete_if_value(e, "/t/leader", "n1"), 1);
        ASSERT_EQ(etcd_get(e, "/t/leader", &kv), -ENOENT);
        ASSERT_EQ(etcd_delete_if_value(e, "/t/leader", "n1"), 0);
        ASSERT_EQ(etcd_delete(e, "/t/b"), 1);
        ASSERT_EQ(etcd_delete(e, "/t/b"), 0);

        /* The watch, on another client, sees this one's changes from a revision on. */
        ASSERT_EQ(etcd_get_prefix(e, "/t/", &kvs, &n, &rev), 0);
        etcd_kvs_free(kvs, n);
        ASSERT_EQ(etcd_new(client_url, NULL, 2000, &w), 0);
        ASSERT_EQ(etcd_watch_start(w, "/t/", rev + 1), 0);
        ASSERT_EQ(etcd_put(e, "/t/w", "one", 0), 0);
        ASSERT_EQ(etcd_put(e, "/tz", "not watched", 0), 0);
        ASSERT_EQ(etcd_delete(e, "/t/w"), 1);
        ASSERT_EQ(etcd_lease_revoke(e, lease), 0); /* deletes /t/a */
        {
                EtcdEvent *all = NULL;
                size_t n_all = 0;

                ASSERT_TRUE(collect(w, &all, &n_all, 3));
                ASSERT_EQ(n_all, 3);
                ASSERT_EQ(all[0].type, ETCD_PUT);
                ASSERT_STREQ(all[0].kv.key, "/t/w");
                ASSERT_STREQ(all[0].kv.value, "one");
                ASSERT_EQ(all[0].kv.mod_revision, rev + 1);
                ASSERT_EQ(all[1].type, ETCD_DELETE);
                ASSERT_STREQ(all[1].kv.key, "/t/w");
                ASSERT_EQ(all[2].type, ETCD_DELETE);
                ASSERT_STREQ(all[2].kv.key, "/t/a");
                etcd_events_free(all, n_all);
        }

        /* The lease is gone, and its key with it. */
        ASSERT_EQ(etcd_get(e, "/t/a", &kv), -ENOENT);
        ASSERT_EQ(etcd_lease_keepalive(e, lease, &ttl), -ENOENT);
        ASSERT_EQ(etcd_lease_ttl(e, lease, &ttl, &granted), -ENOENT);
        ASSERT_EQ(etcd_lease_revoke(e, lease), -ENOENT);

        /* A watch whose endpoint refuses ends; its restart goes to the next endpoint. */
        {
                Etcd *w2 = NULL;
                EtcdEvent *all = NULL;
                size_t n_all = 0;

                ASSERT_EQ(etcd_new(endpoints, NULL, 2000, &w2), 0);
                ASSERT_EQ(etcd_watch_start(w2, "/u/", 0), 0);
                t = now_usec();
                do
                        r = etcd_watch_wait(w2, -1, 1000, &ev, &n);
                while (r == 0 && ms_since(t) < 5000);
                ASSERT_EQ(r, -ECONNRESET);
                ASSERT_STREQ(etcd_endpoint(w2), client_url);
                ASSERT_EQ(etcd_watch_start(w2, "/u/", 0), 0);
                ASSERT_EQ(etcd_watch_wait(w2, -1, 500, &ev, &n), 0);
                ASSERT_EQ(etcd_put(e, "/u/1", "x", 0), 0);
                ASSERT_TRUE(collect(w2, &all, &n_all, 1));
                ASSERT_STREQ(all[0].kv.key, "/u/1");
                etcd_events_free(all, n_all);
                etcd_free(w2);
        }

        /* Nothing to tell: the wait lasts its timeout; the caller's descriptor ends it at once. */
        t = now_usec();
        ASSERT_EQ(etcd_watch_wait(w, -1, 300, &ev, &n), 0);
        ASSERT_EQ(n, 0);
        ASSERT_TRUE(ms_since(t) >= 290);
        ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        ASSERT_EQ(write(pipefd[1], "x", 1), 1);
        t = now_usec();
        ASSERT_EQ(etcd_watch_wait(w, pipefd[0], 5000, &ev, &n), 1);
        ASSERT_EQ(n, 0);
        ASSERT_TRUE(ms_since(t) < 1000);
        close(pipefd[0]);
        close(pipefd[1]);

        /* etcd dies: the watch reports its end, requests fail within their timeout. */
        kill_wait(&etcd_pid);
        t = now_usec();
        do
                r = etcd_watch_wait(w, -1, 1000, &ev, &n);
        while (r == 0 && ms_since(t) < 5000);
        ASSERT_EQ(r, -ECONNRESET);
        ASSERT_TRUE(etcd_last_error(w)[0]);
        ASSERT_EQ(etcd_watch_wait(w, -1, 10, &ev, &n), -ECONNRESET); /* until restarted */
        t = now_usec();
        r = etcd_put(e, "/t/a", "v", 0);
        ASSERT_EQ(r, -ECONNREFUSED);
        ASSERT_TRUE(ms_since(t) < 2000);
        ASSERT_CONTAINS(etcd_last_error(e), "127.0.0.1");
        /* A restarted watch that cannot connect ends too. */
        ASSERT_EQ(etcd_watch_start(w, "/t/", rev + 1), 0);
        t = now_usec();
        do
                r = etcd_watch_wait(w, -1, 1000, &ev, &n);
        while (r == 0 && ms_since(t) < 5000);
        ASSERT_EQ(r, -ECONNRESET);

        etcd_free(w);
        etcd_free(e);
}

/* A member cut off from its cluster's leader (a two-member cluster, one killed) answers at once
 * that it is unavailable, so a request goes on to the next endpoint, here another (healthy)
 * cluster; a watch on it ends. The healthy etcd is restarted for this. */
static void test_no_leader(void) {
        char client[2][64], peer[2][64], cluster[256];
        Etcd *e = NULL, *w = NULL;
        EtcdEvent *ev = NULL;
        char endpoints[160];
        size_t n;
        uint64_t t;
        int r;

        for (size_t i = 0; i < 2; i++) {
                free_port_url(client[i], sizeof(client[i]));
                free_port_url(peer[i], sizeof(peer[i]));
        }
        snprintf(cluster, sizeof(cluster), "m0=%s,m1=%s", peer[0], peer[1]);
        member_pid[0] = start_member("m0", client[0], peer[0], cluster);
        member_pid[1] = start_member("m1", client[1], peer[1], cluster);
        wait_for_etcd(client[0], NULL);
        start_etcd("healthy");
        wait_for_etcd(client_url, NULL);

        snprintf(endpoints, sizeof(endpoints), "%s,%s", client[0], client_url);
        ASSERT_EQ(etcd_new(endpoints, NULL, 5000, &w), 0);
        ASSERT_EQ(etcd_watch_start(w, "/t/", 0), 0);
        ASSERT_EQ(etcd_watch_wait(w, -1, 500, &ev, &n), 0);
        kill_wait(&member_pid[1]);

        /* Once it knows it has no leader: "unavailable" at once (not after the request's timeout),
         * and with a next endpoint, that one answers. */
        ASSERT_EQ(etcd_new(client[0], NULL, 5000, &e), 0);
        t = now_usec();
        do {
                EtcdKV kv;

                r = etcd_get(e, "/t/none", &kv);
        } while (r != -EAGAIN && ms_since(t) < 20000);
        ASSERT_EQ(r, -EAGAIN);
        ASSERT_CONTAINS(etcd_last_error(e), "no leader");
        t = now_usec();
        ASSERT_EQ(etcd_put(e, "/t/x", "v", 0), -EAGAIN);
        ASSERT_TRUE(ms_since(t) < 1000);
        e = etcd_free(e);

        snprintf(endpoints, sizeof(endpoints), "%s,%s", client[0], client_url);
        ASSERT_EQ(etcd_new(endpoints, NULL, 5000, &e), 0);
        t = now_usec();
        ASSERT_EQ(etcd_put(e, "/t/x", "v", 0), 0);
        ASSERT_TRUE(ms_since(t) < 1000);
        ASSERT_STREQ(etcd_endpoint(e), client_url);

        /* The watch on the leaderless member ends; its restart goes to the next endpoint. */
        t = now_usec();
        do
                r = etcd_watch_wait(w, -1, 1000, &ev, &n);
        while (r == 0 && ms_since(t) < 15000);
        ASSERT_EQ(r, -ECONNRESET);
        ASSERT_CONTAINS(etcd_last_error(w), "no leader");
        ASSERT_STREQ(etcd_endpoint(w), client_url);
        ASSERT_EQ(etcd_watch_start(w, "/t/", 0), 0);
        ASSERT_EQ(etcd_watch_wait(w, -1, 500, &ev, &n), 0);
        ASSERT_EQ(etcd_put(e, "/t/y", "after", 0), 0);
        {
                EtcdEvent *all = NULL;
                size_t n_all = 0;

                ASSERT_TRUE(collect(w, &all, &n_all, 1));
                ASSERT_STREQ(all[0].kv.key, "/t/y");
                ASSERT_STREQ(all[0].kv.value, "after");
                etcd_events_free(all, n_all);
        }

        etcd_free(w);
        etcd_free(e);
        kill_wait(&member_pid[0]);
}

static void run(char **argv) {
        int status;
        pid_t p = fork();

        ASSERT_TRUE(p >= 0);
        if (p == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        ASSERT_EQ(waitpid(p, &status, 0), p);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s %s failed\n", argv[0], argv[1]);
                exit(1);
        }
}

/* A CA, and a certificate it signed for `name` (server: for 127.0.0.1; else a client's). */
static void make_cert(const char *dir, const char *name, bool server) {
        char key[160], csr[160], crt[160], ext[160], ca[160], cakey[160];
        FILE *f;

        snprintf(key, sizeof(key), "%s/%s.key", dir, name);
        snprintf(csr, sizeof(csr), "%s/%s.csr", dir, name);
        snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
        snprintf(ext, sizeof(ext), "%s/%s.ext", dir, name);
        snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
        snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
        f = fopen(ext, "we");
        ASSERT_TRUE(f);
        /* etcd's gateway dials its own gRPC server with the server's certificate: both usages. */
        fprintf(f, server ? "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
                          : "extendedKeyUsage=clientAuth\n");
        fclose(f);
        run((char *[]) { "/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", key, "-out", csr, "-subj", server ? "/CN=127.0.0.1" : "/CN=client", NULL });
        run((char *[]) { "/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
                         "-out", crt, "-days", "2", "-extfile", ext, NULL });
}

/* https:// with a client certificate: requests and the watch; without the certificate, or
 * without the CA, refused. */
static void test_tls(void) {
        char dir[128], client[64], peer[64], cluster[128], ca[160], cert[160], key[160], https[80];
        EtcdTLS tls = { ca, cert, key }, no_cert = { ca, NULL, NULL };
        Etcd *e = NULL, *w = NULL;
        EtcdEvent *all = NULL;
        size_t n_all = 0;
        EtcdKV kv;
        pid_t pid;
        int r;

        if (access("/usr/bin/openssl", X_OK) < 0) {
                fprintf(stderr, "openssl missing: the TLS test is skipped\n");
                return;
        }
        snprintf(dir, sizeof(dir), "%s/tls", tmpdir);
        ASSERT_EQ(mkdir(dir, 0700), 0);
        snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
        snprintf(cert, sizeof(cert), "%s/client.crt", dir);
        snprintf(key, sizeof(key), "%s/client.key", dir);
        {
                char cakey[160];

                snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
                run((char *[]) { "/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", cakey, "-out", ca, "-days", "2",
                                 "-subj", "/CN=pgrepl test CA", NULL });
        }
        make_cert(dir, "server", true);
        make_cert(dir, "client", false);

        free_port_url(client, sizeof(client));
        free_port_url(peer, sizeof(peer));
        snprintf(https, sizeof(https), "https://%s", client + strlen("http://"));
        snprintf(cluster, sizeof(cluster), "tls=%s", peer);
        pid = start_member_tls("tls", https, peer, cluster, dir);
        member_pid[0] = pid;
        wait_for_etcd(https, &tls);

        ASSERT_EQ(etcd_new(https, &tls, 5000, &e), 0);
        ASSERT_EQ(etcd_new(https, &tls, 5000, &w), 0);
        ASSERT_EQ(etcd_watch_start(w, "/tls/", 0), 0);
        ASSERT_EQ(etcd_watch_wait(w, -1, 500, &all, &n_all), 0);
        ASSERT_EQ(etcd_put(e, "/tls/k", "secret-free", 0), 0);
        ASSERT_EQ(etcd_get(e, "/tls/k", &kv), 0);
        ASSERT_STREQ(kv.value, "secret-free");
        etcd_kv_done(&kv);
        ASSERT_TRUE(collect(w, &all, &n_all, 1));
        ASSERT_STREQ(all[0].kv.key, "/tls/k");
        etcd_events_free(all, n_all);
        e = etcd_free(e);
        w = etcd_free(w);

        ASSERT_EQ(etcd_new(https, &no_cert, 5000, &e), 0);
        r = etcd_get(e, "/tls/k", &kv);
        ASSERT_TRUE(r == -ECONNRESET || r == -EPROTO);
        e = etcd_free(e);
        ASSERT_EQ(etcd_new(https, NULL, 5000, &e), 0); /* the system's CAs do not know this one */
        ASSERT_EQ(etcd_get(e, "/tls/k", &kv), -EPROTO);
        ASSERT_TRUE(etcd_last_error(e)[0]);
        e = etcd_free(e);
        kill_wait(&member_pid[0]);
}

int main(void) {
        test_parsers();
        test_endpoints();
        test_hostile();

        if (access(ETCD_BIN, X_OK) < 0) {
                fprintf(stderr, "%s missing (Debian's etcd-server): the tests against etcd are skipped\n", ETCD_BIN);
                return 77;
        }
        ASSERT_TRUE(mkdtemp(tmpdir));
        atexit(cleanup);
        start_etcd("default");
        wait_for_etcd(client_url, NULL);
        test_etcd();
        test_no_leader();
        test_tls();
        return 0;
}
