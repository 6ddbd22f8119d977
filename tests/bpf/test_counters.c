// SPDX-License-Identifier: MIT
/*
 * test_counters: the figures the XDP program keeps, exactly, on the real program through
 * BPF_PROG_TEST_RUN: packets and bytes (the frame length) per verdict and per reason for
 * frames of different lengths, the exclusive sums, per-slot match and drop bytes; the
 * top-talker samples (one per packet at 1/1 with the packet's fields, about 1/N at 1/N,
 * none when off); and the adoption of per-rule counters pinned by a build whose slot
 * counters were 16 bytes.
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
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "addr.h"
#include "testdp.h"

#define D XDP_DROP
#define P XDP_PASS

/* Sends d (or raw[0..rawlen) when rawlen) n times; returns the frame length. */
static size_t send_n(struct dataplane *dp, const struct pkt_desc *d, const uint8_t *raw,
		     size_t rawlen, int n, int verdict)
{
	uint8_t buf[PKT_MAX];
	int len = rawlen ? (int)rawlen : pkt_build(d, buf);

	assert_true(len > 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(pkt_run(dataplane_prog_fd(dp), rawlen ? raw : buf, (size_t)len),
				 verdict);
	return (size_t)len;
}

static const char *const rules[] = {
    "dst_ip=198.51.100.1 action=drop",
    "dst_ip=198.51.100.2 action=pass",
    "dst_ip=198.51.100.3 action=rate_limit rate_limit=1 burst=2",
    "wl: src_ip=192.0.2.50",
    NULL,
};

/* ARP request: not IP. */
static const char arp_hex[] = "ffffffffffff020000000001080600010800060400010200000000010a000001"
			      "0000000000000a000002";
/* IPv4 header cut short: malformed. */
static const char trunc_hex[] = "0200000000020200000000010800450000";

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
	return n;
}

#define NO_RULE (-1)
#define NO_CNT	(-1)

/* One batch of identical frames: what it is, its verdict, the reason counter (and bytes
 * twin) it must grow, and the rule (index into rules) whose slot counts it. */
struct batch {
	struct pkt_desc pkt;
	const char *raw; /* hex frame instead of pkt */
	int n, verdict, cnt, cnt_bytes, rule;
};

#define B(d, n_, v, c, r)                                                                          \
	{                                                                                          \
		.pkt = d, .n = n_, .verdict = v, .cnt = XDROP_CNT_##c,                             \
		.cnt_bytes = XDROP_CNT_##c##_BYTES, .rule = r                                      \
	}
#define PKT(s, d, pr, sp, dp_, pay, vl)                                                            \
	{                                                                                          \
		.src = s, .dst = d, .proto = pr, .sport = sp, .dport = dp_, .payload = pay,        \
		.vlans = vl                                                                        \
	}

/* The rate limiter's clock stands still: its burst of 2 passes, the rest is dropped. */
static const struct batch batches[] = {
    B(PKT("192.0.2.1", "198.51.100.1", 17, 1, 53, 100, 0), 3, D, RULE_DROP, 0),
    B(PKT("192.0.2.1", "198.51.100.1", 17, 1, 53, 1000, 0), 2, D, RULE_DROP, 0),
    B(PKT("192.0.2.1", "198.51.100.2", 6, 1, 80, 7, 0), 4, P, RULE_PASS, 1),
    B(PKT("192.0.2.1", "198.51.100.3", 17, 1, 53, 300, 0), 2, P, RL_PASSED, 2),
    B(PKT("192.0.2.1", "198.51.100.3", 17, 1, 53, 300, 0), 3, D, RATE_LIMITED, 2),
    /* the whitelist entry beats the drop rule; VLAN-tagged, so a longer frame */
    B(PKT("192.0.2.50", "198.51.100.1", 17, 9, 53, 33, 1), 6, P, WHITELISTED, 3),
    /* a protected flow to the drop rule's address */
    B(PKT("192.0.2.99", "198.51.100.1", 6, 7700, 40000, 500, 0), 2, P, PROTECTED, NO_RULE),
    {.pkt = PKT("fd00::1", "fd00::2", 17, 0, 0, 77, 0),
     .n = 3,
     .verdict = P,
     .cnt = NO_CNT,
     .rule = NO_RULE},
    {.raw = arp_hex,
     .n = 5,
     .verdict = P,
     .cnt = XDROP_CNT_NON_IP,
     .cnt_bytes = XDROP_CNT_NON_IP_BYTES,
     .rule = NO_RULE},
    {.raw = trunc_hex,
     .n = 7,
     .verdict = D,
     .cnt = XDROP_CNT_MALFORMED,
     .cnt_bytes = XDROP_CNT_MALFORMED_BYTES,
     .rule = NO_RULE},
};
#define NBATCH (sizeof(batches) / sizeof(batches[0]))

