// SPDX-License-Identifier: MIT
/*
 * test_periodic: the controller's periodic work keeps its pace when the wall clock steps
 * back, without touching the machine's clock.
 *
 * The binary is linked with -Wl,--wrap=clock_gettime, so every clock read of the code
 * under test (lib/clock, lib/ticker) goes through __wrap_clock_gettime below, which
 * reports CLOCK_REALTIME an hour ahead of the kernel's. For the code under test that is a
 * wall clock stepped back by an hour right after it was read: a thread that waits until a
 * CLOCK_REALTIME deadline computed from that reading sleeps for an hour (what the
 * heartbeat, the expiry sweep and the stats sampler did before they moved onto lib/ticker);
 * on CLOCK_MONOTONIC they keep their period. Each case waits (with a deadline on the
 * monotonic clock) for several rounds of the work: heartbeats sent, a rule that expires
 * after start deleted by a later sweep, history points of the stats sampler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/tmpdir.h"
#include "clock.h"
#include "log.h"
#include "nodes.h"
#include "publish.h"
#include "rules.h"
#include "stats.h"
#include "store.h"

#define WALL_AHEAD_S 3600 /* what the wall clock "steps back" by */
#define PERIOD_MS    50
#define WAIT_MS	     10000 /* generous: the machine may be loaded */

int __real_clock_gettime(clockid_t id, struct timespec *ts);

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = __real_clock_gettime(id, ts);

	if (rc == 0 && id == CLOCK_REALTIME)
		ts->tv_sec += WALL_AHEAD_S;
	return rc;
}

static char dir[64];

/* Polls cond(arg) every 10 ms until it holds or WAIT_MS pass; returns whether it held. */
static bool wait_for(bool (*cond)(void *arg), void *arg)
{
	int64_t until = clock_mono_ms() + WAIT_MS;

	while (!cond(arg)) {
		if (clock_mono_ms() > until)
			return false;
		usleep(10000);
	}
	return true;
}

static struct store *open_store(const char *name)
{
	struct store_opts o = {.sz = sizeof(o)};
	struct store *s = NULL;
	char path[128];

	snprintf(path, sizeof(path), "%s/%s.db", dir, name);
	o.path = path;
	assert_int_equal(store_open(&s, &o), 0);
	return s;
}

static bool five_heartbeats(void *arg)
{
	return publish_sent(arg) >= 5;
}

static void test_heartbeats_on_the_monotonic_clock(void **state)
{
	struct store *s = open_store("heartbeat");
	struct publish *p = NULL;
	char url[128];

	snprintf(url, sizeof(url), "ipc://%s/pub", dir);
	assert_int_equal(publish_open(&p, s, url, NULL, PERIOD_MS), 0);
	assert_true(wait_for(five_heartbeats, p));
	publish_close(p);
	store_close(s);
}

static bool no_rules(void *arg)
{
	struct store_rev rev;

	store_revision(arg, &rev);
	return rev.rules == 0;
}

static void test_expiry_on_the_monotonic_clock(void **state)
{
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT, *rp = &r;
	struct store *s = open_store("expiry");
	struct sweeper *sw = NULL;
	struct store_error e = {0};
	char id[XDROP_UUID_LEN];
	struct store_rev rev;
	uint64_t at = 0;
	size_t idx;

	assert_int_equal(rules_sweeper_start(&sw, s, PERIOD_MS), 0);
	store_uuid(id);
	r.id = id;
	r.name = "expires";
	r.dst_ip = "10.9.9.9";
	r.action = "drop";
	r.enabled = true;
	r.created_at = r.updated_at = clock_wall_ns();
	/* due 200 ms from now: only a sweep after that, not the first, can delete it */
	r.expires_at = r.created_at + 200 * 1000000LL;
	assert_int_equal(store_rules_add(s, &rp, 1, "rule", &at, &idx, &e), 0);
	store_revision(s, &rev);
	assert_int_equal(rev.rules, 1);
	assert_true(wait_for(no_rules, s)); /* a later sweep deleted it */
	rules_sweeper_stop(sw);
	store_close(s);
}

static bool three_samples(void *arg)
{
	Xdrop__V1__HistoryPoint *v = NULL;
	size_t n = 0;

	if (stats_history(arg, "", 0, 0, &v, &n) < 0)
		return false;
	stats_free_points(v, n);
	return n >= 3;
}

static void test_stats_sampler_on_the_monotonic_clock(void **state)
{
	struct store *s = open_store("stats");
	struct nodes_opts no = {.sz = sizeof(no)};
	struct nodes *nodes = NULL;
	struct stats *st = NULL;

	no.store = s;
	assert_int_equal(nodes_open(&nodes, &no), 0);
	assert_int_equal(stats_open(&st, nodes, 60), 0);
	assert_true(wait_for(three_samples, st)); /* one a second */
	stats_close(st);
	nodes_close(nodes);
	store_close(s);
}

static int setup(void **state)
{
	log_set_level(LOG_LEVEL_WARN);
	return tmpdir_make(dir, sizeof(dir), "xdrop-periodic");
}

static int teardown(void **state)
{
	return tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_heartbeats_on_the_monotonic_clock),
	    cmocka_unit_test(test_expiry_on_the_monotonic_clock),
	    cmocka_unit_test(test_stats_sampler_on_the_monotonic_clock),
	};

	return cmocka_run_group_tests_name("periodic", tests, setup, teardown);
}
