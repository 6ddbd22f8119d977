// SPDX-License-Identifier: MIT
/*
 * test_rule: lib/rule, table-driven. Validation: every refusal names its field (the
 * REST/proto name) and gives a reason, for rules and whitelist entries, from the text form
 * (rule_parse_kv) and from specs the text cannot express. Canonical forms: parsing and
 * formatting give one spelling per match, and that spelling parses to itself. The
 * match-all refusal (0.0.0.0/0 however written). The small parsers and names (protocols,
 * actions, TCP flags, ids), the field mask, exact-table membership, the precedence rank
 * and the exact-table order the program's rodata is built from.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rule.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define R    XDROP_KIND_RULE
#define WL   XDROP_KIND_WL
#define TOO_LONG_600                                                                               \
	"src_ip=10.0.0.1 action=drop                                                             " \
	"  "                                                                                       \
	"                                                                                        " \
	"  "                                                                                       \
	"                                                                                        " \
	"  "                                                                                       \
	"                                                                                        " \
	"  "                                                                                       \
	"                                                                                        " \
	"  "                                                                                       \
	"                                                                                        " \
	"  "                                                                                       \
	"                                                                                        " \
	"  "

/* The field names a refusal may carry: the REST/proto names, and "rule"/"kind" for the
 * text as a whole and the entry kind. */
static const char *const known_fields[] = {
    "src_ip",	 "src_cidr", "dst_ip",	   "dst_cidr",	    "src_port",	   "dst_port",
    "protocol",	 "action",   "rate_limit", "burst",	    "pkt_len_min", "pkt_len_max",
    "tcp_flags", "rule",     "kind",	   "match_anomaly",
};

static int field_known(const char *f)
{
	for (size_t i = 0; f && i < N(known_fields); i++)
		if (!strcmp(f, known_fields[i]))
			return 1;
	return 0;
}

