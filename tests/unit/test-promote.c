/* SPDX-License-Identifier: MIT */
/*
 * The trigger watcher's server side (promote.c) without a server: the
 * status query and the session set-up each major version gets, parsing its
 * row, the STATUS= text, classifying pg_promote()'s answers, and the
 * timeline of a WAL file name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "promote.h"

static void test_queries_by_version(void) {
        static const struct {
                int version;
                const char *received_col; /* NULL: unsupported */
                bool has_trigger_setting;
        } cases[] = {
                { 110000, NULL, false },  { 120000, "w.received_lsn", true }, { 120017, "w.received_lsn", true },
                { 130000, "w.flushed_lsn", true }, { 140010, "w.flushed_lsn", true },
                { 150007, "w.flushed_lsn", true }, { 160000, "w.flushed_lsn", false },
                { 170002, "w.flushed_lsn", false }, { 180000, "w.flushed_lsn", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *q = promote_status_query(cases[i].version);

                if (!cases[i].received_col) {
                        ASSERT_TRUE(q == NULL);
                        continue;
                }
                ASSERT_CONTAINS(q, cases[i].received_col);
                ASSERT_CONTAINS(q, "pg_is_in_recovery()");
                ASSERT_CONTAINS(q, "pg_stat_wal_receiver");
                ASSERT_CONTAINS(q, "pg_last_wal_replay_lsn()");
                /* 12 has no flushed_lsn, 13 on have no received_lsn. */
                ASSERT_TRUE(!strstr(q, cases[i].version < 130000 ? "flushed_lsn" : "received_lsn"));
                /* promote_trigger_file is gone in 16: asking for it would be an error there. */
                ASSERT_EQ(strstr(q, "promote_trigger_file") != NULL, cases[i].has_trigger_setting);
        }
}

static void test_session_by_version(void) {
        /* idle_session_timeout exists from 14 on; SET on 12 or 13 would fail the session set-up. */
        static const struct {
                int version;
                bool sets;
        } cases[] = {
                { 120000, false }, { 130013, false }, { 139999, false }, { 140000, true },
                { 150007, true },  { 160000, true },  { 170002, true },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *q = promote_session_query(cases[i].version);

                if (!cases[i].sets) {
                        ASSERT_TRUE(q == NULL);
                        continue;
                }
                ASSERT_STREQ(q, "SET idle_session_timeout = 0");
        }
}

