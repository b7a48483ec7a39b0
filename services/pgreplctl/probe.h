/* SPDX-License-Identifier: MIT */
/*
 * The local server of an instance, over its unix socket as the postgres superuser: role,
 * timeline, positions, WAL receiver, lag, slots and pg_stat_replication. Peer authentication
 * checks the connecting process's effective uid at connect time, so root connects with the service
 * user's effective ids for that moment only and is root again before anything else happens; any
 * other user connects as itself (the service user can, others are told to run as root).
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "report.h"

/* The user the units run as, whose peer-authenticated superuser pgreplctl connects as. */
#define PROBE_SERVICE_USER "postgres"

/* Connect to the instance's server (check PQstatus()); NULL when out of memory. */
PGconn *probe_connect(const Config *c);
/* Fill s from the instance's server; *ret_conn keeps the connection when it is up (NULL
 * otherwise), for more questions. Only -ENOMEM is an error: a server that does not answer is a
 * state (s->reachable false, s->reason why). */
int probe_server(const Config *c, ServerState *s, PGconn **ret_conn);
/* Whether the server is in recovery, and its timeline and position (a primary's current WAL
 * position; a standby's replay position). -EIO when the query fails. */
int probe_position(PGconn *conn, bool *ret_in_recovery, unsigned *ret_timeline, uint64_t *ret_lsn);
