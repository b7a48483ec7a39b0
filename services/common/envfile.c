/* SPDX-License-Identifier: MIT */
/*
 * Implementation of envfile.h: one pass of a state machine over the text, the states of systemd's
 * own parser, recording where each assignment lies so that it can be rewritten alone.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envfile.h"
#include "fs.h"
#include "macro.h"
#include "util.h"

#define WHITESPACE " \t\n\r"
#define NEWLINE "\n\r"
#define COMMENTS "#;"
#define DQUOTE_ESCAPED "\"\\`$"

typedef enum State {
        PRE_KEY,
        KEY,
        PRE_VALUE,
        VALUE,
        VALUE_ESCAPE,
        SQUOTE,
        DQUOTE,
        DQUOTE_ESCAPE,
        COMMENT,
        COMMENT_ESCAPE,
} State;

typedef struct Parser {
        EnvFile *f;
        State state;
        Buf key, value;
        size_t start;    /* offset of the key being read */
        unsigned line, key_line;
        size_t chomp;    /* where the unquoted value's trailing white space starts, SIZE_MAX: none */
        size_t cap;
        unsigned bad_line;
} Parser;

static void put(Buf *b, char c) {
        char s[2] = { c, 0 };

        buf_puts(b, s);
}

void envfile_done(EnvFile *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->entries[i].key);
                free(f->entries[i].value);
        }
        free(f->entries);
        free(f->text);
        *f = (EnvFile) {};
}

bool envfile_name_valid(const char *name) {
        if (!name || !*name || (*name >= '0' && *name <= '9'))
                return false;
        for (const char *p = name; *p; p++)
                if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                        return false;
        return true;
}

/* systemd's rule: well-formed, shortest form, no surrogates, no non-characters, below 0x110000. */
static bool utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                unsigned len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
                uint32_t cp;

                if (len == 0)
                        return false;
                cp = len == 1 ? *p : (uint32_t) (*p & (0xff >> (len + 1)));
                for (unsigned i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
                        return false;
                if (cp >= 0x110000 || (cp & 0xfffff800) == 0xd800 || (cp >= 0xfdd0 && cp <= 0xfdef) ||
                    (cp & 0xfffe) == 0xfffe)
                        return false;
                p += len;
        }
        return true;
}

/* One assignment is complete: end is the offset of what ended it. */
static int push(Parser *p, size_t end, bool chomp) {
        EnvFileEntry *e, *ne;
        char *key, *value;

        key = buf_steal(&p->key);
        value = buf_steal(&p->value);
        p->key = p->value = (Buf) {};
        if (!key || !value) {
                free(key);
                free(value);
                return -ENOMEM;
        }
        for (size_t n = strlen(key); n > 0 && strchr(WHITESPACE, key[n - 1]); n--)
                key[n - 1] = 0;
        if (chomp && p->chomp != SIZE_MAX)
                value[p->chomp] = 0;
        if (!utf8_valid(key) || !utf8_valid(value)) {
                p->bad_line = p->key_line;
                free(key);
                free(value);
                return -EBADMSG;
        }
        if (p->f->n == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 16;
                ne = realloc(p->f->entries, p->cap * sizeof(*ne));
                if (!ne) {
                        free(key);
                        free(value);
                        return -ENOMEM;
                }
                p->f->entries = ne;
        }
        e = &p->f->entries[p->f->n++];
        *e = (EnvFileEntry) { .key = key, .value = value, .line = p->key_line, .start = p->start, .end = end,
                              .valid = envfile_name_valid(key) };
        return 0;
}

/* The character c at offset i in the states before the value. */
static int step_key(Parser *p, char c, size_t i) {
        switch (p->state) {
        case PRE_KEY:
                if (strchr(COMMENTS, c))
                        p->state = COMMENT;
                else if (!strchr(WHITESPACE, c)) {
                        p->state = KEY;
                        p->start = i;
                        p->key_line = p->line;
                        put(&p->key, c);
                }
                return 0;
        case KEY:
                if (strchr(NEWLINE, c)) {
                        /* No '=': not an assignment. */
                        p->state = PRE_KEY;
                        buf_free(&p->key);
                } else if (c == '=') {
                        p->state = PRE_VALUE;
                        p->chomp = SIZE_MAX;
                } else
                        put(&p->key, c);
                return 0;
        case PRE_VALUE:
                if (strchr(NEWLINE, c)) {
                        p->state = PRE_KEY;
                        return push(p, i, false);
                }
                if (c == '\'')
                        p->state = SQUOTE;
                else if (c == '"')
                        p->state = DQUOTE;
                else if (c == '\\')
                        p->state = VALUE_ESCAPE;
                else if (!strchr(WHITESPACE, c)) {
                        p->state = VALUE;
                        put(&p->value, c);
                }
                return 0;
        default:
                return -EINVAL;
        }
}

