/* SPDX-License-Identifier: MIT */
/*
 * fs.h, in a private temporary directory: atomic writes (exact mode whatever
 * the umask, a new inode, no temp file left, never through a planted link),
 * the size limit of fs_read_file, fs_read_secret's newline handling, empty
 * directories, mkdir -p, tree removal that stays on its side of a symlink,
 * and the exclusive lock with its holder note.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assert.h"
#include "fs.h"
#include "macro.h"

static char tmpdir[] = "/tmp/pgrepl-test-fs.XXXXXX";

static char *tpath(const char *name) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        return p;
}

static void write_raw(const char *path, const char *data, size_t n, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, n), (ssize_t) n);
        close(fd);
}

static void write_str(const char *path, const char *s) {
        write_raw(path, s, strlen(s), 0644);
}

/* The file's content read with plain libc, to check fs_write_atomic independently of fs_read_file. */
static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        char *s = calloc(1, 65536);
        size_t n;

        ASSERT_TRUE(f && s);
        n = fread(s, 1, 65535, f);
        s[n] = 0;
        fclose(f);
        return s;
}

static mode_t mode_of(const char *path) {
        struct stat st;

        ASSERT_EQ(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

static void test_write_atomic(void) {
        _cleanup_free_ char *p = tpath("conf"), *tmp = NULL, *hard = tpath("hardlink");
        struct stat st1, st2;
        char *s;

        ASSERT_TRUE(asprintf(&tmp, "%s.pgrepl-tmp", p) > 0);

        /* Content and mode exactly as asked, whatever the umask. */
        umask(077);
        ASSERT_EQ(fs_write_atomic(p, "port = 5432\n", 0644), 0);
        ASSERT_EQ(mode_of(p), 0644);
        s = slurp(p);
        ASSERT_STREQ(s, "port = 5432\n");
        free(s);
        ASSERT_TRUE(!fs_exists(tmp)); /* no temp file left behind */

        /* Replacing: shorter content leaves nothing of the old one, the new mode applies, and it is a
         * new inode (rename), so a reader holding the old file never sees a half-written one. */
        umask(022);
        ASSERT_EQ(link(p, hard), 0);
        ASSERT_EQ(stat(p, &st1), 0);
        ASSERT_EQ(fs_write_atomic(p, "x\n", 0600), 0);
        ASSERT_EQ(stat(p, &st2), 0);
        ASSERT_TRUE(st1.st_ino != st2.st_ino);
        ASSERT_EQ(mode_of(p), 0600);
        s = slurp(p);
        ASSERT_STREQ(s, "x\n");
        free(s);
        s = slurp(hard); /* the old inode is untouched */
        ASSERT_STREQ(s, "port = 5432\n");
        free(s);
        ASSERT_TRUE(!fs_exists(tmp));

        /* Empty content: an empty file. */
        ASSERT_EQ(fs_write_atomic(p, "", 0640), 0);
        ASSERT_EQ(mode_of(p), 0640);
        s = slurp(p);
        ASSERT_STREQ(s, "");
        free(s);

        /* A stale temp file of ours from a crash is replaced, not an error. */
        write_str(tmp, "stale");
        ASSERT_EQ(fs_write_atomic(p, "fresh", 0600), 0);
        s = slurp(p);
        ASSERT_STREQ(s, "fresh");
        free(s);
        ASSERT_TRUE(!fs_exists(tmp));

        /* The directory must exist. */
        {
                _cleanup_free_ char *q = tpath("missing/conf");
                ASSERT_EQ(fs_write_atomic(q, "x", 0600), -ENOENT);
        }
        umask(022);
}

static void test_write_atomic_symlinks(void) {
        _cleanup_free_ char *p = tpath("passfile"), *tmp = NULL, *victim = tpath("victim"),
                            *p2 = tpath("linked"), *victim2 = tpath("victim2");
        char *s;

        ASSERT_TRUE(asprintf(&tmp, "%s.pgrepl-tmp", p) > 0);

        /* A symlink planted at the temp name is never followed: the victim keeps its content and mode. */
        write_raw(victim, "precious", 8, 0600);
        ASSERT_EQ(symlink(victim, tmp), 0);
        ASSERT_EQ(fs_write_atomic(p, "*:*:*:rep:pw\n", 0600), 0);
        s = slurp(victim);
        ASSERT_STREQ(s, "precious");
        free(s);
        ASSERT_EQ(mode_of(victim), 0600);
        s = slurp(p);
        ASSERT_STREQ(s, "*:*:*:rep:pw\n");
        free(s);
        ASSERT_TRUE(!fs_exists(tmp));

        /* A dangling planted symlink does not make it create the file it points at. */
        {
                _cleanup_free_ char *nowhere = tpath("nowhere");

                ASSERT_EQ(symlink(nowhere, tmp), 0);
                ASSERT_EQ(fs_write_atomic(p, "again", 0600), 0);
                ASSERT_TRUE(!fs_exists(nowhere));
                s = slurp(p);
                ASSERT_STREQ(s, "again");
                free(s);
        }

        /* A symlink at the path itself is replaced by the file, not written through. */
        write_raw(victim2, "other", 5, 0644);
        ASSERT_EQ(symlink(victim2, p2), 0);
        ASSERT_EQ(fs_write_atomic(p2, "new", 0600), 0);
        {
                struct stat st;

                ASSERT_EQ(lstat(p2, &st), 0);
                ASSERT_TRUE(S_ISREG(st.st_mode));
        }
        s = slurp(victim2);
        ASSERT_STREQ(s, "other");
        free(s);
}

/*
 * The unlink before the open removes a stale link, but one can be planted between the two. Stand in
 * for that race with a link the writer cannot remove (its directory is read-only to it, and it is
 * not root): the open must still refuse to follow it, and the file it points at stays as it was.
 */
static void test_write_atomic_unremovable_link(void) {
        _cleanup_free_ char *ro = tpath("ro"), *p = tpath("ro/conf"), *tmp = tpath("ro/conf.pgrepl-tmp"),
                            *victim = tpath("victim-ro");
        uid_t uid = geteuid() == 0 ? 65534 : geteuid();
        gid_t gid = geteuid() == 0 ? 65534 : getegid();
        pid_t pid;
        int st;
        char *s;

        ASSERT_EQ(mkdir(ro, 0755), 0);
        write_raw(victim, "precious", 8, 0666);
        ASSERT_EQ(symlink(victim, tmp), 0);
        ASSERT_EQ(chmod(ro, 0555), 0);
        if (geteuid() == 0) {
                ASSERT_EQ(chown(victim, uid, gid), 0);
                ASSERT_EQ(chmod(tmpdir, 0755), 0); /* nobody must reach ro/ */
        }

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
                        _exit(77);
                /* Fails (it cannot create its temp file here); what matters is what it did not do. */
                _exit(fs_write_atomic(p, "written through the link", 0600) < 0 ? 0 : 1);
        }
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st));
        if (WEXITSTATUS(st) == 77) {
                fprintf(stderr, "cannot drop privileges, skipping the unremovable link\n");
        } else {
                ASSERT_EQ(WEXITSTATUS(st), 0);
        }
        s = slurp(victim);
        ASSERT_STREQ(s, "precious");
        free(s);
        ASSERT_EQ(chmod(ro, 0755), 0);
}

