/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl status [NAME] [--json]`: gather every local instance (units, server, promotion record,
 * partners, and in etcd mode the cluster's keys in etcd), judge, print. Any user who can read the
 * env files may run it; what it cannot look at (another user's server, a root-only secret) is said,
 * not fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "errors.h"
#include "etcdview.h"
#include "health.h"
#include "log.h"
#include "pg.h"
#include "probe.h"
#include "show.h"
#include "units.h"
#include "util.h"

static char *load_error(int r, const char *path) {
        char *s = NULL;

        if (r == -ENOENT)
                r = asprintf(&s, "'%s' does not exist", path);
        else if (r == -EACCES)
                r = asprintf(&s, "cannot read '%s': permission denied", path);
        else if (r == -PGREPL_E_CONFIG)
                r = asprintf(&s, "the configuration is not valid (the reasons are on stderr)");
        else
                r = asprintf(&s, "cannot be read: %s", strerror(-r));
        return r < 0 ? NULL : s;
}

static int gather_promotion(const Instance *i, InstanceReport *r) {
        _cleanup_free_ char *state = config_state_dir(i->config);
        int q;

        if (!state)
                return -ENOMEM;
        q = record_read(state, &r->promotion);
        if (q == -ENOMEM)
                return q;
        if (q < 0 && q != -EACCES)
                log_warning_errno(q, "The promotion record in '%s' cannot be read: %m", state);
        r->has_promotion = q > 0;
        return 0;
}

static int gather_members(const Instance *i, PGconn *local, InstanceReport *r) {
        Passfile pf = {};
        int q;

        q = cluster_passfile(i->config, !i->secrets_unreadable, &pf);
        if (q >= 0 && !pf.path) {
                /* Each partner would say "authentication failed": that is this user's lot, not theirs. */
                r->members_error = strdup("this user can read neither the replication passfile nor the replication "
                                          "password; run pgreplctl as root");
                q = r->members_error ? 0 : -ENOMEM;
        } else if (q >= 0)
                q = cluster_ask(i->config, pf.path, local, &r->members, &r->n_members);
        cluster_passfile_done(&pf);
        return q;
}

static int gather(const CtlArgs *a, const char *name, InstanceReport *r) {
        _cleanup_pq_ PGconn *conn = NULL;
        Instance i = {};
        int q;

        r->name = strdup(name);
        if (!r->name || asprintf(&r->env_file, "%s/%s.env", instance_confdir(), name) < 0)
                return -ENOMEM;
        q = instance_load(name, a->config, true, &i);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return (r->error = load_error(q, r->env_file)) ? 0 : -ENOMEM;
        r->mode_primary = i.role == ROLE_PRIMARY;
        r->num_sync = i.config->num_sync;
        q = units_show(name, r->units);
        if (q >= 0)
                q = probe_server(i.config, &r->server, &conn);
        if (q >= 0)
                q = gather_promotion(&i, r);
        if (q >= 0 && config_has_partners(i.config))
                q = gather_members(&i, conn, r);
        if (q >= 0 && i.config->failover_etcd)
                q = etcdview_gather(i.config, &r->etcd);
        instance_done(&i);
        return q;
}

static bool use_colour(void) {
        const char *term = getenv("TERM");

        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && streq(term, "dumb"));
}

int ctl_status(const CtlArgs *a) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *out = NULL;
        Report rep = {};
        int r = 0;

        if (a->instance) {
                names = calloc(2, sizeof(char *));
                if (!names || !(names[0] = strdup(a->instance)))
                        return ctl_exit(log_oom());
        } else {
                r = instance_list(&names);
                if (r < 0)
                        return ctl_exit(log_error_errno(r, "Cannot list the instances in '%s': %m", instance_confdir()));
                if (!names[0]) {
                        log_error("No instances: no NAME.env files in '%s'", instance_confdir());
                        return CTL_EXIT_ERROR;
                }
        }
        for (size_t k = 0; names[k]; k++) {
                InstanceReport *item = report_add(&rep);

                r = item ? gather(a, names[k], item) : -ENOMEM;
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = health_check(&rep);
        if (r >= 0)
                out = a->json ? show_json(&rep) : show_table(&rep, use_colour());
        if (r < 0 || !out) {
                report_done(&rep);
                return ctl_exit(log_oom());
        }
        fputs(out, stdout);
        r = health_verdict(&rep);
        report_done(&rep);
        return r;
}
