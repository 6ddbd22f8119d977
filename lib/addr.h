/* SPDX-License-Identifier: MIT */
/*
 * addr: IP address and prefix parsing for rules and whitelist entries.
 *
 * Every address is held as IPv4-mapped IPv6 (::ffff:a.b.c.d), and every prefix length in
 * those 128-bit terms (an IPv4 /24 is 120). Parsing goes through inet_pton only. A prefix
 * whose host bits are set is an error, never silently masked.
 */
#ifndef XDROP_ADDR_H
#define XDROP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "xdrop.h"

#define XDROP_ADDR_STRLEN 64 /* enough for any address or prefix text */

/* A prefix; plen is in IPv4-mapped bits: 0 means "field absent". */
struct addr_prefix {
	struct xdrop_addr addr;
	unsigned plen;
};

/* True when the address is IPv4-mapped. */
bool addr_is_v4(const struct xdrop_addr *a);

/* Parses one IPv4 or IPv6 address. Returns 0, or -EINVAL with *why set to a static text. */
int addr_parse(const char *s, struct xdrop_addr *out, const char **why);

/* Parses "a.b.c.d/n" or "x::/n" (a bare address is a full-length prefix). Refuses host bits
 * set, lengths out of range and ::/0 (which would match every packet of both families).
 * Returns 0 or -EINVAL with *why set. */
int addr_parse_prefix(const char *s, struct addr_prefix *out, const char **why);

/* Writes an address ("10.0.0.1" for mapped IPv4) into buf; returns buf. */
char *addr_format(const struct xdrop_addr *a, char *buf, size_t len);

/* Writes a prefix ("10.0.0.0/8", "fd00::/8"); returns buf. */
char *addr_format_prefix(const struct addr_prefix *p, char *buf, size_t len);

/* True when the prefix covers the address. */
bool addr_prefix_contains(const struct addr_prefix *p, const struct xdrop_addr *a);

/* True when prefix outer covers prefix inner (inner at least as long). */
bool addr_prefix_covers(const struct addr_prefix *outer, const struct addr_prefix *inner);

/* True when the prefix is a whole address (/128, i.e. /32 for IPv4). */
static inline bool addr_prefix_is_host(const struct addr_prefix *p)
{
	return p->plen == 128;
}

#endif
