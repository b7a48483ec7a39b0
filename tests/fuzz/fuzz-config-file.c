/* SPDX-License-Identifier: MIT */
/*
 * The libconfig file loader: the input is the file (a memfd, read through /proc/self/fd), loaded
 * and checked as config_load() does for each role. Inputs that would read other files (@include,
 * *_file keys) or resolve host names (partner_nodes) are skipped: the search is for the parser
 * and the checks, not the file system or DNS.
 */
#include <fcntl.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "macro.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fd = memfd_create("pgrepl-fuzz.conf", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        (void) fchmod(fd, 0600);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        fuzz_quiet();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        char *envp[] = { NULL };
        Config *c = NULL;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = fuzz_string(data, size);
        if (strstr(text, "include") || strcasestr(text, "_file") || strcasestr(text, "partner"))
                return 0;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
                abort();
        if (config_load(size > 0 ? (Role) (data[0] % 3) : ROLE_PRIMARY, "fuzz", path, envp, &c) == 0) {
                config_dump(c, stderr);
                config_free(c);
        }
        return 0;
}
