/* SPDX-License-Identifier: MIT */
/*
 * A data directory's control file, as `pg_controldata` prints it (LC_ALL=C):
 * the system identifier, the latest checkpoint's timeline and position, the
 * minimum recovery point, and the hot-standby parameters pg_control records
 * (a clone carries the primary's values; replay keeps them current).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CONTROL_N_PARAMS 5

typedef struct ControlData {
        uint64_t sysid;            /* database system identifier */
        unsigned timeline;         /* latest checkpoint's timeline */
        uint64_t checkpoint_lsn;   /* latest checkpoint location */
        uint64_t min_recovery_lsn; /* minimum recovery ending location (0 when none) */
        unsigned min_recovery_tli;
        unsigned values[CONTROL_N_PARAMS]; /* in the order of control_param_name() */
} ControlData;

/* GUC name of hot-standby parameter i < CONTROL_N_PARAMS ("max_connections"), else NULL. */
const char *control_param_name(size_t i);
/* For messages: printf(LSN_FMT, LSN_ARGS(lsn)) gives PostgreSQL's "16/B374D848". */
#define LSN_FMT "%X/%X"
#define LSN_ARGS(x) (unsigned) ((x) >> 32), (unsigned) (x)

/* "16/B374D848" → 0x16B374D848. */
int control_parse_lsn(const char *s, uint64_t *ret);
/* Parse pg_controldata's output. -EBADMSG when a field is missing or odd. */
int control_parse(const char *text, ControlData *ret);
/*
 * The highest timeline pg_wal holds a WAL segment of ("000000020000000000000005" is timeline 2), 0
 * when none. The control file names a new timeline only at the next checkpoint; the segments show
 * it at once (a promotion starts one). History files alone do not count: a standby fetches its
 * primary's before it asks for WAL, and keeps it when the primary refuses it.
 */
unsigned control_wal_timeline(const char *datadir);
/* The timeline a data directory is on as far as can be told without starting it: the control
 * file's, its minimum recovery point's, or its WAL's, whichever is highest. */
unsigned control_timeline(const ControlData *cd, const char *datadir);

/* Run pg_controldata on datadir; -EBADMSG when its output cannot be parsed. Does not log. */
int control_read(const char *bindir, const char *datadir, ControlData *ret);
