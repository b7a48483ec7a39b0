/* SPDX-License-Identifier: MIT */
/*
 * Roles and the database the configuration asks for. A keyed fingerprint
 * (HMAC-SHA256) of everything they depend on (names, passwords, encryption)
 * is kept in the state directory with its key (roles.fingerprint and
 * roles.key, 0600; never in the data directory, which the clone copies to
 * every standby), so a restart with nothing changed skips the role work
 * entirely. An old DATADIR/pgrepl.roles makes the roles be applied once
 * more, and is then removed.
 */
#pragma once

#include <libpq-fe.h>

#include "config.h"

/* 1 when roles must be (re)applied, 0 when the fingerprint matches. */
int roles_need_work(const Config *c, const char *datadir);
int roles_save_fingerprint(const Config *c, const char *datadir);
/* Create missing roles and the database, bring passwords in line. */
int roles_apply(const Config *c, PGconn *conn);
