/* SPDX-License-Identifier: MIT */
/*
 * Roles and the database the configuration asks for. A salted fingerprint
 * of everything they depend on (names, passwords, encryption) is kept in
 * the data directory (0600), so a restart with nothing changed skips the
 * role work entirely.
 */
#pragma once

#include <libpq-fe.h>

#include "config.h"

/* 1 when roles must be (re)applied, 0 when the fingerprint matches. */
int roles_need_work(const Config *c, const char *datadir);
int roles_save_fingerprint(const Config *c, const char *datadir);
/* Create missing roles and the database, bring passwords in line. */
int roles_apply(const Config *c, PGconn *conn);
