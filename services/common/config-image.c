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

static const VarId ldap_vars[] = { VAR_LDAP_URL, VAR_LDAP_SERVER, VAR_LDAP_PORT, VAR_LDAP_SCHEME, VAR_LDAP_TLS,
                                   VAR_LDAP_PREFIX, VAR_LDAP_SUFFIX, VAR_LDAP_BASE_DN, VAR_LDAP_BIND_DN,
                                   VAR_LDAP_BIND_PASSWORD, VAR_LDAP_SEARCH_ATTR, VAR_LDAP_SEARCH_FILTER };

/* The image's LDAP rule, checked as PostgreSQL would check the pg_hba.conf line it becomes. */
static int check_ldap(const Config *c) {
        bool search = false, simple = c->values[VAR_LDAP_PREFIX] || c->values[VAR_LDAP_SUFFIX];
        int bad = 0;

        if (config_parse_bool(c->values[VAR_ENABLE_LDAP]) != 1) {
                for (size_t i = 0; i < ELEMENTSOF(ldap_vars); i++)
                        if (c->values[ldap_vars[i]])
                                log_warning("%s (from %s) is set but POSTGRESQL_ENABLE_LDAP is not: LDAP stays off",
                                            config_var_name(ldap_vars[i]), c->sources[ldap_vars[i]]);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(ldap_vars); i++) {
                const char *v = c->values[ldap_vars[i]];

                if (v && strpbrk(v, "\"\n\r\t")) {
                        config_problem(c, ldap_vars[i], "must not contain a double quote, tab or line break "
                                       "(it goes into pg_hba.conf)");
                        bad++;
                }
        }
        /* PostgreSQL logs the rule a failed login matched, whole: a bind password would be in the journal. */
        if (c->values[VAR_LDAP_BIND_PASSWORD]) {
                config_problem(c, VAR_LDAP_BIND_PASSWORD, "pgrepl does not support this variable of the image: "
                               "PostgreSQL writes the whole pg_hba.conf rule, bind password included, into its log "
                               "at every failed LDAP login; use an anonymous search bind or simple bind "
                               "(POSTGRESQL_LDAP_PREFIX/_SUFFIX)");
                bad++;
        }
        for (VarId id = VAR_LDAP_BASE_DN; id <= VAR_LDAP_SEARCH_FILTER; id++)
                search = search || c->values[id];
        if (c->values[VAR_LDAP_URL] && c->values[VAR_LDAP_SERVER]) {
                config_problem(c, VAR_LDAP_URL, "cannot be set together with POSTGRESQL_LDAP_SERVER (as in the image)");
                bad++;
        } else if (!c->values[VAR_LDAP_URL] && !c->values[VAR_LDAP_SERVER]) {
                log_error("POSTGRESQL_ENABLE_LDAP=yes needs POSTGRESQL_LDAP_URL or POSTGRESQL_LDAP_SERVER");
                bad++;
        }
        if (simple && search) {
                config_problem(c, VAR_LDAP_PREFIX, "simple bind (POSTGRESQL_LDAP_PREFIX/_SUFFIX) cannot be combined "
                               "with search+bind (POSTGRESQL_LDAP_BASE_DN, _BIND_DN, _BIND_PASSWORD, _SEARCH_*): "
                               "PostgreSQL refuses such a rule");
                bad++;
        }
        return bad;
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
                                       "postgresql-NN-pgaudit for major NN), which the image preloads and pgrepl does not");
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
        bad += check_ldap(c);
        return bad ? -PGREPL_E_CONFIG : 0;
}
