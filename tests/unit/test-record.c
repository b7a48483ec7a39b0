/* SPDX-License-Identifier: MIT */
/*
 * The promotion record (record.c): format and parse round trips over the
 * values a record can hold, the inputs parse must refuse, and the file
 * written and read back in a temporary state directory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "macro.h"
#include "record.h"

static void test_round_trips(void) {
        static const PromotionRecord cases[] = {
                /* Timeline 0, LSN 0/0: not known (a promotion whose position could not be read, a hand-over). */
                { .time = 0, .timeline = 0, .lsn = "0/0", .trigger_path = (char *) "/tmp/t", .trigger = { 1, 2, { 3, 4 } } },
                { .time = 0, .timeline = 1, .lsn = "0/0", .trigger_path = (char *) "/tmp/postgresql.trigger.5432",
                  .trigger = { .dev = 0, .ino = 0, .ctime = { 0, 0 } } },
                { .time = 1700000123, .timeline = 2, .lsn = "0/3000148", .trigger_path = (char *) "/tmp/t",
                  .trigger = { .dev = 64768, .ino = 4242, .ctime = { 1700000000, 999999999 } } },
                /* Large numbers: a timeline far along, an LSN with all digits, 64-bit device and inode. */
                { .time = INT64_MAX, .timeline = UINT32_MAX, .lsn = "FFFFFFFF/FFFFFFFF",
                  .trigger_path = (char *) "/srv/a b/c=d",
                  .trigger = { .dev = (dev_t) UINT64_MAX, .ino = (ino_t) UINT64_MAX, .ctime = { 4102444800, 1 } } },
                /* pg_lsn prints lower case too. */
                { .time = 1, .timeline = 26, .lsn = "a/b", .trigger_path = (char *) "/x",
                  .trigger = { .dev = 1, .ino = 2, .ctime = { 3, 4 } } },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = record_format(&cases[i]), *again = NULL;
                PromotionRecord back = {};

                ASSERT_TRUE(text != NULL);
                ASSERT_EQ(record_parse(text, &back), 0);
                ASSERT_EQ(back.time, cases[i].time);
                ASSERT_EQ(back.timeline, cases[i].timeline);
                ASSERT_STREQ(back.lsn, cases[i].lsn);
                ASSERT_STREQ(back.trigger_path, cases[i].trigger_path);
                ASSERT_TRUE(trigger_id_equal(&back.trigger, &cases[i].trigger));
                /* Formatting what was parsed gives the same text. */
                again = record_format(&back);
                ASSERT_STREQ(again, text);
                record_done(&back);
                ASSERT_TRUE(back.trigger_path == NULL);
        }
}

static void test_parse_variants(void) {
        PromotionRecord r = {};

        /* Any order; no trigger_path (an older record) is fine; a later duplicate wins. */
        ASSERT_EQ(record_parse("trigger_ctime=3.000000004\ntrigger_ino=2\ntrigger_dev=1\nlsn=0/0\ntimeline=1\n"
                               "time=1\ntime=7",
                               &r),
                  0);
        ASSERT_EQ(r.time, 7);
        ASSERT_TRUE(r.trigger_path == NULL);
        record_done(&r);
        /* Empty lines are skipped; a path keeps everything after the first '='. */
        ASSERT_EQ(record_parse("\n\ntime=1\ntimeline=1\nlsn=0/0\ntrigger_path=/a=b\ntrigger_path=/c=d\n\n"
                               "trigger_dev=1\ntrigger_ino=2\ntrigger_ctime=3.000000004\n",
                               &r),
                  0);
        ASSERT_STREQ(r.trigger_path, "/c=d");
        record_done(&r);
}

static void test_parse_refuses(void) {
        /* A good record, with one line replaced in each case below. */
        static const char *const good[] = {
                "time=1", "timeline=1", "lsn=0/0", "trigger_dev=1", "trigger_ino=2", "trigger_ctime=3.000000004",
        };
        static const struct {
                size_t line;
                const char *bad;
        } cases[] = {
                { 0, "time=" },         { 0, "time=x" },          { 0, "time=1.5" },
                { 0, "time=9223372036854775808" },                { 0, "time= 1" },
                { 1, "timeline=" },     { 1, "timeline=-1" },     { 1, "timeline=4294967296" },
                { 2, "lsn=" },          { 2, "lsn=0" },           { 2, "lsn=/0" },
                { 2, "lsn=0/" },        { 2, "lsn=123456789/0" }, { 2, "lsn=0/123456789" },
                { 2, "lsn=0/0/0" },     { 2, "lsn=G/0" },         { 3, "trigger_dev=" },
                { 3, "trigger_dev=-1" }, { 4, "trigger_ino=1e3" },  { 5, "trigger_ctime=3" },
                { 5, "trigger_ctime=3." }, { 5, "trigger_ctime=.000000004" },
                { 5, "trigger_ctime=3.0000000040" },              { 5, "trigger_ctime=-3.000000004" },
                { 5, "trigger_ctime=3.00000000x" },
                /* A line without '=', and each field missing. */
                { 0, "time" },          { 0, "x=1" },             { 1, "x=1" },
                { 2, "x=1" },           { 3, "x=1" },             { 4, "x=1" },
                { 5, "x=1" },
        };
        PromotionRecord r = {};
        char text[512];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t len = 0;

                for (size_t l = 0; l < ELEMENTSOF(good); l++)
                        len += (size_t) snprintf(text + len, sizeof(text) - len, "%s\n",
                                                 l == cases[i].line ? cases[i].bad : good[l]);
                if (record_parse(text, &r) != -EBADMSG) {
                        fprintf(stderr, "accepted '%s'\n", cases[i].bad);
                        exit(1);
                }
        }
        ASSERT_EQ(record_parse("", &r), -EBADMSG);
        ASSERT_EQ(record_parse("\n", &r), -EBADMSG);
}

static void test_file(void) {
        char dir[] = "/tmp/test-record-XXXXXX", path[64];
        PromotionRecord r = { .time = 5, .timeline = 3, .lsn = "1/2", .trigger_path = (char *) "/tmp/t",
                              .trigger = { .dev = 7, .ino = 8, .ctime = { 9, 10 } } },
                        back = {};
        struct stat st;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_EQ(record_read(dir, &back), 0);
        ASSERT_EQ(record_write(dir, &r), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, RECORD_FILE);
        ASSERT_EQ(stat(path, &st), 0);
        /* Nobody else reads it. */
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_EQ(record_read(dir, &back), 1);
        ASSERT_EQ(back.timeline, 3);
        ASSERT_STREQ(back.lsn, "1/2");
        ASSERT_TRUE(trigger_id_equal(&back.trigger, &r.trigger));
        record_done(&back);

        /* Rewritten whole. */
        r.timeline = 4;
        ASSERT_EQ(record_write(dir, &r), 0);
        ASSERT_EQ(record_read(dir, &back), 1);
        ASSERT_EQ(back.timeline, 4);
        record_done(&back);

        /* A damaged file is an error, not an absent record. */
        {
                FILE *f = fopen(path, "w");

                ASSERT_TRUE(f != NULL);
                fputs("time=1\n", f);
                fclose(f);
        }
        ASSERT_EQ(record_read(dir, &back), -EBADMSG);

        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(rmdir(dir), 0);
}

int main(void) {
        test_round_trips();
        test_parse_variants();
        test_parse_refuses();
        test_file();
        return 0;
}
