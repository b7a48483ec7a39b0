/* SPDX-License-Identifier: MIT */
/*
 * util.h: checked number parsing, string trimming and word splitting, the
 * growable buffer, environment lookup, path helpers, the monotonic clock and
 * the FNV-1a hashes (published test vectors, plus one computed elsewhere for
 * bytes above 0x7f). Parsers are table-driven.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assert.h"
#include "macro.h"
#include "util.h"

static void test_parse_u64(void) {
        static const struct {
                const char *in;
                int r;
                uint64_t v;
        } cases[] = {
                { "0", 0, 0 },
                { "42", 0, 42 },
                { "010", 0, 10 }, /* decimal, not octal */
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -EINVAL, 0 }, /* overflow */
                { "", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1.5", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 12345;
                int r = parse_u64(cases[i].in, &v);

                if (r != cases[i].r)
                        fprintf(stderr, "parse_u64('%s')\n", cases[i].in);
                ASSERT_EQ(r, cases[i].r);
                if (r == 0)
                        ASSERT_TRUE(v == cases[i].v);
                else
                        ASSERT_TRUE(v == 12345); /* untouched on failure */
        }
        {
                uint64_t v = 7;
                ASSERT_EQ(parse_u64(NULL, &v), -EINVAL);
                ASSERT_TRUE(v == 7);
        }
}

static void test_parse_uint(void) {
        static const struct {
                const char *in;
                unsigned min, max;
                int r;
                unsigned v;
        } cases[] = {
                { "5432", 1, 65535, 0, 5432 },
                { "1", 1, 65535, 0, 1 },         /* min is inclusive */
                { "65535", 1, 65535, 0, 65535 }, /* max is inclusive */
                { "0", 1, 65535, -EINVAL, 0 },
                { "65536", 1, 65535, -EINVAL, 0 },
                { "0", 0, 0, 0, 0 },
                { "4294967295", 0, UINT_MAX, 0, UINT_MAX },
                { "4294967296", 0, UINT_MAX, -EINVAL, 0 }, /* must not wrap to 0 */
                { "8589934593", 0, UINT_MAX, -EINVAL, 0 }, /* 2^33+1 must not wrap to 1 */
                { "-5", 0, 10, -EINVAL, 0 },
                { "5 ", 0, 10, -EINVAL, 0 },
                { "", 0, 10, -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 999;
                int r = parse_uint(cases[i].in, cases[i].min, cases[i].max, &v);

                if (r != cases[i].r)
                        fprintf(stderr, "parse_uint('%s', %u, %u)\n", cases[i].in, cases[i].min, cases[i].max);
                ASSERT_EQ(r, cases[i].r);
                ASSERT_EQ(v, r == 0 ? cases[i].v : 999);
        }
}

static void test_strstrip(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "abc", "abc" },
                { "  abc", "abc" },
                { "abc \t\n", "abc" },
                { " \t a b  c \r\n", "a b  c" }, /* inner space kept */
                { "", "" },
                { " \n\t ", "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = strdup(cases[i].in);
                char *t = strstrip(s);

                ASSERT_STREQ(t, cases[i].out);
                ASSERT_TRUE(t >= s && t <= s + strlen(cases[i].in)); /* in place */
                free(s);
        }
}

static void test_strv_split_words(void) {
        static const struct {
                const char *in;
                const char *words[5];
        } cases[] = {
                { "", { NULL } },
                { "   \t\n", { NULL } },
                { "one", { "one", NULL } },
                { "-E UTF8", { "-E", "UTF8", NULL } },
                { "  --locale=C\t--data-checksums \n -A  md5 ", { "--locale=C", "--data-checksums", "-A", "md5", NULL } },
                /* no quoting: quotes are ordinary characters, like the image's unquoted expansion */
                { "'a b' c", { "'a", "b'", "c", NULL } },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char **v = NULL;
                size_t n = 0;

                ASSERT_EQ(strv_split_words(cases[i].in, &v), 0);
                ASSERT_TRUE(v != NULL);
                while (cases[i].words[n])
                        n++;
                ASSERT_EQ(strv_length(v), n);
                for (size_t k = 0; k < n; k++)
                        ASSERT_STREQ(v[k], cases[i].words[k]);
                ASSERT_TRUE(v[n] == NULL);
                strv_freep(&v);
        }
        {
                char **v = NULL;

                ASSERT_EQ(strv_split_words(NULL, &v), 0); /* NULL: an empty list, not NULL */
                ASSERT_TRUE(v && !v[0]);
                strv_freep(&v);
        }
        ASSERT_EQ(strv_length(NULL), 0);
}

static void test_strv_env_get(void) {
        char *env[] = { "A=1", "AB=2", "EMPTY=", "NOEQ", "A=second", "PATH=/bin:/usr/bin", NULL };

        ASSERT_STREQ(strv_env_get(env, "A"), "1"); /* the first match wins */
        ASSERT_STREQ(strv_env_get(env, "AB"), "2");
        ASSERT_STREQ(strv_env_get(env, "EMPTY"), "");
        ASSERT_STREQ(strv_env_get(env, "PATH"), "/bin:/usr/bin");
        ASSERT_TRUE(strv_env_get(env, "NOEQ") == NULL); /* no '=', no value */
        ASSERT_TRUE(strv_env_get(env, "ABC") == NULL);
        ASSERT_TRUE(strv_env_get(env, "B") == NULL);    /* not a suffix match */
        ASSERT_TRUE(strv_env_get(env, "PAT") == NULL);  /* not a prefix match */
        ASSERT_TRUE(strv_env_get(NULL, "A") == NULL);
}

