/* SPDX-License-Identifier: MIT */
/*
 * secrets.h: where the loader looks for a staged copy of a *_FILE secret.
 * $RUNTIME_DIRECTORY unset, empty, a single directory and systemd's
 * ':'-separated list (the first is ours); a copy that is not there is NULL.
 * Staging itself needs root and is left to the integration tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "fs.h"
#include "secrets.h"

static char tmpdir[] = "/tmp/pgrepl-test-secrets.XXXXXX";

static void touch(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ASSERT_TRUE(fd >= 0);
        close(fd);
}

int main(void) {
        char secrets[512], staged[600], other[512], env[1100];
        char *p;

        ASSERT_TRUE(mkdtemp(tmpdir));
        snprintf(secrets, sizeof(secrets), "%s/secrets", tmpdir);
        snprintf(staged, sizeof(staged), "%s/POSTGRESQL_PASSWORD_FILE", secrets);
        snprintf(other, sizeof(other), "%s/other", tmpdir);
        ASSERT_EQ(mkdir(secrets, 0700), 0);
        touch(staged);

        /* No runtime directory: nothing was staged. */
        unsetenv("RUNTIME_DIRECTORY");
        ASSERT_TRUE(secrets_staged_path("POSTGRESQL_PASSWORD_FILE") == NULL);
        setenv("RUNTIME_DIRECTORY", "", 1);
        ASSERT_TRUE(secrets_staged_path("POSTGRESQL_PASSWORD_FILE") == NULL);

        /* The copy is $RUNTIME_DIRECTORY/secrets/NAME_FILE, when it is there. */
        setenv("RUNTIME_DIRECTORY", tmpdir, 1);
        p = secrets_staged_path("POSTGRESQL_PASSWORD_FILE");
        ASSERT_STREQ(p, staged);
        free(p);
        ASSERT_TRUE(secrets_staged_path("POSTGRESQL_REPLICATION_PASSWORD_FILE") == NULL);

        /* systemd joins several RuntimeDirectory= with ':'; the first is the instance's own. */
        snprintf(env, sizeof(env), "%s:%s", tmpdir, other);
        setenv("RUNTIME_DIRECTORY", env, 1);
        p = secrets_staged_path("POSTGRESQL_PASSWORD_FILE");
        ASSERT_STREQ(p, staged);
        free(p);

        /* Only the first: a copy in a later directory is not ours. */
        snprintf(env, sizeof(env), "%s:%s", other, tmpdir);
        setenv("RUNTIME_DIRECTORY", env, 1);
        ASSERT_TRUE(secrets_staged_path("POSTGRESQL_PASSWORD_FILE") == NULL);

        /* Gone (the unit stopped): NULL again. */
        setenv("RUNTIME_DIRECTORY", tmpdir, 1);
        ASSERT_EQ(unlink(staged), 0);
        ASSERT_TRUE(secrets_staged_path("POSTGRESQL_PASSWORD_FILE") == NULL);

        unsetenv("RUNTIME_DIRECTORY");
        ASSERT_EQ(fs_remove_tree(tmpdir), 0);
        printf("test-secrets: ok\n");
        return 0;
}
