/* SPDX-License-Identifier: MIT */
/*
 * The first start's copy: pg_basebackup -X stream --checkpoint=fast into a
 * side directory next to the data directory (<datadir>.pgrepl-clone), its
 * progress read from stderr into STATUS=, EXTEND_TIMEOUT_USEC= only while
 * the copy advances. Only the side directory is ever removed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "upstream.h"

/* Grace periods for EXTEND_TIMEOUT_USEC=: how long a phase may show no progress. */
#define CLONE_GRACE_COPY_USEC (60ULL * 1000000ULL)     /* bytes stop arriving */
#define CLONE_GRACE_PHASE_USEC (1800ULL * 1000000ULL) /* checkpoint, end of WAL, sync */

typedef enum ClonePhase {
        CLONE_STARTING,   /* connecting, waiting for the primary's checkpoint */
        CLONE_COPYING,    /* progress lines */
        CLONE_FINISHING,  /* end of WAL streaming, sync */
} ClonePhase;

/* "  412/1093 kB (38%), 0/1 tablespace ..." → kB done and total, percent. -EINVAL if not a progress line. */
int clone_parse_progress(const char *line, uint64_t *ret_done_kb, uint64_t *ret_total_kb, unsigned *ret_percent);
/* Which phase a verbose pg_basebackup line (LC_ALL=C) starts, or -1. */
int clone_phase_of(const char *line);
/* Whether a clone in this phase, last advanced at last_usec, still earns an extension at now_usec. */
bool clone_extend_allowed(ClonePhase phase, uint64_t last_usec, uint64_t now_usec);
/* "cloning from 'h:p': 412/1093 MB, 38%" */
void clone_format_status(char *buf, size_t n, const char *display, uint64_t done_kb, uint64_t total_kb,
                         unsigned percent);

/* "<datadir>.pgrepl-clone"; datadir without trailing slashes. */
char *clone_side_path(const char *datadir);

/*
 * Run pg_basebackup into side (which must not exist). 0 on success (not yet
 * synced or renamed); -EAGAIN when the copy failed and may be retried, with
 * a short reason in ret_reason (to free); -EINTR on SIGINT/SIGTERM (the copy
 * was stopped); another negative errno when it could not be started.
 */
int clone_run(const Upstream *u, const char *bindir, const char *side, char **ret_reason);
/* Rename the (synced) side directory to datadir, absent or empty, then fsync the parent. */
int clone_commit(const char *side, const char *datadir);
