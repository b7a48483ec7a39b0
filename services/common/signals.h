/* SPDX-License-Identifier: MIT */
/*
 * Stop requests (SIGINT, SIGTERM) are read, not caught: signals_block_stop()
 * blocks them and opens a signalfd that sleeps and poll loops watch beside
 * their own fds, so a stop cuts a wait or a child's copy short and the code
 * that waits decides what it means. The blocked mask survives execve: unblock
 * (signals_unblock_stop()) before exec'ing the postmaster, which must get its
 * signals. One per process (module state); nothing here logs.
 */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Block SIGINT and SIGTERM and open the signalfd (O_CLOEXEC, non-blocking). Idempotent. */
int signals_block_stop(void);
/* The signalfd, for a poll set; -1 when the signals are not blocked. */
int signals_stop_fd(void);
/* The signal number of the first stop request read so far (reading what is pending), 0 when none. */
int signals_stop_requested(void);
/* Sleep usec, or less when a stop request comes: -EINTR then, else 0. */
int signals_sleep(uint64_t usec);
/* Unblock SIGINT and SIGTERM and close the signalfd: a pending stop request is delivered now. */
int signals_unblock_stop(void);
/* End this process by sig's default action, as if it had never been blocked. */
_noreturn_ void signals_exit_by(int sig);
