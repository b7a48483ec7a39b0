/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "slots.h"
#include "util.h"

/* '{a,b}'::name[]: slot names are [a-z0-9_] (partners_slot_name()), nothing to quote. */
static void put_names(Buf *b, const Partners *p) {
        size_t n = 0;

        buf_puts(b, "'{");
        for (size_t i = 0; i < p->n; i++)
                if (!p->items[i].self)
                        buf_printf(b, "%s%s", n++ ? "," : "", p->items[i].slot);
        buf_puts(b, "}'::name[]");
}

int slots_round_query(const Partners *p, const char *prev_lsn, char **ret) {
        bool others = false;
        Buf b = {};

        for (size_t i = 0; i < p->n; i++)
                others = others || !p->items[i].self;
        if (!others)
                return -ENOENT;
        /* Reserved at once: from now on this server keeps what the partner needs. */
        buf_puts(&b, "SELECT count(pg_create_physical_replication_slot(s, true)) FROM unnest(");
        put_names(&b, p);
        buf_puts(&b, ") s WHERE s NOT IN (SELECT slot_name FROM pg_replication_slots); ");
        /* Only idle slots, only forward (advancing backwards is an error). */
        if (prev_lsn && *prev_lsn) {
                buf_printf(&b, "SELECT count(pg_replication_slot_advance(slot_name, '%s'::pg_lsn)) FROM "
                               "pg_replication_slots WHERE slot_name = ANY(", prev_lsn);
                put_names(&b, p);
                buf_printf(&b, ") AND NOT active AND restart_lsn < '%s'::pg_lsn; ", prev_lsn);
        }
        buf_puts(&b, "SELECT pg_last_wal_replay_lsn()");
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}
