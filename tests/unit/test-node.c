/* SPDX-License-Identifier: MIT */
/*
 * node_inspect_datadir(): what a data directory is (empty, primary,
 * standby, an interrupted promotion), where a symbolic link leads, and a
 * table of what each unit refuses as configuration (-PGREPL_E_CONFIG).
 * Needs the PostgreSQL 15 server (exit 77 without it). The server's major
 * comes from `postgres --version` when its path does not say it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assert.h"
#include "config.h"
#include "errors.h"
#include "fs.h"
#include "macro.h"
#include "node.h"
#include "pg.h"
#include "util.h"

#define PG15 "/usr/lib/postgresql/15/bin"

static char root[] = "/tmp/pgrepl-test-node-XXXXXX";

static char *at(const char *name) {
        char *p = path_join(root, name);

        ASSERT_TRUE(p);
        return p;
}

static void put(const char *name, const char *content) {
        _cleanup_free_ char *p = at(name), *dir = path_parent(p);

        ASSERT_EQ(fs_mkdir_p(dir, 0700), 0);
        ASSERT_EQ(fs_write_atomic(p, content, 0700), 0);
}

/* Inspect datadir (below root) as role, with bindir; the result's kind, or the error. */
static int inspect(Role role, const char *datadir, const char *bindir, DataDir *ret) {
        _cleanup_free_ char *d = at(datadir), *dv = NULL, *bv = NULL;
        char *env[] = { "POSTGRESQL_MASTER_HOST=h", "POSTGRESQL_REPLICATION_USER=r",
                        "POSTGRESQL_REPLICATION_PASSWORD=p", "POSTGRESQL_PASSWORD=p", NULL, NULL, NULL };
        _cleanup_(config_freep) Config *c = NULL;
        DataDir dd = {};
        int r;

        ASSERT_TRUE(asprintf(&dv, "POSTGRESQL_DATA_DIR=%s", d) > 0);
        ASSERT_TRUE(asprintf(&bv, "POSTGRESQL_BIN_DIR=%s", bindir) > 0);
        env[4] = dv;
        env[5] = bv;
        ASSERT_EQ(config_load(role, "main", NULL, env, &c), 0);
        r = node_inspect_datadir(c, &dd);
        if (r < 0)
                return r;
        r = (int) dd.kind;
        if (ret)
                *ret = dd;
        else
                node_datadir_done(&dd);
        return r;
}

static void test_kinds(void) {
        _cleanup_free_ char *real = at("real"), *link = at("link");
        DataDir d = {};

        ASSERT_EQ(inspect(ROLE_PRIMARY, "absent", PG15, NULL), DATADIR_EMPTY);
        ASSERT_EQ(mkdir(real, 0700), 0);
        ASSERT_EQ(inspect(ROLE_STANDBY, "real", PG15, NULL), DATADIR_EMPTY);
        put("real/PG_VERSION", "15\n");
        put("real/global/pg_control", "");
        ASSERT_EQ(inspect(ROLE_PRIMARY, "real", PG15, &d), DATADIR_PRIMARY);
        ASSERT_EQ(d.major, 15);
        ASSERT_EQ(d.server_major, 15);
        ASSERT_STREQ(d.bindir, PG15);
        node_datadir_done(&d);
        /* A link is worked on where it leads. */
        ASSERT_EQ(symlink(real, link), 0);
        ASSERT_EQ(inspect(ROLE_STANDBY, "link/", PG15, &d), DATADIR_PRIMARY);
        ASSERT_STREQ(d.path, real);
        node_datadir_done(&d);
        put("real/standby.signal", "");
        ASSERT_EQ(inspect(ROLE_STANDBY, "real", PG15, NULL), DATADIR_STANDBY);
        /* A promotion recorded after standby.signal was written: an interrupted promotion. (Set the
         * record a second later: two writes may share a coarse timestamp.) */
        put("state/promotion", "recorded\n");
        {
                _cleanup_free_ char *rec = at("state/promotion");
                struct timespec later[2];

                ASSERT_EQ(clock_gettime(CLOCK_REALTIME, &later[0]), 0);
                later[0].tv_sec += 1;
                later[1] = later[0];
                ASSERT_EQ(utimensat(AT_FDCWD, rec, later, 0), 0);
        }
        ASSERT_EQ(inspect(ROLE_STANDBY, "real", PG15, NULL), DATADIR_INTERRUPTED);
        ASSERT_STREQ(node_datadir_kind_to_string(DATADIR_INTERRUPTED), "standby, promotion interrupted");
}