/* Sends every batch, adding what each must count to w (global) and slot (per rule). */
static void send_batches(struct dataplane *dp, uint64_t *w, struct xdrop_slot_counters *slot)
{
	for (size_t i = 0; i < NBATCH; i++) {
		const struct batch *b = &batches[i];
		uint8_t raw[64];
		size_t rawlen = b->raw ? unhex(b->raw, raw) : 0;
		uint64_t n = (uint64_t)b->n;
		size_t len = send_n(dp, &b->pkt, raw, rawlen, b->n, b->verdict);
		int drop = b->verdict == D;

		w[XDROP_CNT_RX] += n;
		w[XDROP_CNT_RX_BYTES] += n * len;
		w[drop ? XDROP_CNT_DROPPED : XDROP_CNT_PASSED] += n;
		w[drop ? XDROP_CNT_DROPPED_BYTES : XDROP_CNT_PASSED_BYTES] += n * len;
		if (b->cnt != NO_CNT) {
			w[b->cnt] += n;
			w[b->cnt_bytes] += n * len;
		}
		if (b->rule != NO_RULE) {
			slot[b->rule].match += n;
			slot[b->rule].match_bytes += n * len;
			slot[b->rule].drop += drop ? n : 0;
			slot[b->rule].drop_bytes += drop ? n * len : 0;
		}
	}
}

/* Every packet counter and its bytes grew by exactly what was sent; every rule's slot
 * holds exactly its packets and bytes. */
static void bytes_per_verdict_and_reason(void **state)
{
	struct dataplane *dp = testdp_open(true, false);
	uint64_t before[XDROP_NCOUNTERS], after[XDROP_NCOUNTERS], w[XDROP_NCOUNTERS] = {0};
	struct xdrop_slot_counters want_slot[4] = {0}, sc;
	struct xdrop_protect_key pk = {.proto = IPPROTO_TCP};
	struct xdrop_protect_val pv;
	struct rule_spec spec;
	const char *why;

	(void)state;
	memset(&pv, 0, sizeof(pv));
	assert_int_equal(addr_parse("192.0.2.99", &pk.peer, &why), 0);
	pv.peer_port[0] = htons(7700);
	assert_int_equal(dataplane_set_protect(dp, &pk, &pv, 1), 0);
	assert_int_equal(testdp_load(dp, rules), 0);
	assert_int_equal(dataplane_set_clock(dp, 1000000000ull), 0);
	assert_int_equal(dataplane_counters(dp, before), 0);
	send_batches(dp, w, want_slot);
	assert_int_equal(dataplane_counters(dp, after), 0);
	for (int i = 0; i < XDROP_NCOUNTERS; i++) {
		/* attributes, not reasons (the anomaly counters: test_verdicts) */
		if (i == XDROP_CNT_FRAGMENT || i == XDROP_CNT_REDIRECTED ||
		    i == XDROP_CNT_SAMPLES || i == XDROP_CNT_SAMPLES_LOST ||
		    i == XDROP_CNT_ANOMALY_BAD_FRAG || i == XDROP_CNT_ANOMALY_INVALID)
			continue;
		if (after[i] - before[i] != w[i])
			fail_msg("counter %d: grew by %llu, expected %llu", i,
				 (unsigned long long)(after[i] - before[i]),
				 (unsigned long long)w[i]);
	}
	for (int r = 0; r < 4; r++) {
		assert_int_equal(testdp_spec(rules[r], &spec), 0);
		assert_int_equal(dataplane_entry_counters(dp, &spec, &sc), 0);
		assert_memory_equal(&sc, &want_slot[r], sizeof(sc));
	}
	/* the exclusive sums */
	assert_int_equal(after[XDROP_CNT_RX], after[XDROP_CNT_PASSED] + after[XDROP_CNT_DROPPED]);
	assert_int_equal(after[XDROP_CNT_RX_BYTES],
			 after[XDROP_CNT_PASSED_BYTES] + after[XDROP_CNT_DROPPED_BYTES]);
	assert_int_equal(after[XDROP_CNT_DROPPED],
			 after[XDROP_CNT_RULE_DROP] + after[XDROP_CNT_RATE_LIMITED] +
			     after[XDROP_CNT_RL_NO_STATE] + after[XDROP_CNT_MALFORMED]);
	assert_int_equal(after[XDROP_CNT_DROPPED_BYTES],
			 after[XDROP_CNT_RULE_DROP_BYTES] + after[XDROP_CNT_RATE_LIMITED_BYTES] +
			     after[XDROP_CNT_RL_NO_STATE_BYTES] + after[XDROP_CNT_MALFORMED_BYTES]);
	/* passed = its reasons + the default (3 IPv6 frames that matched nothing) */
	assert_int_equal(after[XDROP_CNT_PASSED] - 3,
			 after[XDROP_CNT_RULE_PASS] + after[XDROP_CNT_RL_PASSED] +
			     after[XDROP_CNT_WHITELISTED] + after[XDROP_CNT_PROTECTED] +
			     after[XDROP_CNT_NON_IP]);
	dataplane_close(dp);
}

