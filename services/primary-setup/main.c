/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-primary-setup: prepare a PostgreSQL primary from the POSTGRESQL_*
 * configuration, then exec the postmaster (the unit's main process).
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "primary.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_start(argc, argv, ROLE_PRIMARY, "Prepare a PostgreSQL primary, then exec the postmaster.", true,
                      &a, &c);
        if (r >= 0)
                return r;
        r = a.reload ? primary_reload(c) : primary_run(c);
        return exit_status(r);
}
