/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl promote NAME [--wait SECONDS] [--force]`: what the seed's `touch` does, the trigger
 * file (root's, 0600, never through a link), which the watcher acts on; then wait until the
 * server is writable and say how long it took. Refused while another node is a writable primary,
 * except with POSTGRESQL_FAILOVER=etcd (SPEC section 11): there the watcher hands the trigger to the
 * failover agent, and the promotion is a switchover through etcd (the old primary steps down, this
 * node takes the leader key), which is the point of asking while another node is the primary.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "fs.h"
#include "health.h"
#include "record.h"
#include "log.h"
#include "pg.h"
#include "probe.h"
#include "show.h"
#include "units.h"
#include "util.h"

/* A writable primary among the other nodes (the partners, else the master host): 1 with its
 * name and timeline, 0 when none answers as one. */
static int other_primary(const Instance *i, const char *passfile, char *who, size_t n, unsigned *ret_tli) {
        const Config *c = i->config;
        MemberState *m = NULL, one = {};
        size_t n_m = 0;
        int p, r;

        if (config_has_partners(c)) {
                r = cluster_ask(c, passfile, NULL, &m, &n_m);
        } else if (config_get(c, VAR_MASTER_HOST)) {
                r = cluster_ask_host(c, passfile, config_get(c, VAR_MASTER_HOST), c->master_port, &one);
                m = &one;
                n_m = 1;
        } else
                return 0;
        if (r < 0)
                return r;
        p = health_other_primary(m, n_m);
        if (p >= 0) {
                snprintf(who, n, "%s", m[p].member);
                *ret_tli = m[p].peer.timeline;
        }
        for (size_t k = 0; k < n_m; k++)
                member_state_done(&m[k]);
        if (m != &one)
                free(m);
        return p >= 0;
}

/* Create the trigger file as root, 0600, never through a link. One left behind (the watcher
 * could not remove it, or nothing was watching) is replaced: a new file is what counts. */
static int touch_trigger(const char *path) {
        struct passwd *pw = getpwnam(PROBE_SERVICE_USER);

        for (unsigned attempt = 0;; attempt++) {
                int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
                struct stat st;

                if (fd >= 0) {
                        close(fd);
                        return 0;
                }
                if (errno != EEXIST || attempt > 0)
                        return log_error_errno(-errno, "Failed to create the trigger file '%s': %m", path);
                if (lstat(path, &st) < 0)
                        continue;
                if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && (!pw || st.st_uid != pw->pw_uid))) {
                        log_error("'%s' exists and is not a trigger file of root or %s (%s, uid %u): the watcher "
                                  "ignores it; remove it and try again", path, PROBE_SERVICE_USER,
                                  S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISREG(st.st_mode) ? "a file" : "not a file",
                                  (unsigned) st.st_uid);
                        return -EEXIST;
                }
                if (unlink(path) < 0)
                        return log_error_errno(-errno, "Failed to replace the old trigger file '%s': %m", path);
        }
}

/* Until the server is writable or the deadline passes: 0, or -ETIMEDOUT. */
static int wait_writable(const Config *c, uint64_t deadline, unsigned *ret_tli, uint64_t *ret_lsn) {
        PGconn *conn = NULL;
        int r = -ETIMEDOUT;

        for (;;) {
                bool rec = true;

                if (!conn || PQstatus(conn) != CONNECTION_OK) {
                        PQfinishp(&conn);
                        conn = probe_connect(c);
                }
                if (conn && PQstatus(conn) == CONNECTION_OK && probe_position(conn, &rec, ret_tli, ret_lsn) >= 0 &&
                    !rec) {
                        r = 0;
                        break;
                }
                if (now_usec() >= deadline)
                        break;
                (void) usleep(20 * 1000);
        }
        PQfinishp(&conn);
        return r;
}

/* The local server must answer and be in recovery: 1 to go on, else the exit status. */
static int check_local(const Instance *i) {
        _cleanup_pq_ PGconn *conn = probe_connect(i->config);
        unsigned tli;
        uint64_t lsn;
        bool rec;
        char at[32];

        if (!conn || PQstatus(conn) != CONNECTION_OK) {
                log_error("The server of '%s' does not answer (%s): there is nothing to promote", i->name,
                          pg_error_reason(conn));
                ctl_tell_unit(i->name, UNIT_STANDBY);
                return CTL_EXIT_FAILED;
        }
        if (probe_position(conn, &rec, &tli, &lsn) < 0) {
                log_error("Cannot ask the server of '%s' whether it is in recovery: %s", i->name, PQerrorMessage(conn));
                return CTL_EXIT_ERROR;
        }
        if (!rec) {
                show_lsn(lsn, at, sizeof(at));
                printf("'%s' is already a primary: timeline %u, LSN %s\n", i->name, tli, at);
                return CTL_EXIT_OK;
        }
        return 1;
}

static int refuse_beside_primary(const CtlArgs *a, const Instance *i, const char *passfile) {
        char who[128];
        unsigned tli = 0;
        int r;

        /* In etcd mode the primary steps down for this node: a switchover, never two primaries. */
        if (a->force || i->config->failover_etcd)
                return 0;
        r = other_primary(i, passfile, who, sizeof(who), &tli);
        if (r < 0)
                return ctl_exit(log_oom());
        if (r == 0)
                return 0;
        log_error("Refusing to promote '%s': '%s' is a writable primary (timeline %u), and two would take writes. "
                  "Stop it first, or use --force", i->name, who, tli);
        return CTL_EXIT_FAILED;
}

/* The watcher does the promoting: say so at once when systemd says it does not run. */
static void warn_no_watcher(const char *instance) {
        UnitState units[REPORT_UNITS] = {};

        if (units_available() && units_show(instance, units) >= 0 && units[UNIT_TRIGGER].active &&
            !streq(units[UNIT_TRIGGER].active, "active"))
                log_warning("%s is %s: nothing acts on the trigger file until it runs", units[UNIT_TRIGGER].name,
                            units[UNIT_TRIGGER].active);
        for (size_t k = 0; k < REPORT_UNITS; k++)
                unit_state_done(&units[k]);
}

/* Why a promotion did not come in time, as far as this host can tell: buf, "" when it cannot. */
static const char *why_not_writable(const Instance *i, const char *trigger, char *buf, size_t n) {
        _cleanup_free_ char *state = NULL, *request = NULL;

        if (fs_exists(trigger))
                return "; the trigger file is still there: is its watcher running?";
        if (!i->config->failover_etcd)
                return "";
        state = config_state_dir(i->config);
        request = state ? path_join(state, SWITCHOVER_REQUEST) : NULL;
        if (request && fs_exists(request))
                snprintf(buf, n, "; the watcher asked the failover agent for the switchover ('%s'), which has not "
                         "taken the request: is pgrepl-failover@%s running?", request, i->name);
        else
                snprintf(buf, n, "; the failover agent took the switchover request: see journalctl -u "
                         "pgrepl-failover@%s, and the leader key in pgreplctl status %s", i->name, i->name);
        return buf;
}

static int promote(const CtlArgs *a, const Instance *i) {
        const char *trigger = config_get(i->config, VAR_PROMOTE_TRIGGER_FILE);
        bool etcd = i->config->failover_etcd;
        uint64_t start, lsn = 0;
        unsigned tli = 0;
        char at[32], why[PATH_MAX + 256];
        int r;

        start = now_usec();
        r = touch_trigger(trigger);
        if (r < 0)
                return CTL_EXIT_ERROR;
        if (etcd)
                printf("POSTGRESQL_FAILOVER=etcd: asked for a switchover to '%s' through etcd (its watcher hands "
                       "the trigger to the failover agent; the primary steps down, this node takes the leader key)\n",
                       i->name);
        r = wait_writable(i->config, start + (uint64_t) a->wait * 1000000ULL, &tli, &lsn);
        if (r < 0) {
                log_error("'%s' is still in recovery after %u s%s", i->name, a->wait, why_not_writable(i, trigger, why, sizeof(why)));
                ctl_tell_unit(i->name, UNIT_TRIGGER);
                return CTL_EXIT_FAILED;
        }
        show_lsn(lsn, at, sizeof(at));
        printf("Promoted '%s'%s: writable after %llu ms, timeline %u, LSN %s\n", i->name,
               etcd ? " by a switchover through etcd" : "", (unsigned long long) ((now_usec() - start) / 1000), tli,
               at);
        return CTL_EXIT_OK;
}

int ctl_promote(const CtlArgs *a) {
        Instance i = {};
        Passfile pf = {};
        int r;

        r = ctl_require_root(a);
        if (r == 0)
                r = ctl_load(a, &i, &pf);
        if (r != 0)
                return r;
        if (i.role != ROLE_STANDBY) {
                log_error("'%s' is a primary instance (POSTGRESQL_REPLICATION_MODE in '%s'): there is no standby "
                          "to promote", i.name, i.path);
                r = CTL_EXIT_FAILED;
        } else if ((r = check_local(&i)) == 1 && (r = refuse_beside_primary(a, &i, pf.path)) == 0) {
                warn_no_watcher(i.name);
                r = promote(a, &i);
        }
        cluster_passfile_done(&pf);
        instance_done(&i);
        return r;
}
