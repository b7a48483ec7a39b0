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
/*
 * Whether the data directory may be used, before anything is touched: 1
 * when it is absent or empty (a first start), 0 when it holds a cluster of
 * the major version of the server in bindir. Both units refuse, logged here
 * with -EINVAL, a directory that is not empty but holds no cluster, an
 * incomplete cluster (PG_VERSION without global/pg_control), and a cluster
 * of another major.
 */
int node_check_datadir(const char *datadir, const char *bindir);
bool node_is_standby(const char *datadir);
