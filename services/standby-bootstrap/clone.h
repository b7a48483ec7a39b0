/* SPDX-License-Identifier: MIT */
/*
 * The first start's copy: one clone per instance at a time (a lock in the
 * state directory), pg_basebackup -X stream --checkpoint=fast into a side
 * directory next to the data directory (<datadir>.pgrepl-clone), retried
 * with the wait's backoff until it completes, then renamed into place. Only
 * the side directory is ever removed, and only when it is pgrepl's own.
 * Failures are logged here, where they are decided; a stop request is
 * returned as -EINTR, unlogged.
 */
#pragma once

#include "config.h"
#include "upstream.h"

/* "<datadir>.pgrepl-clone"; datadir without trailing slashes. */
char *clone_side_path(const char *datadir);
/*
 * Before the first attempt: take the instance's clone lock (*ret_lock_fd, held until closed; -EAGAIN
 * when another bootstrap holds it), create the data directory's parent, remove a leftover side
 * directory.
 */
int clone_prepare(const Config *c, const char *datadir, const char *side, int *ret_lock_fd);
/* Remove side if it is an interrupted clone of pgrepl's; -EEXIST when it is something else. */
int clone_remove_leftover(const char *side);
/*
 * Wait for the primary and copy it into side (which must not exist), again after each failed copy,
 * until a copy completes (0), the deadline passes (-ETIMEDOUT), a stop request comes (-EINTR) or
 * something fails that a retry cannot mend. *bindir is the server's binaries: when the primary runs
 * another major whose binaries are installed too, they replace it (a new standby follows its
 * primary's major).
 */
int clone_until_done(const Upstream *u, char **bindir, const char *side);
/*
 * Run pg_basebackup into side once. 0 on success (synced by pg_basebackup, not yet renamed);
 * -EAGAIN when the copy failed and may be retried, with a short reason in ret_reason (to free);
 * -EINTR on a stop request (the copy was killed); another negative errno when it could not run.
 */
int clone_run(const Upstream *u, const char *bindir, const char *side, char **ret_reason);
/* Rename the complete side directory to datadir (absent or empty), then fsync the parent. */
int clone_commit(const char *side, const char *datadir);
