/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-trigger-watcher: promote the local standby when its trigger file
 * appears (the seed's `touch /tmp/postgresql.trigger.5432`), with
 * pg_promote() instead of PostgreSQL's polling promote_trigger_file.
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "watch.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_parse(argc, argv, "Promote the local standby when its trigger file appears.", false, &a);
        if (r <= 0)
                return r == 0 ? EX_OK : EX_USAGE;
        r = config_load(ROLE_WATCHER, a.instance, a.config, environ, &c);
        if (r < 0)
                return exit_status(r);
        if (a.check) {
                config_dump(c, stdout);
                return EX_OK;
        }
        r = cli_refuse_root();
        if (r < 0)
                return exit_status(r);
        return exit_status(watch_run(c));
}
