/* SPDX-License-Identifier: MIT */
/*
 * The trigger watcher's pure decisions (trigger.c, record.c): what sits at
 * the trigger path, which inotify events matter, lock names, the promotion
 * record's format.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "assert.h"
#include "record.h"
#include "trigger.h"

#define SELF 101

static struct stat make_stat(mode_t mode, uid_t uid, nlink_t links) {
        struct stat st = {};

        st.st_mode = mode;
        st.st_uid = uid;
        st.st_nlink = links;
        st.st_dev = 64768;
        st.st_ino = 4242;
        st.st_ctim.tv_sec = 1700000000;
        st.st_ctim.tv_nsec = 123456789;
        st.st_mtim = st.st_ctim;
        return st;
}

static void test_classify(void) {
        static const struct {
                mode_t mode;
                uid_t uid;
                nlink_t links;
                TriggerVerdict want;
        } cases[] = {
                { S_IFREG | 0644, 0, 1, TRIGGER_VALID },
                { S_IFREG | 0600, SELF, 1, TRIGGER_VALID },
                { S_IFREG | 0644, 65534, 1, TRIGGER_FOREIGN_OWNER },
                { S_IFREG | 0644, 1000, 1, TRIGGER_FOREIGN_OWNER },
                { S_IFLNK | 0777, 0, 1, TRIGGER_SYMLINK },
                { S_IFLNK | 0777, 65534, 1, TRIGGER_SYMLINK },
                { S_IFDIR | 0755, 0, 2, TRIGGER_DIRECTORY },
                { S_IFIFO | 0644, 0, 1, TRIGGER_NOT_REGULAR },
                { S_IFSOCK | 0755, SELF, 1, TRIGGER_NOT_REGULAR },
                { S_IFCHR | 0666, 0, 1, TRIGGER_NOT_REGULAR },
                { S_IFREG | 0644, 0, 2, TRIGGER_HARD_LINKED },
        };
        static const struct {
                long long mtime_behind_ns; /* how far the mtime lies before the ctime */
                TriggerVerdict want;
        } ages[] = {
                { 0, TRIGGER_VALID },                   /* touch, pgreplctl promote */
                { 50000000, TRIGGER_VALID },            /* touch, then chmod or chown */
                { 2000000000, TRIGGER_VALID },
                { 2000000001, TRIGGER_MOVED_IN },
                { 86400LL * 1000000000LL, TRIGGER_MOVED_IN }, /* a day-old root file renamed in */
                { -3000000000LL, TRIGGER_MOVED_IN },   /* an mtime in the future */
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct stat st = make_stat(cases[i].mode, cases[i].uid, cases[i].links);

                ASSERT_EQ(trigger_classify(&st, SELF, NULL), cases[i].want);
                ASSERT_TRUE(trigger_verdict_reason(cases[i].want)[0] != 0);
        }
        for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
                struct stat st = make_stat(S_IFREG | 0600, 0, 1);
                long long ns = (long long) st.st_ctim.tv_nsec - ages[i].mtime_behind_ns;

                st.st_mtim.tv_sec = st.st_ctim.tv_sec + ns / 1000000000LL - (ns % 1000000000LL < 0);
                st.st_mtim.tv_nsec = (long) ((ns % 1000000000LL + 1000000000LL) % 1000000000LL);
                ASSERT_EQ(trigger_classify(&st, SELF, NULL), ages[i].want);
        }
        ASSERT_TRUE(trigger_verdict_is_bad(TRIGGER_MOVED_IN));
        ASSERT_EQ(trigger_classify(NULL, SELF, NULL), TRIGGER_ABSENT);
        ASSERT_TRUE(!trigger_verdict_is_bad(TRIGGER_VALID) && !trigger_verdict_is_bad(TRIGGER_DONE));
        ASSERT_TRUE(trigger_verdict_is_bad(TRIGGER_SYMLINK) && trigger_verdict_is_bad(TRIGGER_FOREIGN_OWNER));
}

static void test_classify_done(void) {
        struct stat st = make_stat(S_IFREG | 0644, 0, 1);
        TriggerId done = trigger_id_from_stat(&st);

        /* The very file the record names: not again. */
        ASSERT_EQ(trigger_classify(&st, SELF, &done), TRIGGER_DONE);
        /* Touched again (new ctime), or another file: it counts. */
        st.st_ctim.tv_nsec++;
        ASSERT_EQ(trigger_classify(&st, SELF, &done), TRIGGER_VALID);
        st = make_stat(S_IFREG | 0644, 0, 1);
        st.st_ino++;
        ASSERT_EQ(trigger_classify(&st, SELF, &done), TRIGGER_VALID);
        /* A bad file stays bad even if it matches. */
        st = make_stat(S_IFREG | 0644, 65534, 1);
        ASSERT_EQ(trigger_classify(&st, SELF, &done), TRIGGER_FOREIGN_OWNER);
}

