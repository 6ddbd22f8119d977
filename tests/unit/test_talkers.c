// SPDX-License-Identifier: MIT
/*
 * test_talkers: the agent's top-talker engine (agent/talkers.c) fed synthetic samples with
 * the time passed in: keys and their text for IPv4, IPv6, prefixes and ports; non-IP
 * samples in the totals only; verdicts apart; windows, spans and expiry; the merge of
 * buckets with the error of a key absent from a full one; Space-Saving eviction; shares
 * and rates; accuracy on a known mix with and without sampling; memory fixed whatever the
 * number of distinct keys; concurrent readers; the ring consumer on a real BPF ring buffer
 * (written by a tiny program through BPF_PROG_TEST_RUN). The RPC handler and the config
 * keys are in test_talkers_rpc.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cmocka.h>

#include "addr.h"
#include "clock.h"
#include "talkers.h"

#define BASE	 600000 /* ms: a multiple of every bucket width, so spans are round */
#define PATIENCE 20000	/* ms a condition may take on a loaded machine */

static struct xdrop_sample mk(const char *src, const char *dst, uint8_t proto, uint16_t dport,
			      int verdict, uint32_t len, uint32_t every)
{
	struct xdrop_sample s = {.proto = proto,
				 .dport = htons(dport),
				 .sport = htons(dport ? 40000 : 0),
				 .verdict = (uint8_t)verdict,
				 .len = len,
				 .every = every};
	const char *why;

	if (src)
		assert_int_equal(addr_parse(src, &s.src, &why), 0);
	if (dst)
		assert_int_equal(addr_parse(dst, &s.dst, &why), 0);
	return s;
}

static struct talkers *engine(uint32_t capacity)
{
	struct talkers_opts o = {
	    .sz = sizeof(o), .capacity = capacity, .sample_every = 1, .start_ms = BASE};
	struct talkers *t;

	assert_int_equal(talkers_start(&t, &o), 0);
	return t;
}

static struct talkers_result *query(struct talkers *t, enum talkers_by by, int verdict,
				    uint32_t window_s, int64_t now)
{
	static struct talkers_result r;
	struct talkers_query q = {.by = by,
				  .verdict = (enum talkers_verdict)verdict,
				  .window_s = window_s,
				  .limit = TALKERS_MAX_LIMIT,
				  .now_ms = now};

	assert_int_equal(talkers_query(t, &q, &r), 0);
	return &r;
}

static const struct talker *find(const struct talkers_result *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->talkers[i].key, key))
			return &r->talkers[i];
	}
	return NULL;
}

static void add_n(struct talkers *t, const struct xdrop_sample *s, int n, int64_t at)
{
	for (int i = 0; i < n; i++)
		talkers_add(t, s, at);
}

static uint64_t rng(void);
static uint64_t rng_state;

/* ---- keys and their text ---- */

