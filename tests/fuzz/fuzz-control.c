/* SPDX-License-Identifier: MIT */
/*
 * pg_controldata's output: control_parse(), and control_parse_lsn() on each line's value.
 * Property: an LSN that parses prints (LSN_FMT) to a text that parses back to it.
 */
#include "control.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_quiet();
        return 0;
}

static void check_lsn(const char *s) {
        uint64_t lsn, again;
        char text[32];

        if (control_parse_lsn(s, &lsn) < 0)
                return;
        snprintf(text, sizeof(text), LSN_FMT, LSN_ARGS(lsn));
        fuzz_assert(control_parse_lsn(text, &again) == 0 && again == lsn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        ControlData cd = {};
        char *save = NULL;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = fuzz_string(data, size);
        if (control_parse(text, &cd) == 0)
                for (size_t i = 0; control_param_name(i); i++)
                        (void) cd.values[i];

        check_lsn(text);
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(line, ':');

                check_lsn(colon ? colon + 1 + strspn(colon + 1, " ") : line);
        }
        return 0;
}
