/* SPDX-License-Identifier: MIT */
/*
 * Children: posix_spawn with an argv array and an explicit, minimal
 * environment (PATH, LANG, and what the caller adds), never a shell. They
 * start with an empty signal mask and default dispositions, whatever this
 * process blocks. Nothing here logs: the caller says what failed.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* The PATH children get: the service's own PATH is not trusted to be sane. */
#define SPAWN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Build a minimal environment: PATH, LANG/LC_ALL if set, plus extra "K=V" strings. */
int spawn_env(char *const *extra, char ***ret);
/* Start argv[0] (an absolute path). stdout_fd/stderr_fd: -1 to inherit. */
int spawn_start(char *const *argv, char *const *envp, int stdout_fd, int stderr_fd, pid_t *ret_pid);
/* Wait for pid; ret_status gets the exit status, or 128+signal. */
int spawn_wait(pid_t pid, int *ret_status);
/* Start and wait; returns the exit status (>= 0) or a negative errno. */
int spawn_run(char *const *argv, char *const *envp);
/* Start argv with envp, its stdout on a pipe whose read end goes to *ret_fd. */
int spawn_capture_start(char *const *argv, char *const *envp, pid_t *ret_pid, int *ret_fd);
/* Start argv in a process group of its own (kill(-pid, ...) reaches whatever it forks), its stderr on a
 * pipe whose read end goes to *ret_fd. */
int spawn_group_stderr(char *const *argv, char *const *envp, pid_t *ret_pid, int *ret_fd);
/* Read the child's stdout (the first 64 KiB kept, the rest drained), reap it; -EPROTO when it did not
 * exit 0. */
int spawn_capture_finish(pid_t pid, int fd, char **ret);
/*
 * Read a child's output from fd until EOF, one line at a time ('\n' or '\r' ends one; a line
 * longer than 8 KiB is cut, not lost): on_line for each, on_tick at least once a second (for
 * STATUS= and timeouts). Either callback may return < 0 to stop reading with that value; a stop
 * request (signals.h) ends it with -EINTR.
 */
int spawn_follow_lines(int fd, int (*on_line)(void *userdata, char *line), int (*on_tick)(void *userdata),
                       void *userdata);
/* Both: run argv and return its stdout. */
int spawn_capture(char *const *argv, char *const *envp, char **ret);
