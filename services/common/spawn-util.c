/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "signals.h"
#include "spawn-util.h"
#include "util.h"

int spawn_env(char *const *extra, char ***ret) {
        static const char *const keep[] = { "LANG", "LC_ALL", "TZ", NULL };
        size_t n = 0, cap = 8 + strv_length(extra);
        char **env = calloc(cap, sizeof(char *));

        if (!env)
                return -ENOMEM;
        env[n++] = strdup(SPAWN_PATH);
        for (size_t i = 0; keep[i]; i++) {
                const char *v = getenv(keep[i]);

                if (v && asprintf(&env[n++], "%s=%s", keep[i], v) < 0)
                        env[n - 1] = NULL;
        }
        for (size_t i = 0; extra && extra[i]; i++)
                env[n++] = strdup(extra[i]);
        for (size_t i = 0; i < n; i++)
                if (!env[i]) {
                        for (size_t j = 0; j < n; j++)
                                free(env[j]);
                        free(env);
                        return -ENOMEM;
                }
        *ret = env;
        return 0;
}

/* Children start with the default signal mask and dispositions, whatever this process blocks
 * (signals.h) or ignores: pg_basebackup or initdb must stop on SIGINT like anywhere else. */
static int spawn_full(char *const *argv, char *const *envp, int stdout_fd, int stderr_fd, bool new_group,
                      pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, dfl;
        pid_t pid;
        int r;

        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        if (stdout_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
        if (stderr_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, stderr_fd, STDERR_FILENO);
        sigemptyset(&none);
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGINT);
        sigaddset(&dfl, SIGTERM);
        sigaddset(&dfl, SIGPIPE);
        (void) posix_spawnattr_setsigmask(&attr, &none);
        (void) posix_spawnattr_setsigdefault(&attr, &dfl);
        (void) posix_spawnattr_setpgroup(&attr, 0);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                       (new_group ? POSIX_SPAWN_SETPGROUP : 0));
        r = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}

int spawn_start(char *const *argv, char *const *envp, int stdout_fd, int stderr_fd, pid_t *ret_pid) {
        return spawn_full(argv, envp, stdout_fd, stderr_fd, false, ret_pid);
}

int spawn_wait(pid_t pid, int *ret_status) {
        int st;

        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(st))
                *ret_status = WEXITSTATUS(st);
        else
                *ret_status = 128 + WTERMSIG(st);
        return 0;
}

int spawn_run(char *const *argv, char *const *envp) {
        pid_t pid;
        int r, st;

        r = spawn_start(argv, envp, -1, -1, &pid);
        if (r < 0)
                return r;
        r = spawn_wait(pid, &st);
        return r < 0 ? r : st;
}

/* Start argv with one of its output fds (STDOUT_FILENO, STDERR_FILENO) on a pipe. */
static int spawn_piped(char *const *argv, char *const *envp, int which, bool new_group, pid_t *ret_pid,
                       int *ret_fd) {
        _cleanup_close_ int rfd = -1, wfd = -1;
        int fds[2], r;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0];
        wfd = fds[1];
        r = spawn_full(argv, envp, which == STDOUT_FILENO ? wfd : -1, which == STDERR_FILENO ? wfd : -1,
                       new_group, ret_pid);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(rfd);
        return 0;
}

int spawn_capture_start(char *const *argv, char *const *envp, pid_t *ret_pid, int *ret_fd) {
        return spawn_piped(argv, envp, STDOUT_FILENO, false, ret_pid, ret_fd);
}

int spawn_group_stderr(char *const *argv, char *const *envp, pid_t *ret_pid, int *ret_fd) {
        return spawn_piped(argv, envp, STDERR_FILENO, true, ret_pid, ret_fd);
}

int spawn_capture_finish(pid_t pid, int fd, char **ret) {
        _cleanup_close_ int rfd = fd;
        _cleanup_free_ char *out = malloc(65536);
        size_t n = 0;
        int r, st;

        for (;;) {
                char sink[4096];
                /* Past 64 KiB (or without memory) the rest is read and dropped: a child blocked on a
                 * full pipe would never exit, and we would wait for it for ever. */
                bool keep = out && n < 65535;
                ssize_t k = keep ? read(rfd, out + n, 65535 - n) : read(rfd, sink, sizeof(sink));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (keep)
                        n += (size_t) k;
        }
        r = spawn_wait(pid, &st);
        if (r < 0)
                return r;
        if (!out)
                return -ENOMEM;
        if (st != 0)
                return -EPROTO;
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

int spawn_capture(char *const *argv, char *const *envp, char **ret) {
        pid_t pid;
        int fd, r;

        r = spawn_capture_start(argv, envp, &pid, &fd);
        if (r < 0)
                return r;
        return spawn_capture_finish(pid, fd, ret);
}

/* Hand every complete line in buf[0..*n) to on_line and keep the rest. */
static int split_lines(char *buf, size_t *n, int (*on_line)(void *, char *), void *userdata) {
        char *nl;
        int r;

        buf[*n] = 0;
        while ((nl = strpbrk(buf, "\r\n"))) {
                *nl = 0;
                r = on_line(userdata, strstrip(buf));
                if (r < 0)
                        return r;
                *n -= (size_t) (nl + 1 - buf);
                memmove(buf, nl + 1, *n + 1);
        }
        return 0;
}

int spawn_follow_lines(int fd, int (*on_line)(void *userdata, char *line), int (*on_tick)(void *userdata),
                       void *userdata) {
        char buf[8192];
        size_t n = 0;
        int r;

        for (;;) {
                /* A stop request (signals.h; fd -1 when not blocked, which poll skips) cuts it short. */
                struct pollfd pfd[] = {
                        { .fd = fd, .events = POLLIN },
                        { .fd = signals_stop_fd(), .events = POLLIN },
                };
                ssize_t k;

                if (poll(pfd, ELEMENTSOF(pfd), 1000) < 0 && errno != EINTR)
                        return -errno;
                if (signals_stop_requested())
                        return -EINTR;
                r = on_tick ? on_tick(userdata) : 0;
                if (r < 0)
                        return r;
                if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                r = split_lines(buf, &n, on_line, userdata);
                if (r >= 0 && n >= sizeof(buf) - 1) {
                        r = on_line(userdata, strstrip(buf));
                        n = 0;
                }
                if (r < 0)
                        return r;
        }
        buf[n] = 0;
        return n > 0 ? on_line(userdata, strstrip(buf)) : 0;
}
