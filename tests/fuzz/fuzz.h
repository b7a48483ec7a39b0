/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares (libFuzzer, tests/fuzz/meson.build): the input as a C string, and
 * pgrepl's log lines sent to /dev/null (libFuzzer and the sanitizers keep the real stderr: they
 * took it before LLVMFuzzerInitialize() runs, or write to the descriptor).
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Each target's inputs are small: a longer one only slows the search. */
#define FUZZ_MAX_INPUT 65536

static inline char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

static inline void fuzz_quiet(void) {
        FILE *null = fopen("/dev/null", "we");

        if (null)
                stderr = null;
}

static inline FILE *fuzz_real_stderr(void) {
        static FILE *f;

        if (!f)
                f = fdopen(2, "w");
        return f ? f : stdout;
}

/* An assertion that stays in every build type: a broken property is a crash libFuzzer records. */
#define fuzz_assert(x)                                                                          \
        do {                                                                                    \
                if (!(x)) {                                                                     \
                        fprintf(fuzz_real_stderr(), "%s:%d: property failed: %s\n", __FILE__, __LINE__, #x); \
                        fflush(fuzz_real_stderr());                                     \
                        abort();                                                                \
                }                                                                               \
        } while (0)
