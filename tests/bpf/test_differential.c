// SPDX-License-Identifier: MIT
/*
 * test_differential: the kernel's verdict equals the reference matcher's (tests/lib/
 * refmatch.c) for random packets against random rule sets: exact and CIDR rules, nested
 * prefixes, mixed exact/CIDR rules, whitelist entries, drop/pass/rate_limit, length bounds
 * and TCP flags, anomaly masks, IPv4 and IPv6, fragments, and hostile packets that carry
 * anomalies (fragment geometry, tiny first fragments, impossible TCP flags, lengths beyond
 * the frame, IHL < 5 and TCP data offsets < 5 that leave a packet unclassified). Addresses, ports
 * and lengths are drawn from small pools and their neighbours so that packets land on rule edges.
 * Each round replaces the whole set through dataplane_replace, so the diffing replace path is
 * exercised too.
 *
 * XDROP_DIFF_PACKETS (default 120000) sets the packet count; XDROP_DIFF_SEED the seed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "refmatch.h"
#include "testdp.h"

#define MAX_RULES 320

static const char *const v4_addrs[] = {"10.0.0.1",   "10.0.0.2", "10.0.0.3", "10.0.1.1",
				       "10.0.1.255", "10.1.2.3", "10.1.0.1", "11.0.0.1",
				       "192.0.2.1",  "10.0.0.0"};
static const char *const v4_nets[] = {"0.0.0.0/0",   "10.0.0.0/8",  "10.0.0.0/16", "10.1.0.0/16",
				      "10.0.0.0/23", "10.0.0.0/24", "10.0.1.0/24", "10.1.2.0/24",
				      "10.0.0.0/30", "10.0.0.0/31", "10.0.0.2/31", "11.0.0.0/8"};
static const char *const v6_addrs[] = {"fd00::1",   "fd00::2", "fd00::3", "fd00:0:0:1::1",
				       "fd00:1::1", "fd01::1", "fd00::"};
static const char *const v6_nets[] = {"fd00::/8",   "fd00::/16",  "fd00::/64",	 "fd00:0:0:1::/64",
				      "fd00::/126", "fd00::/127", "fd00:1::/32", "fd01::/16"};
static const uint16_t ports[] = {53, 80, 443, 1000};
static const uint8_t protos[] = {6, 17, 1, 58, 47};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static unsigned long long rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint32_t pick(uint32_t n)
{
	return rnd() % n;
}

static bool same_key(const struct rule_spec *a, const struct rule_spec *b)
{
	return a->kind == b->kind && a->src.plen == b->src.plen && a->dst.plen == b->dst.plen &&
	       (!a->src.plen || !memcmp(&a->src.addr, &b->src.addr, 16)) &&
	       (!a->dst.plen || !memcmp(&a->dst.addr, &b->dst.addr, 16)) && a->sport == b->sport &&
	       a->dport == b->dport && a->proto == b->proto;
}

static void gen_addr_field(struct addr_prefix *out, bool v6)
{
	const char *why;

	if (pick(2))
		addr_parse_prefix(v6 ? v6_addrs[pick(N(v6_addrs))] : v4_addrs[pick(N(v4_addrs))],
				  out, &why);
	else
		addr_parse_prefix(v6 ? v6_nets[pick(N(v6_nets))] : v4_nets[pick(N(v4_nets))], out,
				  &why);
}

static bool gen_rule(struct rule_spec *r)
{
	bool v6 = pick(3) == 0;
	unsigned m = 1 + pick(31);

	memset(r, 0, sizeof(*r));
	r->kind = pick(30) == 0 ? XDROP_KIND_WL : XDROP_KIND_RULE;
	if (m & XDROP_F_SRC)
		gen_addr_field(&r->src, v6);
	if (m & XDROP_F_DST)
		gen_addr_field(&r->dst, v6);
	if (m & XDROP_F_PROTO) {
		r->proto = protos[pick(N(protos))];
		if (r->proto == 1 && v6)
			r->proto = 58;
		if (r->proto == 58 && !v6)
			r->proto = 1;
	}
	if (!r->proto || r->proto == 6 || r->proto == 17) {
		if (m & XDROP_F_SPORT)
			r->sport = ports[pick(N(ports))];
		if (m & XDROP_F_DPORT)
			r->dport = ports[pick(N(ports))];
	}
	if (r->kind == XDROP_KIND_WL) {
		r->action = XDROP_ACT_WHITELIST;
	} else {
		uint32_t a = pick(20);

		r->action = a < 9 ? XDROP_ACT_DROP : a < 16 ? XDROP_ACT_PASS : XDROP_ACT_RATE_LIMIT;
		if (r->action == XDROP_ACT_RATE_LIMIT) {
			r->rate = 1;
			r->burst = 1 + pick(3);
		}
		if (pick(7) == 0) {
			r->len_min = (uint16_t)(40 + pick(30));
			r->len_max = (uint16_t)(r->len_min + pick(40));
		}
		if (r->proto == 6 && pick(5) == 0) {
			r->has_tcp_flags = true;
			r->tcp_mask = 0x12;
			r->tcp_value = pick(2) ? 0x02 : 0x12;
		}
		if (pick(4) == 0)
			r->anomaly = (uint8_t)(1 + pick(XDROP_ANOM_ALL));
	}
	return rule_validate(r, NULL) == 0;
}

static const char *neighbour(bool v6, char *buf)
{
	const char *base = v6 ? v6_addrs[pick(N(v6_addrs))] : v4_addrs[pick(N(v4_addrs))];
	struct addr_prefix a;
	const char *why;
	int i;

	if (pick(3))
		return base;
	addr_parse_prefix(base, &a, &why);
	/* step to a neighbouring address: +-1 in the last byte or a flipped middle bit */
	i = pick(3);
	if (i == 0)
		a.addr.b[15]++;
	else if (i == 1)
		a.addr.b[15]--;
	else
		a.addr.b[v6 ? 7 : 13] ^= (uint8_t)(1u << pick(8));
	return addr_format(&a.addr, buf, XDROP_ADDR_STRLEN);
}

