/* SPDX-License-Identifier: MIT */
/*
 * The held connection (conn.c) without PostgreSQL: a scripted stand-in
 * speaks just enough of the protocol on a unix socket (a child process) to
 * answer the status query, pg_promote() and the position query, fail them,
 * say goodbye while idle and hang up mid-query. No server: nothing to reach.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assert.h"
#include "conn.h"
#include "macro.h"

#define PORT 5999

static char dir[] = "/tmp/test-conn-XXXXXX";

/* ---- The stand-in server (runs in the child; any surprise exits 1). ---- */

typedef struct Out {
        char data[2048];
        size_t len;
} Out;

static void put(Out *o, const void *p, size_t n) {
        if (o->len + n > sizeof(o->data))
                exit(1);
        memcpy(o->data + o->len, p, n);
        o->len += n;
}

static void put16(Out *o, uint16_t v) {
        v = htons(v);
        put(o, &v, 2);
}

static void put32(Out *o, uint32_t v) {
        v = htonl(v);
        put(o, &v, 4);
}

static void puts0(Out *o, const char *s) {
        put(o, s, strlen(s) + 1);
}

/* One message: type, length, body. */
static void send_msg(int fd, char type, const Out *body) {
        Out m = {};

        put(&m, &type, 1);
        put32(&m, (uint32_t) (4 + (body ? body->len : 0)));
        if (body)
                put(&m, body->data, body->len);
        if (write(fd, m.data, m.len) != (ssize_t) m.len)
                exit(1);
}

static void send_str(int fd, char type, const char *s) {
        Out b = {};

        puts0(&b, s);
        send_msg(fd, type, &b);
}

static void send_ready(int fd) {
        Out b = {};

        put(&b, "I", 1);
        send_msg(fd, 'Z', &b);
}

/* A text row: RowDescription and DataRow (NULL values as SQL NULL), then CommandComplete. */
static void send_row(int fd, size_t n, const char *const *values) {
        Out t = {}, d = {};

        put16(&t, (uint16_t) n);
        put16(&d, (uint16_t) n);
        for (size_t i = 0; i < n; i++) {
                puts0(&t, "c");
                put32(&t, 0);
                put16(&t, 0);
                put32(&t, 25); /* text */
                put16(&t, 0xffff);
                put32(&t, 0xffffffff);
                put16(&t, 0);
                put32(&d, values[i] ? (uint32_t) strlen(values[i]) : 0xffffffff);
                if (values[i])
                        put(&d, values[i], strlen(values[i]));
        }
        send_msg(fd, 'T', &t);
        send_msg(fd, 'D', &d);
        send_str(fd, 'C', "SELECT 1");
}

/* An ErrorResponse ('E') or a NoticeResponse ('N'). */
static void send_report(int fd, char type, const char *severity, const char *sqlstate, const char *message) {
        Out b = {};

        put(&b, "S", 1);
        puts0(&b, severity);
        put(&b, "V", 1);
        puts0(&b, severity);
        put(&b, "C", 1);
        puts0(&b, sqlstate);
        put(&b, "M", 1);
        puts0(&b, message);
        put(&b, "", 1);
        send_msg(fd, type, &b);
}

static void send_error(int fd, const char *severity, const char *sqlstate, const char *message) {
        send_report(fd, 'E', severity, sqlstate, message);
}

static void read_all(int fd, void *p, size_t n) {
        for (size_t got = 0; got < n;) {
                ssize_t r = read(fd, (char *) p + got, n - got);

                if (r <= 0)
                        exit(1);
                got += (size_t) r;
        }
}

/* Read one request (a simple query, or an extended one up to its Sync); exit 1 unless it contains want. */
static void expect(int fd, const char *want) {
        static char text[8192];
        size_t len = 0;
        char type;

        do {
                uint32_t n;

                read_all(fd, &type, 1);
                read_all(fd, &n, 4);
                n = ntohl(n);
                if (n < 4 || len + n - 4 >= sizeof(text))
                        exit(1);
                read_all(fd, text + len, n - 4);
                len += n - 4;
        } while (type != 'Q' && type != 'S');
        /* The bodies hold NULs: look at each string in them. */
        for (size_t i = 0; i < len; i += strlen(text + i) + 1)
                if (strstr(text + i, want))
                        return;
        exit(1);
}

