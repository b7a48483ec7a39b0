/* SPDX-License-Identifier: MIT */
/*
 * `pgreplctl status` output, pure functions of a Report: an aligned table for people (ANSI
 * colour only when asked, for a terminal) and JSON for scripts, whose schema pgreplctl(8)
 * documents ("schema": 1; a field is only ever added). Unknown numbers are "-" in the table and
 * null in JSON.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define SHOW_JSON_SCHEMA 1

/* "0 B", "512 B", "1.5 KiB", "16.0 MiB"; "-" when negative (not known). */
void show_bytes(int64_t n, char *buf, size_t size);
/* "0/3000148"; "-" for 0 (not known). */
void show_lsn(uint64_t lsn, char *buf, size_t size);
/* "2024-05-01 12:00:00 UTC" */
void show_time(int64_t t, char *buf, size_t size);

/* Newly allocated; NULL when out of memory. */
char *show_table(const Report *r, bool colour);
char *show_json(const Report *r);
