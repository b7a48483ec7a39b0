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
#include "signals.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r, sig;

        r = cli_start(argc, argv, ROLE_STANDBY,
                      "Wait for the primary, clone it on the first start, then exec the postmaster as its standby.",
                      true, &a, &c);
        if (r >= 0)
                return r;
        r = a.reload ? bootstrap_reload(c) : bootstrap_run(c);
        sig = signals_stop_requested();
        if (r == -EINTR && sig > 0) {
                /* Stopped while waiting or cloning: die of the same signal, which systemd counts as clean. */
                log_notice("Stopping on %s: PostgreSQL was not started", sig == SIGINT ? "SIGINT" : "SIGTERM");
                config_free(TAKE_PTR(c));
                signals_exit_by(sig);
        }
        return exit_status(r);
}