/* Accept a connection: read the startup packet, trust it, say which version we are. */
static int accept_session(int lfd, const char *version) {
        Out k = {};
        static char startup[1024];
        uint32_t n;
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0)
                exit(1);
        read_all(fd, &n, 4);
        n = ntohl(n);
        if (n < 8 || n - 4 > sizeof(startup))
                exit(1);
        read_all(fd, startup, n - 4);
        put32(&k, 0);
        send_msg(fd, 'R', &k); /* AuthenticationOk */
        k.len = 0;
        puts0(&k, "server_version");
        puts0(&k, version);
        send_msg(fd, 'S', &k);
        k.len = 0;
        put32(&k, 4242);
        put32(&k, 1);
        send_msg(fd, 'K', &k);
        send_ready(fd);
        return fd;
}

static void wait_go(int go) {
        char c;

        read_all(go, &c, 1);
}

static const char *const standby_row[] = { "t", "streaming", "10.0.0.1", "5432", "0", "", "800", "60000" };

static void script(int lfd, int go) {
        static const char *const lag_row[] = { "t", "streaming", "10.0.0.1", "5432", "42", "", "900", "60000" };
        static const char *const position_row[] = { "0/3000148", "000000020000000000000003" };
        int fd = accept_session(lfd, "15.4");

        /* The first status query carries the session set-up: two results. */
        expect(fd, "SET idle_session_timeout = 0; SELECT pg_is_in_recovery()");
        send_str(fd, 'C', "SET");
        send_row(fd, 8, standby_row);
        send_ready(fd);
        expect(fd, "SELECT pg_is_in_recovery()");
        send_row(fd, 8, lag_row);
        send_ready(fd);
        expect(fd, "SELECT pg_is_in_recovery()");
        send_error(fd, "ERROR", "42P01", "relation \"pg_stat_wal_receiver\" does not exist");
        send_ready(fd);

        /* The promotion: pg_promote(false), a wait for the end of recovery in the same round trip (a
         * DO block), then the answer: false (pending), true, refused, failed. */
        for (int i = 0; i < 4; i++) {
                expect(fd, "IF NOT pg_promote(false) THEN RETURN; END IF; WHILE pg_is_in_recovery()");
                if (i < 2) {
                        send_str(fd, 'C', "DO");
                        send_row(fd, 1, (const char *const[]) { i == 0 ? "f" : "t" });
                } else if (i == 2)
                        send_error(fd, "ERROR", "55000", "recovery is not in progress");
                else
                        send_error(fd, "ERROR", "57014", "canceling statement due to user request");
                send_ready(fd);
        }
        expect(fd, "pg_walfile_name(pg_current_wal_lsn())");
        send_row(fd, 2, position_row);
        send_ready(fd);

        /* Idle: the server's goodbye, then it hangs up. */
        wait_go(go);
        send_error(fd, "FATAL", "57P01", "terminating connection due to administrator command");
        close(fd);

        /* A new connection, lost in the middle of a status query, with a word first. */
        fd = accept_session(lfd, "15.4");
        expect(fd, "pg_is_in_recovery()");
        send_report(fd, 'N', "WARNING", "57P01", "terminating connection due to administrator command");
        close(fd);

        /* One more, from a server too old for pg_promote(). */
        fd = accept_session(lfd, "11.22");
        close(fd);
        exit(0);
}

static pid_t start_server(int *ret_go) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int lfd, go[2];
        pid_t pid;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%d", dir, PORT);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(lfd >= 0);
        ASSERT_EQ(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ASSERT_EQ(listen(lfd, 4), 0);
        ASSERT_EQ(pipe(go), 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* Never outlive a parent that failed. */
                alarm(30);
                close(go[1]);
                script(lfd, go[0]);
        }
        close(lfd);
        close(go[0]);
        *ret_go = go[1];
        return pid;
}

/* ---- The tests (the parent). ---- */