/* ---- sampling ---- */

struct got {
	struct xdrop_sample s[64];
	size_t n;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct got *g = ctx;

	assert_int_equal(size, sizeof(struct xdrop_sample));
	if (g->n < 64)
		memcpy(&g->s[g->n], data, sizeof(struct xdrop_sample));
	g->n++;
	return 0;
}

static void addr_is(const struct xdrop_addr *a, const char *text)
{
	struct xdrop_addr b;
	const char *why;

	if (!text) {
		memset(&b, 0, sizeof(b));
	} else {
		assert_int_equal(addr_parse(text, &b, &why), 0);
	}
	assert_memory_equal(a, &b, sizeof(b));
}

static void sample_every_packet(void **state)
{
	struct dataplane *dp = testdp_open(true, false);
	struct got g = {0};
	struct ring_buffer *rb;
	uint8_t arp[64];
	size_t arplen = unhex(arp_hex, arp), len;
	struct pkt_desc d1 = {.src = "192.0.2.1",
			      .dst = "198.51.100.1",
			      .proto = 17,
			      .sport = 1234,
			      .dport = 53,
			      .payload = 10};
	struct pkt_desc d2 = {
	    .src = "fd00::7", .dst = "fd00::8", .proto = 6, .sport = 5, .dport = 443};

	(void)state;
	rb = ring_buffer__new(dataplane_samples_fd(dp), on_sample, &g, NULL);
	assert_non_null(rb);
	ring_buffer__consume(rb); /* nothing yet: no packets */
	assert_int_equal(g.n, 0);
	assert_int_equal(dataplane_set_sample_every(dp, 1), 0);
	/* a switch after the setting keeps it (both config buffers hold it) */
	assert_int_equal(testdp_load(dp, rules), 0);
	len = send_n(dp, &d1, NULL, 0, 1, D);
	send_n(dp, &d2, NULL, 0, 1, P);
	send_n(dp, NULL, arp, arplen, 1, P);
	assert_int_equal(ring_buffer__consume(rb), 3);
	assert_int_equal(g.n, 3);

	addr_is(&g.s[0].src, "192.0.2.1");
	addr_is(&g.s[0].dst, "198.51.100.1");
	assert_int_equal(ntohs(g.s[0].sport), 1234);
	assert_int_equal(ntohs(g.s[0].dport), 53);
	assert_int_equal(g.s[0].proto, 17);
	assert_int_equal(g.s[0].verdict, XDROP_SAMPLE_DROPPED);
	assert_int_equal(g.s[0].reason, XDROP_CNT_RULE_DROP);
	assert_int_equal(g.s[0].len, len);
	assert_int_equal(g.s[0].every, 1);

	addr_is(&g.s[1].src, "fd00::7");
	assert_int_equal(ntohs(g.s[1].dport), 443);
	assert_int_equal(g.s[1].verdict, XDROP_SAMPLE_PASSED);
	assert_int_equal(g.s[1].reason, XDROP_CNT_PASSED); /* matched nothing */

	addr_is(&g.s[2].src, NULL);
	addr_is(&g.s[2].dst, NULL);
	assert_int_equal(g.s[2].proto, 0);
	assert_int_equal(g.s[2].reason, XDROP_CNT_NON_IP);
	assert_int_equal(g.s[2].len, arplen);

	assert_int_equal(dataplane_set_sample_every(dp, XDROP_MAX_SAMPLE_EVERY + 1), -EINVAL);
	assert_int_equal(dataplane_sample_every(dp), 1);
	/* off: none */
	assert_int_equal(dataplane_set_sample_every(dp, 0), 0);
	send_n(dp, &d1, NULL, 0, 50, D);
	assert_int_equal(ring_buffer__consume(rb), 0);
	assert_int_equal(g.n, 3);
	ring_buffer__free(rb);
	dataplane_close(dp);
}

