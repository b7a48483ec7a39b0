/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per message on stderr, prefixed with the sd-daemon
 * priority (<3> ... <7>) so journald keeps it. No timestamps. The
 * *_errno variants set errno from a negative error code so "%m" works,
 * and return that code, so a caller can `return log_error_errno(r, ...)`.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);

int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);
/* How many messages at LOG_ERR or worse were logged so far (shown or not): whether a failure has
 * been told already. */
unsigned log_error_count(void);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_internal(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_internal(LOG_WARNING, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_internal(LOG_DEBUG, (error), __VA_ARGS__)

#define log_error(...) (void) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) (void) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void) log_internal(LOG_DEBUG, 0, __VA_ARGS__)

/* Out of memory: logged once where it is noticed. */
#define log_oom() log_internal(LOG_ERR, -ENOMEM, "Out of memory.")