static void wait_readable(const Conn *c) {
        struct pollfd p = { .fd = conn_fd(c), .events = POLLIN };

        ASSERT_TRUE(p.fd >= 0);
        ASSERT_EQ(poll(&p, 1, 10000), 1);
}

static int status(Conn *c, StandbyState *s, char **error) {
        int r;

        do {
                wait_readable(c);
                r = conn_receive_status(c, s, error);
        } while (r == 0);
        return r;
}

static PromoteOutcome promote(Conn *c, char **error) {
        PromoteOutcome o;
        int r;

        ASSERT_EQ(conn_send_promote(c, 2000), 0);
        ASSERT_EQ(c->query, CONN_PROMOTE);
        do {
                wait_readable(c);
                r = conn_receive_promote(c, &o, error);
        } while (r == 0);
        ASSERT_EQ(r, 1);
        ASSERT_EQ(c->query, CONN_IDLE);
        return o;
}

static void test_no_server(void) {
        const char *reason = NULL;
        Conn c;

        conn_init(&c, dir, PORT + 1);
        ASSERT_EQ(conn_open(&c, &reason), -ENOTCONN);
        ASSERT_STREQ(reason, "no server on that socket");
        ASSERT_TRUE(c.pg == NULL);
        ASSERT_EQ(conn_fd(&c), -1);
        ASSERT_TRUE(!conn_ok(&c));
        ASSERT_EQ(conn_send_status(&c, 1), -ENOTCONN);
        ASSERT_EQ(conn_send_promote(&c, 1), -ENOTCONN);
        ASSERT_EQ(conn_send_position(&c, 1), -ENOTCONN);
        conn_drop(&c);
        conn_drop(&c);
}

