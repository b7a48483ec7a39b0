/* SPDX-License-Identifier: MIT */
/*
 * The trigger directory's inotify watch: one watch, on the directory (or,
 * while it is missing, on its nearest existing ancestor), and the look-ups
 * of the trigger name inside that very directory. It reports what happened
 * and never logs above debug; the event loop (watch.c) decides and says so.
 */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "trigger.h"

typedef struct DirWatch {
        /* The trigger's directory and base name: the caller's strings, which outlive the watch. */
        const char *dir, *name;
        int fd;           /* the inotify instance */
        int wd;           /* the one watch, -1 when none */
        bool on_ancestor; /* watching the nearest existing ancestor of the missing directory */
        char *expect;     /* the name awaited in the watched directory: the trigger's, or the missing child's */
        /* The watched directory's identity, so that each look opens that very directory. */
        dev_t dev;
        ino_t ino;
} DirWatch;

/* dirwatch_arm_ancestor(): the directory waited for exists after all (it appeared before the watch was
 * armed): arm again. */
#define DIRWATCH_APPEARED 1

/* dirwatch_open(): why the path does not lead to the watched directory. */
enum {
        DIRWATCH_GONE = 1,  /* nothing, or no directory, at the path now */
        DIRWATCH_ELSEWHERE, /* another directory (a link re-pointed, the directory replaced) */
};

/* dirwatch_trust(): the path is not one to act through (see there). */
#define DIRWATCH_UNTRUSTED 1
#define DIRWATCH_MISSING 2

/* dirwatch_dispatch(): what the events read call for (bits). */
enum {
        DIRWATCH_CHECK = 1 << 0, /* look at the trigger path */
        DIRWATCH_REARM = 1 << 1, /* the watched directory went away or moved: arm again */
};

/* A non-blocking inotify instance with no watch yet; dir and name are borrowed. */
int dirwatch_init(DirWatch *d, const char *dir, const char *name);
void dirwatch_done(DirWatch *d);

/* Drop the current watch and watch the trigger's directory: 0, or -ENOENT/-ENOTDIR when it is missing. */
int dirwatch_arm_dir(DirWatch *d);
/*
 * Drop the current watch and watch the nearest existing ancestor of the
 * missing directory for its next component: 0 when waiting,
 * DIRWATCH_APPEARED when that component exists already.
 */
int dirwatch_arm_ancestor(DirWatch *d);

/*
 * Look at every directory of the path dir, from "/" down, without following
 * links (trigger_dir_classify()): 0 when each is trusted; DIRWATCH_MISSING
 * when one does not exist (the trusted ones before it); DIRWATCH_UNTRUSTED
 * with the first bad one's verdict, and *ret_len the length of the prefix of
 * dir that names it, *ret_uid its owner. -errno (ENOMEM) otherwise.
 */
int dirwatch_trust(const char *dir, uid_t self, size_t *ret_len, DirVerdict *ret_verdict, uid_t *ret_uid);
/* Drop the current watch and watch the parent of dir's first len characters, a directory found bad,
 * for that name to be made, removed, replaced or changed (as on an ancestor): 0, or -errno. */
int dirwatch_arm_component(DirWatch *d, size_t len);

/* Open the trigger's directory (O_PATH) if it is still the watched one: 0 and *ret_fd, DIRWATCH_GONE,
 * DIRWATCH_ELSEWHERE, or -errno. Not while on an ancestor. */
int dirwatch_open(const DirWatch *d, int *ret_fd);
/* lstat() of the trigger name in dir_fd, the directory dirwatch_open() gave (-ENOENT when dir_fd is -1,
 * no directory); never through a link. */
int dirwatch_look(const DirWatch *d, int dir_fd, struct stat *ret);
/* Remove the trigger name from dir_fd. */
int dirwatch_remove(const DirWatch *d, int dir_fd);

/* Read the events that are there: DIRWATCH_CHECK | DIRWATCH_REARM bits, 0 when none matters, or -errno. */
int dirwatch_dispatch(DirWatch *d);
