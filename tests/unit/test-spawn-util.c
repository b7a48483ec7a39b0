/* SPDX-License-Identifier: MIT */
/*
 * spawn-util.h with /bin/sh and /bin/echo as children: the minimal
 * environment (what is kept, what never reaches a child), exit statuses and
 * 128+signal, redirection of stderr, captured output and -EPROTO when the
 * child fails, the 64 KiB cap, and two captures running side by side.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "macro.h"
#include "spawn-util.h"

static void check_env(char **env, const char *const *expected) {
        size_t n = 0;

        while (expected[n]) {
                ASSERT_STREQ(env[n], expected[n]);
                n++;
        }
        ASSERT_TRUE(env[n] == NULL);
}

static void test_env(void) {
        char **env = NULL;

        setenv("PATH", "/home/evil/bin:/usr/bin", 1);
        setenv("HOME", "/root", 1);
        setenv("PGPASSWORD", "secret", 1);
        setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
        setenv("POSTGRESQL_PASSWORD", "secret", 1);
        setenv("LD_PRELOAD", "/tmp/x.so", 1);
        unsetenv("LANG");
        unsetenv("LC_ALL");
        unsetenv("TZ");

        /* Only the fixed PATH, whatever the service's own PATH. */
        ASSERT_EQ(spawn_env(NULL, &env), 0);
        check_env(env, (const char *const[]) { SPAWN_PATH, NULL });
        strv_freep(&env);

        /* LANG, LC_ALL and TZ pass when set, in that order, then the caller's extras. */
        setenv("LANG", "C.UTF-8", 1);
        setenv("LC_ALL", "de_DE.UTF-8", 1);
        setenv("TZ", "Europe/Berlin", 1);
        {
                char *extra[] = { "PGPASSFILE=/run/pgrepl/main/passfile", "PGAPPNAME=x", NULL };

                ASSERT_EQ(spawn_env(extra, &env), 0);
                check_env(env, (const char *const[]) { SPAWN_PATH, "LANG=C.UTF-8", "LC_ALL=de_DE.UTF-8",
                                                       "TZ=Europe/Berlin", "PGPASSFILE=/run/pgrepl/main/passfile",
                                                       "PGAPPNAME=x", NULL });
                ASSERT_TRUE(env[4] != extra[0]); /* copies, freed with the list */
                strv_freep(&env);
        }
        unsetenv("LC_ALL");
        {
                char *extra[] = { NULL };

                ASSERT_EQ(spawn_env(extra, &env), 0);
                check_env(env, (const char *const[]) { SPAWN_PATH, "LANG=C.UTF-8", "TZ=Europe/Berlin", NULL });
                strv_freep(&env);
        }

        /* What a child really gets: none of the service's other variables. */
        {
                char *extra[] = { "FOO=bar", NULL };
                char *argv[] = { "/bin/sh", "-c", "env | LC_ALL=C sort", NULL };
                char *out = NULL;

                ASSERT_EQ(spawn_env(extra, &env), 0);
                ASSERT_EQ(spawn_capture(argv, env, &out), 0);
                ASSERT_CONTAINS(out, SPAWN_PATH "\n");
                ASSERT_CONTAINS(out, "FOO=bar\n");
                ASSERT_CONTAINS(out, "LANG=C.UTF-8\n");
                ASSERT_TRUE(!strstr(out, "PGPASSWORD"));
                ASSERT_TRUE(!strstr(out, "POSTGRESQL_PASSWORD"));
                ASSERT_TRUE(!strstr(out, "NOTIFY_SOCKET"));
                ASSERT_TRUE(!strstr(out, "HOME="));
                ASSERT_TRUE(!strstr(out, "LD_PRELOAD"));
                ASSERT_TRUE(!strstr(out, "evil"));
                free(out);
                strv_freep(&env);
        }
        unsetenv("PGPASSWORD");
        unsetenv("POSTGRESQL_PASSWORD");
        unsetenv("LD_PRELOAD");
        unsetenv("NOTIFY_SOCKET");
}

static char *const no_env[] = { SPAWN_PATH, NULL };

static void test_run(void) {
        static const struct {
                const char *script;
                int status;
        } cases[] = {
                { "exit 0", 0 },
                { "exit 3", 3 },
                { "exit 255", 255 },
                { "kill -TERM $$", 128 + SIGTERM },
                { "kill -KILL $$", 128 + SIGKILL },
                { "test \"$FOO\" = bar", 0 }, /* envp is what the child gets */
                { "test -z \"$PGREPL_TEST_SECRET\"", 0 },
        };
        char *env[] = { SPAWN_PATH, "FOO=bar", NULL };

        setenv("PGREPL_TEST_SECRET", "x", 1);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *argv[] = { "/bin/sh", "-c", (char *) cases[i].script, NULL };

                if (spawn_run(argv, env) != cases[i].status)
                        fprintf(stderr, "'%s' gave %d\n", cases[i].script, spawn_run(argv, env));
                ASSERT_EQ(spawn_run(argv, env), cases[i].status);
        }
        unsetenv("PGREPL_TEST_SECRET");

        /* A child that cannot be started is an errno, not an exit status. */
        {
                char *argv[] = { "/nonexistent/pgrepl-test", NULL };

                ASSERT_EQ(spawn_run(argv, no_env), -ENOENT);
        }
        {
                char path[] = "/tmp/pgrepl-test-spawn.XXXXXX";
                int fd = mkostemp(path, O_CLOEXEC);
                char *argv[] = { path, NULL };

                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
                close(fd);
                ASSERT_EQ(chmod(path, 0644), 0);
                ASSERT_EQ(spawn_run(argv, no_env), -EACCES);
                ASSERT_EQ(chmod(path, 0755), 0);
                ASSERT_EQ(spawn_run(argv, no_env), 0);
                ASSERT_EQ(unlink(path), 0);
        }
        /* argv[0] is a path: no PATH search. */
        {
                char *argv[] = { "sh", "-c", "exit 0", NULL };

                ASSERT_TRUE(spawn_run(argv, no_env) < 0);
        }
}