/* The character c at offset i in the value and comment states. */
static int step_value(Parser *p, char c, size_t i) {
        switch (p->state) {
        case VALUE:
                if (strchr(NEWLINE, c)) {
                        p->state = PRE_KEY;
                        return push(p, i, true);
                }
                if (c == '\\') {
                        p->state = VALUE_ESCAPE;
                        p->chomp = SIZE_MAX;
                        return 0;
                }
                if (!strchr(WHITESPACE, c))
                        p->chomp = SIZE_MAX;
                else if (p->chomp == SIZE_MAX)
                        p->chomp = p->value.len;
                put(&p->value, c);
                return 0;
        case VALUE_ESCAPE:
                p->state = VALUE;
                if (!strchr(NEWLINE, c))
                        put(&p->value, c);
                return 0;
        case SQUOTE:
                if (c == '\'')
                        p->state = PRE_VALUE;
                else
                        put(&p->value, c);
                return 0;
        case DQUOTE:
                if (c == '"')
                        p->state = PRE_VALUE;
                else if (c == '\\')
                        p->state = DQUOTE_ESCAPE;
                else
                        put(&p->value, c);
                return 0;
        case DQUOTE_ESCAPE:
                p->state = DQUOTE;
                if (strchr(DQUOTE_ESCAPED, c))
                        put(&p->value, c);
                else if (c != '\n') {
                        put(&p->value, '\\');
                        put(&p->value, c);
                }
                return 0;
        case COMMENT:
                if (c == '\\')
                        p->state = COMMENT_ESCAPE;
                else if (strchr(NEWLINE, c))
                        p->state = PRE_KEY;
                return 0;
        case COMMENT_ESCAPE:
                /* systemd 252: whatever follows the backslash, a newline too, stays in the comment. */
                p->state = COMMENT;
                return 0;
        default:
                return step_key(p, c, i);
        }
}

