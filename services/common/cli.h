/* SPDX-License-Identifier: MIT */
/*
 * The command line every binary shares (SPEC section 5) and the mapping
 * from error codes to sysexits statuses (SPEC section 6).
 */
#pragma once

#include <stdbool.h>
#include <sysexits.h>

#include "config.h"

typedef struct CliArgs {
        const char *instance;
        const char *config; /* NULL: the default file */
        bool check;
        bool reload;
        bool stage_secrets; /* hidden: the units' ExecStartPre=+ */
} CliArgs;

/* Returns 1 to go on, 0 when --help/--version was handled, -EINVAL on a usage error (exit 64). */
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
/* Map a negative errno from a failed run to an exit status. */
int exit_status(int r);
/* Refuse to run as root: PostgreSQL must not, and the units never do. */
int cli_refuse_root(void);
