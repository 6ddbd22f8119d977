// SPDX-License-Identifier: MIT
/*
 * test_source: RuleService.ReplaceSource against an in-process controller (real SQLite,
 * RPC over loopback): a feed's rules made equal to a set in one revision (added, updated,
 * unchanged, removed; kept ids), a dry run that writes nothing, validation naming the item,
 * a match held by another source refused, a failure late in the change rolled back whole,
 * an empty set removing the source, and the List filter by source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "log.h"

static struct ctl c;

#define RULES (&xdrop__v1__rule_service__descriptor)
#define SYNC  (&xdrop__v1__sync_service__descriptor)

/* A rule dropping (or with action) traffic from ip. */
static Xdrop__V1__Rule rule(const char *ip, const char *action)
{
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;

	r.src_ip = (char *)ip;
	r.action = (char *)action;
	r.enabled = true;
	r.name = "feed rule";
	return r;
}

/* ReplaceSource of rules[0..n) for source; the reply (freed by the caller) or NULL. */
static Xdrop__V1__ReplaceSourceReply *replace(const char *source, Xdrop__V1__Rule *rules, size_t n,
					      bool dry, enum rpc_code want, struct rpc_status *st)
{
	Xdrop__V1__ReplaceSourceRequest req = XDROP__V1__REPLACE_SOURCE_REQUEST__INIT;
	Xdrop__V1__ReplaceSourceReply *rep = NULL;
	Xdrop__V1__Rule *ptrs[16];

	for (size_t i = 0; i < n; i++)
		ptrs[i] = &rules[i];
	req.source = (char *)source;
	req.rules = ptrs;
	req.n_rules = n;
	req.dry_run = dry;
	assert_int_equal(ctl_call(c.admin, RULES, "ReplaceSource", &req, &rep, st), want);
	return rep;
}

/* The rules of source (List filter), sorted by src_ip. */
static Xdrop__V1__ListRulesResponse *list_source(const char *source)
{
	Xdrop__V1__ListRulesRequest lr = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__ListRulesResponse *lst = NULL;

	lr.source = (char *)source;
	lr.sort = "src_ip";
	lr.limit = 100;
	assert_int_equal(ctl_call(c.admin, RULES, "List", &lr, &lst, NULL), RPC_OK);
	return lst;
}

static uint64_t revision(void)
{
	struct store_rev r;

	store_revision(c.store, &r);
	return r.revision;
}

/* The delta of revision from + 1 holds the diff only: the delete first, then 2 upserts. */
static void check_delta(uint64_t from, const char *removed_id)
{
	Xdrop__V1__DeltasRequest dr = XDROP__V1__DELTAS_REQUEST__INIT;
	Xdrop__V1__DeltaList *dl = NULL;
	const Xdrop__V1__Delta *d;

	dr.from_revision = from;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetDeltas", &dr, &dl, NULL), RPC_OK);
	assert_int_equal(dl->n_deltas, 1);
	d = dl->deltas[0];
	assert_int_equal(d->revision, from + 1);
	assert_int_equal(d->n_ops, 3);
	assert_int_equal(d->ops[0]->op_case, XDROP__V1__DELTA_OP__OP_DELETE_RULE);
	assert_string_equal(d->ops[0]->delete_rule, removed_id);
	assert_int_equal(d->ops[1]->op_case, XDROP__V1__DELTA_OP__OP_UPSERT_RULE);
	assert_int_equal(d->ops[2]->op_case, XDROP__V1__DELTA_OP__OP_UPSERT_RULE);
	xdrop__v1__delta_list__free_unpacked(dl, NULL);
}

