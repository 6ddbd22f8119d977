// SPDX-License-Identifier: MIT
/*
 * test_prefix_lookup: the longest-prefix search without the LPM trie (dp_plens.c).
 *   - random CIDR sets whose lengths the fast paths take (IPv4: /16 blocks in xdrop_dir16,
 *     then hash probes of the longer lengths in the block; IPv6: one hash probe per length)
 *     give the reference matcher's verdict for every packet, and the program really uses
 *     those paths (dataplane_prefix_mode);
 *   - a block (IPv4) or a trie (IPv6) with more lengths than XDROP_PFX_MAX_PROBES falls back
 *     to the trie and comes back when lengths go, right all along;
 *   - a re-opened, pinned data plane rebuilds the hashes and uses them again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "refmatch.h"
#include "testdp.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t pick(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* IPv4: short prefixes (dir16 words) and, inside 10.0/16 and 10.1/16, at most six longer
 * lengths per block; IPv6: two lengths. */
static const char *const v4_nets[] = {"10.0.0.0/8",   "10.0.0.0/12", "10.0.0.0/16", "10.1.0.0/16",
				      "10.0.0.0/20",  "10.0.0.0/24", "10.0.1.0/24", "10.0.0.0/28",
				      "10.0.0.16/28", "10.0.0.0/30", "10.1.2.0/24", "10.1.2.128/25",
				      "11.0.0.0/8",   "10.0.0.4/32", "10.1.2.3/32"};
static const char *const v4_addrs[] = {"10.0.0.1", "10.0.0.5", "10.0.0.17",  "10.0.1.9",
				       "10.0.9.9", "10.1.2.3", "10.1.2.200", "10.1.9.9",
				       "10.9.0.1", "11.2.3.4", "12.0.0.1",   "10.0.0.4"};
static const char *const v6_nets[] = {"fd00::/48", "fd00:0:0:1::/64", "fd00::/64", "fd01::/48",
				      "fd00:1::/48"};
static const char *const v6_addrs[] = {"fd00::1",   "fd00::4", "fd00:0:0:1::1", "fd00:0:1::1",
				       "fd00:1::1", "fd01::1", "fd02::1",	"fd00::1:0:0:1"};
static const uint8_t protos[] = {6, 17};
static const uint16_t ports[] = {53, 80};

static void addr_field(struct addr_prefix *a, bool v6)
{
	const char *why;

	assert_int_equal(
	    addr_parse_prefix(v6 ? v6_nets[pick(N(v6_nets))] : v4_nets[pick(N(v4_nets))], a, &why),
	    0);
}

static void gen_rule(struct rule_spec *r)
{
	bool v6 = pick(3) == 0;

	memset(r, 0, sizeof(*r));
	r->kind = pick(5) == 0 ? XDROP_KIND_WL : XDROP_KIND_RULE;
	r->action = r->kind == XDROP_KIND_WL ? XDROP_ACT_WHITELIST
		    : pick(2)		     ? XDROP_ACT_DROP
					     : XDROP_ACT_PASS;
	if (pick(4))
		addr_field(&r->src, v6);
	if (!r->src.plen || pick(3) == 0)
		addr_field(&r->dst, v6);
	if (pick(4) == 0)
		r->proto = protos[pick(N(protos))];
	if (pick(4) == 0)
		r->dport = ports[pick(N(ports))];
}

static bool same_key(const struct rule_spec *a, const struct rule_spec *b)
{
	return a->kind == b->kind && a->src.plen == b->src.plen && a->dst.plen == b->dst.plen &&
	       !memcmp(&a->src.addr, &b->src.addr, 16) && !memcmp(&a->dst.addr, &b->dst.addr, 16) &&
	       a->sport == b->sport && a->dport == b->dport && a->proto == b->proto;
}

static size_t gen_set(struct rule_spec *v, size_t want)
{
	size_t n = 0;

	while (n < want) {
		bool dup = false;

		gen_rule(&v[n]);
		for (size_t j = 0; j < n && !dup; j++)
			dup = same_key(&v[n], &v[j]);
		if (!dup)
			n++;
	}
	return n;
}

