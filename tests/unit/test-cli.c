/* SPDX-License-Identifier: MIT */
/*
 * cli.h: the shared command line, table-driven (each rejected line is also
 * run through cli_start, which must end with 64), what --help and --version
 * print, cli_start's outcomes before a binary's own work, and the one table
 * from error codes to sysexits statuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sysexits.h>
#include <unistd.h>

#include "assert.h"
#include "cli.h"
#include "config.h"
#include "errors.h"
#include "macro.h"
#include "pgrepl-build.h"

/* Redirect fd (1 or 2) to a temporary file until capture_end() returns what was written. */
typedef struct Capture {
        int fd, saved, tmp;
} Capture;

static Capture capture_begin(int fd) {
        char name[] = "/tmp/pgrepl-test-cli.XXXXXX";
        Capture c = { .fd = fd };

        fflush(stdout);
        fflush(stderr);
        c.tmp = mkostemp(name, O_CLOEXEC);
        ASSERT_TRUE(c.tmp >= 0);
        ASSERT_EQ(unlink(name), 0);
        c.saved = dup(fd);
        ASSERT_TRUE(c.saved >= 0);
        ASSERT_TRUE(dup2(c.tmp, fd) == fd);
        return c;
}

static char *capture_end(Capture *c) {
        char *s = calloc(1, 65536);
        ssize_t n;

        fflush(stdout);
        fflush(stderr);
        ASSERT_TRUE(dup2(c->saved, c->fd) == c->fd);
        close(c->saved);
        ASSERT_TRUE(s && lseek(c->tmp, 0, SEEK_SET) == 0);
        n = read(c->tmp, s, 65535);
        ASSERT_TRUE(n >= 0);
        close(c->tmp);
        return s;
}

#define MAX_ARGS 8

/* getopt keeps state between calls and permutes argv: a fresh, writable copy each time. */
static int parse(const char *const *args, bool allow_reload, CliArgs *ret) {
        static char storage[MAX_ARGS][128];
        static char *argv[MAX_ARGS + 1];
        int argc = 0;

        for (; args[argc]; argc++) {
                ASSERT_TRUE(argc < MAX_ARGS);
                snprintf(storage[argc], sizeof(storage[argc]), "%s", args[argc]);
                argv[argc] = storage[argc];
        }
        argv[argc] = NULL;
        optind = 0;
        return cli_parse(argc, argv, "Test summary line.", allow_reload, ret);
}

static int start(const char *const *args, bool allow_reload, CliArgs *ret_args, Config **ret_config) {
        static char storage[MAX_ARGS][128];
        static char *argv[MAX_ARGS + 1];
        int argc = 0;

        for (; args[argc]; argc++) {
                ASSERT_TRUE(argc < MAX_ARGS);
                snprintf(storage[argc], sizeof(storage[argc]), "%s", args[argc]);
                argv[argc] = storage[argc];
        }
        argv[argc] = NULL;
        optind = 0;
        return cli_start(argc, argv, ROLE_PRIMARY, "Test summary line.", allow_reload, ret_args, ret_config);
}

