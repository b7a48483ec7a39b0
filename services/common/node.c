/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "lastexit.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "pg.h"
#include "signals.h"
#include "spawn-util.h"
#include "util.h"

/* postgresql.conf stays the user's: we only append one include line, once. */
static int ensure_include(const char *datadir) {
        _cleanup_free_ char *conf = path_join(datadir, "postgresql.conf"), *s = NULL, *n = NULL;
        int r;

        if (!conf)
                return -ENOMEM;
        r = fs_read_file(conf, &s);
        if (r == -ENOENT)
                s = strdup("");
        else if (r < 0)
                return r;
        if (!s)
                return -ENOMEM;
        if (strstr(s, RENDER_INCLUDE_LINE))
                return 0;
        if (asprintf(&n, "%s%s%s\n", s, *s && s[strlen(s) - 1] != '\n' ? "\n" : "", RENDER_INCLUDE_LINE) < 0)
                return -ENOMEM;
        return fs_write_atomic(conf, n, 0600);
}

int node_write_config(const Config *c, const char *datadir, const StandbySettings *standby) {
        _cleanup_free_ char *settings = render_settings(c, standby), *hba = render_hba(c);
        _cleanup_free_ char *sp = path_join(datadir, RENDER_SETTINGS_FILE), *hp = path_join(datadir, "pg_hba.conf");
        int r;

        if (!settings || !hba || !sp || !hp)
                return -ENOMEM;
        r = fs_write_atomic(sp, settings, 0600);
        if (r < 0)
                return r;
        r = fs_write_atomic(hp, hba, 0600);
        if (r < 0)
                return r;
        return ensure_include(datadir);
}

int node_postmaster_running(const char *datadir, pid_t *ret_pid) {
        _cleanup_free_ char *cwd = NULL;
        struct stat proc, data;
        pid_t pid;
        int r;

        r = pg_postmaster_pid(datadir, &pid);
        if (r == -ESRCH || r == -EBADMSG)
                return 0;
        if (r < 0)
                return r;
        /* postmaster.pid outlives a crashed server, and its pid may since be another process (even
         * this one, restarted by systemd): it is the postmaster only if it works in this data
         * directory (the postmaster chdirs there). A process of another user cannot be it. */
        if (pid == getpid())
                return 0;
        if (asprintf(&cwd, "/proc/%d/cwd", (int) pid) < 0)
                return -ENOMEM;
        if (stat(datadir, &data) < 0)
                return -errno;
        if (stat(cwd, &proc) < 0)
                return errno == ENOENT || errno == ESRCH || errno == EACCES || errno == EPERM ? 0 : -errno;
        if (proc.st_dev != data.st_dev || proc.st_ino != data.st_ino)
                return 0;
        if (ret_pid)
                *ret_pid = pid;
        return 1;
}

int node_refuse_running(const DataDir *d) {
        pid_t pid = 0;
        int r;

        if (d->kind == DATADIR_EMPTY)
                return 0;
        r = node_postmaster_running(d->path, &pid);
        if (r < 0)
                return log_error_errno(r, "Cannot tell whether a server runs on '%s': %m", d->path);
        if (r == 0)
                return 0;
        log_error("A PostgreSQL server (pid %d) already runs on '%s': nothing was written into it. Two instances "
                  "on one data directory? Stop that server first (exit 75: tried again later)", (int) pid, d->path);
        return -EAGAIN;
}

/* Whether one address of the server's port can be bound as the postmaster binds it (SO_REUSEADDR,
 * IPv6 only on the IPv6 socket): 0, or the negative errno. */
static int try_bind(int family, const char *addr, unsigned port) {
        _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        union {
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        int one = 1;

        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET6) {
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, addr, &sa.in6.sin6_addr) != 1)
                        return -EINVAL;
        } else {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, addr, &sa.in.sin_addr) != 1)
                        return -EINVAL;
        }
        if (bind(fd, (struct sockaddr *) &sa, family == AF_INET6 ? sizeof(sa.in6) : sizeof(sa.in)) < 0)
                return -errno;
        return 0;
}

int node_refuse_busy_port(const Config *c) {
        /* listen_addresses as render.c writes it: '*' or 'localhost'. */
        const char *v4 = c->allow_remote ? "0.0.0.0" : "127.0.0.1", *v6 = c->allow_remote ? "::" : "::1";
        int a = try_bind(AF_INET, v4, c->port), b = try_bind(AF_INET6, v6, c->port);

        /* The postmaster starts when it can listen on one of them; it fails only when none can be bound. */
        if (a >= 0 || b >= 0 || (a != -EADDRINUSE && b != -EADDRINUSE))
                return 0;
        log_error("Port %u is in use by another process (%s): PostgreSQL could not listen on it; nothing was "
                  "written. Stop that process, or change POSTGRESQL_PORT_NUMBER (exit 75: tried again later)",
                  c->port, c->allow_remote ? "every address" : "localhost");
        return -EAGAIN;
}

