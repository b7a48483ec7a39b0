/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "follow.h"
#include "log.h"
#include "params.h"
#include "pg.h"
#include "spawn-util.h"
#include "util.h"

static const struct {
        const char *guc;
        const char *label; /* pg_controldata's line */
} params[PARAMS_N] = {
        { "max_connections", "max_connections setting:" },
        { "max_worker_processes", "max_worker_processes setting:" },
        { "max_wal_senders", "max_wal_senders setting:" },
        { "max_prepared_transactions", "max_prepared_xacts setting:" },
        { "max_locks_per_transaction", "max_locks_per_xact setting:" },
};

const char *params_guc(size_t i) {
        return i < PARAMS_N ? params[i].guc : NULL;
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

int params_parse_controldata(const char *text, ControlData *ret) {
        ControlData cd = {};
        char v[64];

        if (field(text, "Database system identifier:", v, sizeof(v)) < 0 || parse_u64(v, &cd.sysid) < 0)
                return -EBADMSG;
        if (field(text, "Latest checkpoint's TimeLineID:", v, sizeof(v)) < 0 ||
            parse_uint(v, 1, UINT32_MAX, &cd.timeline) < 0)
                return -EBADMSG;
        /* Positions only serve follow_check(): absent or odd, they stay 0 (no claim is made). */
        if (field(text, "Latest checkpoint location:", v, sizeof(v)) >= 0)
                (void) follow_parse_lsn(v, &cd.checkpoint_lsn);
        if (field(text, "Minimum recovery ending location:", v, sizeof(v)) >= 0)
                (void) follow_parse_lsn(v, &cd.min_recovery_lsn);
        if (field(text, "Min recovery ending loc's timeline:", v, sizeof(v)) >= 0)
                (void) parse_uint(v, 0, UINT32_MAX, &cd.min_recovery_tli);
        for (size_t i = 0; i < PARAMS_N; i++)
                if (field(text, params[i].label, v, sizeof(v)) < 0 || parse_uint(v, 0, INT32_MAX, &cd.values[i]) < 0)
                        return -EBADMSG;
        *ret = cd;
        return 0;
}

static char *const c_env[] = { SPAWN_PATH, "LC_ALL=C", NULL };

int params_read_control(const char *bindir, const char *datadir, ControlData *ret) {
        _cleanup_free_ char *bin = pg_bin(bindir, "pg_controldata"), *out = NULL;
        char *argv[] = { bin, (char *) datadir, NULL };
        int r;

        if (!bin)
                return log_oom();
        r = spawn_capture(argv, c_env, &out);
        if (r < 0)
                return log_error_errno(r, "Failed to read the control file of '%s' with '%s': %m", datadir, bin);
        r = params_parse_controldata(out, ret);
        if (r < 0)
                return log_error_errno(r, "Unexpected output from '%s' for '%s'", bin, datadir);
        return 0;
}

void params_free(Setting *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(s[i].key);
                free(s[i].value);
        }
        free(s);
}

int params_floors(const char *bindir, const char *datadir, const ControlData *cd, Setting **ret, size_t *ret_n) {
        _cleanup_free_ char *postgres = pg_bin(bindir, "postgres");
        Setting *s = calloc(PARAMS_N, sizeof(Setting));
        pid_t pids[PARAMS_N];
        int fds[PARAMS_N], r = 0;
        size_t started = 0, n = 0;

        if (!postgres || !s) {
                free(s);
                return log_oom();
        }
        /* What the standby's own files say, includes and ALTER SYSTEM resolved by PostgreSQL itself;
         * `postgres -C` takes one name, so the five run side by side. */
        for (; started < PARAMS_N; started++) {
                char *argv[] = { postgres, "-D", (char *) datadir, "-C", (char *) params[started].guc, NULL };

                r = spawn_capture_start(argv, c_env, &pids[started], &fds[started]);
                if (r < 0)
                        break;
        }
        for (size_t i = 0; i < started; i++) {
                _cleanup_free_ char *out = NULL;
                unsigned have;
                int k = spawn_capture_finish(pids[i], fds[i], &out);

                if (k < 0 || r < 0) {
                        if (r >= 0)
                                r = log_error_errno(k, "Failed to read %s of '%s' with '%s -C': %m", params[i].guc,
                                                    datadir, postgres);
                        continue;
                }
                if (parse_uint(strstrip(out), 0, INT32_MAX, &have) < 0 || have >= cd->values[i])
                        continue;
                s[n].key = strdup(params[i].guc);
                if (!s[n].key || asprintf(&s[n].value, "%u", cd->values[i]) < 0) {
                        s[n].value = NULL;
                        n++;
                        r = log_oom();
                        continue;
                }
                log_notice("%s is %u here but %u on the primary; a hot standby needs at least the primary's "
                           "value, so %u is used", params[i].guc, have, cd->values[i], cd->values[i]);
                n++;
        }
        if (r < 0) {
                if (started < PARAMS_N)
                        log_error_errno(r, "Failed to run '%s -C': %m", postgres);
                params_free(s, n);
                return r;
        }
        *ret = s;
        *ret_n = n;
        return 0;
}
