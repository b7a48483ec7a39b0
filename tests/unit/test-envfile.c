/* SPDX-License-Identifier: MIT */
/*
 * Env files as systemd 252's EnvironmentFile= reads them, table-driven: each text with the
 * environment systemd makes of it (checked by hand against systemd 252's own parser, through
 * systemd-environment-d-generator, whose reader is the same state machine); quoting that reads
 * back; edits that keep every other byte; atomic writes that keep mode and owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "envfile.h"
#include "fs.h"
#include "macro.h"
#include "util.h"

/* text → "K=V|K=V|..." (the environment, in file order of each name's last assignment). */
static const struct {
        const char *text;
        const char *env;
} parse_cases[] = {
        { "", "" },
        { "A=1", "A=1" },
        { "A=1\nB=2\n", "A=1|B=2" },
        { "  A=1\n\n\t\tB = 2  \n", "A=1|B=2" },
        { "# comment\n; also\n   # indented\nA=1\n", "A=1" },
        { "A=a #b\n", "A=a #b" },                            /* no inline comments */
        { "G=  spaced  value  \n", "G=spaced  value" },      /* leading and trailing white space dropped */
        { "Q=\n", "Q=" },
        { "R=\"\"\n", "R=" },
        { "noequals\nA=1\n", "A=1" },
        { "A=dup1\nB=x\nA=dup2\n", "B=x|A=dup2" },           /* the last one wins */
        { "export P=1\n1V=bad\nA-B=c\nOK=1\n", "OK=1" },     /* invalid names are ignored */
        { "S=1\r\nT=2\r\n", "S=1|T=2" },
        /* Quotes. */
        { "A='single $x \\n \"q\"'\n", "A=single $x \\n \"q\"" },
        { "A=\"x\\$y\"\n", "A=x$y" },
        { "A=\"p\\zq\"\n", "A=p\\zq" },                      /* other backslashes stay in double quotes */
        { "A=\"a\\\\b\"\n", "A=a\\b" },
        { "A=\"say \\\"hi\\\" `w`\"\n", "A=say \"hi\" `w`" },
        { "A=\"multi\nline\"\n", "A=multi\nline" },
        { "A='multi\nline'\n", "A=multi\nline" },
        { "N=\"x\"  \"y\"\n", "N=xy" },
        { "L=\"q1\"tail\n", "L=q1tail" },
        { "M=a'b c'd\n", "M=a'b c'd" },                      /* quotes inside an unquoted value are literal */
        { "A=\"  padded  \"\n", "A=  padded  " },
        { "W=\"unterminated", "W=unterminated" },
        { "W='unterminated\nB=2\n", "W=unterminated\nB=2\n" },
        /* Backslashes outside quotes. */
        { "F=a\\\\b\n", "F=a\\b" },
        { "I=x\\\ny\n", "I=xy" },                            /* continuation */
        { "I=x \\\n  y\n", "I=x   y" },
        { "E=a\\ \n", "E=a " },                              /* an escaped trailing blank is kept */
        { "A=\"x\\\ny\"\n", "A=xy" },
        { "A=\\'q\\'\n", "A='q'" },
        { "A=end\\", "A=end" },
        /* A comment ending in a backslash swallows the next line (systemd 252). */
        { "# c \\\nC=1\nD=2\n", "D=2" },
        { "# c \\\r\nC=1\n", "C=1" },
        { "A=1\n# tail", "A=1" },
        /* UTF-8 is fine. */
        { "A=h\xc3\xa9llo \xe2\x82\xac\n", "A=h\xc3\xa9llo \xe2\x82\xac" },
};

static char *joined(const EnvFile *f) {
        _cleanup_strv_free_ char **env = NULL;
        Buf b = {};

        ASSERT_EQ(envfile_envp(f, NULL, &env), 0);
        for (size_t i = 0; env[i]; i++)
                buf_printf(&b, "%s%s", i ? "|" : "", env[i]);
        return buf_steal(&b);
}

static void test_parse(void) {
        for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
                _cleanup_free_ char *got = NULL;
                EnvFile f = {};

                if (envfile_parse(parse_cases[i].text, &f, NULL) < 0) {
                        fprintf(stderr, "case %zu: parse failed\n", i);
                        exit(1);
                }
                got = joined(&f);
                if (!streq(got, parse_cases[i].env)) {
                        fprintf(stderr, "case %zu: '%s'\n  got      '%s'\n  expected '%s'\n", i, parse_cases[i].text,
                                got, parse_cases[i].env);
                        exit(1);
                }
                envfile_done(&f);
        }
}

static void test_positions(void) {
        const char *text = "# head\n  A = 1  \nB=\"two\nlines\"\r\nC=3";
        EnvFile f = {};

        ASSERT_EQ(envfile_parse(text, &f, NULL), 0);
        ASSERT_EQ(f.n, 3);
        ASSERT_EQ(f.entries[0].line, 2);
        ASSERT_EQ(f.entries[0].start, 9);
        ASSERT_EQ(text[f.entries[0].end], '\n');
        ASSERT_EQ(f.entries[1].line, 3);
        ASSERT_EQ(text[f.entries[1].start], 'B');
        ASSERT_EQ(text[f.entries[1].end], '\r');
        ASSERT_EQ(f.entries[2].line, 5);
        ASSERT_EQ(f.entries[2].end, strlen(text));
        ASSERT_STREQ(envfile_get(&f, "B"), "two\nlines");
        ASSERT_TRUE(!envfile_get(&f, "D"));
        envfile_done(&f);
}

