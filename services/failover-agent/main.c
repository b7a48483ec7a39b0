/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-failover-agent: automatic failover on etcd (SPEC section 11), one
 * per node beside its server unit, opt-in with POSTGRESQL_FAILOVER=etcd.
 */
#include <errno.h>

#include "agent.h"
#include "cli.h"
#include "config.h"

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_start(argc, argv, ROLE_AGENT, "Hold the leader key in etcd, fence, elect and promote.", false, &a,
                      &c);
        if (r >= 0)
                return r;
        cli_drop_secrets(c);
        r = agent_run(c);
        return r == -EINTR ? 0 : exit_status(r);
}
