/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "fs.h"
#include "lastexit.h"
#include "log.h"
#include "macro.h"
#include "util.h"

/* How far back in the failed run to look, and how long to let journald catch up with its output. */
#define SCAN_ENTRIES 2000
#define CATCH_UP_USEC 500000ULL

char *lastexit_extract(const char *message) {
        const char *f = strstr(message, "FATAL:"), *p = strstr(message, "PANIC:"), *s;
        char *out, *o;

        s = f && (!p || f < p) ? f : p;
        if (!s)
                return NULL;
        out = malloc(strlen(s) + 1);
        if (!out)
                return NULL;
        for (o = out; *s; s++) {
                unsigned char ch = (unsigned char) *s;

                if (ch < 0x20 || ch == 0x7f)
                        ch = ' ';
                if (ch == ' ' && o > out && o[-1] == ' ')
                        continue;
                *o++ = (char) ch;
        }
        while (o > out && o[-1] == ' ')
                o--;
        /* STATUS= has room for it: at most LASTEXIT_MAX bytes, never half a UTF-8 character. */
        if (o - out > LASTEXIT_MAX) {
                o = out + LASTEXIT_MAX;
                while (o > out && ((unsigned char) *o & 0xc0) == 0x80)
                        o--;
        }
        *o = 0;
        return out;
}

/* An entry's field as text (newly allocated), NULL when it has none. */
static char *field(sd_journal *j, const char *name) {
        size_t n = strlen(name), len;
        const void *data;

        if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= n + 1)
                return NULL;
        return strndup((const char *) data + n + 1, len - n - 1);
}

/* The PID PostgreSQL's log line prefix ("%m [%p] ", its default) gives before "FATAL:", newly
 * allocated; NULL when the line has none. journald's _PID would not do: every process of the server
 * writes to the stream the postmaster's exec inherited, which journald stamps with its PID. */
static char *message_pid(const char *msg) {
        const char *fatal = strstr(msg, "FATAL:"), *open = NULL;
        size_t n;

        for (const char *p = msg; fatal && p < fatal; p++)
                if (*p == '[')
                        open = p + 1;
        if (!open)
                return NULL;
        n = strspn(open, "0123456789");
        return n > 0 && open[n] == ']' ? strndup(open, n) : NULL;
}

/*
 * One look back from the end of the run's journal to pgrepl's own LASTEXIT_MARKER line: that line's
 * PID is the postmaster's (the exec keeps it). The newest PANIC of any of the server's processes
 * wins, else the newest FATAL of the postmaster itself, told by the PID in the line's prefix
 * (message_pid()): a FATAL of a backend is a client's (a failed login, a cancelled session), not the
 * server's death, and its text is the client's to choose. With a log_line_prefix without %p only a
 * PANIC is taken.
 * 1 with *ret; 0 when the server ran but nothing of the kind was found (killed, say); -ENOENT when
 * the server was never started in this run (a start pgrepl refused).
 */
static int look_back(sd_journal *j, char **ret) {
        _cleanup_free_ char *panic = NULL;
        char *fatals[64] = {}, *pids[64] = {};
        size_t nf = 0;
        int found = -ENOENT;

        if (sd_journal_seek_tail(j) < 0)
                return -ENOENT;
        for (int n = 0; n < SCAN_ENTRIES && sd_journal_previous(j) > 0; n++) {
                _cleanup_free_ char *msg = field(j, "MESSAGE"), *pid = NULL;

                if (!msg)
                        continue;
                if (strncmp(msg, LASTEXIT_MARKER, strlen(LASTEXIT_MARKER)) == 0) {
                        pid = field(j, "_PID"); /* pgrepl's own line, written before the exec */
                        found = 0;
                        for (size_t i = 0; !panic && pid && i < nf; i++)
                                if (pids[i] && streq(pids[i], pid)) {
                                        *ret = TAKE_PTR(fatals[i]);
                                        found = 1;
                                        break;
                                }
                        if (panic) {
                                *ret = TAKE_PTR(panic);
                                found = 1;
                        }
                        break;
                }
                if (!panic && strstr(msg, "PANIC:"))
                        panic = lastexit_extract(msg);
                else if (nf < ELEMENTSOF(fatals) && strstr(msg, "FATAL:") && (pid = message_pid(msg))) {
                        fatals[nf] = lastexit_extract(msg);
                        pids[nf++] = TAKE_PTR(pid);
                }
        }
        for (size_t i = 0; i < nf; i++) {
                free(fatals[i]);
                free(pids[i]);
        }
        return found;
}

