/* SPDX-License-Identifier: MIT */
/*
 * The commands of pgreplctl (one file each, ctl-VERB.c) and what they share: the exit statuses,
 * the root check of the commands that change something, and loading the instance they act on.
 */
#pragma once

#include "args.h"
#include "cluster.h"
#include "instance.h"

/* Exit statuses (pgreplctl(8)). */
enum {
        CTL_EXIT_OK = 0,      /* healthy; done */
        CTL_EXIT_FAILED = 1,  /* degraded; refused; not done in time */
        CTL_EXIT_ERROR = 2,   /* an instance could not be read, or an operation failed */
        CTL_EXIT_USAGE = 64,
        CTL_EXIT_NOPERM = 77, /* a change, not run as root */
};

int ctl_status(const CtlArgs *a);
int ctl_promote(const CtlArgs *a);
int ctl_follow(const CtlArgs *a);
int ctl_rejoin(const CtlArgs *a);
int ctl_failover_act(const CtlArgs *a);

/* The exit status for a failure a command cannot get past (already said). */
int ctl_exit(int r);
/* For the commands that change something: 0 as root; else say so, and return CTL_EXIT_NOPERM. */
int ctl_require_root(const CtlArgs *a);
/* Load the instance a command acts on and the passfile to ask the other nodes with: 0, or the exit
 * status after saying why not. */
int ctl_load(const CtlArgs *a, Instance *ret, Passfile *ret_passfile);
/* Print the state and STATUS= of one of the instance's units, "  UNIT: active (running): TEXT", on
 * stderr; nothing without systemd. */
void ctl_tell_unit(const char *instance, int kind);
