/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "control.h"
#include "diverge.h"
#include "peer.h"
#include "pg.h"
#include "render.h"
#include "rewind.h"
#include "spawn-util.h"
#include "util.h"

/* Each extension covers a few seconds of silence from pg_rewind (it copies in big steps). */
#define REWIND_EXTEND_USEC (60ULL * 1000000ULL)

int rewind_parse_line(const char *line, RewindReport *r) {
        unsigned hi, lo, tli;
        const char *p;

        if (strstr(line, "no rewind required")) {
                r->not_needed = true;
                return 1;
        }
        p = strstr(line, "servers diverged at WAL location ");
        if (p && sscanf(p, "servers diverged at WAL location %X/%X on timeline %u", &hi, &lo, &tli) == 3) {
                r->fork = ((uint64_t) hi << 32) | lo;
                r->fork_tli = tli;
                return 1;
        }
        return 0;
}

static char *marker_path(const Config *c) {
        _cleanup_free_ char *state = config_state_dir(c);

        return state ? path_join(state, NODE_REWIND_MARKER) : NULL;
}

typedef struct Follow {
        const char *source;
        RewindReport report;
        char last[256];
        uint64_t last_status;
} Follow;

static int on_line(void *userdata, char *line) {
        Follow *f = userdata;

        if (!*line)
                return 0;
        (void) rewind_parse_line(line, &f->report);
        snprintf(f->last, sizeof(f->last), "%s", line);
        /* Progress lines come many a second; the rest is worth the journal. */
        if (!strstr(line, "kB (") || !strstr(line, "copied"))
                log_info("pg_rewind: %s", strncmp(line, "pg_rewind: ", 11) == 0 ? line + 11 : line);
        return 0;
}

static int on_tick(void *userdata) {
        Follow *f = userdata;
        uint64_t now = now_usec();

        if (now < f->last_status + 1000000ULL)
                return 0;
        f->last_status = now;
        notify_status("rewinding from '%s': %s", f->source, *f->last ? f->last : "starting pg_rewind");
        notify_extend_timeout(REWIND_EXTEND_USEC);
        return 0;
}

/* The source's conninfo for pg_rewind and for the checkpoint before it: a plain connection as the
 * replication user (granted what pg_rewind reads, roles.c). */
static char *source_conninfo(const Config *c, const Partner *source, const char *passfile) {
        char port[8];
        const char *keys[] = { "host", "port", "user", "passfile", "dbname", "application_name", NULL };
        const char *values[] = { source->host, port, config_get(c, VAR_REPLICATION_USER), passfile, "postgres",
                                 "pgrepl-rewind", NULL };
        PgConnParams p;

        snprintf(port, sizeof(port), "%u", source->port);
        pg_conn_params(keys, values, &p);
        return render_conninfo(p.keys, p.values);
}

/* Right after a promotion the source's pg_control still names its old timeline until a checkpoint,
 * and pg_rewind would find "no rewind required". Best effort: without the right (before 15) the
 * check after pg_rewind catches it. */
static void checkpoint_source(const char *conninfo, const char *display) {
        _cleanup_pq_ PGconn *conn = PQconnectdb(conninfo);

        if (PQstatus(conn) != CONNECTION_OK || pg_exec(conn, "CHECKPOINT") < 0)
                log_debug("No checkpoint on '%s' before the rewind: %s", display,
                          conn ? PQerrorMessage(conn) : "out of memory");
}

