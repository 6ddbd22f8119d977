// SPDX-License-Identifier: MIT
/*
 * test_rulepb: lib/rulepb with lib/rule's data-plane encoding, table-driven. A Rule or
 * WhitelistEntry message becomes a spec and then the exact table's key and action value
 * (bpf/xdrop.h), byte for byte; the key and value decode back to the same spec (the way
 * the agent adopts pinned state), so message -> key/value -> spec -> key/value is a fixed
 * point. Refusals name the proto field. Canonical spelling rewrites a message to one text
 * per match, is idempotent, leaves refused messages unchanged, and the match key treats
 * src_ip "a" and src_cidr "a/32" as one match.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rulepb.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The message fields a case sets (NULL strings stay empty). */
struct msg {
	const char *src_ip, *src_cidr, *dst_ip, *dst_cidr;
	uint32_t sport, dport;
	const char *proto, *action;
	uint64_t rate, burst;
	uint32_t len_min, len_max;
	const char *tcp_flags;
	uint32_t anomaly;
};

static char *s(const char *v)
{
	return (char *)(v ? v : protobuf_c_empty_string);
}

static void to_rule(const struct msg *m, Xdrop__V1__Rule *r)
{
	xdrop__v1__rule__init(r);
	r->src_ip = s(m->src_ip);
	r->src_cidr = s(m->src_cidr);
	r->dst_ip = s(m->dst_ip);
	r->dst_cidr = s(m->dst_cidr);
	r->src_port = m->sport;
	r->dst_port = m->dport;
	r->protocol = s(m->proto);
	r->action = s(m->action);
	r->rate_limit = m->rate;
	r->burst = m->burst;
	r->pkt_len_min = m->len_min;
	r->pkt_len_max = m->len_max;
	r->tcp_flags = s(m->tcp_flags);
	r->match_anomaly = m->anomaly;
}

static void to_wl(const struct msg *m, Xdrop__V1__WhitelistEntry *w)
{
	xdrop__v1__whitelist_entry__init(w);
	w->src_ip = s(m->src_ip);
	w->src_cidr = s(m->src_cidr);
	w->dst_ip = s(m->dst_ip);
	w->dst_cidr = s(m->dst_cidr);
	w->src_port = m->sport;
	w->dst_port = m->dport;
	w->protocol = s(m->proto);
}

static void v4(struct xdrop_addr *a, const char *text)
{
	memset(a, 0, sizeof(*a));
	a->b[10] = a->b[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, text, a->b + 12), 1);
}

static void v6(struct xdrop_addr *a, const char *text)
{
	assert_int_equal(inet_pton(AF_INET6, text, a->b), 1);
}

/* Exact entries: message -> key and value, byte for byte, and back. */
static const struct kv_case {
	int wl;
	struct msg m;
	const char *src4, *dst4, *src6, *dst6; /* expected key addresses (NULL: zero) */
	uint16_t sport, dport;		       /* host order */
	uint8_t proto, combo, action, flags, tcp_mask, tcp_value;
	uint16_t len_min, len_max;
	uint32_t rate, burst;
} kv_cases[] = {
    {.m = {.src_ip = "10.0.0.1", .action = "drop"},
     .src4 = "10.0.0.1",
     .combo = XDROP_F_SRC,
     .action = XDROP_ACT_DROP},
    {.m = {.dst_ip = "fd00::1", .dport = 443, .proto = "tcp", .action = "pass"},
     .dst6 = "fd00::1",
     .dport = 443,
     .proto = 6,
     .combo = XDROP_F_DST | XDROP_F_DPORT | XDROP_F_PROTO,
     .action = XDROP_ACT_PASS},
    /* mapped IPv6 is IPv4; burst 0 means "= rate" */
    {.m = {.src_ip = "::ffff:192.0.2.1",
	   .dst_ip = "192.0.2.2",
	   .sport = 1024,
	   .dport = 53,
	   .proto = "UDP",
	   .action = "rate_limit",
	   .rate = 100},
     .src4 = "192.0.2.1",
     .dst4 = "192.0.2.2",
     .sport = 1024,
     .dport = 53,
     .proto = 17,
     .combo = 31,
     .action = XDROP_ACT_RATE_LIMIT,
     .rate = 100,
     .burst = 100},
    /* a /32 prefix is an exact address */
    {.m = {.src_cidr = "10.0.0.9/32",
	   .proto = "6",
	   .action = "rate_limit",
	   .rate = 5,
	   .burst = 50,
	   .len_min = 40,
	   .len_max = 1500,
	   .tcp_flags = "syn,!ack"},
     .src4 = "10.0.0.9",
     .proto = 6,
     .combo = XDROP_F_SRC | XDROP_F_PROTO,
     .action = XDROP_ACT_RATE_LIMIT,
     .flags = XDROP_AF_TCP_FLAGS,
     .tcp_mask = 0x12,
     .tcp_value = 0x02,
     .len_min = 40,
     .len_max = 1500,
     .rate = 5,
     .burst = 50},
    {.m = {.sport = 65535, .action = "drop"},
     .sport = 65535,
     .combo = XDROP_F_SPORT,
     .action = XDROP_ACT_DROP},
    {.m = {.proto = "255", .action = "drop", .len_max = 65535},
     .proto = 255,
     .combo = XDROP_F_PROTO,
     .action = XDROP_ACT_DROP,
     .len_max = 65535},
    {.wl = 1,
     .m = {.src_ip = "10.0.0.1", .dport = 22, .proto = "tcp"},
     .src4 = "10.0.0.1",
     .dport = 22,
     .proto = 6,
     .combo = XDROP_F_SRC | XDROP_F_DPORT | XDROP_F_PROTO,
     .action = XDROP_ACT_WHITELIST},
    {.wl = 1,
     .m = {.dst_cidr = "2001:db8::1/128"},
     .dst6 = "2001:db8::1",
     .combo = XDROP_F_DST,
     .action = XDROP_ACT_WHITELIST},
};