static void test_keys_v4_v6_prefix_port(void **state)
{
	struct talkers *t = engine(0);
	struct xdrop_sample a = mk("192.0.2.7", "198.51.100.1", IPPROTO_TCP, 443, 1, 100, 1);
	struct xdrop_sample b = mk("192.0.2.9", "198.51.100.1", IPPROTO_UDP, 53, 1, 60, 1);
	struct xdrop_sample c = mk("2001:db8:1::5", "2001:db8:2::1", IPPROTO_UDP, 53, 1, 200, 1);
	struct xdrop_sample d =
	    mk("2001:db8:1:0:ffff::1", "2001:db8:2::1", IPPROTO_ICMPV6, 0, 1, 80, 1);
	static const struct {
		enum talkers_by by;
		const char *key;
		uint64_t packets, bytes;
	} want[] = {
	    {TALKERS_SRC, "192.0.2.7", 4, 400},
	    {TALKERS_SRC, "192.0.2.9", 1, 60},
	    {TALKERS_SRC, "2001:db8:1::5", 2, 400},
	    {TALKERS_SRC, "2001:db8:1:0:ffff::1", 3, 240},
	    {TALKERS_SRC_PREFIX, "192.0.2.0/24", 5, 460},
	    {TALKERS_SRC_PREFIX, "2001:db8:1::/64", 5, 640},
	    {TALKERS_DST, "198.51.100.1", 5, 460},
	    {TALKERS_DST, "2001:db8:2::1", 5, 640},
	    {TALKERS_DST_PORT, "443", 4, 400},
	    {TALKERS_DST_PORT, "53", 3, 460},
	};
	size_t nkeys[TALKERS_NBY] = {4, 2, 2, 2};

	(void)state;
	add_n(t, &a, 4, BASE + 100);
	add_n(t, &b, 1, BASE + 200);
	add_n(t, &c, 2, BASE + 300);
	add_n(t, &d, 3, BASE + 400); /* ICMPv6: no port, so not in dst_port */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct talkers_result *r = query(t, want[i].by, TALKERS_DROPPED, 10, BASE + 500);
		const struct talker *k = find(r, want[i].key);

		assert_non_null(k);
		assert_int_equal(k->packets, want[i].packets);
		assert_int_equal(k->bytes, want[i].bytes);
		assert_int_equal(k->error_packets, 0);
		assert_int_equal(r->n, nkeys[want[i].by]);
		assert_int_equal(r->total_packets, 10); /* every packet, port or not */
		assert_int_equal(r->total_bytes, 400 + 60 + 400 + 240);
		assert_int_equal(r->samples, 10);
	}
	/* heaviest first, equal counts in key order */
	assert_string_equal(query(t, TALKERS_SRC, TALKERS_DROPPED, 10, BASE + 500)->talkers[0].key,
			    "192.0.2.7");
	assert_string_equal(
	    query(t, TALKERS_SRC_PREFIX, TALKERS_DROPPED, 10, BASE + 500)->talkers[0].key,
	    "192.0.2.0/24");
	talkers_stop(t);
}

static void test_non_ip_in_totals_only(void **state)
{
	struct talkers *t = engine(0);
	struct xdrop_sample arp = mk(NULL, NULL, 0, 0, 0, 42, 8);
	struct xdrop_sample ip = mk("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 7, 0, 100, 8);

	(void)state;
	add_n(t, &arp, 3, BASE + 10);
	add_n(t, &ip, 1, BASE + 20);
	for (int by = 0; by < TALKERS_NBY; by++) {
		struct talkers_result *r = query(t, by, TALKERS_PASSED, 10, BASE + 1000);

		assert_int_equal(r->n, 1);
		assert_int_equal(r->total_packets, 4 * 8);
		assert_int_equal(r->total_bytes, 3 * 42 * 8 + 100 * 8);
		assert_int_equal(r->samples, 4);
		assert_int_equal(r->talkers[0].packets, 8);
		assert_true(fabs(r->talkers[0].share - 0.25) < 1e-9);
	}
	talkers_stop(t);
}

static void test_verdicts_apart(void **state)
{
	struct talkers *t = engine(0);
	struct xdrop_sample p = mk("10.0.0.1", "10.0.0.9", IPPROTO_TCP, 80, 0, 100, 4);
	struct xdrop_sample d = mk("10.0.0.2", "10.0.0.9", IPPROTO_TCP, 80, 1, 100, 4);
	struct talkers_result *r;

	(void)state;
	add_n(t, &p, 5, BASE + 10);
	add_n(t, &d, 2, BASE + 10);
	r = query(t, TALKERS_SRC, TALKERS_PASSED, 10, BASE + 1000);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->talkers[0].key, "10.0.0.1");
	assert_int_equal(r->total_packets, 20);
	r = query(t, TALKERS_SRC, TALKERS_DROPPED, 10, BASE + 1000);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->talkers[0].key, "10.0.0.2");
	assert_int_equal(r->total_packets, 8);
	talkers_stop(t);
}

/* ---- windows ---- */