static void test_invalid_utf8(void) {
        static const char *const bad[] = {
                "A=1\nB=\xff\n", "A=1\nB=\xc0\xaf\n", "A=1\nB=\xed\xa0\x80\n", "A=1\nB=\xef\xbf\xbe\n",
                "A=1\nB=\xe2\x82\n", "A=1\nB\xc3=1\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned line = 0;
                EnvFile f = {};

                ASSERT_EQ(envfile_parse(bad[i], &f, &line), -EBADMSG);
                ASSERT_EQ(line, 2);
        }
}

static void test_envp_extra(void) {
        char *extra[] = { "PGREPL_ENV_FILE=/etc/pgrepl/x.env", "A=from-extra", NULL };
        _cleanup_strv_free_ char **env = NULL;
        EnvFile f = {};

        ASSERT_EQ(envfile_parse("A=from-file\nB=2\n", &f, NULL), 0);
        ASSERT_EQ(envfile_envp(&f, extra, &env), 0);
        ASSERT_EQ(strv_length(env), 3);
        ASSERT_STREQ(strv_env_get(env, "A"), "from-file");
        ASSERT_STREQ(strv_env_get(env, "PGREPL_ENV_FILE"), "/etc/pgrepl/x.env");
        envfile_done(&f);
}

static void test_quote_reads_back(void) {
        static const char *const values[] = {
                "10.0.0.5", "pg-1.example.com", "slave", "", "two words", "a\"b", "back\\slash", "$HOME", "`x`",
                "it's", "#notcomment", ";x", "tab\there", "multi\nline", "  lead", "trail  ", "fe80::1%eth0",
        };

        static const char *const quoted[][2] = { { "10.0.0.5", "10.0.0.5" }, { "a b", "\"a b\"" }, { "$x", "\"\\$x\"" } };

        for (size_t i = 0; i < ELEMENTSOF(quoted); i++) {
                _cleanup_free_ char *q = envfile_quote(quoted[i][0]);

                ASSERT_STREQ(q, quoted[i][1]);
        }
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_free_ char *q = envfile_quote(values[i]), *text = NULL;
                EnvFile f = {};

                ASSERT_TRUE(asprintf(&text, "K=%s\n", q) > 0);
                ASSERT_EQ(envfile_parse(text, &f, NULL), 0);
                ASSERT_STREQ(envfile_get(&f, "K"), values[i]);
                envfile_done(&f);
        }
}

/* before, name, value → the whole new text (NULL: refused). */
static const struct {
        const char *before, *name, *value, *after;
} edit_cases[] = {
        { "A=1\nPOSTGRESQL_MASTER_HOST=old\n# keep  me\nB=2\n", "POSTGRESQL_MASTER_HOST", "10.0.0.9",
          "A=1\nPOSTGRESQL_MASTER_HOST=10.0.0.9\n# keep  me\nB=2\n" },
        /* White space before the key, CRLF, and an overridden earlier line all stay. */
        { "H=first\r\n\t H = \"second\" \r\nZ=z", "H", "third", "H=first\r\n\t H=third\r\nZ=z" },
        /* A value over several lines is replaced whole. */
        { "A='x\ny'\nB=2\n", "A", "new", "A=new\nB=2\n" },
        { "I=x\\\ny\nB=2\n", "I", "a b", "I=\"a b\"\nB=2\n" },
        /* Absent: a line at the end, after a newline when the file has none. */
        { "A=1\n", "NEW", "v", "A=1\nNEW=v\n" },
        { "A=1", "NEW", "v", "A=1\nNEW=v\n" },
        { "", "NEW", "v", "NEW=v\n" },
        { "# only \\", "NEW", "v", "# only \\\n\nNEW=v\n" },
        /* An invalid name's line is not the variable. */
        { "export A=1\n", "A", "2", "export A=1\nA=2\n" },
        /* A file that ends inside quotes cannot take a line without changing the value. */
        { "A=\"open\n", "B", "1", NULL },
        { "A=1\n", "bad-name", "1", NULL },
};

static void test_edit(void) {
        for (size_t i = 0; i < ELEMENTSOF(edit_cases); i++) {
                EnvFile f = {};
                int r;

                ASSERT_EQ(envfile_parse(edit_cases[i].before, &f, NULL), 0);
                r = envfile_set(&f, edit_cases[i].name, edit_cases[i].value);
                if (!edit_cases[i].after) {
                        ASSERT_TRUE(r < 0);
                        ASSERT_STREQ(f.text, edit_cases[i].before);
                } else {
                        if (r < 0)
                                fprintf(stderr, "edit case %zu failed: %s\n", i, strerror(-r));
                        ASSERT_EQ(r, 0);
                        ASSERT_STREQ(f.text, edit_cases[i].after);
                }
                envfile_done(&f);
        }
}

static void test_write_keeps_mode_and_link(void) {
        char dir[] = "/tmp/test-envfile-XXXXXX";
        _cleanup_free_ char *path = NULL, *link = NULL, *back = NULL;
        struct stat st;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_TRUE(asprintf(&path, "%s/x.env", dir) > 0 && asprintf(&link, "%s/link.env", dir) > 0);
        ASSERT_EQ(fs_write_atomic(path, "A=1\n", 0640), 0);
        ASSERT_EQ(symlink(path, link), 0);
        ASSERT_EQ(envfile_write(link, "A=2\n"), 0);
        ASSERT_EQ(lstat(link, &st), 0);
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0640);
        ASSERT_EQ(fs_read_file(path, &back), 0);
        ASSERT_STREQ(back, "A=2\n");
        ASSERT_EQ(envfile_write(dir, "A=3\n"), -EISDIR);
        (void) unlink(link);
        (void) unlink(path);
        (void) rmdir(dir);
}

int main(void) {
        test_parse();
        test_positions();
        test_invalid_utf8();
        test_envp_extra();
        test_quote_reads_back();
        test_edit();
        test_write_keeps_mode_and_link();
        return 0;
}