/* Random packets against the reference; returns the mismatches. */
static long check_packets(struct dataplane *dp, const struct rule_spec *rules, size_t n, long count)
{
	struct ref_state ref;
	long bad = 0;

	assert_int_equal(ref_init(&ref, rules, n), 0);
	for (long k = 0; k < count; k++) {
		bool v6 = pick(3) == 0;
		struct pkt_desc d = {
		    .src = v6 ? v6_addrs[pick(N(v6_addrs))] : v4_addrs[pick(N(v4_addrs))],
		    .dst = v6 ? v6_addrs[pick(N(v6_addrs))] : v4_addrs[pick(N(v4_addrs))],
		    .proto = protos[pick(N(protos))],
		    .sport = 40000,
		    .dport = ports[pick(N(ports))],
		    .payload = 8,
		};
		uint8_t buf[PKT_MAX];
		struct ref_pkt rp;
		long winner;
		int len = pkt_build(&d, buf), kv, rv;

		assert_true(len > 0);
		assert_int_equal(ref_pkt_from_frame(buf, (size_t)len, &rp), 0);
		kv = pkt_run(dataplane_prog_fd(dp), buf, (size_t)len);
		rv = ref_verdict(&ref, &rp, &winner);
		if (kv != rv && bad++ < 5)
			printf("# mismatch %s > %s proto %u dport %u: kernel %d, reference %d\n",
			       d.src, d.dst, d.proto, d.dport, kv, rv);
	}
	ref_fini(&ref);
	return bad;
}

static void random_sets(void **state)
{
	struct dataplane *dp = testdp_open(false, false);
	struct rule_spec *v = calloc(200, sizeof(*v));
	long bad = 0;

	(void)state;
	assert_non_null(v);
	for (int round = 0; round < 40; round++) {
		size_t n = gen_set(v, 10 + pick(150));
		struct dp_result res;

		assert_int_equal(dataplane_replace(dp, 3, v, n, &res), 0);
		/* the fast paths are in use for the blocks and tries of these sets */
		assert_int_equal(dataplane_prefix_mode(dp, false, false, 0x0a00), XDROP_PFX_DIR16);
		assert_int_equal(dataplane_prefix_mode(dp, false, true, 0x0a01), XDROP_PFX_DIR16);
		assert_int_equal(dataplane_prefix_mode(dp, true, false, 0), XDROP_PFX_HASH);
		assert_int_equal(dataplane_prefix_mode(dp, true, true, 0), XDROP_PFX_HASH);
		bad += check_packets(dp, v, n, 1500);
	}
	printf("# 40 rounds, 60000 packets, %ld mismatches\n", bad);
	assert_int_equal(bad, 0);
	free(v);
	dataplane_close(dp);
}

/* A hashed prefix carries a copy of the entry whose only field it is (xdrop.h, struct
 * xdrop_pfx_val), which decides the packet without a lookup of xdrop_cidr: random changes
 * (new, modified action, deleted) of single-field CIDR rules among the random sets, applied
 * one transaction at a time, give the reference's verdicts right after the switch (before
 * the cleanup) and after it. */
static void entry_copies(void **state)
{
	struct dataplane *dp = testdp_open(false, false);
	struct rule_spec *v = calloc(200, sizeof(*v));
	struct dp_change ch[8];
	struct dp_result res;
	size_t n = gen_set(v, 120);
	long bad = 0;

	(void)state;
	assert_non_null(v);
	assert_int_equal(dataplane_replace(dp, 3, v, n, &res), 0);
	for (int round = 0; round < 40; round++) {
		size_t nc = 1 + pick(N(ch)), m = 0;

		for (size_t c = 0; c < nc; c++) {
			struct rule_spec r;
			size_t i = n;
			bool dup = false;

			/* a single-field prefix rule: an existing key or a new one */
			do {
				gen_rule(&r);
				r.sport = r.dport = 0;
				r.proto = 0;
				if (r.src.plen && r.dst.plen)
					memset(&r.dst, 0, sizeof(r.dst));
			} while (r.kind == XDROP_KIND_WL);
			for (size_t j = 0; j < n; j++)
				if (same_key(&v[j], &r))
					i = j;
			for (size_t j = 0; j < m; j++)
				dup = dup || same_key(&ch[j].spec, &r);
			if (dup || (i == n && n == 200))
				continue; /* one change per key and transaction; the set is full */
			ch[m].op = i < n && pick(3) == 0 ? DP_DEL : DP_PUT;
			ch[m].spec = r;
			if (i < n && ch[m].op == DP_PUT)
				ch[m].spec.action =
				    v[i].action == XDROP_ACT_DROP ? XDROP_ACT_PASS : XDROP_ACT_DROP;
			if (ch[m].op == DP_DEL)
				v[i] = v[--n];
			else if (i < n)
				v[i] = ch[m].spec;
			else
				v[n++] = ch[m].spec;
			m++;
		}
		if (!m)
			continue;
		assert_int_equal(dataplane_apply_begin(dp, ch, m, &res), 0);
		bad += check_packets(dp, v, n, 300);
		dataplane_apply_finish(dp);
		bad += check_packets(dp, v, n, 300);
	}
	printf("# 40 transactions of changes to single-field prefix rules, %ld mismatches\n", bad);
	assert_int_equal(bad, 0);
	free(v);
	dataplane_close(dp);
}