static void test_start_redirect(void) {
        char path[] = "/tmp/pgrepl-test-spawn.XXXXXX";
        char buf[64] = "";
        int fd = mkostemp(path, O_CLOEXEC), st = -1;
        char *argv[] = { "/bin/sh", "-c", "echo to-stderr >&2; echo to-stdout; exit 7", NULL };
        pid_t pid = 0;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(spawn_start(argv, no_env, fd, fd, &pid), 0);
        ASSERT_TRUE(pid > 0);
        ASSERT_EQ(spawn_wait(pid, &st), 0);
        ASSERT_EQ(st, 7);
        ASSERT_EQ(pread(fd, buf, sizeof(buf) - 1, 0), (ssize_t) strlen("to-stderr\nto-stdout\n"));
        ASSERT_STREQ(buf, "to-stderr\nto-stdout\n");
        close(fd);

        /* Reaped: waiting again is an error. */
        ASSERT_EQ(spawn_wait(pid, &st), -ECHILD);
}

static void test_capture(void) {
        char *out = NULL;

        {
                char *argv[] = { "/bin/sh", "-c", "printf 'a\\nb c'", NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), 0);
                ASSERT_STREQ(out, "a\nb c");
                free(out);
        }
        {
                char *argv[] = { "/bin/echo", "15.4", NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), 0);
                ASSERT_STREQ(out, "15.4\n");
                free(out);
        }
        {
                char *argv[] = { "/bin/sh", "-c", "true", NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), 0);
                ASSERT_STREQ(out, "");
                free(out);
        }
        /* Only stdout is captured. */
        {
                char *argv[] = { "/bin/sh", "-c", "echo err >&2; echo out", NULL };
                int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

                ASSERT_TRUE(saved >= 0 && devnull >= 0);
                ASSERT_TRUE(dup2(devnull, STDERR_FILENO) == STDERR_FILENO);
                ASSERT_EQ(spawn_capture(argv, no_env, &out), 0);
                ASSERT_TRUE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
                close(saved);
                close(devnull);
                ASSERT_STREQ(out, "out\n");
                free(out);
        }
        /* A failing child: -EPROTO whatever it printed, and *ret left alone. */
        {
                char *argv[] = { "/bin/sh", "-c", "printf partial; exit 2", NULL };

                out = (char *) "untouched";
                ASSERT_EQ(spawn_capture(argv, no_env, &out), -EPROTO);
                ASSERT_STREQ(out, "untouched");
        }
        {
                char *argv[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), -EPROTO);
        }
        {
                char *argv[] = { "/nonexistent/pgrepl-test", NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), -ENOENT);
                ASSERT_STREQ(out, "untouched");
        }
        /* At most 64 KiB (less one byte, for the NUL) is kept. 70000 bytes: the rest fits in the pipe,
         * so the child can finish. */
        {
                char *argv[] = { "/bin/sh", "-c", "i=0; while [ $i -lt 7000 ]; do printf 123456789.; i=$((i+1)); done",
                                 NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), 0);
                ASSERT_EQ(strlen(out), 65535);
                ASSERT_TRUE(strncmp(out, "123456789.123456789.", 20) == 0);
                free(out);
        }
        /* Far more than the pipe holds (300 kB): the rest is drained, so the child exits and the call
         * returns (it used to wait for ever on a child blocked writing). */
        {
                char *argv[] = { "/bin/sh", "-c", "i=0; while [ $i -lt 30000 ]; do printf 123456789.; i=$((i+1)); done",
                                 NULL };

                ASSERT_EQ(spawn_capture(argv, no_env, &out), 0);
                ASSERT_EQ(strlen(out), 65535);
                free(out);
        }
}

static void test_capture_parallel(void) {
        char *a[] = { "/bin/sh", "-c", "sleep 0.2; echo first", NULL };
        char *b[] = { "/bin/sh", "-c", "echo second; exit 1", NULL };
        pid_t pa, pb;
        int fa, fb;
        char *out = NULL;

        ASSERT_EQ(spawn_capture_start(a, no_env, &pa, &fa), 0);
        ASSERT_EQ(spawn_capture_start(b, no_env, &pb, &fb), 0);
        ASSERT_TRUE(fa >= 0 && fb >= 0 && fa != fb);
        ASSERT_TRUE(fcntl(fa, F_GETFD) & FD_CLOEXEC);

        ASSERT_EQ(spawn_capture_finish(pb, fb, &out), -EPROTO);
        ASSERT_EQ(spawn_capture_finish(pa, fa, &out), 0);
        ASSERT_STREQ(out, "first\n");
        free(out);
        /* finish closes the read end in both cases */
        ASSERT_EQ(fcntl(fa, F_GETFD), -1);
        ASSERT_EQ(fcntl(fb, F_GETFD), -1);
}

int main(void) {
        test_env();
        test_run();
        test_start_redirect();
        test_capture();
        test_capture_parallel();
        printf("test-spawn-util: ok\n");
        return 0;
}
