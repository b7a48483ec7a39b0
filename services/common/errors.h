/* SPDX-License-Identifier: MIT */
/*
 * Outcomes that are decisions, not faults. They travel like errnos (negative,
 * so `if (r < 0)` stays the one test) but lie past errno's range, so no libc
 * failure can be taken for one: a libc EINVAL is an internal error (70), a
 * configuration verdict is -PGREPL_E_CONFIG (78). Whoever returns one has
 * already logged why. exit_status() in cli.c maps them, in one table.
 */
#pragma once

#define PGREPL_E_BASE 10000

enum {
        PGREPL_E_CONFIG = PGREPL_E_BASE, /* the configuration (or what it points at) is wrong: exit 78 */
        PGREPL_E_USAGE,                  /* a bad command line: exit 64 */
        PGREPL_E_SUPERSEDED,             /* a partner has moved past this node: it must not run as a primary, exit 79 */
        PGREPL_E_REJOIN,                 /* pg_rewind could not rejoin this node; nothing was deleted: exit 80 */
        _PGREPL_E_MAX,
};

/* Whether r is one of the codes above (negative). */
static inline int pgrepl_is_verdict(int r) {
        return r <= -PGREPL_E_BASE && r > -_PGREPL_E_MAX;
}