static void test_windows_span_and_expiry(void **state)
{
	struct talkers *t = engine(0);
	struct xdrop_sample s = mk("10.0.0.1", "10.0.0.9", IPPROTO_UDP, 53, 1, 100, 2);
	static const struct {
		int64_t at;	   /* ms after BASE */
		uint32_t window_s; /* queried */
		double span_s;	   /* expected */
		uint64_t packets;  /* expected total */
	} cases[] = {
	    /* counting began at BASE: no span reaches before it */
	    {5500, 10, 5.5, 2},
	    {5500, 60, 5.5, 2},
	    {5500, 300, 5.5, 2},
	    /* the 10 s window: the current 1 s bucket and the 9 before it */
	    {9999, 10, 9.999, 2},
	    {10500, 10, 9.5, 0},
	    {10500, 60, 10.5, 2},
	    /* 60 s: the current 10 s bucket and the 5 before it */
	    {59999, 60, 59.999, 2},
	    {60000, 60, 50.0, 0},
	    {100500, 60, 50.5, 0},
	    {100500, 300, 100.5, 2},
	    /* 300 s: the current minute and the 4 before it */
	    {299999, 300, 299.999, 2},
	    {300000, 300, 240.0, 0},
	};

	(void)state;
	talkers_add(t, &s, BASE + 10);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct talkers_result *r =
		    query(t, TALKERS_SRC, TALKERS_DROPPED, cases[i].window_s, BASE + cases[i].at);

		assert_true(fabs(r->span_s - cases[i].span_s) < 1e-9);
		assert_int_equal(r->total_packets, cases[i].packets);
		assert_int_equal(r->n, cases[i].packets ? 1 : 0);
	}
	/* a new sample reuses the expired buckets: only it is counted */
	talkers_add(t, &s, BASE + 400000);
	assert_int_equal(query(t, TALKERS_SRC, TALKERS_DROPPED, 300, BASE + 400000)->total_packets,
			 2);
	talkers_stop(t);
}

static void test_merge_across_buckets(void **state)
{
	struct talkers *t = engine(TALKERS_MIN_CAPACITY);
	struct xdrop_sample x = mk("10.0.0.1", "10.0.0.9", IPPROTO_UDP, 53, 1, 100, 1);
	struct talkers_result *r;
	const struct talker *k;
	char ip[32];

	(void)state;
	/* second 0: x alone, 10 packets; 1: x again, 3; 2: 16 others of 5 each (full, floor 5) */
	add_n(t, &x, 10, BASE + 100);
	add_n(t, &x, 3, BASE + 1100);
	for (int i = 0; i < TALKERS_MIN_CAPACITY; i++) {
		struct xdrop_sample y;

		snprintf(ip, sizeof(ip), "10.1.0.%d", i + 1);
		y = mk(ip, "10.0.0.9", IPPROTO_UDP, 53, 1, 100, 1);
		add_n(t, &y, 5, BASE + 2100);
	}
	r = query(t, TALKERS_SRC, TALKERS_DROPPED, 10, BASE + 2500);
	assert_int_equal(r->total_packets, 13 + 16 * 5);
	/* x: 13 counted, plus up to 5 it may have had in the full bucket */
	k = find(r, "10.0.0.1");
	assert_non_null(k);
	assert_int_equal(k->packets, 13 + 5);
	assert_int_equal(k->error_packets, 5);
	assert_int_equal(k->bytes, 1300);
	assert_string_equal(r->talkers[0].key, "10.0.0.1");
	/* the others: absent from buckets that were not full, so exact */
	k = find(r, "10.1.0.16");
	assert_non_null(k);
	assert_int_equal(k->packets, 5);
	assert_int_equal(k->error_packets, 0);
	assert_int_equal(r->n, 17);
	/* the 60 s level holds all of it in one bucket, which the others filled: x was
	 * counted before it was full and stays exact there */
	r = query(t, TALKERS_SRC, TALKERS_DROPPED, 60, BASE + 2500);
	assert_int_equal(r->total_packets, 13 + 16 * 5);
	assert_int_equal(r->n, TALKERS_MIN_CAPACITY);
	talkers_stop(t);
}

