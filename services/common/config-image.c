/* SPDX-License-Identifier: MIT */
/*
 * The image's plain settings (POSTGRESQL_TIMEZONE, _LOG_*, _TCP_KEEPALIVES_*,
 * ...; config_vars[].guc) are rendered as the postgresql.conf parameters they
 * name. What PostgreSQL would only refuse at its start is refused here, as a
 * configuration error, before anything is touched: a time zone the host does
 * not have, a statement timeout that is no duration, pgaudit settings without
 * pgaudit loaded (they would do nothing), and a shutdown mode the units do
 * not use.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-internal.h"
#include "errors.h"
#include "log.h"
#include "util.h"

/* PostgreSQL on Debian reads the system's time zone database (--with-system-tzdata). */
#define ZONEINFO "/usr/share/zoneinfo"

const char *config_enum_allowed(VarId id) {
        static char buf[256];
        size_t n = 0;

        n += snprintf(buf, sizeof(buf), "must be one of ");
        for (size_t i = 0; config_vars[id].choices[i] && n < sizeof(buf); i++)
                n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "", config_vars[id].choices[i]);
        return buf;
}

static bool duration_valid(const char *s) {
        static const char *const units[] = { "", "us", "ms", "s", "min", "h", "d", NULL };
        const char *p = s;

        if (!isdigit((unsigned char) *p))
                return false;
        while (isdigit((unsigned char) *p))
                p++;
        for (size_t i = 0; units[i]; i++)
                if (streq(p, units[i]))
                        return true;
        return false;
}

static bool zone_valid(const char *s) {
        _cleanup_free_ char *path = NULL;

        if (!*s || s[0] == '/' || strstr(s, "..") || strpbrk(s, "\n\r"))
                return false;
        path = path_join(ZONEINFO, s);
        return path && access(path, R_OK) == 0;
}

static bool list_has(const char *list, const char *word) {
        _cleanup_free_ char *copy = list ? strdup(list) : NULL;
        char *rest = copy, *t;

        while (copy && (t = strsep(&rest, ",")))
                if (streq(strstrip(t), word))
                        return true;
        return false;
}

int config_check_image(Config *c) {
        static const VarId zones[] = { VAR_TIMEZONE, VAR_LOG_TIMEZONE };
        static const VarId audit[] = { VAR_PGAUDIT_LOG, VAR_PGAUDIT_LOG_CATALOG, VAR_PGAUDIT_LOG_PARAMETER };
        int bad = 0;

        for (size_t i = 0; i < ELEMENTSOF(zones); i++)
                if (c->values[zones[i]] && !zone_valid(c->values[zones[i]])) {
                        config_problem(c, zones[i], "must be a time zone of this host (" ZONEINFO "), such as "
                                       "UTC or Europe/Berlin");
                        bad++;
                }
        if (c->values[VAR_STATEMENT_TIMEOUT] && !duration_valid(c->values[VAR_STATEMENT_TIMEOUT])) {
                config_problem(c, VAR_STATEMENT_TIMEOUT, "must be milliseconds, or a number with a unit (us, ms, s, "
                               "min, h, d); 0 turns it off");
                bad++;
        }
        for (size_t i = 0; i < ELEMENTSOF(audit); i++)
                if (c->values[audit[i]] && !list_has(c->values[VAR_SHARED_PRELOAD_LIBRARIES], "pgaudit")) {
                        config_problem(c, audit[i], "needs pgaudit in POSTGRESQL_SHARED_PRELOAD_LIBRARIES (Debian's "
                                       "postgresql-15-pgaudit), which the image preloads and pgrepl does not");
                        bad++;
                }
        if (!streq(c->values[VAR_SHUTDOWN_MODE], "fast")) {
                config_problem(c, VAR_SHUTDOWN_MODE, "pgrepl's units always stop the server with a fast shutdown "
                               "(KillSignal=SIGINT); change it with a drop-in (SIGTERM: smart, SIGQUIT: immediate)");
                bad++;
        }
        if (c->values[VAR_PGHBA_REMOVE_FILTERS]) {
                _cleanup_free_ char *copy = strdup(c->values[VAR_PGHBA_REMOVE_FILTERS]);
                char *rest = copy, *t;

                if (!copy)
                        return log_oom();
                while ((t = strsep(&rest, ",")))
                        if (!*strstrip(t)) {
                                config_problem(c, VAR_PGHBA_REMOVE_FILTERS, "must be words separated by commas, "
                                               "none empty");
                                bad++;
                                break;
                        }
        }
        return bad ? -PGREPL_E_CONFIG : 0;
}