static void test_parse_state(void) {
        const char *streaming[] = { "t", "streaming", "10.0.0.1", "5432", "1024", "", "1200", "60000" };
        const char *v6[] = { "t", "streaming", "fd00::1", "5433", "0", NULL, "0", "60000" };
        const char *no_receiver[] = { "t", NULL, NULL, NULL, "0", NULL, NULL, "60000" };
        const char *waiting[] = { "t", "waiting", "db1", "5432", "-5", NULL, "40000", "60000" };
        const char *primary[] = { "f", NULL, NULL, NULL, NULL, NULL, NULL, "60000" };
        const char *bad[] = { "maybe", NULL, NULL, NULL, NULL, NULL, NULL, NULL };
        const char *bad_lag[] = { "t", NULL, NULL, NULL, "12x", NULL, NULL, NULL };
        const char *bad_age[] = { "t", "streaming", "db1", "5432", "0", NULL, "12 s", "60000" };
        /* A link cut: streaming as far as the WAL receiver knows, nothing for 15 s, not yet past its ping. */
        const char *cut[] = { "t", "streaming", "db1", "5432", "0", NULL, "15400", "60000" };
        /* Past half of wal_receiver_timeout and the margin: the ping went unanswered. */
        const char *unanswered[] = { "t", "streaming", "db1", "5432", "0", NULL, "33001", "60000" };
        const char *no_timeout[] = { "t", "streaming", "db1", "5432", "0", NULL, "90000", "0" };
        StandbyState s;
        char *d;

        ASSERT_EQ(promote_parse_state(streaming, PROMOTE_STATE_COLUMNS, &s), 0);
        ASSERT_TRUE(s.in_recovery);
        ASSERT_STREQ(s.upstream, "10.0.0.1:5432");
        ASSERT_EQ(s.lag, 1024);
        ASSERT_STREQ(s.trigger_setting, "");
        d = promote_describe(&s);
        ASSERT_STREQ(d, "standby of '10.0.0.1:5432', streaming, replay lag 1024 bytes");
        free(d);
        promote_state_done(&s);

        ASSERT_EQ(promote_parse_state(v6, PROMOTE_STATE_COLUMNS, &s), 0);
        ASSERT_STREQ(s.upstream, "[fd00::1]:5433");
        ASSERT_TRUE(s.trigger_setting == NULL);
        promote_state_done(&s);

        ASSERT_EQ(promote_parse_state(no_receiver, PROMOTE_STATE_COLUMNS, &s), 0);
        d = promote_describe(&s);
        ASSERT_STREQ(d, "standby, not streaming (no WAL receiver), replay lag 0 bytes");
        free(d);
        promote_state_done(&s);

        /* Replay ahead of receipt (WAL from an archive) is no lag. */
        ASSERT_EQ(promote_parse_state(waiting, PROMOTE_STATE_COLUMNS, &s), 0);
        ASSERT_EQ(s.lag, 0);
        d = promote_describe(&s);
        ASSERT_STREQ(d, "standby of 'db1:5432', not streaming (WAL receiver waiting), replay lag 0 bytes");
        free(d);
        promote_state_done(&s);

        ASSERT_EQ(promote_parse_state(primary, PROMOTE_STATE_COLUMNS, &s), 0);
        ASSERT_TRUE(!s.in_recovery);
        ASSERT_EQ(s.lag, -1);
        d = promote_describe(&s);
        ASSERT_CONTAINS(d, "not in recovery");
        free(d);
        promote_state_done(&s);

        ASSERT_EQ(promote_parse_state(bad, PROMOTE_STATE_COLUMNS, &s), -EBADMSG);
        ASSERT_EQ(promote_parse_state(bad_lag, PROMOTE_STATE_COLUMNS, &s), -EBADMSG);
        ASSERT_EQ(promote_parse_state(bad_age, PROMOTE_STATE_COLUMNS, &s), -EBADMSG);

        ASSERT_EQ(promote_parse_state(cut, PROMOTE_STATE_COLUMNS, &s), 0);
        ASSERT_EQ(s.silent_ms, 15400);
        d = promote_describe(&s);
        ASSERT_STREQ(d, "standby of 'db1:5432', streaming, replay lag 0 bytes, last message from upstream 15 s ago");
        free(d);
        promote_state_done(&s);
        ASSERT_EQ(promote_parse_state(unanswered, PROMOTE_STATE_COLUMNS, &s), 0);
        d = promote_describe(&s);
        ASSERT_STREQ(d, "standby of 'db1:5432', upstream silent for 33 s (no answer to the WAL receiver's ping; it "
                        "gives up after 60 s), replay lag 0 bytes");
        free(d);
        promote_state_done(&s);
        ASSERT_EQ(promote_parse_state(no_timeout, PROMOTE_STATE_COLUMNS, &s), 0);
        d = promote_describe(&s);
        ASSERT_STREQ(d, "standby of 'db1:5432', streaming, replay lag 0 bytes, last message from upstream 90 s ago");
        free(d);
        promote_state_done(&s);
        ASSERT_EQ(promote_parse_state(streaming, PROMOTE_STATE_COLUMNS - 1, &s), -EBADMSG);
}

static void test_classify(void) {
        ASSERT_EQ(promote_classify(PGRES_TUPLES_OK, NULL, "t"), PROMOTE_DONE);
        /* false: "server did not promote within N seconds", still pending. */
        ASSERT_EQ(promote_classify(PGRES_TUPLES_OK, NULL, "f"), PROMOTE_PENDING);
        ASSERT_EQ(promote_classify(PGRES_TUPLES_OK, NULL, NULL), PROMOTE_FAILED);
        /* "recovery is not in progress" */
        ASSERT_EQ(promote_classify(PGRES_FATAL_ERROR, "55000", NULL), PROMOTE_NOT_IN_RECOVERY);
        ASSERT_EQ(promote_classify(PGRES_FATAL_ERROR, "57P01", NULL), PROMOTE_FAILED);
        ASSERT_EQ(promote_classify(PGRES_FATAL_ERROR, NULL, NULL), PROMOTE_FAILED);
        ASSERT_EQ(promote_classify(PGRES_FATAL_ERROR, "42501", NULL), PROMOTE_FAILED);
}

static void test_timeline(void) {
        unsigned tli = 0;
        char *e;

        ASSERT_EQ(promote_parse_timeline("000000020000000000000003", &tli), 0);
        ASSERT_EQ(tli, 2);
        ASSERT_EQ(promote_parse_timeline("0000001A00000001000000FF", &tli), 0);
        ASSERT_EQ(tli, 26);
        ASSERT_EQ(promote_parse_timeline("00000002000000000000000", &tli), -EBADMSG);
        ASSERT_EQ(promote_parse_timeline("00000000000000000000000A", &tli), -EBADMSG);
        ASSERT_EQ(promote_parse_timeline("0000000Z0000000000000003", &tli), -EBADMSG);

        e = promote_error_line("ERROR:  recovery is not in progress\nHINT:  ...\n");
        ASSERT_STREQ(e, "ERROR:  recovery is not in progress HINT:  ...");
        free(e);
}

int main(void) {
        test_queries_by_version();
        test_session_by_version();
        test_parse_state();
        test_classify();
        test_timeline();
        return 0;
}