static void test_space_saving_eviction(void **state)
{
	struct talkers *t = engine(TALKERS_MIN_CAPACITY);
	struct xdrop_sample z = mk("10.9.9.9", "10.0.0.9", IPPROTO_UDP, 53, 0, 10, 1);
	struct talkers_result *r;
	const struct talker *k;
	char ip[32];

	(void)state;
	for (int i = 0; i < TALKERS_MIN_CAPACITY; i++) {
		struct xdrop_sample y;

		snprintf(ip, sizeof(ip), "10.1.0.%d", i + 1);
		y = mk(ip, "10.0.0.9", IPPROTO_UDP, 53, 0, 10, 1);
		add_n(t, &y, 2 + i, BASE + 100); /* 10.1.0.1 is the smallest, with 2 */
	}
	add_n(t, &z, 1, BASE + 200);
	r = query(t, TALKERS_SRC, TALKERS_PASSED, 10, BASE + 300);
	assert_int_equal(r->n, TALKERS_MIN_CAPACITY);
	assert_null(find(r, "10.1.0.1")); /* evicted */
	k = find(r, "10.9.9.9");
	assert_non_null(k);
	assert_int_equal(k->packets, 3); /* inherited 2, its own 1 */
	assert_int_equal(k->error_packets, 2);
	assert_true(k->packets - k->error_packets <= 1);
	talkers_stop(t);
}

/* Space-Saving's invariants under heavy eviction (64 keys through 16 counters): the
 * counters sum to the packets seen, no key is held twice, every estimate bounds the truth
 * from above and estimate - error from below, and every key above N/16 is held. */
static void test_space_saving_invariants(void **state)
{
	struct talkers *t = engine(TALKERS_MIN_CAPACITY);
	uint64_t truth[64] = {0}, sum = 0, n = 20000;
	struct talkers_result *r;
	char ip[32];

	(void)state;
	rng_state = 7;
	for (uint64_t i = 0; i < n; i++) {
		/* skewed: key k drawn with weight ~ 1/(k+1) */
		uint32_t k = (uint32_t)(rng() % 64), j = (uint32_t)(rng() % 64);
		struct xdrop_sample s;

		k = k < j ? k : j;
		k = (uint32_t)(rng() % 2) ? k : (uint32_t)(rng() % (k + 1));
		truth[k]++;
		snprintf(ip, sizeof(ip), "10.2.0.%u", k);
		s = mk(ip, "10.0.0.9", IPPROTO_UDP, 53, 1, 10, 1);
		talkers_add(t, &s, BASE + 100);
	}
	r = query(t, TALKERS_SRC, TALKERS_DROPPED, 10, BASE + 500);
	assert_int_equal(r->n, TALKERS_MIN_CAPACITY); /* no key twice */
	for (size_t i = 0; i < r->n; i++) {
		unsigned k;

		assert_int_equal(sscanf(r->talkers[i].key, "10.2.0.%u", &k), 1);
		assert_true(r->talkers[i].packets >= truth[k]);
		assert_true(r->talkers[i].packets - r->talkers[i].error_packets <= truth[k]);
		sum += r->talkers[i].packets;
	}
	assert_int_equal(sum, n);
	for (unsigned k = 0; k < 64; k++) {
		snprintf(ip, sizeof(ip), "10.2.0.%u", k);
		if (truth[k] > n / TALKERS_MIN_CAPACITY)
			assert_non_null(find(r, ip));
	}
	talkers_stop(t);
}

static void test_share_and_rates(void **state)
{
	struct talkers *t = engine(0);
	struct xdrop_sample a = mk("10.0.0.1", "10.0.0.9", IPPROTO_TCP, 80, 1, 1000, 16);
	struct xdrop_sample b = mk("10.0.0.2", "10.0.0.9", IPPROTO_TCP, 80, 1, 500, 16);
	struct talkers_result *r;

	(void)state;
	/* 30 samples of a and 10 of b spread over the first 4 s; queried at 8 s */
	for (int i = 0; i < 30; i++)
		talkers_add(t, &a, BASE + i * 100);
	for (int i = 0; i < 10; i++)
		talkers_add(t, &b, BASE + 3000 + i * 100);
	r = query(t, TALKERS_SRC, TALKERS_DROPPED, 10, BASE + 8000);
	assert_true(fabs(r->span_s - 8.0) < 1e-9);
	assert_int_equal(r->total_packets, 40 * 16);
	assert_int_equal(r->total_bytes, (30 * 1000 + 10 * 500) * 16);
	assert_int_equal(r->samples, 40);
	assert_string_equal(r->talkers[0].key, "10.0.0.1");
	assert_int_equal(r->talkers[0].packets, 480);
	assert_true(fabs(r->talkers[0].share - 0.75) < 1e-9);
	assert_true(fabs(r->talkers[0].pps - 480 / 8.0) < 1e-9);
	assert_true(fabs(r->talkers[0].bps - 480 * 1000 * 8 / 8.0) < 1e-6);
	assert_true(fabs(r->talkers[1].share - 0.25) < 1e-9);
	assert_true(fabs(r->talkers[1].bps - 160 * 500 * 8 / 8.0) < 1e-6);
	talkers_stop(t);
}

