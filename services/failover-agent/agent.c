/* SPDX-License-Identifier: MIT */
/*
 * The agent's loop. Each turn waits for the etcd watch, a stop request or
 * the tick (200 ms), then: renews the lease when due, asks the local
 * server, publishes this member when its state changed (or every second),
 * and acts on what it sees:
 *
 *   writable primary   keep (or take) the leader key; fence the server when
 *                      another member holds it, when the lease could not be
 *                      renewed for TTL - margin, or for a switchover
 *   standby            race for a free key (member.h's rules), promote on
 *                      winning; nudge the WAL receiver towards a new leader;
 *                      hand the watcher's switchover request to etcd
 *   down               release a key held while the server stays down; ask
 *                      root for a rejoin once another member leads
 *
 * Fencing is a fast shutdown: the postmaster ends every session at once and
 * refuses new ones, so the old primary takes no write after the moment it
 * stops holding a valid lease.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "control.h"
#include "errors.h"
#include "etcd-leader.h"
#include "etcd.h"
#include "fs.h"
#include "local.h"
#include "log.h"
#include "member.h"
#include "notify.h"
#include "pg.h"
#include "signals.h"
#include "util.h"

#define TICK_MS 200
#define MSEC 1000ULL
#define SEC 1000000ULL
/* The election: every running standby publishes its position again when the key goes; each waits for
 * the others' (at most SETTLE: a member whose agent died cannot), then the best goes first; after the
 * grace any eligible member may race. */
#define SETTLE_USEC (500 * MSEC)
#define GRACE_USEC (2 * SEC)
/* With synchronous commit the grace is a whole TTL: a better member's record outlives its agent by that. */
/* Siblings: nudge the WAL receiver this long after a new primary appears, this often. */
#define NUDGE_WINDOW_USEC (20 * SEC)
#define NUDGE_EVERY_USEC (250 * MSEC)
/* The same request to root again only after this long. */
#define REQUEST_AGAIN_USEC (60 * SEC)
#define MEMBERS_MAX 32
#define MAX_U64(a, b) ((a) > (b) ? (a) : (b))
#define MIN_U64(a, b) ((a) < (b) ? (a) : (b))

typedef struct Agent {
        const Config *c;
        const char *self;
        char *state_dir;
        char *prefix, *key_leader, *key_switchover, *prefix_members, *key_member;
        Etcd *etcd;
        bool etcd_ok;
        bool resync;          /* read everything again and restart the watch */
        int sigfd;

        int64_t lease;
        uint64_t lease_ok;    /* when the last successful keepalive (or grant) was sent */
        uint64_t next_keepalive;
        uint64_t ttl_usec, margin_usec, keepalive_usec;

        char *leader;         /* the leader key's holder, NULL when free */
        int64_t leader_lease;
        uint64_t unkeyed_since; /* writable without holding the key since */
        uint64_t election_since;
        int64_t free_revision;  /* the leader key's deletion, for telling fresh member records */
        bool seen_leader;       /* since this agent started */
        bool republished;       /* this standby's position published since the key went */
        int64_t revision_seen;  /* the newest etcd revision seen (a resync's, an event's) */
        char *key_sync;
        char *sync_json;        /* the last primary's synchronous standbys as kept in PREFIX/sync */
        uint64_t started;
        char *switchover_to;

        Member members[MEMBERS_MAX];
        size_t n_members;
        Member last_primary;
        bool have_last_primary;

        Local local;
        Member me;
        char *published;
        uint64_t published_at;

        bool fenced;
        pid_t fence_pid;
        uint64_t down_since;
        uint64_t nudge_until, last_nudge;
        char last_request[16];
        uint64_t last_request_at;
        char *last_status;
} Agent;

static void say(Agent *a, const char *fmt, ...) _printf_(2, 3);
static void say(Agent *a, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s || (a->last_status && streq(a->last_status, s)))
                return;
        notify_status("%s", s);
        free(a->last_status);
        a->last_status = TAKE_PTR(s);
}

static bool is_self(const Agent *a, const char *name) {
        return name && streq(name, a->self);
}

/* ---- What etcd has. ---- */

static Member *find_member(Agent *a, const char *name) {
        for (size_t i = 0; i < a->n_members; i++)
                if (streq(a->members[i].name, name))
                        return &a->members[i];
        return NULL;
}

