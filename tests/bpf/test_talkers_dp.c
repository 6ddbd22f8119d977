// SPDX-License-Identifier: MIT
/*
 * test_talkers_dp: top talkers measured in the kernel, end to end below the agent. The
 * real XDP program (BPF_PROG_TEST_RUN) samples packets at the default rate, 1 in 64, into
 * its ring buffer; the engine (agent/talkers.c) consumes them through talkers_attach_ring,
 * as the agent does. On a known mix (5 sources at 30/20/10/5/2 %, 3 at 1.2 %, the rest
 * spread over 560 sources; a drop rule on the 20 % one) every source above 1 % of its
 * verdict's traffic is listed, by address and by /24, with its share within 10 % of the
 * truth; the dropped traffic is that one source alone; nothing is lost from the ring.
 *
 * Each BPF_PROG_TEST_RUN call costs about 20 ms here (an RCU grace period), so a source's
 * packets are one call with `repeat` (the program samples inside it as on the wire) and the
 * tail has hundreds of sources, not 100,000 (tests/unit/test_talkers.c has those); 64
 * counters per summary instead of 512 keep the summaries evicting all the same.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "talkers.h"
#include "testdp.h"

#define HEAVY	     8
#define TAIL_SOURCES 560
#define ROUNDS	     20
#define PER_ROUND    1000000 /* packets */
#define TAIL_RUN     10500   /* packets per tail source: 560 x 10,500 = 29.4 % of 20M */
#define CAPACITY     64	     /* counters per summary: far fewer than the sources */
#define PATIENCE     20000   /* ms the consumer may take to catch up on a loaded machine */

static const double heavy_share[HEAVY] = {0.30, 0.20, 0.10, 0.05, 0.02, 0.012, 0.012, 0.012};
static const char *const rules[] = {"src_ip=198.18.1.1 action=drop", NULL};

static void run(struct dataplane *dp, const char *src, uint32_t repeat, int want)
{
	struct pkt_desc d = {.src = src,
			     .dst = "203.0.113.1",
			     .proto = 17,
			     .sport = 999,
			     .dport = 53,
			     .payload = 18};
	uint8_t buf[PKT_MAX];
	int len = pkt_build(&d, buf);

	assert_true(len > 0);
	assert_int_equal(pkt_run_repeat(dataplane_prog_fd(dp), buf, (size_t)len, repeat, NULL),
			 want);
}

/* Waits until the engine has taken every sample the program wrote. */
static void catch_up(struct dataplane *dp, struct talkers *t)
{
	uint64_t c[XDROP_NCOUNTERS], got, bad;
	int64_t end = clock_mono_ms() + PATIENCE;

	assert_int_equal(dataplane_counters(dp, c), 0);
	do {
		talkers_counts(t, &got, &bad);
		if (got >= c[XDROP_CNT_SAMPLES])
			break;
		usleep(2000);
	} while (clock_mono_ms() < end);
	assert_int_equal(got, c[XDROP_CNT_SAMPLES]);
	assert_int_equal(bad, 0);
	assert_int_equal(c[XDROP_CNT_SAMPLES_LOST], 0);
}

/*
 * 20,000,000 packets at 1 in 64 are about 312,500 samples, 250,000 of them passed. The
 * relative standard deviation of a share p estimated from n samples is at most
 * sqrt((1 - p) / (n p)) (the program's countdown spreads samples more evenly than coin
 * flips, which only lowers it): for the smallest, 1.2 % of all traffic and 1.5 % of the
 * passed, sqrt(0.985 / (0.015 x 250,000)) = 1.6 %, so 10 % is 6 sigma.
 */
static void kernel_samples_known_mix(void **state)
{
	struct dataplane *dp = testdp_open(false, false);
	struct talkers_opts o = {
	    .sz = sizeof(o), .capacity = CAPACITY, .sample_every = XDROP_DEF_SAMPLE_EVERY};
	uint64_t sent[HEAVY] = {0}, total = 0;
	struct talkers_query q = {.window_s = 300, .limit = 20}; /* a slow run stays inside */
	struct talkers_result r;
	struct talkers *t;
	char ip[64];

	(void)state;
	assert_int_equal(testdp_load(dp, rules), 0);
	assert_int_equal(dataplane_set_sample_every(dp, XDROP_DEF_SAMPLE_EVERY), 0);
	assert_int_equal(talkers_start(&t, &o), 0);
	assert_int_equal(talkers_attach_ring(t, dataplane_samples_fd(dp)), 0);
	for (int k = 0; k < ROUNDS; k++) {
		for (int i = 0; i < HEAVY; i++) {
			uint32_t n = (uint32_t)lround(heavy_share[i] * PER_ROUND);

			snprintf(ip, sizeof(ip), "198.18.%d.1", i);
			run(dp, ip, n, i == 1 ? XDP_DROP : XDP_PASS);
			sent[i] += n;
			total += n;
		}
		for (uint32_t j = 0; j < TAIL_SOURCES / ROUNDS; j++) {
			uint32_t v = (uint32_t)(k * (TAIL_SOURCES / ROUNDS) + j) * 2654435761u;

			snprintf(ip, sizeof(ip), "100.%u.%u.%u", 64 + (v >> 16 & 63), v >> 8 & 255,
				 v & 255);
			run(dp, ip, TAIL_RUN, XDP_PASS);
			total += TAIL_RUN;
		}
		catch_up(dp, t);
	}
	q.now_ms = clock_mono_ms();
	/* dropped: the one source the rule names, all of it */
	q.verdict = TALKERS_DROPPED;
	q.by = TALKERS_SRC;
	assert_int_equal(talkers_query(t, &q, &r), 0);
	print_message("# dropped: %" PRIu64 " samples for %" PRIu64
		      " packets sent, estimated %" PRIu64 "\n",
		      r.samples, sent[1], r.total_packets);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.talkers[0].key, "198.18.1.1");
	assert_true(fabs((double)r.total_packets - (double)sent[1]) < 0.02 * (double)sent[1]);
	/* passed: the other seven, by address and by /24 */
	q.verdict = TALKERS_PASSED;
	for (enum talkers_by by = TALKERS_SRC; by <= TALKERS_SRC_PREFIX; by++) {
		q.by = by;
		assert_int_equal(talkers_query(t, &q, &r), 0);
		for (int i = 0; i < HEAVY; i++) {
			double truth = (double)sent[i] / (double)(total - sent[1]), err;
			const struct talker *k = NULL;

			if (i == 1)
				continue;
			snprintf(ip, sizeof(ip),
				 by == TALKERS_SRC ? "198.18.%d.1" : "198.18.%d.0/24", i);
			for (size_t m = 0; m < HEAVY - 1 && m < r.n; m++)
				k = strcmp(r.talkers[m].key, ip) ? k : &r.talkers[m];
			assert_non_null(k); /* among the top 7 */
			err = fabs(k->share - truth) / truth;
			print_message("# passed %s %s: share %.4f, true %.4f, error %.2f %%\n",
				      talkers_by_name(by), ip, k->share, truth, 100 * err);
			assert_true(err < 0.10);
		}
	}
	talkers_stop(t);
	dataplane_close(dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kernel_samples_known_mix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
