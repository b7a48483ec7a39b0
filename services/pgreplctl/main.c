/* SPDX-License-Identifier: MIT */
/*
 * pgreplctl: the operator's view of a pgrepl cluster and its commands (SPEC section 9): status,
 * promote, follow, rejoin; and failover-act, which the failover agent's requests start (section 11).
 */
#include "args.h"
#include "ctl.h"

int main(int argc, char **argv) {
        static int (*const run[_VERB_MAX])(const CtlArgs *) = {
                [VERB_STATUS] = ctl_status,
                [VERB_PROMOTE] = ctl_promote,
                [VERB_FOLLOW] = ctl_follow,
                [VERB_REJOIN] = ctl_rejoin,
                [VERB_FAILOVER_ACT] = ctl_failover_act,
        };
        CtlArgs a;
        int r;

        r = args_parse(argc, argv, &a);
        if (r <= 0)
                return r == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        return run[a.verb](&a);
}
