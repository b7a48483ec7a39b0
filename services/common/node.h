/* SPDX-License-Identifier: MIT */
/*
 * What every node does to its data directory, primary or standby: render
 * the suite's include file and pg_hba.conf, make sure postgresql.conf
 * includes the former, signal a reload, and exec the postmaster.
 */
#pragma once

#include "config.h"
#include "render.h"

/* Write RENDER_SETTINGS_FILE and pg_hba.conf, and the include line if missing. */
int node_write_config(const Config *c, const char *datadir, const StandbySettings *standby);
/* SIGHUP the postmaster running on datadir; -ESRCH when none runs. */
int node_signal_reload(const char *datadir);
/* Replace this process with the postmaster; returns only on failure. */
int node_exec_postmaster(const Config *c, const char *bindir, const char *datadir);
/* The data directory's state. */
typedef enum DataState {
        DATA_EMPTY,      /* absent or empty: a first start */
        DATA_CLUSTER,    /* a PostgreSQL cluster */
        DATA_FOREIGN,    /* not empty, not a cluster: never touched */
        DATA_PARTIAL,    /* PG_VERSION without global/pg_control: an interrupted initdb */
} DataState;
int node_data_state(const char *datadir, DataState *ret);
bool node_is_standby(const char *datadir);
