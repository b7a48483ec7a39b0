/* SPDX-License-Identifier: MIT */
/*
 * The table is built from small aligned tables: each instance is a block of labelled lines, the
 * slots, replicas and partners are tables under their label. Widths count bytes (names are ASCII).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "show.h"
#include "util.h"

#define LABEL_WIDTH 11
#define TABLE_COLS 9

#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLD "\033[1m"
#define C_OFF "\033[0m"

void show_bytes(int64_t n, char *buf, size_t size) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double) n;
        size_t u = 0;

        if (n < 0) {
                snprintf(buf, size, "-");
                return;
        }
        if (n < 1024) {
                snprintf(buf, size, "%" PRId64 " B", n);
                return;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, size, "%.1f %s", v, units[u]);
}

void show_lsn(uint64_t lsn, char *buf, size_t size) {
        if (lsn == 0)
                snprintf(buf, size, "-");
        else
                snprintf(buf, size, LSN_FMT, LSN_ARGS(lsn));
}

void show_time(int64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(buf, size, "%" PRId64, t);
}

typedef struct Table {
        size_t ncols, nrows;
        char **cells;          /* nrows * ncols */
        const char **colours;  /* per cell, NULL: none */
} Table;

static void table_free(Table *t) {
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->colours);
}

/* Add a row of t->ncols cells (NULL: empty) with their colours (colours may be NULL). */
static void table_add(Table *t, const char *const *cells, const char *const *colours) {
        size_t n = (t->nrows + 1) * t->ncols;
        char **c = realloc(t->cells, n * sizeof(char *));
        const char **k;

        if (!c)
                return;
        t->cells = c;
        k = realloc(t->colours, n * sizeof(char *));
        if (!k)
                return;
        t->colours = k;
        for (size_t i = 0; i < t->ncols; i++) {
                c[t->nrows * t->ncols + i] = strdup(cells[i] ? cells[i] : "");
                k[t->nrows * t->ncols + i] = colours ? colours[i] : NULL;
        }
        t->nrows++;
}

/* Each row on its own line: first the label (or as many blanks), then the aligned cells. */
static void table_render(Buf *b, const Table *t, const char *label, bool colour) {
        size_t width[TABLE_COLS] = {};

        for (size_t r = 0; r < t->nrows; r++)
                for (size_t c = 0; c < t->ncols; c++) {
                        const char *s = t->cells[r * t->ncols + c];

                        if (s && strlen(s) > width[c])
                                width[c] = strlen(s);
                }
        for (size_t r = 0; r < t->nrows; r++) {
                size_t last = t->ncols;

                /* No trailing blanks: the line ends at its last non-empty cell. */
                while (last > 0 && (!t->cells[r * t->ncols + last - 1] || !*t->cells[r * t->ncols + last - 1]))
                        last--;
                buf_printf(b, "  %-*s", LABEL_WIDTH, r == 0 && label ? label : "");
                for (size_t c = 0; c < last; c++) {
                        const char *s = t->cells[r * t->ncols + c] ? t->cells[r * t->ncols + c] : "";
                        const char *k = colour ? t->colours[r * t->ncols + c] : NULL;

                        buf_printf(b, "%s%s%s%*s", k ? k : "", s, k ? C_OFF : "",
                                   c + 1 < last ? (int) (width[c] - strlen(s) + 2) : 0, "");
                }
                buf_puts(b, "\n");
        }
}

_printf_(4, 5) static void line(Buf *b, const char *label, const char *colour, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&text, fmt, ap);
        va_end(ap);
        buf_printf(b, "  %-*s%s%s%s\n", LABEL_WIDTH, label, colour ? colour : "", k < 0 ? "" : text,
                   colour ? C_OFF : "");
}

static const char *active_colour(const char *active) {
        if (streq(active, "active"))
                return C_GREEN;
        if (streq(active, "failed"))
                return C_RED;
        return streq(active, "unknown") ? NULL : C_YELLOW;
}

