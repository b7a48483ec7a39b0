/* SPDX-License-Identifier: MIT */
/*
 * POSTGRESQL_PARTNER_NODES: parsing (ports, IPv6 brackets, socket
 * directories, what is refused), derived slot names, this node's own
 * entry by address and port, and the multi-host lists for conninfo.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "partners.h"

static void test_parse(void) {
        Partners p;
        const char *why = NULL;

        ASSERT_EQ(partners_parse("10.0.0.5, pg2:5433,[2001:db8::1]:6000,[::1],/run/postgresql", 5432, &p, &why), 0);
        ASSERT_EQ(p.n, 5);
        ASSERT_STREQ(p.items[0].host, "10.0.0.5");
        ASSERT_EQ(p.items[0].port, 5432);
        ASSERT_STREQ(p.items[0].display, "10.0.0.5:5432");
        ASSERT_STREQ(p.items[1].host, "pg2");
        ASSERT_EQ(p.items[1].port, 5433);
        ASSERT_STREQ(p.items[2].host, "2001:db8::1");
        ASSERT_EQ(p.items[2].port, 6000);
        ASSERT_STREQ(p.items[2].display, "[2001:db8::1]:6000");
        ASSERT_STREQ(p.items[3].host, "::1");
        ASSERT_EQ(p.items[3].port, 5432);
        ASSERT_STREQ(p.items[4].host, "/run/postgresql");
        ASSERT_EQ(p.self, -1);
        partners_done(&p);
}

static void test_refused(void) {
        static const char *const bad[] = {
                "", " ", "a,,b", "a,", "pg1:0", "pg1:65536", "pg1:x", "2001:db8::1", "[2001:db8::1",
                "[::1]x", "pg 1", "pg1,pg1", "pg1:5432,pg1", "a;b", "pg1:5432:1",
                "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Partners p = { .self = -1 };
                const char *why = NULL;

                if (partners_parse(bad[i], 5432, &p, &why) != -EINVAL || !why) {
                        fprintf(stderr, "accepted: '%s'\n", bad[i]);
                        exit(1);
                }
        }
}

static void test_slot_names(void) {
        char *s = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        char longhost[80];

        ASSERT_EQ(partners_slot_name("10.0.0.5", 5432, &s), 0);
        ASSERT_STREQ(s, "pgrepl_10_0_0_5_5432");
        free(s);
        ASSERT_EQ(partners_slot_name("PG-2.example.org", 5433, &s), 0);
        ASSERT_STREQ(s, "pgrepl_pg_2_example_org_5433");
        free(s);
        memset(longhost, 'h', sizeof(longhost) - 1);
        longhost[sizeof(longhost) - 1] = 0;
        ASSERT_EQ(partners_slot_name(longhost, 5432, &a), 0);
        ASSERT_EQ(partners_slot_name(longhost, 5433, &b), 0);
        ASSERT_EQ(strlen(a), 63);
        ASSERT_TRUE(strcmp(a, b) != 0); /* the hash keeps two long entries apart */
        for (const char *c = a; *c; c++)
                ASSERT_TRUE((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_');
}

static void test_self(void) {
        Partners p;
        const char *why = NULL;
        _cleanup_free_ char *hosts = NULL, *ports = NULL;

        /* 192.0.2.1 (TEST-NET-1) is no address of this host; 127.0.0.1 is, on the right port only. */
        ASSERT_EQ(partners_parse("192.0.2.1:5432,127.0.0.1:5433,127.0.0.1:5434", 5432, &p, &why), 0);
        ASSERT_EQ(partners_find_self(&p, 5434), 2);
        ASSERT_TRUE(p.items[2].self && !p.items[1].self && !p.items[0].self);
        ASSERT_EQ(partners_conninfo_lists(&p, &hosts, &ports), 0);
        ASSERT_STREQ(hosts, "192.0.2.1,127.0.0.1");
        ASSERT_STREQ(ports, "5432,5433");
        ASSERT_EQ(partners_find_self(&p, 6000), -1);
        ASSERT_TRUE(!p.items[2].self);
        partners_done(&p);

        ASSERT_EQ(partners_parse("127.0.0.1:5433", 5432, &p, &why), 0);
        ASSERT_EQ(partners_find_self(&p, 5433), 0);
        ASSERT_EQ(partners_conninfo_lists(&p, &hosts, &ports), -ENOENT);
        partners_done(&p);
}

static void test_local_address(void) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(5432) };

        inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
        ASSERT_TRUE(partners_address_is_local((struct sockaddr *) &in, sizeof(in)));
        inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
        ASSERT_TRUE(!partners_address_is_local((struct sockaddr *) &in, sizeof(in)));
}

int main(void) {
        test_parse();
        test_refused();
        test_slot_names();
        test_self();
        test_local_address();
        return 0;
}