static void test_query_validation(void **state)
{
	struct talkers *t = engine(0);
	struct talkers_result r;
	static const struct talkers_query bad[] = {
	    {.window_s = 30, .limit = 10},
	    {.window_s = 0, .limit = 10},
	    {.window_s = 10, .limit = 0},
	    {.window_s = 10, .limit = TALKERS_MAX_LIMIT + 1},
	    {.by = TALKERS_NBY, .window_s = 10, .limit = 10},
	    {.verdict = TALKERS_NVERDICT, .window_s = 10, .limit = 10},
	};
	struct talkers_opts o = {.sz = sizeof(o), .capacity = TALKERS_MIN_CAPACITY - 1};
	struct talkers *u;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(talkers_query(t, &bad[i], &r), -EINVAL);
	assert_int_equal(talkers_start(&u, &o), -EINVAL);
	o.capacity = TALKERS_MAX_CAPACITY + 1;
	assert_int_equal(talkers_start(&u, &o), -EINVAL);
	talkers_stop(t);
	talkers_stop(NULL);
}

static void test_limit(void **state)
{
	struct talkers *t = engine(0);
	char ip[32];
	struct talkers_query q = {.by = TALKERS_SRC,
				  .verdict = TALKERS_DROPPED,
				  .window_s = 10,
				  .limit = 3,
				  .now_ms = BASE + 500};
	struct talkers_result r;

	(void)state;
	for (int i = 0; i < 20; i++) {
		struct xdrop_sample s;

		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		s = mk(ip, "10.0.0.200", IPPROTO_UDP, 9, 1, 64, 1);
		add_n(t, &s, i + 1, BASE + 100);
	}
	assert_int_equal(talkers_query(t, &q, &r), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.talkers[0].key, "10.0.0.20");
	assert_string_equal(r.talkers[1].key, "10.0.0.19");
	assert_string_equal(r.talkers[2].key, "10.0.0.18");
	talkers_stop(t);
}

/* ---- accuracy on a known mix ---- */

static uint64_t rng(void) /* splitmix64: fast, and good enough to draw a traffic mix */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define HEAVY	     8
#define TAIL_SOURCES 100000

/* 5 heavy sources at 30/20/10/5/2 %, 3 at 1.2 % and the remaining 29.4 % spread uniformly
 * over 100,000 random sources; heavy source i is 198.18.i.1, alone in its /24. */
static const double heavy_share[HEAVY] = {0.30, 0.20, 0.10, 0.05, 0.02, 0.012, 0.012, 0.012};

/* Draws a packet's source: a heavy index (< HEAVY) or HEAVY + a tail index. */
static uint32_t draw_source(void)
{
	double u = (double)(rng() >> 11) / 9007199254740992.0, c = 0;

	for (int i = 0; i < HEAVY; i++) {
		c += heavy_share[i];
		if (u < c)
			return (uint32_t)i;
	}
	return HEAVY + (uint32_t)(rng() % TAIL_SOURCES);
}

static void source_addr(uint32_t src, struct xdrop_addr *a)
{
	uint32_t v4;

	if (src < HEAVY)
		v4 = (198u << 24) | (18u << 16) | (src << 8) | 1;
	else /* random addresses in 100.64.0.0/10, a fixed one per tail index */
		v4 = (100u << 24) | (64u << 16) |
		     (uint32_t)(((src - HEAVY) * 2654435761u) & 0x3fffff);
	memset(a, 0, sizeof(*a));
	a->b[10] = a->b[11] = 0xff;
	v4 = htonl(v4);
	memcpy(a->b + 12, &v4, 4);
}