static void set_leader(Agent *a, const char *value, int64_t lease, int64_t revision) {
        bool changed = !!a->leader != !!value || (value && !streq(a->leader, value));

        if (revision > a->revision_seen)
                a->revision_seen = revision;
        if (changed) {
                free(a->leader);
                a->leader = value ? strdup(value) : NULL;
                if (value)
                        log_notice("Leader: '%s'%s", value, is_self(a, value) ? " (this node)" : "");
                else
                        log_notice("The leader key is free");
                a->nudge_until = value && !is_self(a, value) ? now_usec() + NUDGE_WINDOW_USEC : 0;
        }
        /* A free key starts an election, also the first time it is read free (a->leader was NULL already). */
        if (value)
                a->election_since = 0, a->free_revision = 0;
        else if (changed || !a->election_since) {
                a->election_since = now_usec();
                a->free_revision = a->revision_seen;
                a->republished = false;
        }
        a->leader_lease = value ? lease : 0;
        a->seen_leader = a->seen_leader || value;
}

static void member_put(Agent *a, const char *name, const char *value, int64_t revision) {
        Member m, *slot;

        if (member_from_json(name, value, &m) < 0) {
                log_debug("Ignoring member '%s': not a member record", name);
                return;
        }
        m.revision = revision;
        slot = find_member(a, name);
        if (!slot) {
                if (a->n_members >= MEMBERS_MAX)
                        return;
                slot = &a->members[a->n_members++];
        }
        /* A new primary: siblings nudge their WAL receivers towards it. */
        if (m.role == MEMBER_PRIMARY && slot->role != MEMBER_PRIMARY && !is_self(a, name))
                a->nudge_until = now_usec() + NUDGE_WINDOW_USEC;
        *slot = m;
        if (m.role == MEMBER_PRIMARY) {
                a->last_primary = m;
                a->have_last_primary = true;
        }
}

static void member_delete(Agent *a, const char *name) {
        Member *m = find_member(a, name);

        if (m)
                *m = a->members[--a->n_members];
}

static void apply(Agent *a, const char *key, const char *value, int64_t lease, int64_t revision) {
        if (revision > a->revision_seen && !streq(key, a->key_leader))
                a->revision_seen = revision;
        if (streq(key, a->key_sync)) {
                Member m;

                free(a->sync_json);
                a->sync_json = value ? strdup(value) : NULL;
                /* The record outlives the leader's lease: a restarted agent still knows the list. */
                if (value && !a->have_last_primary && member_from_json("", value, &m) >= 0 &&
                    member_sync_owner(value, m.name, sizeof(m.name)) >= 0) {
                        a->last_primary = m;
                        a->have_last_primary = true;
                }
        } else if (streq(key, a->key_leader))
                set_leader(a, value, lease, revision);
        else if (streq(key, a->key_switchover)) {
                free(a->switchover_to);
                a->switchover_to = NULL;
                if (value && member_switchover_target(value, &a->switchover_to) >= 0)
                        log_notice("Switchover to '%s' requested", a->switchover_to);
        } else if (strncmp(key, a->prefix_members, strlen(a->prefix_members)) == 0) {
                const char *name = key + strlen(a->prefix_members);

                if (value)
                        member_put(a, name, value, revision);
                else
                        member_delete(a, name);
        }
}

static int resync(Agent *a) {
        _cleanup_free_ EtcdKV *kvs = NULL;
        size_t n = 0;
        int64_t rev = 0;
        bool leader = false, switchover = false;
        int r;

        r = etcd_get_prefix(a->etcd, a->prefix, &kvs, &n, &rev);
        if (r < 0)
                return r;
        if (rev > a->revision_seen)
                a->revision_seen = rev;
        a->n_members = 0;
        for (size_t i = 0; i < n; i++) {
                apply(a, kvs[i].key, kvs[i].value, kvs[i].lease, kvs[i].mod_revision);
                leader = leader || streq(kvs[i].key, a->key_leader);
                switchover = switchover || streq(kvs[i].key, a->key_switchover);
        }
        for (size_t i = 0; i < n; i++)
                etcd_kv_done(&kvs[i]);
        if (!leader)
                set_leader(a, NULL, 0, rev);
        if (!switchover)
                apply(a, a->key_switchover, NULL, 0, rev);
        r = etcd_watch_start(a->etcd, a->prefix, rev + 1);
        if (r < 0)
                return r;
        a->resync = false;
        return 0;
}

static void fence(Agent *a, const char *why);
static void arm_fence_timer(Agent *a);

/* ---- The lease. ---- */

static void etcd_failed(Agent *a, int r, const char *what) {
        if (a->etcd_ok)
                log_warning_errno(r, "etcd (%s) did not answer %s: %m", config_get(a->c, VAR_ETCD_HOSTS), what);
        a->etcd_ok = false;
        a->resync = true;
}

static void etcd_answered(Agent *a) {
        if (!a->etcd_ok)
                log_notice("etcd answers again (%s)", etcd_endpoint(a->etcd));
        a->etcd_ok = true;
}