static const struct kv_case {
	const char *text;
	uint8_t kind;
	const char *field; /* NULL: valid */
	const char *why;   /* part of the reason */
} kv_cases[] = {
    /* valid */
    {"src_ip=10.0.0.1 action=drop", R, NULL, NULL},
    {"dst_cidr=fd00::/8 protocol=tcp dst_port=443 action=pass", R, NULL, NULL},
    {"src_ip=10.0.0.1 action=rate_limit rate_limit=10", R, NULL, NULL},
    {"src_ip=10.0.0.1 action=rate_limit rate_limit=100000000 burst=100000000", R, NULL, NULL},
    {"src_ip=10.0.0.1 protocol=tcp tcp_flags=SYN,!ACK action=drop", R, NULL, NULL},
    {"protocol=icmp src_cidr=10.0.0.0/8 action=drop", R, NULL, NULL},
    {"protocol=icmpv6 dst_ip=fd00::1 action=drop", R, NULL, NULL},
    {"dst_port=53 action=drop pkt_len_min=512 pkt_len_max=512", R, NULL, NULL},
    {"src_port=1 action=drop", R, NULL, NULL},
    {"src_ip=10.0.0.1 protocol=tcp dst_port=22", WL, NULL, NULL},
    {"protocol=udp", WL, NULL, NULL},
    /* anomaly rules: any action */
    {"src_ip=10.0.0.1 match_anomaly=bad_fragment action=drop", R, NULL, NULL},
    {"dst_ip=fd00::1 match_anomaly=invalid action=rate_limit rate_limit=5", R, NULL, NULL},
    {"src_cidr=10.0.0.0/8 match_anomaly=3 action=pass", R, NULL, NULL},
    {"protocol=tcp tcp_flags=SYN match_anomaly=invalid action=drop", R, NULL, NULL},
    {"src_ip=10.0.0.1 match_anomaly=0 action=drop", R, NULL, NULL},
    /* the text itself */
    {"src_ip", R, "rule", "expected field=value"},
    {"bogus=1 action=drop", R, "rule", "unknown field"},
    {TOO_LONG_600 TOO_LONG_600, R, "rule", "too long"},
    /* one field at a time */
    {"src_ip=10.0.0.0/8 action=drop", R, "src_ip", "not an IP address"},
    {"src_ip=garbage action=drop", R, "src_ip", "not an IP address"},
    {"src_cidr=10.0.0.1/8 action=drop", R, "src_cidr", "not a valid CIDR"},
    {"dst_cidr=::/0 action=drop", R, "dst_cidr", "not a valid CIDR"},
    {"src_ip=1.1.1.1 src_cidr=2.0.0.0/8 action=drop", R, "src_cidr", "given twice"},
    {"dst_ip=1.1.1.1 dst_ip=1.1.1.2 action=drop", R, "dst_ip", "given twice"},
    {"dst_port=65536 action=drop", R, "dst_port", "0-65535"},
    {"src_port=-1 action=drop", R, "src_port", "0-65535"},
    {"protocol=foo action=drop", R, "protocol", "unknown protocol"},
    {"protocol=256 action=drop", R, "protocol", "unknown protocol"},
    {"dst_port=80 action=reject", R, "action", "drop, pass or rate_limit"},
    {"dst_port=80 action=rate_limit rate_limit=x", R, "rate_limit", "non-negative integer"},
    {"dst_port=80 action=rate_limit rate_limit=5 burst=-1", R, "burst", "non-negative"},
    {"dst_port=80 action=drop pkt_len_max=70000", R, "pkt_len_max", "0-65535"},
    {"dst_port=80 action=drop pkt_len_min=1x", R, "pkt_len_min", "0-65535"},
    {"protocol=tcp action=drop tcp_flags=SYN,FOO", R, "tcp_flags", "flags like"},
    {"protocol=tcp action=drop tcp_flags=SYN,SYN", R, "tcp_flags", "flags like"},
    {"protocol=tcp action=drop tcp_flags=SYN,", R, "tcp_flags", "flags like"},
    {"src_ip=10.0.0.1 match_anomaly=bogus action=drop", R, "match_anomaly", "bad_fragment"},
    {"src_ip=10.0.0.1 match_anomaly=4 action=drop", R, "match_anomaly", "bad_fragment"},
    {"src_ip=10.0.0.1 match_anomaly= action=drop", R, "match_anomaly", "bad_fragment"},
    {"src_ip=10.0.0.1 match_anomaly=invalid, action=drop", R, "match_anomaly", "0-3"},
    {"src_ip=10.0.0.1 match_anomaly=invalid,invalid action=drop", R, "match_anomaly", "0-3"},
    /* validation across fields */
    {"action=drop", R, "src_ip", "at least one match field"},
    {"", WL, "src_ip", "would pass everything"},
    {"protocol=any action=drop", R, "src_ip", "at least one match field"},
    {"src_ip=10.0.0.1 dst_ip=fd00::1 action=drop", R, "dst_ip", "different IP families"},
    {"src_cidr=10.0.0.0/8 dst_cidr=fd00::/8 action=drop", R, "dst_ip", "different IP families"},
    {"dst_port=80 protocol=icmp action=drop", R, "dst_port", "tcp, udp or any"},
    {"src_port=80 protocol=gre action=drop", R, "src_port", "tcp, udp or any"},
    {"src_ip=fd00::1 protocol=icmp action=drop", R, "protocol", "icmp is IPv4 only"},
    {"src_ip=10.0.0.1 protocol=icmpv6 action=drop", R, "protocol", "icmpv6 is IPv6 only"},
    {"src_ip=10.0.0.1", R, "action", "drop, pass or rate_limit"},
    {"src_ip=10.0.0.1 rate_limit=5 action=drop", R, "rate_limit", "only for action rate_limit"},
    {"src_ip=10.0.0.1 burst=5 action=pass", R, "burst", "only for action rate_limit"},
    {"src_ip=10.0.0.1 action=rate_limit", R, "rate_limit", "needs rate_limit > 0"},
    {"src_ip=10.0.0.1 action=rate_limit rate_limit=100000001", R, "rate_limit", "above"},
    {"src_ip=10.0.0.1 action=rate_limit rate_limit=1 burst=100000001", R, "burst", "above"},
    {"src_ip=10.0.0.1 action=drop pkt_len_min=100 pkt_len_max=50", R, "pkt_len_min", "greater"},
    {"src_ip=10.0.0.1 action=drop tcp_flags=SYN", R, "tcp_flags", "need protocol tcp"},
    {"src_ip=10.0.0.1 action=drop", WL, "action", "take no action"},
    {"src_ip=10.0.0.1 rate_limit=5", WL, "rate_limit", "five-tuple only"},
    {"src_ip=10.0.0.1 pkt_len_min=5", WL, "rate_limit", "five-tuple only"},
    {"src_ip=10.0.0.1 protocol=tcp tcp_flags=SYN", WL, "rate_limit", "five-tuple only"},
    {"src_ip=10.0.0.1 match_anomaly=invalid", WL, "rate_limit", "five-tuple only"},
    {"match_anomaly=invalid action=drop", R, "src_ip", "at least one match field"},
};

