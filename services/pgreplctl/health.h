/* SPDX-License-Identifier: MIT */
/*
 * The health verdicts of `pgreplctl status`, pure functions of a Report: each thing that is wrong
 * becomes one warning line (a server that does not answer, a standby that does not stream, a
 * failed unit, a slot holding WAL nobody reads, a synchronous standby missing so commits wait;
 * with partners: a member that does not answer, two writable primaries, none, a standby that
 * cannot follow the primary's timeline, one that does not stream from it, another cluster).
 */
#pragma once

#include "report.h"

/* An inactive slot holding more WAL than this is worth a warning (one WAL segment by default). */
#define HEALTH_SLOT_WARN_BYTES (16 * 1024 * 1024)

/* The verdicts of `status` and their exit statuses. */
enum {
        HEALTH_OK = 0,       /* nothing wrong */
        HEALTH_DEGRADED = 1, /* at least one warning */
        HEALTH_ERROR = 2,    /* an instance could not be read */
};

/* Derive the warnings of every instance and of the clusters their partners make. -ENOMEM. */
int health_check(Report *r);
/* HEALTH_OK, HEALTH_DEGRADED or HEALTH_ERROR. */
int health_verdict(const Report *r);

/* Index of the primary among members (answered, writable, the highest timeline), -1 when none. */
int health_primary(const MemberState *m, size_t n);
/* Index of a writable primary among members other than this node's own entry, -1 when none
 * (what `promote` refuses to run beside). */
int health_other_primary(const MemberState *m, size_t n);