static bool unit_shown(const InstanceReport *i, size_t k) {
        const UnitState *u = &i->units[k];

        /* The units of the instance's mode always; another one only when it is doing something. */
        if (k == (i->mode_primary ? 0u : 1u) || (k == 2 && !i->mode_primary))
                return true;
        return (u->active && !streq(u->active, "inactive") && !streq(u->active, "unknown")) ||
               (u->enabled && streq(u->enabled, "enabled"));
}

static void show_units(Buf *b, const InstanceReport *i, bool colour) {
        Table t = { .ncols = 4 };

        if (i->units[0].active && streq(i->units[0].active, "unknown")) {
                line(b, "units", NULL, "%s", "unknown (systemd is not running)");
                return;
        }
        for (size_t k = 0; k < REPORT_UNITS; k++) {
                const UnitState *u = &i->units[k];
                _cleanup_free_ char *state = NULL;

                if (!unit_shown(i, k))
                        continue;
                if (asprintf(&state, "%s%s%s%s", u->active ? u->active : "unknown", u->sub ? " (" : "",
                             u->sub ? u->sub : "", u->sub ? ")" : "") < 0)
                        continue;
                table_add(&t, (const char *const[]) { u->name, state, u->enabled, u->status },
                          (const char *const[]) { NULL, u->active ? active_colour(u->active) : NULL, NULL, NULL });
        }
        table_render(b, &t, "units", colour);
        table_free(&t);
}

static void show_server(Buf *b, const ServerState *s, bool colour) {
        char w[32], r[32], lag[32];

        if (!s->checked || !s->reachable) {
                line(b, "server", colour ? C_RED : NULL, "not %s: %s", s->checked ? "reachable" : "checked", s->reason);
                return;
        }
        show_lsn(s->write_lsn, w, sizeof(w));
        show_lsn(s->replay_lsn, r, sizeof(r));
        if (!s->in_recovery) {
                buf_printf(b, "  %-*s%sprimary%s, timeline %u, write %s\n", LABEL_WIDTH, "server",
                           colour ? C_BOLD C_GREEN : "", colour ? C_OFF : "", s->timeline, w);
                return;
        }
        buf_printf(b, "  %-*sstandby, timeline %u, write %s, replay %s\n", LABEL_WIDTH, "server", s->timeline, w, r);
        if (s->upstream) {
                bool streaming = s->receiver_status && streq(s->receiver_status, "streaming");

                buf_printf(b, "  %-*s%s, %s%s%s\n", LABEL_WIDTH, "upstream", s->upstream,
                           colour && !streaming ? C_YELLOW : "", s->receiver_status ? s->receiver_status : "?",
                           colour && !streaming ? C_OFF : "");
        } else
                line(b, "upstream", colour ? C_YELLOW : NULL, "%s", "none (no WAL receiver runs)");
        show_bytes(s->lag_bytes, lag, sizeof(lag));
        if (s->lag_seconds >= 0)
                buf_printf(b, "  %-*s%s, %.1f s\n", LABEL_WIDTH, "lag", lag, s->lag_seconds);
        else
                buf_printf(b, "  %-*s%s\n", LABEL_WIDTH, "lag", lag);
}

static void show_slots(Buf *b, const ServerState *s, bool colour) {
        Table t = { .ncols = 4 };

        if (!s->reachable)
                return;
        if (s->n_slots == 0) {
                line(b, "slots", NULL, "%s", "none");
                return;
        }
        table_add(&t, (const char *const[]) { "NAME", "ACTIVE", "WAL STATUS", "RETAINED" }, NULL);
        for (size_t k = 0; k < s->n_slots; k++) {
                const SlotState *sl = &s->slots[k];
                char retained[32];
                bool bad = (!sl->active && sl->retained > HEALTH_SLOT_WARN_BYTES) ||
                           (sl->wal_status && (streq(sl->wal_status, "lost") || streq(sl->wal_status, "unreserved")));

                show_bytes(sl->retained, retained, sizeof(retained));
                table_add(&t, (const char *const[]) { sl->name, sl->active ? "yes" : "no",
                                                      sl->wal_status ? sl->wal_status : "-", retained },
                          (const char *const[]) { NULL, NULL, bad ? C_YELLOW : NULL, bad ? C_YELLOW : NULL });
        }
        table_render(b, &t, "slots", colour);
        table_free(&t);
}

