/* SPDX-License-Identifier: MIT */
/*
 * What a hot standby must keep at least as high as its primary
 * (max_connections, max_worker_processes, max_wal_senders,
 * max_prepared_transactions, max_locks_per_transaction), or PostgreSQL
 * refuses to start it. The primary's values are the ones its control file
 * records (control.h); the standby's are what its own configuration files
 * give (`postgres -C`). Where the standby's would be lower, the primary's
 * are rendered as floors, each said in the log.
 */
#pragma once

#include <stddef.h>

#include "config.h"
#include "control.h"

/*
 * The floors datadir needs: settings (key, value) for each parameter whose
 * effective value there is lower than the primary's. *ret_n may be 0. A
 * failure is returned, not logged.
 */
int params_floors(const char *bindir, const char *datadir, const ControlData *cd, Setting **ret, size_t *ret_n);
void params_free(Setting *s, size_t n);