static int keep_lease(Agent *a) {
        uint64_t sent = now_usec();
        int64_t ttl;
        int r;

        if (a->lease && sent < a->next_keepalive)
                return 0;
        if (!a->lease) {
                r = etcd_lease_grant(a->etcd, a->c->failover_ttl, &a->lease);
                if (r < 0) {
                        a->next_keepalive = sent + TICK_MS * MSEC;
                        etcd_failed(a, r, "a lease grant");
                        return r;
                }
                etcd_answered(a);
                log_info("Lease %llx granted for %u s", (unsigned long long) a->lease, a->c->failover_ttl);
                free(a->published);
                a->published = NULL; /* the member key needs the new lease */
        } else {
                r = etcd_lease_keepalive(a->etcd, a->lease, &ttl);
                if (r == -ENOENT) {
                        log_warning("Lease %llx expired: this node's keys are gone", (unsigned long long) a->lease);
                        etcd_answered(a);
                        /* The leader key went with it: another member may lead already. */
                        if (is_self(a, a->leader)) {
                                fence(a, "its lease expired: another member may lead already");
                                set_leader(a, NULL, 0, 0);
                        }
                        a->resync = true;
                        a->lease = 0;
                        free(a->published);
                        a->published = NULL;
                        return keep_lease(a);
                }
                if (r < 0) {
                        a->next_keepalive = sent + TICK_MS * MSEC;
                        etcd_failed(a, r, "a lease keepalive");
                        return r;
                }
                etcd_answered(a);
        }
        a->lease_ok = sent;
        a->next_keepalive = sent + a->keepalive_usec;
        arm_fence_timer(a);
        return 0;
}

/* A leader key of this node's name on another lease (an earlier run of the agent): keep that lease. */
static void adopt_leader_lease(Agent *a) {
        int64_t ttl;

        uint64_t sent = now_usec();

        if (!is_self(a, a->leader) || !a->leader_lease || a->leader_lease == a->lease)
                return;
        if (etcd_lease_keepalive(a->etcd, a->leader_lease, &ttl) < 0)
                return;
        log_notice("Kept the leader key's lease %llx of an earlier run", (unsigned long long) a->leader_lease);
        if (a->lease)
                (void) etcd_lease_revoke(a->etcd, a->lease);
        a->lease = a->leader_lease;
        a->lease_ok = sent;
        a->next_keepalive = a->lease_ok + a->keepalive_usec;
        arm_fence_timer(a);
        free(a->published);
        a->published = NULL;
}

/* ---- The local server. ---- */

static void publish(Agent *a, bool force) {
        _cleanup_free_ char *json = NULL, *cmp = NULL;
        uint64_t now = now_usec();
        Member m = a->me;
        int r;

        if (!a->lease || !a->etcd_ok)
                return;
        m.time = 0; /* compared without the time */
        if (member_to_json(&m, &cmp) < 0)
                return;
        if (!force && a->published && streq(a->published, cmp) && now < a->published_at + SEC)
                return;
        if (member_to_json(&a->me, &json) < 0)
                return;
        r = etcd_put(a->etcd, a->key_member, json, a->lease);
        if (r < 0) {
                etcd_failed(a, r, "the member's state");
                return;
        }
        free(a->published);
        a->published = TAKE_PTR(cmp);
        a->published_at = now;
}

/* Ask root (pgrepl-failover-act@.path) for what the agent cannot do: "rejoin" or "start". */
static void request(Agent *a, const char *what, const char *why) {
        _cleanup_free_ char *path = path_join(a->state_dir, AGENT_REQUEST), *line = NULL;
        uint64_t now = now_usec();
        int r;

        if (streq(a->last_request, what) && now < a->last_request_at + REQUEST_AGAIN_USEC)
                return;
        if (!path || asprintf(&line, "%s\n", what) < 0)
                return (void) log_oom();
        r = fs_write_atomic(path, line, 0600);
        if (r < 0)
                return (void) log_error_errno(r, "Cannot write '%s': %m", path);
        snprintf(a->last_request, sizeof(a->last_request), "%s", what);
        a->last_request_at = now;
        log_notice("Asked for a %s of this node's server: %s", what, why);
        say(a, "asked for a %s: %s", what, why);
}

