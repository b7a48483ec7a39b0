/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clone.h"
#include "fs.h"
#include "log.h"
#include "notify.h"
#include "pg.h"
#include "spawn-util.h"
#include "util.h"

int clone_parse_progress(const char *line, uint64_t *ret_done_kb, uint64_t *ret_total_kb, unsigned *ret_percent) {
        unsigned long long done, total;
        unsigned pct;
        const char *p;
        char *end;

        /* "%*s/%s kB (%d%%), ..." with the first number padded; only the numbers are read, so a
         * translated unit or suffix does not matter. */
        p = line + strspn(line, " ");
        if (*p < '0' || *p > '9')
                return -EINVAL;
        done = strtoull(p, &end, 10);
        if (*end != '/' || end[1] < '0' || end[1] > '9')
                return -EINVAL;
        total = strtoull(end + 1, &end, 10);
        p = strchr(end, '(');
        if (!p || p[1] < '0' || p[1] > '9')
                return -EINVAL;
        pct = (unsigned) strtoul(p + 1, &end, 10);
        if (*end != '%' || pct > 100)
                return -EINVAL;
        *ret_done_kb = done;
        *ret_total_kb = total;
        *ret_percent = pct;
        return 0;
}

int clone_phase_of(const char *line) {
        /* pg_basebackup --verbose runs with LC_ALL=C, so these are stable. */
        if (strstr(line, "waiting for checkpoint"))
                return CLONE_STARTING;
        if (strstr(line, "checkpoint completed"))
                return CLONE_COPYING;
        if (strstr(line, "write-ahead log end point") || strstr(line, "syncing data to disk"))
                return CLONE_FINISHING;
        return -1;
}

bool clone_extend_allowed(ClonePhase phase, uint64_t last_usec, uint64_t now) {
        uint64_t grace = phase == CLONE_COPYING ? CLONE_GRACE_COPY_USEC : CLONE_GRACE_PHASE_USEC;

        return now < last_usec + grace;
}

void clone_format_status(char *buf, size_t n, const char *display, uint64_t done_kb, uint64_t total_kb,
                         unsigned percent) {
        snprintf(buf, n, "cloning from '%s': %llu/%llu MB, %u%%", display, (unsigned long long) (done_kb / 1024),
                 (unsigned long long) (total_kb / 1024), percent);
}

char *clone_side_path(const char *datadir) {
        size_t n = strlen(datadir);
        char *p = NULL;

        while (n > 1 && datadir[n - 1] == '/')
                n--;
        if (asprintf(&p, "%.*s.pgrepl-clone", (int) n, datadir) < 0)
                return NULL;
        return p;
}

typedef struct Progress {
        const Upstream *u;
        ClonePhase phase;
        uint64_t done_kb, total_kb, last_advance, last_status;
        unsigned percent;
        char *error; /* last error line of pg_basebackup */
} Progress;

static void progress_status(Progress *p, bool force) {
        uint64_t now = now_usec();
        char buf[512];

        if (!force && now < p->last_status + UPSTREAM_STATUS_EVERY_S * 1000000ULL)
                return;
        if (p->phase == CLONE_STARTING)
                snprintf(buf, sizeof(buf), "cloning from '%s': waiting for the primary's checkpoint", p->u->display);
        else if (p->phase == CLONE_FINISHING)
                snprintf(buf, sizeof(buf), "cloning from '%s': copied %llu MB, finishing WAL and syncing",
                         p->u->display, (unsigned long long) (p->done_kb / 1024));
        else
                clone_format_status(buf, sizeof(buf), p->u->display, p->done_kb, p->total_kb, p->percent);
        if (clone_extend_allowed(p->phase, p->last_advance, now))
                notify_extend_timeout(UPSTREAM_EXTEND_USEC);
        else
                /* No extension: the unit's start timeout ends a clone that is stuck. */
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " (no progress for %llus)",
                         (unsigned long long) ((now - p->last_advance) / 1000000ULL));
        notify_status("%s", buf);
        p->last_status = now;
}

static void progress_line(Progress *p, char *line) {
        const char *error;
        uint64_t done, total;
        unsigned pct;
        bool problem;
        int phase;

        if (clone_parse_progress(line, &done, &total, &pct) >= 0) {
                bool moved = done > p->done_kb || pct != p->percent;

                if (p->phase == CLONE_STARTING)
                        p->phase = CLONE_COPYING;
                if (done > p->done_kb)
                        p->last_advance = now_usec();
                p->done_kb = done;
                p->total_kb = total;
                p->percent = pct;
                /* A new percent is worth a datagram at once, at most one per second. */
                if (moved && now_usec() >= p->last_status + 1000000ULL)
                        progress_status(p, true);
                return;
        }
        phase = clone_phase_of(line);
        if (phase >= 0) {
                p->phase = (ClonePhase) phase;
                p->last_advance = now_usec();
                progress_status(p, true);
        }
        if (!*line)
                return;
        error = strstr(line, ": error: ");
        if (error) {
                free(p->error);
                p->error = strdup(error + strlen(": error: "));
        }
        /* Its problems are warnings here: whether they are fatal is decided by the retry. */
        problem = error || strstr(line, ": warning: ") || strstr(line, ": detail: ") || strstr(line, ": hint: ");
        (void) log_full_errno(problem ? LOG_WARNING : LOG_INFO, 0, "%s", line);
}

