/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clone.h"
#include "fs.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "pg.h"
#include "progress.h"
#include "spawn-util.h"
#include "util.h"
#include "wait.h"

char *clone_side_path(const char *datadir) {
        size_t n = strlen(datadir);
        char *p = NULL;

        while (n > 1 && datadir[n - 1] == '/')
                n--;
        if (asprintf(&p, "%.*s.pgrepl-clone", (int) n, datadir) < 0)
                return NULL;
        return p;
}

/* A leftover side directory is removed only when it is what pgrepl left: a directory, and no
 * server has ever run in it (pg_basebackup does not copy postmaster.pid). */
int clone_remove_leftover(const char *side) {
        _cleanup_free_ char *pid = path_join(side, "postmaster.pid");
        struct stat st;
        int r;

        if (!pid)
                return log_oom();
        if (lstat(side, &st) < 0)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Failed to look at '%s': %m", side);
        if (!S_ISDIR(st.st_mode) || fs_exists(pid)) {
                log_error("'%s' is in the way of the clone but is not an interrupted clone of pgrepl's (%s); "
                          "it is left alone: move it away", side,
                          S_ISDIR(st.st_mode) ? "it holds a postmaster.pid" : "not a directory");
                return -EEXIST;
        }
        log_notice("Removing '%s', left over from an interrupted clone", side);
        r = fs_remove_tree(side);
        if (r < 0)
                return log_error_errno(r, "Failed to remove '%s': %m", side);
        return 0;
}