static void test_validation_names_the_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(kv_cases); i++) {
		const struct kv_case *c = &kv_cases[i];
		struct rule_spec r;
		struct rule_error err = {NULL, NULL};
		int rc = rule_parse_kv(c->text, c->kind, &r, &err);

		if (!c->field) {
			if (rc)
				fail_msg("case %zu \"%.60s\": refused: %s: %s", i, c->text,
					 err.field, err.reason);
			assert_int_equal(rule_validate(&r, NULL), 0);
			continue;
		}
		if (rc != -EINVAL || !err.field || strcmp(err.field, c->field) || !err.reason ||
		    !strstr(err.reason, c->why))
			fail_msg("case %zu \"%.60s\": want %s \"%s\", got %d %s \"%s\"", i, c->text,
				 c->field, c->why, rc, err.field ? err.field : "(none)",
				 err.reason ? err.reason : "(none)");
		if (!field_known(err.field))
			fail_msg("case %zu: field \"%s\" is no API field name", i, err.field);
	}
}

/* Specs that the text form cannot express: each refusal still names its field. */
static void test_validate_specs(void **state)
{
	struct rule_spec base = {.kind = R, .dport = 80, .action = XDROP_ACT_DROP};
	struct {
		struct rule_spec r;
		const char *field;
	} cases[] = {
	    {base, NULL},	 {base, "kind"},       {base, "action"},	{base, "action"},
	    {base, "tcp_flags"}, {base, "rate_limit"}, {base, "match_anomaly"}, {base, NULL},
	    {base, NULL},	 {base, "rate_limit"},
	};
	struct rule_error err;

	(void)state;
	cases[1].r.kind = 7;
	cases[2].r.action = XDROP_ACT_WHITELIST; /* a rule may not whitelist */
	cases[3].r.action = 99;
	cases[4].r.proto = 6; /* tcp flags that examine no flag */
	cases[4].r.has_tcp_flags = true;
	cases[5].r.kind = WL; /* a whitelist entry with a rule's action field */
	cases[5].r.action = XDROP_ACT_WHITELIST;
	cases[5].r.len_max = 100;
	cases[6].r.anomaly = 4;		     /* a bit beyond bad_fragment and invalid */
	cases[7].r.anomaly = XDROP_ANOM_ALL; /* anomaly rules: any action, IPv6 too */
	cases[8].r.anomaly = XDROP_ANOM_BAD_FRAG;
	cases[8].r.action = XDROP_ACT_RATE_LIMIT;
	cases[8].r.rate = 10;
	cases[9].r.kind = WL; /* a whitelist entry matches no anomaly */
	cases[9].r.action = XDROP_ACT_WHITELIST;
	cases[9].r.anomaly = XDROP_ANOM_INVALID;
	for (size_t i = 0; i < N(cases); i++) {
		int rc;

		memset(&err, 0, sizeof(err));
		rc = rule_validate(&cases[i].r, &err);
		if (!cases[i].field) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc != -EINVAL || !err.field || strcmp(err.field, cases[i].field) || !err.reason)
			fail_msg("case %zu: want %s, got %d %s", i, cases[i].field, rc,
				 err.field ? err.field : "(none)");
	}
}