static void test_read_file(void) {
        _cleanup_free_ char *p = tpath("read"), *d = tpath("adir");
        const size_t big = 512 * 1024 + 3; /* several growth steps */
        char *buf = malloc(2 * 1024 * 1024), *s = NULL;

        ASSERT_TRUE(buf);
        for (size_t i = 0; i < 2 * 1024 * 1024; i++)
                buf[i] = (char) ('a' + i % 26);

        write_raw(p, "hello\nworld", 11, 0644);
        ASSERT_EQ(fs_read_file(p, &s), 0);
        ASSERT_STREQ(s, "hello\nworld");
        free(s);

        write_raw(p, "", 0, 0644);
        s = NULL;
        ASSERT_EQ(fs_read_file(p, &s), 0);
        ASSERT_STREQ(s, "");
        free(s);

        write_raw(p, buf, big, 0644);
        s = NULL;
        ASSERT_EQ(fs_read_file(p, &s), 0);
        ASSERT_EQ(strlen(s), big);
        ASSERT_TRUE(memcmp(s, buf, big) == 0);
        free(s);

        /* Over 1 MiB is refused, and *ret is left alone. */
        s = (char *) "untouched";
        write_raw(p, buf, 1024 * 1024 + 1, 0644);
        ASSERT_EQ(fs_read_file(p, &s), -EFBIG);
        write_raw(p, buf, 2 * 1024 * 1024, 0644);
        ASSERT_EQ(fs_read_file(p, &s), -EFBIG);
        ASSERT_STREQ(s, "untouched");

        {
                _cleanup_free_ char *q = tpath("absent");
                ASSERT_EQ(fs_read_file(q, &s), -ENOENT);
        }
        ASSERT_EQ(mkdir(d, 0755), 0);
        ASSERT_EQ(fs_read_file(d, &s), -EBADFD); /* not a regular file */
        {
                /* A FIFO without a writer: refused at once, not waited on. */
                _cleanup_free_ char *q = tpath("fifo");

                ASSERT_EQ(mkfifo(q, 0600), 0);
                ASSERT_EQ(fs_read_file(q, &s), -EBADFD);
                ASSERT_EQ(fs_read_secret(q, &s), -EBADFD);
                ASSERT_EQ(fs_read_secret("/dev/zero", &s), -EBADFD);
                ASSERT_STREQ(fs_strerror(-EBADFD), "not a regular file (a FIFO, socket, device or directory)");
        }
        ASSERT_STREQ(s, "untouched");
        free(buf);
}

