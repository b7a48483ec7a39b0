/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "util.h"
#include "macro.h"

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

int fs_fsync_path(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int fs_write_atomic(const char *path, const char *content, mode_t mode) {
        _cleanup_free_ char *tmp = NULL, *dir = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&tmp, "%s.pgrepl-tmp", path) < 0)
                return -ENOMEM;
        dir = path_parent(path);
        if (!dir)
                return -ENOMEM;

        /* O_EXCL after unlinking our own stale temp: never follow a planted link. */
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto fail;
        }
        r = write_all(fd, content, strlen(content));
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return fs_fsync_path(dir);
fail:
        (void) unlink(tmp);
        return r;
}

int fs_stat_regular(const char *path, struct stat *ret) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (ret)
                *ret = st;
        return 0;
}

const char *fs_strerror(int r) {
        if (r == -EBADFD)
                return "not a regular file (a FIFO, socket, device or directory)";
        return strerror(r < 0 ? -r : r);
}

int fs_read_file(const char *path, char **ret) {
        /* O_NONBLOCK: a FIFO put where a file belongs must not block the open until a writer comes. */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, cap = 4096;
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n + 1 >= cap) {
                        char *nb;

                        if (cap >= 1024 * 1024)
                                return -EFBIG;
                        cap *= 2;
                        nb = realloc(buf, cap);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(fd, buf + n, cap - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

int fs_read_secret(const char *path, char **ret) {
        char *s = NULL;
        size_t n;
        int r;

        /* Refused before it is opened: opening a device can have effects of its own. */
        r = fs_stat_regular(path, NULL);
        if (r < 0)
                return r;
        r = fs_read_file(path, &s);
        if (r < 0)
                return r;
        n = strlen(s);
        if (n > 0 && s[n - 1] == '\n')
                s[--n] = 0;
        if (n > 0 && s[n - 1] == '\r')
                s[--n] = 0;
        *ret = s;
        return 0;
}

int fs_dir_is_empty(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        int r = 1;

        if (!d)
                return errno == ENOENT ? 1 : -errno;
        errno = 0;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = 0;
                break;
        }
        if (r == 1 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

int fs_mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0) {
                struct stat st;

                if (errno != EEXIST)
                        return -errno;
                /* EEXIST says a name is there, not that it is a directory (a file, a dangling link). */
                if (stat(p, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}

static int sync_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw) {
        int fd;

        if (type != FTW_F && type != FTW_D && type != FTW_DP)
                return 0;
        /* Only files and directories have data to sync; opening a FIFO would wait for a writer. */
        if (!S_ISREG(sb->st_mode) && !S_ISDIR(sb->st_mode))
                return 0;
        fd = open(fpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return 0;
        (void) fsync(fd);
        close(fd);
        return 0;
}

int fs_fsync_tree(const char *path) {
        if (nftw(path, sync_one, 32, FTW_PHYS | FTW_DEPTH) < 0)
                return -errno;
        return 0;
}

static int remove_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw) {
        if (remove(fpath) < 0 && errno != ENOENT)
                return -1;
        return 0;
}

static int remove_below(const char *fpath, const struct stat *sb, int type, struct FTW *ftw) {
        if (ftw->level == 0)
                return 0;
        return remove_one(fpath, sb, type, ftw);
}

int fs_empty_dir(const char *path) {
        if (nftw(path, remove_below, 32, FTW_PHYS | FTW_DEPTH | FTW_MOUNT) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 0;
}

int fs_remove_tree(const char *path) {
        if (nftw(path, remove_one, 32, FTW_PHYS | FTW_DEPTH | FTW_MOUNT) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 0;
}

bool fs_exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

/* Whether the lock file's note ("pid N") names a process that still exists. */
static bool holder_alive(const char *path) {
        _cleanup_free_ char *note = NULL;
        int pid;

        if (fs_read_file(path, &note) < 0 || sscanf(note, "pid %d", &pid) != 1 || pid <= 0)
                return false;
        return kill(pid, 0) >= 0 || errno == EPERM;
}

int fs_lock(const char *path, const char *holder, int *ret_fd, char **ret_holder) {
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
                struct stat st;

                if (fd < 0)
                        return -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        int r = -errno;

                        /* Taken, in a file others may open (made 0644 by an older version): anyone's read lock
                         * would block us for ever. Replace it by one only its owner can open, unless the
                         * holder its note names still lives: then it is a real holder, and two would hold
                         * the lock at once. */
                        if (r == -EWOULDBLOCK && (st.st_mode & 0077) && attempt == 0 && !holder_alive(path) &&
                            unlink(path) >= 0)
                                continue;
                        if (r == -EWOULDBLOCK && ret_holder && fs_read_file(path, ret_holder) >= 0)
                                (*ret_holder)[strcspn(*ret_holder, "\n")] = 0;
                        return r;
                }
                /* Ours now: keep others from opening it, and so from taking it, from here on. */
                if ((st.st_mode & 0077) && fchmod(fd, 0600) < 0)
                        (void) 0;
                /* Only a note for whoever finds it taken: failing to write it changes nothing. */
                if (ftruncate(fd, 0) < 0 || pwrite(fd, holder, strlen(holder), 0) < 0)
                        (void) 0;
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
}
