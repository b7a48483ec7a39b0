/* SPDX-License-Identifier: MIT */
/*
 * POSTGRESQL_PARTNER_NODES (SPEC section 8): every node of the cluster as
 * "host[:port],...", the same line on every node. Parsing and the slot
 * names derived from the entries are pure; recognising this node's own
 * entry asks the resolver and the kernel (an address this host can bind,
 * and this node's own port). Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The most entries a line may hold (a cluster, not a fleet). */
#define PARTNERS_MAX 16

typedef struct Partner {
        char *host;     /* a name, an address (no brackets) or a socket directory */
        unsigned port;
        char *display;  /* "host:port" or "[v6]:port", for messages */
        char *slot;     /* the physical slot every other node keeps for this one */
        bool self;      /* this node's own entry */
} Partner;

typedef struct Partners {
        Partner items[PARTNERS_MAX];
        size_t n;
        int self;       /* index of this node's entry, -1 when none was recognised */
} Partners;

void partners_done(Partners *p);

/*
 * Parse the line; entries without a port get default_port. On a bad line
 * returns -EINVAL with a static sentence in *ret_error saying what is
 * allowed; -ENOMEM. Duplicates are refused.
 */
int partners_parse(const char *line, unsigned default_port, Partners *ret, const char **ret_error);

/*
 * The slot name for an entry: "pgrepl_" and the host and port with every
 * character outside [a-z0-9] made '_', e.g. "pgrepl_10_0_0_5_5432"; a name
 * longer than 63 bytes keeps 54 and adds '_' and a hash of the whole entry.
 */
int partners_slot_name(const char *host, unsigned port, char **ret);

/*
 * Mark this node's entry: the one whose port is own_port and whose host is
 * this host's name or resolves to an address this host can bind (loopback
 * included). A socket directory counts as this host. Returns the index, or
 * -1 when no entry is this node's; more than one match takes the first.
 */
int partners_find_self(Partners *p, unsigned own_port);

/* Whether a resolved address belongs to this host (bind() succeeds on it). */
bool partners_address_is_local(const struct sockaddr *sa, unsigned len);

/*
 * Every entry but this node's, as libpq's multi-host lists: "a,b,c" and
 * "5432,5432,5433" (newly allocated). -ENOENT when no other entry exists.
 */
int partners_conninfo_lists(const Partners *p, char **ret_hosts, char **ret_ports);
