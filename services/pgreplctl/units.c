/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "spawn-util.h"
#include "units.h"
#include "util.h"

#define SYSTEMCTL "/usr/bin/systemctl"

static const char *const kinds[] = { [UNIT_PRIMARY] = "primary", [UNIT_STANDBY] = "standby", [UNIT_TRIGGER] = "trigger" };

static const char *systemctl(void) {
        const char *e = getenv("PGREPL_SYSTEMCTL");

        return e && *e ? e : SYSTEMCTL;
}

bool units_available(void) {
        const char *e = getenv("PGREPL_SYSTEMCTL");

        return (e && *e) || sd_booted() > 0;
}

char *units_name(UnitKind kind, const char *instance) {
        char *s = NULL;

        if (asprintf(&s, "pgrepl-%s@%s", kinds[kind], instance) < 0)
                return NULL;
        return s;
}

static int set_field(UnitState *u, const char *key, const char *value) {
        char **field = streq(key, "ActiveState") ? &u->active : streq(key, "SubState") ? &u->sub
                       : streq(key, "UnitFileState") ? &u->enabled : streq(key, "StatusText") ? &u->status : NULL;

        if (!field)
                return 0;
        free(*field);
        *field = *value ? strdup(value) : NULL;
        return *value && !*field ? -ENOMEM : 0;
}

/* The entry of units the block is about, by its Id= ("pgrepl-standby@main.service"). */
static UnitState *block_unit(const char *block, UnitState *units, size_t n) {
        const char *id = NULL;
        size_t k;

        for (const char *l = block; l && *l && !id; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, "Id=", 3) == 0)
                        id = l + 3;
        if (!id)
                return NULL;
        k = strcspn(id, "\n");
        for (size_t i = 0; i < n; i++) {
                size_t m = units[i].name ? strlen(units[i].name) : 0;

                if (m > 0 && strncmp(id, units[i].name, m) == 0 &&
                    (k == m || (k == m + 8 && strncmp(id + m, ".service", 8) == 0)))
                        return &units[i];
        }
        return NULL;
}

static int parse_block(char *block, UnitState *units, size_t n) {
        UnitState *u = block_unit(block, units, n);
        char *save = NULL;

        if (!u)
                return 0;
        for (char *l = strtok_r(block, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(l, '=');
                int r;

                if (!eq)
                        continue;
                *eq = 0;
                r = set_field(u, l, eq + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

int units_parse_show(const char *text, UnitState *units, size_t n) {
        _cleanup_free_ char *copy = strdup(text);
        char *p;

        if (!copy)
                return -ENOMEM;
        p = copy;
        while (p && *p) {
                char *end = strstr(p, "\n\n");
                int r;

                if (end)
                        *end = 0;
                r = parse_block(p, units, n);
                if (r < 0)
                        return r;
                p = end ? end + 2 : NULL;
        }
        return 0;
}

static int set_unknown(UnitState units[REPORT_UNITS]) {
        for (size_t i = 0; i < REPORT_UNITS; i++)
                if (!units[i].active && !(units[i].active = strdup("unknown")))
                        return -ENOMEM;
        return 0;
}

int units_show(const char *instance, UnitState units[REPORT_UNITS]) {
        _cleanup_free_ char *out = NULL;
        _cleanup_strv_free_ char **env = NULL;
        int r;

        for (UnitKind k = 0; k < REPORT_UNITS; k++)
                if (!(units[k].name = units_name(k, instance)))
                        return -ENOMEM;
        if (!units_available())
                return set_unknown(units);
        {
                const char *argv[] = { systemctl(), "show", "--no-pager",
                                       "-p", "Id,ActiveState,SubState,UnitFileState,StatusText", "--",
                                       units[0].name, units[1].name, units[2].name, NULL };

                r = spawn_env(NULL, &env);
                if (r < 0)
                        return r;
                r = spawn_capture((char *const *) argv, env, &out);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_debug_errno(r, "systemctl show failed: %m");
                return set_unknown(units);
        }
        r = units_parse_show(out, units, REPORT_UNITS);
        if (r < 0)
                return r;
        return set_unknown(units);
}

int units_run(const char *const *args) {
        _cleanup_strv_free_ char **env = NULL;
        const char *argv[16] = { systemctl(), "--no-ask-password" };
        size_t n = 2;
        int r;

        for (size_t i = 0; args[i] && n + 1 < ELEMENTSOF(argv); i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        r = spawn_env(NULL, &env);
        if (r < 0)
                return r;
        return spawn_run((char *const *) argv, env);
}
