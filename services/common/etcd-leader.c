/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "etcd-leader.h"
#include "etcd.h"
#include "log.h"
#include "notify.h"
#include "util.h"

char *etcd_leader_prefix(const Config *c) {
        char *p = NULL;

        if (asprintf(&p, "/pgrepl/%s/", config_get(c, VAR_CLUSTER_NAME)) < 0)
                return NULL;
        return p;
}

int etcd_leader_holder(const Config *c, char **ret_holder) {
        EtcdTLS tls = {
                .ca_file = config_get(c, VAR_ETCD_CA_FILE),
                .cert_file = config_get(c, VAR_ETCD_CERT_FILE),
                .key_file = config_get(c, VAR_ETCD_KEY_FILE),
        };
        _cleanup_free_ char *prefix = etcd_leader_prefix(c), *key = NULL;
        EtcdKV kv = {};
        Etcd *e = NULL;
        int r;

        if (!prefix || asprintf(&key, "%sleader", prefix) < 0)
                return -ENOMEM;
        r = etcd_new(config_get(c, VAR_ETCD_HOSTS), &tls, 700, &e);
        if (r < 0)
                return r;
        r = etcd_get(e, key, &kv);
        etcd_free(e);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        *ret_holder = TAKE_PTR(kv.value);
        etcd_kv_done(&kv);
        return 1;
}

int etcd_leader_other(const Config *c, char **ret_holder) {
        _cleanup_free_ char *holder = NULL;
        const char *self;
        int r;

        if (!c->failover_etcd || c->partners.self < 0)
                return 0;
        self = c->partners.items[c->partners.self].display;
        r = etcd_leader_holder(c, &holder);
        if (r == -ENOMEM)
                return r;
        if (r <= 0 || streq(holder, self))
                return 0;
        *ret_holder = TAKE_PTR(holder);
        return 1;
}

int etcd_leader_refuse(const Config *c, const char *what) {
        _cleanup_free_ char *holder = NULL;
        int r;

        r = etcd_leader_other(c, &holder);
        if (r < 0)
                return log_oom();
        if (r == 0)
                return 0;
        log_error("Member '%s' holds the leader key in etcd (POSTGRESQL_FAILOVER=etcd): not starting %s writable. "
                  "Its failover agent asks for the start again once that member is the primary", holder, what);
        notify_status("not started: member '%s' holds the leader key in etcd", holder);
        return -PGREPL_E_SUPERSEDED;
}