static void test_dir_classify(void) {
        static const struct {
                mode_t mode;
                uid_t uid;
                DirVerdict want;
        } cases[] = {
                { S_IFDIR | 0755, 0, DIR_TRUSTED },
                { S_IFDIR | 01777, 0, DIR_TRUSTED },    /* /tmp */
                { S_IFDIR | 0700, SELF, DIR_TRUSTED },
                { S_IFDIR | 0775, SELF, DIR_TRUSTED },
                { S_IFDIR | 0777, 0, DIR_OPEN_TO_ALL }, /* anyone may swap what is in it */
                { S_IFDIR | 01777, 65534, DIR_FOREIGN_OWNER },
                { S_IFDIR | 0755, 1000, DIR_FOREIGN_OWNER },
                { S_IFLNK | 0777, 0, DIR_SYMLINK },
                { S_IFLNK | 0777, 65534, DIR_SYMLINK },
                { S_IFREG | 0644, 0, DIR_NOT_DIRECTORY },
                { S_IFIFO | 0644, 65534, DIR_NOT_DIRECTORY },
                { S_IFSOCK | 0755, 0, DIR_NOT_DIRECTORY },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct stat st = make_stat(cases[i].mode, cases[i].uid, 1);

                ASSERT_EQ(trigger_dir_classify(&st, SELF), cases[i].want);
                ASSERT_TRUE(trigger_dir_reason(cases[i].want)[0] != 0);
        }
        ASSERT_EQ(trigger_dir_classify(NULL, SELF), DIR_UNREADABLE);
}

static void test_events(void) {
        static const struct {
                uint32_t mask;
                const char *name;
                bool ancestor;
                EventAction want;
        } cases[] = {
                { IN_CREATE, "trigger", false, EVENT_CHECK },
                { IN_MOVED_TO, "trigger", false, EVENT_CHECK },
                { IN_CLOSE_WRITE, "trigger", false, EVENT_CHECK },
                { IN_ATTRIB, "trigger", false, EVENT_CHECK },
                { IN_DELETE, "trigger", false, EVENT_CHECK },
                { IN_MOVED_FROM, "trigger", false, EVENT_CHECK },
                { IN_CREATE | IN_ISDIR, "trigger", false, EVENT_CHECK },
                { IN_CREATE, "other", false, EVENT_IGNORE },
                { IN_CLOSE_WRITE, "trigger.tmp", false, EVENT_IGNORE },
                { IN_ATTRIB, NULL, false, EVENT_IGNORE },
                { IN_DELETE_SELF, NULL, false, EVENT_REARM },
                { IN_MOVE_SELF, NULL, false, EVENT_REARM },
                { IN_IGNORED, NULL, false, EVENT_REARM },
                { IN_UNMOUNT, NULL, false, EVENT_REARM },
                { IN_Q_OVERFLOW, NULL, false, EVENT_CHECK },
                /* On an ancestor, waiting for the directory "trigger" names, or for a bad one there (a
                 * file, a link, another user's directory) to be put right. */
                { IN_CREATE | IN_ISDIR, "trigger", true, EVENT_REARM },
                { IN_MOVED_TO | IN_ISDIR, "trigger", true, EVENT_REARM },
                { IN_CREATE, "other", true, EVENT_IGNORE },
                { IN_ATTRIB, "trigger", true, EVENT_REARM },
                { IN_DELETE, "trigger", true, EVENT_REARM },
                { IN_MOVED_FROM, "trigger", true, EVENT_REARM },
                { IN_DELETE, "other", true, EVENT_IGNORE },
                { IN_DELETE_SELF, NULL, true, EVENT_REARM },
                { IN_Q_OVERFLOW, NULL, true, EVENT_REARM },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (trigger_event_action(cases[i].mask, cases[i].name, "trigger", cases[i].ancestor) !=
                    cases[i].want) {
                        fprintf(stderr, "event case %zu (mask 0x%x, '%s') wrong\n", i, cases[i].mask,
                                cases[i].name ? cases[i].name : "");
                        exit(1);
                }
        /* Every event the checks rely on is asked for. */
        ASSERT_EQ(trigger_watch_mask(false) & (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB),
                  IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB);
        ASSERT_TRUE(trigger_watch_mask(false) & IN_DELETE_SELF);
        ASSERT_TRUE(trigger_watch_mask(true) & IN_CREATE);
        ASSERT_TRUE(!(trigger_watch_mask(true) & IN_CLOSE_WRITE));
}

static void test_lock_names(void) {
        static const struct {
                const char *path, *want;
        } cases[] = {
                { "/tmp/postgresql.trigger.5432", "tmp-postgresql.trigger.5432.lock" },
                { "/tmp//postgresql.trigger.5432", "tmp-postgresql.trigger.5432.lock" },
                { "/var/tmp/a-b", "var-tmp-a\\x2db.lock" },
                { "/var/tmp-a/b", "var-tmp\\x2da-b.lock" },
                { "/tmp/.hidden", "tmp-\\x2ehidden.lock" },
                { "/tmp/sp ace", "tmp-sp\\x20ace.lock" },
                { "/x", "x.lock" },
        };
        char *a = NULL, *b = NULL, long_path[600];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *s = NULL;

                ASSERT_EQ(trigger_lock_name(cases[i].path, &s), 0);
                ASSERT_STREQ(s, cases[i].want);
                free(s);
        }
        /* Long paths: a name that fits NAME_MAX, different for different paths. */
        memset(long_path, 'a', sizeof(long_path) - 1);
        long_path[0] = '/';
        long_path[sizeof(long_path) - 1] = 0;
        ASSERT_EQ(trigger_lock_name(long_path, &a), 0);
        long_path[10] = 'b';
        ASSERT_EQ(trigger_lock_name(long_path, &b), 0);
        ASSERT_TRUE(strlen(a) < 255 && strlen(b) < 255);
        ASSERT_TRUE(strcmp(a, b) != 0);
        free(a);
        free(b);
}

