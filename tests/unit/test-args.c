/* SPDX-License-Identifier: MIT */
/*
 * pgreplctl's command line, table-driven: what each command takes, options anywhere but only
 * where they belong, defaults, and HOST[:PORT] in all its forms.
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "assert.h"
#include "errors.h"
#include "macro.h"

/* A command line (words split on ' ') → what it parses to, or NULL: a usage error. */
static const struct {
        const char *line;
        const char *want; /* "verb instance target master wait json force reclone" */
} cases[] = {
        { "status", "0 - - - 10 0 0 0" },
        { "status main --json", "0 main - - 10 1 0 0" },
        { "--json status", "0 - - - 10 1 0 0" },
        { "promote main", "1 main - - 60 0 0 0" },
        { "promote --wait=5 main --force", "1 main - - 5 0 1 0" },
        { "promote main --wait 0", "1 main - - 0 0 0 0" },
        { "follow main 10.0.0.9:5433", "2 main 10.0.0.9:5433 - 10 0 0 0" },
        { "follow main [::1]:5433 --wait=3", "2 main [::1]:5433 - 3 0 0 0" },
        { "rejoin main --reclone --master=pg1", "3 main - pg1 10 0 0 1" },
        { "failover-act main", "4 main - - 10 0 0 0" },
        { "status --config=/x.conf", "0 - - - 10 0 0 0" },
        { "", NULL },
        { "frobnicate", NULL },
        { "status a b", NULL },
        { "promote", NULL },
        { "promote a b", NULL },
        { "follow main", NULL },
        { "rejoin main --json", NULL },
        { "failover-act", NULL },
        { "failover-act main --force", NULL },
        { "status --force", NULL },
        { "promote main --reclone", NULL },
        { "follow main h --force", NULL },
        { "promote main --wait=-1", NULL },
        { "promote main --wait=x", NULL },
        { "promote main --wait", NULL },
        { "status --bogus", NULL },
        { "status ../etc", NULL },
        { "follow main host:0", NULL },
        { "follow main host:99999", NULL },
        { "follow main 'bad host'", NULL },
        { "rejoin main --master=[::1", NULL },
};

static int parse(const char *line, CtlArgs *a, char *copy) {
        char *argv[16] = { "pgreplctl" };
        int argc = 1;

        strcpy(copy, line);
        for (char *t = strtok(copy, " "); t && argc < 15; t = strtok(NULL, " "))
                argv[argc++] = t;
        argv[argc] = NULL;
        return args_parse(argc, argv, a);
}

static void test_lines(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char copy[256], got[256];
                CtlArgs a = {};
                int r = parse(cases[i].line, &a, copy);

                if (!cases[i].want) {
                        if (r != -PGREPL_E_USAGE) {
                                fprintf(stderr, "'%s' accepted\n", cases[i].line);
                                exit(1);
                        }
                        continue;
                }
                ASSERT_EQ(r, 1);
                snprintf(got, sizeof(got), "%d %s %s %s %u %d %d %d", (int) a.verb, a.instance ? a.instance : "-",
                         a.target ? a.target : "-", a.master ? a.master : "-", a.wait, a.json, a.force, a.reclone);
                if (!streq(got, cases[i].want)) {
                        fprintf(stderr, "'%s'\n  got      '%s'\n  expected '%s'\n", cases[i].line, got, cases[i].want);
                        exit(1);
                }
        }
}

static void test_config_option(void) {
        char copy[256];
        CtlArgs a = {};

        ASSERT_EQ(parse("status --config=/x.conf", &a, copy), 1);
        ASSERT_STREQ(a.config, "/x.conf");
}

static const struct {
        const char *s, *host;
        unsigned port;
} targets[] = {
        { "pg1", "pg1", 0 },
        { "pg1:5433", "pg1", 5433 },
        { "10.0.0.5", "10.0.0.5", 0 },
        { "10.0.0.5:6000", "10.0.0.5", 6000 },
        { "[2001:db8::1]", "2001:db8::1", 0 },
        { "[2001:db8::1]:5433", "2001:db8::1", 5433 },
        { "2001:db8::1", "2001:db8::1", 0 },
        { "/run/postgresql", "/run/postgresql", 0 },
        { "/run/postgresql:5433", "/run/postgresql", 5433 },
        { "", NULL, 0 },
        { ":5432", NULL, 0 },
        { "pg1:", NULL, 0 },
        { "pg1:x", NULL, 0 },
        { "[::1]x", NULL, 0 },
        { "pg 1", NULL, 0 },
        { "pg1;rm", NULL, 0 },
};

static void test_targets(void) {
        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                char *host = NULL;
                unsigned port = 99;
                int r = args_parse_target(targets[i].s, &host, &port);

                if (!targets[i].host) {
                        if (r != -EINVAL) {
                                fprintf(stderr, "target '%s' accepted\n", targets[i].s);
                                exit(1);
                        }
                        continue;
                }
                ASSERT_EQ(r, 0);
                ASSERT_STREQ(host, targets[i].host);
                ASSERT_EQ(port, targets[i].port);
                free(host);
        }
}

int main(void) {
        test_lines();
        test_config_option();
        test_targets();
        return 0;
}