/* look_back() on the journal of the run (its invocation), twice when the first finds no line: the
 * postmaster's last lines may still be on their way through journald's stream. */
static int last_line_of(const char *invocation, char **ret) {
        _cleanup_free_ char *match = NULL;
        sd_journal *j = NULL;
        int r;

        if (asprintf(&match, "_SYSTEMD_INVOCATION_ID=%s", invocation) < 0)
                return -ENOMEM;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;
        r = sd_journal_add_match(j, match, 0);
        if (r >= 0)
                r = look_back(j, ret);
        if (r <= 0 && sd_journal_wait(j, CATCH_UP_USEC) >= 0)
                r = look_back(j, ret);
        sd_journal_close(j);
        return r;
}

int lastexit_record(char **env) {
        const char *result = strv_env_get(env, "SERVICE_RESULT"), *code = strv_env_get(env, "EXIT_CODE");
        const char *status = strv_env_get(env, "EXIT_STATUS"), *inv = strv_env_get(env, "INVOCATION_ID");
        const char *state = strv_env_get(env, "STATE_DIRECTORY");
        _cleanup_free_ char *path = NULL, *line = NULL, *text = NULL;
        _cleanup_close_ int dfd = -1, fd = -1;
        struct stat st;
        size_t n;
        int r;

        if (!state || !*state || strchr(state, ':'))
                return 0; /* not under a unit with one state directory: nothing to keep */
        path = path_join(state, LASTEXIT_FILE);
        if (!path)
                return -ENOMEM;
        if (!result || streq(result, "success")) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        /* A run that never started the server (a start pgrepl refused: no room, say) is not the
         * server's death, and keeps what an earlier run died of. Without the journal, so does any. */
        r = inv ? last_line_of(inv, &line) : -ENOENT;
        if (r == -ENOENT && (inv || access(path, F_OK) >= 0))
                return 0;
        if (asprintf(&text, "%s (%s %s, %s)\n", line ? line : "no FATAL or PANIC line in its log",
                     code ? code : "?", status ? status : "?", result) < 0)
                return -ENOMEM;
        /* Root writes into the service user's directory: through the directory's descriptor, a new
         * file (never a planted link), the service user's, 0600, then renamed into place. */
        dfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 || fstat(dfd, &st) < 0)
                return -errno;
        (void) unlinkat(dfd, LASTEXIT_FILE ".tmp", 0);
        fd = openat(dfd, LASTEXIT_FILE ".tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        n = strlen(text);
        if (fchown(fd, st.st_uid, st.st_gid) < 0)
                r = -errno;
        else
                r = write(fd, text, n) == (ssize_t) n ? 0 : errno > 0 ? -errno : -EIO;
        if (r >= 0 && renameat(dfd, LASTEXIT_FILE ".tmp", dfd, LASTEXIT_FILE) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, LASTEXIT_FILE ".tmp", 0);
        return r < 0 ? r : 0;
}

int lastexit_read(const char *state_dir, bool take, char **ret) {
        _cleanup_free_ char *path = path_join(state_dir, LASTEXIT_FILE), *text = NULL;
        size_t n;
        int r;

        if (!path)
                return -ENOMEM;
        r = fs_read_file(path, &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (take)
                (void) unlink(path);
        n = strcspn(text, "\n");
        text[n] = 0;
        if (n == 0)
                return 0;
        *ret = TAKE_PTR(text);
        return 1;
}
