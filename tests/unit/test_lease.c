// SPDX-License-Identifier: MIT
/*
 * test_lease: the leading controller's count of the voters in contact (controller/lease.h)
 * on a clock of the test's: a majority counting itself, a cut, a prober late for want of
 * CPU, members added and removed, this node no longer a voter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "lease.h"

#define L 450 /* the lease, ms */

/* Members: ids 1..n voters (n <= 8), roles from r when given ('v', 's' standby, 'p' spare). */
static size_t members(struct dq_node_info *m, size_t n, const char *r)
{
	for (size_t i = 0; i < n; i++) {
		m[i] = (struct dq_node_info){.id = i + 1};
		snprintf(m[i].address, sizeof(m[i].address), "192.0.2.%zu:9001", i + 1);
		m[i].role = !r || r[i] == 'v' ? XDROP_DQ_VOTER
			    : r[i] == 's'     ? XDROP_DQ_STANDBY
					      : XDROP_DQ_SPARE;
	}
	return n;
}

/* Node 1 of n voters, leading from t = 1000. */
static void lead(struct lease *l, size_t n)
{
	struct dq_node_info m[8];

	lease_init(l, 1, L);
	assert_int_equal(lease_members(l, m, members(m, n, NULL), 0), 0);
	lease_lead(l, true, 1000);
}

/* Not leading: the lease never stands in the way; leading alone: holds. */
static void test_follower_and_single(void **state)
{
	struct lease l;

	(void)state;
	lease_init(&l, 1, L);
	assert_true(lease_holds(&l, 1000000));
	lead(&l, 1);
	lease_answer(&l, 2, 1000, false); /* not a voter: ignored */
	assert_true(lease_holds(&l, 1000000));
}

/* Three voters: one peer answering keeps it, both silent for L lapses it (not sooner). */
static void test_three_cut(void **state)
{
	struct lease l;

	(void)state;
	lead(&l, 3);
	assert_true(lease_holds(&l, 1000));
	lease_answer(&l, 2, 1100, true);
	lease_answer(&l, 3, 1100, false); /* one down: self and 2 are a majority */
	assert_true(lease_holds(&l, 1100 + L + 1000));
	lease_answer(&l, 2, 1200, false);
	assert_true(lease_holds(&l, 1100 + L - 1));
	assert_false(lease_holds(&l, 1100 + L));
	lease_answer(&l, 2, 1700, true); /* the link back */
	assert_true(lease_holds(&l, 1700));
}

/* A voter not asked since its contact (the prober late) is not counted as silent; an
 * answer to a question older than the contact changes nothing. */
static void test_late_prober(void **state)
{
	struct lease l;

	(void)state;
	lead(&l, 3);
	lease_answer(&l, 2, 1100, true);
	lease_answer(&l, 3, 1100, true);
	assert_true(lease_holds(&l, 1100 + 5000));
	lease_answer(&l, 2, 1300, true);
	lease_answer(&l, 2, 1200, false); /* asked before the contact */
	lease_answer(&l, 3, 1400, false);
	assert_true(lease_holds(&l, 1300 + L + 100));
}

/* Becoming leader again counts every voter in contact from then. */
static void test_lead_again(void **state)
{
	struct lease l;

	(void)state;
	lead(&l, 3);
	lease_answer(&l, 2, 1100, false);
	lease_answer(&l, 3, 1100, false);
	assert_false(lease_holds(&l, 1000 + L));
	lease_lead(&l, false, 2000);
	assert_true(lease_holds(&l, 2000));
	lease_lead(&l, true, 3000);
	assert_true(lease_holds(&l, 3000 + L + 100));
	lease_answer(&l, 2, 3100, false);
	lease_answer(&l, 3, 3100, false);
	assert_false(lease_holds(&l, 3000 + L));
}

/* Members change: known voters keep their contact, a new one counts from the change,
 * standbys and spares are not counted, and the majority follows the count. */
static void test_members_change(void **state)
{
	struct dq_node_info m[8];
	struct lease l;

	(void)state;
	lead(&l, 3);
	lease_answer(&l, 2, 1100, false);
	lease_answer(&l, 3, 1100, true);
	/* five voters at 1200: 4 and 5 new; 3 silent too from 1300 */
	assert_int_equal(lease_members(&l, m, members(m, 5, NULL), 1200), 0);
	lease_answer(&l, 3, 1300, false);
	assert_true(lease_holds(&l, 1100 + L)); /* 4 and 5 not asked yet */
	lease_answer(&l, 4, 1300, true);
	lease_answer(&l, 5, 1300, false);
	assert_false(lease_holds(&l, 1300 + L)); /* self and 4: 2 of 5 */
	lease_answer(&l, 5, 1400, true);
	assert_true(lease_holds(&l, 1300 + L)); /* self, 4 and 5: 3 of 5 */
	/* 4 and 5 become a standby and a spare: self, 2 and 3 (silent since 1100) */
	assert_int_equal(lease_members(&l, m, members(m, 5, "vvvsp"), 1500), 0);
	assert_true(lease_holds(&l, 1100 + L - 1));
	assert_false(lease_holds(&l, 1100 + L));
	lease_answer(&l, 4, 1600, true); /* no longer a voter: no effect */
	assert_false(lease_holds(&l, 1600));
	/* 2 a spare: self and 3, both needed */
	assert_int_equal(lease_members(&l, m, members(m, 3, "vpv"), 1700), 0);
	assert_false(lease_holds(&l, 1700));
	lease_answer(&l, 3, 1800, true);
	assert_true(lease_holds(&l, 1800));
	lease_answer(&l, 3, 1900, false);
	assert_false(lease_holds(&l, 1800 + L));
}

/* This node not a voter (being removed): it needs a majority of the others. */
static void test_self_not_voter(void **state)
{
	struct dq_node_info m[8];
	struct lease l;

	(void)state;
	lead(&l, 3);
	assert_int_equal(lease_members(&l, m, members(m, 3, "svv"), 1000), 0);
	lease_answer(&l, 2, 1100, true);
	lease_answer(&l, 3, 1100, false); /* 3 silent since 1000: 1 of the 2 others after L */
	assert_true(lease_holds(&l, 1000 + L - 1));
	assert_false(lease_holds(&l, 1000 + L));
	lease_answer(&l, 3, 1500, true);
	assert_true(lease_holds(&l, 1500));
}

/* Too many voters: refused, the former list kept. */
static void test_too_many(void **state)
{
	struct dq_node_info m[XDROP_LEASE_MAX_VOTERS + 2] = {0};
	struct lease l;

	(void)state;
	lead(&l, 3);
	for (size_t i = 0; i < XDROP_LEASE_MAX_VOTERS + 2; i++)
		m[i].id = i + 1;
	assert_int_equal(lease_members(&l, m, XDROP_LEASE_MAX_VOTERS + 2, 1000), -E2BIG);
	assert_int_equal(l.n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_follower_and_single),
	    cmocka_unit_test(test_three_cut),
	    cmocka_unit_test(test_late_prober),
	    cmocka_unit_test(test_lead_again),
	    cmocka_unit_test(test_members_change),
	    cmocka_unit_test(test_self_not_voter),
	    cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
