// SPDX-License-Identifier: MIT
/*
 * test_addr: lib/addr, table-driven. Addresses and prefixes parse to IPv4-mapped 128-bit
 * form and format back to one canonical text (IPv6 lower-case and compressed, mapped IPv6
 * as IPv4, no leading zeros in lengths); the edges: /0 (refused for ::/0 and for IPv6
 * prefixes that cover the mapped range, allowed for 0.0.0.0/0, which lib/rule refuses where
 * rules are written), /32, /128, mapped addresses, host bits, garbage and overlong text.
 * Each refusal says why. Containment and coverage by prefixes with whole and partial bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A long run of digits and dots: longer than any address buffer, before and after '/'. */
#define LONG64 "1111111111222222222233333333334444444444555555555566666666667777"

static const struct prefix_case {
	const char *in;
	const char *out; /* canonical addr_format_prefix() text; NULL: refused */
	unsigned plen;	 /* in IPv4-mapped bits */
	int v4;
	const char *why; /* part of the refusal's reason */
} prefix_cases[] = {
    {"10.0.0.0/8", "10.0.0.0/8", 104, 1, NULL},
    {"10.0.0.1", "10.0.0.1/32", 128, 1, NULL},
    {"10.0.0.1/32", "10.0.0.1/32", 128, 1, NULL},
    {"10.0.0.0/08", "10.0.0.0/8", 104, 1, NULL},
    {"10.0.0.0/9", "10.0.0.0/9", 105, 1, NULL},
    {"0.0.0.0/0", "0.0.0.0/0", 96, 1, NULL},
    {"255.255.255.255/32", "255.255.255.255/32", 128, 1, NULL},
    {"fd00::/8", "fd00::/8", 8, 0, NULL},
    {"FD00::/8", "fd00::/8", 8, 0, NULL},
    {"8000::/1", "8000::/1", 1, 0, NULL},
    {"2001:db8:0:0::/64", "2001:db8::/64", 64, 0, NULL},
    {"2001:0DB8::0001", "2001:db8::1/128", 128, 0, NULL},
    {"fd00::1/128", "fd00::1/128", 128, 0, NULL},
    {"::1", "::1/128", 128, 0, NULL},
    {"::ffff:10.0.0.1", "10.0.0.1/32", 128, 1, NULL},
    {"::ffff:10.0.0.0/104", "10.0.0.0/8", 104, 1, NULL},
    {"::ffff:0:0/96", "0.0.0.0/0", 96, 1, NULL},
    {"::/0", NULL, 0, 0, "::/0 matches every packet"},
    {"::/1", NULL, 0, 0, "covers the IPv4-mapped range"},
    {"::/80", NULL, 0, 0, "covers the IPv4-mapped range"},
    {"::ffff:0:0/95", NULL, 0, 0, "covers the IPv4-mapped range"},
    {"10.0.0.1/24", NULL, 0, 0, "host bits set"},
    {"fd00::1/64", NULL, 0, 0, "host bits set"},
    {"10.0.0.0/33", NULL, 0, 0, "IPv4 prefix length must be 0-32"},
    {"fd00::/129", NULL, 0, 0, "IPv6 prefix length must be 0-128"},
    {"10.0.0.0/", NULL, 0, 0, "missing or invalid prefix length"},
    {"10.0.0.0/-1", NULL, 0, 0, "missing or invalid prefix length"},
    {"10.0.0.0/+8", NULL, 0, 0, "missing or invalid prefix length"},
    {"10.0.0.0/ 8", NULL, 0, 0, "missing or invalid prefix length"},
    {"10.0.0.0/8x", NULL, 0, 0, "invalid prefix length"},
    {"10.0.0.0/99999999999999999999", NULL, 0, 0, "invalid prefix length"},
    {"10.0.0.0 /8", NULL, 0, 0, "not an IPv4 or IPv6 address"},
    {"", NULL, 0, 0, "empty prefix"},
    {"/8", NULL, 0, 0, "empty address"},
    {"garbage", NULL, 0, 0, "not an IPv4 or IPv6 address"},
    {"256.0.0.0/8", NULL, 0, 0, "not an IPv4 or IPv6 address"},
    {"1.2.3/24", NULL, 0, 0, "not an IPv4 or IPv6 address"},
    {"fd00:::1", NULL, 0, 0, "not an IPv4 or IPv6 address"},
    {LONG64 "/8", NULL, 0, 0, "address too long"},
    {LONG64, NULL, 0, 0, "not an IPv4 or IPv6 address"},
    {"10.0.0.0/" LONG64, NULL, 0, 0, "invalid prefix length"},
};

