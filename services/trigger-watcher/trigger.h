/* SPDX-License-Identifier: MIT */
/*
 * The trigger watcher's pure decisions, kept apart from the event loop so
 * the unit tests can drive them: which inotify events matter, whether what
 * sits at the trigger path may promote this node, and the name of the
 * per-host lock that keeps two watchers off one path. No I/O here.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Identity of one trigger file: the record keeps it so the same file never promotes twice. */
typedef struct TriggerId {
        dev_t dev;
        ino_t ino;
        struct timespec ctime;
} TriggerId;

TriggerId trigger_id_from_stat(const struct stat *st);
bool trigger_id_equal(const TriggerId *a, const TriggerId *b);

typedef enum TriggerVerdict {
        TRIGGER_ABSENT,        /* nothing at the path */
        TRIGGER_VALID,         /* a regular file owned by root or the service user: promote */
        TRIGGER_DONE,          /* the promotion record says this very file was acted on */
        TRIGGER_HANDED,        /* etcd mode: the switchover record says this very file was handed over (watch.c) */
        TRIGGER_SYMLINK,       /* the rest are ignored with a warning */
        TRIGGER_DIRECTORY,
        TRIGGER_NOT_REGULAR,   /* fifo, socket, device */
        TRIGGER_FOREIGN_OWNER,
        TRIGGER_HARD_LINKED,   /* a second name of some other file (protected_hardlinks=0) */
        TRIGGER_MOVED_IN,      /* renamed in, not made in place: its ctime is well after its mtime */
} TriggerVerdict;

/*
 * A trigger must have been made or touched in place: creating a file or
 * touching it sets its mtime and ctime alike, while renaming a file into
 * the directory sets only its ctime. A file whose two times lie further
 * apart than this was moved in (any user may rename a root-owned file from
 * a directory of theirs onto the trigger path) or changed after the fact,
 * and does not count.
 */
#define TRIGGER_FRESH_NSEC (2LL * 1000000000LL)

/*
 * Judge what lstat() found at the trigger path. st NULL means nothing is
 * there. self is the service user's uid; done (may be NULL) is the trigger
 * the promotion record names.
 */
TriggerVerdict trigger_classify(const struct stat *st, uid_t self, const TriggerId *done);
/* For the warning: "is a symbolic link", "is owned by uid 65534", ... */
const char *trigger_verdict_reason(TriggerVerdict v);
static inline bool trigger_verdict_is_bad(TriggerVerdict v) {
        return v >= TRIGGER_SYMLINK;
}

/* One directory on the way to the trigger (each of "/", "/tmp", "/tmp/trig" for "/tmp/trig/x"). */
typedef enum DirVerdict {
        DIR_TRUSTED,          /* a real directory owned by root or the service user, not open to all unguarded */
        DIR_SYMLINK,          /* the rest: the watcher does not act while any is on the path */
        DIR_NOT_DIRECTORY,    /* a file, fifo, socket or device */
        DIR_FOREIGN_OWNER,    /* its owner can plant or swap what is in it */
        DIR_OPEN_TO_ALL,      /* world-writable without the sticky bit: anyone can swap what is in it */
        DIR_UNREADABLE,       /* cannot be looked at (permission denied) */
} DirVerdict;

/*
 * Judge what lstat() found at one directory of the trigger's path (st NULL:
 * it could not be looked at). Only real directories of root or self count:
 * a link can be re-pointed by whoever may replace it, a directory of another
 * user filled with anything; SPEC 3.
 */
DirVerdict trigger_dir_classify(const struct stat *st, uid_t self);
/* "is a symbolic link", ... for the warning. */
const char *trigger_dir_reason(DirVerdict v);

typedef enum EventAction {
        EVENT_IGNORE,
        EVENT_CHECK,  /* lstat the trigger path and decide */
        EVENT_REARM,  /* the watched directory went away or moved: arm again */
} EventAction;

/* The inotify masks the watcher asks for: on the trigger's directory, and on
 * the nearest existing ancestor while that directory is missing. */
uint32_t trigger_watch_mask(bool ancestor);

/*
 * What to do with one inotify event. name is the event's name (NULL or ""
 * for events on the directory itself); expect is the trigger's base name,
 * or on an ancestor watch the name of the missing child directory.
 */
EventAction trigger_event_action(uint32_t mask, const char *name, const char *expect, bool ancestor);

/*
 * The lock file name for a trigger path, unique per path and readable:
 * "tmp-postgresql.trigger.5432.lock" (systemd-escape --path style), or a
 * hash for very long paths. Returns 0 or -ENOMEM.
 */
int trigger_lock_name(const char *path, char **ret);

/* Split an absolute path into directory and base name ("/tmp", "x"). -EINVAL when it has no base name. */
int trigger_split_path(const char *path, char **ret_dir, char **ret_name);
