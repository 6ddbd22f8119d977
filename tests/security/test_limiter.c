// SPDX-License-Identifier: MIT
/*
 * test_limiter: lib/limiter (the failed-credential table of issue 11, item 6): sources
 * (IPv4, IPv4-mapped, IPv6 by /64), the limit and its window, no flushing by rotation, the
 * overflow bucket, and a table that never grows. Part of tests/security/test_guessing.sh's
 * topic; the daemons' use of it is tested there.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "limiter.h"

static struct limiter_src src(const char *text)
{
	struct limiter_src s;

	assert_int_equal(limiter_src_from_text(text, &s), 0);
	return s;
}

static bool blocked(struct limiter *l, const char *text)
{
	struct limiter_src s = src(text);
	unsigned retry = 0;
	int rc = limiter_check(l, &s, &retry);

	if (rc == -EAGAIN)
		assert_true(retry >= 1);
	return rc == -EAGAIN;
}

static void fail_n(struct limiter *l, const char *text, unsigned n)
{
	struct limiter_src s = src(text);

	for (unsigned i = 0; i < n; i++)
		limiter_fail(l, &s);
}

static void test_sources(void **state)
{
	static const struct {
		const char *a, *b;
		bool same;
	} cases[] = {
	    {"192.0.2.1", "192.0.2.1", true},
	    {"192.0.2.1", "192.0.2.2", false},
	    {"192.0.2.1", "::ffff:192.0.2.1", true}, /* a dual-stack socket's IPv4 client */
	    {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true}, /* one /64 */
	    {"2001:db8:1:2::1", "2001:db8:1:3::1", false},
	};
	struct limiter_src s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct limiter_src a = src(cases[i].a), b = src(cases[i].b);

		assert_int_equal(memcmp(&a, &b, sizeof(a)) == 0, cases[i].same);
	}
	assert_int_equal(limiter_src_from_text("not-an-address", &s), -EINVAL);
	assert_int_equal(limiter_src_from_text("", &s), -EINVAL);
}

static void test_limit_per_source(void **state)
{
	struct limiter *l = NULL;

	assert_int_equal(limiter_open(&l, 16, 3, 60), 0);
	fail_n(l, "192.0.2.1", 2);
	assert_false(blocked(l, "192.0.2.1"));
	fail_n(l, "192.0.2.1", 1);
	assert_true(blocked(l, "192.0.2.1"));
	assert_false(blocked(l, "192.0.2.2"));
	/* every address of one /64 shares the counter */
	fail_n(l, "2001:db8::1", 1);
	fail_n(l, "2001:db8::2", 1);
	fail_n(l, "2001:db8::ffff:3", 1);
	assert_true(blocked(l, "2001:db8::4"));
	assert_false(blocked(l, "2001:db8:0:1::4"));
	limiter_close(l);
	assert_int_equal(limiter_open(&l, 0, 3, 60), -EINVAL);
	assert_int_equal(limiter_open(&l, 4, 0, 60), -EINVAL);
	limiter_close(NULL);
}

static void test_rotation_neither_flushes_nor_grows(void **state)
{
	struct limiter *l = NULL;
	unsigned let_through = 0;
	bool overflow = false;
	char a[32];

	assert_int_equal(limiter_open(&l, 8, 3, 60), 0);
	fail_n(l, "198.51.100.1", 3);
	assert_true(blocked(l, "198.51.100.1"));
	/* 1000 more addresses, 5 guesses each: a guess gets through while not blocked */
	for (int i = 0; i < 1000; i++) {
		snprintf(a, sizeof(a), "10.%d.%d.1", i / 250, i % 250);
		for (int k = 0; k < 5; k++) {
			if (blocked(l, a))
				continue;
			let_through++;
			fail_n(l, a, 1);
		}
	}
	assert_true(let_through <= (8 + 1) * 3);
	assert_true(blocked(l, "198.51.100.1")); /* the first counter was not evicted */
	assert_int_equal(limiter_used(l, &overflow), 8);
	assert_true(overflow);
	assert_true(blocked(l, "203.0.113.77")); /* a newcomer shares the closed bucket */
	limiter_close(l);
}

static void test_window_closes(void **state)
{
	struct limiter *l = NULL;
	struct timespec until, now;
	bool overflow;

	assert_int_equal(limiter_open(&l, 1, 2, 1), 0);
	fail_n(l, "192.0.2.9", 2);
	fail_n(l, "192.0.2.10", 2); /* the table is full: the overflow bucket */
	assert_true(blocked(l, "192.0.2.9"));
	assert_true(blocked(l, "192.0.2.11"));
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 5;
	do { /* the window is 1 s: wait for it to close, with a deadline */
		struct timespec ms = {0, 50 * 1000000};

		nanosleep(&ms, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((blocked(l, "192.0.2.9") || blocked(l, "192.0.2.11")) &&
		 now.tv_sec < until.tv_sec);
	assert_false(blocked(l, "192.0.2.9"));
	assert_false(blocked(l, "192.0.2.11"));
	assert_int_equal(limiter_used(l, &overflow), 0); /* the slot is free again */
	assert_false(overflow);
	limiter_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_limit_per_source),
	    cmocka_unit_test(test_rotation_neither_flushes_nor_grows),
	    cmocka_unit_test(test_window_closes),
	};

	return cmocka_run_group_tests_name("limiter", tests, NULL, NULL);
}
