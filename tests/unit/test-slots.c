/* SPDX-License-Identifier: MIT */
/*
 * The round of the partners' slots a standby keeps (slots.c): the SQL for
 * the first round (create, then learn the replay position), for later
 * ones (also advance the idle slots to the position learned before, only
 * forward), and none without another partner.
 */
#include <errno.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "slots.h"

static void test_rounds(void) {
        _cleanup_free_ char *first = NULL, *later = NULL, *empty = NULL;
        const char *why = NULL;
        Partners p;

        ASSERT_EQ(partners_parse("10.0.0.1,10.0.0.2:5433,10.0.0.3", 5432, &p, &why), 0);
        p.items[1].self = true;
        p.self = 1;

        ASSERT_EQ(slots_round_query(&p, NULL, &first), 0);
        ASSERT_STREQ(first, "SELECT count(pg_create_physical_replication_slot(s, true)) FROM "
                            "unnest('{pgrepl_10_0_0_1_5432,pgrepl_10_0_0_3_5432}'::name[]) s WHERE s NOT IN "
                            "(SELECT slot_name FROM pg_replication_slots); SELECT pg_last_wal_replay_lsn()");
        ASSERT_EQ(slots_round_query(&p, "", &empty), 0);
        ASSERT_STREQ(empty, first);

        ASSERT_EQ(slots_round_query(&p, "0/3000148", &later), 0);
        ASSERT_CONTAINS(later, "pg_replication_slot_advance(slot_name, '0/3000148'::pg_lsn)");
        ASSERT_CONTAINS(later, "slot_name = ANY('{pgrepl_10_0_0_1_5432,pgrepl_10_0_0_3_5432}'::name[]) "
                               "AND NOT active AND restart_lsn < '0/3000148'::pg_lsn;");
        /* The replay position is the last result, whatever comes before. */
        ASSERT_TRUE(strlen(later) > 31 && streq(later + strlen(later) - 31, "SELECT pg_last_wal_replay_lsn()"));
        /* This node's own slot is never among them. */
        ASSERT_TRUE(!strstr(later, "10_0_0_2"));
        partners_done(&p);

        ASSERT_EQ(partners_parse("10.0.0.2:5433", 5432, &p, &why), 0);
        p.items[0].self = true;
        ASSERT_EQ(slots_round_query(&p, "0/1", &later), -ENOENT);
        partners_done(&p);
}

int main(void) {
        test_rounds();
        return 0;
}