static void show_replicas(Buf *b, const ServerState *s, bool colour) {
        Table t = { .ncols = 6 };

        if (!s->reachable || s->n_replicas == 0)
                return;
        table_add(&t, (const char *const[]) { "NAME", "CLIENT", "STATE", "SYNC", "REPLAY", "LAG" }, NULL);
        for (size_t k = 0; k < s->n_replicas; k++) {
                const ReplicaState *x = &s->replicas[k];
                char replay[32], lag[32];

                show_lsn(x->replay_lsn, replay, sizeof(replay));
                show_bytes(x->lag_bytes, lag, sizeof(lag));
                table_add(&t, (const char *const[]) { x->name, x->client, x->state, x->sync_state, replay, lag }, NULL);
        }
        table_render(b, &t, "replicas", colour);
        table_free(&t);
}

static void show_promotion(Buf *b, const InstanceReport *i) {
        char when[64];

        if (!i->has_promotion)
                return;
        show_time(i->promotion.time, when, sizeof(when));
        buf_printf(b, "  %-*s%s, timeline %u, LSN %s%s%s\n", LABEL_WIDTH, "promotion", when, i->promotion.timeline,
                   i->promotion.lsn, i->promotion.trigger_path && *i->promotion.trigger_path ? ", trigger " : "",
                   i->promotion.trigger_path ? i->promotion.trigger_path : "");
}

static const char *member_role(const MemberState *m) {
        if (!m->peer.answered)
                return "-";
        return m->peer.in_recovery == 0 ? "primary" : m->peer.in_recovery == 1 ? "standby" : "?";
}

static void member_row(Table *t, const MemberState *m) {
        char tl[16] = "-", lsn[32], lag[32];
        const char *state = !m->peer.answered ? "unreachable" : m->stream_state ? m->stream_state : "running";
        bool primary = m->peer.answered && m->peer.in_recovery == 0;

        if (m->peer.answered)
                snprintf(tl, sizeof(tl), "%u", m->peer.timeline);
        show_lsn(m->peer.answered ? m->peer.lsn : 0, lsn, sizeof(lsn));
        show_bytes(m->lag_bytes, lag, sizeof(lag));
        table_add(t,
                  (const char *const[]) { m->self ? "*" : "", m->member, member_role(m), state, tl, lsn,
                                          primary ? "" : lag, m->sync_state ? m->sync_state : primary ? "" : "-",
                                          m->peer.answered ? "" : m->peer.reason },
                  (const char *const[]) { NULL, NULL, primary ? C_BOLD C_GREEN : NULL,
                                          m->peer.answered ? NULL : C_RED, NULL, NULL, NULL, NULL, NULL });
}

static void show_members(Buf *b, const InstanceReport *i, bool colour) {
        Table t = { .ncols = 9 };

        if (i->members_error) {
                line(b, "partners", colour ? C_RED : NULL, "not asked: %s", i->members_error);
                return;
        }
        if (i->n_members == 0)
                return;
        table_add(&t, (const char *const[]) { "", "MEMBER", "ROLE", "STATE", "TL", "LSN", "LAG", "SYNC", "" }, NULL);
        for (size_t k = 0; k < i->n_members; k++)
                member_row(&t, &i->members[k]);
        table_render(b, &t, "partners", colour);
        table_free(&t);
}

