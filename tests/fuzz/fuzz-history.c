/* SPDX-License-Identifier: MIT */
/*
 * Timeline history files as a primary sends them ("<tli>\t<X/X>\t<reason>" lines):
 * peer_history_switchpoint() and follow_decide(). The first 16 bytes choose the timelines and the
 * position asked about, the rest is the file. Property: a verdict is 0 or 1, and 1 comes with a
 * sentence that fits its buffer.
 */
#include "follow.h"
#include "fuzz.h"
#include "macro.h"
#include "peer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_quiet();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *history = NULL;
        uint32_t tli = 1, primary_tli = 2;
        uint64_t lsn = 0, sw = 0;
        char buf[256], small[8];
        int r;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        if (size >= 16) {
                memcpy(&tli, data, 4);
                memcpy(&primary_tli, data + 4, 4);
                memcpy(&lsn, data + 8, 8);
                data += 16;
                size -= 16;
        }
        history = fuzz_string(data, size);

        r = peer_history_switchpoint(history, tli, &sw);
        fuzz_assert(r == 0 || r == 1);
        r = peer_history_switchpoint(history, tli % 4, &sw);
        fuzz_assert(r == 0 || r == 1);

        buf[0] = 0;
        r = follow_decide(tli, lsn, primary_tli, history, buf, sizeof(buf));
        fuzz_assert(r == 0 || r == 1);
        fuzz_assert(r == 0 || (buf[0] && memchr(buf, 0, sizeof(buf))));
        small[0] = 0;
        r = follow_decide(tli % 4, lsn, primary_tli % 4, primary_tli % 4 == 1 ? NULL : history, small,
                          sizeof(small));
        fuzz_assert(r == 0 || r == 1);
        fuzz_assert(memchr(small, 0, sizeof(small)));
        return 0;
}