static void fence(Agent *a, const char *why) {
        int r;

        if (a->fenced && local_pid_alive(a->fence_pid))
                return;
        r = local_fence(&a->local, &a->fence_pid);
        if (r == -ESRCH) {
                a->fenced = true;
                a->fence_pid = 0;
                return;
        }
        if (r < 0) {
                log_error_errno(r, "Cannot fence this node's server (%s): %m", why);
                return;
        }
        a->fenced = true;
        log_warning("Fenced: stopped this node's server (fast shutdown of PID %d) because %s", (int) a->fence_pid,
                    why);
        say(a, "fenced: %s", why);
        a->me.role = MEMBER_DOWN;
        publish(a, true);
}

/* Give the key back, when this node holds it: the others need not wait for the lease to expire. */
static void release(Agent *a, const char *why) {
        int r;

        if (!is_self(a, a->leader) || !a->etcd_ok)
                return;
        r = etcd_delete_if_value(a->etcd, a->key_leader, a->self);
        if (r < 0)
                return etcd_failed(a, r, "the release of the leader key");
        log_notice("Released the leader key: %s", why);
        set_leader(a, NULL, 0, 0);
}

/* ---- The fence timer. ----
 *
 * The loop checks the deadline every turn, but a turn can block (a local server that hangs, etcd
 * requests timing out one endpoint after the other). A POSIX timer armed at the deadline sends the
 * postmaster its SIGINT from a signal handler whatever the loop is doing; each turn re-arms it from the
 * last renewal. */

static volatile sig_atomic_t alarm_pid;   /* the postmaster to stop when the timer fires */
static volatile sig_atomic_t alarm_fired; /* the pid it stopped */
static timer_t fence_timer;

static void on_alarm(int sig) {
        int saved = errno;
        pid_t pid = (pid_t) alarm_pid;

        if (pid > 0 && kill(pid, SIGINT) == 0)
                alarm_fired = pid;
        errno = saved;
}

static int fence_timer_setup(void) {
        struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
        struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGALRM, &sa, NULL) < 0 || timer_create(CLOCK_MONOTONIC, &ev, &fence_timer) < 0)
                return -errno;
        return 0;
}

static uint64_t fence_deadline(const Agent *a);
static bool holds_key(const Agent *a);

static void arm_fence_timer(Agent *a) {
        struct itimerspec its = {};
        uint64_t d = 0, now = now_usec();
        pid_t pid = 0;

        if (a->me.role == MEMBER_PRIMARY || (holds_key(a) && local_dir_running(&a->local)))
                d = fence_deadline(a);
        if (d && pg_postmaster_pid(config_get(a->c, VAR_DATA_DIR), &pid) >= 0) {
                uint64_t left = d > now ? d - now : 1;

                alarm_pid = pid;
                its.it_value.tv_sec = (time_t) (left / SEC);
                its.it_value.tv_nsec = (long) (left % SEC) * 1000L;
                (void) timer_settime(fence_timer, 0, &its, NULL);
        } else {
                (void) timer_settime(fence_timer, 0, &its, NULL); /* all zero: disarmed */
                alarm_pid = 0;
        }
}

/* What the timer did, said by the loop. */
static void fence_timer_report(Agent *a) {
        pid_t pid = (pid_t) alarm_fired;

        if (!pid)
                return;
        alarm_fired = 0;
        a->fenced = true;
        a->fence_pid = pid;
        log_warning("Fenced: stopped this node's server (fast shutdown of PID %d) at its deadline: the lease could "
                    "not be renewed in time", (int) pid);
        say(a, "fenced at its deadline: the lease could not be renewed in time");
}

/* ---- Roles. ---- */

/* Whether this node holds the leader key under the lease it renews. */
static bool holds_key(const Agent *a) {
        return is_self(a, a->leader) && a->lease && a->leader_lease == a->lease;
}

/* When a writable server must be fenced: the key held, TTL - margin after the last renewal sent (before
 * etcd can let the lease expire); without it, the margin after it became writable without the key. */
static uint64_t fence_deadline(const Agent *a) {
        if (holds_key(a))
                return a->lease_ok + a->ttl_usec - a->margin_usec;
        /* The margin to take a key read free; none when etcd cannot even be asked. */
        if (!a->unkeyed_since)
                return 0;
        return a->unkeyed_since + (a->etcd_ok && !a->leader ? a->margin_usec : 0);
}

static bool deadline_passed(const Agent *a, uint64_t now) {
        uint64_t d = fence_deadline(a);

        return d && now >= d;
}

/* The leader's synchronous standbys in PREFIX/sync, without a lease, written when the list changes. */
static void keep_sync_record(Agent *a) {
        _cleanup_free_ char *json = NULL;
        int r;

        if (!a->etcd_ok || member_to_sync_json(&a->me, &json) < 0)
                return;
        if (a->sync_json && streq(a->sync_json, json))
                return;
        r = etcd_put(a->etcd, a->key_sync, json, 0);
        if (r < 0)
                return etcd_failed(a, r, "the synchronous standbys' record");
        free(a->sync_json);
        a->sync_json = TAKE_PTR(json);
}

