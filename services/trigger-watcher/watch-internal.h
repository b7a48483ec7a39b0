/* SPDX-License-Identifier: MIT */
/*
 * The watcher's state, shared by the event loop (watch.c) and its
 * reporting (status.c); private to the two.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "dirwatch.h"
#include "macro.h"
#include "promote.h"
#include "ratelog.h"
#include "record.h"
#include "trigger.h"

typedef struct Watch {
        const Config *config;
        char *path, *dir, *name; /* the trigger path and its parts */
        char *state_dir;
        uid_t self;
        int lock_fd, signal_fd, timer_fd;

        DirWatch dw;             /* the trigger directory's watch */
        bool dir_missing_logged;
        char *dir_problem;       /* why the watcher does not act (a directory of the path is bad), for STATUS= */
        RateLog ratelog;         /* what a local user can make it say: once, then once a minute */
        Conn conn;               /* the connection to the local server, held while idle */

        uint64_t interval, next_tick, next_retry, retry_delay, timer_armed; /* CLOCK_MONOTONIC usec */
        bool watchdog;

        PromotionRecord record;  /* the last promotion's, when have_record */
        bool have_record;
        /* POSTGRESQL_FAILOVER=etcd: the last trigger handed to the failover agent (SWITCHOVER_RECORD), and
         * what STATUS= says of it. */
        PromotionRecord handed;
        bool have_handed;
        char *handed_text;
        bool seen_recovery;      /* a status answer said "in recovery" */
        const char *last_reason; /* last connection failure reported (log changes only) */
        bool warned_setting;
        struct stat warned;      /* last ignored file warned about: warn once per file */
        bool have_warned;
        char *state_text, *ignored_text;

        /* With partners: the slots this standby keeps for the others (slots.c), the replay position
         * the last round learned, and the last failure reported (the log says changes only). */
        bool keep_slots;
        char slots_lsn[32];
        char *slots_error;
        bool streaming;          /* the last status answer: the WAL receiver streams */
        bool fork_logged;        /* a divergence already asked about was said once */

        /* The trigger in hand. */
        bool pending;
        TriggerId trigger;
        uid_t trigger_uid;
        struct timespec touched; /* its ctime when first seen: "touch-to-promoted" */
        uint64_t detected, promote_sent;
        uint64_t next_status;    /* while pg_promote() runs: the next whole second of its STATUS= counter */
        unsigned sends;          /* pg_promote() calls sent for it */
        /* Once promoted: when it was known (for the figures in the log), and the new timeline and
         * position when the server told them. */
        uint64_t promoted;
        struct timespec promoted_wall;
        bool have_position;
        unsigned timeline;
        char lsn[32];
} Watch;

/* ---- status.c: what the watcher says, in the log and in STATUS=. ---- */

/* "'nobody', uid 65534"; names are looked up only for messages. */
const char *status_owner(uid_t uid, char *buf, size_t n);
/* A line a local user could make the watcher repeat: said once, then at most once a minute (ratelog.c). */
_printf_(3, 4) void status_say(Watch *w, int level, const char *fmt, ...);
/* Replace a text field (takes text, which may be NULL). */
void status_set_text(char **field, char *text);
/* pg_promote(), or the position query after it, in flight. */
bool status_promoting(const Watch *w);
/* STATUS= from the state; while pg_promote() runs, also sets when to say it again (next_status). */
void status_report(Watch *w);
void status_unreachable(Watch *w, const char *why);
/* A file at the trigger path that does not count: warned about once per file. */
void status_warn_ignored(Watch *w, TriggerVerdict v, const struct stat *st);
/* A trusted trigger directory its group may still write to without the sticky bit. */
void status_check_dir(Watch *w);
/* A failed connection attempt: a change of reason is said once, not every attempt. */
void status_connect_failed(Watch *w, const char *reason);
/* At a beat: say so when the status query sent at the last one is still unanswered. */
void status_check_overdue(Watch *w, uint64_t now);
/* A status answer "in recovery": what STATUS= says while idle. */
void status_standby_seen(Watch *w, const StandbyState *s);
