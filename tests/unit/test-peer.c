/* SPDX-License-Identifier: MIT */
/*
 * The fence's verdict from what partners answered: clear, unchecked,
 * superseded by a later timeline or by a primary on this one (with the
 * fork point from its history), another cluster; and the history parser.
 */
#include <stdint.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "peer.h"

#define SYS 7000000000000000001ULL

static void test_history(void) {
        const char *h = "1\t0/3000000\tno recovery target specified\n\n# c\n2\t0/5000148\tx\n";
        uint64_t lsn = 0;

        ASSERT_EQ(peer_history_switchpoint(h, 1, &lsn), 1);
        ASSERT_TRUE(lsn == 0x3000000);
        ASSERT_EQ(peer_history_switchpoint(h, 2, &lsn), 1);
        ASSERT_TRUE(lsn == 0x5000148);
        ASSERT_EQ(peer_history_switchpoint(h, 3, &lsn), 0);
        ASSERT_EQ(peer_history_switchpoint(NULL, 1, &lsn), 0);
}

static PeerState st(bool answered, uint64_t sysid, unsigned tli, int in_recovery, const char *history) {
        return (PeerState) { .answered = answered, .sysid = sysid, .timeline = tli, .in_recovery = in_recovery,
                             .history = (char *) history };
}

static void test_decide(void) {
        const char *h2 = "1\t0/3000148\tno recovery target specified\n";
        size_t by = 99;
        uint64_t fork = 1;

        {       /* Nobody answered: unchecked. */
                PeerState s[] = { st(false, 0, 0, -1, NULL), st(false, 0, 0, -1, NULL) };
                ASSERT_EQ(peer_decide(SYS, 1, s, ELEMENTSOF(s), &by, &fork), PEER_UNCHECKED);
                ASSERT_TRUE(fork == 0);
        }
        {       /* Standbys on this node's timeline: clear (the ordinary restart of a primary). */
                PeerState s[] = { st(true, SYS, 1, 1, NULL), st(false, 0, 0, -1, NULL) };
                ASSERT_EQ(peer_decide(SYS, 1, s, ELEMENTSOF(s), &by, &fork), PEER_CLEAR);
        }
        {       /* A primary on an older timeline: this node is the newer one. */
                PeerState s[] = { st(true, SYS, 1, 0, NULL) };
                ASSERT_EQ(peer_decide(SYS, 2, s, ELEMENTSOF(s), &by, &fork), PEER_CLEAR);
        }
        {       /* The promoted standby: superseded, fork point from its history. */
                PeerState s[] = { st(true, SYS, 1, 1, NULL), st(true, SYS, 2, 0, h2) };
                ASSERT_EQ(peer_decide(SYS, 1, s, ELEMENTSOF(s), &by, &fork), PEER_SUPERSEDED);
                ASSERT_EQ(by, 1);
                ASSERT_TRUE(fork == 0x3000148);
        }
        {       /* Only a standby that followed the promotion answers: still superseded. */
                PeerState s[] = { st(false, 0, 0, -1, NULL), st(true, SYS, 2, 1, h2) };
                ASSERT_EQ(peer_decide(SYS, 1, s, ELEMENTSOF(s), &by, &fork), PEER_SUPERSEDED);
                ASSERT_EQ(by, 1);
        }
        {       /* A primary and its standby on the later timeline: the primary names it. */
                PeerState s[] = { st(true, SYS, 2, 1, h2), st(true, SYS, 2, 0, h2) };
                ASSERT_EQ(peer_decide(SYS, 1, s, ELEMENTSOF(s), &by, &fork), PEER_SUPERSEDED);
                ASSERT_EQ(by, 1);
        }
        {       /* A primary already running on this very timeline: never a second one. */
                PeerState s[] = { st(true, SYS, 3, 0, NULL) };
                ASSERT_EQ(peer_decide(SYS, 3, s, ELEMENTSOF(s), &by, &fork), PEER_SUPERSEDED);
                ASSERT_TRUE(fork == 0);
        }
        {       /* Role not known (PostgreSQL 13) on the same timeline: not taken for a primary. */
                PeerState s[] = { st(true, SYS, 3, -1, NULL) };
                ASSERT_EQ(peer_decide(SYS, 3, s, ELEMENTSOF(s), &by, &fork), PEER_CLEAR);
        }
        {       /* Another cluster among the partners. */
                PeerState s[] = { st(true, SYS, 1, 1, NULL), st(true, SYS + 1, 5, 0, NULL) };
                ASSERT_EQ(peer_decide(SYS, 1, s, ELEMENTSOF(s), &by, &fork), PEER_FOREIGN);
                ASSERT_EQ(by, 1);
        }
}

static void test_find_primary(void) {
        PeerState s[] = { st(true, SYS, 1, 0, NULL), st(false, 0, 0, -1, NULL), st(true, SYS, 2, 0, NULL),
                          st(true, SYS, 3, 1, NULL) };

        ASSERT_EQ(peer_find_primary(s, ELEMENTSOF(s)), 2);
        ASSERT_EQ(peer_find_primary(s + 3, 1), -1);
}

int main(void) {
        test_history();
        test_decide();
        test_find_primary();
        return 0;
}
