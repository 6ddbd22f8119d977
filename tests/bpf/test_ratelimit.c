// SPDX-License-Identifier: MIT
/*
 * test_ratelimit: the token bucket is shared correctly by every CPU. One sender thread per
 * CPU pushes a rate-limited flow through the real program (BPF_PROG_TEST_RUN, real clock)
 * far above the limit; the packets admitted over the run must be burst + rate x seconds
 * within 10%, whether one CPU or all of them send. A racy bucket over-admits with more
 * CPUs; a bucket that drops fractional tokens under-admits.
 * On a loaded machine the senders are sometimes off their CPUs; while nobody sends, the
 * bucket fills up to its burst and no further, so the expectation is computed from the
 * send times the senders observed: every pause longer than burst / rate costs the tokens
 * beyond the burst (rate x pause - burst).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "clock.h"
#include "log.h"
#include "testdp.h"

#define RATE	40000u
#define BURST	2000u
#define SECONDS 2.0

#define MAX_SENDS (1 << 24) /* send times kept per sender */

struct sender {
	int fd, cpu;
	const uint8_t *frame;
	int len;
	volatile int *stop;
	long runs;
	int64_t *at; /* clock_mono_ns() before each send */
	size_t n, cap;
};

static double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static void note_send(struct sender *s)
{
	if (s->n == s->cap && s->cap < MAX_SENDS) {
		size_t cap = s->cap ? 2 * s->cap : 65536;
		int64_t *at = realloc(s->at, cap * sizeof(*at));

		if (at) {
			s->at = at;
			s->cap = cap;
		}
	}
	if (s->n < s->cap)
		s->at[s->n++] = clock_mono_ns();
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The tokens the bucket could not hold while no sender sent (every CPU's send times
 * merged, from t0 in ns): sum over pauses of max(0, rate x pause - burst). *last is set
 * to the last send time (tokens that came after it were never asked for). */
static double tokens_lost(struct sender *s, int ncpu, int64_t t0, int64_t *last)
{
	size_t total = 0, k = 0;
	int64_t *all, prev = t0;
	double lost = 0, full_ns = 1e9 * BURST / RATE;

	for (int i = 0; i < ncpu; i++)
		total += s[i].n;
	all = malloc((total + 1) * sizeof(*all));
	assert_non_null(all);
	for (int i = 0; i < ncpu; i++) {
		memcpy(all + k, s[i].at, s[i].n * sizeof(*all));
		k += s[i].n;
	}
	assert_true(k > 0);
	qsort(all, k, sizeof(*all), cmp_i64);
	for (size_t i = 0; i < k; i++) {
		if ((double)(all[i] - prev) > full_ns)
			lost += (double)(all[i] - prev) / 1e9 * RATE - BURST;
		prev = all[i];
	}
	*last = prev;
	free(all);
	return lost;
}

static void *send_loop(void *arg)
{
	struct sender *s = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!*s->stop) {
		/* repeat 1: BPF_PROG_TEST_RUN with repeat > 1 pays an RCU grace period per
		 * call (the XDP dispatcher is switched), which would starve the flow */
		note_send(s);
		if (pkt_run(s->fd, s->frame, (size_t)s->len) >= 0)
			s->runs++;
	}
	return NULL;
}

static void run(int ncpu)
{
	struct pkt_desc d = {
	    .src = "192.0.2.1", .dst = "198.51.100.99", .proto = 17, .sport = 1, .dport = 53};
	char line[128];
	const char *lines[] = {line, NULL};
	struct dataplane *dp = testdp_open(false, false);
	struct sender s[64];
	pthread_t th[64];
	uint8_t frame[PKT_MAX];
	volatile int stop = 0;
	uint64_t c[XDROP_NCOUNTERS];
	struct xdrop_slot_counters sc;
	struct rule_spec spec;
	double t0, t1, expected, admitted, lost;
	int64_t last;
	long offered = 0;
	int len;

	snprintf(line, sizeof(line),
		 "dst_ip=198.51.100.99 protocol=udp action=rate_limit rate_limit=%u burst=%u", RATE,
		 BURST);
	len = pkt_build(&d, frame);
	assert_true(len > 0);
	assert_int_equal(testdp_load(dp, lines), 0);
	t0 = now_s(); /* the bucket is full from here */
	for (int i = 0; i < ncpu; i++) {
		s[i] = (struct sender){.fd = dataplane_prog_fd(dp),
				       .cpu = i,
				       .frame = frame,
				       .len = len,
				       .stop = &stop};
		assert_int_equal(pthread_create(&th[i], NULL, send_loop, &s[i]), 0);
	}
	usleep((useconds_t)(SECONDS * 1e6));
	stop = 1;
	for (int i = 0; i < ncpu; i++) {
		pthread_join(th[i], NULL);
		offered += s[i].runs;
	}
	t1 = now_s();
	assert_int_equal(testdp_spec(line, &spec), 0);
	assert_int_equal(dataplane_entry_counters(dp, &spec, &sc), 0);
	assert_int_equal(dataplane_counters(dp, c), 0);
	admitted = (double)(sc.match - sc.drop);
	lost = tokens_lost(s, ncpu, (int64_t)(t0 * 1e9), &last);
	expected = BURST + RATE * ((double)last / 1e9 - t0) - lost;
	printf("# %d CPU(s): offered %ld packets (%.0f pps), admitted %.0f, expected %.0f "
	       "(%+.2f%%; %.0f tokens lost in pauses of every sender), rate_limited counter "
	       "%llu\n",
	       ncpu, offered, (double)offered / (t1 - t0), admitted, expected,
	       100.0 * (admitted - expected) / expected, lost,
	       (unsigned long long)c[XDROP_CNT_RATE_LIMITED]);
	for (int i = 0; i < ncpu; i++)
		free(s[i].at);
	assert_int_equal(sc.match, (uint64_t)offered);
	assert_int_equal(sc.drop, c[XDROP_CNT_RATE_LIMITED]);
	/* the offered load must exceed the limit for the test to mean anything */
	assert_true((double)offered > 3 * expected);
	assert_true(admitted >= 0.9 * expected && admitted <= 1.1 * expected);
	dataplane_close(dp);
}

static void one_cpu(void **state)
{
	(void)state;
	run(1);
}

static void every_cpu(void **state)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	run(n > 64 ? 64 : (int)n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(one_cpu),
	    cmocka_unit_test(every_cpu),
	};

	return cmocka_run_group_tests_name("bpf_ratelimit", tests, NULL, NULL);
}
