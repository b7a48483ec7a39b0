/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl failover-act NAME` (SPEC section 11), run as root by pgrepl-failover-act@.service when
 * the failover agent (the service user) left a one-word request in the instance's state directory.
 * The request is moved aside first (failover-request → failover-seen), whatever it is, so that the
 * path unit does not start us again for it; then it is read through a descriptor that never
 * follows a link, and only a small regular file of root or the service user with one name counts.
 * `rejoin` on a primary-mode node is `pgreplctl rejoin NAME`; on a standby-mode node a start of its
 * standby unit (whose start rewinds a superseded promoted node; not a restart, which would cut short
 * a rewind or clone under way); `start` starts the node's unit
 * for its mode. The decision is failover.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "failover.h"
#include "log.h"
#include "probe.h"
#include "units.h"
#include "util.h"

static int refuse(const char *state, const char *why) {
        log_error("Refusing the failover request '%s/%s': it %s; only a regular file of root or %s with one name "
                  "and at most %d bytes counts", state, FAILOVER_SEEN, why, PROBE_SERVICE_USER, FAILOVER_REQUEST_MAX);
        return CTL_EXIT_FAILED;
}

/* Move the request aside and read it: 1 with its text; 0 when there is none; else the exit status
 * (CTL_EXIT_FAILED or CTL_EXIT_ERROR, never 0 or 1), negated, after saying why. */
static int take_request(const char *state, char *buf, size_t size, size_t *ret_n) {
        _cleanup_close_ int dfd = -1, fd = -1;
        struct passwd *pw;
        struct stat st;
        ssize_t n;

        dfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 && errno == ENOENT)
                return 0;
        if (dfd < 0)
                return log_error_errno(-errno, "Cannot open the state directory '%s': %m", state), -CTL_EXIT_ERROR;
        /* renameat() moves a link itself, never what it points to. */
        if (renameat(dfd, FAILOVER_REQUEST, dfd, FAILOVER_SEEN) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(-errno, "Cannot move the failover request '%s/%s' aside: %m", state,
                                       FAILOVER_REQUEST), -CTL_EXIT_ERROR;
        }
        fd = openat(dfd, FAILOVER_SEEN, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 && errno == ELOOP)
                return -refuse(state, "is a symbolic link");
        if (fd < 0)
                return log_error_errno(-errno, "Cannot open the failover request '%s/%s': %m", state, FAILOVER_SEEN),
                       -CTL_EXIT_ERROR;
        if (fstat(fd, &st) < 0)
                return log_error_errno(-errno, "Cannot look at '%s/%s': %m", state, FAILOVER_SEEN), -CTL_EXIT_ERROR;
        pw = getpwnam(PROBE_SERVICE_USER);
        if (!S_ISREG(st.st_mode))
                return -refuse(state, "is not a regular file");
        if (st.st_uid != 0 && (!pw || st.st_uid != pw->pw_uid))
                return -refuse(state, "is owned by neither root nor " PROBE_SERVICE_USER);
        if (st.st_nlink != 1)
                return -refuse(state, "has other names (hard links)");
        if (st.st_size > FAILOVER_REQUEST_MAX)
                return -refuse(state, "is too long");
        n = read(fd, buf, size);
        if (n < 0)
                return log_error_errno(-errno, "Cannot read '%s/%s': %m", state, FAILOVER_SEEN), -CTL_EXIT_ERROR;
        if ((size_t) n > FAILOVER_REQUEST_MAX)
                return -refuse(state, "is too long");
        *ret_n = (size_t) n;
        return 1;
}

static int run_unit(const char *verb, UnitKind kind, const char *instance) {
        _cleanup_free_ char *unit = units_name(kind, instance);
        int r;

        if (!unit)
                return ctl_exit(log_oom());
        log_notice("The failover agent of '%s' asked for it: systemctl %s %s", instance, verb, unit);
        r = units_run((const char *const[]) { verb, unit, NULL });
        if (r == 0)
                return CTL_EXIT_OK;
        log_error("systemctl %s %s failed (%d)", verb, unit, r);
        ctl_tell_unit(instance, kind);
        return CTL_EXIT_ERROR;
}

static int act(const CtlArgs *a, FailoverWord word) {
        CtlArgs rejoin = { .verb = VERB_REJOIN, .instance = a->instance, .config = a->config, .wait = a->wait };
        Instance i = {};
        FailoverStep step;
        int r;

        r = instance_load(a->instance, a->config, false, &i);
        if (r < 0)
                return ctl_exit(r);
        step = failover_decide(word, i.role);
        instance_done(&i);
        switch (step) {
        case FAILOVER_REJOIN:
                log_notice("The failover agent of '%s' asked it to rejoin as a standby of the leader: pgreplctl "
                           "rejoin %s", a->instance, a->instance);
                return ctl_rejoin(&rejoin);
        case FAILOVER_START_STANDBY_REJOIN:
                return run_unit("start", UNIT_STANDBY, a->instance);
        case FAILOVER_START_PRIMARY:
                return run_unit("start", UNIT_PRIMARY, a->instance);
        case FAILOVER_START_STANDBY:
                return run_unit("start", UNIT_STANDBY, a->instance);
        case FAILOVER_IGNORE:
                break;
        }
        return CTL_EXIT_OK;
}

int ctl_failover_act(const CtlArgs *a) {
        _cleanup_free_ char *state = NULL;
        char buf[FAILOVER_REQUEST_MAX + 1], shown[FAILOVER_REQUEST_MAX + 1];
        FailoverWord word;
        size_t n = 0;
        int r;

        r = ctl_require_root(a);
        if (r != 0)
                return r;
        /* Where the units' StateDirectory= is: $STATE_DIRECTORY, else /var/lib/pgrepl/NAME. */
        state = config_state_dir(&(Config) { .instance = (char *) a->instance });
        if (!state)
                return ctl_exit(log_oom());
        r = take_request(state, buf, sizeof(buf), &n);
        if (r <= 0)
                return -r;
        word = failover_parse(buf, n);
        if (word == FAILOVER_WORD_UNKNOWN) {
                failover_printable(buf, n, shown, sizeof(shown));
                log_warning("Ignoring the failover request '%s/%s' of '%s': '%s' is neither 'rejoin' nor 'start'",
                            state, FAILOVER_SEEN, a->instance, shown);
                return CTL_EXIT_OK;
        }
        if (!units_available()) {
                log_error("systemd is not running here: failover-act starts and stops the instance's units");
                return CTL_EXIT_FAILED;
        }
        return act(a, word);
}
