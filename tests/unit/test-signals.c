/* SPDX-License-Identifier: MIT */
/*
 * Stop requests read from a signalfd: a sleep ends at once on SIGTERM, the
 * first request is the one remembered, children start unblocked, and a
 * process can still end by the signal's default action.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assert.h"
#include "signals.h"
#include "spawn-util.h"
#include "util.h"

static void test_plain_sleep(void) {
        uint64_t t0 = now_usec();

        ASSERT_EQ(signals_stop_fd(), -1);
        ASSERT_EQ(signals_sleep(20000), 0);
        ASSERT_TRUE(now_usec() - t0 >= 20000);
        ASSERT_EQ(signals_stop_requested(), 0);
}

static void test_stop_cuts_a_sleep_short(void) {
        uint64_t t0;

        ASSERT_EQ(signals_block_stop(), 0);
        ASSERT_EQ(signals_block_stop(), 0);
        ASSERT_TRUE(signals_stop_fd() >= 0);
        ASSERT_EQ(signals_stop_requested(), 0);
        ASSERT_EQ(kill(getpid(), SIGTERM), 0);
        t0 = now_usec();
        ASSERT_EQ(signals_sleep(10 * 1000000ULL), -EINTR);
        ASSERT_TRUE(now_usec() - t0 < 2000000ULL);
        /* The first request is the one that counts. */
        ASSERT_EQ(kill(getpid(), SIGINT), 0);
        ASSERT_EQ(signals_stop_requested(), SIGTERM);
}

static void test_children_start_unblocked(void) {
        char *argv[] = { "/bin/grep", "^SigBlk:", "/proc/self/status", NULL };
        char *envp[] = { SPAWN_PATH, NULL };
        char *out = NULL;

        ASSERT_TRUE(signals_stop_fd() >= 0);
        ASSERT_EQ(spawn_capture(argv, envp, &out), 0);
        ASSERT_STREQ(out, "SigBlk:\t0000000000000000\n");
        free(out);
}

static void test_exit_by_the_signal(void) {
        int st = 0;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* Blocked, read, then unblocked: the process still dies of it. */
                if (signals_stop_requested() != SIGTERM)
                        _exit(1);
                signals_exit_by(SIGTERM);
        }
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        ASSERT_EQ(signals_unblock_stop(), 0);
        ASSERT_EQ(signals_stop_fd(), -1);
}

int main(void) {
        test_plain_sleep();
        test_stop_cuts_a_sleep_short();
        test_children_start_unblocked();
        test_exit_by_the_signal();
        return 0;
}
