/* SPDX-License-Identifier: MIT */
/*
 * The promotion record (record.h): key=value text, written atomically and
 * read back so that a trigger acted on never promotes twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "macro.h"
#include "record.h"
#include "util.h"

void record_done(PromotionRecord *r) {
        free(r->trigger_path);
        r->trigger_path = NULL;
}

char *record_format(const PromotionRecord *r) {
        char *s = NULL;

        if (asprintf(&s,
                     "time=%" PRId64 "\n"
                     "timeline=%u\n"
                     "lsn=%s\n"
                     "trigger_path=%s\n"
                     "trigger_dev=%" PRIu64 "\n"
                     "trigger_ino=%" PRIu64 "\n"
                     "trigger_ctime=%lld.%09ld\n",
                     r->time, r->timeline, r->lsn, r->trigger_path ? r->trigger_path : "",
                     (uint64_t) r->trigger.dev, (uint64_t) r->trigger.ino,
                     (long long) r->trigger.ctime.tv_sec, r->trigger.ctime.tv_nsec) < 0)
                return NULL;
        return s;
}

/* "X/Y" with 1-8 hex digits on each side, as pg_lsn prints it. */
static bool lsn_valid(const char *s) {
        size_t a = strspn(s, "0123456789ABCDEFabcdef"), b;

        if (a < 1 || a > 8 || s[a] != '/')
                return false;
        b = strspn(s + a + 1, "0123456789ABCDEFabcdef");
        return b >= 1 && b <= 8 && s[a + 1 + b] == 0;
}

/* "SEC.NSEC" with exactly nine digits after the dot. */
static int parse_ctime(const char *s, struct timespec *ret) {
        char sec[24];
        const char *dot = strchr(s, '.');
        uint64_t v, ns;

        if (!dot || (size_t) (dot - s) >= sizeof(sec) || strlen(dot + 1) != 9)
                return -EBADMSG;
        memcpy(sec, s, (size_t) (dot - s));
        sec[dot - s] = 0;
        if (parse_u64(sec, &v) < 0 || v > INT64_MAX || parse_u64(dot + 1, &ns) < 0)
                return -EBADMSG;
        ret->tv_sec = (time_t) v;
        ret->tv_nsec = (long) ns;
        return 0;
}

int record_parse(const char *text, PromotionRecord *ret) {
        _cleanup_free_ char *copy = strdup(text);
        PromotionRecord r = {};
        unsigned seen = 0;
        char *save = NULL;
        uint64_t v;

        if (!copy)
                return -ENOMEM;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');
                const char *val;

                if (!eq)
                        goto bad;
                *eq = 0;
                val = eq + 1;
                if (streq(line, "time")) {
                        if (parse_u64(val, &v) < 0 || v > INT64_MAX)
                                goto bad;
                        r.time = (int64_t) v;
                        seen |= 1;
                } else if (streq(line, "timeline")) {
                        /* 0: not known (a promotion whose position could not be read; a hand-over). */
                        if (parse_uint(val, 0, UINT32_MAX, &r.timeline) < 0)
                                goto bad;
                        seen |= 2;
                } else if (streq(line, "lsn")) {
                        if (!lsn_valid(val))
                                goto bad;
                        snprintf(r.lsn, sizeof(r.lsn), "%s", val);
                        seen |= 4;
                } else if (streq(line, "trigger_path")) {
                        free(r.trigger_path);
                        r.trigger_path = strdup(val);
                        if (!r.trigger_path)
                                return -ENOMEM;
                } else if (streq(line, "trigger_dev")) {
                        if (parse_u64(val, &v) < 0)
                                goto bad;
                        r.trigger.dev = (dev_t) v;
                        seen |= 8;
                } else if (streq(line, "trigger_ino")) {
                        if (parse_u64(val, &v) < 0)
                                goto bad;
                        r.trigger.ino = (ino_t) v;
                        seen |= 16;
                } else if (streq(line, "trigger_ctime")) {
                        if (parse_ctime(val, &r.trigger.ctime) < 0)
                                goto bad;
                        seen |= 32;
                }
        }
        if (seen != 63)
                goto bad;
        *ret = r;
        return 0;
bad:
        record_done(&r);
        return -EBADMSG;
}

static char *record_path(const char *state_dir, const char *name) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", state_dir, name) < 0)
                return NULL;
        return p;
}

int record_read_file(const char *state_dir, const char *name, PromotionRecord *ret) {
        _cleanup_free_ char *p = record_path(state_dir, name), *text = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = fs_read_file(p, &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = record_parse(text, ret);
        return r < 0 ? r : 1;
}

int record_write_file(const char *state_dir, const char *name, const PromotionRecord *r) {
        _cleanup_free_ char *p = record_path(state_dir, name), *text = record_format(r);

        if (!p || !text)
                return -ENOMEM;
        return fs_write_atomic(p, text, 0600);
}

int record_read(const char *state_dir, PromotionRecord *ret) {
        return record_read_file(state_dir, RECORD_FILE, ret);
}

int record_write(const char *state_dir, const PromotionRecord *r) {
        return record_write_file(state_dir, RECORD_FILE, r);
}
