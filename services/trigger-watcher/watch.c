/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "pg.h"
#include "util.h"
#include "watch.h"

static void watch_free(Watch *w) {
        local_drop(w);
        closep(&w->lock_fd);
        dirwatch_done(&w->dw);
        closep(&w->signal_fd);
        closep(&w->timer_fd);
        record_done(&w->record);
        free(w->path);
        free(w->dir);
        free(w->name);
        free(w->state_dir);
        free(w->state_text);
        free(w->ignored_text);
}

/* The path two watchers would really share: the directory resolved when it exists. */
static char *canonical_path(const Watch *w) {
        _cleanup_free_ char *real = realpath(w->dir, NULL);
        const char *d = real ? real : w->dir;
        char *p = NULL;

        if (asprintf(&p, "%s/%s", streq(d, "/") ? "" : d, w->name) < 0)
                return NULL;
        return p;
}

/* One watcher per trigger path per host: an flock() in a directory every instance shares. */
static int watch_lock(Watch *w) {
        const char *env = getenv("RUNTIME_DIRECTORY");
        _cleanup_free_ char *dir = env && *env ? strndup(env, strcspn(env, ":")) : strdup(WATCH_LOCK_DIR);
        _cleanup_free_ char *canon = canonical_path(w), *name = NULL, *lock = NULL, *holder = NULL;
        char buf[256];
        int r;

        if (!dir || !canon || trigger_lock_name(canon, &name) < 0 || asprintf(&lock, "%s/%s", dir, name) < 0)
                return log_oom();
        r = fs_mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create the lock directory '%s': %m (the unit's "
                                       "RuntimeDirectory= provides it; by hand, create it for the service "
                                       "user or set RUNTIME_DIRECTORY)", dir);
        snprintf(buf, sizeof(buf), "pid %d, instance '%s'\n", (int) getpid(), w->config->instance);
        r = fs_lock(lock, buf, &w->lock_fd, &holder);
        if (r == -EWOULDBLOCK) {
                log_error("Trigger path '%s' is already watched by another pgrepl-trigger-watcher (%s; lock '%s'): "
                          "two standbys on one host must not share a trigger, set POSTGRESQL_PROMOTE_TRIGGER_FILE "
                          "for each", canon, holder && *holder ? holder : "holder unknown", lock);
                return -PGREPL_E_CONFIG;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot lock '%s': %m", lock);
        return 0;
}

/* Warn about a trigger directory in which others than root and us can plant or swap files. */
static void check_dir(const Watch *w) {
        struct stat st;

        /* A link to the directory is as safe as the link's owner: that user can re-point it. */
        if (lstat(w->dir, &st) >= 0 && S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != w->self)
                log_warning("Trigger directory '%s' is a symbolic link owned by uid %u: that user can point it "
                            "elsewhere; name the real directory in POSTGRESQL_PROMOTE_TRIGGER_FILE",
                            w->dir, (unsigned) st.st_uid);
        if (stat(w->dir, &st) < 0)
                return;
        if (st.st_uid != 0 && st.st_uid != w->self)
                log_warning("Trigger directory '%s' is owned by uid %u: that user can plant a trigger file",
                            w->dir, (unsigned) st.st_uid);
        else if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
                log_warning("Trigger directory '%s' is writable by others without the sticky bit: any local user "
                            "can rename a root-owned file onto the trigger path", w->dir);
}

/*
 * Watch the trigger's directory; while it is missing, its nearest existing
 * ancestor, so that its appearance arms the real watch. The caller then
 * looks at the path: a file that was already there counts.
 */
int watch_arm(Watch *w) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                int r;

                r = dirwatch_arm_dir(&w->dw);
                if (r >= 0) {
                        if (w->dir_missing_logged)
                                log_info("Trigger directory '%s' is there again; watching it", w->dir);
                        w->dir_missing_logged = false;
                        check_dir(w);
                        return 0;
                }
                if (r == -ENOTDIR && fs_exists(w->dir)) {
                        /* The configured path cannot work: a configuration error, not worth a restart. */
                        log_error("POSTGRESQL_PROMOTE_TRIGGER_FILE='%s': '%s' is not a directory", w->path, w->dir);
                        return -PGREPL_E_CONFIG;
                }
                if (r != -ENOENT && r != -ENOTDIR)
                        return log_error_errno(r, "Cannot watch '%s': %m", w->dir);
                r = dirwatch_arm_ancestor(&w->dw);
                if (r < 0)
                        return log_error_errno(r, "Cannot watch any parent of '%s': %m", w->dir);
                if (r == 0) {
                        if (!w->dir_missing_logged)
                                log_warning("Trigger directory '%s' does not exist; waiting for it to appear", w->dir);
                        w->dir_missing_logged = true;
                        return 0;
                }
        }
        return log_error_errno(-ELOOP, "Trigger directory '%s' keeps changing; giving up", w->dir);
}