int envfile_parse(const char *text, EnvFile *ret, unsigned *ret_bad_line) {
        EnvFile f = { .text = strdup(text) };
        Parser p = { .f = &f, .state = PRE_KEY, .line = 1, .chomp = SIZE_MAX };
        size_t i;
        int r = 0;

        if (!f.text)
                return -ENOMEM;
        for (i = 0; text[i] && r >= 0; i++) {
                r = step_value(&p, text[i], i);
                if (text[i] == '\n')
                        p.line++;
        }
        if (r >= 0 && p.state != PRE_KEY && p.state != KEY && p.state != COMMENT && p.state != COMMENT_ESCAPE)
                r = push(&p, i, p.state == VALUE);
        buf_free(&p.key);
        buf_free(&p.value);
        if (r < 0) {
                if (r == -EBADMSG && ret_bad_line)
                        *ret_bad_line = p.bad_line;
                envfile_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

int envfile_read(const char *path, EnvFile *ret, unsigned *ret_bad_line) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = fs_read_file(path, &text);
        if (r < 0)
                return r;
        return envfile_parse(text, ret, ret_bad_line);
}

static const EnvFileEntry *effective(const EnvFile *f, const char *name) {
        for (size_t i = f->n; i > 0; i--)
                if (f->entries[i - 1].valid && streq(f->entries[i - 1].key, name))
                        return &f->entries[i - 1];
        return NULL;
}

const char *envfile_get(const EnvFile *f, const char *name) {
        const EnvFileEntry *e = effective(f, name);

        return e ? e->value : NULL;
}

static bool named_later(const EnvFile *f, size_t i) {
        for (size_t j = i + 1; j < f->n; j++)
                if (f->entries[j].valid && streq(f->entries[j].key, f->entries[i].key))
                        return true;
        return false;
}

int envfile_envp(const EnvFile *f, char *const *extra, char ***ret) {
        size_t n_extra = strv_length(extra), n = 0;
        _cleanup_strv_free_ char **v = calloc(n_extra + f->n + 1, sizeof(char *));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n_extra; i++) {
                size_t k = strcspn(extra[i], "=");
                char name[256];

                if (k >= sizeof(name))
                        continue;
                memcpy(name, extra[i], k);
                name[k] = 0;
                if (effective(f, name))
                        continue;
                v[n] = strdup(extra[i]);
                if (!v[n++])
                        return -ENOMEM;
        }
        for (size_t i = 0; i < f->n; i++) {
                if (!f->entries[i].valid || named_later(f, i))
                        continue;
                if (asprintf(&v[n], "%s=%s", f->entries[i].key, f->entries[i].value) < 0) {
                        v[n] = NULL;
                        return -ENOMEM;
                }
                n++;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

char *envfile_quote(const char *value) {
        static const char bare[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,:/@%+=";
        Buf b = {};

        if (*value && strspn(value, bare) == strlen(value))
                return strdup(value);
        put(&b, '"');
        for (const char *p = value; *p; p++) {
                if (strchr(DQUOTE_ESCAPED, *p))
                        put(&b, '\\');
                put(&b, *p);
        }
        put(&b, '"');
        return buf_steal(&b);
}

/* Whether after is before with name set to value and nothing else changed. */
static bool edit_is_exact(const EnvFile *before, const EnvFile *after, const char *name, const char *value) {
        const char *v = envfile_get(after, name);

        if (!v || !streq(v, value))
                return false;
        for (size_t i = 0; i < after->n; i++)
                if (after->entries[i].valid && !streq(after->entries[i].key, name) &&
                    !envfile_get(before, after->entries[i].key))
                        return false;
        for (size_t i = 0; i < before->n; i++) {
                const char *k = before->entries[i].key, *old;

                if (!before->entries[i].valid || streq(k, name))
                        continue;
                old = envfile_get(before, k);
                v = envfile_get(after, k);
                if (!v || !streq(v, old))
                        return false;
        }
        return true;
}

/* The text with [start, end) replaced by middle. */
static char *splice(const char *text, size_t start, size_t end, const char *prefix, const char *middle,
                    const char *suffix) {
        char *s = NULL;

        if (asprintf(&s, "%.*s%s%s%s%s", (int) start, text, prefix, middle, suffix, text + end) < 0)
                return NULL;
        return s;
}

static int try_edit(EnvFile *f, const char *name, const char *value, char *text) {
        EnvFile g = {};
        int r;

        if (!text)
                return -ENOMEM;
        r = envfile_parse(text, &g, NULL);
        free(text);
        if (r < 0)
                return r;
        if (!edit_is_exact(f, &g, name, value)) {
                envfile_done(&g);
                return -EBADMSG;
        }
        envfile_done(f);
        *f = g;
        return 0;
}

int envfile_set(EnvFile *f, const char *name, const char *value) {
        const EnvFileEntry *e = effective(f, name);
        _cleanup_free_ char *quoted = envfile_quote(value), *line = NULL;
        size_t len = strlen(f->text);
        int r;

        if (!envfile_name_valid(name))
                return -EINVAL;
        if (!quoted || asprintf(&line, "%s=%s", name, quoted) < 0)
                return -ENOMEM;
        if (e)
                return try_edit(f, name, value, splice(f->text, e->start, e->end, "", line, ""));
        /* A new last line; a file that ends in a comment continued by a backslash needs one more. */
        r = try_edit(f, name, value,
                     splice(f->text, len, len, len == 0 || f->text[len - 1] == '\n' ? "" : "\n", line, "\n"));
        if (r == -EBADMSG)
                r = try_edit(f, name, value, splice(f->text, len, len, "\n\n", line, "\n"));
        return r;
}

int envfile_write(const char *path, const char *text) {
        _cleanup_free_ char *real = realpath(path, NULL);
        struct stat st;
        int r;

        if (!real)
                return -errno;
        if (stat(real, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        r = fs_write_atomic(real, text, st.st_mode & 07777);
        if (r < 0)
                return r;
        /* The new file is ours (whoever runs this); give it back to whom the old one belonged. */
        if ((st.st_uid != geteuid() || st.st_gid != getegid()) && chown(real, st.st_uid, st.st_gid) < 0)
                return -errno;
        return 0;
}
