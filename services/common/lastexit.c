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
        *o = 0;
        return out;
}

static char *last_line_of(const char *invocation) {
        _cleanup_free_ char *match = NULL;
        sd_journal *j = NULL;
        char *found = NULL;

        if (asprintf(&match, "_SYSTEMD_INVOCATION_ID=%s", invocation) < 0)
                return NULL;
        if (sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM) < 0)
                return NULL;
        if (sd_journal_add_match(j, match, 0) < 0)
                goto out;
        /* The postmaster's last lines may still be on their way through journald's stream. */
        for (int pass = 0; pass < 2 && !found; pass++) {
                if (pass > 0)
                        (void) sd_journal_wait(j, CATCH_UP_USEC);
                if (sd_journal_seek_tail(j) < 0)
                        break;
                for (int n = 0; n < SCAN_ENTRIES && !found && sd_journal_previous(j) > 0; n++) {
                        const void *data;
                        size_t len;
                        _cleanup_free_ char *msg = NULL;

                        if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len <= 8)
                                continue;
                        msg = strndup((const char *) data + 8, len - 8);
                        if (msg)
                                found = lastexit_extract(msg);
                }
        }
out:
        sd_journal_close(j);
        return found;
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
        if (inv)
                line = last_line_of(inv);
        /* A start refused since (no room to start, say) keeps what the server itself died of. */
        if (!line && access(path, F_OK) >= 0)
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
                r = write(fd, text, n) == (ssize_t) n ? 0 : -EIO;
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