static void test_parse_accepts(void) {
        static const struct {
                const char *args[MAX_ARGS];
                const char *env_instance; /* PGREPL_INSTANCE, NULL: unset */
                const char *instance, *config;
                bool check, reload, stage_secrets;
        } cases[] = {
                { { "/usr/libexec/pgrepl/x", NULL }, NULL, "main", NULL, false, false, false },
                { { "x", NULL }, "node2", "node2", NULL, false, false, false },
                { { "x", NULL }, "", "main", NULL, false, false, false },
                { { "x", "--instance=a", NULL }, "node2", "a", NULL, false, false, false },
                { { "x", "--instance", "b.c@d-e_f", NULL }, NULL, "b.c@d-e_f", NULL, false, false, false },
                { { "x", "--config=/etc/pgrepl/other.conf", NULL }, NULL, "main", "/etc/pgrepl/other.conf",
                  false, false, false },
                { { "x", "--config", "/tmp/a b.conf", "--check", NULL }, NULL, "main", "/tmp/a b.conf", true,
                  false, false },
                { { "x", "--reload", "--instance=n1", NULL }, NULL, "n1", NULL, false, true, false },
                { { "x", "--stage-secrets", "--reload", NULL }, NULL, "main", NULL, false, true, true },
                { { "x", "--instance=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL },
                  NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, false, false,
                  false }, /* 64 characters: the longest allowed */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CliArgs a = {};

                if (cases[i].env_instance)
                        setenv("PGREPL_INSTANCE", cases[i].env_instance, 1);
                else
                        unsetenv("PGREPL_INSTANCE");
                if (parse(cases[i].args, true, &a) != 1)
                        fprintf(stderr, "case %zu (%s) rejected\n", i, cases[i].args[1] ? cases[i].args[1] : "");
                ASSERT_EQ(parse(cases[i].args, true, &a), 1);
                ASSERT_STREQ(a.instance, cases[i].instance);
                if (cases[i].config)
                        ASSERT_STREQ(a.config, cases[i].config);
                else
                        ASSERT_TRUE(a.config == NULL);
                ASSERT_EQ(a.check, cases[i].check);
                ASSERT_EQ(a.reload, cases[i].reload);
                ASSERT_EQ(a.stage_secrets, cases[i].stage_secrets);
        }
        unsetenv("PGREPL_INSTANCE");
}

static void test_parse_rejects(void) {
        static const struct {
                const char *args[MAX_ARGS];
                bool allow_reload;
        } cases[] = {
                { { "x", "--bogus", NULL }, true },
                { { "x", "-c", NULL }, true },
                { { "x", "extra", NULL }, true },
                { { "x", "--check", "extra", NULL }, true },
                { { "x", "--check", "--reload", NULL }, true }, /* contradictory */
                { { "x", "--reload", "--check", NULL }, true },
                { { "x", "--reload", NULL }, false },           /* the watcher has no --reload */
                { { "x", "--stage-secrets", NULL }, false },    /* nor a secret to stage */
                { { "x", "--instance", NULL }, true },          /* missing argument */
                { { "x", "--check=yes", NULL }, true },
                { { "x", "--instance=", NULL }, true },
                { { "x", "--instance=a/b", NULL }, true },
                { { "x", "--instance=.hidden", NULL }, true },
                { { "x", "--instance=a b", NULL }, true },
                { { "x", "--instance=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL }, true },
        };

        unsetenv("PGREPL_INSTANCE");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CliArgs a = {};
                Config *c = NULL;
                Capture cap = capture_begin(STDERR_FILENO);
                int r = parse(cases[i].args, cases[i].allow_reload, &a);
                int st = start(cases[i].args, cases[i].allow_reload, &a, &c);
                char *err = capture_end(&cap);

                if (r >= 0 || st != EX_USAGE)
                        fprintf(stderr, "case %zu (%s): cli_parse %d, cli_start %d\n", i, cases[i].args[1], r, st);
                ASSERT_TRUE(r < 0);
                ASSERT_EQ(st, EX_USAGE);
                ASSERT_TRUE(c == NULL);
                ASSERT_TRUE(strncmp(err, "<3>", 3) == 0); /* said why, as an error */
                free(err);
        }

        /* An invalid $PGREPL_INSTANCE is refused like --instance. */
        {
                static const char *const args[] = { "x", NULL };
                CliArgs a = {};
                Capture cap = capture_begin(STDERR_FILENO);
                int r;

                setenv("PGREPL_INSTANCE", "../etc", 1);
                r = parse(args, true, &a);
                free(capture_end(&cap));
                ASSERT_TRUE(r < 0);
                unsetenv("PGREPL_INSTANCE");
        }
}

static void test_help_version(void) {
        static const char *const help[] = { "/usr/libexec/pgrepl/pgrepl-primary-setup", "--help", NULL };
        static const char *const version[] = { "/usr/libexec/pgrepl/pgrepl-primary-setup", "--version", NULL };
        CliArgs a = {};
        Capture cap;
        char *out;

        cap = capture_begin(STDOUT_FILENO);
        ASSERT_EQ(parse(help, true, &a), 0);
        out = capture_end(&cap);
        ASSERT_TRUE(strncmp(out, "pgrepl-primary-setup ", strlen("pgrepl-primary-setup ")) == 0);
        ASSERT_CONTAINS(out, "Test summary line.");
        ASSERT_CONTAINS(out, "--instance=NAME");
        ASSERT_CONTAINS(out, "--config=FILE");
        ASSERT_CONTAINS(out, "--check");
        ASSERT_CONTAINS(out, "--reload");
        ASSERT_CONTAINS(out, PGREPL_CONFIG_DEFAULT);
        free(out);

        cap = capture_begin(STDOUT_FILENO);
        ASSERT_EQ(parse(help, false, &a), 0);
        out = capture_end(&cap);
        ASSERT_CONTAINS(out, "--check");
        ASSERT_TRUE(!strstr(out, "--reload")); /* not offered where it is refused */
        free(out);

        cap = capture_begin(STDOUT_FILENO);
        ASSERT_EQ(parse(version, true, &a), 0);
        out = capture_end(&cap);
        ASSERT_STREQ(out, "pgrepl-primary-setup " PGREPL_VERSION "\n");
        free(out);

        /* --help wins over what follows it and cli_start ends with 0. */
        {
                static const char *const args[] = { "x", "--help", "--bogus", NULL };
                Config *c = NULL;

                cap = capture_begin(STDOUT_FILENO);
                ASSERT_EQ(start(args, true, &a, &c), EX_OK);
                free(capture_end(&cap));
                ASSERT_TRUE(c == NULL);
                cap = capture_begin(STDOUT_FILENO);
                ASSERT_EQ(start(version, true, &a, &c), EX_OK);
                free(capture_end(&cap));
        }
}

static void test_start(void) {
        static const char *const check[] = { "x", "--config=/dev/null", "--check", NULL };
        static const char *const run[] = { "x", "--config=/dev/null", NULL };
        static const char *const stage[] = { "x", "--stage-secrets", NULL };
        CliArgs a = {};
        Config *c = NULL;
        Capture cap;
        char *out;
        int r;

        /* A configuration error ends with 78. */
        unsetenv("POSTGRESQL_PASSWORD");
        unsetenv("ALLOW_EMPTY_PASSWORD");
        cap = capture_begin(STDERR_FILENO);
        r = start(run, true, &a, &c);
        out = capture_end(&cap);
        ASSERT_EQ(r, EX_CONFIG);
        ASSERT_TRUE(c == NULL);
        ASSERT_CONTAINS(out, "<3>");
        free(out);

        /* --check prints the effective settings (secrets hidden) and ends with 0. */
        setenv("POSTGRESQL_PASSWORD", "s3cr3t-value", 1);
        cap = capture_begin(STDOUT_FILENO);
        r = start(check, true, &a, &c);
        out = capture_end(&cap);
        ASSERT_EQ(r, EX_OK);
        ASSERT_TRUE(c == NULL);
        ASSERT_CONTAINS(out, "instance main\n");
        ASSERT_CONTAINS(out, "POSTGRESQL_PASSWORD=(set)");
        ASSERT_TRUE(!strstr(out, "s3cr3t-value"));
        free(out);

        /* Going on: the configuration is handed over, unless running as root. */
        ASSERT_EQ(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
        cap = capture_begin(STDERR_FILENO);
        r = start(run, true, &a, &c);
        free(capture_end(&cap));
        /* A process that read the environment's passwords cannot be dumped (nor its memory read by its user),
         * but for a sanitizer build's exit (cli_exit()), where LeakSanitizer must attach. */
#if defined(__SANITIZE_ADDRESS__)
        if (r == -1)
#endif
                ASSERT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
        if (geteuid() == 0) {
                ASSERT_EQ(r, EX_NOPERM);
                ASSERT_TRUE(c == NULL);
        } else {
                ASSERT_EQ(r, -1);
                ASSERT_TRUE(c != NULL);
                ASSERT_STREQ(a.instance, "main");
                config_free(c);
                c = NULL;
        }

        /* --stage-secrets: only root may, and then only with RuntimeDirectory=. */
        unsetenv("RUNTIME_DIRECTORY");
        cap = capture_begin(STDERR_FILENO);
        r = start(stage, true, &a, &c);
        free(capture_end(&cap));
        ASSERT_EQ(r, geteuid() == 0 ? EX_CONFIG : EX_NOPERM);
        ASSERT_TRUE(c == NULL);
        unsetenv("POSTGRESQL_PASSWORD");
}

static void test_refuse_root(void) {
        Capture cap = capture_begin(STDERR_FILENO);
        int r = cli_refuse_root();
        char *err = capture_end(&cap);

        if (geteuid() == 0) {
                ASSERT_EQ(r, -EPERM);
                ASSERT_CONTAINS(err, "<3>Refusing to run as root");
        } else {
                ASSERT_EQ(r, 0);
                ASSERT_STREQ(err, "");
        }
        free(err);
}

static void test_exit_status(void) {
        static const struct { int r, status; } cases[] = {
                { 0, EX_OK },
                { 1, EX_OK },
                { 42, EX_OK },
                { -PGREPL_E_CONFIG, EX_CONFIG },
                { -PGREPL_E_USAGE, EX_USAGE },
                { -PGREPL_E_SUPERSEDED, 79 },
                { -PGREPL_E_REJOIN, 80 },
                { -EACCES, EX_NOPERM },
                { -EPERM, EX_NOPERM },
                { -EHOSTUNREACH, EX_UNAVAILABLE },
                { -ETIMEDOUT, EX_UNAVAILABLE },
                { -EAGAIN, EX_TEMPFAIL },
                { -EWOULDBLOCK, EX_TEMPFAIL },
                { -EEXIST, EX_CANTCREAT },
                { -EROFS, EX_CANTCREAT },
                { -ENOSPC, EX_CANTCREAT },
                { -EDQUOT, EX_CANTCREAT },
                { -EINVAL, EX_SOFTWARE }, /* a libc EINVAL is ours, never a configuration verdict */
                { -EPROTO, EX_SOFTWARE },
                { -EBADMSG, EX_SOFTWARE },
                { -ENOENT, EX_OSERR },
                { -ENOMEM, EX_OSERR },
                { -EIO, EX_OSERR },
                { -ECONNREFUSED, EX_OSERR },
                { -EBUSY, EX_OSERR },
                { -ENOTDIR, EX_OSERR },
                { -PGREPL_E_BASE - 99, EX_OSERR },
                { -_PGREPL_E_MAX, EX_OSERR },
        };

        /* The numbers themselves are the interface (SPEC section 6). */
        ASSERT_EQ(EX_USAGE, 64);
        ASSERT_EQ(EX_UNAVAILABLE, 69);
        ASSERT_EQ(EX_SOFTWARE, 70);
        ASSERT_EQ(EX_OSERR, 71);
        ASSERT_EQ(EX_CANTCREAT, 73);
        ASSERT_EQ(EX_TEMPFAIL, 75);
        ASSERT_EQ(EX_NOPERM, 77);
        ASSERT_EQ(EX_CONFIG, 78);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (exit_status(cases[i].r) != cases[i].status)
                        fprintf(stderr, "exit_status(%d) = %d, expected %d\n", cases[i].r,
                                exit_status(cases[i].r), cases[i].status);
                ASSERT_EQ(exit_status(cases[i].r), cases[i].status);
        }

        ASSERT_TRUE(pgrepl_is_verdict(-PGREPL_E_CONFIG));
        ASSERT_TRUE(pgrepl_is_verdict(-PGREPL_E_USAGE));
        ASSERT_TRUE(!pgrepl_is_verdict(-EINVAL));
        ASSERT_TRUE(!pgrepl_is_verdict(PGREPL_E_CONFIG));
        ASSERT_TRUE(!pgrepl_is_verdict(-_PGREPL_E_MAX));
        ASSERT_TRUE(!pgrepl_is_verdict(0));
}

/* The configuration comes from the environment: start from none of it, whatever the caller had. */
static void unset_config_env(void) {
        for (;;) {
                char name[256] = "";

                for (char **e = environ; *e; e++)
                        if (strncmp(*e, "POSTGRES", 8) == 0 || strncmp(*e, "ALLOW_EMPTY_PASSWORD=", 21) == 0 ||
                            strncmp(*e, "PGREPL_", 7) == 0) {
                                snprintf(name, sizeof(name), "%.*s", (int) strcspn(*e, "="), *e);
                                break;
                        }
                if (!*name)
                        break;
                ASSERT_EQ(unsetenv(name), 0);
        }
}

int main(void) {
        unset_config_env();
        test_parse_accepts();
        test_parse_rejects();
        test_help_version();
        test_start();
        test_refuse_root();
        test_exit_status();
        printf("test-cli: ok\n");
        return 0;
}
