/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-standby-bootstrap: wait for the primary, clone it on the first
 * start, render the standby's settings, then exec the postmaster (the
 * unit's main process).
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "bootstrap.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "secrets.h"
#include "upstream.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_parse(argc, argv, "Wait for the primary, clone it on the first start, then exec the postmaster "
                      "as its standby.", true, &a);
        if (r <= 0)
                return r == 0 ? EX_OK : EX_USAGE;
        if (a.stage_secrets)
                return exit_status(secrets_stage(environ));
        r = config_load(ROLE_STANDBY, a.instance, a.config, environ, &c);
        if (r < 0)
                return exit_status(r);
        if (a.check) {
                config_dump(c, stdout);
                return EX_OK;
        }
        r = cli_refuse_root();
        if (r < 0)
                return exit_status(r);
        r = a.reload ? bootstrap_reload(c) : bootstrap_run(c);
        if (r == -EINTR && upstream_interrupted) {
                /* Stopped while waiting or cloning: die of the same signal, which systemd counts as clean. */
                int sig = upstream_interrupted;

                config_free(TAKE_PTR(c));
                signal(sig, SIG_DFL);
                raise(sig);
        }
        return exit_status(r);
}