static void test_read_secret(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "pw\n", "pw" },
                { "pw", "pw" },
                { "pw\n\n", "pw\n" }, /* exactly one newline */
                { "pw\r\n", "pw" },   /* a file written on Windows */
                { "\n", "" },
                { "", "" },
                { " pw \n", " pw " }, /* spaces are part of a secret */
                { "a\nb\n", "a\nb" },
                { "\tpw\t", "\tpw\t" },
        };
        _cleanup_free_ char *p = tpath("secret");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = NULL;

                write_raw(p, cases[i].in, strlen(cases[i].in), 0600);
                ASSERT_EQ(fs_read_secret(p, &s), 0);
                ASSERT_STREQ(s, cases[i].out);
                free(s);
        }
        {
                _cleanup_free_ char *q = tpath("nosecret");
                char *s = NULL;

                ASSERT_EQ(fs_read_secret(q, &s), -ENOENT);
                ASSERT_TRUE(s == NULL);
        }
}

static void test_dir_is_empty(void) {
        _cleanup_free_ char *d = tpath("empty"), *f = tpath("empty/.hidden"), *file = tpath("plain");

        ASSERT_EQ(fs_dir_is_empty(d), 1); /* absent counts as empty */
        ASSERT_EQ(mkdir(d, 0700), 0);
        ASSERT_EQ(fs_dir_is_empty(d), 1);
        write_str(f, "");
        ASSERT_EQ(fs_dir_is_empty(d), 0); /* a dot file is an entry */
        ASSERT_EQ(unlink(f), 0);
        ASSERT_EQ(mkdir(f, 0700), 0);
        ASSERT_EQ(fs_dir_is_empty(d), 0);
        write_str(file, "x");
        ASSERT_EQ(fs_dir_is_empty(file), -ENOTDIR);
}

static void test_mkdir_p(void) {
        _cleanup_free_ char *top = tpath("m"), *a = tpath("m/a"), *b = tpath("m/a/b"), *c = tpath("m/a/b/c"),
                            *slash = tpath("m/x/y/"), *y = tpath("m/x/y"), *file = tpath("m/file"),
                            *under = tpath("m/file/sub");

        umask(022);
        ASSERT_EQ(mkdir(top, 0711), 0);
        ASSERT_EQ(fs_mkdir_p(c, 0700), 0);
        ASSERT_EQ(mode_of(a), 0700);
        ASSERT_EQ(mode_of(b), 0700);
        ASSERT_EQ(mode_of(c), 0700);
        ASSERT_EQ(mode_of(top), 0711); /* an existing directory keeps its mode */
        ASSERT_EQ(fs_mkdir_p(c, 0755), 0); /* again: nothing to do, nothing changed */
        ASSERT_EQ(mode_of(c), 0700);

        ASSERT_EQ(fs_mkdir_p(slash, 0750), 0);
        ASSERT_EQ(mode_of(y), 0750);

        write_str(file, "x");
        ASSERT_EQ(fs_mkdir_p(under, 0700), -ENOTDIR);
        /* The path itself a file, or a link to nowhere: not a directory, whatever EEXIST said. */
        ASSERT_EQ(fs_mkdir_p(file, 0700), -ENOTDIR);
        {
                _cleanup_free_ char *dangling = tpath("dangling-dir");

                ASSERT_EQ(symlink("/nonexistent/pgrepl", dangling), 0);
                ASSERT_EQ(fs_mkdir_p(dangling, 0700), -ENOENT);
        }
}

static void test_remove_tree(void) {
        _cleanup_free_ char *t = tpath("tree"), *outside = tpath("outside"), *keep = tpath("outside/keep"),
                            *sub = tpath("tree/a/b"), *f1 = tpath("tree/f"), *f2 = tpath("tree/a/b/g"),
                            *l1 = tpath("tree/a/dirlink"), *l2 = tpath("tree/filelink"),
                            *l3 = tpath("tree/dangling"), *single = tpath("single");

        ASSERT_EQ(mkdir(outside, 0755), 0);
        write_str(keep, "keep me");
        ASSERT_EQ(fs_mkdir_p(sub, 0755), 0);
        write_str(f1, "1");
        write_str(f2, "2");
        ASSERT_EQ(symlink(outside, l1), 0);
        ASSERT_EQ(symlink(keep, l2), 0);
        ASSERT_EQ(symlink("/nonexistent", l3), 0);

        ASSERT_EQ(fs_remove_tree(t), 0);
        ASSERT_TRUE(!fs_exists(t));
        /* Symlinks are removed, never followed. */
        ASSERT_TRUE(fs_exists(keep));
        {
                char *s = slurp(keep);
                ASSERT_STREQ(s, "keep me");
                free(s);
        }

        ASSERT_EQ(fs_remove_tree(t), 0); /* absent: nothing to do */
        write_str(single, "x");
        ASSERT_EQ(fs_remove_tree(single), 0);
        ASSERT_TRUE(!fs_exists(single));
}