static void as_primary(Agent *a, uint64_t now) {
        _cleanup_free_ char *why = NULL;
        Member *target;
        int r;

        if (a->leader && !is_self(a, a->leader)) {
                if (asprintf(&why, "member '%s' holds the leader key", a->leader) >= 0)
                        fence(a, why);
                return;
        }
        if (!a->leader && a->lease && a->etcd_ok) {
                r = etcd_create(a->etcd, a->key_leader, a->self, a->lease);
                if (r < 0)
                        etcd_failed(a, r, "the leader key's creation");
                else if (r == 1)
                        set_leader(a, a->self, a->lease, 0);
                else
                        a->resync = true; /* someone else has it: the watch says who */
        }
        if (holds_key(a)) {
                a->unkeyed_since = 0;
                keep_sync_record(a);
        } else if (!a->unkeyed_since)
                a->unkeyed_since = now;
        if (deadline_passed(a, now)) {
                fence(a, holds_key(a) ? "its lease could not be renewed in time: another node may take over"
                                      : "it could not take the leader key in time");
                return;
        }
        if (!a->switchover_to || is_self(a, a->switchover_to) || !is_self(a, a->leader))
                return;
        target = find_member(a, a->switchover_to);
        if (!target || target->role != MEMBER_STANDBY || !target->streaming) {
                log_warning("Switchover to '%s' refused: it is not a streaming standby", a->switchover_to);
                (void) etcd_delete(a->etcd, a->key_switchover);
                return;
        }
        /* Step down first: stop taking writes, let the WAL senders hand everything over, then free the key. */
        if (asprintf(&why, "of a switchover to '%s'", a->switchover_to) < 0)
                return (void) log_oom();
        fence(a, why);
        for (uint64_t end = now_usec() + a->ttl_usec - a->margin_usec;
             a->fence_pid && local_pid_alive(a->fence_pid) && now_usec() < end;)
                (void) usleep(20 * 1000);
        /* The key goes only once the old server is gone: never two writable. */
        if (!a->fenced || (a->fence_pid && local_pid_alive(a->fence_pid)) || local_dir_running(&a->local)) {
                log_error("Switchover to '%s' abandoned: this node's server did not stop; the key stays here",
                          a->switchover_to);
                (void) etcd_delete(a->etcd, a->key_switchover);
                return;
        }
        release(a, why);
}

static void nudge(Agent *a, uint64_t now) {
        const Partners *p = &a->c->partners;
        Member *leader = a->leader ? find_member(a, a->leader) : NULL;
        bool from_other = false;

        if (!leader || leader->role != MEMBER_PRIMARY || now >= a->nudge_until || now < a->last_nudge + NUDGE_EVERY_USEC)
                return;
        /* Streaming from a partner that is not the leader (an old primary behind a cut link): end it. */
        if (a->local.streaming && a->local.sender[0]) {
                for (size_t k = 0; k < p->n; k++)
                        if (streq(p->items[k].display, a->local.sender) && !streq(p->items[k].display, a->leader))
                                from_other = true;
                if (!from_other)
                        return;
        }
        a->last_nudge = now;
        if (from_other)
                (void) local_end_receiver(&a->local);
        else
                (void) local_nudge(&a->local);
}

static void switchover_request(Agent *a) {
        _cleanup_free_ char *path = path_join(a->state_dir, AGENT_SWITCHOVER_REQUEST), *json = NULL;
        int r;

        if (!path || access(path, F_OK) < 0)
                return;
        if (!a->etcd_ok || !a->lease)
                return; /* kept for when etcd answers */
        if (!a->leader || is_self(a, a->leader))
                log_notice("Switchover request dropped: %s", a->leader ? "this node leads already"
                                                                         : "no member leads; the election decides");
        else if (asprintf(&json, "{\"to\":\"%s\",\"from\":\"%s\"}", a->self, a->leader) < 0)
                return (void) log_oom();
        else {
                r = etcd_put(a->etcd, a->key_switchover, json, a->lease);
                if (r < 0)
                        return etcd_failed(a, r, "the switchover request");
                log_notice("Asked '%s' to hand over the leader key to this node (switchover)", a->leader);
        }
        (void) unlink(path);
}