/* pg_basebackup in a process group of its own, so a stop kills its WAL streamer too. */
static int spawn_basebackup(char *const *argv, char *const *envp, int err_fd, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
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
        (void) posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        (void) posix_spawnattr_setpgroup(&attr, 0);
        r = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}

/* Read stderr until EOF, feeding lines to the progress tracker. -EINTR on a stop request. */
static int follow(Progress *p, int fd) {
        char buf[8192];
        size_t n = 0;

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t k;
                char *nl;

                if (upstream_interrupted)
                        return -EINTR;
                if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
                        return -errno;
                progress_status(p, false);
                if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                buf[n] = 0;
                while ((nl = strchr(buf, '\n')) || (nl = strchr(buf, '\r'))) {
                        *nl = 0;
                        progress_line(p, strstrip(buf));
                        n -= (size_t) (nl + 1 - buf);
                        memmove(buf, nl + 1, n + 1);
                }
                /* A line longer than the buffer is cut, not lost. */
                if (n >= sizeof(buf) - 1) {
                        progress_line(p, strstrip(buf));
                        n = 0;
                }
        }
        if (n > 0)
                progress_line(p, strstrip(buf));
        return 0;
}

static bool valid_rate(const char *s) {
        size_t n = strspn(s, "0123456789");

        return n > 0 && n < 12 && (s[n] == 0 || ((s[n] == 'k' || s[n] == 'M') && s[n + 1] == 0));
}

int clone_run(const Upstream *u, const char *bindir, const char *side, char **ret_reason) {
        _cleanup_free_ char *pgbb = pg_bin(bindir, "pg_basebackup"), *conninfo = upstream_clone_conninfo(u);
        _cleanup_free_ char *slotopt = NULL, *rateopt = NULL;
        /* Undocumented, for tests only: slow the copy down so it can be interrupted reliably. */
        const char *rate = getenv("PGREPL_TEST_BASEBACKUP_MAX_RATE");
        /* LC_ALL=C: its messages are parsed. No PGPASSWORD: the password is in the passfile. */
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        char *argv[16];
        _cleanup_close_ int rfd = -1, wfd = -1;
        Progress p = { .u = u, .last_advance = now_usec() };
        size_t n = 0;
        pid_t pid = 0;
        int r, k, st;

        if (!pgbb || !conninfo)
                return log_oom();
        argv[n++] = pgbb;
        argv[n++] = "--pgdata";
        argv[n++] = (char *) side;
        argv[n++] = "--wal-method=stream";
        argv[n++] = "--checkpoint=fast";
        argv[n++] = "--progress";
        argv[n++] = "--verbose";
        argv[n++] = "--no-password";
        argv[n++] = "--dbname";
        argv[n++] = conninfo; /* passfile=, never a password: argv is public */
        if (u->slot) {
                if (asprintf(&slotopt, "--slot=%s", u->slot) < 0)
                        return log_oom();
                argv[n++] = slotopt;
        }
        if (rate && valid_rate(rate)) {
                if (asprintf(&rateopt, "--max-rate=%s", rate) < 0)
                        return log_oom();
                argv[n++] = rateopt;
        }
        argv[n] = NULL;

        {
                int fds[2];

                if (pipe2(fds, O_CLOEXEC) < 0)
                        return log_error_errno(errno, "Failed to create a pipe: %m");
                rfd = fds[0];
                wfd = fds[1];
        }
        notify_extend_timeout(UPSTREAM_EXTEND_USEC);
        progress_status(&p, true);
        log_info("Cloning primary '%s' into '%s'%s%s", u->display, side, u->slot ? " with slot " : "",
                 u->slot ? u->slot : "");
        r = spawn_basebackup(argv, envp, wfd, &pid);
        if (r < 0)
                return log_error_errno(r, "Failed to start '%s': %m", pgbb);
        close(TAKE_FD(wfd));

        r = follow(&p, rfd);
        if (r < 0)
                (void) kill(-pid, SIGKILL);
        k = spawn_wait(pid, &st);
        /* Its WAL streamer may outlive it when it was killed; it is in the same group. */
        (void) kill(-pid, SIGKILL);
        if (r == -EINTR) {
                free(p.error);
                log_notice("Clone from '%s' stopped by a signal", u->display);
                return r;
        }
        if (r < 0 || k < 0) {
                free(p.error);
                return log_error_errno(r < 0 ? r : k, "Failed to follow pg_basebackup: %m");
        }
        if (st != 0) {
                if (p.error)
                        *ret_reason = p.error;
                else if (asprintf(ret_reason, "pg_basebackup exited with status %d", st) < 0)
                        *ret_reason = NULL;
                log_warning("Clone from '%s' failed (pg_basebackup status %d) after %llu MB", u->display, st,
                            (unsigned long long) (p.done_kb / 1024));
                return -EAGAIN;
        }
        free(p.error);
        log_info("Clone from '%s' complete: %llu MB", u->display, (unsigned long long) (p.done_kb / 1024));
        return 0;
}

int clone_commit(const char *side, const char *datadir) {
        _cleanup_free_ char *parent = path_parent(side);

        if (!parent)
                return log_oom();
        /* An empty data directory (created by an admin or a package) makes way for the copy. */
        if (rmdir(datadir) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to remove the empty data directory '%s' before the "
                                       "rename: %m", datadir);
        if (rename(side, datadir) < 0)
                return log_error_errno(errno, "Failed to rename '%s' to '%s': %m", side, datadir);
        (void) fs_fsync_path(parent);
        return 0;
}
