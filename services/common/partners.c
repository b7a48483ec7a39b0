/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "partners.h"
#include "util.h"

void partners_done(Partners *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->items[i].host);
                free(p->items[i].display);
                free(p->items[i].slot);
        }
        *p = (Partners) { .self = -1 };
}

/* "host", "host:port", "[v6]", "[v6]:port"; a socket directory never has a port. */
static int split_entry(char *w, unsigned default_port, char **ret_host, unsigned *ret_port, const char **ret_error) {
        char *port = NULL;

        if (w[0] == '[') {
                char *close = strchr(w, ']');

                if (!close || (close[1] && close[1] != ':')) {
                        *ret_error = "an IPv6 address goes in brackets: [2001:db8::1]:5432";
                        return -EINVAL;
                }
                *close = 0;
                if (close[1] == ':')
                        port = close + 2;
                w++;
        } else if (w[0] != '/') {
                char *colon = strrchr(w, ':');

                if (colon && strchr(w, ':') != colon) {
                        *ret_error = "an IPv6 address goes in brackets: [2001:db8::1]:5432";
                        return -EINVAL;
                }
                if (colon) {
                        *colon = 0;
                        port = colon + 1;
                }
        }
        if (!*w || !config_host_valid(w)) {
                *ret_error = "each entry must be host[:port], a host name or address and a port from 1 to 65535";
                return -EINVAL;
        }
        *ret_port = default_port;
        if (port && parse_uint(port, 1, 65535, ret_port) < 0) {
                *ret_error = "each entry must be host[:port], a host name or address and a port from 1 to 65535";
                return -EINVAL;
        }
        *ret_host = w;
        return 0;
}

static int add_entry(Partners *p, const char *host, unsigned port, const char **ret_error) {
        Partner *e;

        for (size_t i = 0; i < p->n; i++)
                if (streq(p->items[i].host, host) && p->items[i].port == port) {
                        *ret_error = "lists the same node twice";
                        return -EINVAL;
                }
        if (p->n == PARTNERS_MAX) {
                *ret_error = "at most 16 nodes";
                return -EINVAL;
        }
        e = &p->items[p->n];
        *e = (Partner) { .port = port, .host = strdup(host) };
        p->n++;
        if (!e->host || asprintf(&e->display, strchr(host, ':') && host[0] != '/' ? "[%s]:%u" : "%s:%u", host,
                                 port) < 0)
                return -ENOMEM;
        return partners_slot_name(host, port, &e->slot);
}

int partners_parse(const char *line, unsigned default_port, Partners *ret, const char **ret_error) {
        _cleanup_free_ char *copy = strdup(line);
        Partners p = { .self = -1 };
        char *rest = copy, *t;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        /* strsep, not strtok: an empty element ("a,,b") is an error, not skipped. */
        while (r >= 0 && (t = strsep(&rest, ","))) {
                char *w = strstrip(t), *host = NULL;
                unsigned port;

                r = split_entry(w, default_port, &host, &port, ret_error);
                if (r >= 0)
                        r = add_entry(&p, host, port, ret_error);
        }
        if (r >= 0 && p.n == 0) {
                *ret_error = "must list every node of the cluster as host[:port], comma separated";
                r = -EINVAL;
        }
        if (r < 0) {
                partners_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

int partners_slot_name(const char *host, unsigned port, char **ret) {
        char *s = NULL;

        if (asprintf(&s, "pgrepl_%s_%u", host, port) < 0)
                return -ENOMEM;
        for (char *c = s + 7; *c; c++)
                *c = isascii((unsigned char) *c) && isalnum((unsigned char) *c) ? (char) tolower((unsigned char) *c)
                                                                                : '_';
        if (strlen(s) > 63) {
                char num[16];

                snprintf(num, sizeof(num), "%u", port);
                snprintf(s + 54, 10, "_%08x",
                         hash_fnv1a32(hash_fnv1a32(hash_fnv1a32(HASH_FNV1A32_INIT, host), ":"), num));
        }
        *ret = s;
        return 0;
}

bool partners_address_is_local(const struct sockaddr *sa, unsigned len) {
        _cleanup_close_ int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_storage ss;

        if (fd < 0 || len > sizeof(ss))
                return false;
        /* Port 0: the kernel only checks that the address is one of this host's. */
        memcpy(&ss, sa, len);
        if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *) &ss)->sin_port = 0;
        else if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *) &ss)->sin6_port = 0;
        else
                return false;
        return bind(fd, (struct sockaddr *) &ss, len) == 0;
}

static bool host_is_local(const char *host) {
        struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
        char name[256] = "";
        bool local = false;

        if (host[0] == '/')
                return true;
        if (gethostname(name, sizeof(name) - 1) == 0 && strcasecmp(host, name) == 0)
                return true;
        if (getaddrinfo(host, NULL, &hints, &res) != 0)
                return false;
        for (struct addrinfo *a = res; a && !local; a = a->ai_next)
                local = partners_address_is_local(a->ai_addr, a->ai_addrlen);
        freeaddrinfo(res);
        return local;
}

int partners_find_self(Partners *p, unsigned own_port) {
        p->self = -1;
        for (size_t i = 0; i < p->n; i++) {
                p->items[i].self = false;
                if (p->self < 0 && p->items[i].port == own_port && host_is_local(p->items[i].host)) {
                        p->items[i].self = true;
                        p->self = (int) i;
                }
        }
        return p->self;
}

int partners_conninfo_lists(const Partners *p, char **ret_hosts, char **ret_ports) {
        Buf h = {}, ports = {};
        size_t n = 0;

        for (size_t i = 0; i < p->n; i++) {
                if (p->items[i].self)
                        continue;
                buf_printf(&h, "%s%s", n ? "," : "", p->items[i].host);
                buf_printf(&ports, "%s%u", n ? "," : "", p->items[i].port);
                n++;
        }
        if (n == 0) {
                buf_free(&h);
                buf_free(&ports);
                return -ENOENT;
        }
        *ret_hosts = buf_steal(&h);
        *ret_ports = buf_steal(&ports);
        if (!*ret_hosts || !*ret_ports) {
                free(*ret_hosts);
                free(*ret_ports);
                return -ENOMEM;
        }
        return 0;
}
