/* SPDX-License-Identifier: MIT */
/*
 * What a hot standby must keep at least as high as its primary
 * (max_connections, max_worker_processes, max_wal_senders,
 * max_prepared_transactions, max_locks_per_transaction), or PostgreSQL
 * refuses to start it. The primary's values are the ones pg_control
 * records (a clone carries them; replay updates them); the standby's are
 * what its own configuration files give (`postgres -C`). Where the standby's
 * would be lower, the primary's are rendered as floors.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define PARAMS_N 5

typedef struct ControlData {
        uint64_t sysid;            /* database system identifier */
        unsigned timeline;         /* latest checkpoint's timeline */
        uint64_t checkpoint_lsn;   /* latest checkpoint location */
        uint64_t min_recovery_lsn; /* minimum recovery ending location (0 when none) */
        unsigned min_recovery_tli;
        unsigned values[PARAMS_N]; /* in the order of params_guc() */
} ControlData;

/* GUC name of parameter i < PARAMS_N. */
const char *params_guc(size_t i);
/* Parse `pg_controldata` output (LC_ALL=C). -EBADMSG when a field is missing. */
int params_parse_controldata(const char *text, ControlData *ret);
/* Run pg_controldata on datadir. */
int params_read_control(const char *bindir, const char *datadir, ControlData *ret);
/*
 * The floors datadir needs: settings (key, value) for each parameter whose
 * effective value there is lower than the primary's. *ret_n may be 0.
 */
int params_floors(const char *bindir, const char *datadir, const ControlData *cd, Setting **ret, size_t *ret_n);
void params_free(Setting *s, size_t n);
