/* SPDX-License-Identifier: MIT */
/*
 * The failover agent's requests to root (SPEC section 11), pure: what the one word in
 * STATE_DIRECTORY/failover-request says, and what `pgreplctl failover-act` does about it for the
 * mode the instance's env file gives. No I/O; ctl-failover-act.c carries it out.
 */
#pragma once

#include <stddef.h>

#include "config.h"

#define FAILOVER_REQUEST "failover-request"
#define FAILOVER_SEEN "failover-seen"
#define FAILOVER_REQUEST_MAX 64 /* bytes: one word and a newline, with room to spare */

typedef enum FailoverWord {
        FAILOVER_WORD_UNKNOWN,
        FAILOVER_WORD_REJOIN, /* this node's server must become a standby of the leader */
        FAILOVER_WORD_START,  /* start this node's server unit (it holds the leader key, its server is down) */
} FailoverWord;

typedef enum FailoverStep {
        FAILOVER_IGNORE,          /* an unknown word: said, nothing done */
        FAILOVER_REJOIN,          /* a primary-mode node: what `pgreplctl rejoin NAME` does */
        FAILOVER_START_STANDBY_REJOIN, /* a standby-mode node: start pgrepl-standby@ (its start rewinds; a no-op while it runs) */
        FAILOVER_START_PRIMARY,   /* systemctl start pgrepl-primary@NAME */
        FAILOVER_START_STANDBY,   /* systemctl start pgrepl-standby@NAME */
} FailoverStep;

/* The request's text (n bytes, not NUL-terminated, any bytes): the one word, with surrounding
 * blanks and line ends allowed. Anything else, or more than one word, is FAILOVER_WORD_UNKNOWN. */
FailoverWord failover_parse(const char *text, size_t n);
/* What to do about word for an instance whose env file gives mode (ROLE_PRIMARY or ROLE_STANDBY). */
FailoverStep failover_decide(FailoverWord word, Role mode);
/* The text for a log line: printable ASCII kept, anything else '?', at most n - 1 bytes. */
void failover_printable(const char *text, size_t len, char *buf, size_t n);
