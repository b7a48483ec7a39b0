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

/*
 * The --record-exit step, from systemd's environment ($SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS,
 * $INVOCATION_ID, $STATE_DIRECTORY): after a clean stop any old record goes; after a failure the
 * record holds the run's last FATAL or PANIC line, or how the process ended when there is no record
 * yet (a start that pgrepl refused keeps what the server died of). 0, or -errno.
 */
int lastexit_record(char **env);
/* From one journal MESSAGE, the part from "FATAL:" or "PANIC:" on, its run of blanks made one
 * (PostgreSQL writes two); NULL when it has neither. Newly allocated. */
char *lastexit_extract(const char *message);
/* The record in state_dir: 1 with *ret (newly allocated), 0 when none; taken (removed) when
 * take, else left for a later start. */
int lastexit_read(const char *state_dir, bool take, char **ret);
