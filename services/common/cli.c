/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "envfile.h"
#include "errors.h"
#include "fs.h"
#include "lastexit.h"
#include "log.h"
#include "pg.h"
#include "node.h"
#include "secrets.h"
#include "signals.h"
#include "util.h"
#include "pgrepl-build.h"

static void help(const char *prog, const char *summary, bool allow_reload) {
        printf("%s [--instance=NAME] [--config=FILE] [--env-file=FILE] [--check%s]\n\n%s\n\n"
               "  --instance=NAME  node name (default $PGREPL_INSTANCE, else 'main')\n"
               "  --config=FILE    libconfig file (default %s)\n"
               "  --env-file=FILE  read the POSTGRESQL_* variables from FILE exactly as the unit's\n"
               "                   EnvironmentFile= does, instead of the environment\n"
               "  --check          validate, print the effective settings, touch nothing\n"
               "%s"
               "  --help           show this help\n"
               "  --version        show the version\n\n"
               "Settings come from POSTGRESQL_* environment variables; see pgrepl.env(5).\n",
               prog, allow_reload ? " | --reload" : "", summary, PGREPL_CONFIG_DEFAULT,
               allow_reload ? "  --reload         re-render the settings and reload the running server\n" : "");
}

/* --instance, else $PGREPL_INSTANCE, else "main"; it names paths, so it is checked. */
static int resolve_instance(CliArgs *a) {
        if (!a->instance) {
                a->instance = getenv("PGREPL_INSTANCE");
                if (!a->instance || !*a->instance)
                        a->instance = "main";
        }
        if (!config_instance_valid(a->instance)) {
                log_error("--instance='%s': must be 1-64 of letters, digits, '_', '.', '@', '-'", string_shown(a->instance));
                return -PGREPL_E_USAGE;
        }
        return 0;
}

static const struct option options[] = {
        { "instance", required_argument, NULL, 'i' },
        { "config", required_argument, NULL, 'c' },
        { "env-file", required_argument, NULL, 'e' },
        { "check", no_argument, NULL, 'k' },
        { "reload", no_argument, NULL, 'r' },
        { "stage-secrets", no_argument, NULL, 's' },
        { "record-exit", no_argument, NULL, 'x' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {}
};

int cli_parse(int argc, char **argv, const char *summary, bool allow_reload, CliArgs *ret) {
        const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        CliArgs a = {};
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'i':
                        a.instance = optarg;
                        break;
                case 'c':
                        a.config = optarg;
                        break;
                case 'e':
                        a.env_file = optarg;
                        break;
                case 'k':
                        a.check = true;
                        break;
                case 'r':
                        if (!allow_reload)
                                goto usage;
                        a.reload = true;
                        break;
                case 's':
                        /* The units' privileged step; the watcher reads no secret at all. */
                        if (!allow_reload)
                                goto usage;
                        a.stage_secrets = true;
                        break;
                case 'x':
                        /* The server units' ExecStopPost=+: what the failed run died of (lastexit.h). */
                        if (!allow_reload)
                                goto usage;
                        a.record_exit = true;
                        break;
                case 'h':
                        help(prog, summary, allow_reload);
                        return 0;
                case 'V':
                        printf("%s %s\n", prog, PGREPL_VERSION);
                        return 0;
                default:
                        goto usage;
                }
        if (optind < argc || (a.check && a.reload))
                goto usage;
        r = resolve_instance(&a);
        if (r < 0)
                return r;
        *ret = a;
        return 1;
usage:
        log_error("%s: bad usage (%s); see %s --help", prog,
                  optind <= argc && optind > 0 ? argv[optind - 1] : "?", prog);
        return -PGREPL_E_USAGE;
}

static void print_datadir(const DataDir *d) {
        printf("data directory %s: %s", d->path, node_datadir_kind_to_string(d->kind));
        if (d->major > 0)
                printf(", PostgreSQL %u", d->major);
        if (d->server_major > 0)
                printf("\nserver %s: PostgreSQL %u\n", d->bindir, d->server_major);
        else
                printf("\nserver %s: PostgreSQL, major version unknown\n", d->bindir);
}

/* What a start would refuse as configuration, --check refuses too, reading the data directory as a
 * start would (node_inspect_datadir()); it touches nothing. */
static int cli_check(const Config *c) {
        _cleanup_(node_datadir_done) DataDir d = {};
        int r = 0;

        /* The watcher works on no data directory of its own. */
        if (!config_role_is_helper(c->role))
                r = node_inspect_datadir(c, &d);
        if (r == -PGREPL_E_CONFIG)
                return EX_CONFIG;
        config_dump(c, stdout);
        if (r < 0) {
                /* Neither fine nor refused: say which, and exit as a start by this user would. */
                printf("data directory %s: not inspected\n", config_get(c, VAR_DATA_DIR));
                log_notice("The values are valid, but the data directory could not be inspected as uid %u; "
                           "a start as this user would fail the same way", (unsigned) geteuid());
                return cli_exit(r);
        }
        if (!config_role_is_helper(c->role))
                print_datadir(&d);
        return EX_OK;
}

/* --env-file: the environment the unit would have, its Environment= and then the file as systemd's
 * EnvironmentFile= reads it (envfile.h): no shell, so '$' and '`' are only characters. The process
 * environment is left out, so that a variable exported in the shell cannot change the verdict. */
