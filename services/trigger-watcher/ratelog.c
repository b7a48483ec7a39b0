/* SPDX-License-Identifier: MIT */
/* Rate-limiting of repeated log lines (ratelog.h). */
#include "ratelog.h"
#include "util.h"

bool ratelog_allow(RateLog *r, const char *line, uint64_t now, unsigned *ret_held) {
        uint64_t h = hash_fnv1a64(line);
        unsigned i;

        for (i = 0; i < RATELOG_SLOTS; i++)
                if (r->slot[i].used && r->slot[i].hash == h)
                        break;
        if (i == RATELOG_SLOTS) {
                /* A new line: a free slot, else the next in turn (the oldest taken). */
                for (i = 0; i < RATELOG_SLOTS && r->slot[i].used; i++)
                        ;
                if (i == RATELOG_SLOTS) {
                        i = r->next;
                        r->next = (r->next + 1) % RATELOG_SLOTS;
                }
                r->slot[i].used = true;
                r->slot[i].hash = h;
                r->slot[i].at = now;
                r->slot[i].held = 0;
                *ret_held = 0;
                return true;
        }
        if (now - r->slot[i].at < RATELOG_INTERVAL_USEC) {
                r->slot[i].held++;
                return false;
        }
        *ret_held = r->slot[i].held;
        r->slot[i].held = 0;
        r->slot[i].at = now;
        return true;
}
