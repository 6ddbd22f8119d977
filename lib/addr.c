// SPDX-License-Identifier: MIT
/*
 * addr: inet_pton-based parsing of addresses and canonical prefixes; see addr.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool addr_is_v4(const struct xdrop_addr *a)
{
	return memcmp(a->b, v4_mapped, sizeof(v4_mapped)) == 0;
}

int addr_parse(const char *s, struct xdrop_addr *out, const char **why)
{
	struct in_addr v4;

	if (!s || !*s) {
		*why = "empty address";
		return -EINVAL;
	}
	if (inet_pton(AF_INET, s, &v4) == 1) {
		memcpy(out->b, v4_mapped, sizeof(v4_mapped));
		memcpy(out->b + 12, &v4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->b) == 1)
		return 0;
	*why = "not an IPv4 or IPv6 address";
	return -EINVAL;
}

int addr_parse_prefix(const char *s, struct addr_prefix *out, const char **why)
{
	char buf[XDROP_ADDR_STRLEN];
	const char *slash;
	char *end;
	long len;
	unsigned max, i;
	int err;

	if (!s || !*s) {
		*why = "empty prefix";
		return -EINVAL;
	}
	slash = strchr(s, '/');
	if (!slash) {
		err = addr_parse(s, &out->addr, why);
		out->plen = 128;
		return err;
	}
	if ((size_t)(slash - s) >= sizeof(buf)) {
		*why = "address too long";
		return -EINVAL;
	}
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	err = addr_parse(buf, &out->addr, why);
	if (err)
		return err;
	if (!slash[1] || slash[1] == '-' || slash[1] == '+' || slash[1] == ' ') {
		*why = "missing or invalid prefix length";
		return -EINVAL;
	}
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (errno || *end) {
		*why = "invalid prefix length";
		return -EINVAL;
	}
	max = addr_is_v4(&out->addr) && !strchr(buf, ':') ? 32 : 128;
	if (len < 0 || len > (long)max) {
		*why = max == 32 ? "IPv4 prefix length must be 0-32"
				 : "IPv6 prefix length must be 0-128";
		return -EINVAL;
	}
	out->plen = (unsigned)len + (max == 32 ? 96 : 0);
	if (out->plen == 0) {
		*why = "::/0 matches every packet; leave the field out instead";
		return -EINVAL;
	}
	if (out->plen < 96) {
		struct addr_prefix mapped = {.plen = 96};

		memcpy(mapped.addr.b, v4_mapped, sizeof(v4_mapped));
		if (addr_prefix_covers(out, &mapped)) {
			*why = "IPv6 prefix covers the IPv4-mapped range ::ffff:0:0/96; "
			       "write IPv4 prefixes for IPv4";
			return -EINVAL;
		}
	}
	for (i = out->plen; i < 128; i++) {
		if (out->addr.b[i / 8] & (0x80 >> (i % 8))) {
			*why = "host bits set (not the network address of the prefix)";
			return -EINVAL;
		}
	}
	return 0;
}

char *addr_format(const struct xdrop_addr *a, char *buf, size_t len)
{
	if (addr_is_v4(a))
		inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
	return buf;
}

char *addr_format_prefix(const struct addr_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	bool v4 = addr_is_v4(&p->addr) && p->plen >= 96;

	addr_format(&p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, v4 ? p->plen - 96 : p->plen);
	return buf;
}

bool addr_prefix_contains(const struct addr_prefix *p, const struct xdrop_addr *a)
{
	unsigned full = p->plen / 8, rest = p->plen % 8;

	if (memcmp(p->addr.b, a->b, full) != 0)
		return false;
	if (rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));

		return (p->addr.b[full] & m) == (a->b[full] & m);
	}
	return true;
}

bool addr_prefix_covers(const struct addr_prefix *outer, const struct addr_prefix *inner)
{
	return inner->plen >= outer->plen && addr_prefix_contains(outer, &inner->addr);
}
