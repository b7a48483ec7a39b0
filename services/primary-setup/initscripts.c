/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fs.h"
#include "initscripts.h"
#include "log.h"
#include "notify.h"
#include "pg.h"
#include "pgrepl-build.h"
#include "render.h"
#include "spawn-util.h"
#include "util.h"

#define PENDING "initscripts.pending"
#define DONE "initscripts.done"

static char *scripts_dir(const Config *c) {
        _cleanup_free_ char *conf = strdup(PGREPL_CONFIG_DEFAULT);
        char *p = NULL;

        if (config_get(c, VAR_INITSCRIPTS_DIR))
                return strdup(config_get(c, VAR_INITSCRIPTS_DIR));
        if (!conf || asprintf(&p, "%s/%s.initdb.d", dirname(conf), c->instance) < 0)
                return NULL;
        return p;
}

static char *state_file(const Config *c, const char *name) {
        _cleanup_free_ char *dir = config_state_dir(c);

        return dir ? path_join(dir, name) : NULL;
}

static bool endswith(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n > k && streq(s + n - k, suffix);
}

static bool is_script(const char *name) {
        return endswith(name, ".sh") || endswith(name, ".sql") || endswith(name, ".sql.gz");
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The scripts, sorted by name (byte order); an absent directory has none. */
static int list_scripts(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        if (!d) {
                if (errno == ENOENT) {
                        *ret = calloc(1, sizeof(char *));
                        return *ret ? 0 : -ENOMEM;
                }
                return -errno;
        }
        while ((errno = 0, de = readdir(d))) {
                char **nn;

                if (de->d_name[0] == '.')
                        continue;
                if (!is_script(de->d_name)) {
                        log_notice("Init scripts: ignoring '%s/%s' (not .sh, .sql or .sql.gz)", dir, de->d_name);
                        continue;
                }
                nn = realloc(names, (n + 2) * sizeof(char *));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        names = nn ? nn : names;
                        closedir(d);
                        return -ENOMEM;
                }
                names = nn;
                names[++n] = NULL;
        }
        closedir(d);
        if (!names && !(names = calloc(1, sizeof(char *))))
                return -ENOMEM;
        qsort(names, n, sizeof(char *), cmp_names);
        *ret = TAKE_PTR(names);
        return 0;
}

