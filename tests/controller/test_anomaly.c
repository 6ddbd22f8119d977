// SPDX-License-Identifier: MIT
/*
 * test_anomaly: anomaly rules in the controller's RuleService (tests/controller/harness.c):
 * v2.7's merge on Create with merge_anomaly (bits ORed into the existing anomaly rule of
 * the same match and action, one revision, the same id, the reply's merged flag); what
 * does not merge (no flag, another action, a rule without anomaly, a batch) is
 * ALREADY_EXISTS as before; 8 clients merging the two bits into one match at once all
 * succeed and leave bits 3; any action and IPv6 targets are accepted.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define RULES (&xdrop__v1__rule_service__descriptor)

static struct ctl c;

/* Creates r (merge: with merge_anomaly); returns the reply (free it) or NULL. */
static Xdrop__V1__RuleWriteReply *create(struct rpc_client *cl, Xdrop__V1__Rule *r, bool merge,
					 enum rpc_code want, struct rpc_status *st)
{
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;

	req.rule = r;
	req.merge_anomaly = merge;
	assert_int_equal(ctl_call(cl, RULES, "Create", &req, &rep, st), want);
	return rep;
}

static Xdrop__V1__Rule *get(const char *id)
{
	Xdrop__V1__GetRuleRequest g = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__Rule *got = NULL;

	g.id = (char *)id;
	assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, &got, NULL), RPC_OK);
	return got;
}

static void test_merge(void **state)
{
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *first, *second;
	Xdrop__V1__Rule *got;
	struct store_rev before, after;
	struct rpc_status st;

	(void)state;
	r.dst_ip = "10.99.0.3";
	r.action = "drop";
	r.name = "frag";
	r.match_anomaly = 1;
	r.enabled = true;
	first = create(c.admin, &r, true, RPC_OK, NULL);
	assert_false(first->merged);
	assert_int_equal(first->rule->match_anomaly, 1);

	/* the other bit on the same match and action: ORed into the same rule, one revision */
	store_revision(c.store, &before);
	r.match_anomaly = 2;
	r.name = "ignored: the existing rule's other fields stay";
	second = create(c.admin, &r, true, RPC_OK, NULL);
	store_revision(c.store, &after);
	assert_true(second->merged);
	assert_string_equal(second->rule->id, first->rule->id);
	assert_string_equal(second->rule->name, "frag");
	assert_int_equal(second->rule->match_anomaly, 3);
	assert_int_equal(second->rule->created_at, first->rule->created_at);
	assert_true(second->rule->updated_at >= first->rule->updated_at);
	assert_int_equal(second->sync->revision, before.revision + 1);
	assert_int_equal(after.rules, before.rules);
	got = get(first->rule->id);
	assert_int_equal(got->match_anomaly, 3);
	xdrop__v1__rule__free_unpacked(got, NULL);
	xdrop__v1__rule_write_reply__free_unpacked(second, NULL);

	/* the same bit again merges too (nothing new, no error) */
	r.match_anomaly = 1;
	second = create(c.admin, &r, true, RPC_OK, NULL);
	assert_true(second->merged);
	assert_int_equal(second->rule->match_anomaly, 3);
	xdrop__v1__rule_write_reply__free_unpacked(second, NULL);

	/* no merge: without the flag, with another action */
	create(c.admin, &r, false, RPC_ALREADY_EXISTS, &st);
	assert_non_null(strstr(st.message, first->rule->id));
	r.action = "pass";
	create(c.admin, &r, true, RPC_ALREADY_EXISTS, &st);
	assert_non_null(strstr(st.message, first->rule->id));
	xdrop__v1__rule_write_reply__free_unpacked(first, NULL);
}

/* Anomaly and plain rules on one match conflict both ways; a batch never merges. */
static void test_no_merge_with_plain_rules(void **state)
{
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT, *items[2] = {&r, &r};
	Xdrop__V1__BatchCreateRulesRequest bc = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *rep;
	struct rpc_status st;

	(void)state;
	r.dst_cidr = "10.98.0.0/24";
	r.protocol = "udp";
	r.action = "drop";
	r.enabled = true;
	rep = create(c.admin, &r, true, RPC_OK, NULL); /* a plain rule */
	assert_false(rep->merged);
	r.match_anomaly = 2;
	create(c.admin, &r, true, RPC_ALREADY_EXISTS, &st);
	assert_non_null(strstr(st.message, rep->rule->id));
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);

	r.dst_cidr = "10.97.0.0/24";
	rep = create(c.admin, &r, true, RPC_OK, NULL); /* an anomaly rule */
	r.match_anomaly = 0;
	create(c.admin, &r, true, RPC_ALREADY_EXISTS, &st);
	r.match_anomaly = 1;
	bc.rules = items;
	bc.n_rules = 1;
	bc.atomic = true;
	assert_int_equal(ctl_call(c.admin, RULES, "BatchCreate", &bc, NULL, &st),
			 RPC_ALREADY_EXISTS);
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
}

/* Every action and IPv6 targets (XDrop detects IPv6 fragment anomalies; v2.7 refuses). */
static void test_actions_and_ipv6(void **state)
{
	static const char *const targets[] = {"2001:db8::7", "10.96.0.7", "10.96.0.8"};
	static const char *const actions[] = {"drop", "pass", "rate_limit"};
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;

	(void)state;
	r.match_anomaly = 3;
	r.enabled = true;
	for (size_t i = 0; i < 3; i++) {
		r.dst_ip = (char *)targets[i];
		r.action = (char *)actions[i];
		r.rate_limit = i == 2 ? 100 : 0;
		xdrop__v1__rule_write_reply__free_unpacked(create(c.admin, &r, true, RPC_OK, NULL),
							   NULL);
	}
}

#define MERGERS 8

static struct {
	char id[64];
	int bad;
} mergers[MERGERS];

/* One client: bit 1 or 2 (by idx) onto the rule of 10.95.0.1 */
static void *merger_main(void *p)
{
	size_t idx = (size_t)p;
	struct rpc_client *cl = ctl_client(&c, TEST_ADMIN_KEY);
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;
	struct rpc_status st;

	r.dst_ip = "10.95.0.1";
	r.action = "drop";
	r.enabled = true;
	r.match_anomaly = idx % 2 ? 2 : 1;
	req.rule = &r;
	req.merge_anomaly = true;
	if (ctl_call(cl, RULES, "Create", &req, &rep, &st) != RPC_OK) {
		mergers[idx].bad = 1;
	} else {
		snprintf(mergers[idx].id, sizeof(mergers[idx].id), "%s", rep->rule->id);
		xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	}
	rpc_client_close(cl);
	return NULL;
}

/* Concurrent merges: every call succeeds, all on one rule, which ends with both bits. */
static void test_concurrent_merges(void **state)
{
	pthread_t th[MERGERS];
	Xdrop__V1__Rule *got;

	(void)state;
	for (size_t i = 0; i < MERGERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, merger_main, (void *)i), 0);
	for (size_t i = 0; i < MERGERS; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < MERGERS; i++) {
		assert_int_equal(mergers[i].bad, 0);
		assert_string_equal(mergers[i].id, mergers[0].id);
	}
	got = get(mergers[0].id);
	assert_int_equal(got->match_anomaly, 3);
	xdrop__v1__rule__free_unpacked(got, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_no_merge_with_plain_rules),
	    cmocka_unit_test(test_actions_and_ipv6),
	    cmocka_unit_test(test_concurrent_merges),
	};

	ctl_group(&c, 200);
	return cmocka_run_group_tests(tests, ctl_group_setup, ctl_group_teardown);
}
