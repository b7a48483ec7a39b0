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

/* The newest timeline pg_wal holds a history file of, 0 when none. */
static unsigned newest_history(const char *wal) {
        struct dirent *de;
        unsigned best = 0;
        DIR *d = opendir(wal);

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                unsigned t;

                if (strlen(de->d_name) == 16 && strspn(de->d_name, "0123456789ABCDEF") == 8 &&
                    streq(de->d_name + 8, ".history") && sscanf(de->d_name, "%8X", &t) == 1 && t > best)
                        best = t;
        }
        closedir(d);
        return best;
}

int diverge_check(const char *datadir, uint64_t replayed, Divergence *ret) {
        _cleanup_free_ char *wal = path_join(datadir, "pg_wal"), *path = NULL, *history = NULL;
        unsigned tli = control_wal_timeline(datadir), newest;
        char name[32];
        uint64_t fork;

        /* No segment at all: the timeline is not known, and nothing is claimed. */
        if (!wal || tli == 0)
                return 0;
        /* Only the newest timeline counts, as for PostgreSQL (recovery_target_timeline=latest): an
         * older sibling timeline this standby cannot follow is no reason to rewind it. */
        newest = newest_history(wal);
        if (newest <= tli)
                return 0;
        snprintf(name, sizeof(name), "%08X.history", newest);
        path = path_join(wal, name);
        if (!path || fs_read_file(path, &history) < 0)
                return 0;
        /* It forks off this timeline before what was replayed: it cannot be followed. A history
         * that does not name this timeline is another lineage: no claim. */
        if (peer_history_switchpoint(history, tli, &fork) <= 0 || fork >= replayed)
                return 0;
        *ret = (Divergence) { .tli = tli, .replayed = replayed, .newer = newest, .fork = fork };
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
