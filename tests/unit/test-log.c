/* SPDX-License-Identifier: MIT */
/*
 * log.h, reading what arrives on fd 2 (redirected to a temporary file): the
 * sd-daemon priority prefix, the level filter and PGREPL_LOG_LEVEL (in
 * children, since it is read once), one line per message whatever a value
 * smuggles in, "%m" from the error code, the return value, and errno left
 * as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "assert.h"
#include "log.h"
#include "macro.h"

static int saved_fd = -1, tmp_fd = -1;

static void capture_begin(void) {
        char name[] = "/tmp/pgrepl-test-log.XXXXXX";

        fflush(stderr);
        tmp_fd = mkostemp(name, O_CLOEXEC);
        ASSERT_TRUE(tmp_fd >= 0);
        ASSERT_EQ(unlink(name), 0);
        saved_fd = dup(STDERR_FILENO);
        ASSERT_TRUE(saved_fd >= 0);
        ASSERT_TRUE(dup2(tmp_fd, STDERR_FILENO) == STDERR_FILENO);
}

/* Everything written to stderr since capture_begin(). */
static char *capture_end(void) {
        char *s = calloc(1, 16384);
        ssize_t n;

        fflush(stderr);
        ASSERT_TRUE(dup2(saved_fd, STDERR_FILENO) == STDERR_FILENO);
        close(saved_fd);
        ASSERT_TRUE(s);
        n = pread(tmp_fd, s, 16383, 0);
        ASSERT_TRUE(n >= 0);
        close(tmp_fd);
        return s;
}

/* The level a fresh process picks with PGREPL_LOG_LEVEL=value (NULL: unset). */
static int level_in_child(const char *value) {
        pid_t pid = fork();
        int st;

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (value)
                        setenv("PGREPL_LOG_LEVEL", value, 1);
                else
                        unsetenv("PGREPL_LOG_LEVEL");
                _exit(log_get_max_level());
        }
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st));
        return WEXITSTATUS(st);
}

static void test_env_level(void) {
        ASSERT_EQ(level_in_child(NULL), LOG_INFO);
        ASSERT_EQ(level_in_child("debug"), LOG_DEBUG);
        ASSERT_EQ(level_in_child("7"), LOG_DEBUG);
        ASSERT_EQ(level_in_child("info"), LOG_INFO);
        ASSERT_EQ(level_in_child(""), LOG_INFO);
        ASSERT_EQ(level_in_child("DEBUGGING"), LOG_INFO);
}

static void test_prefixes(void) {
        char *s;

        log_set_max_level(LOG_INFO);
        capture_begin();
        log_error("error '%s'", "x");
        log_warning("warning %d", 4);
        log_notice("notice");
        log_info("info");
        log_debug("debug, not shown at info");
        (void) log_full_errno(LOG_NOTICE, 0, "full");
        s = capture_end();
        ASSERT_STREQ(s, "<3>error 'x'\n<4>warning 4\n<5>notice\n<6>info\n<5>full\n");
        free(s);

        log_set_max_level(LOG_DEBUG);
        ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
        capture_begin();
        log_debug("debug %s", "shown");
        s = capture_end();
        ASSERT_STREQ(s, "<7>debug shown\n");
        free(s);

        log_set_max_level(LOG_WARNING);
        capture_begin();
        log_info("hidden");
        log_notice("hidden");
        log_warning("kept");
        log_error("kept too");
        s = capture_end();
        ASSERT_STREQ(s, "<4>kept\n<3>kept too\n");
        free(s);
        log_set_max_level(LOG_INFO);
}

static void test_one_line(void) {
        char *s, *big = malloc(5001);

        capture_begin();
        log_error("value '%s' then", "evil\n<0>forged\rline");
        s = capture_end();
        ASSERT_STREQ(s, "<3>value 'evil <0>forged line' then\n");
        free(s);

        /* A long message is cut, still one line. */
        ASSERT_TRUE(big);
        memset(big, 'y', 5000);
        big[5000] = 0;
        capture_begin();
        log_info("%s", big);
        s = capture_end();
        ASSERT_TRUE(strncmp(s, "<6>yyyy", 7) == 0);
        ASSERT_TRUE(strchr(s, '\n') == s + strlen(s) - 1);
        ASSERT_TRUE(strlen(s) > 1000 && strlen(s) < 5000);
        free(s);
        free(big);
}

static void test_errno(void) {
        char expected[256];
        char *s;
        int r;

        snprintf(expected, sizeof(expected), "<3>Failed to open 'f': %s\n<4>warn: %s\n", strerror(ENOENT),
                 strerror(EACCES));
        errno = EBUSY;
        capture_begin();
        r = log_error_errno(-ENOENT, "Failed to open '%s': %m", "f");
        ASSERT_EQ(r, -ENOENT);
        ASSERT_EQ(errno, EBUSY); /* %m did not leak into the caller's errno */
        r = log_warning_errno(EACCES, "warn: %m"); /* a positive errno is accepted too */
        ASSERT_EQ(r, -EACCES);
        s = capture_end();
        ASSERT_STREQ(s, expected);
        free(s);

        /* Below the level: nothing printed, the code still returned, errno still kept. */
        errno = EBUSY;
        capture_begin();
        r = log_debug_errno(-EIO, "not shown: %m");
        s = capture_end();
        ASSERT_EQ(r, -EIO);
        ASSERT_EQ(errno, EBUSY);
        ASSERT_STREQ(s, "");
        free(s);

        capture_begin();
        r = log_oom();
        s = capture_end();
        ASSERT_EQ(r, -ENOMEM);
        ASSERT_STREQ(s, "<3>Out of memory.\n");
        free(s);

        capture_begin();
        r = log_internal(LOG_ERR, 0, "%s", "no error");
        s = capture_end();
        ASSERT_EQ(r, 0);
        ASSERT_STREQ(s, "<3>no error\n");
        free(s);
}

int main(void) {
        test_env_level(); /* first: the level is read from the environment once per process */
        test_prefixes();
        test_one_line();
        test_errno();
        printf("test-log: ok\n");
        return 0;
}