static int convert(int wl, const struct msg *m, struct rule_spec *sp, struct rule_error *err)
{
	if (wl) {
		Xdrop__V1__WhitelistEntry w;

		to_wl(m, &w);
		return rulepb_wl_to_spec(&w, sp, err);
	} else {
		Xdrop__V1__Rule r;

		to_rule(m, &r);
		return rulepb_rule_to_spec(&r, sp, err);
	}
}

static void test_proto_to_bpf_and_back(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(kv_cases); i++) {
		const struct kv_case *c = &kv_cases[i];
		struct xdrop_exact_key key, want_key, key2;
		struct xdrop_act act, act2;
		struct rule_spec sp, back;
		struct rule_error err = {NULL, NULL};
		char k1[128], k2[128];

		if (convert(c->wl, &c->m, &sp, &err))
			fail_msg("case %zu: refused: %s: %s", i, err.field, err.reason);
		assert_true(rule_is_exact(&sp));
		rule_exact_key(&sp, &key);
		rule_act(&sp, 1000 + (uint32_t)i, &act);

		memset(&want_key, 0, sizeof(want_key));
		if (c->src4)
			v4(&want_key.src, c->src4);
		if (c->src6)
			v6(&want_key.src, c->src6);
		if (c->dst4)
			v4(&want_key.dst, c->dst4);
		if (c->dst6)
			v6(&want_key.dst, c->dst6);
		want_key.sport = htons(c->sport);
		want_key.dport = htons(c->dport);
		want_key.proto = c->proto;
		want_key.combo = c->combo;
		want_key.kind = c->wl ? XDROP_KIND_WL : XDROP_KIND_RULE;
		if (memcmp(&key, &want_key, sizeof(key)))
			fail_msg("case %zu: exact key differs (combo %#x want %#x, ports %u/%u)", i,
				 key.combo, want_key.combo, ntohs(key.sport), ntohs(key.dport));
		if (act.action != c->action || act.flags != c->flags ||
		    act.tcp_mask != c->tcp_mask || act.tcp_value != c->tcp_value ||
		    act.len_min != c->len_min || act.len_max != c->len_max || act.rate != c->rate ||
		    act.burst != c->burst || act.slot != 1000 + i)
			fail_msg(
			    "case %zu: value differs: action %u flags %u tcp %#x/%#x len %u-%u "
			    "rate %u burst %u slot %u",
			    i, act.action, act.flags, act.tcp_mask, act.tcp_value, act.len_min,
			    act.len_max, act.rate, act.burst, act.slot);

		/* back: the decoded spec is the same match and encodes to the same bytes */
		rule_from_exact(&key, &act, &back);
		assert_int_equal(rule_validate(&back, NULL), 0);
		assert_string_equal(rulepb_match_key(&back, k2, sizeof(k2)),
				    rulepb_match_key(&sp, k1, sizeof(k1)));
		assert_int_equal(rule_rank(&back), rule_rank(&sp));
		rule_exact_key(&back, &key2);
		rule_act(&back, act.slot, &act2);
		assert_memory_equal(&key2, &key, sizeof(key));
		assert_memory_equal(&act2, &act, sizeof(act));
	}
}

