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
#include "secrets.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_parse(argc, argv, "Prepare a PostgreSQL primary, then exec the postmaster.", true, &a);
        if (r <= 0)
                return r == 0 ? EX_OK : EX_USAGE;
        if (a.stage_secrets)
                return exit_status(secrets_stage(environ));
        r = config_load(ROLE_PRIMARY, a.instance, a.config, environ, &c);
        if (r < 0)
                return exit_status(r);
        if (a.check) {
                config_dump(c, stdout);
                return EX_OK;
        }
        r = cli_refuse_root();
        if (r < 0)
                return exit_status(r);
        r = a.reload ? primary_reload(c) : primary_run(c);
        return exit_status(r);
}