static void test_overdue(void) {
        static const struct {
                ConnQuery query;
                uint64_t sent, now;
                bool overdue;
        } cases[] = {
                /* Beats every 2 s: a query sent just after one beat is a beat old at the next, a little
                 * short of 2 s; three quarters of a beat count as one. */
                { CONN_STATUS, 1000000, 1000000, false },
                { CONN_STATUS, 1000000, 2499999, false },
                { CONN_STATUS, 1000000, 2500000, true },
                { CONN_STATUS, 1000000, 3000000, true },
                { CONN_STATUS, 1000000, 60000000, true },
                /* Only the status query is watched so: pg_promote() waits as long as PostgreSQL needs. */
                { CONN_PROMOTE, 1000000, 60000000, false },
                { CONN_POSITION, 1000000, 60000000, false },
                { CONN_IDLE, 1000000, 60000000, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Conn c = { .query = cases[i].query, .sent = cases[i].sent };

                ASSERT_EQ(conn_status_overdue(&c, 2000000, cases[i].now), cases[i].overdue);
        }
}

static void test_status(Conn *c) {
        _cleanup_free_ char *error = NULL;
        StandbyState s = {};

        ASSERT_EQ(conn_send_status(c, 1000), 0);
        ASSERT_EQ(c->query, CONN_STATUS);
        ASSERT_EQ(c->sent, 1000);
        /* One query at a time. */
        ASSERT_EQ(conn_send_promote(c, 1001), -EBUSY);
        ASSERT_EQ(status(c, &s, &error), 1);
        ASSERT_EQ(c->query, CONN_IDLE);
        ASSERT_TRUE(c->session_set);
        ASSERT_TRUE(s.in_recovery);
        ASSERT_STREQ(s.upstream, "10.0.0.1:5432");
        ASSERT_EQ(s.lag, 0);
        promote_state_done(&s);

        /* The session is set up: the next status query comes alone. */
        ASSERT_EQ(conn_send_status(c, 2000), 0);
        ASSERT_EQ(status(c, &s, &error), 1);
        ASSERT_EQ(s.lag, 42);
        promote_state_done(&s);

        /* A failed query on a connection still good. */
        ASSERT_EQ(conn_send_status(c, 3000), 0);
        ASSERT_EQ(status(c, &s, &error), -EIO);
        ASSERT_CONTAINS(error, "does not exist");
        ASSERT_TRUE(conn_ok(c));
        ASSERT_EQ(c->query, CONN_IDLE);
}

static void test_promote_and_position(Conn *c) {
        char lsn[32] = "";
        unsigned timeline = 0;
        char *error = NULL;
        int r;

        ASSERT_EQ(promote(c, &error), PROMOTE_PENDING);
        ASSERT_EQ(promote(c, &error), PROMOTE_DONE);
        ASSERT_EQ(promote(c, &error), PROMOTE_NOT_IN_RECOVERY);
        ASSERT_TRUE(error == NULL);
        ASSERT_EQ(promote(c, &error), PROMOTE_FAILED);
        ASSERT_CONTAINS(error, "canceling statement due to user request");
        free(error);
        ASSERT_TRUE(conn_ok(c));

        ASSERT_EQ(conn_send_position(c, 5000), 0);
        ASSERT_EQ(c->query, CONN_POSITION);
        do {
                wait_readable(c);
                r = conn_receive_position(c, &timeline, lsn, sizeof(lsn));
        } while (r == 0);
        ASSERT_EQ(r, 1);
        ASSERT_EQ(timeline, 2);
        ASSERT_STREQ(lsn, "0/3000148");
        ASSERT_EQ(c->query, CONN_IDLE);
}

static void test_goodbye_while_idle(Conn *c, int go) {
        _cleanup_free_ char *reason = NULL;
        int r = 0;

        ASSERT_EQ(write(go, "g", 1), 1);
        /* The goodbye and the hang-up may take more than one read. Idle input is read, not parsed:
         * what is said is libpq's. */
        for (int i = 0; i < 10 && r == 0; i++) {
                wait_readable(c);
                r = conn_receive_idle(c);
        }
        ASSERT_EQ(r, -ECONNRESET);
        reason = conn_lost_reason(c);
        ASSERT_CONTAINS(reason, "server closed the connection unexpectedly");
        conn_drop(c);
        ASSERT_TRUE(c->pg == NULL && !c->session_set && c->notice[0] == 0);
}

static void test_lost_in_a_query(Conn *c) {
        _cleanup_free_ char *error = NULL, *reason = NULL;
        const char *why = NULL;
        StandbyState s = {};

        ASSERT_EQ(conn_open(c, &why), 1);
        ASSERT_EQ(conn_send_status(c, 6000), 0);
        ASSERT_EQ(status(c, &s, &error), -ECONNRESET);
        ASSERT_TRUE(error == NULL);
        /* The server's word during the query is the reason given. */
        reason = conn_lost_reason(c);
        ASSERT_STREQ(reason, "WARNING:  terminating connection due to administrator command");
        conn_drop(c);
}

static void test_too_old(Conn *c) {
        const char *why = NULL;

        ASSERT_EQ(conn_open(c, &why), -EPROTONOSUPPORT);
        ASSERT_EQ(c->version, 110022);
        ASSERT_TRUE(c->pg == NULL);
}

int main(void) {
        const char *why = NULL;
        int go, st;
        pid_t pid;
        Conn c;

        /* Either side may hang up first. */
        (void) signal(SIGPIPE, SIG_IGN);
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        test_no_server();
        test_overdue();

        pid = start_server(&go);
        conn_init(&c, dir, PORT);
        ASSERT_EQ(conn_open(&c, &why), 1);
        ASSERT_EQ(c.version, 150004);
        ASSERT_TRUE(conn_ok(&c) && conn_fd(&c) >= 0);
        /* Held: opening again is a no-op. */
        ASSERT_EQ(conn_open(&c, &why), 0);
        test_status(&c);
        test_promote_and_position(&c);
        test_goodbye_while_idle(&c, go);
        test_lost_in_a_query(&c);
        test_too_old(&c);
        conn_drop(&c);

        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(go);
        {
                char sock[sizeof(dir) + 32];

                snprintf(sock, sizeof(sock), "%s/.s.PGSQL.%d", dir, PORT);
                ASSERT_EQ(unlink(sock), 0);
        }
        ASSERT_EQ(rmdir(dir), 0);
        return 0;
}
