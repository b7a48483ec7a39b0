/* SPDX-License-Identifier: MIT */
/*
 * The instance's systemd units, through systemctl: their state and STATUS= text for `status`,
 * and the stop/disable/enable/reload steps of the commands. Without systemd as PID 1 (a container,
 * the integration tests) every state is "unknown" and nothing is run. PGREPL_SYSTEMCTL names
 * another systemctl for tests only (a fake that records its calls); it counts as a running systemd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "report.h"

/* The unit kinds, in the order of InstanceReport.units. */
typedef enum UnitKind {
        UNIT_PRIMARY,
        UNIT_STANDBY,
        UNIT_TRIGGER,
} UnitKind;

/* Whether there is a systemd to ask. */
bool units_available(void);
/* "pgrepl-standby@NAME", newly allocated. */
char *units_name(UnitKind kind, const char *instance);
/* Parse `systemctl show -p Id,...` output (blocks of Key=Value lines, one per unit) into the entries
 * of units whose name is set; a unit missing from it stays as it was. Pure; -ENOMEM. */
int units_parse_show(const char *text, UnitState *units, size_t n);
/* Name units[] after instance and fill them from systemctl, "unknown" when that cannot be done. */
int units_show(const char *instance, UnitState units[REPORT_UNITS]);
/* Run `systemctl ARGS...` (NULL-terminated) with its output passed through: its exit status, or a
 * negative errno when it could not be run. */
int units_run(const char *const *args);
