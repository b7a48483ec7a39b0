/* SPDX-License-Identifier: MIT */
/*
 * Implementation of log.h. PGREPL_LOG_LEVEL=debug raises verbosity for a
 * by-hand run; the default is info.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static int max_level = -1;
static unsigned n_errors;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        if (max_level < 0) {
                const char *e = getenv("PGREPL_LOG_LEVEL");

                max_level = LOG_INFO;
                if (e && (streq(e, "debug") || streq(e, "7")))
                        max_level = LOG_DEBUG;
        }
        return max_level;
}

unsigned log_error_count(void) {
        return n_errors;
}

int log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level <= LOG_ERR)
                n_errors++;
        if (level > log_get_max_level())
                goto out;

        errno = error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        /* One message is one line: fold anything a user value smuggled in. */
        for (char *p = buf; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';

        fprintf(stderr, "<%d>%s\n", level, buf);
        fflush(stderr);
out:
        errno = saved;
        return -error;
}
