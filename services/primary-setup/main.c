/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-primary-setup: prepare a PostgreSQL primary from the POSTGRESQL_*
 * configuration, then exec the postmaster (the unit's main process).
 */
#include "cli.h"
#include "primary.h"

DEFINE_CLI_MAIN(ROLE_PRIMARY, "Prepare a PostgreSQL primary, then exec the postmaster.", primary_run, primary_reload);