int initscripts_mark_first_start(const Config *c) {
        _cleanup_free_ char *dir = scripts_dir(c), *pending = state_file(c, PENDING);
        _cleanup_strv_free_ char **names = NULL;
        int r;

        if (!dir || !pending)
                return log_oom();
        r = list_scripts(dir, &names);
        if (r < 0)
                return log_error_errno(r, "Cannot read the init scripts directory '%s': %m", dir);
        /* None (any more): no set is pending, whatever an earlier failed first start left. */
        if (!names[0]) {
                if (unlink(pending) < 0 && errno != ENOENT)
                        return log_error_errno(-errno, "Cannot remove '%s': %m", pending);
                return 0;
        }
        r = fs_write_atomic(pending, "", 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write '%s': %m", pending);
        return 0;
}

int initscripts_state(const Config *c) {
        _cleanup_free_ char *pending = state_file(c, PENDING), *running = NULL;
        int r;

        if (!pending)
                return log_oom();
        r = fs_read_file(pending, &running);
        if (r == -ENOENT)
                return INITSCRIPTS_NONE;
        if (r < 0)
                return log_error_errno(r, "Cannot read '%s': %m", pending);
        if (!*running)
                return INITSCRIPTS_PENDING;
        log_error("The init scripts of the first start stopped at '%s' (marker '%s'): refusing to run them again "
                  "or to start without the rest. Fix the cause, then either remove the data directory '%s' (a "
                  "fresh first start runs every script) or finish their work by hand and remove the marker",
                  strstrip(running), pending, config_get(c, VAR_DATA_DIR));
        return -PGREPL_E_CONFIG;
}

/* The last line of the script's stderr that says what went wrong, for the one error line. */
typedef struct Follow {
        const char *script;
        char last[512];
} Follow;

static int on_line(void *userdata, char *line) {
        Follow *f = userdata;

        if (!*line)
                return 0;
        log_info("init script '%s': %s", f->script, line);
        if (!*f->last || strstr(line, "ERROR") || strstr(line, "FATAL"))
                snprintf(f->last, sizeof(f->last), "%s", line);
        return 0;
}

static int run_child(char **argv, char **envp, Follow *f, int *ret_status) {
        pid_t pid;
        int fd, r, k;

        r = spawn_group_stderr(argv, envp, &pid, &fd);
        if (r < 0)
                return r;
        r = spawn_follow_lines(fd, on_line, NULL, f);
        close(fd);
        if (r < 0)
                (void) kill(-pid, SIGKILL);
        k = spawn_wait(pid, ret_status);
        return r < 0 ? r : k;
}

/* .sql.gz: gunzip into a private file first (psql reads no compressed input). */
static int gunzip_to(const char *src, const char *dst) {
        char *argv[] = { "/bin/gzip", "-dc", (char *) src, NULL };
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        pid_t pid;
        int r, st;

        if (fd < 0)
                return -errno;
        r = spawn_env(NULL, &env);
        if (r < 0)
                return r;
        r = spawn_start(argv, env, fd, -1, &pid);
        if (r < 0)
                return r;
        r = spawn_wait(pid, &st);
        return r < 0 ? r : st == 0 ? 0 : -EBADMSG;
}

typedef struct Runner {
        const Config *c;
        char *dir, *psql, *rundir, *passfile;
        char **env;
} Runner;

static void runner_done(Runner *r) {
        free(r->dir);
        free(r->psql);
        if (r->passfile)
                (void) unlink(r->passfile);
        free(r->passfile);
        free(r->rundir);
        strv_freep(&r->env);
}

/* The user's password reaches libpq through a passfile, never the environment. */
static int write_passfile(Runner *rn, const char *socket_dir, const char *port, const char *user) {
        const char *pw = config_get(rn->c, VAR_INITSCRIPTS_PASSWORD);
        _cleanup_free_ char *line = NULL;
        int r;

        if (!pw)
                pw = config_get(rn->c, VAR_PASSWORD);
        if (!pw || streq(user, "postgres"))
                return 0; /* trust, or peer for the superuser on the socket */
        rn->passfile = path_join(rn->rundir, "initscripts.pgpass");
        line = render_pgpass_line(socket_dir, port, "*", user, pw);
        if (!rn->passfile || !line)
                return -ENOMEM;
        r = fs_write_atomic(rn->passfile, line, 0600);
        explicit_bzero(line, strlen(line));
        return r;
}

static int runner_init(Runner *rn, const Config *c, const char *bindir, const char *socket_dir, unsigned port) {
        const char *user = config_get(c, VAR_INITSCRIPTS_USERNAME);
        _cleanup_free_ char *e_host = NULL, *e_port = NULL, *e_user = NULL, *e_db = NULL, *e_pass = NULL,
                            *e_pdb = NULL, *e_puser = NULL, *e_pport = NULL;
        char p[16];
        int r;

        *rn = (Runner) { .c = c };
        if (!user)
                user = config_get(c, VAR_USERNAME);
        snprintf(p, sizeof(p), "%u", port);
        rn->dir = scripts_dir(c);
        rn->psql = pg_bin(bindir, "psql");
        rn->rundir = config_runtime_dir(c);
        if (!rn->dir || !rn->psql || !rn->rundir)
                return -ENOMEM;
        r = write_passfile(rn, socket_dir, p, user);
        if (r < 0)
                return r;
        if (asprintf(&e_host, "PGHOST=%s", socket_dir) < 0 || asprintf(&e_port, "PGPORT=%s", p) < 0 ||
            asprintf(&e_user, "PGUSER=%s", user) < 0 ||
            asprintf(&e_db, "PGDATABASE=%s", config_get(c, VAR_DATABASE)) < 0 ||
            asprintf(&e_pass, "PGPASSFILE=%s", rn->passfile ? rn->passfile : "/dev/null") < 0 ||
            asprintf(&e_pdb, "POSTGRESQL_DATABASE=%s", config_get(c, VAR_DATABASE)) < 0 ||
            asprintf(&e_puser, "POSTGRESQL_USERNAME=%s", config_get(c, VAR_USERNAME)) < 0 ||
            asprintf(&e_pport, "POSTGRESQL_PORT_NUMBER=%u", c->port) < 0)
                return -ENOMEM;
        {
                char *extra[] = { e_host, e_port, e_user, e_db, e_pass, e_pdb, e_puser, e_pport, NULL };

                return spawn_env(extra, &rn->env);
        }
}

static int run_script(Runner *rn, const char *name) {
        _cleanup_free_ char *path = path_join(rn->dir, name), *tmp = NULL;
        Follow f = { .script = name };
        char *argv[8];
        struct stat st;
        int r, status = 0;

        if (!path)
                return log_oom();
        notify_status("running init script '%s'", name);
        log_info("Running init script '%s'", path);
        if (endswith(name, ".sh")) {
                /* As the image: an executable script runs itself, any other is run by bash. */
                bool x = stat(path, &st) == 0 && (st.st_mode & 0111);
                size_t n = 0;

                if (!x)
                        argv[n++] = "/bin/bash";
                argv[n++] = path;
                argv[n] = NULL;
        } else {
                const char *file = path;

                if (endswith(name, ".gz")) {
                        tmp = path_join(rn->rundir, "initscript.sql");
                        if (!tmp)
                                return log_oom();
                        r = gunzip_to(path, tmp);
                        if (r < 0) {
                                (void) unlink(tmp);
                                log_error_errno(r, "Init script '%s' failed: cannot decompress it: %m", path);
                                return -PGREPL_E_CONFIG;
                        }
                        file = tmp;
                }
                argv[0] = rn->psql;
                argv[1] = "-X";
                argv[2] = "-q";
                argv[3] = "-v";
                argv[4] = "ON_ERROR_STOP=1";
                argv[5] = "-f";
                argv[6] = (char *) file;
                argv[7] = NULL;
        }
        r = run_child(argv, rn->env, &f, &status);
        if (tmp)
                (void) unlink(tmp);
        if (r == -EINTR)
                return r;
        if (r < 0)
                return log_error_errno(r, "Init script '%s' could not be run: %m", path);
        if (status != 0) {
                log_error("Init script '%s' failed (exit status %d): %s", path, status,
                          *f.last ? f.last : "no message");
                return -PGREPL_E_CONFIG;
        }
        return 0;
}

int initscripts_run(const Config *c, const char *bindir, const char *socket_dir, unsigned port) {
        _cleanup_free_ char *pending = state_file(c, PENDING), *done = state_file(c, DONE);
        _cleanup_strv_free_ char **names = NULL;
        Runner rn;
        Buf b = {};
        int r;

        if (!pending || !done)
                return log_oom();
        r = runner_init(&rn, c, bindir, socket_dir, port);
        if (r < 0) {
                runner_done(&rn);
                return log_error_errno(r, "Cannot prepare the init scripts: %m");
        }
        r = list_scripts(rn.dir, &names);
        if (r < 0) {
                log_error_errno(r, "Cannot read the init scripts directory '%s': %m", rn.dir);
                goto out;
        }
        for (size_t i = 0; names[i]; i++) {
                /* Before it runs: a failure, or a crash, leaves its name for the next start to refuse. */
                r = fs_write_atomic(pending, names[i], 0600);
                if (r < 0) {
                        log_error_errno(r, "Cannot write '%s': %m", pending);
                        goto out;
                }
                r = run_script(&rn, names[i]);
                if (r < 0)
                        goto out;
                buf_printf(&b, "%s\n", names[i]);
        }
        if (b.oom) {
                r = log_oom();
                goto out;
        }
        r = fs_write_atomic(done, b.data ? b.data : "", 0600);
        if (r >= 0 && unlink(pending) < 0)
                r = -errno;
        if (r < 0)
                log_error_errno(r, "Cannot record that the init scripts ran ('%s'): %m", done);
        else
                log_info("Init scripts: %zu run from '%s'", strv_length(names), rn.dir);
out:
        buf_free(&b);
        runner_done(&rn);
        return r;
}
