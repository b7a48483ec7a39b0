/* SPDX-License-Identifier: MIT */
/*
 * What the server's last run died of: the FATAL or PANIC part of a journal
 * line, and the record the next start takes (read once, then gone), kept
 * over starts that pgrepl itself refused. The
 * journal scan itself runs on systemd hosts (tests/system).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assert.h"
#include "lastexit.h"
#include "macro.h"

static void test_extract(void) {
        char *s;

        s = lastexit_extract("2026-12-06 19:00:00.123 UTC [123] PANIC:  could not write to file "
                             "\"pg_wal/xlogtemp.123\": No space left on device");
        ASSERT_STREQ(s, "PANIC: could not write to file \"pg_wal/xlogtemp.123\": No space left on device");
        free(s);
        s = lastexit_extract("[9] FATAL:  the database system is starting up\t \n");
        ASSERT_STREQ(s, "FATAL: the database system is starting up");
        free(s);
        /* The first of the two words names the line. */
        s = lastexit_extract("x FATAL:  a PANIC: b");
        ASSERT_STREQ(s, "FATAL: a PANIC: b");
        free(s);
        ASSERT_TRUE(lastexit_extract("LOG:  database system is shut down") == NULL);
        ASSERT_TRUE(lastexit_extract("") == NULL);
}

static void test_take(void) {
        char dir[] = "/tmp/pgrepl-test-lastexit.XXXXXX", path[600], *line = NULL;
        char *env_ok[] = { "SERVICE_RESULT=success", NULL, NULL };
        char state[700];
        FILE *f;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_EQ(lastexit_read(dir, true, &line), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, LASTEXIT_FILE);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs("PANIC: out of space (exited 1, exit-code)\n", f);
        fclose(f);
        /* Left for later, then taken. */
        ASSERT_EQ(lastexit_read(dir, false, &line), 1);
        ASSERT_STREQ(line, "PANIC: out of space (exited 1, exit-code)");
        free(line);
        line = NULL;
        /* A failure with no line of its own (a start pgrepl refused) keeps the server's. */
        snprintf(state, sizeof(state), "STATE_DIRECTORY=%s", dir);
        {
                char *env[] = { "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=73", state, NULL };

                ASSERT_EQ(lastexit_record(env), 0);
        }
        ASSERT_EQ(lastexit_read(dir, true, &line), 1);
        ASSERT_STREQ(line, "PANIC: out of space (exited 1, exit-code)");
        free(line);
        line = NULL;
        /* Taken once. */
        ASSERT_EQ(lastexit_read(dir, true, &line), 0);

        /* A failure without a journal to read (no invocation) and no record: how it ended. */
        {
                char *env[] = { "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=1", state, NULL };

                ASSERT_EQ(lastexit_record(env), 0);
        }
        ASSERT_EQ(lastexit_read(dir, true, &line), 1);
        ASSERT_STREQ(line, "no FATAL or PANIC line in its log (exited 1, exit-code)");
        free(line);
        /* A clean stop removes an old record. */
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fclose(f);
        env_ok[1] = state;
        ASSERT_EQ(lastexit_record(env_ok), 0);
        ASSERT_TRUE(access(path, F_OK) < 0);
        /* Outside a unit (no state directory): nothing. */
        ASSERT_EQ(lastexit_record((char *[]) { "SERVICE_RESULT=exit-code", NULL }), 0);
        ASSERT_EQ(rmdir(dir), 0);
}

int main(void) {
        test_extract();
        test_take();
        return 0;
}