static void test_server_major_from_the_server(void) {
        DataDir d = {};

        /* A path that does not carry the major, as Fedora's /usr/bin: the server says it. */
        put("usrbin/postgres", "#!/bin/sh\necho 'postgres (PostgreSQL) 14.11'\n");
        put("v15/PG_VERSION", "15\n");
        put("v15/global/pg_control", "");
        ASSERT_EQ(inspect(ROLE_PRIMARY, "v15", "/nonexistent", NULL), -PGREPL_E_CONFIG);
        {
                _cleanup_free_ char *bin = at("usrbin");
                unsigned v = 0;

                ASSERT_EQ(pg_bin_version(bin, &v), 0);
                ASSERT_EQ(v, 14);
                ASSERT_EQ(inspect(ROLE_PRIMARY, "v15", bin, NULL), -PGREPL_E_CONFIG);
                put("v14/PG_VERSION", "14\n");
                put("v14/global/pg_control", "");
                ASSERT_EQ(inspect(ROLE_PRIMARY, "v14", bin, &d), DATADIR_PRIMARY);
                ASSERT_EQ(d.server_major, 14);
                node_datadir_done(&d);
        }
}

static void test_refused(void) {
        static const struct {
                Role role;
                const char *dir;
        } refused[] = {
                { ROLE_PRIMARY, "foreign" },     /* not empty, no cluster */
                { ROLE_STANDBY, "partial" },     /* PG_VERSION without global/pg_control */
                { ROLE_PRIMARY, "v14" },         /* another major than the server's */
                { ROLE_PRIMARY, "real" },        /* a standby's directory, to the primary */
                { ROLE_STANDBY, "dangling" },    /* a link that leads nowhere */
                { ROLE_PRIMARY, "to-root" },     /* a link to '/' */
                { ROLE_STANDBY, "file" },        /* not a directory */
        };
        _cleanup_free_ char *dangling = at("dangling"), *to_root = at("to-root"), *foreign = at("foreign");

        put("foreign/precious.txt", "mine\n");
        put("partial/PG_VERSION", "15\n");
        put("file", "not a directory\n");
        ASSERT_EQ(symlink("/nonexistent/data", dangling), 0);
        ASSERT_EQ(symlink("/", to_root), 0);
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                int r = inspect(refused[i].role, refused[i].dir, PG15, NULL);

                if (r != -PGREPL_E_CONFIG) {
                        fprintf(stderr, "%s as role %d: %d, expected a refusal\n", refused[i].dir, refused[i].role, r);
                        exit(1);
                }
        }
        /* Read-only: nothing was created or removed. */
        ASSERT_TRUE(fs_exists(dangling) && !fs_exists("/nonexistent/data"));
        ASSERT_EQ(fs_dir_is_empty(foreign), 0);
}

int main(void) {
        if (access(PG15 "/postgres", X_OK) < 0)
                return 77;
        ASSERT_TRUE(mkdtemp(root));
        {
                _cleanup_free_ char *state = at("state");

                setenv("STATE_DIRECTORY", state, 1);
        }
        test_kinds();
        test_server_major_from_the_server();
        test_refused();
        ASSERT_EQ(fs_remove_tree(root), 0);
        return 0;
}
