/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-standby-bootstrap: wait for the primary, clone it on the first
 * start, render the standby's settings, then exec the postmaster (the
 * unit's main process). Stopped while it waits or clones, it ends by the
 * signal (cli_main()).
 */
#include "bootstrap.h"
#include "cli.h"

DEFINE_CLI_MAIN(ROLE_STANDBY,
                "Wait for the primary, clone it on the first start, then exec the postmaster as its standby.",
                bootstrap_run, bootstrap_reload);
