/* SPDX-License-Identifier: MIT */
/*
 * The trigger directory's watch (dirwatch.c) on a temporary directory with
 * real inotify: which events call for a look or a new watch, waiting on an
 * ancestor while the directory is missing, and the identity check that
 * notices a directory replaced or a link re-pointed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "dirwatch.h"

static char root[] = "/tmp/test-dirwatch-XXXXXX";

/* root/rel, in one of a few rotating buffers: long-lived paths are copied by the caller. */
static char *at(const char *rel) {
        static char bufs[4][512];
        static unsigned n;
        char *b = bufs[n++ % 4];

        snprintf(b, sizeof(bufs[0]), "%s/%s", root, rel);
        return b;
}

static void touch(const char *path) {
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        close(fd);
}

static void test_events_in_the_directory(void) {
        char dir[512];
        DirWatch d;
        struct stat st, want;
        int fd = -1;

        snprintf(dir, sizeof(dir), "%s", at("trig"));
        ASSERT_EQ(mkdir(dir, 0755), 0);
        ASSERT_EQ(dirwatch_init(&d, dir, "trigger"), 0);
        ASSERT_EQ(dirwatch_arm_dir(&d), 0);
        ASSERT_TRUE(!d.on_ancestor);
        ASSERT_STREQ(d.expect, "trigger");
        ASSERT_EQ(stat(dir, &want), 0);
        ASSERT_TRUE(d.dev == want.st_dev && d.ino == want.st_ino);

        /* Nothing yet; another name is no news. */
        ASSERT_EQ(dirwatch_dispatch(&d), 0);
        touch(at("trig/other"));
        ASSERT_EQ(dirwatch_dispatch(&d), 0);

        /* The trigger's creation calls for a look, and the look finds it in that very directory. */
        touch(at("trig/trigger"));
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);
        ASSERT_EQ(dirwatch_open(&d, &fd), 0);
        ASSERT_EQ(dirwatch_look(&d, fd, &st), 0);
        ASSERT_TRUE(S_ISREG(st.st_mode));
        ASSERT_EQ(dirwatch_remove(&d, fd), 0);
        ASSERT_EQ(dirwatch_look(&d, fd, &st), -ENOENT);
        ASSERT_EQ(dirwatch_remove(&d, fd), -ENOENT);
        close(fd);
        /* Its removal is a look too (STATUS= and a trigger not yet acted on). */
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);

        /* A link at the trigger path is looked at, not followed. */
        ASSERT_EQ(symlink("/etc/hostname", at("trig/trigger")), 0);
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);
        ASSERT_EQ(dirwatch_open(&d, &fd), 0);
        ASSERT_EQ(dirwatch_look(&d, fd, &st), 0);
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        close(fd);
        ASSERT_EQ(unlink(at("trig/trigger")), 0);
        ASSERT_EQ(unlink(at("trig/other")), 0);
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);

        /* The directory moved away: arm again; the path has no directory now. */
        ASSERT_EQ(rename(dir, at("trig.old")), 0);
        ASSERT_TRUE(dirwatch_dispatch(&d) & DIRWATCH_REARM);
        ASSERT_EQ(dirwatch_open(&d, &fd), DIRWATCH_GONE);

        /* Another directory in its place is not the watched one. */
        ASSERT_EQ(mkdir(dir, 0755), 0);
        ASSERT_EQ(dirwatch_open(&d, &fd), DIRWATCH_ELSEWHERE);
        ASSERT_EQ(dirwatch_arm_dir(&d), 0);
        ASSERT_EQ(dirwatch_open(&d, &fd), 0);
        close(fd);
        /* Events of the old directory's dropped watch are stale. */
        touch(at("trig.old/trigger"));
        ASSERT_EQ(dirwatch_dispatch(&d), 0);
        touch(at("trig/trigger"));
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);

        ASSERT_EQ(unlink(at("trig/trigger")), 0);
        ASSERT_EQ(unlink(at("trig.old/trigger")), 0);
        ASSERT_EQ(rmdir(at("trig.old")), 0);
        ASSERT_EQ(rmdir(dir), 0);
        ASSERT_TRUE(dirwatch_dispatch(&d) & DIRWATCH_REARM);
        dirwatch_done(&d);
        ASSERT_EQ(d.fd, -1);
}

