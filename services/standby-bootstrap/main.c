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
#include "upstream.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_start(argc, argv, ROLE_STANDBY,
                      "Wait for the primary, clone it on the first start, then exec the postmaster as its standby.",
                      true, &a, &c);
        if (r >= 0)
                return r;
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
