/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "signals.h"
#include "util.h"

static int stop_fd = -1;
static int stop_signal;

static void stop_mask(sigset_t *mask) {
        sigemptyset(mask);
        sigaddset(mask, SIGINT);
        sigaddset(mask, SIGTERM);
}

int signals_block_stop(void) {
        sigset_t mask;

        if (stop_fd >= 0)
                return 0;
        stop_mask(&mask);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        stop_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (stop_fd < 0) {
                int r = -errno;

                (void) sigprocmask(SIG_UNBLOCK, &mask, NULL);
                return r;
        }
        return 0;
}

int signals_stop_fd(void) {
        return stop_fd;
}

int signals_stop_requested(void) {
        struct signalfd_siginfo si;

        while (stop_fd >= 0 && read(stop_fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                if (stop_signal == 0)
                        stop_signal = (int) si.ssi_signo;
        return stop_signal;
}

int signals_sleep(uint64_t usec) {
        uint64_t until = now_usec() + usec, now;

        while (signals_stop_requested() == 0 && (now = now_usec()) < until) {
                struct pollfd p = { .fd = stop_fd, .events = POLLIN };
                uint64_t ms = (until - now + 999) / 1000;

                /* fd -1 is ignored by poll(): without a signalfd this is a plain sleep. */
                if (poll(&p, 1, ms > 60000 ? 60000 : (int) ms) < 0 && errno != EINTR)
                        return -errno;
        }
        return signals_stop_requested() ? -EINTR : 0;
}

int signals_unblock_stop(void) {
        sigset_t mask;

        if (stop_fd < 0)
                return 0;
        close(TAKE_FD(stop_fd));
        stop_mask(&mask);
        return sigprocmask(SIG_UNBLOCK, &mask, NULL) < 0 ? -errno : 0;
}

void signals_exit_by(int sig) {
        sigset_t mask;

        (void) signals_unblock_stop();
        (void) signal(sig, SIG_DFL);
        sigemptyset(&mask);
        sigaddset(&mask, sig);
        (void) sigprocmask(SIG_UNBLOCK, &mask, NULL);
        (void) raise(sig);
        _exit(128 + sig);
}