/* 1 in 16 over 200,000 runs: the count of samples within 3% of 12,500, the counter equal
 * to what the ring delivered. */
static void sample_one_in_n(void **state)
{
	struct dataplane *dp = testdp_open(true, false);
	uint64_t before[XDROP_NCOUNTERS], after[XDROP_NCOUNTERS];
	struct got g = {0};
	struct ring_buffer *rb;
	uint8_t buf[PKT_MAX];
	struct pkt_desc d = {.src = "192.0.2.1", .dst = "198.51.100.9", .proto = 17, .payload = 20};
	int len = pkt_build(&d, buf);
	const uint32_t runs = 200000, every = 16;
	double expect = (double)runs / every;

	(void)state;
	rb = ring_buffer__new(dataplane_samples_fd(dp), on_sample, &g, NULL);
	assert_non_null(rb);
	assert_int_equal(testdp_load(dp, rules), 0);
	assert_int_equal(dataplane_set_sample_every(dp, every), 0);
	assert_int_equal(dataplane_counters(dp, before), 0);
	assert_int_equal(pkt_run_repeat(dataplane_prog_fd(dp), buf, (size_t)len, runs, NULL), P);
	assert_int_equal(dataplane_counters(dp, after), 0);
	ring_buffer__consume(rb);
	printf("# %u runs at 1/%u: %zu samples (expected %.0f, %+.2f%%)\n", runs, every, g.n,
	       expect, 100.0 * ((double)g.n - expect) / expect);
	assert_int_equal(after[XDROP_CNT_SAMPLES] - before[XDROP_CNT_SAMPLES], g.n);
	assert_int_equal(after[XDROP_CNT_SAMPLES_LOST] - before[XDROP_CNT_SAMPLES_LOST], 0);
	assert_true((double)g.n > 0.97 * expect && (double)g.n < 1.03 * expect);
	assert_int_equal(g.s[0].every, every);
	ring_buffer__free(rb);
	dataplane_close(dp);
}

/* ---- pinned counters of the previous layout ---- */

struct old_slot {
	uint64_t match, drop;
};

static struct dataplane *open_pinned(const char *dir)
{
	struct dataplane_opts o = {.sz = sizeof(o), .pin_dir = dir, .test_clock = true};
	struct dataplane *dp;

	assert_int_equal(dataplane_open(&dp, &o), 0);
	return dp;
}

/* Replaces the pinned xdrop_counters with one of 16-byte slot counters holding match and
 * drop = (100 + slot, slot) on CPU 0 for slots 0..nslots. */
