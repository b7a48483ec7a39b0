/* SPDX-License-Identifier: MIT */
/*
 * What the server's last run died of (SPEC section 6: a status that tells
 * the truth). When a server unit's run fails, its ExecStopPost=+ step
 * (--record-exit, as root, which may read the journal) finds the last
 * FATAL or PANIC line of that run (the unit's invocation) and keeps it in
 * the instance's state directory; the next start takes it, logs it and
 * shows it in STATUS= beside what it starts. Neither function logs above
 * debug.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define LASTEXIT_FILE "last-exit"
/* What pgrepl logs right before it execs the postmaster, which keeps its PID: where a run's server
 * part begins in the journal (node_before_exec()'s callers). */
#define LASTEXIT_MARKER "Starting PostgreSQL "
/* The longest line kept, in bytes. */
#define LASTEXIT_MAX 300

/*
 * The --record-exit step, from systemd's environment ($SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS,
 * $INVOCATION_ID, $STATE_DIRECTORY): after a clean stop any old record goes; after a failure the
 * record holds the run's last PANIC line, else its postmaster's last FATAL line, or how the process
 * ended. A run that never started the server (a start pgrepl refused) writes nothing: an older
 * record stays. 0, or -errno.
 */
int lastexit_record(char **env);
/* From one journal MESSAGE, the part from "FATAL:" or "PANIC:" on, its runs of blanks and control
 * characters made one blank, at most LASTEXIT_MAX bytes; NULL when it has neither. Newly allocated. */
char *lastexit_extract(const char *message);
/* The record in state_dir: 1 with *ret (newly allocated), 0 when none; taken (removed) when
 * take, else left for a later start. */
int lastexit_read(const char *state_dir, bool take, char **ret);
