/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-trigger-watcher: promote the local standby when its trigger file
 * appears (the seed's `touch /tmp/postgresql.trigger.5432`), with
 * pg_promote() instead of PostgreSQL's polling promote_trigger_file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "watch.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_start(argc, argv, ROLE_WATCHER, "Promote the local standby when its trigger file appears.", false,
                      &a, &c);
        if (r >= 0)
                return r;
        cli_drop_secrets(c);
        return exit_status(watch_run(c));
}