static const struct canon_case {
	const char *in;
	uint8_t kind;
	const char *out;
} canon_cases[] = {
    {"action=drop src_ip=10.0.0.1", R, "src_ip=10.0.0.1 action=drop"},
    {"src_cidr=10.0.0.0/08 protocol=TCP dst_port=80 action=drop", R,
     "src_cidr=10.0.0.0/8 dst_port=80 protocol=tcp action=drop"},
    {"src_cidr=10.0.0.1/32 action=pass", R, "src_ip=10.0.0.1 action=pass"},
    {"dst_ip=2001:DB8::0:1 protocol=6 tcp_flags=ack,!syn action=drop", R,
     "dst_ip=2001:db8::1 protocol=tcp action=drop tcp_flags=!SYN,ACK"},
    {"src_ip=::ffff:10.1.2.3 protocol=any action=drop", R, "src_ip=10.1.2.3 action=drop"},
    {"src_cidr=::ffff:10.0.0.0/104 action=drop", R, "src_cidr=10.0.0.0/8 action=drop"},
    {"protocol=132 action=rate_limit rate_limit=5 burst=9", R,
     "protocol=sctp action=rate_limit rate_limit=5 burst=9"},
    {"protocol=200 action=drop", R, "protocol=200 action=drop"},
    {"pkt_len_max=0100 pkt_len_min=20 dst_port=53 action=drop", R,
     "dst_port=53 action=drop pkt_len_min=20 pkt_len_max=100"},
    {"src_cidr=FD00::/8 protocol=udp", WL, "src_cidr=fd00::/8 protocol=udp"},
    {"dst_cidr=fd00:0:0:1::/64 src_port=7", WL, "dst_cidr=fd00:0:0:1::/64 src_port=7"},
    {"match_anomaly=INVALID,Bad_Fragment src_ip=10.0.0.1 action=drop", R,
     "src_ip=10.0.0.1 action=drop match_anomaly=bad_fragment,invalid"},
    {"src_ip=10.0.0.1 match_anomaly=2 action=pass", R,
     "src_ip=10.0.0.1 action=pass match_anomaly=invalid"},
    {"src_ip=10.0.0.1 match_anomaly=0 action=drop", R, "src_ip=10.0.0.1 action=drop"},
};

static void test_canonical_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(canon_cases); i++) {
		const struct canon_case *c = &canon_cases[i];
		struct rule_spec r, again;
		struct rule_error err = {NULL, NULL};
		char buf[512], buf2[512];

		if (rule_parse_kv(c->in, c->kind, &r, &err))
			fail_msg("case %zu \"%s\": refused: %s: %s", i, c->in, err.field,
				 err.reason);
		rule_format_kv(&r, buf, sizeof(buf));
		if (strcmp(buf, c->out))
			fail_msg("case %zu \"%s\": want \"%s\", got \"%s\"", i, c->in, c->out, buf);
		/* the canonical text is a fixed point and the same spec */
		assert_int_equal(rule_parse_kv(buf, c->kind, &again, &err), 0);
		assert_string_equal(rule_format_kv(&again, buf2, sizeof(buf2)), buf);
		assert_int_equal(rule_combo(&again), rule_combo(&r));
		assert_int_equal(rule_rank(&again), rule_rank(&r));
	}
}

static const struct match_all_case {
	const char *text;
	uint8_t kind;
	const char *field; /* NULL: not refused */
} match_all_cases[] = {
    {"src_cidr=0.0.0.0/0 action=drop", R, "src_cidr"},
    {"dst_cidr=0.0.0.0/0 protocol=udp action=drop", R, "dst_cidr"},
    {"dst_cidr=::ffff:0:0/96 action=drop", R, "dst_cidr"},
    {"src_cidr=::ffff:0.0.0.0/96 action=drop", R, "src_cidr"},
    {"src_ip=10.0.0.1 dst_cidr=0.0.0.0/0 action=drop", R, "dst_cidr"},
    {"src_cidr=0.0.0.0/0", WL, "src_cidr"},
    {"src_cidr=0.0.0.0/1 action=drop", R, NULL},
    {"src_cidr=128.0.0.0/1 action=drop", R, NULL},
    {"src_cidr=8000::/1 action=drop", R, NULL},
    {"src_cidr=fd00::/8 action=drop", R, NULL},
    {"dst_port=80 action=drop", R, NULL},
    {"src_ip=0.0.0.0 action=drop", R, NULL},
};

