/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "notify.h"

void notify_status(const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        for (char *p = buf; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        (void) sd_notifyf(0, "STATUS=%s", buf);
}

void notify_ready(const char *status) {
        if (status)
                (void) sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        else
                (void) sd_notify(0, "READY=1");
}

void notify_stopping(void) {
        (void) sd_notify(0, "STOPPING=1");
}

void notify_watchdog(void) {
        (void) sd_notify(0, "WATCHDOG=1");
}

void notify_extend_timeout(uint64_t usec) {
        (void) sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long) usec);
}

uint64_t notify_watchdog_usec(void) {
        uint64_t usec = 0;

        if (sd_watchdog_enabled(0, &usec) <= 0)
                return 0;
        return usec;
}