/*
 * Feeds `samples` samples of the mix over 10 s (a packet is sampled with probability
 * 1/every, as the program's random countdown does), then checks, for every window, that
 * the 8 sources above 1 % are exactly the top 8 by src and by src_prefix and that each
 * share is within 10 % of the true share of the packets sent.
 *
 * Sampling error: with n samples the estimated share of a source of share p has a relative
 * standard deviation of sqrt((1 - p) / (n p)); for the smallest, p = 0.012, and n = 400,000
 * that is sqrt(0.988 / 4800) = 1.43 %, so 10 % is 7 sigma (a chance of about 3e-12 per
 * source to fail). Space-Saving adds nothing for these: with 512 counters a source above
 * 1 % enters each bucket long before the summary is full and is never evicted (its count
 * grows 20 times faster than the floor), so its error is 0; the test checks that too.
 */
static void accuracy(uint32_t every, uint64_t seed)
{
	const uint64_t samples = 400000, packets = samples * every;
	struct talkers *t = engine(TALKERS_DEF_CAPACITY);
	uint64_t sent[HEAVY] = {0}, fed = 0;
	static const uint32_t windows[] = {10, 60, 300};
	struct xdrop_sample s = mk(NULL, "203.0.113.1", IPPROTO_UDP, 80, 1, 100, every);

	rng_state = seed;
	for (uint64_t i = 0; i < packets; i++) {
		uint32_t src = draw_source();

		if (src < HEAVY)
			sent[src]++;
		if (every > 1 && rng() % every)
			continue;
		source_addr(src, &s.src);
		talkers_add(t, &s, BASE + (int64_t)(i * 10000 / packets));
		fed++;
	}
	for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
		for (enum talkers_by by = TALKERS_SRC; by <= TALKERS_SRC_PREFIX; by++) {
			struct talkers_result *r =
			    query(t, by, TALKERS_DROPPED, windows[w], BASE + 9999);

			assert_int_equal(r->samples, fed);
			assert_int_equal(r->total_packets, fed * every);
			assert_true(r->n >= HEAVY);
			for (int i = 0; i < HEAVY; i++) {
				char key[TALKERS_KEY_STRLEN];
				double truth = (double)sent[i] / (double)packets, err;
				const struct talker *k;

				snprintf(key, sizeof(key),
					 by == TALKERS_SRC ? "198.18.%d.1" : "198.18.%d.0/24", i);
				k = find(r, key);
				assert_non_null(k);
				assert_true(k - r->talkers < HEAVY); /* among the top 8 */
				err = fabs(k->share - truth) / truth;
				print_message("# every %u window %us %s %s: share %.4f, true "
					      "%.4f, error %.2f %%\n",
					      every, windows[w], talkers_by_name(by), key, k->share,
					      truth, 100 * err);
				assert_true(err < 0.10);
				assert_int_equal(k->error_packets, 0);
			}
		}
	}
	talkers_stop(t);
}

static void test_accuracy_unsampled(void **state)
{
	(void)state;
	accuracy(1, 13);
}

static void test_accuracy_sampled_1_in_16(void **state)
{
	(void)state;
	accuracy(16, 1313);
}

/* ---- memory ---- */

static void test_memory_bound(void **state)
{
	struct talkers *t = engine(TALKERS_DEF_CAPACITY);
	const size_t cap = TALKERS_DEF_CAPACITY, hsize = 1024; /* 2 x 512, a power of two */
	const size_t summaries = TALKERS_BUCKETS * TALKERS_NBY * TALKERS_NVERDICT;
	const size_t arrays = summaries * (cap * (48 + 4) + hsize * 4);
	size_t bytes0, bytes, keys, max_keys = 0;
	struct xdrop_sample s = mk(NULL, NULL, IPPROTO_UDP, 0, 0, 64, 1);

	(void)state;
	talkers_memory(t, &bytes0, &keys);
	assert_int_equal(keys, 0);
	assert_true(bytes0 >= arrays && bytes0 < arrays + 64 * 1024);
	print_message("# memory at capacity %zu: %zu bytes (%.2f MiB), at most %zu keys\n", cap,
		      bytes0, bytes0 / 1048576.0, summaries * cap);
	/* 1,000,000 distinct sources (and destinations and ports) over 400 s, both verdicts */
	for (uint32_t i = 0; i < 1000000; i++) {
		uint32_t v4 = htonl(0x0a000000u + i),
			 d = htonl(0xac100000u + (i * 7919u) % 999983u);

		s.src.b[10] = s.src.b[11] = s.dst.b[10] = s.dst.b[11] = 0xff;
		memcpy(s.src.b + 12, &v4, 4);
		memcpy(s.dst.b + 12, &d, 4);
		s.dport = htons((uint16_t)(1 + i % 65535));
		s.verdict = (uint8_t)(i & 1);
		talkers_add(t, &s, BASE + (int64_t)i * 400 / 1000);
		if (i % 100000 == 99999) {
			talkers_memory(t, &bytes, &keys);
			assert_int_equal(bytes, bytes0);
			assert_true(keys <= summaries * cap);
			if (keys > max_keys)
				max_keys = keys;
		}
	}
	print_message("# after 1,000,000 distinct sources: %zu keys held at most\n", max_keys);
	/* every dimension and verdict of the buckets in use is full */
	assert_true(max_keys >= 2 * TALKERS_NBY * TALKERS_NVERDICT * cap);
	talkers_stop(t);
}

