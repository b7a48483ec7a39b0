/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-id128.h>

#include "config.h"
#include "errors.h"
#include "fs.h"
#include "log.h"
#include "notify.h"
#include "peer.h"
#include "pg.h"
#include "render.h"
#include "signals.h"
#include "upstream.h"
#include "util.h"

static void sanitize_into(Buf *b, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                buf_printf(b, "%c", isascii(*p) && isalnum(*p) ? tolower(*p) : '_');
}

int upstream_slot_name(const char *hostname, const char *instance, char **ret) {
        uint32_t h;
        char *s;
        Buf b = {};

        buf_puts(&b, "pgrepl_");
        sanitize_into(&b, hostname);
        buf_puts(&b, "_");
        sanitize_into(&b, instance);
        s = buf_steal(&b);
        if (!s)
                return -ENOMEM;
        /* Too long for a slot name: keep a readable prefix and a hash of the whole, so two long
         * names that share the prefix still differ. */
        if (strlen(s) > 63) {
                h = hash_fnv1a32(hash_fnv1a32(hash_fnv1a32(HASH_FNV1A32_INIT, hostname), "/"), instance);
                snprintf(s + 54, 10, "_%08x", h);
        }
        *ret = s;
        return 0;
}

/* The application id of the machine-specific part of slot names: sd_id128_get_machine_app_specific()
 * with it gives a stable id of this machine that says nothing about /etc/machine-id itself. */
#define SLOT_APP_ID SD_ID128_MAKE(36,ab,5b,3a,20,c6,44,92,bd,43,bb,d9,70,b4,45,df)
#define SLOT_FILE "slot"

int upstream_slot_name_machine(const char *instance, char **ret) {
        char id[SD_ID128_STRING_MAX];
        sd_id128_t m;
        int r;

        r = sd_id128_get_machine_app_specific(SLOT_APP_ID, &m);
        if (r < 0)
                return r;
        sd_id128_to_string(m, id);
        id[16] = 0; /* 64 bits tell machines apart and leave room for the instance name */
        return upstream_slot_name(id, instance, ret);
}