static void test_refuse_match_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(match_all_cases); i++) {
		const struct match_all_case *c = &match_all_cases[i];
		struct rule_spec r;
		struct rule_error err = {NULL, NULL};
		int rc;

		/* valid as a spec: the refusal is a separate check where rules are written */
		if (rule_parse_kv(c->text, c->kind, &r, &err))
			fail_msg("case %zu \"%s\": refused by validation: %s", i, c->text,
				 err.field);
		rc = rule_refuse_match_all(&r, &err);
		if (!c->field) {
			if (rc)
				fail_msg("case %zu \"%s\": refused as match-all", i, c->text);
			continue;
		}
		if (rc != -EINVAL || strcmp(err.field, c->field) ||
		    !strstr(err.reason, "matches every IPv4 address"))
			fail_msg("case %zu \"%s\": want %s refused, got %d %s", i, c->text,
				 c->field, rc, err.field);
	}
}

static void test_protocols(void **state)
{
	static const struct {
		const char *in;
		int num; /* -1: refused */
		const char *name;
	} cases[] = {
	    {"any", 0, "any"},
	    {"ANY", 0, "any"},
	    {"0", 0, "any"},
	    {"tcp", 6, "tcp"},
	    {"Tcp", 6, "tcp"},
	    {"6", 6, "tcp"},
	    {"udp", 17, "udp"},
	    {"icmp", 1, "icmp"},
	    {"icmpv6", 58, "icmpv6"},
	    {"igmp", 2, "igmp"},
	    {"gre", 47, "gre"},
	    {"esp", 50, "esp"},
	    {"ah", 51, "ah"},
	    {"sctp", 132, "sctp"},
	    {"255", 255, "255"},
	    {"0099", 99, "99"},
	    {"256", -1, NULL},
	    {"-1", -1, NULL},
	    {"", -1, NULL},
	    {"6x", -1, NULL},
	    {" 6", -1, NULL},
	    {"ipv6", -1, NULL},
	    {"99999999999999999999", -1, NULL},
	};
	char buf[8];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		uint8_t p = 0;
		int rc = rule_parse_protocol(cases[i].in, &p);

		if (cases[i].num < 0) {
			if (rc != -EINVAL)
				fail_msg("case %zu \"%s\": accepted as %u", i, cases[i].in, p);
			continue;
		}
		if (rc || p != cases[i].num)
			fail_msg("case %zu \"%s\": want %d, got rc %d %u", i, cases[i].in,
				 cases[i].num, rc, p);
		assert_string_equal(rule_protocol_name(p, buf, sizeof(buf)), cases[i].name);
	}
}