static void test_prefix_parse_and_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(prefix_cases); i++) {
		const struct prefix_case *c = &prefix_cases[i];
		struct addr_prefix p;
		char buf[XDROP_ADDR_STRLEN];
		const char *why = NULL;
		int err = addr_parse_prefix(c->in, &p, &why);

		if (!c->out) {
			if (err != -EINVAL || !why || !strstr(why, c->why))
				fail_msg("case %zu \"%s\": want -EINVAL \"%s\", got %d \"%s\"", i,
					 c->in, c->why, err, why ? why : "(none)");
			continue;
		}
		if (err)
			fail_msg("case %zu \"%s\": refused (%s)", i, c->in, why);
		addr_format_prefix(&p, buf, sizeof(buf));
		if (strcmp(buf, c->out) || p.plen != c->plen || addr_is_v4(&p.addr) != c->v4)
			fail_msg("case %zu \"%s\": want %s plen %u v4 %d, got %s plen %u v4 %d", i,
				 c->in, c->out, c->plen, c->v4, buf, p.plen, addr_is_v4(&p.addr));
		/* the canonical text parses to the same prefix and formats to itself */
		{
			struct addr_prefix q;
			char again[XDROP_ADDR_STRLEN];

			assert_int_equal(addr_parse_prefix(buf, &q, &why), 0);
			assert_int_equal(q.plen, p.plen);
			assert_memory_equal(q.addr.b, p.addr.b, sizeof(p.addr.b));
			assert_string_equal(addr_format_prefix(&q, again, sizeof(again)), buf);
		}
		assert_int_equal(addr_prefix_is_host(&p), c->plen == 128);
	}
}

static const struct addr_case {
	const char *in;
	const char *out; /* addr_format() text; NULL: refused */
	int v4;
	const char *why;
} addr_cases[] = {
    {"1.2.3.4", "1.2.3.4", 1, NULL},
    {"0.0.0.0", "0.0.0.0", 1, NULL},
    {"::1", "::1", 0, NULL},
    {"::", "::", 0, NULL},
    {"::ffff:1.2.3.4", "1.2.3.4", 1, NULL},
    {"::FFFF:0102:0304", "1.2.3.4", 1, NULL},
    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1", 0, NULL},
    {"fe80::1:2:3:4", "fe80::1:2:3:4", 0, NULL},
    {"", NULL, 0, "empty address"},
    {NULL, NULL, 0, "empty address"},
    {"1.2.3.4/8", NULL, 0, "not an IPv4 or IPv6 address"},
    {"1.2.3.4.5", NULL, 0, "not an IPv4 or IPv6 address"},
    {" 1.2.3.4", NULL, 0, "not an IPv4 or IPv6 address"},
    {"01.2.3.4", NULL, 0, "not an IPv4 or IPv6 address"},
    {"fe80::1%eth0", NULL, 0, "not an IPv4 or IPv6 address"},
    {"example.com", NULL, 0, "not an IPv4 or IPv6 address"},
    {LONG64 LONG64, NULL, 0, "not an IPv4 or IPv6 address"},
};

static void test_addr_parse_and_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct xdrop_addr a;
		char buf[XDROP_ADDR_STRLEN];
		const char *why = NULL;
		int err = addr_parse(c->in, &a, &why);

		if (!c->out) {
			if (err != -EINVAL || !why || !strstr(why, c->why))
				fail_msg("case %zu \"%s\": want -EINVAL \"%s\", got %d \"%s\"", i,
					 c->in ? c->in : "(null)", c->why, err,
					 why ? why : "(none)");
			continue;
		}
		if (err)
			fail_msg("case %zu \"%s\": refused (%s)", i, c->in, why);
		addr_format(&a, buf, sizeof(buf));
		if (strcmp(buf, c->out) || addr_is_v4(&a) != c->v4)
			fail_msg("case %zu \"%s\": want %s v4 %d, got %s v4 %d", i, c->in, c->out,
				 c->v4, buf, addr_is_v4(&a));
	}
}