/* One source prefix per length: lens[0..k) of 10.0.0.1 (IPv4) or fd00::1 (IPv6). */
static size_t nested(struct rule_spec *v, bool v6, const unsigned *lens, size_t k)
{
	const char *why;

	for (size_t i = 0; i < k; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].kind = XDROP_KIND_RULE;
		v[i].action = i % 2 ? XDROP_ACT_PASS : XDROP_ACT_DROP;
		assert_int_equal(addr_parse(v6 ? "fd00::" : "10.0.0.0", &v[i].src.addr, &why), 0);
		v[i].src.plen = (v6 ? 0 : 96) + lens[i];
	}
	return k;
}

static void expect_longest(struct dataplane *dp, bool v6, size_t k)
{
	struct pkt_desc d = {.src = v6 ? "fd00::1" : "10.0.0.1",
			     .dst = v6 ? "fd00::9" : "10.9.9.9",
			     .proto = 17,
			     .sport = 1,
			     .dport = 2,
			     .payload = 8};

	/* the longest prefix decides: drop for an even index, pass for an odd one */
	assert_int_equal(testdp_send(dp, &d), (k - 1) % 2 ? XDP_PASS : XDP_DROP);
}

static void fallback_and_back(void **state)
{
	static const unsigned l4[] = {17, 18, 20, 22, 24, 26, 28, 30};
	static const unsigned l6[] = {16, 32, 48, 64, 80, 96, 112, 120};
	struct dataplane *dp = testdp_open(false, false);
	struct rule_spec v[8];
	struct dp_result res;

	(void)state;
	for (size_t k = 1; k <= 8; k++) {
		size_t n = nested(v, false, l4, k);

		assert_int_equal(dataplane_replace(dp, 3, v, n, &res), 0);
		assert_int_equal(dataplane_prefix_mode(dp, false, false, 0x0a00),
				 k > XDROP_PFX_MAX_PROBES ? XDROP_PFX_TRIE : XDROP_PFX_DIR16);
		expect_longest(dp, false, k);
		n = nested(v, true, l6, k);
		assert_int_equal(dataplane_replace(dp, 3, v, n, &res), 0);
		assert_int_equal(dataplane_prefix_mode(dp, true, false, 0),
				 k > XDROP_PFX6_HASH_LENS ? XDROP_PFX_TRIE : XDROP_PFX_HASH);
		expect_longest(dp, true, k);
	}
	for (size_t k = 8; k >= 1; k--) {
		size_t n = nested(v, false, l4, k);

		assert_int_equal(dataplane_replace(dp, 3, v, n, &res), 0);
		assert_int_equal(dataplane_prefix_mode(dp, false, false, 0x0a00),
				 k > XDROP_PFX_MAX_PROBES ? XDROP_PFX_TRIE : XDROP_PFX_DIR16);
		expect_longest(dp, false, k);
	}
	dataplane_close(dp);
}

static void adopted(void **state)
{
	char dir[96];
	struct dataplane_opts o = {.sz = sizeof(o), .pin_dir = dir};
	struct dataplane *dp = NULL;
	struct rule_spec *v = calloc(200, sizeof(*v));
	struct dp_result res;
	size_t n;

	(void)state;
	assert_non_null(v);
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/xdrop-test-pfx-%d", (int)getpid());
	assert_int_equal(dataplane_open(&dp, &o), 0);
	n = gen_set(v, 150);
	assert_int_equal(dataplane_replace(dp, 3, v, n, &res), 0);
	dataplane_close(dp);
	dp = NULL;
	assert_int_equal(dataplane_open(&dp, &o), 0);
	assert_true(dataplane_adopted(dp));
	assert_int_equal(dataplane_prefix_mode(dp, false, false, 0x0a00), XDROP_PFX_DIR16);
	assert_int_equal(dataplane_prefix_mode(dp, true, false, 0), XDROP_PFX_HASH);
	assert_int_equal(check_packets(dp, v, n, 3000), 0);
	assert_int_equal(dataplane_unpin(dp), 0);
	dataplane_close(dp);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(random_sets),
	    cmocka_unit_test(entry_copies),
	    cmocka_unit_test(fallback_and_back),
	    cmocka_unit_test(adopted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
