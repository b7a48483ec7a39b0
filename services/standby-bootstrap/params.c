/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "params.h"
#include "pg.h"
#include "spawn-util.h"
#include "util.h"

void params_free(Setting *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(s[i].key);
                free(s[i].value);
        }
        free(s);
}

/* Start `postgres -C NAME` for every parameter: it takes one name, so they run side by side. */
static int start_all(char *postgres, const char *datadir, pid_t *pids, int *fds, size_t *ret_started) {
        char *envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
        size_t n = 0;
        int r = 0;

        for (; n < CONTROL_N_PARAMS; n++) {
                char *argv[] = { postgres, "-D", (char *) datadir, "-C", (char *) control_param_name(n), NULL };

                r = spawn_capture_start(argv, envp, &pids[n], &fds[n]);
                if (r < 0)
                        break;
        }
        *ret_started = n;
        return r;
}

/* One floor into s[*n] when the standby's value (out) is below the primary's. */
static int add_floor(size_t i, char *out, const ControlData *cd, Setting *s, size_t *n) {
        unsigned have;

        if (parse_uint(strstrip(out), 0, INT32_MAX, &have) < 0 || have >= cd->values[i])
                return 0;
        s[*n].key = strdup(control_param_name(i));
        if (!s[*n].key || asprintf(&s[*n].value, "%u", cd->values[i]) < 0) {
                s[*n].value = NULL;
                (*n)++;
                return -ENOMEM;
        }
        (*n)++;
        log_notice("%s is %u here but %u on the primary; a hot standby needs at least the primary's "
                   "value, so %u is used", control_param_name(i), have, cd->values[i], cd->values[i]);
        return 0;
}

int params_floors(const char *bindir, const char *datadir, const ControlData *cd, Setting **ret, size_t *ret_n) {
        _cleanup_free_ char *postgres = pg_bin(bindir, "postgres");
        Setting *s = calloc(CONTROL_N_PARAMS, sizeof(Setting));
        pid_t pids[CONTROL_N_PARAMS];
        int fds[CONTROL_N_PARAMS], r = 0;
        size_t started = 0, n = 0;

        if (!postgres || !s) {
                free(s);
                return -ENOMEM;
        }
        /* What the standby's own files say, includes and ALTER SYSTEM resolved by PostgreSQL itself. */
        r = start_all(postgres, datadir, pids, fds, &started);
        /* Every child started is reaped, whatever failed before. */
        for (size_t i = 0; i < started; i++) {
                _cleanup_free_ char *out = NULL;
                int k = spawn_capture_finish(pids[i], fds[i], &out);

                if (r >= 0)
                        r = k < 0 ? k : add_floor(i, out, cd, s, &n);
        }
        if (r < 0) {
                params_free(s, n);
                return r;
        }
        *ret = s;
        *ret_n = n;
        return 0;
}