static bool slot_name_valid(const char *s) {
        size_t n = strlen(s);

        return n >= 1 && n <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int upstream_default_slot(const Config *c, bool first, char **ret) {
        _cleanup_free_ char *state = config_state_dir(c), *path = NULL, *name = NULL, *text = NULL;
        char host[256] = "";
        int r;

        if (!state || !(path = path_join(state, SLOT_FILE)))
                return log_oom();
        r = fs_read_secret(path, &name);
        if (r >= 0) {
                if (!slot_name_valid(name))
                        return log_error_errno(-EBADMSG, "'%s' does not hold a slot name ([a-z0-9_], at most 63 "
                                               "bytes); it names this standby's slot on its primary: write that "
                                               "name into it, or remove it for a new slot", path);
                *ret = TAKE_PTR(name);
                return 0;
        }
        if (r != -ENOENT)
                return log_error_errno(r, "Failed to read '%s': %m", path);

        if (first) {
                /* A new standby: a name of this machine and instance, never of the host name, which
                 * cloned machines share and a rename changes. */
                r = upstream_slot_name_machine(c->instance, &name);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(r, "Failed to read this machine's id (/etc/machine-id) for the "
                                               "slot name: %m; set POSTGRESQL_REPLICATION_SLOT to a name");
        } else {
                /* A standby of an older pgrepl: its slot on the primary (and the WAL it holds) keeps the
                 * name it was made with, from the host name. */
                if (gethostname(host, sizeof(host) - 1) < 0)
                        return log_error_errno(-errno, "Failed to get the host name: %m");
                if (upstream_slot_name(host, c->instance, &name) < 0)
                        return log_oom();
        }
        if (asprintf(&text, "%s\n", name) < 0)
                return log_oom();
        r = fs_write_atomic(path, text, 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to record the slot name in '%s': %m", path);
        log_info("Replication slot name '%s', recorded in '%s'", name, path);
        *ret = TAKE_PTR(name);
        return 0;
}

/* host/port lists of every partner but this node: "a,b" and "5432,5433". */
static int partner_hosts(const Config *c, char **ret_host, char **ret_port, char **ret_display) {
        Buf d = {};
        int r;

        r = partners_conninfo_lists(&c->partners, ret_host, ret_port);
        if (r < 0)
                return r;
        for (size_t i = 0, n = 0; i < c->partners.n; i++)
                if (!c->partners.items[i].self)
                        buf_printf(&d, "%s%s", n++ ? "," : "", c->partners.items[i].display);
        *ret_display = buf_steal(&d);
        return *ret_display ? 0 : -ENOMEM;
}

static int upstream_hosts(const Config *c, bool first, Upstream *u) {
        /* With partners the master host only says where the first clone comes from. */
        const char *master = !first && config_has_partners(c) ? NULL : config_get(c, VAR_MASTER_HOST);
        _cleanup_free_ char *display = NULL;
        int r;

        if (config_has_partners(c)) {
                r = partner_hosts(c, &u->follow_host, &u->follow_port, &display);
                if (r == -ENOENT) /* a one-node list: nothing to follow but the master host */
                        r = 0;
                if (r < 0)
                        return r;
                /* PostgreSQL 14's spelling: libpq asks in_hot_standby, which replication connections report. */
                u->target = u->follow_host ? "primary" : NULL;
        }
        if (master) {
                u->host = strdup(master);
                if (!u->host || asprintf(&u->port, "%u", c->master_port) < 0 ||
                    asprintf(&u->display, strchr(master, ':') && master[0] != '/' ? "[%s]:%u" : "%s:%u", master,
                             c->master_port) < 0)
                        return -ENOMEM;
        } else {
                if (!u->follow_host)
                        return -ENOENT;
                u->host = strdup(u->follow_host);
                u->port = strdup(u->follow_port);
                u->display = TAKE_PTR(display);
                if (!u->host || !u->port)
                        return -ENOMEM;
        }
        if (!u->follow_host) {
                u->follow_host = strdup(u->host);
                u->follow_port = strdup(u->port);
                if (!u->follow_host || !u->follow_port)
                        return -ENOMEM;
        }
        return 0;
}

int upstream_init(const Config *c, bool first, Upstream *u) {
        int r;

        *u = (Upstream) { .c = c };
        r = upstream_hosts(c, first, u);
        if (r == -ENOENT) {
                /* node_inspect_datadir() refuses this configuration before anyone gets here. */
                upstream_done(u);
                return log_error_errno(-EINVAL, "No primary to follow: no partner but this node, no master host");
        }
        if (r < 0)
                goto oom;
        u->passfile = peer_passfile_path(c);
        if (!u->passfile)
                goto oom;
        if (c->use_slot && config_has_partners(c)) {
                /* The slot every other partner keeps for this node; none when it has no entry. */
                if (c->partners.self >= 0 && !(u->slot = strdup(c->partners.items[c->partners.self].slot)))
                        goto oom;
        } else if (c->use_slot && c->slot_name) {
                if (!(u->slot = strdup(c->slot_name)))
                        goto oom;
        } else if (c->use_slot) {
                r = upstream_default_slot(c, first, &u->slot);
                if (r < 0) {
                        upstream_done(u);
                        return r;
                }
        }
        return 0;
oom:
        upstream_done(u);
        return log_oom();
}

void upstream_done(Upstream *u) {
        free(u->host);
        free(u->port);
        free(u->follow_host);
        free(u->follow_port);
        free(u->display);
        free(u->passfile);
        free(u->slot);
        *u = (Upstream) {};
}

int upstream_write_passfile(const Upstream *u) {
        return peer_write_passfile(u->c, u->passfile);
}

char *upstream_conninfo(const Upstream *u, const char *application_name) {
        /* The same timeouts pg_connect() adds: a silent primary is noticed in seconds. */
        const char *keys[] = { "host", "port", "user", "passfile", "application_name", "target_session_attrs",
                               NULL };
        const char *values[] = { u->follow_host, u->follow_port, config_get(u->c, VAR_REPLICATION_USER),
                                 u->passfile, application_name, u->target, NULL };
        PgConnParams p;

        pg_conn_params(keys, values, &p);
        return render_conninfo(p.keys, p.values);
}

char *upstream_clone_conninfo(const Upstream *u) {
        const char *keys[] = { "host", "port", "user", "passfile", "application_name", "target_session_attrs",
                               NULL };
        const char *values[] = { u->host, u->port, config_get(u->c, VAR_REPLICATION_USER), u->passfile,
                                 "pgrepl-clone", strchr(u->host, ',') ? u->target : NULL, NULL };
        PgConnParams p;

        pg_conn_params(keys, values, &p);
        return render_conninfo(p.keys, p.values);
}

PGconn *upstream_connect(const Upstream *u) {
        const char *keys[] = { "host", "port", "user", "passfile", "dbname", "replication",
                               "application_name", "target_session_attrs", NULL };
        const char *values[] = { u->host, u->port, config_get(u->c, VAR_REPLICATION_USER), u->passfile,
                                 "replication", "true", "pgrepl-standby-bootstrap",
                                 strchr(u->host, ',') ? u->target : NULL, NULL };

        return pg_connect(keys, values);
}

int upstream_ensure_slot(const Upstream *u, PGconn *conn, const char **ret_reason) {
        _cleanup_free_ char *sql = NULL;
        _cleanup_pqres_ PGresult *res = NULL;
        char *id = PQescapeIdentifier(conn, u->slot, strlen(u->slot));
        const char *state;

        if (!id)
                return log_oom();
        /* The pre-15 spelling, which 15 and later still accept: works on every supported primary. */
        if (asprintf(&sql, "CREATE_REPLICATION_SLOT %s PHYSICAL RESERVE_WAL", id) < 0)
                sql = NULL;
        PQfreemem(id);
        if (!sql)
                return log_oom();
        res = PQexec(conn, sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK)
                return 1;
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && streq(state, "42710")) /* duplicate_object: ours from an earlier attempt */
                return 0;
        log_debug("CREATE_REPLICATION_SLOT '%s' failed: %s", u->slot, PQerrorMessage(conn));
        if (state && streq(state, "53400"))
                *ret_reason = "no free replication slot on the primary (max_replication_slots)";
        else if (state && streq(state, "42501"))
                *ret_reason = "the replication user may not create slots";
        else if (state && streq(state, "55000"))
                *ret_reason = "the primary cannot create slots (wal_level, max_replication_slots?)";
        else
                *ret_reason = "creating the replication slot failed";
        return -EIO;
}

/* First line of libpq's message, for the log: the reason with the server's own words. */
static void first_line(const char *m, char *buf, size_t n) {
        snprintf(buf, n, "%s", m ? m : "");
        buf[strcspn(buf, "\n")] = 0;
}

/* Whether the server binaries of that major are installed here (and POSTGRESQL_BIN_DIR unset). */
static bool major_installed(const Config *c, unsigned major) {
        _cleanup_free_ char *bindir = NULL;
        unsigned v = 0;

        return !config_get(c, VAR_BIN_DIR) && pg_find_bindir(c, major, &bindir) >= 0 &&
               pg_bin_version(bindir, &v) >= 0 && v == major;
}

/* Streaming replication works only between servers of the same major: another one installed here is
 * taken (-EXDEV with its major), else the primary is refused once, before any copy. */
static int check_major(const Upstream *u, PGconn *conn, unsigned local_major, unsigned *ret_major) {
        int v = PQserverVersion(conn);
        unsigned major = v >= 100000 ? (unsigned) v / 10000 : (unsigned) v / 100;

        if (local_major == 0 || v <= 0 || major == local_major)
                return 0;
        if (major_installed(u->c, major)) {
                *ret_major = major;
                return -EXDEV;
        }
        notify_status("refused: primary '%s' runs PostgreSQL %u, this standby's binaries are PostgreSQL %u",
                      u->display, major, local_major);
        log_error("Primary '%s' runs PostgreSQL %u, but this standby's binaries are PostgreSQL %u: streaming "
                  "replication needs the same major version on both. Install PostgreSQL %u here (or point "
                  "POSTGRESQL_BIN_DIR at it), or POSTGRESQL_MASTER_HOST at a primary of PostgreSQL %u; nothing "
                  "was copied", u->display, major, local_major, major, local_major);
        return -PGREPL_E_CONFIG;
}

int upstream_wait(const Upstream *u, Waiter *w, unsigned local_major, unsigned *ret_major) {
        const char *last = NULL;
        int r;

        for (;;) {
                _cleanup_pq_ PGconn *conn = NULL;
                const char *reason = NULL;
                char detail[512];

                if (signals_stop_requested())
                        return -EINTR;
                w->attempt++;
                notify_status("connecting to primary '%s' (attempt %u)", u->display, w->attempt);
                notify_extend_timeout(WAIT_EXTEND_USEC);
                conn = upstream_connect(u);
                if (PQstatus(conn) == CONNECTION_OK) {
                        r = check_major(u, conn, local_major, ret_major);
                        if (r < 0)
                                return r;
                        if (!u->slot)
                                return 0;
                        r = upstream_ensure_slot(u, conn, &reason);
                        if (r < 0 && r != -EIO)
                                return r;
                        if (r >= 0) {
                                log_info("%s replication slot '%s' on primary '%s'", r > 0 ? "Created" : "Reusing",
                                         u->slot, u->display);
                                return 0;
                        }
                } else
                        reason = pg_error_reason(conn);

                /* The log gets each new reason once; STATUS= gets every attempt. */
                if (!last || !streq(last, reason)) {
                        first_line(PQerrorMessage(conn), detail, sizeof(detail));
                        log_notice("Waiting for primary '%s': %s (%s)", u->display, reason, detail);
                        last = reason;
                }
                r = wait_pause(w, u->display, reason);
                if (r == -ETIMEDOUT)
                        return log_error_errno(r, "Primary '%s' still unavailable after POSTGRESQL_INIT_MAX_TIMEOUT=%us "
                                               "(%u attempts, last: %s)", u->display, u->c->init_max_timeout,
                                               w->attempt, reason);
                if (r < 0)
                        return r;
        }
}
