/* SPDX-License-Identifier: MIT */
/*
 * Children: posix_spawn with an argv array and an explicit, minimal
 * environment (PATH, LANG, and what the caller adds), never a shell.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Build a minimal environment: PATH, LANG/LC_ALL if set, plus extra "K=V" strings. */
int spawn_env(char *const *extra, char ***ret);
/* Start argv[0] (an absolute path). stdout_fd/stderr_fd: -1 to inherit. */
int spawn_start(char *const *argv, char *const *envp, int stdout_fd, int stderr_fd, pid_t *ret_pid);
/* Wait for pid; ret_status gets the exit status, or 128+signal. */
int spawn_wait(pid_t pid, int *ret_status);
/* Start and wait; returns the exit status (>= 0) or a negative errno. */
int spawn_run(char *const *argv, char *const *envp);
