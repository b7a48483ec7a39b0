/* SPDX-License-Identifier: MIT */
/*
 * pgreplctl's command line: COMMAND [NAME [HOST[:PORT]]] with options anywhere, each option only
 * where its command takes it. Pure; a usage error is one line on stderr.
 */
#pragma once

#include <stdbool.h>

typedef enum Verb {
        VERB_STATUS,
        VERB_PROMOTE,
        VERB_FOLLOW,
        VERB_REJOIN,
        VERB_FAILOVER_ACT,
        _VERB_MAX,
} Verb;

typedef struct CtlArgs {
        Verb verb;
        const char *instance; /* NAME; status: NULL for every instance */
        const char *target;   /* follow: HOST[:PORT] */
        const char *master;   /* rejoin --master=HOST[:PORT] */
        const char *config;   /* --config=FILE, NULL: the default file */
        bool json;
        bool force;
        bool reclone;
        unsigned wait;        /* --wait=SECONDS, or the command's default */
} CtlArgs;

#define ARGS_PROMOTE_WAIT 60
#define ARGS_FOLLOW_WAIT 10

/* 1: go on; 0: --help or --version was printed; -PGREPL_E_USAGE (exit 64), said on stderr. */
int args_parse(int argc, char **argv, CtlArgs *ret);
/* "host", "host:port", "[v6]", "[v6]:port", "v6" (no port), "/socket/dir": *ret_port 0 when not
 * given. -EINVAL when the host or the port is not valid; -ENOMEM. */
int args_parse_target(const char *s, char **ret_host, unsigned *ret_port);