/* A prefix match is no exact entry; its spec still carries the prefix unchanged. */
static void test_prefix_spec(void **state)
{
	struct msg m = {.src_cidr = "10.0.0.0/8", .dst_cidr = "10.1.0.0/16", .action = "drop"};
	struct rule_spec sp;
	char buf[128];

	(void)state;
	assert_int_equal(convert(0, &m, &sp, NULL), 0);
	assert_false(rule_is_exact(&sp));
	assert_int_equal(sp.src.plen, 104);
	assert_int_equal(sp.dst.plen, 112);
	assert_string_equal(rulepb_match_key(&sp, buf, sizeof(buf)),
			    "0|10.0.0.0/8|10.1.0.0/16|0|0|0");
}

static const struct refuse_case {
	int wl;
	struct msg m;
	const char *field;
	const char *why;
} refuse_cases[] = {
    {0, {.src_ip = "10.0.0.1", .src_cidr = "10.0.0.0/8", .action = "drop"}, "src_cidr", "not both"},
    {0, {.src_ip = "10.0.0.0/8", .action = "drop"}, "src_ip", "no prefix length"},
    {0, {.dst_ip = "nonsense", .action = "drop"}, "dst_ip", "not an IPv4 or IPv6"},
    {0, {.dst_cidr = "10.0.0.1", .action = "drop"}, "dst_cidr", "needs a length"},
    {0, {.dst_cidr = "10.0.0.1/8", .action = "drop"}, "dst_cidr", "host bits"},
    {0, {.src_cidr = "::/0", .action = "drop"}, "src_cidr", "every packet"},
    {0, {.sport = 65536, .action = "drop"}, "src_port", "0-65535"},
    {0, {.dport = 70000, .action = "drop"}, "dst_port", "0-65535"},
    {0, {.dport = 80, .proto = "tcpx", .action = "drop"}, "protocol", "unknown protocol"},
    {0, {.dport = 80}, "action", "action is required"},
    {0, {.dport = 80, .action = "reject"}, "action", "drop, pass or rate_limit"},
    {0, {.dport = 80, .action = "rate_limit", .rate = 100000001}, "rate_limit", "above"},
    {0, {.dport = 80, .action = "rate_limit", .rate = 1, .burst = 1ull << 33}, "burst", "above"},
    {0, {.dport = 80, .action = "drop", .len_min = 65536}, "pkt_len_min", "0-65535"},
    {0, {.dport = 80, .action = "drop", .len_max = 65536}, "pkt_len_max", "0-65535"},
    {0,
     {.dport = 80, .proto = "tcp", .action = "drop", .tcp_flags = "SYN,XYZ"},
     "tcp_flags",
     "flags like"},
    {0, {.dport = 80, .action = "drop", .anomaly = 4}, "match_anomaly", "a mask of 1"},
    {0,
     {.dport = 80, .proto = "tcp", .action = "drop", .tcp_flags = "SYN", .anomaly = 2},
     "tcp_flags",
     "cannot have both tcp_flags and match_anomaly"},
    {0, {.action = "drop"}, "src_ip", "at least one match field"},
    {0, {.dport = 80, .action = "rate_limit"}, "rate_limit", "needs rate_limit > 0"},
    {1, {.proto = "any"}, "src_ip", "would pass everything"},
    {1, {.src_ip = "10.0.0.1", .dst_ip = "fd00::1"}, "dst_ip", "different IP families"},
    {1, {.dst_cidr = "fd00::/8", .proto = "icmp"}, "protocol", "icmp is IPv4 only"},
};

static void test_refusals_name_the_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(refuse_cases); i++) {
		const struct refuse_case *c = &refuse_cases[i];
		struct rule_spec sp;
		struct rule_error err = {NULL, NULL};
		int rc = convert(c->wl, &c->m, &sp, &err);

		if (rc != -EINVAL || !err.field || strcmp(err.field, c->field) || !err.reason ||
		    !strstr(err.reason, c->why))
			fail_msg("case %zu: want %s \"%s\", got %d %s \"%s\"", i, c->field, c->why,
				 rc, err.field ? err.field : "(none)",
				 err.reason ? err.reason : "(none)");
	}
}

