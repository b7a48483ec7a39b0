/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "progress.h"
#include "spawn-util.h"
#include "signals.h"
#include "util.h"
#include "wait.h"

int progress_parse(const char *line, uint64_t *ret_done_kb, uint64_t *ret_total_kb, unsigned *ret_percent) {
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

int progress_phase_of(const char *line) {
        /* pg_basebackup --verbose runs with LC_ALL=C, so these are stable. */
        if (strstr(line, "waiting for checkpoint"))
                return PROGRESS_STARTING;
        if (strstr(line, "checkpoint completed"))
                return PROGRESS_COPYING;
        if (strstr(line, "write-ahead log end point") || strstr(line, "syncing data to disk"))
                return PROGRESS_FINISHING;
        return -1;
}

bool progress_extend_allowed(ProgressPhase phase, uint64_t last_usec, uint64_t now) {
        uint64_t grace = phase == PROGRESS_COPYING ? PROGRESS_GRACE_COPY_USEC : PROGRESS_GRACE_PHASE_USEC;

        return now < last_usec + grace;
}

void progress_format_status(char *buf, size_t n, const char *display, uint64_t done_kb, uint64_t total_kb,
                            unsigned percent) {
        snprintf(buf, n, "cloning from '%s': %llu/%llu MB, %u%%", display, (unsigned long long) (done_kb / 1024),
                 (unsigned long long) (total_kb / 1024), percent);
}

void progress_init(Progress *p, const char *display) {
        *p = (Progress) { .display = display, .last_advance = now_usec() };
}

void progress_done(Progress *p) {
        free(p->error);
        p->error = NULL;
}

void progress_status(Progress *p, bool force) {
        uint64_t now = now_usec();
        char buf[512];

        if (!force && now < p->last_status + WAIT_STATUS_EVERY_S * 1000000ULL)
                return;
        if (p->phase == PROGRESS_STARTING)
                snprintf(buf, sizeof(buf), "cloning from '%s': waiting for the primary's checkpoint", p->display);
        else if (p->phase == PROGRESS_FINISHING)
                snprintf(buf, sizeof(buf), "cloning from '%s': copied %llu MB, finishing WAL and syncing",
                         p->display, (unsigned long long) (p->done_kb / 1024));
        else
                progress_format_status(buf, sizeof(buf), p->display, p->done_kb, p->total_kb, p->percent);
        if (progress_extend_allowed(p->phase, p->last_advance, now))
                notify_extend_timeout(WAIT_EXTEND_USEC);
        else
                /* No extension: the unit's start timeout ends a clone that is stuck. */
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " (no progress for %llus)",
                         (unsigned long long) ((now - p->last_advance) / 1000000ULL));
        notify_status("%s", buf);
        p->last_status = now;
}

/* A progress line: 0 when it was one. */
static int progress_counts(Progress *p, const char *line) {
        uint64_t done, total;
        unsigned pct;
        bool moved;

        if (progress_parse(line, &done, &total, &pct) < 0)
                return -EINVAL;
        moved = done > p->done_kb || pct != p->percent;
        if (p->phase == PROGRESS_STARTING)
                p->phase = PROGRESS_COPYING;
        if (done > p->done_kb)
                p->last_advance = now_usec();
        p->done_kb = done;
        p->total_kb = total;
        p->percent = pct;
        /* A new percent is worth a datagram at once, at most one per second. */
        if (moved && now_usec() >= p->last_status + 1000000ULL)
                progress_status(p, true);
        return 0;
}

static void progress_line(Progress *p, char *line) {
        const char *error;
        bool problem;
        int phase;

        if (progress_counts(p, line) >= 0)
                return;
        phase = progress_phase_of(line);
        if (phase >= 0) {
                p->phase = (ProgressPhase) phase;
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

static int on_line(void *userdata, char *line) {
        progress_line(userdata, line);
        return 0;
}

static int on_tick(void *userdata) {
        progress_status(userdata, false);
        return 0;
}

int progress_follow(Progress *p, int fd) {
        return spawn_follow_lines(fd, on_line, on_tick, p);
}
