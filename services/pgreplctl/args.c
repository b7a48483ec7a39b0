/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "pgrepl-build.h"
#include "util.h"

static const struct {
        const char *name;
        unsigned min_args, max_args;
        const char *options; /* the option letters it takes */
} verbs[_VERB_MAX] = {
        [VERB_STATUS] = { "status", 0, 1, "j" },
        [VERB_PROMOTE] = { "promote", 1, 1, "wf" },
        [VERB_FOLLOW] = { "follow", 2, 2, "w" },
        [VERB_REJOIN] = { "rejoin", 1, 1, "mr" },
        [VERB_FAILOVER_ACT] = { "failover-act", 1, 1, "" },
};

static void help(void) {
        printf("pgreplctl COMMAND [ARGS] [OPTIONS]\n\n"
               "The operator's view of a pgrepl replication cluster, and its commands.\n\n"
               "Commands:\n"
               "  status [NAME] [--json]          every local instance (or NAME): units, server, slots,\n"
               "                                  promotion, partners; warnings for what is wrong\n"
               "  promote NAME [--wait=SECONDS] [--force]\n"
               "                                  promote the standby NAME through its trigger file, wait\n"
               "  follow NAME HOST[:PORT] [--wait=SECONDS]\n"
               "                                  set the standby's master host, reload it, check it streams\n"
               "  rejoin NAME [--master=HOST[:PORT]] [--reclone]\n"
               "                                  turn the old primary NAME into a standby of the current one\n"
               "  failover-act NAME               carry out the failover agent's request (its unit runs it)\n\n"
               "Options:\n"
               "  --json             status: JSON for scripts (schema in pgreplctl(8))\n"
               "  --wait=SECONDS     promote (default %u), follow (default %u): how long to wait\n"
               "  --force            promote even while another node is a writable primary\n"
               "  --master=HOST[:PORT]\n"
               "                     rejoin: the current primary (needed without POSTGRESQL_PARTNER_NODES)\n"
               "  --reclone          rejoin: move the data directory aside and clone afresh\n"
               "  --config=FILE      libconfig file (default %s)\n"
               "  --help             show this help\n"
               "  --version          show the version\n\n"
               "Instances are the %s/NAME.env files. Exit status: 0 healthy or done, 1 degraded,\n"
               "refused or not done, 2 error, 64 usage, 77 not root. See pgreplctl(8).\n",
               ARGS_PROMOTE_WAIT, ARGS_FOLLOW_WAIT, PGREPL_CONFIG_DEFAULT, PGREPL_CONFDIR_DEFAULT);
}

_printf_(1, 2) static int usage(const char *fmt, ...) {
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_error("pgreplctl: %s; see pgreplctl --help", msg);
        return -PGREPL_E_USAGE;
}

static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },       { "wait", required_argument, NULL, 'w' },
        { "force", no_argument, NULL, 'f' },      { "master", required_argument, NULL, 'm' },
        { "reclone", no_argument, NULL, 'r' },    { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },       { "version", no_argument, NULL, 'V' },
        {}
};

static const char *option_name(int c) {
        for (size_t i = 0; opts[i].name; i++)
                if (opts[i].val == c)
                        return opts[i].name;
        return "?";
}

/* The options, wherever they are (getopt moves the other arguments to the end, from optind on);
 * seen collects the letters given. */
static int parse_options(int argc, char **argv, CtlArgs *a, char *seen, size_t n_seen) {
        int c;

        opterr = 0;
        optind = 0; /* glibc: start afresh (the tests parse many command lines) */
        while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("pgreplctl %s\n", PGREPL_VERSION);
                        return 0;
                case 'w':
                        if (parse_uint(optarg, 0, 86400, &a->wait) < 0)
                                return usage("--wait='%s': must be seconds from 0 to 86400", optarg);
                        break;
                case 'm':
                        a->master = optarg;
                        break;
                case 'c':
                        a->config = optarg;
                        break;
                case 'j':
                case 'f':
                case 'r':
                        break;
                case ':':
                        return usage("option '%s' needs a value", argv[optind - 1]);
                default:
                        return usage("unknown option '%s'", argv[optind - 1]);
                }
                if (strlen(seen) + 1 < n_seen && !strchr(seen, c))
                        seen[strlen(seen)] = (char) c;
        }
        return 1;
}

