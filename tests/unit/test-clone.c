/* SPDX-License-Identifier: MIT */
/*
 * The clone's side directory: where it goes, whatever the spelling of the
 * data directory, and which leftovers are removed (pgrepl's own interrupted
 * copy) or left alone (a file, a directory a server ran in).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "clone.h"
#include "fs.h"
#include "macro.h"
#include "util.h"

static void test_side_path(void) {
        char *p;

        p = clone_side_path("/var/lib/pgrepl/main/data");
        ASSERT_STREQ(p, "/var/lib/pgrepl/main/data.pgrepl-clone");
        free(p);
        /* Never inside the data directory, whatever the spelling. */
        p = clone_side_path("/srv/pg/data//");
        ASSERT_STREQ(p, "/srv/pg/data.pgrepl-clone");
        free(p);
}

static void test_leftovers(void) {
        char dir[] = "/tmp/pgrepl-test-clone-XXXXXX";
        _cleanup_free_ char *side = NULL, *base = NULL, *pid = NULL, *version = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        side = path_join(dir, "data.pgrepl-clone");
        base = path_join(side, "base");
        pid = path_join(side, "postmaster.pid");
        version = path_join(side, "PG_VERSION");

        /* Nothing there: nothing to do. */
        ASSERT_EQ(clone_remove_leftover(side), 0);
        /* An interrupted copy of ours goes. */
        ASSERT_EQ(fs_mkdir_p(base, 0700), 0);
        ASSERT_EQ(fs_write_atomic(version, "15\n", 0600), 0);
        ASSERT_EQ(clone_remove_leftover(side), 0);
        ASSERT_TRUE(!fs_exists(side));
        /* A directory a server ran in, or a file, stays. */
        ASSERT_EQ(fs_mkdir_p(side, 0700), 0);
        ASSERT_EQ(fs_write_atomic(pid, "12345\n", 0600), 0);
        ASSERT_EQ(clone_remove_leftover(side), -EEXIST);
        ASSERT_TRUE(fs_exists(pid));
        ASSERT_EQ(fs_remove_tree(side), 0);
        ASSERT_EQ(fs_write_atomic(side, "not a directory\n", 0600), 0);
        ASSERT_EQ(clone_remove_leftover(side), -EEXIST);
        ASSERT_TRUE(fs_exists(side));
        ASSERT_EQ(unlink(side), 0);
        ASSERT_EQ(rmdir(dir), 0);
}

int main(void) {
        test_side_path();
        test_leftovers();
        return 0;
}
