/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "diverge.h"
#include "fs.h"
#include "macro.h"
#include "peer.h"
#include "util.h"

int diverge_check(const char *datadir, uint64_t replayed, Divergence *ret) {
        _cleanup_free_ char *wal = path_join(datadir, "pg_wal");
        unsigned tli = control_wal_timeline(datadir), best = 0;
        uint64_t fork = 0;
        struct dirent *de;
        DIR *d;

        /* No segment at all: the timeline is not known, and nothing is claimed. */
        if (!wal || tli == 0 || !(d = opendir(wal)))
                return 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *history = NULL;
                unsigned t;
                uint64_t sw;

                if (strlen(de->d_name) != 16 || strspn(de->d_name, "0123456789ABCDEF") != 8 ||
                    !streq(de->d_name + 8, ".history") || sscanf(de->d_name, "%8X", &t) != 1 || t <= tli ||
                    t <= best)
                        continue;
                path = path_join(wal, de->d_name);
                if (!path || fs_read_file(path, &history) < 0)
                        continue;
                /* A timeline that forks off this one before what was replayed cannot be followed; one
                 * whose history does not name this timeline is another lineage: no claim. */
                if (peer_history_switchpoint(history, tli, &sw) > 0 && sw < replayed) {
                        best = t;
                        fork = sw;
                }
        }
        closedir(d);
        if (best == 0)
                return 0;
        *ret = (Divergence) { .tli = tli, .replayed = replayed, .newer = best, .fork = fork };
        return 1;
}

int diverge_format(const Divergence *d, char *buf, size_t n) {
        int k = snprintf(buf, n, "%u " LSN_FMT " %u " LSN_FMT "\n", d->tli, LSN_ARGS(d->replayed), d->newer,
                         LSN_ARGS(d->fork));

        return k < 0 || (size_t) k >= n ? -ENOBUFS : 0;
}

int diverge_parse(const char *text, Divergence *ret) {
        char replayed[24], fork[24], end;
        Divergence d = {};

        if (sscanf(text, "%u %23s %u %23s%c", &d.tli, replayed, &d.newer, fork, &end) != 5 || end != '\n' ||
            control_parse_lsn(replayed, &d.replayed) < 0 || control_parse_lsn(fork, &d.fork) < 0 ||
            d.tli == 0 || d.newer <= d.tli || d.fork >= d.replayed)
                return -EBADMSG;
        *ret = d;
        return 0;
}

int diverge_read(const char *path, Divergence *ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = fs_read_file(path, &text);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = diverge_parse(text, ret);
        return r < 0 ? r : 1;
}
