/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl status --json`: one object, the schema of pgreplctl(8). Strings are escaped as JSON
 * wants (", \ and control characters); 64-bit identifiers are strings, as JSON numbers are doubles
 * to most readers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "show.h"
#include "util.h"

static void j_str(Buf *b, const char *s) {
        if (!s) {
                buf_puts(b, "null");
                return;
        }
        buf_puts(b, "\"");
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        buf_printf(b, "\\%c", *p);
                else if (*p == '\n')
                        buf_puts(b, "\\n");
                else if (*p < 0x20 || *p == 0x7f)
                        buf_printf(b, "\\u%04x", *p);
                else
                        buf_printf(b, "%c", *p);
        }
        buf_puts(b, "\"");
}

/* "key": with a comma before every key but an object's first. */
static void j_key(Buf *b, bool *first, const char *key) {
        buf_printf(b, "%s\"%s\":", *first ? "" : ",", key);
        *first = false;
}

static void j_kstr(Buf *b, bool *first, const char *key, const char *s) {
        j_key(b, first, key);
        j_str(b, s);
}

static void j_kbool(Buf *b, bool *first, const char *key, bool v) {
        j_key(b, first, key);
        buf_puts(b, v ? "true" : "false");
}

/* A count, null when negative (not known). */
static void j_kint(Buf *b, bool *first, const char *key, int64_t v) {
        j_key(b, first, key);
        if (v < 0)
                buf_puts(b, "null");
        else
                buf_printf(b, "%" PRId64, v);
}

static void j_klsn(Buf *b, bool *first, const char *key, uint64_t lsn) {
        char s[32];

        j_key(b, first, key);
        if (lsn == 0) {
                buf_puts(b, "null");
                return;
        }
        show_lsn(lsn, s, sizeof(s));
        j_str(b, s);
}

static void j_kseconds(Buf *b, bool *first, const char *key, double v) {
        j_key(b, first, key);
        if (v < 0)
                buf_puts(b, "null");
        else
                buf_printf(b, "%.3f", v);
}

static void json_units(Buf *b, const InstanceReport *i) {
        buf_puts(b, "[");
        for (size_t k = 0; k < REPORT_UNITS; k++) {
                const UnitState *u = &i->units[k];
                bool f = true;

                buf_puts(b, k ? ",{" : "{");
                j_kstr(b, &f, "name", u->name);
                j_kstr(b, &f, "active_state", u->active ? u->active : "unknown");
                j_kstr(b, &f, "sub_state", u->sub);
                j_kstr(b, &f, "unit_file_state", u->enabled);
                j_kstr(b, &f, "status_text", u->status);
                buf_puts(b, "}");
        }
        buf_puts(b, "]");
}

static void json_slots(Buf *b, const ServerState *s) {
        buf_puts(b, "[");
        for (size_t k = 0; k < s->n_slots; k++) {
                bool f = true;

                buf_puts(b, k ? ",{" : "{");
                j_kstr(b, &f, "name", s->slots[k].name);
                j_kbool(b, &f, "active", s->slots[k].active);
                j_kstr(b, &f, "wal_status", s->slots[k].wal_status);
                j_kint(b, &f, "retained_bytes", s->slots[k].retained);
                buf_puts(b, "}");
        }
        buf_puts(b, "]");
}

static void json_replicas(Buf *b, const ServerState *s) {
        buf_puts(b, "[");
        for (size_t k = 0; k < s->n_replicas; k++) {
                const ReplicaState *x = &s->replicas[k];
                bool f = true;

                buf_puts(b, k ? ",{" : "{");
                j_kstr(b, &f, "application_name", x->name);
                j_kstr(b, &f, "client_addr", x->client);
                j_kstr(b, &f, "state", x->state);
                j_kstr(b, &f, "sync_state", x->sync_state);
                j_kstr(b, &f, "slot", x->slot);
                j_klsn(b, &f, "replay_lsn", x->replay_lsn);
                j_kint(b, &f, "lag_bytes", x->lag_bytes);
                j_kseconds(b, &f, "lag_seconds", x->lag_seconds);
                buf_puts(b, "}");
        }
        buf_puts(b, "]");
}

static void json_upstream(Buf *b, const ServerState *s) {
        bool f = true;

        if (!s->receiver_status) {
                buf_puts(b, "null");
                return;
        }
        buf_puts(b, "{");
        j_kstr(b, &f, "host", s->upstream_host);
        j_kint(b, &f, "port", s->upstream_port ? (int64_t) s->upstream_port : -1);
        j_kstr(b, &f, "status", s->receiver_status);
        j_kbool(b, &f, "streaming", streq(s->receiver_status, "streaming"));
        buf_puts(b, "}");
}

static void json_server(Buf *b, const ServerState *s) {
        char sysid[32];
        bool f = true;

        snprintf(sysid, sizeof(sysid), "%" PRIu64, s->sysid);
        buf_puts(b, "{");
        j_kbool(b, &f, "checked", s->checked);
        j_kbool(b, &f, "reachable", s->reachable);
        j_kstr(b, &f, "reason", s->reachable ? NULL : s->reason);
        j_kstr(b, &f, "system_identifier", s->reachable ? sysid : NULL);
        j_kstr(b, &f, "role", !s->reachable ? NULL : s->in_recovery ? "standby" : "primary");
        j_kint(b, &f, "timeline", s->reachable ? (int64_t) s->timeline : -1);
        j_klsn(b, &f, "write_lsn", s->write_lsn);
        j_klsn(b, &f, "replay_lsn", s->replay_lsn);
        j_key(b, &f, "upstream");
        json_upstream(b, s);
        j_kint(b, &f, "lag_bytes", s->lag_bytes);
        j_kseconds(b, &f, "lag_seconds", s->lag_seconds);
        j_key(b, &f, "slots");
        json_slots(b, s);
        j_key(b, &f, "replicas");
        json_replicas(b, s);
        buf_puts(b, "}");
}

static void json_promotion(Buf *b, const InstanceReport *i) {
        char when[64];
        bool f = true;

        if (!i->has_promotion) {
                buf_puts(b, "null");
                return;
        }
        show_time(i->promotion.time, when, sizeof(when));
        buf_puts(b, "{");
        j_kint(b, &f, "time", i->promotion.time);
        j_kstr(b, &f, "time_utc", when);
        j_kint(b, &f, "timeline", i->promotion.timeline);
        j_kstr(b, &f, "lsn", i->promotion.lsn);
        j_kstr(b, &f, "trigger_path", i->promotion.trigger_path);
        buf_puts(b, "}");
}

static void json_member(Buf *b, const MemberState *m) {
        const PeerState *p = &m->peer;
        bool f = true;

        buf_puts(b, "{");
        j_kstr(b, &f, "member", m->member);
        j_kstr(b, &f, "host", m->host);
        j_kint(b, &f, "port", m->port);
        j_kbool(b, &f, "self", m->self);
        j_kstr(b, &f, "slot", m->slot);
        j_kbool(b, &f, "reachable", p->answered);
        j_kstr(b, &f, "reason", p->answered ? NULL : p->reason);
        j_kstr(b, &f, "role", !p->answered || p->in_recovery < 0 ? NULL : p->in_recovery ? "standby" : "primary");
        j_kint(b, &f, "timeline", p->answered ? (int64_t) p->timeline : -1);
        j_klsn(b, &f, "lsn", p->answered ? p->lsn : 0);
        j_kint(b, &f, "lag_bytes", m->lag_bytes);
        j_kstr(b, &f, "state", m->stream_state);
        j_kstr(b, &f, "sync_state", m->sync_state);
        buf_puts(b, "}");
}

/* A 64-bit lease ID as etcdctl writes it (hex), as a string; null for none. */
static void j_klease(Buf *b, bool *first, const char *key, int64_t lease) {
        char s[24];

        j_key(b, first, key);
        if (lease == 0) {
                buf_puts(b, "null");
                return;
        }
        snprintf(s, sizeof(s), "%" PRIx64, (uint64_t) lease);
        j_str(b, s);
}

static void json_etcd_member(Buf *b, const EtcdMemberView *m) {
        bool f = true;

        buf_puts(b, "{");
        j_kstr(b, &f, "member", m->name);
        j_kbool(b, &f, "parsed", m->parsed);
        j_kstr(b, &f, "role", m->parsed ? m->role : NULL);
        j_kint(b, &f, "timeline", m->parsed ? (int64_t) m->timeline : -1);
        j_klsn(b, &f, "lsn", m->parsed ? m->lsn : 0);
        j_key(b, &f, "sync");
        buf_puts(b, "[");
        for (size_t k = 0; m->sync && m->sync[k]; k++) {
                buf_puts(b, k ? "," : "");
                j_str(b, m->sync[k]);
        }
        buf_puts(b, "]");
        j_kint(b, &f, "time", m->parsed && m->time > 0 ? m->time : -1);
        j_klease(b, &f, "lease", m->lease);
        j_kstr(b, &f, "value", m->value);
        buf_puts(b, "}");
}

/* null without etcd mode. */
static void json_etcd(Buf *b, const EtcdView *v) {
        bool f = true;

        if (!v->asked) {
                buf_puts(b, "null");
                return;
        }
        buf_puts(b, "{");
        j_kstr(b, &f, "error", v->error);
        j_kstr(b, &f, "endpoint", v->endpoint);
        j_kstr(b, &f, "prefix", v->prefix);
        j_key(b, &f, "leader");
        if (!v->leader)
                buf_puts(b, "null");
        else {
                bool g = true;

                buf_puts(b, "{");
                j_kstr(b, &g, "member", v->leader);
                j_klease(b, &g, "lease", v->leader_lease);
                j_kint(b, &g, "ttl", v->lease_ttl);
                j_kint(b, &g, "granted_ttl", v->lease_granted);
                buf_puts(b, "}");
        }
        j_kstr(b, &f, "switchover", v->switchover);
        j_key(b, &f, "members");
        buf_puts(b, "[");
        for (size_t k = 0; k < v->n_members; k++) {
                buf_puts(b, k ? "," : "");
                json_etcd_member(b, &v->members[k]);
        }
        buf_puts(b, "]}");
}

static void json_instance(Buf *b, const InstanceReport *i) {
        bool f = true;

        buf_puts(b, "{");
        j_kstr(b, &f, "name", i->name);
        j_kstr(b, &f, "env_file", i->env_file);
        j_kstr(b, &f, "error", i->error);
        j_kstr(b, &f, "mode", i->error ? NULL : i->mode_primary ? "primary" : "standby");
        if (!i->error) {
                j_key(b, &f, "units");
                json_units(b, i);
                j_key(b, &f, "server");
                json_server(b, &i->server);
                j_key(b, &f, "promotion");
                json_promotion(b, i);
                j_key(b, &f, "partners");
                buf_puts(b, "[");
                for (size_t k = 0; k < i->n_members; k++) {
                        buf_puts(b, k ? "," : "");
                        json_member(b, &i->members[k]);
                }
                buf_puts(b, "]");
                j_kstr(b, &f, "partners_error", i->members_error);
                j_key(b, &f, "etcd");
                json_etcd(b, &i->etcd);
        }
        buf_puts(b, "}");
}

char *show_json(const Report *r) {
        static const char *const verdicts[] = { [HEALTH_OK] = "healthy", [HEALTH_DEGRADED] = "degraded",
                                                [HEALTH_ERROR] = "error" };
        Buf b = {};
        bool f = true;

        buf_puts(&b, "{");
        j_kint(&b, &f, "schema", SHOW_JSON_SCHEMA);
        j_kstr(&b, &f, "verdict", verdicts[health_verdict(r)]);
        j_key(&b, &f, "instances");
        buf_puts(&b, "[");
        for (size_t k = 0; k < r->n; k++) {
                buf_puts(&b, k ? "," : "");
                json_instance(&b, &r->items[k]);
        }
        buf_puts(&b, "],\"warnings\":[");
        for (size_t k = 0; k < r->n_warnings; k++) {
                bool g = true;

                buf_puts(&b, k ? ",{" : "{");
                j_kstr(&b, &g, "instance", r->warnings[k].instance);
                j_kstr(&b, &g, "text", r->warnings[k].text);
                buf_puts(&b, "}");
        }
        buf_puts(&b, "]}\n");
        return buf_steal(&b);
}