int node_signal_reload(const char *datadir) {
        pid_t pid;
        int r;

        r = node_postmaster_running(datadir, &pid);
        if (r < 0)
                return r == -EACCES ? -EACCES : -ESRCH;
        if (r == 0)
                return -ESRCH;
        if (kill(pid, SIGHUP) < 0)
                return -errno;
        return 0;
}

int node_reload_server(const char *datadir) {
        int r = node_signal_reload(datadir);

        if (r == -ESRCH)
                return log_error("No server runs on '%s': settings were written and apply at the next start",
                                 datadir), r;
        if (r < 0)
                return log_error_errno(r, "Failed to signal the server on '%s': %m", datadir);
        return 0;
}

int node_lock(const Config *c, const char *name, const char *doing, const char *datadir, int *ret_fd) {
        _cleanup_free_ char *state = config_state_dir(c), *lock = NULL, *holder = NULL;
        char note[64];
        int r;

        if (!state || !(lock = path_join(state, name)))
                return log_oom();
        r = fs_mkdir_p(state, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create the state directory '%s': %m", state);
        snprintf(note, sizeof(note), "pid %d\n", (int) getpid());
        r = fs_lock(lock, note, ret_fd, &holder);
        if (r == -EWOULDBLOCK) {
                log_error("Another %s (%s) is %s '%s'; leaving its work alone", program_invocation_short_name,
                          holder && *holder ? holder : "holder unknown", doing, datadir);
                return -EAGAIN;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to lock '%s': %m", lock);
        return 0;
}

/* Free bytes on the file system of path, ULLONG_MAX when it cannot be told. */
static unsigned long long free_bytes(const char *path) {
        struct statvfs vfs;

        if (!path || statvfs(path, &vfs) < 0)
                return ULLONG_MAX;
        return (unsigned long long) vfs.f_bavail * vfs.f_frsize;
}

int node_before_exec(const Config *c, const char *datadir, const char *what) {
        _cleanup_free_ char *state = config_state_dir(c), *last = NULL, *wal = path_join(datadir, "pg_wal");
        /* pg_wal may be a link to another file system (POSTGRESQL_INITDB_WAL_DIR): WAL goes there. */
        unsigned long long at_wal = free_bytes(wal), at_data = free_bytes(datadir);
        const char *where = at_wal <= at_data ? wal : datadir;
        unsigned long long avail = at_wal <= at_data ? at_wal : at_data;

        if (avail < NODE_MIN_FREE_BYTES) {
                if (state)
                        (void) lastexit_read(state, false, &last);
                notify_status("not started: only %llu kB free on the file system of '%s'", avail >> 10, where);
                log_error("Not starting PostgreSQL: the file system of '%s' has only %llu kB free, less than the "
                          "%llu MB it needs to write WAL. Free some space there (not by removing files in pg_wal: "
                          "once the server runs, a replication slot that holds WAL can be dropped); the unit "
                          "tries again%s%s", where, avail >> 10, NODE_MIN_FREE_BYTES >> 20,
                          last ? ". The server's last run ended with: " : "", last ? last : "");
                return -ENOSPC;
        }
        if (state && lastexit_read(state, true, &last) > 0) {
                log_warning("The server's last run ended with: %s", last);
                notify_status("%s; restarted after: %s", what, last);
        } else
                notify_status("%s", what);
        return 0;
}

int node_exec_postmaster(const Config *c, const char *bindir, const char *datadir) {
        _cleanup_free_ char *postgres = pg_bin(bindir, "postgres"), *notify = NULL;
        _cleanup_strv_free_ char **flags = NULL, **env = NULL;
        const char *ns = getenv("NOTIFY_SOCKET");
        char *extra[2] = { NULL, NULL };
        char **argv;
        size_t n = 0;
        int r;

        if (!postgres)
                return -ENOMEM;
        r = strv_split_words(config_get(c, VAR_EXTRA_FLAGS), &flags);
        if (r < 0)
                return r;
        /* NOTIFY_SOCKET reaches the postmaster only here, so it sends READY=1 itself. */
        if (ns) {
                if (asprintf(&notify, "NOTIFY_SOCKET=%s", ns) < 0)
                        return -ENOMEM;
                extra[0] = notify;
        }
        r = spawn_env(extra, &env);
        if (r < 0)
                return r;
        argv = calloc(4 + strv_length(flags), sizeof(char *));
        if (!argv)
                return -ENOMEM;
        argv[n++] = postgres;
        argv[n++] = "-D";
        argv[n++] = (char *) datadir;
        for (size_t i = 0; flags[i]; i++)
                argv[n++] = flags[i];
        argv[n] = NULL;

        fflush(stdout);
        fflush(stderr);
        /* The blocked mask survives execve: PostgreSQL must get SIGINT and SIGTERM. */
        (void) signals_unblock_stop();
        execve(postgres, argv, env);
        r = -errno;
        free(argv);
        return r;
}

bool node_rewind_pending(const Config *c) {
        _cleanup_free_ char *state = config_state_dir(c), *marker = NULL;

        marker = state ? path_join(state, NODE_REWIND_MARKER) : NULL;
        return marker && fs_exists(marker);
}
