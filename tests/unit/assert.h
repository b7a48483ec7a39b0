/* SPDX-License-Identifier: MIT */
/*
 * A tiny assertion header for the unit tests: each macro prints the failing
 * expression with its file and line, and exits 1. Exit 77 means skipped.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT_TRUE(expr)                                                                   \
        do {                                                                                \
                if (!(expr)) {                                                              \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
                                #expr);                                                     \
                        exit(1);                                                            \
                }                                                                           \
        } while (0)

#define ASSERT_EQ(a, b)                                                                              \
        do {                                                                                         \
                long long _a = (long long) (a), _b = (long long) (b);                                \
                if (_a != _b) {                                                                      \
                        fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                                #a, #b, _a, _b);                                                     \
                        exit(1);                                                                     \
                }                                                                                    \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                          \
        do {                                                                                        \
                const char *_a = (a), *_b = (b);                                                    \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                            \
                        fprintf(stderr, "%s:%d: %s == %s failed:\n  got      '%s'\n  expected '%s'\n", \
                                __FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
                        exit(1);                                                                    \
                }                                                                                   \
        } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                              \
        do {                                                                                      \
                const char *_h = (hay), *_n = (needle);                                           \
                if (!_h || !strstr(_h, _n)) {                                                     \
                        fprintf(stderr, "%s:%d: '%s' not found in:\n%s\n", __FILE__, __LINE__, _n, \
                                _h ? _h : "(null)");                                              \
                        exit(1);                                                                  \
                }                                                                                 \
        } while (0)
