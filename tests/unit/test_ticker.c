// SPDX-License-Identifier: MIT
/*
 * test_ticker: lib/clock and lib/ticker. Monotonic and wall time move forward and agree
 * with clock_gettime; a wait on a clock_cond_init() condition returns -ETIMEDOUT once its
 * deadline passed and 0 when signalled; a ticker calls its function repeatedly, calls it
 * at start only when asked, runs a kicked call long before its period, stops at once even
 * with an hour-long period, and makes no call after ticker_stop() returned; bad options
 * are refused. Waits are on conditions with generous deadlines, never on fixed sleeps.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "ticker.h"

#define HOUR_MS	 (3600 * 1000)
#define PATIENCE 20000 /* ms a condition may take on a loaded machine */

static _Atomic int calls;

static void count(void *arg)
{
	(void)arg;
	calls++;
}

/* waits until calls >= n or PATIENCE ms passed; returns whether it got there */
static int wait_calls(int n)
{
	int64_t end = clock_mono_ms() + PATIENCE;

	while (calls < n && clock_mono_ms() < end)
		usleep(1000);
	return calls >= n;
}

static void test_clocks(void **state)
{
	struct timespec ts;
	int64_t m0 = clock_mono_ms(), w0 = clock_wall_ms(), n0 = clock_mono_ns();

	(void)state;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* the wall clock reads the epoch (within a minute of clock_gettime's own reading) */
	assert_true(w0 > 1600000000000ll);
	assert_true(w0 / 1000 - ts.tv_sec < 60 && ts.tv_sec - w0 / 1000 < 60);
	assert_true(clock_wall_ns() / 1000000 >= w0);
	assert_true(clock_mono_ns() >= n0);
	assert_true(clock_mono_ms() >= m0);
	ts = clock_mono_ts(12345);
	assert_int_equal(ts.tv_sec, 12);
	assert_int_equal(ts.tv_nsec, 345000000);
}

static void test_cond_deadline(void **state)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c;
	int64_t t0;

	(void)state;
	assert_int_equal(clock_cond_init(&c), 0);
	pthread_mutex_lock(&m);
	/* a deadline already past: at once */
	assert_int_equal(clock_cond_wait_until(&c, &m, clock_mono_ms() - 1), -ETIMEDOUT);
	/* a short deadline: it times out, and not before the deadline */
	t0 = clock_mono_ms();
	while (clock_cond_wait_until(&c, &m, t0 + 50) == 0)
		; /* spurious wake-ups */
	assert_true(clock_mono_ms() >= t0 + 50);
	pthread_mutex_unlock(&m);
	pthread_cond_destroy(&c);
}

static void *signal_later(void *arg)
{
	pthread_cond_t *c = arg;

	usleep(10000);
	pthread_cond_signal(c);
	return NULL;
}

static void test_cond_signal(void **state)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c;
	pthread_t th;
	int rc;

	(void)state;
	assert_int_equal(clock_cond_init(&c), 0);
	pthread_mutex_lock(&m);
	assert_int_equal(pthread_create(&th, NULL, signal_later, &c), 0);
	/* an hour-long deadline: only the signal can end this wait */
	rc = clock_cond_wait_until(&c, &m, clock_mono_ms() + HOUR_MS);
	pthread_mutex_unlock(&m);
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	pthread_cond_destroy(&c);
}

static void test_ticks_repeat(void **state)
{
	struct ticker_opts o = {.sz = sizeof(o), .name = "t-repeat", .period_ms = 5, .fn = count};
	struct ticker *t;

	(void)state;
	calls = 0;
	assert_int_equal(ticker_start(&t, &o), 0);
	assert_true(wait_calls(5));
	ticker_stop(t);
}

static void test_first_now_and_kick(void **state)
{
	struct ticker_opts o = {.sz = sizeof(o), .period_ms = HOUR_MS, .fn = count};
	struct ticker *t;

	(void)state;
	/* first_now: the first call comes at start, not an hour later */
	calls = 0;
	o.first_now = true;
	assert_int_equal(ticker_start(&t, &o), 0);
	assert_true(wait_calls(1));
	/* a kick: one more call now */
	ticker_kick(t);
	assert_true(wait_calls(2));
	ticker_stop(t);
	assert_int_equal(calls, 2);

	/* without first_now nothing is called at start: stop joins a thread that is still
	 * waiting out its hour, and no call was made */
	calls = 0;
	o.first_now = false;
	assert_int_equal(ticker_start(&t, &o), 0);
	ticker_stop(t);
	assert_int_equal(calls, 0);
}

static _Atomic int in_call, after_stop;
static _Atomic bool stopped;

static void slow(void *arg)
{
	(void)arg;
	in_call = 1;
	if (stopped)
		after_stop = 1;
	usleep(20000);
	calls++;
}

static void test_no_call_after_stop(void **state)
{
	struct ticker_opts o = {.sz = sizeof(o), .period_ms = 1, .fn = slow, .first_now = true};
	struct ticker *t;
	int n;

	(void)state;
	calls = 0;
	assert_int_equal(ticker_start(&t, &o), 0);
	/* stop while a call is (very likely) in progress: ticker_stop waits for it */
	while (!in_call)
		usleep(100);
	ticker_stop(t);
	stopped = true;
	n = calls;
	usleep(50000);
	assert_int_equal(calls, n);
	assert_int_equal(after_stop, 0);
}

static void test_bad_options(void **state)
{
	struct ticker_opts o = {.sz = sizeof(o), .period_ms = 10};
	struct ticker *t = (struct ticker *)&o;

	(void)state;
	assert_int_equal(ticker_start(&t, &o), -EINVAL); /* no fn */
	assert_null(t);
	o.fn = count;
	o.period_ms = 0;
	assert_int_equal(ticker_start(&t, &o), -EINVAL); /* no period */
	o.period_ms = 10;
	o.sz = 1;
	assert_int_equal(ticker_start(&t, &o), -EINVAL); /* an older, shorter struct */
	assert_int_equal(ticker_start(&t, NULL), -EINVAL);
	ticker_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clocks),
	    cmocka_unit_test(test_cond_deadline),
	    cmocka_unit_test(test_cond_signal),
	    cmocka_unit_test(test_ticks_repeat),
	    cmocka_unit_test(test_first_now_and_kick),
	    cmocka_unit_test(test_no_call_after_stop),
	    cmocka_unit_test(test_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
