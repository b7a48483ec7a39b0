/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret) {
        uint64_t v;

        if (parse_u64(s, &v) < 0 || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

char *strstrip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

size_t strv_length(char *const *v) {
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int strv_split_words(const char *s, char ***ret) {
        char **v = NULL;
        size_t n = 0;

        while (s && *s) {
                size_t k;
                char **nv;

                while (isspace((unsigned char) *s))
                        s++;
                if (!*s)
                        break;
                for (k = 0; s[k] && !isspace((unsigned char) s[k]); k++)
                        ;
                nv = realloc(v, (n + 2) * sizeof(char *));
                if (!nv)
                        goto oom;
                v = nv;
                v[n] = strndup(s, k);
                if (!v[n])
                        goto oom;
                v[++n] = NULL;
                s += k;
        }
        if (!v) {
                v = calloc(1, sizeof(char *));
                if (!v)
                        return -ENOMEM;
        }
        *ret = v;
        return 0;
oom:
        strv_freep(&v);
        return -ENOMEM;
}

static void buf_grow(Buf *b, size_t need) {
        char *nd;
        size_t cap;

        if (b->oom || b->len + need + 1 <= b->cap)
                return;
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + need + 1)
                cap *= 2;
        nd = realloc(b->data, cap);
        if (!nd) {
                b->oom = true;
                return;
        }
        b->data = nd;
        b->cap = cap;
}

void buf_printf(Buf *b, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->oom = true;
                return;
        }
        buf_grow(b, (size_t) n);
        if (b->oom)
                return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
}

void buf_puts(Buf *b, const char *s) {
        size_t n = strlen(s);

        buf_grow(b, n);
        if (b->oom)
                return;
        memcpy(b->data + b->len, s, n + 1);
        b->len += n;
}

char *buf_steal(Buf *b) {
        char *s;

        if (b->oom) {
                buf_free(b);
                return NULL;
        }
        if (!b->data)
                return strdup("");
        s = b->data;
        *b = (Buf) {};
        return s;
}

void buf_free(Buf *b) {
        if (b->data)
                explicit_bzero(b->data, b->cap);
        free(b->data);
        *b = (Buf) {};
}

const char *strv_env_get(char *const *envp, const char *name) {
        size_t n = strlen(name);

        for (char *const *e = envp; e && *e; e++)
                if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

char *path_join(const char *dir, const char *name) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", streq(dir, "/") ? "" : dir, name) < 0)
                return NULL;
        return p;
}

char *path_parent(const char *path) {
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t) (slash - path));
}

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

uint64_t hash_fnv1a64(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

uint32_t hash_fnv1a32(uint32_t h, const char *s) {
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 16777619U;
        return h;
}

bool string_printable(const char *s) {
        for (; s && *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

const char *string_shown(const char *s) {
        if (string_printable(s))
                return s;
        return strpbrk(s, "\n\r") ? "(not shown: it spans several lines)" : "(not shown: control characters)";
}