/*
 * Open the watched directory for one look at the trigger (and its removal):
 * a descriptor checked to be the directory the watch is on, so the look and
 * the removal see one directory whatever a link in the path does meanwhile.
 * A path that now leads elsewhere (a link re-pointed, the directory
 * replaced before its events came) is armed again first. -ENOENT while the
 * directory is missing; other errors are logged.
 */
int watch_open_dir(Watch *w, int *ret_fd) {
        for (unsigned attempt = 0; attempt < 3; attempt++) {
                int r;

                if (w->dw.on_ancestor)
                        return -ENOENT;
                r = dirwatch_open(&w->dw, ret_fd);
                if (r == 0)
                        return 0;
                if (r < 0)
                        return log_error_errno(r, "Cannot open the trigger directory '%s': %m", w->dir);
                /* A missing one is reported by watch_arm(). */
                if (r == DIRWATCH_ELSEWHERE)
                        log_info("Trigger directory '%s' is not the one watched any more; watching it again",
                                 w->dir);
                r = watch_arm(w);
                if (r < 0)
                        return r;
        }
        return log_error_errno(-ELOOP, "Trigger directory '%s' keeps changing", w->dir);
}

static int handle_inotify(Watch *w) {
        int r = dirwatch_dispatch(&w->dw);
        bool check;

        if (r < 0)
                return log_error_errno(r, "Cannot read inotify events: %m");
        check = r & DIRWATCH_CHECK;
        if (r & DIRWATCH_REARM) {
                r = watch_arm(w);
                if (r < 0)
                        return r;
                /* The directory may be a new one, with a trigger in it already. */
                check = !w->dw.on_ancestor;
        }
        return check ? watch_check(w) : 0;
}

static int handle_signal(Watch *w) {
        struct signalfd_siginfo si;

        if (read(w->signal_fd, &si, sizeof(si)) != sizeof(si))
                return 0;
        if (si.ssi_signo == SIGHUP) {
                log_debug("SIGHUP: nothing to reload");
                return 0;
        }
        notify_stopping();
        if (watch_promoting(w))
                log_warning("Stopping while pg_promote() is in flight: PostgreSQL completes the promotion on its "
                            "own; the trigger '%s' and the promotion record are left as they are", w->path);
        else
                log_info("Stopping on %s", strsignal((int) si.ssi_signo));
        return 1;
}