/* ---- threads ---- */

struct reader {
	struct talkers *t;
	atomic_bool stop;
	_Atomic int queries;
};

static void *read_loop(void *arg)
{
	struct reader *rd = arg;
	struct talkers_result *r = malloc(sizeof(*r));
	struct talkers_query q = {
	    .by = TALKERS_SRC, .verdict = TALKERS_DROPPED, .window_s = 60, .limit = 100};

	while (!atomic_load(&rd->stop) || rd->queries < 10) {
		q.now_ms = BASE + 30000;
		assert_int_equal(talkers_query(rd->t, &q, r), 0);
		assert_true(r->n <= 100);
		rd->queries++;
	}
	free(r);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct reader rd = {.t = engine(64)};
	pthread_t th[2];
	char ip[32];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, read_loop, &rd), 0);
	for (int i = 0; i < 200000; i++) {
		struct xdrop_sample s;

		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i % 7, (i / 7) % 250, i % 250);
		s = mk(ip, "10.0.0.1", IPPROTO_TCP, 443, 1, 100, 1);
		talkers_add(rd.t, &s, BASE + i / 10);
	}
	atomic_store(&rd.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(rd.queries >= 10);
	talkers_stop(rd.t);
}

/* ---- the ring consumer on a real BPF ring buffer ---- */

/* An XDP program that copies the first 48 bytes of its packet into the ring buffer
 * map_fd (bpf_ringbuf_output with BPF_RB_NO_WAKEUP, as the program batches its wake-ups),
 * so that a test can write samples as the kernel does. */
static int ring_writer(int map_fd)
{
	struct bpf_insn p[32] = {
	    /* r2 = data, r3 = data_end, r4 = data + 48 */
	    {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 2, .src_reg = 1, .off = 0},
	    {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 3, .src_reg = 1, .off = 4},
	    {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 4, .src_reg = 2},
	    {.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 4, .imm = 48},
	    {.code = BPF_JMP | BPF_JGT | BPF_X, .dst_reg = 4, .src_reg = 3, .off = 19},
	};
	size_t n = 5;

	/* helpers take no packet pointers: the 48 bytes go to the stack first */
	for (short i = 0; i < 6; i++) {
		p[n++] = (struct bpf_insn){
		    .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 5, .src_reg = 2, .off = 8 * i};
		p[n++] = (struct bpf_insn){.code = BPF_STX | BPF_MEM | BPF_DW,
					   .dst_reg = 10,
					   .src_reg = 5,
					   .off = (short)(-48 + 8 * i)};
	}
	/* bpf_ringbuf_output(map, fp - 48, 48, BPF_RB_NO_WAKEUP); return XDP_PASS */
	p[n++] =
	    (struct bpf_insn){.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10};
	p[n++] = (struct bpf_insn){.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -48};
	p[n++] = (struct bpf_insn){.code = BPF_LD | BPF_DW | BPF_IMM,
				   .dst_reg = 1,
				   .src_reg = BPF_PSEUDO_MAP_FD,
				   .imm = map_fd};
	p[n++] = (struct bpf_insn){0};
	p[n++] = (struct bpf_insn){.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = 48};
	p[n++] = (struct bpf_insn){
	    .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 4, .imm = BPF_RB_NO_WAKEUP};
	p[n++] = (struct bpf_insn){.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_ringbuf_output};
	p[n++] =
	    (struct bpf_insn){.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = XDP_PASS};
	p[n++] = (struct bpf_insn){.code = BPF_JMP | BPF_EXIT};
	static char log[4096];
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "talkers_test", "GPL", p, n, &o);

	if (fd < 0)
		print_message("# the verifier said: %s\n", log);
	return fd;
}

