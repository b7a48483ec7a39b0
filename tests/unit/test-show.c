/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl status` output from a report made by hand: the whole table (no colour, and that
 * colour only adds escape codes), the whole JSON of a small report and the pieces of a larger
 * one, and the number formats.
 */
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "health.h"
#include "macro.h"
#include "show.h"

static char *sdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static void test_formats(void) {
        static const struct {
                int64_t n;
                const char *s;
        } bytes[] = {
                { -1, "-" }, { 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" }, { 1536, "1.5 KiB" },
                { 16 * 1024 * 1024, "16.0 MiB" }, { 5LL * 1024 * 1024 * 1024, "5.0 GiB" },
        };
        char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(bytes); i++) {
                show_bytes(bytes[i].n, buf, sizeof(buf));
                ASSERT_STREQ(buf, bytes[i].s);
        }
        show_lsn(0, buf, sizeof(buf));
        ASSERT_STREQ(buf, "-");
        show_lsn(0x16B374D848ULL, buf, sizeof(buf));
        ASSERT_STREQ(buf, "16/B374D848");
        show_time(1714564800, buf, sizeof(buf));
        ASSERT_STREQ(buf, "2024-05-01 12:00:00 UTC");
}

static void units(InstanceReport *i, const char *primary, const char *standby, const char *trigger) {
        const char *states[] = { primary, standby, trigger };
        static const char *const kinds[] = { "primary", "standby", "trigger" };

        for (size_t k = 0; k < REPORT_UNITS; k++) {
                char n[64];

                snprintf(n, sizeof(n), "pgrepl-%s@%s", kinds[k], i->name);
                i->units[k].name = sdup(n);
                i->units[k].active = sdup(states[k]);
                if (!streq(states[k], "unknown")) {
                        i->units[k].sub = sdup(streq(states[k], "active") ? "running" : "dead");
                        i->units[k].enabled = sdup(streq(states[k], "active") ? "enabled" : "disabled");
                }
        }
}

/* A primary with a slot and a replica, a standby with partners and a promotion record, and one
 * that could not be read. */
static void make(Report *r) {
        InstanceReport *i = report_add(r);
        ServerState *s;

        i->name = sdup("main");
        i->env_file = sdup("/etc/pgrepl/main.env");
        i->mode_primary = true;
        units(i, "active", "inactive", "inactive");
        i->units[0].status = sdup("primary on port 5432");
        s = &i->server;
        *s = (ServerState) { .checked = true, .reachable = true, .sysid = 7, .timeline = 2, .write_lsn = 0x3000148,
                             .lag_bytes = -1, .lag_seconds = -1, .n_slots = 1, .n_replicas = 1 };
        s->slots = calloc(1, sizeof(SlotState));
        s->slots[0] = (SlotState) { sdup("pgrepl_10_0_0_2_5432"), true, sdup("reserved"), 0 };
        s->replicas = calloc(1, sizeof(ReplicaState));
        s->replicas[0] = (ReplicaState) { sdup("walreceiver"), sdup("10.0.0.2"), sdup("streaming"), sdup("async"),
                                          sdup("pgrepl_10_0_0_2_5432"), 0x3000148, 0, 0.25 };

        i = report_add(r);
        i->name = sdup("replica");
        i->env_file = sdup("/etc/pgrepl/replica.env");
        units(i, "unknown", "unknown", "unknown");
        s = &i->server;
        *s = (ServerState) { .checked = true, .reachable = true, .sysid = 7, .in_recovery = true, .timeline = 2,
                             .write_lsn = 0x3000148, .replay_lsn = 0x3000100, .lag_bytes = 72, .lag_seconds = 1.5,
                             .upstream = sdup("10.0.0.1:5432"), .upstream_host = sdup("10.0.0.1"), .upstream_port = 5432,
                             .receiver_status = sdup("streaming") };
        i->has_promotion = true;
        i->promotion = (PromotionRecord) { .time = 1714564800, .timeline = 2, .lsn = "0/3000148",
                                           .trigger_path = sdup("/tmp/postgresql.trigger.5432") };
        i->n_members = 2;
        i->members = calloc(2, sizeof(MemberState));
        i->members[0] = (MemberState) { sdup("10.0.0.1:5432"), sdup("10.0.0.1"), 5432, sdup("pgrepl_10_0_0_1_5432"), false,
                                        { .answered = true, .sysid = 7, .timeline = 2, .lsn = 0x3000148, .in_recovery = 0 },
                                        -1, true, NULL, NULL };
        i->members[1] = (MemberState) { sdup("10.0.0.3:5432"), sdup("10.0.0.3"), 5432, sdup("pgrepl_10_0_0_3_5432"), true,
                                        { .answered = false, .reason = "connection refused", .in_recovery = -1 },
                                        -1, true, NULL, NULL };

        i = report_add(r);
        i->name = sdup("broken");
        i->env_file = sdup("/etc/pgrepl/broken.env");
        i->error = sdup("the configuration is not valid (the reasons are on stderr)");
}

static const char table[] =
        "main (primary, /etc/pgrepl/main.env)\n"
        "  units      pgrepl-primary@main  active (running)  enabled  primary on port 5432\n"
        "  server     primary, timeline 2, write 0/3000148\n"
        "  slots      NAME                  ACTIVE  WAL STATUS  RETAINED\n"
        "             pgrepl_10_0_0_2_5432  yes     reserved    0 B\n"
        "  replicas   NAME         CLIENT    STATE      SYNC   REPLAY     LAG\n"
        "             walreceiver  10.0.0.2  streaming  async  0/3000148  0 B\n"
        "\n"
        "replica (standby, /etc/pgrepl/replica.env)\n"
        "  units      unknown (systemd is not running)\n"
        "  server     standby, timeline 2, write 0/3000148, replay 0/3000100\n"
        "  upstream   10.0.0.1:5432, streaming\n"
        "  lag        72 B, 1.5 s\n"
        "  slots      none\n"
        "  promotion  2024-05-01 12:00:00 UTC, timeline 2, LSN 0/3000148, trigger /tmp/postgresql.trigger.5432\n"
        "  partners      MEMBER         ROLE     STATE        TL  LSN        LAG  SYNC\n"
        "                10.0.0.1:5432  primary  running      2   0/3000148\n"
        "             *  10.0.0.3:5432  -        unreachable  -   -          -    -     connection refused\n"
        "\n"
        "broken (/etc/pgrepl/broken.env)\n"
        "  error      the configuration is not valid (the reasons are on stderr)\n"
        "\n"
        "warning: partner '10.0.0.3:5432' is unreachable: connection refused\n";

static void test_table(void) {
        _cleanup_free_ char *plain = NULL, *coloured = NULL;
        Report r = {};

        make(&r);
        ASSERT_EQ(health_check(&r), 0);
        plain = show_table(&r, false);
        ASSERT_STREQ(plain, table);
        coloured = show_table(&r, true);
        ASSERT_CONTAINS(coloured, "\033[32mactive (running)\033[0m");
        ASSERT_CONTAINS(coloured, "\033[33mwarning:\033[0m partner");
        ASSERT_TRUE(!strchr(plain, '\033'));
        report_done(&r);
}

static void test_json(void) {
        _cleanup_free_ char *small = NULL, *big = NULL;
        Report r = {};
        InstanceReport *i = report_add(&r);

        i->name = sdup("x\"y");
        i->env_file = sdup("/e/x.env");
        i->error = sdup("bad\nline\t");
        small = show_json(&r);
        ASSERT_STREQ(small, "{\"schema\":1,\"verdict\":\"error\",\"instances\":[{\"name\":\"x\\\"y\",\"env_file\":"
                            "\"/e/x.env\",\"error\":\"bad\\nline\\u0009\",\"mode\":null}],\"warnings\":[]}\n");
        report_done(&r);

        make(&r);
        ASSERT_EQ(health_check(&r), 0);
        big = show_json(&r);
        ASSERT_CONTAINS(big, "{\"schema\":1,\"verdict\":\"error\",\"instances\":[{\"name\":\"main\"");
        ASSERT_CONTAINS(big, "\"units\":[{\"name\":\"pgrepl-primary@main\",\"active_state\":\"active\","
                             "\"sub_state\":\"running\",\"unit_file_state\":\"enabled\",\"status_text\":\"primary on port 5432\"}");
        ASSERT_CONTAINS(big, "\"server\":{\"checked\":true,\"reachable\":true,\"reason\":null,\"system_identifier\":\"7\","
                             "\"role\":\"primary\",\"timeline\":2,\"write_lsn\":\"0/3000148\",\"replay_lsn\":null,"
                             "\"upstream\":null,\"lag_bytes\":null,\"lag_seconds\":null,\"slots\":[{\"name\":"
                             "\"pgrepl_10_0_0_2_5432\",\"active\":true,\"wal_status\":\"reserved\",\"retained_bytes\":0}]");
        ASSERT_CONTAINS(big, "\"replicas\":[{\"application_name\":\"walreceiver\",\"client_addr\":\"10.0.0.2\","
                             "\"state\":\"streaming\",\"sync_state\":\"async\",\"slot\":\"pgrepl_10_0_0_2_5432\","
                             "\"replay_lsn\":\"0/3000148\",\"lag_bytes\":0,\"lag_seconds\":0.250}]");
        ASSERT_CONTAINS(big, "\"upstream\":{\"host\":\"10.0.0.1\",\"port\":5432,\"status\":\"streaming\",\"streaming\":true}");
        ASSERT_CONTAINS(big, "\"promotion\":{\"time\":1714564800,\"time_utc\":\"2024-05-01 12:00:00 UTC\",\"timeline\":2,"
                             "\"lsn\":\"0/3000148\",\"trigger_path\":\"/tmp/postgresql.trigger.5432\"}");
        ASSERT_CONTAINS(big, "{\"member\":\"10.0.0.3:5432\",\"host\":\"10.0.0.3\",\"port\":5432,\"self\":true,"
                             "\"slot\":\"pgrepl_10_0_0_3_5432\",\"reachable\":false,\"reason\":\"connection refused\","
                             "\"role\":null,\"timeline\":null,\"lsn\":null,\"lag_bytes\":null,\"state\":null,\"sync_state\":null}");
        ASSERT_CONTAINS(big, "{\"name\":\"broken\",\"env_file\":\"/etc/pgrepl/broken.env\",\"error\":\"the configuration "
                             "is not valid (the reasons are on stderr)\",\"mode\":null}");
        ASSERT_CONTAINS(big, "\"warnings\":[{\"instance\":null,\"text\":\"partner '10.0.0.3:5432' is unreachable: connection refused\"}]}\n");
        report_done(&r);
}

int main(void) {
        test_formats();
        test_table();
        test_json();
        return 0;
}
