/* SPDX-License-Identifier: MIT */
/*
 * The promotion record, $STATE_DIRECTORY/promotion: written atomically,
 * 0600, as key=value lines once the watcher has promoted the node. The
 * standby unit reads its existence at its next start; the watcher reads the
 * trigger's identity back so that a trigger file it could not remove never
 * promotes this node a second time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "trigger.h"

#define RECORD_FILE "promotion"
/* POSTGRESQL_FAILOVER=etcd (SPEC section 11): the request the watcher leaves for the failover agent
 * (empty, 0600), and the record, in this format, of the trigger it handed over (timeline 0, LSN 0/0:
 * nothing was promoted here), which keeps that file from being handed over twice. Not the
 * promotion record: the standby unit reads that one as "a promotion began". */
#define SWITCHOVER_REQUEST "switchover-request"
#define SWITCHOVER_RECORD "switchover"

typedef struct PromotionRecord {
        int64_t time;        /* unix seconds */
        unsigned timeline;
        char lsn[32];        /* "0/3000148" */
        char *trigger_path;
        TriggerId trigger;
} PromotionRecord;

void record_done(PromotionRecord *r);
/* The file's text: time=, timeline=, lsn=, trigger_path=, trigger_dev=, trigger_ino=, trigger_ctime=. */
char *record_format(const PromotionRecord *r);
/* Parse; unknown keys are skipped (later versions may add some). -EBADMSG when a field is missing or bad. */
int record_parse(const char *text, PromotionRecord *ret);

/* Read STATE_DIR/promotion: 1 and *ret filled, 0 when absent, <0 on error. */
int record_read(const char *state_dir, PromotionRecord *ret);
int record_write(const char *state_dir, const PromotionRecord *r);
/* The same for another file of the state directory (SWITCHOVER_RECORD). */
int record_read_file(const char *state_dir, const char *name, PromotionRecord *ret);
int record_write_file(const char *state_dir, const char *name, const PromotionRecord *r);