static void pin_old_counters(const char *dir, uint32_t nslots)
{
	int ncpu = libbpf_num_possible_cpus(), inner, outer, tmpl;
	struct old_slot *v = calloc((size_t)ncpu, sizeof(*v));
	char path[512];
	uint32_t zero = 0;
	LIBBPF_OPTS(bpf_map_create_opts, oo);

	assert_non_null(v);
	tmpl = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "old_tmpl", 4, sizeof(struct old_slot),
			      XDROP_SLOT_CHUNK, NULL);
	inner = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "old_cnt0", 4, sizeof(struct old_slot),
			       XDROP_SLOT_CHUNK, NULL);
	assert_true(tmpl >= 0 && inner >= 0);
	oo.inner_map_fd = tmpl;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "xdrop_counters", 4, 4,
			       XDROP_MAX_SLOT_CHUNKS, &oo);
	assert_true(outer >= 0);
	for (uint32_t s = 0; s < nslots; s++) {
		v[0] = (struct old_slot){.match = 100 + s, .drop = s};
		assert_int_equal(bpf_map_update_elem(inner, &s, v, BPF_ANY), 0);
	}
	assert_int_equal(bpf_map_update_elem(outer, &zero, &inner, BPF_ANY), 0);
	snprintf(path, sizeof(path), "%s/xdrop_counters", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(bpf_obj_pin(outer, path), 0);
	close(tmpl);
	close(inner);
	close(outer);
	free(v);
}

static void adopt_old_slot_counters(void **state)
{
	char dir[256];
	struct dataplane *dp;
	struct rule_spec spec[2];
	struct xdrop_slot_counters sc;
	uint32_t slot[2];
	struct pkt_desc d = {.src = "192.0.2.1", .dst = "198.51.100.1", .proto = 17, .payload = 5};
	size_t len;

	(void)state;
	/* each run its own pin directory */
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/xdrop-test-counters-%d", (int)getpid());
	dataplane_unpin_dir(dir);
	dp = open_pinned(dir);
	assert_int_equal(testdp_load(dp, rules), 0);
	assert_int_equal(testdp_spec(rules[0], &spec[0]), 0);
	assert_int_equal(testdp_spec(rules[3], &spec[1]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(dataplane_entry_slot(dp, &spec[i], &slot[i]), 0);
	dataplane_close(dp);

	pin_old_counters(dir, 8);
	dp = open_pinned(dir);
	assert_true(dataplane_adopted(dp));
	for (int i = 0; i < 2; i++) {
		uint32_t s;

		assert_int_equal(dataplane_entry_slot(dp, &spec[i], &s), 0);
		assert_int_equal(s, slot[i]);
		assert_int_equal(dataplane_entry_counters(dp, &spec[i], &sc), 0);
		assert_int_equal(sc.match, 100 + slot[i]);
		assert_int_equal(sc.drop, slot[i]);
		assert_int_equal(sc.match_bytes, 0);
	}
	/* the program counts into the carried-over chunk */
	len = send_n(dp, &d, NULL, 0, 2, D);
	assert_int_equal(dataplane_entry_counters(dp, &spec[0], &sc), 0);
	assert_int_equal(sc.match, 102 + slot[0]);
	assert_int_equal(sc.drop, 2 + slot[0]);
	assert_int_equal(sc.drop_bytes, 2 * len);
	dataplane_close(dp);

	/* and the re-pinned map is adopted as is the next time */
	dp = open_pinned(dir);
	assert_int_equal(dataplane_entry_counters(dp, &spec[0], &sc), 0);
	assert_int_equal(sc.match, 102 + slot[0]);
	assert_int_equal(sc.drop_bytes, 2 * len);
	assert_int_equal(dataplane_unpin(dp), 0);
	dataplane_close(dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bytes_per_verdict_and_reason),
	    cmocka_unit_test(sample_every_packet),
	    cmocka_unit_test(sample_one_in_n),
	    cmocka_unit_test(adopt_old_slot_counters),
	};

	return cmocka_run_group_tests_name("bpf_counters", tests, NULL, NULL);
}