static void promote(Agent *a) {
        _cleanup_free_ char *error = NULL;
        uint64_t t0 = now_usec();
        int r;

        /* A fraction of the TTL per turn: the lease under the new key must be renewed meanwhile. */
        r = local_promote(&a->local, MAX_U64(1, a->c->failover_ttl / 4), &error);
        if (r == 0)
                return; /* still finishing recovery: the next turn asks again */
        if (r < 0) {
                /* pg_promote() may have been carried out all the same: keep the key (never two writable)
                 * and ask again next turn; a server that stays down gives it back after a TTL (as_down). */
                log_error("Promotion not confirmed: %s; keeping the leader key and asking again",
                          error ? error : "the server did not answer");
                return;
        }
        log_notice("Promoted: this node holds the leader key and its server is writable (%llu ms)",
                   (unsigned long long) ((now_usec() - t0) / MSEC));
        local_refresh(&a->local);
        local_member(&a->local, a->self, &a->me);
        publish(a, true);
        if (a->switchover_to && is_self(a, a->switchover_to))
                (void) etcd_delete(a->etcd, a->key_switchover);
}

static void elect(Agent *a, uint64_t now) {
        ElectInput in = {
                .self = a->self,
                .members = a->members,
                .n_members = a->n_members,
                .last_primary = a->have_last_primary ? &a->last_primary : NULL,
                .sync_mode = a->c->num_sync > 0 && !streq(config_get(a->c, VAR_SYNCHRONOUS_COMMIT_MODE), "local") &&
                             !streq(config_get(a->c, VAR_SYNCHRONOUS_COMMIT_MODE), "off"),
                .max_lag = a->c->max_lag_failover,
                .switchover_to = a->switchover_to,
        };
        const char *why = NULL;
        bool stale = false;
        int r;

        if (!a->lease || !a->etcd_ok)
                return;
        /* A new agent that never saw a leader gives a running primary's agent a whole TTL to take the key. */
        if (!a->seen_leader && now < a->started + a->ttl_usec)
                return say(a, "standby; no leader yet, waiting for a primary's agent to take the key");
        /* A primary that published after the key went is alive: its agent takes the key back, or fences. */
        for (size_t i = 0; i < a->n_members; i++)
                if (!is_self(a, a->members[i].name) && a->members[i].role == MEMBER_PRIMARY &&
                    a->members[i].revision > a->free_revision)
                        return say(a, "standby; member '%s' is a primary without the key", a->members[i].name);
        if (!a->election_since)
                a->election_since = now;
        if (!a->republished) {
                publish(a, true);
                a->republished = a->etcd_ok;
        }
        /* Compare positions published after the key went: wait for every other running standby's. */
        for (size_t i = 0; i < a->n_members; i++)
                stale = stale || (!is_self(a, a->members[i].name) && a->members[i].role == MEMBER_STANDBY &&
                                  a->members[i].revision <= a->free_revision);
        if (stale && now < a->election_since + SETTLE_USEC && !(a->switchover_to && is_self(a, a->switchover_to)))
                return;
        in.fresh_after = a->free_revision;
        in.grace_over = now >= a->election_since + (in.sync_mode ? a->ttl_usec : GRACE_USEC);
        switch (elect_decide(&in, &a->me, &why)) {
        case ELECT_INELIGIBLE:
                say(a, "standby, not eligible to take over: %s", why);
                return;
        case ELECT_WAIT:
                say(a, "standby, waiting: %s", why);
                return;
        case ELECT_TAKE:
                break;
        }
        r = etcd_create(a->etcd, a->key_leader, a->self, a->lease);
        if (r < 0)
                return etcd_failed(a, r, "the leader key's creation");
        if (r == 0) {
                a->resync = true;
                return;
        }
        log_notice("Won the leader key (%llu ms after it was free); promoting",
                   (unsigned long long) ((now_usec() - a->election_since) / MSEC));
        set_leader(a, a->self, a->lease, 0);
        arm_fence_timer(a);
        promote(a);
}

static void as_standby(Agent *a, uint64_t now) {
        switchover_request(a);
        if (!a->leader)
                elect(a, now);
        else if (is_self(a, a->leader))
                promote(a); /* won earlier, the promotion still pending */
        else {
                nudge(a, now);
                say(a, "standby; leader '%s'", a->leader);
        }
}

