/* SPDX-License-Identifier: MIT */
/*
 * pg_basebackup's stderr (--progress --verbose, LC_ALL=C) turned into what
 * a person sees: progress lines and phase lines into STATUS=, refreshed at
 * least every few seconds, with EXTEND_TIMEOUT_USEC= only while the copy
 * advances (a stuck clone is ended by the unit's start timeout); its other
 * lines go to the log as they come, and its last error is kept as the
 * reason for a retry.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Grace periods for EXTEND_TIMEOUT_USEC=: how long a phase may show no progress. */
#define PROGRESS_GRACE_COPY_USEC (60ULL * 1000000ULL)     /* bytes stop arriving */
#define PROGRESS_GRACE_PHASE_USEC (1800ULL * 1000000ULL) /* checkpoint, end of WAL, sync */

typedef enum ProgressPhase {
        PROGRESS_STARTING,  /* connecting, waiting for the primary's checkpoint */
        PROGRESS_COPYING,   /* progress lines */
        PROGRESS_FINISHING, /* end of WAL streaming, sync */
} ProgressPhase;

/* "  412/1093 kB (38%), 0/1 tablespace ..." → kB done and total, percent. -EINVAL if not a progress line. */
int progress_parse(const char *line, uint64_t *ret_done_kb, uint64_t *ret_total_kb, unsigned *ret_percent);
/* Which phase a verbose pg_basebackup line starts, or -1. */
int progress_phase_of(const char *line);
/* Whether a copy in this phase, last advanced at last_usec, still earns an extension at now_usec. */
bool progress_extend_allowed(ProgressPhase phase, uint64_t last_usec, uint64_t now_usec);
/* "cloning from 'h:p': 412/1093 MB, 38%" */
void progress_format_status(char *buf, size_t n, const char *display, uint64_t done_kb, uint64_t total_kb,
                            unsigned percent);

typedef struct Progress {
        const char *display; /* the primary, "host:port" */
        ProgressPhase phase;
        uint64_t done_kb, total_kb, last_advance, last_status;
        unsigned percent;
        char *error; /* pg_basebackup's last error line, NULL when none */
} Progress;

void progress_init(Progress *p, const char *display);
void progress_done(Progress *p);
/* STATUS= (and the extension, while allowed) now when force, else when the last one is old. */
void progress_status(Progress *p, bool force);
/* Read fd (pg_basebackup's stderr) to its end, line by line. -EINTR on a stop request. */
int progress_follow(Progress *p, int fd);
