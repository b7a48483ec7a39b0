/* SPDX-License-Identifier: MIT */
/*
 * The primary: first start initializes the cluster; every start renders
 * the suite's settings and pg_hba, brings roles and the database in line
 * (through a short-lived server on a private socket, skipped when nothing
 * they depend on changed), then execs the postmaster.
 */
#pragma once

#include "config.h"

/* Prepare and exec the postmaster; returns only on failure. */
int primary_run(const Config *c);
/* Re-render settings, apply role changes, reload the running server. */
int primary_reload(const Config *c);