static void as_down(Agent *a, uint64_t now) {
        Member *leader = a->leader ? find_member(a, a->leader) : NULL;
        _cleanup_free_ char *why = NULL;

        if (!a->down_since)
                a->down_since = now;
        if (a->fenced && local_pid_alive(a->fence_pid))
                return say(a, "fenced, waiting for the server to stop");
        if (is_self(a, a->leader)) {
                /* Fenced while etcd was away, and the key survived (etcd renews every lease when it comes
                 * back): nobody took over, so this node's server starts again as the primary. */
                if (a->fenced && a->etcd_ok && now < a->lease_ok + a->ttl_usec - a->margin_usec) {
                        request(a, "start", "this node fenced its server but still holds the leader key");
                        return;
                }
                /* A crash the unit restarts keeps the key; a server down for a whole TTL gives it back, but a
                 * postmaster that runs without answering is stopped first: never two writable. */
                if (now >= a->down_since + a->ttl_usec) {
                        if (local_dir_running(&a->local)) {
                                fence(a, "its server has not answered for a whole TTL");
                                return;
                        }
                        release(a, "this node's server has been down for a whole TTL");
                }
                else
                        say(a, "leader, server down");
                return;
        }
        /* A primary's postmaster that runs without answering while another member leads: stop it. */
        if (a->leader && local_dir_running(&a->local) && local_dir_is_primary(&a->local)) {
                if (asprintf(&why, "member '%s' leads and this node's server runs without answering", a->leader) >= 0)
                        fence(a, why);
                return;
        }
        /* A standby's directory is its unit's to restart; a fenced or superseded primary's needs a rejoin. */
        if (local_dir_running(&a->local) || !local_dir_is_primary(&a->local))
                return say(a, "server down; leader '%s'", a->leader ? a->leader : "none");
        if (leader && leader->role == MEMBER_PRIMARY) {
                if (asprintf(&why, "member '%s' leads and this node's server, a primary's directory, is down",
                             a->leader) >= 0)
                        request(a, "rejoin", why);
                return;
        }
        /* Nobody leads, nobody took the key for a whole TTL, no switchover is under way, no member is on a
         * later timeline, and this node fenced itself last: it is the newest primary, the last resort. */
        if (!a->leader && a->fenced && a->have_last_primary && is_self(a, a->last_primary.name) && a->lease &&
            a->etcd_ok && !a->switchover_to && a->election_since && now >= a->election_since + a->ttl_usec) {
                for (size_t i = 0; i < a->n_members; i++)
                        if (a->members[i].timeline > a->last_primary.timeline)
                                return;
                int r = etcd_create(a->etcd, a->key_leader, a->self, a->lease);

                if (r == 1) {
                        set_leader(a, a->self, a->lease, 0);
                        a->fenced = false;
                        request(a, "start", "this node was the last primary and holds the leader key again");
                } else if (r < 0)
                        etcd_failed(a, r, "the leader key's creation");
        }
}

static void turn(Agent *a) {
        uint64_t now = now_usec();

        fence_timer_report(a);
        (void) keep_lease(a);
        if (a->resync && a->etcd_ok) {
                int r = resync(a);

                if (r < 0)
                        etcd_failed(a, r, "the read of the cluster's keys");
        }
        adopt_leader_lease(a);

        local_refresh(&a->local);
        local_member(&a->local, a->self, &a->me);
        if (a->me.role != MEMBER_DOWN) {
                a->down_since = 0;
                a->fenced = false;
        }
        publish(a, false);
        if (a->me.role == MEMBER_PRIMARY) {
                a->last_primary = a->me;
                a->have_last_primary = true;
        }

        now = now_usec();
        if (holds_key(a) && a->me.role != MEMBER_PRIMARY && deadline_passed(a, now) &&
            local_dir_running(&a->local))
                fence(a, "its lease could not be renewed in time and its server does not answer");

        switch (a->me.role) {
        case MEMBER_PRIMARY:
                as_primary(a, now);
                if (is_self(a, a->leader))
                        say(a, "primary, leader (lease %llx)", (unsigned long long) a->lease);
                break;
        case MEMBER_STANDBY:
                a->unkeyed_since = 0;
                as_standby(a, now);
                break;
        default:
                a->unkeyed_since = 0;
                as_down(a, now);
                break;
        }
        arm_fence_timer(a);
}

static void wait_events(Agent *a) {
        _cleanup_free_ EtcdEvent *ev = NULL;
        size_t n = 0;
        int r;

        r = etcd_watch_wait(a->etcd, a->sigfd, TICK_MS, &ev, &n);
        if (r < 0) {
                if (!a->resync)
                        log_debug_errno(r, "The etcd watch ended: %m");
                a->resync = true;
                if (r != -ECONNRESET)
                        (void) usleep(TICK_MS * 1000);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                apply(a, ev[i].kv.key, ev[i].type == ETCD_PUT ? ev[i].kv.value : NULL, ev[i].kv.lease,
                      ev[i].kv.mod_revision);
                etcd_kv_done(&ev[i].kv);
        }
}