static void test_replace_diff_one_revision(void **state)
{
	Xdrop__V1__Rule set1[3] = {rule("10.50.0.1", "drop"), rule("10.50.0.2", "drop"),
				   rule("10.50.0.3", "drop")};
	Xdrop__V1__Rule set2[3] = {rule("10.50.0.1", "drop"), rule("10.50.0.2", "pass"),
				   rule("10.50.0.4", "drop")};
	Xdrop__V1__ReplaceSourceReply *rep;
	Xdrop__V1__ListRulesResponse *lst;
	char id1[64], id2[64];
	uint64_t r0 = revision();

	rep = replace("feed-a", set1, 3, false, RPC_OK, NULL);
	assert_int_equal(rep->added, 3);
	assert_int_equal(rep->removed + rep->updated + rep->unchanged, 0);
	assert_int_equal(rep->sync->revision, r0 + 1);
	assert_int_equal(revision(), r0 + 1);
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);

	lst = list_source("feed-a");
	assert_int_equal(lst->pagination->total, 3);
	assert_string_equal(lst->rules[0]->source, "feed-a");
	snprintf(id1, sizeof(id1), "%s", lst->rules[0]->id);
	snprintf(id2, sizeof(id2), "%s", lst->rules[1]->id);
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);

	rep = replace("feed-a", set2, 3, false, RPC_OK, NULL);
	assert_int_equal(rep->added, 1);
	assert_int_equal(rep->updated, 1);
	assert_int_equal(rep->unchanged, 1);
	assert_int_equal(rep->removed, 1);
	assert_string_equal(rep->to_add[0]->src_ip, "10.50.0.4");
	assert_string_equal(rep->to_remove[0]->src_ip, "10.50.0.3");
	assert_string_equal(rep->to_update[0]->id, id2);
	assert_string_equal(rep->to_update[0]->action, "pass");
	assert_string_equal(rep->unchanged_ids[0], id1);
	assert_int_equal(revision(), r0 + 2); /* the whole diff is one revision */
	check_delta(r0 + 1, rep->to_remove[0]->id);
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);

	lst = list_source("feed-a");
	assert_int_equal(lst->pagination->total, 3);
	assert_string_equal(lst->rules[0]->id, id1); /* equal rules keep their ids */
	assert_string_equal(lst->rules[1]->id, id2);
	assert_string_equal(lst->rules[1]->action, "pass");
	assert_string_equal(lst->rules[2]->src_ip, "10.50.0.4");
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);

	/* the same set again changes nothing: no revision */
	rep = replace("feed-a", set2, 3, false, RPC_OK, NULL);
	assert_int_equal(rep->unchanged, 3);
	assert_int_equal(rep->added + rep->removed + rep->updated, 0);
	assert_int_equal(revision(), r0 + 2);
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);
}

static void test_dry_run_writes_nothing(void **state)
{
	Xdrop__V1__Rule set[2] = {rule("10.51.0.1", "drop"), rule("10.51.0.2", "drop")};
	Xdrop__V1__Rule next[1] = {rule("10.51.0.9", "drop")};
	Xdrop__V1__ReplaceSourceReply *rep;
	Xdrop__V1__ListRulesResponse *lst;
	struct store_rev before, after;

	xdrop__v1__replace_source_reply__free_unpacked(
	    replace("feed-b", set, 2, false, RPC_OK, NULL), NULL);
	store_revision(c.store, &before);
	rep = replace("feed-b", next, 1, true, RPC_OK, NULL);
	assert_true(rep->dry_run);
	assert_int_equal(rep->added, 1);
	assert_int_equal(rep->removed, 2);
	assert_string_equal(rep->to_add[0]->src_ip, "10.51.0.9");
	assert_null(rep->sync);
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);
	store_revision(c.store, &after);
	assert_int_equal(after.revision, before.revision);
	assert_string_equal(after.hash, before.hash);
	lst = list_source("feed-b");
	assert_int_equal(lst->pagination->total, 2);
	assert_string_equal(lst->rules[0]->src_ip, "10.51.0.1");
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
}

static void test_invalid_item_named(void **state)
{
	Xdrop__V1__Rule set[3] = {rule("10.52.0.1", "drop"), rule("10.52.0.2", "drop"),
				  rule("10.52.0.3", "drop")};
	struct rpc_status st;
	uint64_t r0 = revision();

	set[2].protocol = "tcp";
	set[2].dst_port = 70000;
	assert_null(replace("feed-c", set, 3, false, RPC_INVALID_ARGUMENT, &st));
	assert_string_equal(st.field, "rules[2].dst_port");
	set[2].protocol = "";
	set[2].dst_port = 0;
	set[1].action = "explode";
	assert_null(replace("feed-c", set, 3, true, RPC_INVALID_ARGUMENT, &st));
	assert_string_equal(st.field, "rules[1].action");
	set[1].action = "drop";
	set[1].source = "other";
	assert_null(replace("feed-c", set, 3, false, RPC_INVALID_ARGUMENT, &st));
	assert_string_equal(st.field, "rules[1].source");
	assert_null(replace("", set, 0, false, RPC_INVALID_ARGUMENT, &st));
	assert_string_equal(st.field, "source");
	assert_int_equal(revision(), r0);
}

static void test_collision_with_other_source(void **state)
{
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *wr = NULL;
	Xdrop__V1__Rule mine = rule("10.53.0.1", "drop");
	Xdrop__V1__Rule set[2] = {rule("10.53.0.2", "drop"), rule("10.53.0.1", "pass")};
	struct rpc_status st;
	uint64_t r0;

	cr.rule = &mine;
	assert_int_equal(ctl_call(c.admin, RULES, "Create", &cr, &wr, NULL), RPC_OK);
	r0 = revision();
	assert_null(replace("feed-d", set, 2, false, RPC_ALREADY_EXISTS, &st));
	assert_string_equal(st.field, "rules[1]");
	assert_non_null(strstr(st.message, wr->rule->id));
	assert_non_null(strstr(st.message, "\"api\""));
	assert_int_equal(revision(), r0);
	xdrop__v1__rule_write_reply__free_unpacked(wr, NULL);
}