static void test_buf(void) {
        Buf b = {};
        char *s;
        char big[1000];

        buf_puts(&b, "host=");
        buf_printf(&b, "'%s' port=%u", "db", 5432u);
        ASSERT_EQ(b.len, strlen("host='db' port=5432"));
        s = buf_steal(&b);
        ASSERT_STREQ(s, "host='db' port=5432");
        ASSERT_TRUE(b.data == NULL && b.len == 0 && b.cap == 0); /* stolen: the Buf is empty again */
        free(s);

        /* Past the first allocation, several times. */
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        for (int i = 0; i < 5; i++) {
                buf_puts(&b, big);
                buf_printf(&b, "%d", i);
        }
        ASSERT_TRUE(!b.oom);
        ASSERT_EQ(b.len, 5 * (sizeof(big) - 1 + 1));
        ASSERT_EQ(strlen(b.data), b.len);
        ASSERT_TRUE(b.data[sizeof(big) - 1] == '0');
        ASSERT_TRUE(b.data[b.len - 1] == '4');
        buf_free(&b);
        ASSERT_TRUE(b.data == NULL && b.len == 0);

        /* Nothing written: the empty string, not NULL. */
        s = buf_steal(&b);
        ASSERT_STREQ(s, "");
        free(s);

        /* After an allocation failure the result is NULL, and the Buf is freed. */
        buf_puts(&b, "secret");
        b.oom = true;
        buf_puts(&b, "more");
        ASSERT_EQ(b.len, strlen("secret")); /* nothing appended once oom */
        ASSERT_TRUE(buf_steal(&b) == NULL);
        ASSERT_TRUE(b.data == NULL && !b.oom);
}

static void test_path_join(void) {
        static const struct { const char *dir, *name, *out; } cases[] = {
                { "/var/lib/pgrepl", "passfile", "/var/lib/pgrepl/passfile" },
                { "/", "etc", "/etc" },
                { "rel", "x", "rel/x" },
                { "/usr/lib/postgresql/15/bin", "pg_ctl", "/usr/lib/postgresql/15/bin/pg_ctl" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *p = path_join(cases[i].dir, cases[i].name);

                ASSERT_STREQ(p, cases[i].out);
                free(p);
        }
}

static void test_path_parent(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "/a/b", "/a" },
                { "/a", "/" },
                { "/", "/" },
                { "a", "." },
                { "a/b", "a" },
                { "/var/lib/postgresql/15/main/postgresql.auto.conf", "/var/lib/postgresql/15/main" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *p = path_parent(cases[i].in);

                ASSERT_STREQ(p, cases[i].out);
                free(p);
        }
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void test_now_usec(void) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        uint64_t before, t1, t2, after;

        /* It reads CLOCK_MONOTONIC (not the wall clock), in microseconds. */
        before = mono_usec();
        t1 = now_usec();
        after = mono_usec();
        ASSERT_TRUE(before <= t1 && t1 <= after);

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        t2 = now_usec();
        ASSERT_TRUE(t2 >= t1 + 20000);
        ASSERT_TRUE(t2 - t1 < 10ULL * 1000 * 1000); /* microseconds, not nanoseconds */

        for (int i = 0; i < 1000; i++) {
                uint64_t t = now_usec();

                ASSERT_TRUE(t >= t2);
                t2 = t;
        }
}

static void test_hash(void) {
        /* Published FNV-1a vectors; the last one (UTF-8 "été") was computed independently and checks
         * that bytes above 0x7f are taken unsigned. */
        static const struct {
                const char *in;
                uint64_t h64;
                uint32_t h32;
        } cases[] = {
                { "", 0xcbf29ce484222325ULL, 0x811c9dc5U },
                { "a", 0xaf63dc4c8601ec8cULL, 0xe40c292cU },
                { "foobar", 0x85944171f73967e8ULL, 0xbf9cf968U },
                { "main", 0x1f5962a2ce9803c8ULL, 0xea90e208U },
                { "\xc3\xa9t\xc3\xa9", 0x009a8f0e88b51857ULL, 0xffb58817U },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (hash_fnv1a64(cases[i].in) != cases[i].h64 ||
                    hash_fnv1a32(HASH_FNV1A32_INIT, cases[i].in) != cases[i].h32)
                        fprintf(stderr, "hash of '%s': %016llx %08x\n", cases[i].in,
                                (unsigned long long) hash_fnv1a64(cases[i].in),
                                hash_fnv1a32(HASH_FNV1A32_INIT, cases[i].in));
                ASSERT_TRUE(hash_fnv1a64(cases[i].in) == cases[i].h64);
                ASSERT_TRUE(hash_fnv1a32(HASH_FNV1A32_INIT, cases[i].in) == cases[i].h32);
        }
        ASSERT_TRUE(HASH_FNV1A32_INIT == 0x811c9dc5U);
        /* The 32-bit form continues: "foo" then "bar" is "foobar". */
        ASSERT_TRUE(hash_fnv1a32(hash_fnv1a32(HASH_FNV1A32_INIT, "foo"), "bar") ==
                    hash_fnv1a32(HASH_FNV1A32_INIT, "foobar"));
        ASSERT_TRUE(hash_fnv1a32(hash_fnv1a32(HASH_FNV1A32_INIT, "foo"), "") ==
                    hash_fnv1a32(HASH_FNV1A32_INIT, "foo"));
}

int main(void) {
        test_parse_u64();
        test_parse_uint();
        test_strstrip();
        test_strv_split_words();
        test_strv_env_get();
        test_buf();
        test_path_join();
        test_path_parent();
        test_now_usec();
        test_hash();
        printf("test-util: ok\n");
        return 0;
}
