/* SPDX-License-Identifier: MIT */
/*
 * Thin sd_notify wrappers. They do nothing without NOTIFY_SOCKET and never
 * unset it: the postmaster we exec must inherit it to send READY=1 itself.
 */
#pragma once

#include <stdint.h>

#include "macro.h"

void notify_status(const char *fmt, ...) _printf_(1, 2);
void notify_ready(const char *status);
void notify_stopping(void);
void notify_watchdog(void);
void notify_extend_timeout(uint64_t usec);
/* WatchdogSec= in microseconds, 0 when not enabled for this process. */
uint64_t notify_watchdog_usec(void);