/* Canonical spelling: what each field becomes (expected texts; "" = empty field). */
static const struct canon_case {
	int wl;
	struct msg in;
	struct msg out; /* only the text fields are compared */
} canon_cases[] = {
    {0,
     {.src_ip = "::FFFF:10.0.0.1", .proto = "TCP", .action = "drop"},
     {.src_ip = "10.0.0.1", .proto = "tcp"}},
    {0,
     {.src_cidr = "10.0.0.0/08", .proto = "6", .action = "drop"},
     {.src_cidr = "10.0.0.0/8", .proto = "tcp"}},
    {0,
     {.src_cidr = "10.0.0.1/32", .proto = "ANY", .action = "drop"},
     {.src_cidr = "10.0.0.1/32", .proto = ""}},
    {0,
     {.dst_ip = "2001:DB8:0::1", .proto = "0", .action = "drop"},
     {.dst_ip = "2001:db8::1", .proto = ""}},
    {0,
     {.dst_cidr = "FD00:0:0:0::/64", .proto = "tcp", .action = "drop", .tcp_flags = "ack,!syn"},
     {.dst_cidr = "fd00::/64", .proto = "tcp", .tcp_flags = "!SYN,ACK"}},
    {0,
     {.dst_cidr = "::ffff:10.0.0.0/104", .proto = "132", .action = "pass"},
     {.dst_cidr = "10.0.0.0/8", .proto = "sctp"}},
    {0,
     {.src_ip = "10.0.0.1", .proto = "0199", .action = "drop"},
     {.src_ip = "10.0.0.1", .proto = "199"}},
    {1, {.src_ip = "10.000.0.1", .proto = "Udp"}, {.src_ip = "", .proto = ""}},
    {1, {.src_cidr = "FD00::/8", .proto = "udp"}, {.src_cidr = "fd00::/8", .proto = "udp"}},
};

static const char *str(const char *v)
{
	return v ? v : "";
}

static void check_canon(size_t i, const char *what, const char *got, const char *want)
{
	if (strcmp(got, str(want)))
		fail_msg("case %zu: %s: want \"%s\", got \"%s\"", i, what, str(want), got);
}

static void test_canonical_spelling(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(canon_cases); i++) {
		const struct canon_case *c = &canon_cases[i];
		struct rulepb_canon_buf b, b2;
		Xdrop__V1__Rule r;
		Xdrop__V1__WhitelistEntry w;
		char *src_ip, *src_cidr, *dst_ip, *dst_cidr, *proto;
		int rc;

		if (c->wl) {
			to_wl(&c->in, &w);
			rc = rulepb_wl_canon(&w, &b);
			src_ip = w.src_ip, src_cidr = w.src_cidr, dst_ip = w.dst_ip;
			dst_cidr = w.dst_cidr, proto = w.protocol;
		} else {
			to_rule(&c->in, &r);
			rc = rulepb_rule_canon(&r, &b);
			src_ip = r.src_ip, src_cidr = r.src_cidr, dst_ip = r.dst_ip;
			dst_cidr = r.dst_cidr, proto = r.protocol;
		}
		if (c->out.src_ip && !*c->out.src_ip) {
			/* "10.000.0.1" is no address inet_pton takes: refused, left unchanged */
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(src_ip, c->in.src_ip);
			assert_string_equal(proto, c->in.proto);
			continue;
		}
		if (rc)
			fail_msg("case %zu: canon refused", i);
		check_canon(i, "src_ip", src_ip, c->out.src_ip);
		check_canon(i, "src_cidr", src_cidr, c->out.src_cidr);
		check_canon(i, "dst_ip", dst_ip, c->out.dst_ip);
		check_canon(i, "dst_cidr", dst_cidr, c->out.dst_cidr);
		check_canon(i, "protocol", proto, c->out.proto);
		if (!c->wl)
			check_canon(i, "tcp_flags", r.tcp_flags,
				    c->out.tcp_flags ? c->out.tcp_flags : c->in.tcp_flags);
		/* idempotent: the canonical message canonicalises to itself */
		if (c->wl) {
			assert_int_equal(rulepb_wl_canon(&w, &b2), 0);
			assert_string_equal(w.src_ip, str(c->out.src_ip));
			assert_string_equal(w.src_cidr, str(c->out.src_cidr));
			assert_string_equal(w.protocol, str(c->out.proto));
		} else {
			assert_int_equal(rulepb_rule_canon(&r, &b2), 0);
			assert_string_equal(r.src_ip, str(c->out.src_ip));
			assert_string_equal(r.dst_cidr, str(c->out.dst_cidr));
			assert_string_equal(r.protocol, str(c->out.proto));
		}
	}
}

