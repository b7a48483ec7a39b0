/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "failover.h"

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

FailoverWord failover_parse(const char *text, size_t n) {
        size_t b = 0, e = n;

        while (b < e && is_blank(text[b]))
                b++;
        while (e > b && is_blank(text[e - 1]))
                e--;
        if (e - b == 6 && memcmp(text + b, "rejoin", 6) == 0)
                return FAILOVER_WORD_REJOIN;
        if (e - b == 5 && memcmp(text + b, "start", 5) == 0)
                return FAILOVER_WORD_START;
        return FAILOVER_WORD_UNKNOWN;
}

FailoverStep failover_decide(FailoverWord word, Role mode) {
        bool primary = mode == ROLE_PRIMARY;

        switch (word) {
        case FAILOVER_WORD_REJOIN:
                return primary ? FAILOVER_REJOIN : FAILOVER_START_STANDBY_REJOIN;
        case FAILOVER_WORD_START:
                return primary ? FAILOVER_START_PRIMARY : FAILOVER_START_STANDBY;
        case FAILOVER_WORD_UNKNOWN:
                break;
        }
        return FAILOVER_IGNORE;
}

void failover_printable(const char *text, size_t len, char *buf, size_t n) {
        size_t k = 0;

        if (n == 0)
                return;
        for (size_t i = 0; i < len && k + 1 < n; i++)
                buf[k++] = text[i] >= 0x20 && text[i] < 0x7f && text[i] != '\'' ? text[i] : '?';
        buf[k] = 0;
}