/* An IPv4 address is held mapped: ::ffff:a.b.c.d, bytes in network order. */
static void test_mapped_layout(void **state)
{
	static const unsigned char want[16] = {0, 0, 0,	   0,	 0,  0, 0, 0,
					       0, 0, 0xff, 0xff, 10, 1, 2, 3};
	struct xdrop_addr a;
	const char *why;

	(void)state;
	assert_int_equal(addr_parse("10.1.2.3", &a, &why), 0);
	assert_memory_equal(a.b, want, 16);
}

static const struct contains_case {
	const char *prefix;
	const char *addr;
	int want;
} contains_cases[] = {
    {"10.0.0.0/8", "10.255.1.2", 1},	 {"10.0.0.0/8", "11.0.0.1", 0},
    {"10.0.0.0/9", "10.127.255.255", 1}, {"10.0.0.0/9", "10.128.0.0", 0},
    {"10.0.0.1/32", "10.0.0.1", 1},	 {"10.0.0.1/32", "10.0.0.2", 0},
    {"0.0.0.0/0", "203.0.113.9", 1},	 {"0.0.0.0/0", "::1", 0},
    {"0.0.0.0/0", "fd00::1", 0},	 {"fd00::/8", "fd12::1", 1},
    {"fd00::/8", "fe00::1", 0},		 {"8000::/1", "ffff::", 1},
    {"8000::/1", "7fff::", 0},		 {"fd00::1/128", "fd00::1", 1},
    {"fd00::1/128", "fd00::2", 0},	 {"fc00::/7", "fe00::1", 0},
    {"fc00::/7", "fd00::1", 1},
};

static void test_prefix_contains(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(contains_cases); i++) {
		const struct contains_case *c = &contains_cases[i];
		struct addr_prefix p;
		struct xdrop_addr a;
		const char *why;

		assert_int_equal(addr_parse_prefix(c->prefix, &p, &why), 0);
		assert_int_equal(addr_parse(c->addr, &a, &why), 0);
		if (addr_prefix_contains(&p, &a) != c->want)
			fail_msg("case %zu: %s contains %s: want %d", i, c->prefix, c->addr,
				 c->want);
	}
}

static const struct covers_case {
	const char *outer;
	const char *inner;
	int want;
} covers_cases[] = {
    {"10.0.0.0/8", "10.1.0.0/16", 1}, {"10.1.0.0/16", "10.0.0.0/8", 0},
    {"10.0.0.0/8", "10.0.0.0/8", 1},  {"10.0.0.0/8", "10.1.2.3", 1},
    {"10.0.0.0/8", "11.0.0.0/8", 0},  {"0.0.0.0/0", "10.0.0.0/8", 1},
    {"::ffff:0:0/96", "1.2.3.4", 1},  {"0.0.0.0/0", "fd00::/8", 0},
    {"fd00::/8", "fd00:1::/32", 1},   {"fd00:1::/32", "fd00::/8", 0},
    {"fd00::/8", "10.0.0.0/8", 0},
};

static void test_prefix_covers(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(covers_cases); i++) {
		const struct covers_case *c = &covers_cases[i];
		struct addr_prefix o, in;
		const char *why;

		assert_int_equal(addr_parse_prefix(c->outer, &o, &why), 0);
		assert_int_equal(addr_parse_prefix(c->inner, &in, &why), 0);
		if (addr_prefix_covers(&o, &in) != c->want)
			fail_msg("case %zu: %s covers %s: want %d", i, c->outer, c->inner, c->want);
	}
}

/* A buffer too short for the text is cut, never overrun (inet_ntop/snprintf semantics). */
static void test_format_short_buffer(void **state)
{
	struct addr_prefix p;
	char buf[8];
	const char *why;

	(void)state;
	assert_int_equal(addr_parse_prefix("2001:db8:1:2:3:4:5:0/112", &p, &why), 0);
	memset(buf, 'x', sizeof(buf));
	addr_format_prefix(&p, buf, sizeof(buf));
	assert_non_null(memchr(buf, '\0', sizeof(buf)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_parse_and_format),
	    cmocka_unit_test(test_addr_parse_and_format),
	    cmocka_unit_test(test_mapped_layout),
	    cmocka_unit_test(test_prefix_contains),
	    cmocka_unit_test(test_prefix_covers),
	    cmocka_unit_test(test_format_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
