/* SPDX-License-Identifier: MIT */
/*
 * notify.h against a datagram socket of our own, in the role of systemd:
 * nothing is sent without NOTIFY_SOCKET; with it, each wrapper sends exactly
 * its message, STATUS= stays one line, and NOTIFY_SOCKET is left for the
 * postmaster. WatchdogSec= is read from WATCHDOG_USEC/WATCHDOG_PID.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "assert.h"
#include "fs.h"
#include "notify.h"

static char tmpdir[] = "/tmp/pgrepl-test-notify.XXXXXX";
static int sock = -1;

/* The next datagram, or NULL when none arrives within timeout_ms. */
static char *next_message(int timeout_ms) {
        struct pollfd p = { .fd = sock, .events = POLLIN };
        char *buf;
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return NULL;
        buf = calloc(1, 4096);
        ASSERT_TRUE(buf);
        n = recv(sock, buf, 4095, MSG_DONTWAIT);
        ASSERT_TRUE(n >= 0);
        return buf;
}

static void expect(const char *message) {
        char *m = next_message(2000);

        ASSERT_STREQ(m, message);
        free(m);
}

static void test_without_socket(void) {
        ASSERT_TRUE(next_message(0) == NULL);
        unsetenv("NOTIFY_SOCKET");
        notify_status("nobody listens %d", 1);
        notify_ready("ready");
        notify_ready(NULL);
        notify_stopping();
        notify_watchdog();
        notify_extend_timeout(1000000);
        ASSERT_TRUE(next_message(100) == NULL);
        ASSERT_TRUE(getenv("NOTIFY_SOCKET") == NULL);
}

static void test_messages(const char *path) {
        char long_status[2000], expected[2000];

        setenv("NOTIFY_SOCKET", path, 1);

        notify_status("waiting for primary '%s': %s, retry in %us", "10.0.0.1:5432", "connection refused", 8u);
        expect("STATUS=waiting for primary '10.0.0.1:5432': connection refused, retry in 8s");
        /* One line: a newline in a value would start a new assignment. */
        notify_status("host '%s'", "a\nREADY=1");
        expect("STATUS=host 'a READY=1'");

        /* Long: cut at 1023 characters, still sent. */
        memset(long_status, 's', sizeof(long_status) - 1);
        long_status[sizeof(long_status) - 1] = 0;
        notify_status("%s", long_status);
        snprintf(expected, sizeof(expected), "STATUS=%.1023s", long_status);
        expect(expected);

        notify_ready(NULL);
        expect("READY=1");
        notify_ready("streaming from '10.0.0.1:5432'");
        expect("READY=1\nSTATUS=streaming from '10.0.0.1:5432'");
        notify_stopping();
        expect("STOPPING=1");
        notify_watchdog();
        expect("WATCHDOG=1");
        notify_extend_timeout(90ULL * 1000 * 1000);
        expect("EXTEND_TIMEOUT_USEC=90000000");
        notify_extend_timeout(UINT64_MAX);
        expect("EXTEND_TIMEOUT_USEC=18446744073709551615");

        /* Nothing more than asked for, and NOTIFY_SOCKET is still there for the postmaster. */
        ASSERT_TRUE(next_message(100) == NULL);
        ASSERT_STREQ(getenv("NOTIFY_SOCKET"), path);
        unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_usec(void) {
        char pid[32];

        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        ASSERT_TRUE(notify_watchdog_usec() == 0);

        setenv("WATCHDOG_USEC", "3000000", 1);
        ASSERT_TRUE(notify_watchdog_usec() == 3000000);
        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        setenv("WATCHDOG_PID", pid, 1);
        ASSERT_TRUE(notify_watchdog_usec() == 3000000);
        ASSERT_STREQ(getenv("WATCHDOG_USEC"), "3000000"); /* read, not consumed */

        /* Meant for another process (our parent, say): not ours to pet. */
        snprintf(pid, sizeof(pid), "%d", (int) getppid());
        setenv("WATCHDOG_PID", pid, 1);
        ASSERT_TRUE(notify_watchdog_usec() == 0);

        unsetenv("WATCHDOG_PID");
        setenv("WATCHDOG_USEC", "soon", 1);
        ASSERT_TRUE(notify_watchdog_usec() == 0);
        setenv("WATCHDOG_USEC", "0", 1);
        ASSERT_TRUE(notify_watchdog_usec() == 0);
        unsetenv("WATCHDOG_USEC");
}

int main(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        ASSERT_TRUE(mkdtemp(tmpdir));
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", tmpdir);
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(sock >= 0);
        ASSERT_EQ(bind(sock, (struct sockaddr *) &sa, sizeof(sa)), 0);

        test_messages(sa.sun_path);
        test_without_socket(); /* after: nothing remembered from when it was set */
        test_watchdog_usec();

        close(sock);
        ASSERT_EQ(fs_remove_tree(tmpdir), 0);
        printf("test-notify: ok\n");
        return 0;
}