static int handle_timer(Watch *w) {
        uint64_t expirations, now;
        int r = 0;

        if (read(w->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
                return log_error_errno(-errno, "Cannot read the timer: %m");
        now = now_usec();
        if (w->next_retry && now >= w->next_retry) {
                w->next_retry = 0;
                /* A trigger waiting for the server, or just the connection to open again. */
                r = w->pending ? watch_check(w) : watch_probe(w);
                if (r != 0)
                        return r;
        }
        if (now >= w->next_tick) {
                while (w->next_tick <= now)
                        w->next_tick += w->interval;
                if (w->watchdog)
                        notify_watchdog();
                watch_check_overdue(w);
                /* While a trigger is being handled its own path reports; otherwise ask the server. */
                if (w->pending)
                        watch_status(w);
                else
                        r = watch_probe(w);
        }
        return r;
}

static int arm_timer(Watch *w) {
        uint64_t when = w->next_retry && w->next_retry < w->next_tick ? w->next_retry : w->next_tick;
        struct itimerspec its = { .it_value = { (time_t) (when / 1000000), (long) (when % 1000000) * 1000 } };

        if (when == w->timer_armed)
                return 0;
        if (timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                return log_error_errno(-errno, "Cannot arm the timer: %m");
        w->timer_armed = when;
        return 0;
}

static int watch_setup(Watch *w, const Config *c) {
        uint64_t wd_usec = notify_watchdog_usec();
        sigset_t mask;
        int r;

        w->config = c;
        w->self = geteuid();
        w->path = strdup(config_get(c, VAR_PROMOTE_TRIGGER_FILE));
        w->state_dir = config_state_dir(c);
        if (!w->path || !w->state_dir)
                return log_oom();
        r = trigger_split_path(w->path, &w->dir, &w->name);
        if (r < 0)
                return r == -ENOMEM ? log_oom()
                                    : (log_error("POSTGRESQL_PROMOTE_TRIGGER_FILE='%s' (from %s): must name a file",
                                                 w->path, c->sources[VAR_PROMOTE_TRIGGER_FILE]), -PGREPL_E_CONFIG);

        /* The record must be writable before anything may be promoted. */
        r = fs_mkdir_p(w->state_dir, 0700);
        if (r >= 0 && access(w->state_dir, W_OK) < 0)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "State directory '%s' is not usable: %m", w->state_dir);
        r = record_read(w->state_dir, &w->record);
        if (r < 0)
                log_warning_errno(r, "Ignoring unreadable promotion record in '%s': %m", w->state_dir);
        w->have_record = r > 0;

        r = watch_lock(w);
        if (r < 0)
                return r;
        /* The trigger directory is watched through its descriptor's /proc/self/fd link. */
        if (access("/proc/self/fd", F_OK) < 0)
                return log_error_errno(-errno, "Cannot use '/proc/self/fd': %m (the watcher needs /proc)");

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Cannot block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        w->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (w->signal_fd < 0 || w->timer_fd < 0)
                return log_error_errno(-errno, "Cannot set up the event loop: %m");
        r = dirwatch_init(&w->dw, w->dir, w->name);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");

        /* Ping at half of WatchdogSec=, and refresh STATUS= at the same beat: one wake-up. */
        w->watchdog = wd_usec > 0;
        w->interval = w->watchdog ? wd_usec / 2 : WATCH_STATUS_INTERVAL_USEC;
        if (w->interval < 100000)
                w->interval = 100000;
        w->next_tick = now_usec() + w->interval;
        return 0;
}

static int watch_loop(Watch *w) {
        for (;;) {
                struct pollfd p[] = {
                        { .fd = w->signal_fd, .events = POLLIN },
                        { .fd = w->dw.fd, .events = POLLIN },
                        { .fd = w->timer_fd, .events = POLLIN },
                        { .fd = w->conn ? PQsocket(w->conn) : -1, .events = POLLIN },
                };
                int r = arm_timer(w);

                if (r < 0)
                        return r;
                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(-errno, "poll() failed: %m");
                }
                /* Signals first: a stop request wins over anything else that is ready. */
                r = p[0].revents ? handle_signal(w) : 0;
                if (r == 0 && p[3].revents && w->conn)
                        r = watch_conn_io(w);
                if (r == 0 && p[1].revents)
                        r = handle_inotify(w);
                if (r == 0 && p[2].revents)
                        r = handle_timer(w);
                if (r != 0)
                        return r;
        }
}

int watch_run(const Config *c) {
        Watch w = { .lock_fd = -1, .signal_fd = -1, .timer_fd = -1, .dw = { .fd = -1, .wd = -1 } };
        int r;

        r = watch_setup(&w, c);
        if (r >= 0)
                r = watch_arm(&w);
        if (r >= 0) {
                notify_ready(NULL);
                log_info("Watching '%s' (state in '%s')", w.path, w.state_dir);
                /* A trigger touched before we came up counts; without one, ask the server what it is. */
                r = w.dw.on_ancestor ? 0 : watch_check(&w);
                if (r == 0 && !w.pending)
                        r = watch_probe(&w);
        }
        if (r == 0)
                r = watch_loop(&w);
        watch_free(&w);
        return r < 0 ? r : 0;
}