static void test_failure_rolls_back(void **state)
{
	Xdrop__V1__Rule set[2] = {rule("10.54.0.1", "drop"), rule("10.54.0.2", "drop")};
	/* the old rules go, then the third add repeats the first's match: refused late */
	Xdrop__V1__Rule next[3] = {rule("10.54.0.7", "drop"), rule("10.54.0.8", "drop"),
				   rule("10.54.0.7", "pass")};
	Xdrop__V1__ListRulesResponse *lst;
	struct store_rev before, after;
	struct rpc_status st;

	xdrop__v1__replace_source_reply__free_unpacked(
	    replace("feed-e", set, 2, false, RPC_OK, NULL), NULL);
	store_revision(c.store, &before);
	assert_null(replace("feed-e", next, 3, false, RPC_ALREADY_EXISTS, &st));
	assert_string_equal(st.field, "rules[2]");
	store_revision(c.store, &after);
	assert_int_equal(after.revision, before.revision);
	assert_string_equal(after.hash, before.hash);
	assert_int_equal(after.rules, before.rules);
	lst = list_source("feed-e");
	assert_int_equal(lst->pagination->total, 2);
	assert_string_equal(lst->rules[0]->src_ip, "10.54.0.1");
	assert_string_equal(lst->rules[1]->src_ip, "10.54.0.2");
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
}

static void test_empty_set_removes_source(void **state)
{
	Xdrop__V1__Rule set[2] = {rule("10.55.0.1", "drop"), rule("10.55.0.2", "drop")};
	Xdrop__V1__ReplaceSourceReply *rep;
	Xdrop__V1__ListRulesResponse *lst;
	uint64_t r0;

	xdrop__v1__replace_source_reply__free_unpacked(
	    replace("feed-f", set, 2, false, RPC_OK, NULL), NULL);
	r0 = revision();
	rep = replace("feed-f", NULL, 0, false, RPC_OK, NULL);
	assert_int_equal(rep->removed, 2);
	assert_int_equal(rep->sync->revision, r0 + 1);
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);
	lst = list_source("feed-f");
	assert_int_equal(lst->pagination->total, 0);
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
	lst = list_source("feed-a"); /* other sources untouched */
	assert_int_equal(lst->pagination->total, 3);
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
}

/* A resend with the same request id answers the first outcome (added, not unchanged) and
 * writes nothing more. */
static void test_request_id_replay(void **state)
{
	Xdrop__V1__Rule set[2] = {rule("10.56.0.1", "drop"), rule("10.56.0.2", "drop")};
	Xdrop__V1__ReplaceSourceRequest req = XDROP__V1__REPLACE_SOURCE_REQUEST__INIT;
	Xdrop__V1__Rule *ptrs[2] = {&set[0], &set[1]};
	struct rpc_call_opts o = {.sz = sizeof(o), .request_id = "feed-g-refresh-1"};
	ProtobufCMessage *out = NULL;
	Xdrop__V1__ReplaceSourceReply *rep;
	struct rpc_status st;
	uint64_t r0 = revision();

	req.source = "feed-g";
	req.rules = ptrs;
	req.n_rules = 2;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    rpc_client_call_opts(c.admin, RULES, "ReplaceSource", &req.base, &out, &st, &o),
		    0);
		rep = (Xdrop__V1__ReplaceSourceReply *)out;
		assert_int_equal(rep->added, 2);
		assert_int_equal(rep->unchanged, 0);
		assert_int_equal(rep->n_to_add, 2);
		assert_non_null(rep->sync);
		assert_int_equal(rep->sync->revision, r0 + 1);
		protobuf_c_message_free_unpacked(out, NULL);
		out = NULL;
	}
	assert_int_equal(revision(), r0 + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replace_diff_one_revision),
	    cmocka_unit_test(test_dry_run_writes_nothing),
	    cmocka_unit_test(test_invalid_item_named),
	    cmocka_unit_test(test_collision_with_other_source),
	    cmocka_unit_test(test_failure_rolls_back),
	    cmocka_unit_test(test_empty_set_removes_source),
	    cmocka_unit_test(test_request_id_replay),
	};

	ctl_group(&c, 500);
	return cmocka_run_group_tests_name("controller: replace a source's rules", tests,
					   ctl_group_setup, ctl_group_teardown);
}