static void test_split(void) {
        char *d = NULL, *n = NULL;

        ASSERT_EQ(trigger_split_path("/tmp/postgresql.trigger.5432", &d, &n), 0);
        ASSERT_STREQ(d, "/tmp");
        ASSERT_STREQ(n, "postgresql.trigger.5432");
        free(d);
        free(n);
        ASSERT_EQ(trigger_split_path("/trigger", &d, &n), 0);
        ASSERT_STREQ(d, "/");
        ASSERT_STREQ(n, "trigger");
        free(d);
        free(n);
        ASSERT_EQ(trigger_split_path("/a//b", &d, &n), 0);
        ASSERT_STREQ(d, "/a");
        free(d);
        free(n);
        ASSERT_EQ(trigger_split_path("/tmp/", &d, &n), -EINVAL);
        ASSERT_EQ(trigger_split_path("/tmp/..", &d, &n), -EINVAL);
}

static void test_record(void) {
        PromotionRecord r = {
                .time = 1700000123,
                .timeline = 2,
                .lsn = "0/3000148",
                .trigger_path = (char *) "/tmp/postgresql.trigger.5432",
                .trigger = { .dev = 64768, .ino = 4242, .ctime = { 1700000000, 5 } },
        }, back = {};
        char *text = record_format(&r);

        ASSERT_STREQ(text, "time=1700000123\ntimeline=2\nlsn=0/3000148\n"
                           "trigger_path=/tmp/postgresql.trigger.5432\ntrigger_dev=64768\ntrigger_ino=4242\n"
                           "trigger_ctime=1700000000.000000005\n");
        ASSERT_EQ(record_parse(text, &back), 0);
        ASSERT_EQ(back.time, r.time);
        ASSERT_EQ(back.timeline, 2);
        ASSERT_STREQ(back.lsn, "0/3000148");
        ASSERT_STREQ(back.trigger_path, r.trigger_path);
        ASSERT_TRUE(trigger_id_equal(&back.trigger, &r.trigger));
        record_done(&back);
        free(text);

        /* Unknown keys (a later version's) are fine; a missing or bad field is not. */
        ASSERT_EQ(record_parse("time=1\ntimeline=1\nlsn=0/0\ntrigger_dev=1\ntrigger_ino=2\n"
                               "trigger_ctime=3.000000004\nnew_key=x\n", &back), 0);
        ASSERT_EQ(back.trigger.ctime.tv_nsec, 4);
        record_done(&back);
        ASSERT_EQ(record_parse("time=1\ntimeline=1\nlsn=0/0\ntrigger_dev=1\ntrigger_ino=2\n", &back), -EBADMSG);
        ASSERT_EQ(record_parse("time=1\ntimeline=1\nlsn=nonsense\ntrigger_dev=1\ntrigger_ino=2\n"
                               "trigger_ctime=3.000000004\n", &back), -EBADMSG);
        ASSERT_EQ(record_parse("time=1\ntimeline=1\nlsn=0/0\ntrigger_dev=1\ntrigger_ino=2\n"
                               "trigger_ctime=3.4\n", &back), -EBADMSG);
        ASSERT_EQ(record_parse("time=-1\ntimeline=1\nlsn=0/0\ntrigger_dev=1\ntrigger_ino=2\n"
                               "trigger_ctime=3.000000004\n", &back), -EBADMSG);
        ASSERT_EQ(record_parse("garbage", &back), -EBADMSG);
        ASSERT_EQ(record_parse("", &back), -EBADMSG);
}

int main(void) {
        test_classify();
        test_classify_done();
        test_dir_classify();
        test_events();
        test_lock_names();
        test_split();
        test_record();
        return 0;
}