/* Makes one packet in four hostile: fragment geometry, a tiny first fragment, a length
 * field that lies, IHL < 5 or a TCP data offset < 5. Never a frame cut short, which the
 * program drops as malformed before any rule (the verdict table covers those). */
static void hostile(struct pkt_desc *d)
{
	static const uint16_t offs[] = {0, 0, 1, 2, 8189, 8191};

	if (pick(4))
		return;
	switch (pick(5)) {
	case 0:
		d->frag = 3;
		d->frag_off = pick(4) ? offs[pick(N(offs))] : (uint16_t)pick(8192);
		d->frag_more = pick(2);
		break;
	case 1:
		d->frag = 3;
		d->frag_more = true;
		d->l4_bytes = (uint8_t)(1 + pick(19));
		break;
	case 2:
		d->ip_len = (uint16_t)(pick(3) ? 1 + pick(200) : 1 + pick(65535));
		if (pick(2)) {
			d->frag = 3;
			d->frag_off = offs[pick(N(offs))];
			d->frag_more = pick(2);
		}
		break;
	case 3:
		d->ihl = (uint8_t)(1 + pick(4));
		break;
	default:
		d->doff = (uint8_t)(1 + pick(4));
		break;
	}
}

static void differential(void **state)
{
	const char *env = getenv("XDROP_DIFF_PACKETS");
	long total = env ? atol(env) : 120000, done = 0, mismatches = 0, per_round = 2000;
	long drops = 0, by_wl = 0, by_rule = 0, by_cidr = 0, by_anom = 0;
	long anomalous = 0, with_anomaly = 0, unclassified = 0;
	struct rule_spec *rules = calloc(MAX_RULES, sizeof(*rules));
	struct dataplane *dp = testdp_open(true, false);
	unsigned long long seed;
	uint64_t clock = 1000000000ull;
	int round = 0;

	(void)state;
	env = getenv("XDROP_DIFF_SEED");
	seed = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ull;
	rng_state = seed;
	printf("# seed 0x%llx, %ld packets\n", seed, total);
	assert_non_null(rules);
	while (done < total) {
		size_t n = 0, want = 40 + pick(240);
		struct ref_state ref;
		struct dp_result res;
		int err;

		while (n < want) {
			struct rule_spec r;
			bool dup = false;

			if (!gen_rule(&r))
				continue;
			for (size_t j = 0; j < n && !dup; j++)
				dup = same_key(&r, &rules[j]);
			if (!dup)
				rules[n++] = r;
		}
		err = dataplane_replace(dp, 3, rules, n, &res);
		if (err)
			fail_msg("round %d: replace failed: %s (%s: %s)", round, strerror(-err),
				 res.err.field, res.err.reason);
		/* a clock jump refills every bucket, as the reference starts full */
		clock += 1000000000000ull;
		assert_int_equal(dataplane_set_clock(dp, clock), 0);
		assert_int_equal(ref_init(&ref, rules, n), 0);
		for (long k = 0; k < per_round && done < total; k++, done++) {
			char sb[XDROP_ADDR_STRLEN], db[XDROP_ADDR_STRLEN];
			bool v6 = pick(3) == 0;
			struct pkt_desc d = {
			    .src = neighbour(v6, sb),
			    .dst = neighbour(v6, db),
			    .proto = pick(8) == 0 ? 132 : protos[pick(N(protos))],
			    .sport = pick(4) ? ports[pick(N(ports))]
					     : (uint16_t)(ports[pick(N(ports))] + 1),
			    .dport = pick(4) ? ports[pick(N(ports))]
					     : (uint16_t)(ports[pick(N(ports))] - 1),
			    .tcp_flags = (uint8_t)pick(256),
			    .frag = pick(20) == 0   ? 1
				    : pick(20) == 0 ? 2
						    : 0,
			    .payload = (uint16_t)pick(64),
			};
			uint8_t buf[PKT_MAX];
			struct ref_pkt rp;
			long winner;
			int len, kv, rv;

			if (d.proto == 1 && v6)
				d.proto = 58;
			if (d.proto == 58 && !v6)
				d.proto = 1;
			hostile(&d);
			anomalous += (d.frag == 3 || d.l4_bytes || d.ip_len || d.ihl || d.doff);
			len = pkt_build(&d, buf);
			assert_true(len > 0);
			assert_int_equal(ref_pkt_from_frame(buf, (size_t)len, &rp), 0);
			with_anomaly += rp.anomaly != 0;
			unclassified += rp.unclassified;
			kv = pkt_run(dataplane_prog_fd(dp), buf, (size_t)len);
			rv = ref_verdict(&ref, &rp, &winner);
			drops += kv == XDP_DROP;
			if (winner >= 0 && rules[winner].kind == XDROP_KIND_WL)
				by_wl++;
			else if (winner >= 0)
				by_rule++;
			if (winner >= 0 && !rule_is_exact(&rules[winner]))
				by_cidr++;
			if (winner >= 0 && rules[winner].anomaly)
				by_anom++;
			if (kv != rv) {
				char rb[256] = "none";

				if (winner >= 0)
					rule_format_kv(&rules[winner], rb, sizeof(rb));
				if (mismatches++ < 10)
					printf(
					    "# mismatch round %d: %s %s > %s proto %u ports %u>%u "
					    "frag %d (off %u more %d) l4_bytes %u ihl %u ip_len %u "
					    "doff %u flags 0x%x len %u anomaly %u%s: kernel %d, "
					    "reference %d (deciding entry: %s%s)\n",
					    round, v6 ? "v6" : "v4", d.src, d.dst, d.proto, d.sport,
					    d.dport, d.frag, d.frag_off, d.frag_more, d.l4_bytes,
					    d.ihl, d.ip_len, d.doff, d.tcp_flags, rp.l3_len,
					    rp.anomaly, rp.unclassified ? " unclassified" : "", kv,
					    rv,
					    winner >= 0 && rules[winner].kind == XDROP_KIND_WL
						? "wl: "
						: "",
					    rb);
			}
		}
		ref_fini(&ref);
		round++;
	}
	printf("# %d rounds, %ld packets, %ld mismatches; %ld dropped; decided by whitelist %ld, "
	       "by a rule %ld (CIDR table %ld, anomaly rule %ld), by no entry %ld\n",
	       round, done, mismatches, drops, by_wl, by_rule, by_cidr, by_anom,
	       done - by_wl - by_rule);
	printf("# %ld hostile packets, %ld carrying an anomaly, %ld unclassified\n", anomalous,
	       with_anomaly, unclassified);
	dataplane_close(dp);
	free(rules);
	assert_int_equal(mismatches, 0);
	/* the generator reached what it is meant to: anomaly rules deciding packets */
	assert_true(by_anom > 0 && unclassified > 0 && with_anomaly > anomalous / 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(differential),
	};

	return cmocka_run_group_tests_name("bpf_differential", tests, NULL, NULL);
}