static void test_actions(void **state)
{
	static const struct {
		const char *in;
		int act; /* -1: refused */
	} cases[] = {
	    {"drop", XDROP_ACT_DROP},
	    {"pass", XDROP_ACT_PASS},
	    {"rate_limit", XDROP_ACT_RATE_LIMIT},
	    {"DROP", -1},
	    {"whitelist", -1},
	    {"", -1},
	    {"drop ", -1},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		uint8_t a = 0;
		int rc = rule_parse_action(cases[i].in, &a);

		if (cases[i].act < 0) {
			assert_int_equal(rc, -EINVAL);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(a, cases[i].act);
		assert_string_equal(rule_action_name(a), cases[i].in);
	}
	assert_string_equal(rule_action_name(XDROP_ACT_WHITELIST), "whitelist");
	assert_string_equal(rule_action_name(0), "unknown");
}

static void test_tcp_flags(void **state)
{
	static const struct {
		const char *in;
		int mask; /* -1: refused */
		int value;
		const char *out;
	} cases[] = {
	    {"SYN", 0x02, 0x02, "SYN"},
	    {"syn,!ack", 0x12, 0x02, "SYN,!ACK"},
	    {"ack,!syn", 0x12, 0x10, "!SYN,ACK"},
	    {"!FIN", 0x01, 0x00, "!FIN"},
	    {"CWR,ECE,URG,ACK,PSH,RST,SYN,FIN", 0xff, 0xff, "FIN,SYN,RST,PSH,ACK,URG,ECE,CWR"},
	    {"!FIN,!SYN,!RST,!PSH,!ACK,!URG,!ECE,!CWR", 0xff, 0x00,
	     "!FIN,!SYN,!RST,!PSH,!ACK,!URG,!ECE,!CWR"},
	    {"", -1, 0, NULL},
	    {"!", -1, 0, NULL},
	    {",SYN", -1, 0, NULL},
	    {"SYN,", -1, 0, NULL},
	    {"SYN,,ACK", -1, 0, NULL},
	    {"SYN,!SYN", -1, 0, NULL},
	    {"FOO", -1, 0, NULL},
	    {"SYNACK", -1, 0, NULL},
	    {"SYN ACK", -1, 0, NULL},
	};
	char buf[48];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		uint8_t m, v;
		int rc = rule_parse_tcp_flags(cases[i].in, &m, &v);

		if (cases[i].mask < 0) {
			if (rc != -EINVAL)
				fail_msg("case %zu \"%s\": accepted", i, cases[i].in);
			continue;
		}
		if (rc || m != cases[i].mask || v != cases[i].value)
			fail_msg("case %zu \"%s\": want %#x/%#x, got rc %d %#x/%#x", i, cases[i].in,
				 cases[i].mask, cases[i].value, rc, m, v);
		assert_string_equal(rule_format_tcp_flags(m, v, buf, sizeof(buf)), cases[i].out);
	}
}

static void test_anomaly_names(void **state)
{
	static const struct {
		const char *in;
		int mask; /* -1: refused */
		const char *out;
	} cases[] = {
	    {"bad_fragment", 1, "bad_fragment"},
	    {"invalid", 2, "invalid"},
	    {"invalid,bad_fragment", 3, "bad_fragment,invalid"},
	    {"BAD_FRAGMENT", 1, "bad_fragment"},
	    {"0", 0, ""},
	    {"1", 1, "bad_fragment"},
	    {"3", 3, "bad_fragment,invalid"},
	    {"", -1, NULL},
	    {"4", -1, NULL},
	    {"03", -1, NULL},
	    {"-1", -1, NULL},
	    {",invalid", -1, NULL},
	    {"invalid,", -1, NULL},
	    {"invalid,,bad_fragment", -1, NULL},
	    {"bad_fragment,bad_fragment", -1, NULL},
	    {"bad", -1, NULL},
	    {"bad_fragments", -1, NULL},
	    {"invalid bad_fragment", -1, NULL},
	};
	char buf[24];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		uint8_t m = 0xee;
		int rc = rule_parse_anomaly(cases[i].in, &m);

		if (cases[i].mask < 0) {
			if (rc != -EINVAL || m != 0xee)
				fail_msg("case %zu \"%s\": accepted or *out touched", i,
					 cases[i].in);
			continue;
		}
		if (rc || m != cases[i].mask)
			fail_msg("case %zu \"%s\": want %d, got rc %d mask %d", i, cases[i].in,
				 cases[i].mask, rc, m);
		assert_string_equal(rule_anomaly_name(m, buf, sizeof(buf)), cases[i].out);
	}
	assert_string_equal(rule_anomaly_name(9, buf, sizeof(buf)), "9");
}

static void test_ids(void **state)
{
	static const char id64[] =
	    "0123456789012345678901234567890123456789012345678901234567890123";
	static const struct {
		const char *id;
		bool ok;
	} cases[] = {
	    {"a", true},      {"node-1", true}, {"Rule_2.b", true}, {id64, true},
	    {id64 + 1, true}, {NULL, false},	{"", false},	    {"a:b", false},
	    {"a b", false},   {"a/b", false},	{"ä", false},	    {"a\n", false},
	};
	char id65[66];

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (rule_id_ok(cases[i].id) != cases[i].ok)
			fail_msg("case %zu \"%s\": want %d", i,
				 cases[i].id ? cases[i].id : "(null)", cases[i].ok);
	snprintf(id65, sizeof(id65), "%sx", id64);
	assert_false(rule_id_ok(id65));
}

