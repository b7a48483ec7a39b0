/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "macro.h"
#include "pg.h"
#include "spawn-util.h"
#include "util.h"

static const struct {
        const char *guc;
        const char *label; /* pg_controldata's line */
} params[CONTROL_N_PARAMS] = {
        { "max_connections", "max_connections setting:" },
        { "max_worker_processes", "max_worker_processes setting:" },
        { "max_wal_senders", "max_wal_senders setting:" },
        { "max_prepared_transactions", "max_prepared_xacts setting:" },
        { "max_locks_per_transaction", "max_locks_per_xact setting:" },
};

const char *control_param_name(size_t i) {
        return i < CONTROL_N_PARAMS ? params[i].guc : NULL;
}

int control_parse_lsn(const char *s, uint64_t *ret) {
        unsigned hi, lo;
        int n = 0;

        if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != 0)
                return -EINVAL;
        *ret = ((uint64_t) hi << 32) | lo;
        return 0;
}

/* The value after "label" on its own line, trimmed, into buf. */
static int field(const char *text, const char *label, char *buf, size_t n) {
        const char *p = text;
        size_t len;

        while ((p = strstr(p, label))) {
                if (p == text || p[-1] == '\n')
                        break;
                p++;
        }
        if (!p)
                return -EBADMSG;
        p += strlen(label);
        p += strspn(p, " \t");
        len = strcspn(p, "\n");
        if (len == 0 || len >= n)
                return -EBADMSG;
        memcpy(buf, p, len);
        buf[len] = 0;
        strstrip(buf);
        return 0;
}

int control_parse(const char *text, ControlData *ret) {
        ControlData cd = {};
        char v[64];

        if (field(text, "Database system identifier:", v, sizeof(v)) < 0 || parse_u64(v, &cd.sysid) < 0)
                return -EBADMSG;
        if (field(text, "Latest checkpoint's TimeLineID:", v, sizeof(v)) < 0 ||
            parse_uint(v, 1, UINT32_MAX, &cd.timeline) < 0)
                return -EBADMSG;
        /* Positions only serve follow_check(): absent or odd, they stay 0 (no claim is made). */
        if (field(text, "Latest checkpoint location:", v, sizeof(v)) >= 0)
                (void) control_parse_lsn(v, &cd.checkpoint_lsn);
        if (field(text, "Minimum recovery ending location:", v, sizeof(v)) >= 0)
                (void) control_parse_lsn(v, &cd.min_recovery_lsn);
        if (field(text, "Min recovery ending loc's timeline:", v, sizeof(v)) >= 0)
                (void) parse_uint(v, 0, UINT32_MAX, &cd.min_recovery_tli);
        for (size_t i = 0; i < CONTROL_N_PARAMS; i++)
                if (field(text, params[i].label, v, sizeof(v)) < 0 || parse_uint(v, 0, INT32_MAX, &cd.values[i]) < 0)
                        return -EBADMSG;
        *ret = cd;
        return 0;
}

int control_read(const char *bindir, const char *datadir, ControlData *ret) {
        _cleanup_free_ char *bin = pg_bin(bindir, "pg_controldata"), *out = NULL;
        char *argv[] = { bin, (char *) datadir, NULL };
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        int r;

        if (!bin)
                return -ENOMEM;
        r = spawn_capture(argv, envp, &out);
        if (r < 0)
                return r;
        return control_parse(out, ret);
}

unsigned control_wal_timeline(const char *datadir) {
        _cleanup_free_ char *wal = path_join(datadir, "pg_wal");
        struct dirent *de;
        unsigned best = 0;
        DIR *d;

        if (!wal || !(d = opendir(wal)))
                return 0;
        while ((de = readdir(d))) {
                unsigned t;

                if (strlen(de->d_name) == 24 && strspn(de->d_name, "0123456789ABCDEF") == 24 &&
                    sscanf(de->d_name, "%8X", &t) == 1 && t > best)
                        best = t;
        }
        closedir(d);
        return best;
}

unsigned control_timeline(const ControlData *cd, const char *datadir) {
        unsigned t = cd->timeline > cd->min_recovery_tli ? cd->timeline : cd->min_recovery_tli;
        unsigned w = control_wal_timeline(datadir);

        return w > t ? w : t;
}
