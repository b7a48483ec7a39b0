/* SPDX-License-Identifier: MIT */
/*
 * The trigger watcher's pure verdicts (trigger.h): what sits at the
 * trigger path, which inotify events matter, the per-host lock's name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "macro.h"
#include "trigger.h"
#include "util.h"

TriggerId trigger_id_from_stat(const struct stat *st) {
        return (TriggerId) { .dev = st->st_dev, .ino = st->st_ino, .ctime = st->st_ctim };
}

bool trigger_id_equal(const TriggerId *a, const TriggerId *b) {
        return a->dev == b->dev && a->ino == b->ino && a->ctime.tv_sec == b->ctime.tv_sec &&
               a->ctime.tv_nsec == b->ctime.tv_nsec;
}

TriggerVerdict trigger_classify(const struct stat *st, uid_t self, const TriggerId *done) {
        long long diff;
        TriggerId id;

        if (!st)
                return TRIGGER_ABSENT;
        if (S_ISLNK(st->st_mode))
                return TRIGGER_SYMLINK;
        if (S_ISDIR(st->st_mode))
                return TRIGGER_DIRECTORY;
        if (!S_ISREG(st->st_mode))
                return TRIGGER_NOT_REGULAR;
        /* World-writable /tmp: anyone can create a file there; only root and we count. */
        if (st->st_uid != 0 && st->st_uid != self)
                return TRIGGER_FOREIGN_OWNER;
        /* With fs.protected_hardlinks=0 anyone may link a root-owned file into /tmp. */
        if (st->st_nlink > 1)
                return TRIGGER_HARD_LINKED;
        /* Renamed in: a file made (or touched) in place has its mtime and ctime alike. */
        diff = (long long) (st->st_ctim.tv_sec - st->st_mtim.tv_sec) * 1000000000LL +
               (st->st_ctim.tv_nsec - st->st_mtim.tv_nsec);
        if (diff > TRIGGER_FRESH_NSEC || diff < -TRIGGER_FRESH_NSEC)
                return TRIGGER_MOVED_IN;
        id = trigger_id_from_stat(st);
        if (done && trigger_id_equal(&id, done))
                return TRIGGER_DONE;
        return TRIGGER_VALID;
}

const char *trigger_verdict_reason(TriggerVerdict v) {
        switch (v) {
        case TRIGGER_ABSENT:
                return "is absent";
        case TRIGGER_VALID:
                return "is a valid trigger";
        case TRIGGER_DONE:
                return "was already acted on (see the promotion record)";
        case TRIGGER_HANDED:
                return "was already handed to the failover agent (see the switchover record)";
        case TRIGGER_SYMLINK:
                return "is a symbolic link";
        case TRIGGER_DIRECTORY:
                return "is a directory";
        case TRIGGER_NOT_REGULAR:
                return "is not a regular file";
        case TRIGGER_FOREIGN_OWNER:
                return "is owned by neither root nor the service user";
        case TRIGGER_HARD_LINKED:
                return "has more than one hard link";
        case TRIGGER_MOVED_IN:
                return "was moved there or changed after it was made, not made in place (its change time is not "
                       "its modification time)";
        }
        return "is unusable";
}

DirVerdict trigger_dir_classify(const struct stat *st, uid_t self) {
        if (!st)
                return DIR_UNREADABLE;
        if (S_ISLNK(st->st_mode))
                return DIR_SYMLINK;
        if (!S_ISDIR(st->st_mode))
                return DIR_NOT_DIRECTORY;
        if (st->st_uid != 0 && st->st_uid != self)
                return DIR_FOREIGN_OWNER;
        if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))
                return DIR_OPEN_TO_ALL;
        return DIR_TRUSTED;
}

const char *trigger_dir_reason(DirVerdict v) {
        switch (v) {
        case DIR_TRUSTED:
                return "is a directory of root or the service user";
        case DIR_SYMLINK:
                return "is a symbolic link";
        case DIR_NOT_DIRECTORY:
                return "is not a directory";
        case DIR_FOREIGN_OWNER:
                return "is owned by neither root nor the service user";
        case DIR_OPEN_TO_ALL:
                return "is writable by all without the sticky bit";
        case DIR_UNREADABLE:
                return "cannot be looked at";
        }
        return "is unusable";
}

uint32_t trigger_watch_mask(bool ancestor) {
        /* Self events (delete, move) tell us to arm again; IN_IGNORED and
         * IN_UNMOUNT come unasked. */
        if (ancestor)
                return IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF |
                       IN_MOVE_SELF | IN_ONLYDIR;
        /* Delete and move-out only keep STATUS= true and cancel a promotion not yet requested. */
        return IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM |
               IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;
}

EventAction trigger_event_action(uint32_t mask, const char *name, const char *expect, bool ancestor) {
        /* Lost events: look at the path again (or at the whole chain). */
        if (mask & IN_Q_OVERFLOW)
                return ancestor ? EVENT_REARM : EVENT_CHECK;
        if (mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
                return EVENT_REARM;
        if (strempty(name) || !streq(name, expect))
                return EVENT_IGNORE;
        /* The awaited name made, replaced, removed or changed (a link, a file, a foreign directory put
         * right): look at the path again. */
        if (ancestor)
                return mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB) ? EVENT_REARM
                                                                                              : EVENT_IGNORE;
        return mask & (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM)
                       ? EVENT_CHECK
                       : EVENT_IGNORE;
}

int trigger_lock_name(const char *path, char **ret) {
        Buf b = {};
        char *s;
        bool sep = false;

        /* systemd-escape --path: '/' becomes '-', anything outside [A-Za-z0-9:_.] (and a
         * leading '.') becomes \xNN, so distinct paths never share a name. */
        while (*path == '/')
                path++;
        for (const char *p = path; *p; p++) {
                unsigned char ch = (unsigned char) *p;

                if (ch == '/') {
                        sep = true;
                        continue;
                }
                if (sep && b.len > 0)
                        buf_puts(&b, "-");
                sep = false;
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == ':' || ch == '_' || (ch == '.' && b.len > 0 && b.data[b.len - 1] != '-'))
                        buf_printf(&b, "%c", ch);
                else
                        buf_printf(&b, "\\x%02x", ch);
        }
        if (b.len == 0)
                buf_puts(&b, "-");
        if (!b.oom && b.len > 200) {
                /* NAME_MAX is 255: keep a readable tail and make it unique with a hash. */
                char *tail = strdup(b.data + b.len - 100);

                buf_free(&b);
                if (!tail)
                        return -ENOMEM;
                buf_printf(&b, "%016llx-%s", (unsigned long long) hash_fnv1a64(path), tail);
                free(tail);
        }
        buf_puts(&b, ".lock");
        s = buf_steal(&b);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int trigger_split_path(const char *path, char **ret_dir, char **ret_name) {
        _cleanup_free_ char *dir = NULL, *name = NULL;
        const char *slash = strrchr(path, '/');

        if (!slash || slash[1] == 0 || streq(slash + 1, ".") || streq(slash + 1, ".."))
                return -EINVAL;
        name = strdup(slash + 1);
        /* Collapse trailing slashes of the directory part: "/a//b" -> "/a". */
        while (slash > path && slash[-1] == '/')
                slash--;
        dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!dir || !name)
                return -ENOMEM;
        *ret_dir = TAKE_PTR(dir);
        *ret_name = TAKE_PTR(name);
        return 0;
}
