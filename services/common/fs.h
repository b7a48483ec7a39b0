/* SPDX-License-Identifier: MIT */
/*
 * File-system helpers: atomic whole-file writes (temp file in the same
 * directory, fsync, rename, fsync of the directory), secret files, and the
 * checks the suite makes before it touches a data directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Write content to path atomically with the given mode. */
int fs_write_atomic(const char *path, const char *content, mode_t mode);
struct stat;

/* Read a whole small file (at most 1 MiB) into a NUL-terminated string. A FIFO, socket, device or
 * directory is refused with -EBADFD, without blocking (the open is non-blocking). */
int fs_read_file(const char *path, char **ret);
/* Read a secret: the file's content with one trailing newline stripped. -EBADFD as above, decided
 * by stat() before anything is opened. */
int fs_read_secret(const char *path, char **ret);
/* stat() path (following links) and refuse anything but a regular file with -EBADFD. */
int fs_stat_regular(const char *path, struct stat *ret);
/* strerror(), with -EBADFD as this module means it: not a regular file. */
const char *fs_strerror(int r);
/* 1 if the directory is absent or empty, 0 if it has entries, <0 on error. */
int fs_dir_is_empty(const char *path);
/* mkdir -p with the given mode for the directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode);
/* fsync a file or directory by path. */
int fs_fsync_path(const char *path);
/* fsync every file and directory below path, then path itself. */
int fs_fsync_tree(const char *path);
/* Remove a directory tree (only ever used on pgrepl's own side directory); it never crosses
 * into another file system mounted below path (that fails with EBUSY). */
int fs_remove_tree(const char *path);
/* Take an exclusive flock() on path (created 0600, never a symlink) without waiting, and note
 * holder in it. *ret_fd: the open lock, held until closed. -EWOULDBLOCK: someone else holds it
 * (ret_holder, if given, gets what they noted). A lock file others may open (an older 0644 one)
 * is made 0600 once taken, and replaced when taken already: another user's read lock on it must
 * not keep the lock from us. */
int fs_lock(const char *path, const char *holder, int *ret_fd, char **ret_holder);
/* Remove everything below a directory (on its file system), keeping the directory itself. */
int fs_empty_dir(const char *path);
bool fs_exists(const char *path);
