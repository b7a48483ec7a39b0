/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd-leader.h"
#include "etcdview.h"
#include "log.h"
#include "member.h"
#include "util.h"

static int fill_member(EtcdMemberView *m, const char *name, const EtcdKV *kv) {
        Member rec;

        m->name = strdup(name);
        m->value = strdup(kv->value ? kv->value : "");
        if (!m->name || !m->value)
                return -ENOMEM;
        m->lease = kv->lease;
        if (member_from_json(name, m->value, &rec) < 0)
                return 0; /* shown as it is stored */
        m->role = strdup(member_role_to_string(rec.role));
        if (!m->role)
                return -ENOMEM;
        m->timeline = rec.timeline;
        m->lsn = rec.lsn;
        m->time = rec.time;
        if (rec.n_sync > 0) {
                m->sync = calloc(rec.n_sync + 1, sizeof(char *));
                if (!m->sync)
                        return -ENOMEM;
                for (size_t k = 0; k < rec.n_sync; k++)
                        if (!(m->sync[k] = strdup(rec.sync[k])))
                                return -ENOMEM;
        }
        m->parsed = true;
        return 0;
}

int etcdview_fill(EtcdView *v, const EtcdKV *kvs, size_t n) {
        size_t plen = strlen(v->prefix);

        for (size_t i = 0; i < n; i++) {
                const char *rest = kvs[i].key && strncmp(kvs[i].key, v->prefix, plen) == 0 ? kvs[i].key + plen : NULL;
                const char *value = kvs[i].value ? kvs[i].value : "";

                if (!rest)
                        continue;
                if (streq(rest, "leader")) {
                        free(v->leader);
                        if (!(v->leader = strdup(value)))
                                return -ENOMEM;
                        v->leader_lease = kvs[i].lease;
                } else if (streq(rest, "switchover")) {
                        free(v->switchover);
                        if (!(v->switchover = strdup(value)))
                                return -ENOMEM;
                } else if (strncmp(rest, "members/", 8) == 0 && rest[8] && !strchr(rest + 8, '/')) {
                        EtcdMemberView *m = realloc(v->members, (v->n_members + 1) * sizeof(*m));
                        int r;

                        if (!m)
                                return -ENOMEM;
                        v->members = m;
                        m = &v->members[v->n_members++];
                        *m = (EtcdMemberView) {};
                        r = fill_member(m, rest + 8, &kvs[i]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int fail(EtcdView *v, Etcd *e, int r, const char *what) {
        const char *why = e ? etcd_last_error(e) : NULL;

        log_debug_errno(r, "etcd: %s failed: %m", what);
        if (asprintf(&v->error, "cannot %s at %s: %s", what, e ? etcd_endpoint(e) : "POSTGRESQL_ETCD_HOSTS",
                     why && *why ? why : strerror(-r)) < 0) {
                v->error = NULL;
                return -ENOMEM;
        }
        return 0;
}

int etcdview_gather(const Config *c, EtcdView *v) {
        EtcdTLS tls = {
                .ca_file = config_get(c, VAR_ETCD_CA_FILE),
                .cert_file = config_get(c, VAR_ETCD_CERT_FILE),
                .key_file = config_get(c, VAR_ETCD_KEY_FILE),
        };
        _cleanup_etcd_ Etcd *e = NULL;
        EtcdKV *kvs = NULL;
        size_t n = 0;
        int r;

        v->asked = true;
        v->lease_ttl = v->lease_granted = -1;
        v->prefix = etcd_leader_prefix(c);
        if (!v->prefix)
                return -ENOMEM;
        r = etcd_new(config_get(c, VAR_ETCD_HOSTS), &tls, ETCDVIEW_TIMEOUT_MS, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(v, NULL, r, "set up the etcd client");
        r = etcd_get_prefix(e, v->prefix, &kvs, &n, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(v, e, r, "read the keys");
        r = etcdview_fill(v, kvs, n);
        etcd_kvs_free(kvs, n);
        if (r < 0)
                return r;
        if (!(v->endpoint = strdup(etcd_endpoint(e))))
                return -ENOMEM;
        if (v->leader && v->leader_lease != 0) {
                r = etcd_lease_ttl(e, v->leader_lease, &v->lease_ttl, &v->lease_granted);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) /* gone meanwhile, or etcd went: not known */
                        v->lease_ttl = v->lease_granted = -1;
        }
        return 0;
}