static void write_samples(int prog, struct xdrop_sample *s, int n)
{
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = s, .data_size_in = sizeof(*s),
			    .repeat = 1);

		assert_int_equal(bpf_prog_test_run_opts(prog, &run), 0);
		assert_int_equal(run.retval, XDP_PASS);
	}
}

static bool wait_samples(struct talkers *t, uint64_t n)
{
	int64_t end = clock_mono_ms() + PATIENCE;
	uint64_t got, bad;

	for (;;) {
		talkers_counts(t, &got, &bad);
		if (got >= n || clock_mono_ms() > end)
			return got == n;
		usleep(1000);
	}
}

static void test_ring_consumer(void **state)
{
	struct talkers_opts o = {.sz = sizeof(o), .sample_every = 4};
	int map = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "talkers_test", 0, 0, 64 * 1024, NULL);
	struct xdrop_sample s = mk("192.0.2.1", "192.0.2.200", IPPROTO_UDP, 53, 1, 90, 4);
	struct talkers_query q = {
	    .by = TALKERS_DST_PORT, .verdict = TALKERS_DROPPED, .window_s = 10, .limit = 10};
	struct talkers_result r;
	struct talkers *t;
	int64_t t0;
	int prog;

	(void)state;
	assert_true(map >= 0);
	prog = ring_writer(map);
	assert_true(prog >= 0);
	assert_int_equal(talkers_start(&t, &o), 0);
	assert_int_equal(talkers_attach_ring(t, map), 0);
	assert_int_equal(talkers_attach_ring(t, map), -EBUSY);
	/* two batches: the second finds the consumer idle in its poll, with no wake-up coming
	 * (BPF_RB_NO_WAKEUP), so only consuming on the poll's timeout counts it */
	write_samples(prog, &s, 10);
	assert_true(wait_samples(t, 10));
	write_samples(prog, &s, 15);
	assert_true(wait_samples(t, 25));
	q.now_ms = clock_mono_ms();
	assert_int_equal(talkers_query(t, &q, &r), 0);
	assert_int_equal(r.sample_rate, 4);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.talkers[0].key, "53");
	assert_int_equal(r.talkers[0].packets, 100);
	assert_int_equal(r.total_bytes, 25 * 90 * 4);
	/* stop wakes the consumer within its poll timeout: far less than a second */
	t0 = clock_mono_ms();
	talkers_stop(t);
	assert_true(clock_mono_ms() - t0 < 1000);
	close(prog);
	close(map);
}

static void test_ring_refuses_other_fds(void **state)
{
	struct talkers *t = engine(0);
	int arr = bpf_map_create(BPF_MAP_TYPE_ARRAY, "talkers_arr", 4, 4, 1, NULL);

	(void)state;
	assert_true(arr >= 0);
	assert_true(talkers_attach_ring(t, arr) < 0);
	assert_true(talkers_attach_ring(t, -1) < 0);
	talkers_stop(t);
	close(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_v4_v6_prefix_port),
	    cmocka_unit_test(test_non_ip_in_totals_only),
	    cmocka_unit_test(test_verdicts_apart),
	    cmocka_unit_test(test_windows_span_and_expiry),
	    cmocka_unit_test(test_merge_across_buckets),
	    cmocka_unit_test(test_space_saving_eviction),
	    cmocka_unit_test(test_space_saving_invariants),
	    cmocka_unit_test(test_share_and_rates),
	    cmocka_unit_test(test_query_validation),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_accuracy_unsampled),
	    cmocka_unit_test(test_accuracy_sampled_1_in_16),
	    cmocka_unit_test(test_memory_bound),
	    cmocka_unit_test(test_concurrent_readers),
	    cmocka_unit_test(test_ring_consumer),
	    cmocka_unit_test(test_ring_refuses_other_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
