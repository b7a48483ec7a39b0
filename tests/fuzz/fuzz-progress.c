/* SPDX-License-Identifier: MIT */
/*
 * pg_basebackup's --progress --verbose stderr: progress_parse() and progress_phase_of() per line,
 * and the whole text through progress_follow() (read from a memfd as from the pipe). Property: a
 * progress line gives a percent of at most 100, and the status it makes fits its buffer.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "macro.h"
#include "progress.h"

static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fd = memfd_create("pgrepl-fuzz-progress", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        unsetenv("NOTIFY_SOCKET");
        fuzz_quiet();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        Progress p;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = fuzz_string(data, size);

        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t) size || lseek(fd, 0, SEEK_SET) < 0)
                abort();
        progress_init(&p, "primary:5432");
        (void) progress_follow(&p, fd);
        fuzz_assert(p.percent <= 100);
        progress_done(&p);

        for (char *line = strtok_r(text, "\n\r", &save); line; line = strtok_r(NULL, "\n\r", &save)) {
                uint64_t done, total;
                unsigned pct;
                char buf[64];

                (void) progress_phase_of(line);
                if (progress_parse(line, &done, &total, &pct) < 0)
                        continue;
                fuzz_assert(pct <= 100);
                progress_format_status(buf, sizeof(buf), line, done, total, pct);
                fuzz_assert(memchr(buf, 0, sizeof(buf)));
        }
        return 0;
}