/* A stop: a leader fences its server first (nobody would renew its lease), then the lease goes. */
static void stop(Agent *a) {
        if (a->me.role == MEMBER_PRIMARY || (local_dir_running(&a->local) && local_dir_is_primary(&a->local))) {
                fence(a, "its failover agent stops");
                for (uint64_t end = now_usec() + 10 * SEC; a->fence_pid && local_pid_alive(a->fence_pid) &&
                                                           now_usec() < end;)
                        (void) usleep(20 * 1000);
                /* Still running: the key stays until the lease expires; SIGINT is sent already. */
                if (a->fence_pid && local_pid_alive(a->fence_pid))
                        return;
        }
        if (a->lease && a->etcd_ok)
                (void) etcd_lease_revoke(a->etcd, a->lease);
}

static void agent_done(Agent *a) {
        local_done(&a->local);
        etcd_free(a->etcd);
        free(a->state_dir);
        free(a->prefix);
        free(a->key_leader);
        free(a->key_switchover);
        free(a->key_sync);
        free(a->sync_json);
        free(a->prefix_members);
        free(a->key_member);
        free(a->leader);
        free(a->switchover_to);
        free(a->published);
        free(a->last_status);
}

int agent_run(const Config *c) {
        _cleanup_(agent_done) Agent a = { .c = c, .local = { .c = c }, .resync = true, .etcd_ok = true };
        const char *cluster = config_get(c, VAR_CLUSTER_NAME);
        EtcdTLS tls = {
                .ca_file = config_get(c, VAR_ETCD_CA_FILE),
                .cert_file = config_get(c, VAR_ETCD_CERT_FILE),
                .key_file = config_get(c, VAR_ETCD_KEY_FILE),
        };
        unsigned n_endpoints = 1, timeout_ms;
        int r;

        if (!c->failover_etcd) {
                log_info("POSTGRESQL_FAILOVER is manual: nothing for the failover agent to do");
                /* Ready, then done: the unit ends "inactive", not failed for exiting before READY=1. */
                notify_ready("failover is manual (POSTGRESQL_FAILOVER): nothing to do");
                return 0;
        }
        if (c->partners.self < 0) {
                log_error("POSTGRESQL_PARTNER_NODES has no entry recognised as this node (an address of this host and "
                          "port %u): the agent names this node in etcd by its entry", c->port);
                return -PGREPL_E_CONFIG;
        }
        a.self = c->partners.items[c->partners.self].display;
        a.state_dir = config_state_dir(c);
        /* The key layout's prefix, as the server units and pgreplctl compute it (etcd-leader.h). */
        a.prefix = etcd_leader_prefix(c);
        if (!a.state_dir || !a.prefix ||
            asprintf(&a.key_leader, "%sleader", a.prefix) < 0 ||
            asprintf(&a.key_switchover, "%sswitchover", a.prefix) < 0 ||
            asprintf(&a.key_sync, "%ssync", a.prefix) < 0 ||
            asprintf(&a.prefix_members, "%smembers/", a.prefix) < 0 ||
            asprintf(&a.key_member, "%s%s", a.prefix_members, a.self) < 0)
                return log_oom();
        r = fs_mkdir_p(a.state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "State directory '%s' is not usable: %m", a.state_dir);

        a.ttl_usec = c->failover_ttl * SEC;
        a.margin_usec = MAX_U64(SEC, a.ttl_usec / 3);
        a.keepalive_usec = MAX_U64(a.ttl_usec / 3, 250 * MSEC);
        for (const char *p = config_get(c, VAR_ETCD_HOSTS); *p; p++)
                n_endpoints += *p == ',';
        /* Every endpoint tried within a keepalive period, so that a request never outlasts the margin. */
        timeout_ms = (unsigned) MIN_U64(2000ULL, MAX_U64(200ULL, a.keepalive_usec / MSEC / n_endpoints));
        r = etcd_new(config_get(c, VAR_ETCD_HOSTS), &tls, timeout_ms, &a.etcd);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the etcd client: %m");

        r = signals_block_stop();
        if (r < 0)
                return log_error_errno(r, "Cannot block stop signals: %m");
        r = fence_timer_setup();
        if (r < 0)
                return log_error_errno(r, "Cannot set up the fence timer: %m");
        a.started = now_usec();
        a.sigfd = signals_stop_fd();

        log_notice("Failover agent for '%s' on etcd %s, cluster '%s', TTL %u s", a.self,
                   config_get(c, VAR_ETCD_HOSTS), cluster, c->failover_ttl);
        notify_ready("starting: connecting to etcd");
        for (;;) {
                int sig;

                turn(&a);
                wait_events(&a);
                sig = signals_stop_requested();
                if (sig) {
                        log_notice("Stopping (signal %d)", sig);
                        notify_stopping();
                        stop(&a);
                        return -EINTR;
                }
        }
}