int clone_prepare(const Config *c, const char *datadir, const char *side, int *ret_lock_fd) {
        _cleanup_free_ char *parent = path_parent(datadir);
        _cleanup_close_ int fd = -1;
        int r;

        if (!parent)
                return log_oom();
        /* One clone per instance at a time: a second bootstrap (by hand, beside the unit) would take
         * the first one's side directory for a leftover and remove it. */
        r = node_lock(c, "clone.lock", "cloning into", datadir, &fd);
        if (r < 0)
                return r;
        r = fs_mkdir_p(parent, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", parent);
        r = clone_remove_leftover(side);
        if (r < 0)
                return r;
        *ret_lock_fd = TAKE_FD(fd);
        return 0;
}

int clone_until_done(const Upstream *u, char **bindir, const char *side) {
        unsigned local_major = 0, major = 0;
        Waiter w;
        int r, k;

        /* Unknown (0) is not checked: pg_basebackup itself refuses a server it cannot copy. */
        if (pg_bin_version(*bindir, &local_major) < 0)
                local_major = 0;
        wait_init(&w, u->c->init_max_timeout);
        for (;;) {
                _cleanup_free_ char *reason = NULL;

                r = upstream_wait(u, &w, local_major, &major);
                if (r == -EXDEV) {
                        /* The primary's major is installed here too: a new standby takes it. */
                        _cleanup_free_ char *other = NULL;

                        r = pg_find_bindir(u->c, major, &other);
                        if (r < 0)
                                return log_error_errno(r, "Failed to find PostgreSQL %u's binaries: %m", major);
                        log_notice("Primary '%s' runs PostgreSQL %u: cloning it with, and running, %s", u->display,
                                   major, other);
                        free(*bindir);
                        *bindir = TAKE_PTR(other);
                        local_major = major;
                        continue;
                }
                if (r < 0)
                        return r;
                r = clone_run(u, *bindir, side, &reason);
                if (r == 0)
                        return 0;
                /* Whatever the copy left behind is ours and incomplete; if it cannot go, every
                 * further attempt would fail on it: stop instead. */
                k = fs_remove_tree(side);
                if (k < 0)
                        return log_error_errno(k, "Failed to remove the incomplete clone '%s': %m", side);
                if (r != -EAGAIN)
                        return r;
                r = wait_pause(&w, u->display, reason ? reason : "the clone failed");
                if (r == -ETIMEDOUT)
                        return log_error_errno(r, "Could not clone '%s' within POSTGRESQL_INIT_MAX_TIMEOUT=%us",
                                               u->display, u->c->init_max_timeout);
                if (r < 0)
                        return r;
        }
}

/* pg_basebackup's command line: passfile= in the conninfo, never a password (argv is public). */
typedef struct Command {
        char *bin, *conninfo, *slot, *rate;
        char *argv[16];
} Command;

static void command_done(Command *cmd) {
        free(cmd->bin);
        free(cmd->conninfo);
        free(cmd->slot);
        free(cmd->rate);
}

static bool valid_rate(const char *s) {
        size_t n = strspn(s, "0123456789");

        return n > 0 && n < 12 && (s[n] == 0 || ((s[n] == 'k' || s[n] == 'M') && s[n + 1] == 0));
}

static int command_build(const Upstream *u, const char *bindir, const char *side, Command *cmd) {
        /* Undocumented, for tests only: slow the copy down so it can be interrupted reliably. */
        const char *rate = getenv("PGREPL_TEST_BASEBACKUP_MAX_RATE");
        size_t n = 0;

        cmd->bin = pg_bin(bindir, "pg_basebackup");
        cmd->conninfo = upstream_clone_conninfo(u);
        if (!cmd->bin || !cmd->conninfo)
                return -ENOMEM;
        if (u->slot && asprintf(&cmd->slot, "--slot=%s", u->slot) < 0)
                return -ENOMEM;
        if (rate && valid_rate(rate) && asprintf(&cmd->rate, "--max-rate=%s", rate) < 0)
                return -ENOMEM;
        cmd->argv[n++] = cmd->bin;
        cmd->argv[n++] = "--pgdata";
        cmd->argv[n++] = (char *) side;
        cmd->argv[n++] = "--wal-method=stream";
        cmd->argv[n++] = "--checkpoint=fast";
        cmd->argv[n++] = "--progress";
        cmd->argv[n++] = "--verbose";
        cmd->argv[n++] = "--no-password";
        cmd->argv[n++] = "--dbname";
        cmd->argv[n++] = cmd->conninfo;
        if (cmd->slot)
                cmd->argv[n++] = cmd->slot;
        if (cmd->rate)
                cmd->argv[n++] = cmd->rate;
        cmd->argv[n] = NULL;
        return 0;
}

/* What a finished pg_basebackup (exit status st) came to. */
static int clone_outcome(const Upstream *u, Progress *p, int st, char **ret_reason) {
        if (st == 0) {
                log_info("Clone from '%s' complete: %llu MB", u->display, (unsigned long long) (p->done_kb / 1024));
                return 0;
        }
        if (p->error)
                *ret_reason = TAKE_PTR(p->error);
        else if (asprintf(ret_reason, "pg_basebackup exited with status %d", st) < 0)
                *ret_reason = NULL;
        log_warning("Clone from '%s' failed (pg_basebackup status %d) after %llu MB", u->display, st,
                    (unsigned long long) (p->done_kb / 1024));
        return -EAGAIN;
}

int clone_run(const Upstream *u, const char *bindir, const char *side, char **ret_reason) {
        /* LC_ALL=C: its messages are parsed. No PGPASSWORD: the password is in the passfile. */
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        _cleanup_(command_done) Command cmd = {};
        _cleanup_(progress_done) Progress p = {};
        _cleanup_close_ int fd = -1;
        pid_t pid;
        int r, k, st;

        if (command_build(u, bindir, side, &cmd) < 0)
                return log_oom();
        progress_init(&p, u->display);
        notify_extend_timeout(WAIT_EXTEND_USEC);
        progress_status(&p, true);
        log_info("Cloning primary '%s' into '%s'%s%s", u->display, side, u->slot ? " with slot " : "",
                 u->slot ? u->slot : "");
        r = spawn_group_stderr(cmd.argv, envp, &pid, &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to start '%s': %m", cmd.bin);

        r = progress_follow(&p, fd);
        if (r < 0)
                (void) kill(-pid, SIGKILL);
        k = spawn_wait(pid, &st);
        /* Its WAL streamer may outlive it when it was killed; it is in the same group. */
        (void) kill(-pid, SIGKILL);
        if (r == -EINTR)
                return r;
        if (r < 0 || k < 0)
                return log_error_errno(r < 0 ? r : k, "Failed to follow pg_basebackup: %m");
        return clone_outcome(u, &p, st, ret_reason);
}

int clone_commit(const char *side, const char *datadir) {
        _cleanup_free_ char *parent = path_parent(side), *legacy = path_join(side, "pgrepl.roles");

        if (!parent || !legacy)
                return log_oom();
        /* A primary of an older pgrepl kept its roles' fingerprint (salted, unkeyed: a check of a
         * password guess) in its data directory; a standby has no use for it. */
        if (unlink(legacy) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Failed to remove '%s': %m", legacy);
        /* An empty data directory (created by an admin or a package) makes way for the copy. */
        if (rmdir(datadir) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Failed to remove the empty data directory '%s' before the "
                                       "rename: %m", datadir);
        if (rename(side, datadir) < 0)
                return log_error_errno(-errno, "Failed to rename '%s' to '%s': %m", side, datadir);
        (void) fs_fsync_path(parent);
        return 0;
}
