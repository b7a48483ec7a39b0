/* SPDX-License-Identifier: MIT */
/*
 * pgrepl-trigger-watcher: promote the local standby when its trigger file
 * appears (the seed's `touch /tmp/postgresql.trigger.5432`), with
 * pg_promote() instead of PostgreSQL's polling promote_trigger_file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "watch.h"

static bool is_password_variable(const char *entry) {
        size_t n = strcspn(entry, "=");

        return (n >= 9 && strncmp(entry + n - 9, "_PASSWORD", 9) == 0) ||
               (n >= 14 && strncmp(entry + n - 14, "_PASSWORD_FILE", 14) == 0);
}

/*
 * The watcher talks to its own server over the local socket with peer
 * authentication: it needs no password, so it keeps none. Each *_PASSWORD
 * and *_PASSWORD_FILE variable (the unit's UnsetEnvironment= does the same
 * for runs under systemd) is wiped where it lies, which is what
 * /proc/PID/environ shows, then dropped; so are the values the
 * configuration read.
 */
static void drop_secrets(Config *c) {
        /* Values first, in place (every copy, duplicates too), then the variables: the names stay
         * intact for unsetenv() to find. */
        for (char **e = environ; e && *e; e++)
                if (is_password_variable(*e)) {
                        char *value = *e + strcspn(*e, "=");

                        if (*value == '=')
                                explicit_bzero(value + 1, strlen(value + 1));
                }
        for (char **e = environ; e && *e;) {
                _cleanup_free_ char *name = NULL;
                char *entry = *e;

                if (!is_password_variable(entry)) {
                        e++;
                        continue;
                }
                name = strndup(entry, strcspn(entry, "="));
                /* unsetenv() drops the entry (the next one moves up to *e); when it does not, the value is
                 * wiped already. */
                if (!name || unsetenv(name) < 0 || *e == entry)
                        e++;
        }
        for (VarId id = 0; id < _VAR_MAX; id++)
                if (c->values[id] && config_var_is_secret(id)) {
                        explicit_bzero(c->values[id], strlen(c->values[id]));
                        free(c->values[id]);
                        c->values[id] = NULL;
                }
}

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r;

        r = cli_start(argc, argv, ROLE_WATCHER, "Promote the local standby when its trigger file appears.", false,
                      &a, &c);
        if (r >= 0)
                return r;
        drop_secrets(c);
        return exit_status(watch_run(c));
}