/* One match key per match: the spelling and the field used do not matter, kind does. */
static void test_match_key(void **state)
{
	static const struct {
		int wl_a, wl_b;
		struct msg a, b;
		int same;
	} cases[] = {
	    {0,
	     0,
	     {.src_ip = "10.0.0.1", .action = "drop"},
	     {.src_cidr = "10.0.0.1/32", .action = "pass"},
	     1},
	    {0,
	     0,
	     {.src_ip = "::ffff:10.0.0.1", .action = "drop"},
	     {.src_ip = "10.0.0.1", .action = "drop"},
	     1},
	    {0,
	     0,
	     {.dport = 53, .proto = "udp", .action = "drop"},
	     {.dport = 53, .proto = "17", .action = "drop"},
	     1},
	    {0,
	     0,
	     {.dport = 53, .proto = "any", .action = "drop"},
	     {.dport = 53, .action = "drop"},
	     1},
	    {0,
	     0,
	     {.src_ip = "10.0.0.1", .action = "drop"},
	     {.dst_ip = "10.0.0.1", .action = "drop"},
	     0},
	    {0, 0, {.dport = 53, .action = "drop"}, {.sport = 53, .action = "drop"}, 0},
	    {0, 1, {.src_ip = "10.0.0.1", .action = "drop"}, {.src_ip = "10.0.0.1"}, 0},
	    {1, 1, {.src_cidr = "FD00::/8"}, {.src_cidr = "fd00::/8"}, 1},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct rule_spec a, b;
		char ka[128], kb[128];

		assert_int_equal(convert(cases[i].wl_a, &cases[i].a, &a, NULL), 0);
		assert_int_equal(convert(cases[i].wl_b, &cases[i].b, &b, NULL), 0);
		rulepb_match_key(&a, ka, sizeof(ka));
		rulepb_match_key(&b, kb, sizeof(kb));
		if ((strcmp(ka, kb) == 0) != cases[i].same)
			fail_msg("case %zu: \"%s\" vs \"%s\": want same=%d", i, ka, kb,
				 cases[i].same);
	}
}

/* The match key's text, byte for byte, is what it always was (the controller stores it as
 * a unique column): random specs of both families, every prefix length, absent fields,
 * against the printf formula, with a large buffer (the fast path) and a small one. */
static void test_match_key_text(void **state)
{
	(void)state;
	srand(15);
	for (int i = 0; i < 20000; i++) {
		struct rule_spec s = {0};
		char a[XDROP_ADDR_STRLEN], b[XDROP_ADDR_STRLEN], want[256], got[256], small[100];
		struct addr_prefix *pf[2] = {&s.src, &s.dst};

		s.kind = (uint8_t)(rand() % 2);
		for (int k = 0; k < 2; k++) {
			int mode = rand() % 4; /* absent, v4-mapped, v6, mapped with a short plen */

			for (int j = 0; j < 16; j++)
				pf[k]->addr.b[j] = (uint8_t)(rand() % 4 ? rand() : 0);
			if (mode == 1 || mode == 3) {
				memset(pf[k]->addr.b, 0, 10);
				pf[k]->addr.b[10] = pf[k]->addr.b[11] = 0xff;
			}
			pf[k]->plen = mode == 0	  ? 0
				      : mode == 1 ? 96 + (unsigned)(rand() % 33)
				      : mode == 2 ? 1 + (unsigned)(rand() % 128)
						  : 1 + (unsigned)(rand() % 95);
		}
		s.sport = (uint16_t)(rand() % 3 ? 0 : rand());
		s.dport = (uint16_t)(rand() % 3 ? 0 : rand());
		s.proto = (uint8_t)(rand() % 2 ? 0 : rand());
		snprintf(want, sizeof(want), "%u|%s|%s|%u|%u|%u", s.kind,
			 s.src.plen ? addr_format_prefix(&s.src, a, sizeof(a)) : "",
			 s.dst.plen ? addr_format_prefix(&s.dst, b, sizeof(b)) : "", s.sport,
			 s.dport, s.proto);
		assert_string_equal(rulepb_match_key(&s, got, sizeof(got)), want);
		want[sizeof(small) - 1] = 0; /* what snprintf keeps of it */
		assert_string_equal(rulepb_match_key(&s, small, sizeof(small)), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proto_to_bpf_and_back),
	    cmocka_unit_test(test_prefix_spec),
	    cmocka_unit_test(test_refusals_name_the_field),
	    cmocka_unit_test(test_canonical_spelling),
	    cmocka_unit_test(test_match_key),
	    cmocka_unit_test(test_match_key_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
