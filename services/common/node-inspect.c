/* SPDX-License-Identifier: MIT */
/*
 * node_inspect_datadir() (node.h): what POSTGRESQL_DATA_DIR points at, read
 * only, and the verdicts on it. Each step either learns something about the
 * directory or refuses it through config_report(); faults go back to the
 * caller as negative errnos, logged once at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "log.h"
#include "node.h"
#include "pg.h"
#include "util.h"

/* 1 when path exists, 0 when it does not, else the negative errno (EACCES: it cannot be told). */
static int exists(const char *path) {
        struct stat st;

        if (lstat(path, &st) >= 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

/* The path to work on: a symbolic link is followed (the clone's side directory then goes next to
 * the real directory, so the final rename stays on one file system and replaces it, not the link). */
static int resolve(const Config *c, char **ret) {
        const char *dir = config_get(c, VAR_DATA_DIR);
        struct stat st;
        char *real;

        if (lstat(dir, &st) < 0) {
                /* Absent, or below a file: the contents say which (empty, or not a directory). */
                if (errno != ENOENT && errno != ENOTDIR)
                        return -errno;
                st.st_mode = 0;
        }
        if (!S_ISLNK(st.st_mode)) {
                *ret = strdup(dir);
                return *ret ? 0 : -ENOMEM;
        }
        real = realpath(dir, NULL);
        if (!real && errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
                return -errno;
        if (!real) {
                config_report(c, VAR_DATA_DIR, "is a symbolic link that leads nowhere (%s); point it at an "
                              "existing directory, or remove it", strerror(errno));
                return -PGREPL_E_CONFIG;
        }
        if (streq(real, "/")) {
                free(real);
                config_report(c, VAR_DATA_DIR, "leads to '/': not a data directory");
                return -PGREPL_E_CONFIG;
        }
        log_debug("POSTGRESQL_DATA_DIR='%s' is a symbolic link to '%s'", dir, real);
        *ret = real;
        return 0;
}

/* The server for the directory's major (its PG_VERSION) when that one is installed, so that a newer
 * major installed beside it stops nothing; otherwise the newest, and inspect_cluster() says why it
 * does not fit. */
static int find_server(const Config *c, DataDir *d) {
        unsigned want = 0;
        int r;

        /* Unreadable or not a number: inspect_cluster() judges it, with the server it finds. */
        if (pg_data_version(d->path, &want) < 0)
                want = 0;
        r = pg_find_bindir(c, want, &d->bindir);

        if (r == -ENOENT && config_get(c, VAR_BIN_DIR)) {
                config_report(c, VAR_BIN_DIR, "no executable 'postgres' there");
                return -PGREPL_E_CONFIG;
        }
        if (r == -ENOENT) {
                log_error("No PostgreSQL server found under /usr/lib/postgresql/N/bin, /usr/pgsql-N/bin or "
                          "/usr/bin; install the server package or set POSTGRESQL_BIN_DIR");
                return -PGREPL_E_CONFIG;
        }
        if (r < 0)
                return r;
        /* Not knowing the server's major only means a cluster of another one is not refused here. */
        r = pg_bin_version(d->bindir, &d->server_major);
        if (r < 0)
                log_debug_errno(r, "Cannot tell the major version of the server in '%s': %m", d->bindir);
        return 0;
}

/* A cluster, complete, of the server's major: d->major, or a verdict. */
static int inspect_cluster(const Config *c, DataDir *d) {
        _cleanup_free_ char *control = path_join(d->path, "global/pg_control");
        int r;

        if (!control)
                return -ENOMEM;
        r = pg_data_version(d->path, &d->major);
        if (r == -EBADMSG || (r >= 0 && d->major == 0)) {
                config_report(c, VAR_DATA_DIR, "is not empty and holds no PostgreSQL cluster; refusing to touch it");
                return -PGREPL_E_CONFIG;
        }
        if (r < 0)
                return r;
        r = exists(control);
        if (r < 0)
                return r;
        if (r == 0) {
                /* pgrepl never renames an incomplete copy into place: an interrupted initdb, or not ours. */
                config_report(c, VAR_DATA_DIR, "holds an incomplete cluster (PG_VERSION without global/pg_control: "
                              "an interrupted initdb, or not pgrepl's); inspect it, and empty it to start afresh");
                return -PGREPL_E_CONFIG;
        }
        if (d->server_major > 0 && d->major != d->server_major) {
                config_report(c, VAR_DATA_DIR, "is a PostgreSQL %u cluster but the server in '%s' is %u; set "
                              "POSTGRESQL_BIN_DIR, or upgrade the cluster", d->major, d->bindir, d->server_major);
                return -PGREPL_E_CONFIG;
        }
        return 0;
}

/* A promotion record (the watcher's, in the state directory) newer than standby.signal, which the
 * clone wrote: a promotion began after the copy. */
static int promoted_after_copy(const Config *c, const char *signal_path) {
        _cleanup_free_ char *state = config_state_dir(c), *rec = NULL;
        struct stat r, s;

        if (!state || !(rec = path_join(state, "promotion")))
                return -ENOMEM;
        if (stat(rec, &r) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (stat(signal_path, &s) < 0)
                return -errno;
        return r.st_mtim.tv_sec > s.st_mtim.tv_sec ||
               (r.st_mtim.tv_sec == s.st_mtim.tv_sec && r.st_mtim.tv_nsec > s.st_mtim.tv_nsec);
}

static int inspect_kind(const Config *c, DataDir *d) {
        _cleanup_free_ char *signal_path = path_join(d->path, "standby.signal");
        int r;

        if (!signal_path)
                return -ENOMEM;
        r = exists(signal_path);
        if (r <= 0) {
                d->kind = DATADIR_PRIMARY;
                return r;
        }
        r = promoted_after_copy(c, signal_path);
        if (r < 0)
                return r;
        d->kind = r > 0 ? DATADIR_INTERRUPTED : DATADIR_STANDBY;
        return 0;
}

static int inspect_contents(const Config *c, DataDir *d) {
        int r = fs_dir_is_empty(d->path);

        if (r == -ENOTDIR) {
                config_report(c, VAR_DATA_DIR, "is not a directory");
                return -PGREPL_E_CONFIG;
        }
        if (r < 0)
                return r;
        if (r > 0) {
                d->kind = DATADIR_EMPTY;
                return 0;
        }
        r = inspect_cluster(c, d);
        if (r < 0)
                return r;
        return inspect_kind(c, d);
}

/* Whether an existing directory is a mount point: another device than its parent's. */
static int is_mount_point(const char *path) {
        _cleanup_free_ char *parent = path_parent(path);
        struct stat a, b;

        if (!parent)
                return -ENOMEM;
        if (stat(path, &a) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (stat(parent, &b) < 0)
                return -errno;
        return a.st_dev != b.st_dev;
}

/* SPEC section 8's settings need what PostgreSQL 14 brought (target_session_attrs=primary, in_hot_standby),
 * and a standby needs some other node to follow. */
static int check_partners(const Config *c, const DataDir *d) {
        bool others = false;

        if (!config_has_partners(c))
                return 0;
        if (d->server_major > 0 && d->server_major < 14) {
                config_report(c, VAR_PARTNER_NODES, "needs PostgreSQL 14 or later (this server is %u)",
                              d->server_major);
                return -PGREPL_E_CONFIG;
        }
        for (size_t i = 0; i < c->partners.n; i++)
                others = others || !c->partners.items[i].self;
        if (c->role == ROLE_STANDBY && !others && !config_get(c, VAR_MASTER_HOST)) {
                config_report(c, VAR_PARTNER_NODES, "names no node but this one, and POSTGRESQL_MASTER_HOST is not "
                              "set: a standby needs a primary to follow");
                return -PGREPL_E_CONFIG;
        }
        return 0;
}

/* A rewind that began and did not finish left a directory that looks like a primary: only the standby
 * unit with partners may touch it (it rewinds it again). */
static int check_rewind(const Config *c, const DataDir *d) {
        if (d->kind != DATADIR_PRIMARY || !node_rewind_pending(c) ||
            (c->role == ROLE_STANDBY && config_has_partners(c)))
                return 0;
        log_error("A rewind of '%s' began and did not finish ('%s' in the state directory): it is never started "
                  "as a primary. With POSTGRESQL_PARTNER_NODES the standby unit finishes it; otherwise clone it "
                  "afresh: pgreplctl rejoin %s --reclone", d->path, NODE_REWIND_MARKER, c->instance);
        return -PGREPL_E_REJOIN;
}

/* What this unit may do with what the directory is. */
static int check_role(const Config *c, const DataDir *d) {
        int r;

        r = check_partners(c, d);
        if (r >= 0)
                r = check_rewind(c, d);
        if (r < 0)
                return r;

        if (c->role == ROLE_PRIMARY && (d->kind == DATADIR_STANDBY || d->kind == DATADIR_INTERRUPTED)) {
                config_report(c, VAR_DATA_DIR, "is a standby (standby.signal exists): the primary unit never "
                              "promotes a standby. Start it with pgrepl-standby@%s, or promote it by its trigger "
                              "file", c->instance);
                return -PGREPL_E_CONFIG;
        }
        if (c->role != ROLE_STANDBY || d->kind != DATADIR_EMPTY)
                return 0;
        /* An empty mount point cannot be replaced by a rename: say so now, not after the copy. */
        r = is_mount_point(d->path);
        if (r <= 0)
                return r;
        config_report(c, VAR_DATA_DIR, "is a mount point: the clone is renamed into place, which cannot replace "
                      "a mount point. Use a directory below it, e.g. '%s/data'", d->path);
        return -PGREPL_E_CONFIG;
}

static int inspect(const Config *c, DataDir *d) {
        int r;

        r = resolve(c, &d->path);
        if (r < 0)
                return r;
        r = find_server(c, d);
        if (r < 0)
                return r;
        r = inspect_contents(c, d);
        if (r < 0)
                return r;
        r = check_role(c, d);
        if (r < 0)
                return r;
        return node_check_settings(c, d);
}

int node_inspect_datadir(const Config *c, DataDir *ret) {
        DataDir d = {};
        int r;

        r = inspect(c, &d);
        if (r < 0) {
                node_datadir_done(&d);
                if (pgrepl_is_verdict(r))
                        return r;
                return log_error_errno(r, "Cannot inspect the data directory '%s': %m", config_get(c, VAR_DATA_DIR));
        }
        *ret = d;
        return 0;
}

int node_inspect_for_reload(const Config *c, DataDir *ret) {
        DataDir d = {};
        int r;

        r = node_inspect_datadir(c, &d);
        if (r < 0)
                return r;
        if (d.kind == DATADIR_EMPTY) {
                log_error("POSTGRESQL_DATA_DIR='%s' is empty: nothing to reload (%s)", d.path,
                          c->role == ROLE_PRIMARY ? "start the unit first" : "the first start clones");
                node_datadir_done(&d);
                return -ESRCH;
        }
        *ret = d;
        return 0;
}

void node_datadir_done(DataDir *d) {
        free(d->path);
        free(d->bindir);
        *d = (DataDir) {};
}

const char *node_datadir_kind_to_string(DataDirKind kind) {
        static const char *const names[] = {
                [DATADIR_EMPTY] = "empty",
                [DATADIR_PRIMARY] = "primary",
                [DATADIR_STANDBY] = "standby",
                [DATADIR_INTERRUPTED] = "standby, promotion interrupted",
        };

        return (size_t) kind < ELEMENTSOF(names) ? names[kind] : "unknown";
}
