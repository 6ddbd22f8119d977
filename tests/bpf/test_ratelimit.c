// SPDX-License-Identifier: MIT
/*
 * test_ratelimit: the token bucket is shared correctly by every CPU. One sender thread per
 * CPU pushes a rate-limited flow through the real program (BPF_PROG_TEST_RUN, real clock)
 * far above the limit; the packets admitted over the run must be burst + rate x seconds
 * within 10%, whether one CPU or all of them send. A racy bucket over-admits with more
 * CPUs; a bucket that drops fractional tokens under-admits.
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

#include "log.h"
#include "testdp.h"

#define RATE	40000u
#define BURST	2000u
#define SECONDS 2.0

struct sender {
	int fd, cpu;
	const uint8_t *frame;
	int len;
	volatile int *stop;
	long runs;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	uint64_t match, drop, c[XDROP_NCOUNTERS];
	struct rule_spec spec;
	double t0, t1, expected, admitted;
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
	assert_int_equal(dataplane_entry_counters(dp, &spec, &match, &drop), 0);
	assert_int_equal(dataplane_counters(dp, c), 0);
	admitted = (double)(match - drop);
	expected = BURST + RATE * (t1 - t0);
	printf("# %d CPU(s): offered %ld packets (%.0f pps), admitted %.0f, expected %.0f "
	       "(%+.2f%%), rate_limited counter %llu\n",
	       ncpu, offered, (double)offered / (t1 - t0), admitted, expected,
	       100.0 * (admitted - expected) / expected,
	       (unsigned long long)c[XDROP_CNT_RATE_LIMITED]);
	assert_int_equal(match, (uint64_t)offered);
	assert_int_equal(drop, c[XDROP_CNT_RATE_LIMITED]);
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
