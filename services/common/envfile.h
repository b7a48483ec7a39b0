/* SPDX-License-Identifier: MIT */
/*
 * Env files read exactly as systemd's EnvironmentFile= reads them (systemd 252, Debian 12 and
 * RHEL 9: src/basic/env-file.c, then the name check execute.c applies), and edited so that every
 * byte but the one assignment changed stays as it was. Parsing is pure and never logs.
 *
 * The rules: blank lines and leading white space are skipped; a line whose first other character
 * is '#' or ';' is a comment (a trailing backslash continues it onto the next line, as in 252;
 * systemd 254 and later stop at that line); KEY=value with white space around the key and before
 * the value dropped; an unquoted value ends at the line's end with its trailing white space
 * dropped, and a backslash there takes the next character literally (a newline: a continuation);
 * 'single quotes' take everything literally up to the next quote, newlines included; "double
 * quotes" take \" \\ \` \$ as the character, drop a backslash-newline and keep any other
 * backslash; quoted and unquoted parts join ("a"'b' is ab); there are no inline comments; a line
 * without '=' is ignored; invalid UTF-8 fails the whole file; names outside [A-Za-z_][A-Za-z0-9_]*
 * are ignored; the last assignment of a name wins.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct EnvFileEntry {
        char *key;
        char *value;       /* unquoted and unescaped; "" for "KEY=" */
        unsigned line;     /* line of the key's first character, from 1 */
        size_t start, end; /* the assignment's bytes in the text: from the key to its terminating
                            * newline (or the end of the text), exclusive */
        bool valid;        /* a name systemd accepts; others are ignored */
} EnvFileEntry;

typedef struct EnvFile {
        char *text;
        EnvFileEntry *entries; /* in the order of the text */
        size_t n;
} EnvFile;

void envfile_done(EnvFile *f);

/* Parse text (copied). -EBADMSG with *ret_bad_line (if given) on invalid UTF-8, as systemd
 * refuses the whole file then; -ENOMEM. */
int envfile_parse(const char *text, EnvFile *ret, unsigned *ret_bad_line);
/* Read and parse a file (at most 1 MiB). */
int envfile_read(const char *path, EnvFile *ret, unsigned *ret_bad_line);

/* Whether systemd accepts name as a variable name. */
bool envfile_name_valid(const char *name);
/* The value systemd gives name (the last valid assignment), NULL when none. */
const char *envfile_get(const EnvFile *f, const char *name);
/* The environment systemd builds: "KEY=value" strings, each name once with its last value,
 * invalid names left out, NULL-terminated. extra ("K=V", NULL-terminated, may be NULL) comes
 * first, and the file wins over it, as EnvironmentFile= wins over Environment=. */
int envfile_envp(const EnvFile *f, char *const *extra, char ***ret);

/* The right-hand side that reads back as value: bare when made only of characters that need no
 * quoting, else double-quoted with \" \\ \` \$ escaped. */
char *envfile_quote(const char *value);

/*
 * Set name (which must be valid) to value: the assignment that counts is rewritten in place
 * (earlier, overridden ones are left alone), or a line is added at the end. Every other byte of
 * the text is kept. The result is parsed again and checked: name has value, every other name
 * its old value, no name appeared; otherwise -EBADMSG and f is unchanged (a file that ends inside
 * a quoted value, say). -EINVAL for an invalid name, -ENOMEM.
 */
int envfile_set(EnvFile *f, const char *name, const char *value);

/* Replace path's content with text atomically (a temporary file beside it, fsync, rename), with
 * the mode and owner the file had. A symbolic link is followed: the file it names is replaced. */
int envfile_write(const char *path, const char *text);