static int run_pg_rewind(const char *bindir, const char *datadir, const char *conninfo, Follow *f) {
        _cleanup_free_ char *bin = pg_bin(bindir, "pg_rewind"), *src = NULL;
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        _cleanup_close_ int rfd = -1, wfd = -1;
        pid_t pid;
        int fds[2], r, st;

        if (!bin || asprintf(&src, "--source-server=%s", conninfo) < 0)
                return log_oom();
        if (pipe2(fds, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        rfd = fds[0];
        wfd = fds[1];
        {
                char *argv[] = { bin, "--target-pgdata", (char *) datadir, src, "--progress", NULL };

                r = spawn_start(argv, envp, wfd, wfd, &pid);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to run '%s': %m", bin);
        closep(&wfd);
        r = spawn_follow_lines(rfd, on_line, on_tick, f);
        if (r < 0)
                (void) kill(pid, SIGTERM);
        st = 0;
        if (spawn_wait(pid, &st) < 0 && r >= 0)
                r = -ECHILD;
        if (r == -EINTR)
                log_notice("pg_rewind stopped by a stop request; the rewind is done again at the next start");
        else if (r < 0)
                log_error_errno(r, "Failed to follow pg_rewind: %m");
        return r < 0 ? r : st;
}

static void log_discarded(const char *datadir, const char *source, const RewindReport *rep, uint64_t old_end) {
        if (rep->not_needed)
                log_notice("'%s' needed no rewind to follow '%s': its history is part of the primary's", datadir,
                           source);
        else if (rep->fork)
                log_notice("Rewound '%s' from '%s': this node's WAL from " LSN_FMT " (where it forked off timeline "
                           "%u) to " LSN_FMT " or later was discarded", datadir, source, LSN_ARGS(rep->fork),
                           rep->fork_tli, LSN_ARGS(old_end));
        else
                log_notice("Rewound '%s' from '%s'", datadir, source);
}

/* Whether the watcher saw this standby replay past lsn (diverge.h's record of the rejoin it asked for). */
static bool replayed_past(const Config *c, uint64_t lsn) {
        _cleanup_free_ char *state = config_state_dir(c);
        _cleanup_free_ char *seen = state ? path_join(state, DIVERGE_SEEN) : NULL;
        Divergence d;

        return seen && diverge_read(seen, &d) > 0 && d.replayed > lsn;
}

int rewind_run(const Config *c, const char *bindir, const char *datadir, const Partner *source,
               unsigned source_tli, const char *passfile) {
        _cleanup_free_ char *marker = marker_path(c), *sig = path_join(datadir, "standby.signal"), *note = NULL;
        _cleanup_free_ char *conninfo = source_conninfo(c, source, passfile);
        Follow f = { .source = source->display };
        ControlData cd = {};
        uint64_t old_end;
        int r;

        if (!marker || !sig || !conninfo || asprintf(&note, "source=%s\n", source->display) < 0)
                return log_oom();
        r = control_read(bindir, datadir, &cd);
        if (r < 0)
                return log_error_errno(r, "Failed to read the control data of '%s': %m", datadir);
        old_end = cd.min_recovery_lsn > cd.checkpoint_lsn ? cd.min_recovery_lsn : cd.checkpoint_lsn;
        r = fs_write_atomic(marker, note, 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", marker);
        /* pg_rewind finishes an unclean shutdown in single-user mode, which refuses standby.signal;
         * the marker keeps the directory from starting as a primary meanwhile. */
        if (unlink(sig) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to remove '%s': %m", sig);
        log_notice("Rewinding '%s' from the primary '%s' with pg_rewind", datadir, source->display);
        notify_status("rewinding from '%s'", source->display);
        checkpoint_source(conninfo, source->display);
        r = run_pg_rewind(bindir, datadir, conninfo, &f);
        if (r < 0)
                return r;
        if (r == 0 && f.report.not_needed && !(f.report.fork && !replayed_past(c, f.report.fork)) &&
            source_tli != control_timeline(&cd, datadir)) {
                /* pg_rewind read a control file older than the promotion: its verdict is not to be
                 * trusted, and nothing was changed. The marker stays; the unit tries again. When it
                 * named the fork it did read the new timeline: this directory ends before the fork
                 * (an old primary stopped before a switchover) and follows without a rewind, unless
                 * the watcher saw it replay past the fork (a standby's control file lags). */
                log_notice("'%s' is on timeline %u, but its control file does not say so yet (no checkpoint "
                           "there since its promotion), so pg_rewind's 'no rewind required' is not to be trusted: "
                           "trying again shortly", source->display, source_tli);
                notify_status("waiting for a checkpoint on '%s' after its promotion", source->display);
                return -EAGAIN;
        }
        if (r != 0) {
                log_error("pg_rewind from '%s' failed (status %d): %s. Nothing was deleted; '%s' stays as it "
                          "was and is not started. To clone it afresh instead: pgreplctl rejoin %s --reclone",
                          source->display, r, *f.last ? f.last : "no message", datadir, c->instance);
                return -PGREPL_E_REJOIN;
        }
        r = fs_write_atomic(sig, "", 0600);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", sig);
        log_discarded(datadir, source->display, &f.report, old_end);
        if (unlink(marker) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to remove '%s': %m", marker);
        return 0;
}
