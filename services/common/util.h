/* SPDX-License-Identifier: MIT */
/*
 * String and number helpers: checked number parsing (never atoi), string
 * building, and splitting of word lists such as POSTGRESQL_INITDB_ARGS.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Parse a decimal unsigned integer in [min, max]; the whole string must be a number. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);
int parse_u64(const char *s, uint64_t *ret);
/* Trim white space in place, returning the start. */
char *strstrip(char *s);
/* Split on white space (no quoting, like the image's unquoted expansion). */
int strv_split_words(const char *s, char ***ret);
size_t strv_length(char *const *v);
/* Whether s may be quoted in a log line: no control character (a line break most of all, which an
 * unbalanced quote in an env file brings, with the following lines' secrets). */
bool string_printable(const char *s);
/* s when string_printable(), else a placeholder saying why it is not shown. */
const char *string_shown(const char *s);

/* The value of NAME in an environment array ("NAME=value"), NULL when absent. */
const char *strv_env_get(char *const *envp, const char *name);

/* "dir/name", newly allocated (NULL on allocation failure); dir "/" gives "/name". */
char *path_join(const char *dir, const char *name);
/* The directory part of a path, newly allocated: "/a/b" → "/a", "/a" → "/", "a" → ".". */
char *path_parent(const char *path);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t now_usec(void);
/* FNV-1a, for short stable names made from long strings (never for secrets). The 32-bit form
 * continues from h (HASH_FNV1A32_INIT at first), so several strings can go into one hash. */
#define HASH_FNV1A32_INIT 2166136261U
uint64_t hash_fnv1a64(const char *s);
uint32_t hash_fnv1a32(uint32_t h, const char *s);

/* A growable string buffer. */
typedef struct Buf {
        char *data;
        size_t len, cap;
        bool oom;
} Buf;

void buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
void buf_puts(Buf *b, const char *s);
/* Take the string (NULL on allocation failure, which frees it). */
char *buf_steal(Buf *b);
void buf_free(Buf *b);
