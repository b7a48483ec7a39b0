/* SPDX-License-Identifier: MIT */
/*
 * The trigger directory's inotify watch (dirwatch.h): arming on the
 * directory or its nearest ancestor, looks through a descriptor checked to
 * be the watched directory, and events turned into CHECK/REARM for the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "dirwatch.h"
#include "fs.h"
#include "macro.h"
#include "trigger.h"

int dirwatch_init(DirWatch *d, const char *dir, const char *name) {
        *d = (DirWatch) { .dir = dir, .name = name, .wd = -1 };
        d->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        return d->fd < 0 ? -errno : 0;
}

void dirwatch_done(DirWatch *d) {
        closep(&d->fd);
        d->fd = -1;
        d->wd = -1;
        free(d->expect);
        d->expect = NULL;
}

static void unwatch(DirWatch *d) {
        if (d->wd >= 0)
                (void) inotify_rm_watch(d->fd, d->wd);
        d->wd = -1;
}

/*
 * Watch the trigger's directory (ancestor false) or an ancestor. The
 * directory is opened first and watched through that descriptor, so the
 * watch and the identity kept for dirwatch_open() are one directory even
 * if a link in the path changes meanwhile. The descriptor is not kept: an
 * open directory would hold back the event of its removal.
 */
static int add_watch(DirWatch *d, const char *path, bool ancestor, const char *expect) {
        _cleanup_close_ int fd = -1;
        struct stat st = {};
        char proc[64];
        char *e;
        int wd;

        if (!ancestor) {
                fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return -errno;
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                path = proc;
        }
        wd = inotify_add_watch(d->fd, path, trigger_watch_mask(ancestor));
        if (wd < 0)
                return -errno;
        e = strdup(expect);
        if (!e)
                return -ENOMEM;
        free(d->expect);
        d->expect = e;
        d->wd = wd;
        d->on_ancestor = ancestor;
        d->dev = st.st_dev;
        d->ino = st.st_ino;
        return 0;
}

int dirwatch_arm_dir(DirWatch *d) {
        unwatch(d);
        return add_watch(d, d->dir, false, d->name);
}

int dirwatch_arm_ancestor(DirWatch *d) {
        _cleanup_free_ char *p = strdup(d->dir);

        if (!p)
                return -ENOMEM;
        unwatch(d);
        for (;;) {
                char *slash = strrchr(p, '/');
                int r;

                if (!slash)
                        return -ENOENT;
                *slash = 0;
                r = add_watch(d, slash == p ? "/" : p, true, slash + 1);
                if (r >= 0) {
                        /* p is now the path of the component waited for. */
                        *slash = '/';
                        return fs_exists(p) ? DIRWATCH_APPEARED : 0;
                }
                if ((r != -ENOENT && r != -ENOTDIR) || slash == p)
                        return r;
        }
}

int dirwatch_trust(const char *dir, uid_t self, size_t *ret_len, DirVerdict *ret_verdict, uid_t *ret_uid) {
        _cleanup_free_ char *p = strdup(dir);
        size_t n = strlen(dir), i = 0;

        if (!p)
                return -ENOMEM;
        /* Each prefix ending at a component: "/", "/tmp", "/tmp/trig". */
        while (i < n) {
                struct stat st;
                DirVerdict v;
                size_t end;
                char saved;

                if (i == 0 && p[0] == '/')
                        end = 1;
                else {
                        while (i < n && dir[i] == '/')
                                i++;
                        if (i == n)
                                break;
                        end = i + strcspn(dir + i, "/");
                }
                saved = p[end];
                p[end] = 0;
                if (lstat(p, &st) < 0) {
                        if (errno == ENOENT)
                                return DIRWATCH_MISSING;
                        v = trigger_dir_classify(NULL, self);
                        st.st_uid = (uid_t) -1;
                } else
                        v = trigger_dir_classify(&st, self);
                p[end] = saved;
                if (v != DIR_TRUSTED) {
                        *ret_len = end;
                        *ret_verdict = v;
                        *ret_uid = st.st_uid;
                        return DIRWATCH_UNTRUSTED;
                }
                i = end;
        }
        return 0;
}

int dirwatch_arm_component(DirWatch *d, size_t len) {
        _cleanup_free_ char *p = strndup(d->dir, len);
        char *slash;

        if (!p)
                return -ENOMEM;
        unwatch(d);
        slash = strrchr(p, '/');
        /* "/" itself bad: nothing above it to watch; the beats look again. */
        if (!slash || slash[1] == 0)
                return -ENOENT;
        *slash = 0;
        return add_watch(d, slash == p ? "/" : p, true, slash + 1);
}

int dirwatch_open(const DirWatch *d, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(d->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? DIRWATCH_GONE : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != d->dev || st.st_ino != d->ino)
                return DIRWATCH_ELSEWHERE;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int dirwatch_look(const DirWatch *d, int dir_fd, struct stat *ret) {
        if (dir_fd < 0)
                return -ENOENT;
        return fstatat(dir_fd, d->name, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int dirwatch_remove(const DirWatch *d, int dir_fd) {
        return unlinkat(dir_fd, d->name, 0) < 0 ? -errno : 0;
}

int dirwatch_dispatch(DirWatch *d) {
        /* Aligned for struct inotify_event; a few events at a time is plenty. */
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(d->fd, buf, sizeof(buf));
        int found = 0;

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        for (char *p = buf; p < buf + n;) {
                const struct inotify_event *ev = (const struct inotify_event *) p;

                p += sizeof(*ev) + ev->len;
                /* Events of a watch already dropped are stale. */
                if (ev->wd != d->wd && !(ev->mask & IN_Q_OVERFLOW))
                        continue;
                switch (trigger_event_action(ev->mask, ev->len ? ev->name : NULL, d->expect, d->on_ancestor)) {
                case EVENT_REARM:
                        found |= DIRWATCH_REARM;
                        break;
                case EVENT_CHECK:
                        found |= DIRWATCH_CHECK;
                        break;
                case EVENT_IGNORE:
                        break;
                }
        }
        return found;
}