static void test_missing_directory(void) {
        char dir[512];
        DirWatch d;
        int fd = -1;

        snprintf(dir, sizeof(dir), "%s", at("later/deeper"));
        ASSERT_EQ(dirwatch_init(&d, dir, "trigger"), 0);
        ASSERT_EQ(dirwatch_arm_dir(&d), -ENOENT);
        /* The nearest existing ancestor is the root; it waits for "later". */
        ASSERT_EQ(dirwatch_arm_ancestor(&d), 0);
        ASSERT_TRUE(d.on_ancestor);
        ASSERT_STREQ(d.expect, "later");

        /* Another name, or a file created with the trigger's name, is no news on an ancestor. */
        ASSERT_EQ(mkdir(at("unrelated"), 0755), 0);
        ASSERT_EQ(dirwatch_dispatch(&d), 0);
        touch(at("trigger"));
        ASSERT_EQ(dirwatch_dispatch(&d), 0);

        /* "later" appears: arm again, now one level down. */
        ASSERT_EQ(mkdir(at("later"), 0755), 0);
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_REARM);
        ASSERT_EQ(dirwatch_arm_dir(&d), -ENOENT);
        ASSERT_EQ(dirwatch_arm_ancestor(&d), 0);
        ASSERT_STREQ(d.expect, "deeper");

        /* "deeper" appeared before the watch was armed: the caller must arm again. */
        ASSERT_EQ(mkdir(dir, 0755), 0);
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_REARM);
        ASSERT_EQ(rmdir(dir), 0);
        ASSERT_EQ(dirwatch_arm_ancestor(&d), 0);
        ASSERT_EQ(mkdir(dir, 0755), 0);
        (void) dirwatch_dispatch(&d);
        ASSERT_EQ(dirwatch_arm_ancestor(&d), DIRWATCH_APPEARED);
        ASSERT_EQ(dirwatch_arm_dir(&d), 0);
        ASSERT_TRUE(!d.on_ancestor);
        ASSERT_STREQ(d.expect, "trigger");
        ASSERT_EQ(dirwatch_open(&d, &fd), 0);
        close(fd);

        /* A file where the directory should be: not a directory. */
        dirwatch_done(&d);
        snprintf(dir, sizeof(dir), "%s", at("trigger"));
        ASSERT_EQ(dirwatch_init(&d, dir, "x"), 0);
        ASSERT_EQ(dirwatch_arm_dir(&d), -ENOTDIR);
        ASSERT_EQ(dirwatch_open(&d, &fd), DIRWATCH_GONE);
        dirwatch_done(&d);

        ASSERT_EQ(unlink(at("trigger")), 0);
        ASSERT_EQ(rmdir(at("later/deeper")), 0);
        ASSERT_EQ(rmdir(at("later")), 0);
        ASSERT_EQ(rmdir(at("unrelated")), 0);
}

static void test_relinked_directory(void) {
        char link[512];
        DirWatch d;
        struct stat st;
        int fd = -1;

        snprintf(link, sizeof(link), "%s", at("link"));
        ASSERT_EQ(mkdir(at("a"), 0755), 0);
        ASSERT_EQ(mkdir(at("b"), 0755), 0);
        ASSERT_EQ(symlink(at("a"), link), 0);
        ASSERT_EQ(dirwatch_init(&d, link, "trigger"), 0);
        ASSERT_EQ(dirwatch_arm_dir(&d), 0);
        /* The watch is on the link's target. */
        touch(at("a/trigger"));
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);

        /* Re-pointed: the next look notices before it looks at anything in the new target. */
        ASSERT_EQ(unlink(link), 0);
        ASSERT_EQ(symlink(at("b"), link), 0);
        ASSERT_EQ(dirwatch_open(&d, &fd), DIRWATCH_ELSEWHERE);
        ASSERT_EQ(dirwatch_arm_dir(&d), 0);
        ASSERT_EQ(dirwatch_open(&d, &fd), 0);
        ASSERT_EQ(dirwatch_look(&d, fd, &st), -ENOENT);
        close(fd);
        touch(at("a/trigger2"));
        touch(at("b/trigger"));
        ASSERT_EQ(dirwatch_dispatch(&d), DIRWATCH_CHECK);
        dirwatch_done(&d);

        ASSERT_EQ(unlink(at("a/trigger")), 0);
        ASSERT_EQ(unlink(at("a/trigger2")), 0);
        ASSERT_EQ(unlink(at("b/trigger")), 0);
        ASSERT_EQ(unlink(link), 0);
        ASSERT_EQ(rmdir(at("a")), 0);
        ASSERT_EQ(rmdir(at("b")), 0);
}

int main(void) {
        /* The directory is watched through /proc/self/fd. */
        if (access("/proc/self/fd", F_OK) < 0)
                return 77;
        ASSERT_TRUE(mkdtemp(root) != NULL);
        test_events_in_the_directory();
        test_missing_directory();
        test_relinked_directory();
        ASSERT_EQ(rmdir(root), 0);
        return 0;
}
