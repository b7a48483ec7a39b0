/* SPDX-License-Identifier: MIT */
/*
 * The quoting of values pgrepl writes into PostgreSQL's files: postgresql.conf strings
 * (render_conf_string), conninfo values (render_conninfo, read back with libpq's own
 * PQconninfoParse), passfile fields (render_pgpass_line) and pg_hba.conf names (render_hba_name).
 * Property: each reads back, by the rules of the program that reads it, as the value written, on
 * one line. A passfile or pg_hba.conf line cannot hold a line break at all: values with one are
 * only checked not to crash there.
 */
#include <libpq-fe.h>
#include <stdbool.h>

#include "fuzz.h"
#include "macro.h"
#include "render.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_quiet();
        return 0;
}

/* PostgreSQL's guc-file.l: a STRING token ('...' with '' and backslash escapes, no newline), then
 * GUC_scanstr(). NULL when the text is not one token. */
static char *guc_unquote(const char *q) {
        size_t n = strlen(q), j = 0;
        char *out;

        if (n < 2 || q[0] != '\'' || q[n - 1] != '\'' || strchr(q, '\n'))
                return NULL;
        out = malloc(n);
        fuzz_assert(out);
        for (size_t i = 1; i < n - 1; i++) {
                if (q[i] == '\\') {
                        if (++i >= n - 1) {
                                free(out);
                                return NULL;
                        }
                        switch (q[i]) {
                        case 'b': out[j++] = '\b'; break;
                        case 'f': out[j++] = '\f'; break;
                        case 'n': out[j++] = '\n'; break;
                        case 'r': out[j++] = '\r'; break;
                        case 't': out[j++] = '\t'; break;
                        case '0' ... '7': {
                                int v = 0, k;

                                for (k = 0; k < 3 && i < n - 1 && q[i] >= '0' && q[i] <= '7'; k++, i++)
                                        v = v * 8 + (q[i] - '0');
                                i--;
                                out[j++] = (char) v;
                                break;
                        }
                        default: out[j++] = q[i]; break;
                        }
                } else if (q[i] == '\'') {
                        if (i + 1 >= n - 1 || q[i + 1] != '\'') {
                                free(out);
                                return NULL;
                        }
                        out[j++] = '\'';
                        i++;
                } else
                        out[j++] = q[i];
        }
        out[j] = 0;
        return out;
}

/* pg_hba.conf's next_token() on one double-quoted token: "" is a quote. */
static char *hba_unquote(const char *q) {
        size_t n = strlen(q), j = 0;
        char *out;

        fuzz_assert(n >= 2 && q[0] == '"' && q[n - 1] == '"');
        out = malloc(n);
        fuzz_assert(out);
        for (size_t i = 1; i < n - 1; i++) {
                if (q[i] == '"') {
                        fuzz_assert(i + 1 < n - 1 && q[i + 1] == '"');
                        i++;
                }
                out[j++] = q[i];
        }
        out[j] = 0;
        return out;
}

/* libpq's passwordFromFile(): fields split at unescaped ':', a backslash takes the next character. */
static void check_pgpass(const char *value) {
        _cleanup_free_ char *line = render_pgpass_line("h", "5432", "*", value, value), *field = NULL;
        const char *p;
        size_t j = 0;
        unsigned fields = 0;

        fuzz_assert(line);
        if (strpbrk(value, "\n\r"))
                return;
        fuzz_assert(strchr(line, '\n') == line + strlen(line) - 1);
        field = malloc(strlen(line) + 1);
        fuzz_assert(field);
        for (p = line; *p && *p != '\n'; p++) {
                if (*p == '\\' && p[1] && p[1] != '\n')
                        field[j++] = *++p;
                else if (*p == ':') {
                        field[j] = 0;
                        if (++fields == 4)
                                fuzz_assert(streq(field, value)); /* the user */
                        j = 0;
                } else
                        field[j++] = *p;
        }
        field[j] = 0;
        fuzz_assert(fields == 4 && streq(field, value)); /* the password */
}

static void check_conninfo(const char *value) {
        const char *keys[] = { "host", "password", "application_name", NULL };
        const char *values[] = { "127.0.0.1", value, value, NULL };
        _cleanup_free_ char *conninfo = render_conninfo(keys, values);
        PQconninfoOption *opts;
        char *err = NULL;
        unsigned seen = 0;

        fuzz_assert(conninfo);
        opts = PQconninfoParse(conninfo, &err);
        fuzz_assert(opts);
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (streq(o->keyword, "password") || streq(o->keyword, "application_name")) {
                        fuzz_assert(o->val && streq(o->val, value));
                        seen++;
                }
        fuzz_assert(seen == 2);
        PQconninfoFree(opts);

        /* primary_conninfo is itself a postgresql.conf string */
        _cleanup_free_ char *conf = render_conf_string(conninfo), *back = NULL;
        fuzz_assert(conf);
        back = guc_unquote(conf);
        fuzz_assert(back && streq(back, conninfo));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *value = NULL, *conf = NULL, *back = NULL, *hba = NULL;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        value = fuzz_string(data, size); /* up to the first NUL: C strings are what pgrepl quotes */

        conf = render_conf_string(value);
        fuzz_assert(conf);
        back = guc_unquote(conf);
        fuzz_assert(back && streq(back, value));

        check_conninfo(value);
        check_pgpass(value);

        hba = render_hba_name(value);
        fuzz_assert(hba);
        if (!strpbrk(value, "\n\r")) {
                _cleanup_free_ char *name = hba_unquote(hba);

                fuzz_assert(streq(name, value));
        }
        return 0;
}