static void test_lock(void) {
        _cleanup_free_ char *p = tpath("lock"), *target = tpath("locktarget"), *lnk = tpath("locklink");
        int fd1 = -1, fd2 = -1;
        char *holder = NULL;

        umask(022);
        ASSERT_EQ(fs_lock(p, "pgrepl-standby-bootstrap pid 1234 with a long note", &fd1, &holder), 0);
        ASSERT_TRUE(fd1 >= 0);
        ASSERT_TRUE(holder == NULL); /* only filled when someone else holds it */
        ASSERT_EQ(mode_of(p), 0600); /* nobody else can open it, so nobody else can take it */
        ASSERT_TRUE(fcntl(fd1, F_GETFD) & FD_CLOEXEC);

        /* A second open file description is refused, and learns who holds the lock. */
        ASSERT_EQ(fs_lock(p, "intruder", &fd2, &holder), -EWOULDBLOCK);
        ASSERT_TRUE(fd2 == -1);
        ASSERT_STREQ(holder, "pgrepl-standby-bootstrap pid 1234 with a long note");
        free(holder);
        holder = NULL;
        ASSERT_EQ(fs_lock(p, "intruder", &fd2, NULL), -EWOULDBLOCK); /* no holder wanted */
        {
                char *s = slurp(p); /* the refused attempt did not overwrite the note */
                ASSERT_STREQ(s, "pgrepl-standby-bootstrap pid 1234 with a long note");
                free(s);
        }

        /* Released when closed; the next holder's note replaces the old one entirely. */
        close(fd1);
        ASSERT_EQ(fs_lock(p, "short\nsecond line", &fd2, &holder), 0);
        {
                char *s = slurp(p);
                ASSERT_STREQ(s, "short\nsecond line");
                free(s);
        }
        ASSERT_EQ(fs_lock(p, "third", &fd1, &holder), -EWOULDBLOCK);
        ASSERT_STREQ(holder, "short"); /* the first line of the note */
        free(holder);
        close(fd2);

        /* An older lock file others may open: made 0600 once taken. */
        ASSERT_EQ(chmod(p, 0644), 0);
        ASSERT_EQ(fs_lock(p, "fourth", &fd1, NULL), 0);
        ASSERT_EQ(mode_of(p), 0600);
        close(fd1);
        /* Held through such a file (as another user's read lock would): replaced by a file of our own. */
        ASSERT_EQ(chmod(p, 0644), 0);
        fd2 = open(p, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd2 >= 0);
        ASSERT_EQ(flock(fd2, LOCK_SH | LOCK_NB), 0);
        ASSERT_EQ(fs_lock(p, "fifth", &fd1, NULL), 0);
        ASSERT_EQ(mode_of(p), 0600);
        close(fd1);
        close(fd2);

        /* Never through a symlink. */
        write_str(target, "not a lock");
        ASSERT_EQ(symlink(target, lnk), 0);
        fd1 = -1;
        ASSERT_EQ(fs_lock(lnk, "x", &fd1, NULL), -ELOOP);
        ASSERT_TRUE(fd1 == -1);
        {
                char *s = slurp(target);
                ASSERT_STREQ(s, "not a lock");
                free(s);
        }
}

static void test_misc(void) {
        _cleanup_free_ char *f = tpath("m/a/b/c"), *absent = tpath("nothing"), *dangling = tpath("dangling");

        ASSERT_TRUE(!fs_exists(absent));
        ASSERT_EQ(symlink(absent, dangling), 0);
        ASSERT_TRUE(fs_exists(dangling)); /* the link itself exists */
        ASSERT_EQ(fs_fsync_path(f), 0);
        ASSERT_EQ(fs_fsync_path(absent), -ENOENT);
        ASSERT_EQ(fs_fsync_tree(tmpdir), 0);
        ASSERT_EQ(fs_fsync_tree(absent), -ENOENT);
}

int main(void) {
        ASSERT_TRUE(mkdtemp(tmpdir));
        test_write_atomic();
        test_write_atomic_symlinks();
        test_write_atomic_unremovable_link();
        test_read_file();
        test_read_secret();
        test_dir_is_empty();
        test_mkdir_p();
        test_remove_tree();
        test_lock();
        test_misc();
        ASSERT_EQ(fs_remove_tree(tmpdir), 0);
        printf("test-fs: ok\n");
        return 0;
}
