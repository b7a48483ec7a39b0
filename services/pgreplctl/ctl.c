/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl.h"
#include "errors.h"
#include "log.h"
#include "units.h"

static const char *const verb_names[_VERB_MAX] = {
        [VERB_STATUS] = "status", [VERB_PROMOTE] = "promote", [VERB_FOLLOW] = "follow", [VERB_REJOIN] = "rejoin",
        [VERB_FAILOVER_ACT] = "failover-act",
};

int ctl_exit(int r) {
        if (r >= 0)
                return CTL_EXIT_OK;
        return r == -PGREPL_E_USAGE ? CTL_EXIT_USAGE : CTL_EXIT_ERROR;
}

int ctl_require_root(const CtlArgs *a) {
        if (geteuid() == 0)
                return 0;
        log_error("pgreplctl %s changes the instance (its env file, trigger file or units): run it as root",
                  verb_names[a->verb]);
        return CTL_EXIT_NOPERM;
}

int ctl_load(const CtlArgs *a, Instance *ret, Passfile *ret_passfile) {
        int r;

        r = instance_load(a->instance, a->config, false, ret);
        if (r < 0)
                return ctl_exit(r);
        r = cluster_passfile(ret->config, true, ret_passfile);
        if (r < 0) {
                instance_done(ret);
                return ctl_exit(log_oom());
        }
        return 0;
}

void ctl_tell_unit(const char *instance, int kind) {
        UnitState units[REPORT_UNITS] = {};
        const UnitState *u = &units[kind];

        if (units_available() && units_show(instance, units) >= 0 && u->name)
                log_notice("%s: %s%s%s%s%s%s", u->name, u->active ? u->active : "unknown", u->sub ? " (" : "",
                           u->sub ? u->sub : "", u->sub ? ")" : "", u->status ? ": " : "", u->status ? u->status : "");
        for (size_t i = 0; i < REPORT_UNITS; i++)
                unit_state_done(&units[i]);
}
