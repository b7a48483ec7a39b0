/* SPDX-License-Identifier: MIT */
/*
 * The command line every binary shares (SPEC section 5) and the mapping
 * from error codes to sysexits statuses (SPEC section 6). This is the top
 * level: it logs what it refuses and, last of all, any failure nobody
 * logged.
 */
#pragma once

#include <stdbool.h>
#include <sysexits.h>

#include "config.h"

/* pgrepl's own exit statuses, past sysexits' range; the units never restart on them (SPEC 6, 8). */
#define EXIT_SUPERSEDED 79 /* a partner superseded this node: it does not start as a primary */
#define EXIT_REJOIN 80     /* pg_rewind could not turn this node into a standby; nothing was deleted */

typedef struct CliArgs {
        const char *instance;
        const char *config; /* NULL: the default file */
        const char *env_file; /* NULL: the process environment (the unit's EnvironmentFile=) */
        bool check;
        bool reload;
        bool stage_secrets; /* hidden: the units' ExecStartPre=+ */
        bool record_exit;   /* hidden: the server units' ExecStopPost=+ */
} CliArgs;

/* Returns 1 to go on, 0 when --help/--version was handled, -PGREPL_E_USAGE on a usage error (logged;
 * exit 64). */
int cli_parse(int argc, char **argv, const char *summary, bool allow_reload, CliArgs *ret);
/*
 * What every binary does before its own work: parse the command line, --stage-secrets (when
 * allowed, with --reload), load and validate the configuration, --check, refuse root. Returns -1
 * with *ret_config set to go on, else the exit status to end with.
 *
 * --check refuses (78) exactly what a start refuses as configuration: config_load()'s verdicts
 * and, for the primary and the standby, node_inspect_datadir()'s on the data directory. It
 * touches nothing and may run as any user; when that user cannot read the data directory, it
 * prints the values, says the directory was not inspected, and exits as a start by that user
 * would (77 for a permission denied), neither 0 nor 78.
 */
int cli_start(int argc, char **argv, Role role, const char *summary, bool allow_reload, CliArgs *ret_args,
              Config **ret_config);
/* The watcher and the agent need no password: wipe every *_PASSWORD and *_PASSWORD_FILE variable where it
 * lies (what /proc/PID/environ shows), unset it, and drop the secret values the configuration read. */
void cli_drop_secrets(Config *c);
/* What a binary's main() does, for cli_main(). */
typedef struct CliMain {
        Role role;
        const char *summary;             /* one line for --help */
        int (*run)(const Config *c);     /* the work; returns only on failure when it execs */
        int (*reload)(const Config *c);  /* --reload; NULL: neither --reload nor --stage-secrets */
} CliMain;

/*
 * A whole main(): cli_start(), then run or reload, then cli_exit(). A run that returns -EINTR on a
 * stop request (signals.h) ends by that signal instead, as if it had never been blocked: systemd
 * counts that as a clean stop.
 */
int cli_main(int argc, char **argv, const CliMain *m);
/* A binary's main(), as systemd's DEFINE_MAIN_FUNCTION(): cli_main() with these. */
#define DEFINE_CLI_MAIN(_role, _summary, _run, _reload)                                   \
        int main(int argc, char **argv) {                                                 \
                static const CliMain _m = {                                               \
                        .role = (_role), .summary = (_summary), .run = (_run), .reload = (_reload), \
                };                                                                        \
                return cli_main(argc, argv, &_m);                                         \
        }
/* Map a negative errno (or a verdict of errors.h) from a failed run to an exit status. */
int exit_status(int r);
/* What a binary returns from main(): exit_status(r), after logging r itself when it is a failure
 * that nothing has logged yet (log_error_count()), so that every failed exit has a journal line. */
int cli_exit(int r);
/* Refuse to run as root: PostgreSQL must not, and the units never do. */
int cli_refuse_root(void);