/* HOST[:PORT] of an option or argument, checked; what names it goes into the message. */
static int check_target(const char *what, const char *s) {
        _cleanup_free_ char *host = NULL;
        unsigned port;
        int r = args_parse_target(s, &host, &port);

        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return usage("%s '%s': must be HOST[:PORT] (a host name, an address, [IPv6]:PORT or a socket "
                             "directory; a port from 1 to 65535)", what, s);
        return 0;
}

static int parse_verb(const char *s, Verb *ret) {
        for (Verb v = 0; v < _VERB_MAX; v++)
                if (streq(s, verbs[v].name)) {
                        *ret = v;
                        return 0;
                }
        return usage("unknown command '%s' (status, promote, follow, rejoin, failover-act)", s);
}

int args_parse(int argc, char **argv, CtlArgs *ret) {
        CtlArgs a = {};
        char seen[16] = "";
        unsigned n;
        int r;

        r = parse_options(argc, argv, &a, seen, sizeof(seen));
        if (r <= 0)
                return r;
        if (optind >= argc)
                return usage("no command given");
        r = parse_verb(argv[optind], &a.verb);
        if (r < 0)
                return r;
        n = (unsigned) (argc - optind - 1);
        if (n < verbs[a.verb].min_args || n > verbs[a.verb].max_args)
                return usage(a.verb == VERB_FOLLOW ? "'%s' takes NAME and HOST[:PORT]"
                             : a.verb == VERB_STATUS ? "'%s' takes at most one NAME" : "'%s' takes one NAME",
                             verbs[a.verb].name);
        for (const char *c = seen; *c; c++)
                if (*c != 'c' && !strchr(verbs[a.verb].options, *c))
                        return usage("--%s does not go with '%s'", option_name(*c), verbs[a.verb].name);
        a.instance = n >= 1 ? argv[optind + 1] : NULL;
        a.target = n >= 2 ? argv[optind + 2] : NULL;
        a.json = strchr(seen, 'j');
        a.force = strchr(seen, 'f');
        a.reclone = strchr(seen, 'r');
        if (!strchr(seen, 'w'))
                a.wait = a.verb == VERB_PROMOTE ? ARGS_PROMOTE_WAIT : ARGS_FOLLOW_WAIT;
        if (a.instance && !config_instance_valid(a.instance))
                return usage("'%s' is not an instance name (1-64 of letters, digits, '_', '.', '@', '-')", a.instance);
        r = a.target ? check_target("HOST[:PORT]", a.target) : 0;
        if (r >= 0 && a.master)
                r = check_target("--master", a.master);
        if (r < 0)
                return r;
        *ret = a;
        return 1;
}

int args_parse_target(const char *s, char **ret_host, unsigned *ret_port) {
        _cleanup_free_ char *host = NULL;
        const char *colon = strrchr(s, ':'), *port = NULL;
        unsigned p = 0;

        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || (close[1] && close[1] != ':'))
                        return -EINVAL;
                host = strndup(s + 1, (size_t) (close - s - 1));
                port = close[1] ? close + 2 : NULL;
        } else if (colon && (s[0] == '/' || strchr(s, ':') == colon)) {
                /* host:port, or a socket directory with a port ("/run/postgresql:5433"). */
                host = strndup(s, (size_t) (colon - s));
                port = colon + 1;
        } else
                host = strdup(s); /* a name, an IPv4 address, a bare IPv6 address */
        if (!host)
                return -ENOMEM;
        if (!*host || !config_host_valid(host) || (port && parse_uint(port, 1, 65535, &p) < 0))
                return -EINVAL;
        *ret_host = TAKE_PTR(host);
        *ret_port = p;
        return 0;
}