static int read_env_file(const CliArgs *a, char ***ret) {
        _cleanup_(envfile_done) EnvFile f = {};
        _cleanup_free_ char *file_var = NULL, *inst_var = NULL;
        unsigned bad_line = 0;
        int r;

        r = envfile_read(a->env_file, &f, &bad_line);
        if (r == -EBADMSG) {
                log_error("--env-file='%s': line %u is not valid UTF-8; systemd ignores the whole file then",
                          a->env_file, bad_line);
                return -PGREPL_E_CONFIG;
        }
        if (r < 0) {
                log_error("--env-file='%s': cannot read the file: %s", a->env_file, fs_strerror(r));
                return r == -ENOMEM ? r : -PGREPL_E_CONFIG;
        }
        if (asprintf(&file_var, "PGREPL_ENV_FILE=%s", a->env_file) < 0 ||
            asprintf(&inst_var, "PGREPL_INSTANCE=%s", a->instance) < 0)
                return log_oom();
        r = envfile_envp(&f, (char *const[]) { file_var, inst_var, NULL }, ret);
        return r < 0 ? log_oom() : 0;
}

int cli_start(int argc, char **argv, Role role, const char *summary, bool allow_reload, CliArgs *ret_args,
              Config **ret_config) {
        _cleanup_strv_free_ char **envp = NULL;
        Config *c = NULL;
        int r;

        /* The environment and what is read from it may hold passwords: no core dump, no ptrace or
         * /proc/PID/mem by the same user while this process holds them. Reset by execve(). */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        r = cli_parse(argc, argv, summary, allow_reload, ret_args);
        if (r <= 0)
                return r == 0 ? EX_OK : cli_exit(r);
        if (ret_args->env_file) {
                r = read_env_file(ret_args, &envp);
                if (r < 0)
                        return cli_exit(r);
        }
        if (ret_args->stage_secrets)
                return cli_exit(secrets_stage(envp ? envp : environ));
        if (ret_args->record_exit) {
                /* Best effort: a clean stop must not turn into a failed one over it. */
                r = lastexit_record(envp ? envp : environ);
                if (r < 0)
                        log_warning_errno(r, "Cannot keep what the server's last run ended with: %m");
                return cli_exit(0);
        }
        r = config_load(role, ret_args->instance, ret_args->config, envp ? envp : environ, &c);
        if (r < 0)
                return cli_exit(r);
        r = pg_tls_client(c);
        if (r < 0) {
                config_free(c);
                return cli_exit(log_oom());
        }
        if (ret_args->check) {
                r = cli_check(c);
                config_free(c);
                return r;
        }
        r = cli_refuse_root();
        if (r < 0) {
                config_free(c);
                return cli_exit(r);
        }
        *ret_config = c;
        return -1;
}

int cli_main(int argc, char **argv, const CliMain *m) {
        _cleanup_(config_freep) Config *c = NULL;
        CliArgs a;
        int r, sig;

        r = cli_start(argc, argv, m->role, m->summary, m->reload != NULL, &a, &c);
        if (r >= 0)
                return r;
        r = a.reload ? m->reload(c) : m->run(c);
        sig = signals_stop_requested();
        if (r == -EINTR && sig > 0) {
                log_notice("Stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
                /* The secrets are erased on the way out, as on every other exit. */
                config_free(TAKE_PTR(c));
                signals_exit_by(sig);
        }
        return cli_exit(r);
}

int cli_exit(int r) {
        /* The last resort of "every exit has a journal line": a failure no one has told yet. */
        if (r < 0 && log_error_count() == 0) {
                if (pgrepl_is_verdict(r))
                        log_error("%s: refused (exit status %d)", program_invocation_short_name, exit_status(r));
                else
                        log_error_errno(r, "%s failed: %m", program_invocation_short_name);
        }
#if defined(__SANITIZE_ADDRESS__)
        /* Sanitizer builds only: LeakSanitizer's check at exit attaches to the process, which a
         * process that is not dumpable refuses. The secrets are freed by now. */
        (void) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
        return exit_status(r);
}

int exit_status(int r) {
        switch (r >= 0 ? 0 : -r) {
        case 0:
                return EX_OK;
        case PGREPL_E_CONFIG:
                return EX_CONFIG;
        case PGREPL_E_USAGE:
                return EX_USAGE;
        case PGREPL_E_SUPERSEDED:
                return EXIT_SUPERSEDED;
        case PGREPL_E_REJOIN:
                return EXIT_REJOIN;
        case EACCES:
        case EPERM:
                return EX_NOPERM;
        case EHOSTUNREACH:
        case ETIMEDOUT:
                return EX_UNAVAILABLE;
        case EAGAIN:
                return EX_TEMPFAIL;
        case EEXIST:
        case EROFS:
        case ENOSPC:
        case EDQUOT:
                return EX_CANTCREAT;
        case EINVAL: /* a libc or library EINVAL is a bug of ours, never a verdict on the configuration */
        case EPROTO:
        case EBADMSG:
                return EX_SOFTWARE;
        default:
                return EX_OSERR;
        }
}

int cli_refuse_root(void) {
        if (geteuid() != 0)
                return 0;
        log_error("Refusing to run as root: run as the PostgreSQL service user (the units use User=postgres), "
                  "e.g. runuser -u postgres -- ...");
        return -EPERM;
}

static bool is_password_variable(const char *entry) {
        size_t n = strcspn(entry, "=");

        return (n >= 9 && strncmp(entry + n - 9, "_PASSWORD", 9) == 0) ||
               (n >= 14 && strncmp(entry + n - 14, "_PASSWORD_FILE", 14) == 0);
}

/*
 * The watcher and the failover agent talk to their own server over the local socket with peer
 * authentication: they need no password, so they keep none. Each *_PASSWORD
 * and *_PASSWORD_FILE variable (the unit's UnsetEnvironment= does the same
 * for runs under systemd) is wiped where it lies, which is what
 * /proc/PID/environ shows, then dropped; so are the values the
 * configuration read.
 */
void cli_drop_secrets(Config *c) {
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
