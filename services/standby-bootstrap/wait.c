/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "notify.h"
#include "signals.h"
#include "util.h"
#include "wait.h"

void wait_init(Waiter *w, unsigned max_timeout_s) {
        *w = (Waiter) { .start_usec = now_usec() };
        if (max_timeout_s > 0)
                w->deadline_usec = w->start_usec + (uint64_t) max_timeout_s * 1000000ULL;
}

unsigned wait_backoff_next(unsigned prev) {
        if (prev == 0)
                return 1;
        return prev >= WAIT_BACKOFF_MAX_S / 2 ? WAIT_BACKOFF_MAX_S : prev * 2;
}

int wait_pause(Waiter *w, const char *display, const char *reason) {
        uint64_t until, now = now_usec();

        if (w->deadline_usec && now >= w->deadline_usec)
                return -ETIMEDOUT;
        w->delay = wait_backoff_next(w->delay);
        until = now + (uint64_t) w->delay * 1000000ULL;
        if (w->deadline_usec && until > w->deadline_usec)
                until = w->deadline_usec;

        /* One-second steps: the countdown in STATUS= stays true; a stop request ends any step at once. */
        while ((now = now_usec()) < until) {
                uint64_t left = until - now;
                int r;

                notify_status("waiting for primary '%s': %s, retry in %llus (attempt %u)", display, reason,
                              (unsigned long long) ((left + 999999ULL) / 1000000ULL), w->attempt);
                notify_extend_timeout(WAIT_EXTEND_USEC);
                r = signals_sleep(left < 1000000ULL ? left : 1000000ULL);
                if (r < 0)
                        return r;
        }
        return signals_stop_requested() ? -EINTR : 0;
}
