/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

void server_state_done(ServerState *s) {
        for (size_t i = 0; i < s->n_slots; i++) {
                free(s->slots[i].name);
                free(s->slots[i].wal_status);
        }
        free(s->slots);
        for (size_t i = 0; i < s->n_replicas; i++) {
                free(s->replicas[i].name);
                free(s->replicas[i].client);
                free(s->replicas[i].state);
                free(s->replicas[i].sync_state);
                free(s->replicas[i].slot);
        }
        free(s->replicas);
        free(s->upstream);
        free(s->upstream_host);
        free(s->receiver_status);
        *s = (ServerState) {};
}

void member_state_done(MemberState *m) {
        free(m->member);
        free(m->host);
        free(m->slot);
        peer_state_done(&m->peer);
        free(m->sync_state);
        free(m->stream_state);
        *m = (MemberState) {};
}

void etcd_view_done(EtcdView *v) {
        free(v->error);
        free(v->endpoint);
        free(v->prefix);
        free(v->leader);
        free(v->switchover);
        for (size_t i = 0; i < v->n_members; i++) {
                free(v->members[i].name);
                free(v->members[i].value);
                free(v->members[i].role);
                strv_freep(&v->members[i].sync);
        }
        free(v->members);
        *v = (EtcdView) {};
}

void unit_state_done(UnitState *u) {
        free(u->name);
        free(u->active);
        free(u->sub);
        free(u->enabled);
        free(u->status);
        *u = (UnitState) {};
}

void instance_report_done(InstanceReport *r) {
        free(r->name);
        free(r->env_file);
        free(r->error);
        for (size_t i = 0; i < REPORT_UNITS; i++)
                unit_state_done(&r->units[i]);
        server_state_done(&r->server);
        if (r->has_promotion)
                record_done(&r->promotion);
        for (size_t i = 0; i < r->n_members; i++)
                member_state_done(&r->members[i]);
        free(r->members);
        free(r->members_error);
        etcd_view_done(&r->etcd);
        *r = (InstanceReport) {};
}

void report_done(Report *r) {
        for (size_t i = 0; i < r->n; i++)
                instance_report_done(&r->items[i]);
        free(r->items);
        for (size_t i = 0; i < r->n_warnings; i++) {
                free(r->warnings[i].instance);
                free(r->warnings[i].text);
        }
        free(r->warnings);
        *r = (Report) {};
}

InstanceReport *report_add(Report *r) {
        InstanceReport *items = realloc(r->items, (r->n + 1) * sizeof(*items));

        if (!items)
                return NULL;
        r->items = items;
        items[r->n] = (InstanceReport) {};
        return &items[r->n++];
}

int report_warn(Report *r, const char *instance, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL, *inst = NULL;
        Warning *w;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_warnings; i++)
                if (streq(r->warnings[i].text, text))
                        return 0;
        if (instance && !(inst = strdup(instance)))
                return -ENOMEM;
        w = realloc(r->warnings, (r->n_warnings + 1) * sizeof(*w));
        if (!w)
                return -ENOMEM;
        r->warnings = w;
        w[r->n_warnings++] = (Warning) { .instance = TAKE_PTR(inst), .text = TAKE_PTR(text) };
        return 0;
}