/* POSTGRESQL_FAILOVER=etcd: the leader key, its lease, and each member as etcd has it. */
static void show_etcd(Buf *b, const EtcdView *v, bool colour) {
        Table t = { .ncols = 6 };

        if (!v->asked)
                return;
        if (v->error) {
                line(b, "etcd", colour ? C_RED : NULL, "not reachable: %s", v->error);
                return;
        }
        line(b, "etcd", NULL, "%s, keys under %s", v->endpoint, v->prefix);
        if (!v->leader)
                line(b, "leader", colour ? C_YELLOW : NULL, "none (no member holds the leader key)");
        else if (v->lease_ttl >= 0)
                line(b, "leader", NULL, "%s, lease %" PRIx64 ", %" PRId64 " s left of %" PRId64, v->leader,
                     (uint64_t) v->leader_lease, v->lease_ttl, v->lease_granted);
        else
                line(b, "leader", NULL, "%s, lease %" PRIx64 " (its time left is not known)", v->leader,
                     (uint64_t) v->leader_lease);
        if (v->switchover)
                line(b, "switchover", NULL, "%s", v->switchover);
        if (v->n_members == 0) {
                line(b, "members", NULL, "none published");
                return;
        }
        table_add(&t, (const char *const[]) { "MEMBER", "ROLE", "TL", "LSN", "SYNC", "" }, NULL);
        for (size_t k = 0; k < v->n_members; k++) {
                const EtcdMemberView *m = &v->members[k];
                _cleanup_free_ char *sync = NULL;
                char tl[16], lsn[32];
                Buf sb = {};

                for (size_t j = 0; m->sync && m->sync[j]; j++)
                        buf_printf(&sb, "%s%s", j ? "," : "", m->sync[j]);
                sync = buf_steal(&sb);
                snprintf(tl, sizeof(tl), "%u", m->timeline);
                show_lsn(m->lsn, lsn, sizeof(lsn));
                if (!m->parsed) {
                        table_add(&t, (const char *const[]) { m->name, "?", "-", "-", "", "not a member record" },
                                  (const char *const[]) { NULL, C_RED, NULL, NULL, NULL, C_RED });
                        continue;
                }
                table_add(&t,
                          (const char *const[]) { m->name, m->role, tl, lsn, sync && *sync ? sync : "", "" },
                          (const char *const[]) { NULL,
                                                  streq(m->role, "primary") ? C_BOLD C_GREEN
                                                  : streq(m->role, "down") ? C_RED : NULL,
                                                  NULL, NULL, NULL, NULL });
        }
        table_render(b, &t, "members", colour);
        table_free(&t);
}

static void show_instance(Buf *b, const InstanceReport *i, bool colour) {
        if (i->error) {
                buf_printf(b, "%s%s%s (%s)\n", colour ? C_BOLD : "", i->name, colour ? C_OFF : "", i->env_file);
                line(b, "error", colour ? C_RED : NULL, "%s", i->error);
                return;
        }
        buf_printf(b, "%s%s%s (%s, %s)\n", colour ? C_BOLD : "", i->name, colour ? C_OFF : "",
                   i->mode_primary ? "primary" : "standby", i->env_file);
        show_units(b, i, colour);
        show_server(b, &i->server, colour);
        show_slots(b, &i->server, colour);
        show_replicas(b, &i->server, colour);
        show_promotion(b, i);
        show_members(b, i, colour);
        show_etcd(b, &i->etcd, colour);
}

char *show_table(const Report *r, bool colour) {
        Buf b = {};

        for (size_t k = 0; k < r->n; k++) {
                if (k > 0)
                        buf_puts(&b, "\n");
                show_instance(&b, &r->items[k], colour);
        }
        if (r->n_warnings > 0)
                buf_puts(&b, "\n");
        for (size_t k = 0; k < r->n_warnings; k++)
                buf_printf(&b, "%swarning:%s %s\n", colour ? C_YELLOW : "", colour ? C_OFF : "", r->warnings[k].text);
        return buf_steal(&b);
}
