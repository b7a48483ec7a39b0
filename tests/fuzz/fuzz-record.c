/* SPDX-License-Identifier: MIT */
/*
 * The promotion record: record_parse(). Property: a record that parses formats (record_format())
 * to a text that parses to the same record.
 */
#include "fuzz.h"
#include "macro.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_quiet();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *again = NULL;
        PromotionRecord r = {}, back = {};

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = fuzz_string(data, size);
        if (record_parse(text, &r) < 0)
                return 0;

        again = record_format(&r);
        fuzz_assert(again);
        fuzz_assert(record_parse(again, &back) == 0);
        fuzz_assert(back.time == r.time && back.timeline == r.timeline && streq(back.lsn, r.lsn));
        fuzz_assert(streq(back.trigger_path ? back.trigger_path : "", r.trigger_path ? r.trigger_path : ""));
        fuzz_assert(trigger_id_equal(&back.trigger, &r.trigger));
        record_done(&r);
        record_done(&back);
        return 0;
}