/* The field mask, exact-table membership and rank of parsed specs. */
static void test_combo_exact_rank(void **state)
{
	static const struct {
		const char *text;
		uint8_t combo;
		bool exact;
		uint32_t rank;
	} cases[] = {
	    {"src_ip=10.0.0.1 action=drop", XDROP_F_SRC, true, 1u << 28 | 128u << 16},
	    {"dst_cidr=10.0.0.0/8 action=drop", XDROP_F_DST, false,
	     1u << 28 | 104u << 16 | 104u << 8},
	    {"protocol=udp dst_port=53 action=drop", XDROP_F_PROTO | XDROP_F_DPORT, true,
	     2u << 28 | 4 | 1},
	    {"src_port=1 action=drop", XDROP_F_SPORT, true, 1u << 28 | 2},
	    {"src_cidr=fd00::/8 dst_ip=fd00::1 src_port=1 dst_port=2 protocol=tcp action=drop", 31,
	     false, 5u << 28 | 136u << 16 | 128u << 8 | 7},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct rule_spec r;
		struct rule_error err;

		assert_int_equal(rule_parse_kv(cases[i].text, R, &r, &err), 0);
		if (rule_combo(&r) != cases[i].combo || rule_is_exact(&r) != cases[i].exact ||
		    rule_rank(&r) != cases[i].rank)
			fail_msg("case %zu: want %#x %d %#x, got %#x %d %#x", i, cases[i].combo,
				 cases[i].exact, cases[i].rank, rule_combo(&r), rule_is_exact(&r),
				 rule_rank(&r));
	}
	/* more fields outrank longer prefixes; longer prefixes outrank ports */
	assert_true(rule_rank_of(XDROP_F_SRC | XDROP_F_DPORT, 97, 0) >
		    rule_rank_of(XDROP_F_SRC, 128, 0));
	assert_true(rule_rank_of(XDROP_F_SRC, 120, 0) > rule_rank_of(XDROP_F_SRC, 104, 0));
	assert_true(rule_rank_of(XDROP_F_DST, 0, 128) > rule_rank_of(XDROP_F_SRC, 128, 0));
}

/* The exact-table order: all 31 combos, ranks strictly falling, inverses consistent. */
static void test_exact_order(void **state)
{
	struct rule_order o;
	uint32_t seen = 0;

	(void)state;
	rule_exact_order(&o);
	assert_int_equal(o.order_mask[0], 31);
	for (int k = 0; k < 31; k++) {
		uint8_t m = o.order_mask[k];

		assert_true(m >= 1 && m <= 31);
		seen |= 1u << m;
		assert_int_equal(o.pos_of_mask[m], k);
		assert_int_equal(o.order_rank[k], rule_rank_of(m, (m & XDROP_F_SRC) ? 128 : 0,
							       (m & XDROP_F_DST) ? 128 : 0));
		if (k)
			assert_true(o.order_rank[k] < o.order_rank[k - 1]);
		for (int f = 0; f < 5; f++)
			assert_int_equal(!!(o.order_need[f] & (1u << k)), !!(m & (1 << f)));
	}
	assert_int_equal(seen, 0xfffffffeu);
	assert_int_equal(__builtin_popcount(o.order_mask[30]), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation_names_the_field),
	    cmocka_unit_test(test_validate_specs),
	    cmocka_unit_test(test_canonical_forms),
	    cmocka_unit_test(test_refuse_match_all),
	    cmocka_unit_test(test_protocols),
	    cmocka_unit_test(test_actions),
	    cmocka_unit_test(test_tcp_flags),
	    cmocka_unit_test(test_anomaly_names),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_combo_exact_rank),
	    cmocka_unit_test(test_exact_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
