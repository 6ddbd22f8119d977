// SPDX-License-Identifier: MIT
/*
 * test_service: every RPC service of the controller over a real loopback TCP socket
 * (tests/controller/harness.c starts it in process): authentication and scopes, rules CRUD
 * with field-naming errors, 10,000-rule batches (atomic and not), lists, Top, whitelist,
 * nodes (the key shown once), API keys, snapshots in chunks and their cache, deltas,
 * SQL-injection and 1 MiB strings returned literally, 20 concurrent writers with no
 * lost update and no "database is locked", the History window limit, and UNAVAILABLE when
 * another process holds the database's write lock; canonical spelling of matches.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"
#include "log.h"
#include "rulepb.h"
#include "nodekey.h"

static struct ctl c;

#define RULES  (&xdrop__v1__rule_service__descriptor)
#define WL     (&xdrop__v1__whitelist_service__descriptor)
#define NODES  (&xdrop__v1__node_service__descriptor)
#define STATS  (&xdrop__v1__stats_service__descriptor)
#define KEYS   (&xdrop__v1__key_service__descriptor)
#define SYNC   (&xdrop__v1__sync_service__descriptor)
#define HEALTH (&xdrop__v1__health_service__descriptor)

static Xdrop__V1__RuleWriteReply *create(Xdrop__V1__Rule *r, enum rpc_code want,
					 struct rpc_status *st)
{
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;

	req.rule = r;
	assert_int_equal(ctl_call(c.admin, RULES, "Create", &req, &rep, st), want);
	return rep;
}

static void test_auth_and_scopes(void **state)
{
	Xdrop__V1__ListRulesRequest lr = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__PingRequest ping = XDROP__V1__PING_REQUEST__INIT;
	Xdrop__V1__CreateKeyRequest ck = XDROP__V1__CREATE_KEY_REQUEST__INIT;
	Xdrop__V1__ApiKey *key = NULL, *who = NULL;
	Xdrop__V1__Empty empty = XDROP__V1__EMPTY__INIT;
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__ListKeysRequest lk = XDROP__V1__LIST_KEYS_REQUEST__INIT;
	Xdrop__V1__ListKeysResponse *keys = NULL;
	struct rpc_client *none = ctl_client(&c, NULL), *bad = ctl_client(&c, "xdk_nope_nope");
	struct rpc_client *ro, *node, *badnode;
	char nkey[65], tok[160];
	unsigned long verified;

	assert_int_equal(ctl_call(none, HEALTH, "Ping", &ping, NULL, NULL), RPC_OK);
	assert_int_equal(ctl_call(none, RULES, "List", &lr, NULL, NULL), RPC_UNAUTHENTICATED);
	assert_int_equal(ctl_call(bad, RULES, "List", &lr, NULL, NULL), RPC_UNAUTHENTICATED);

	ck.name = "viewer";
	ck.scope = "read_only";
	assert_int_equal(ctl_call(c.admin, KEYS, "Create", &ck, &key, NULL), RPC_OK);
	assert_true(strncmp(key->key, "xdk_", 4) == 0);
	ro = ctl_client(&c, key->key);
	assert_int_equal(ctl_call(ro, RULES, "List", &lr, NULL, NULL), RPC_OK);
	r.dst_ip = "10.9.9.9";
	r.action = "drop";
	cr.rule = &r;
	assert_int_equal(ctl_call(ro, RULES, "Create", &cr, NULL, NULL), RPC_PERMISSION_DENIED);
	assert_int_equal(ctl_call(ro, KEYS, "Whoami", &empty, &who, NULL), RPC_OK);
	assert_string_equal(who->scope, "read_only");
	assert_string_equal(who->key, ""); /* the secret is never shown again */
	xdrop__v1__api_key__free_unpacked(who, NULL);
	assert_int_equal(ctl_call(ro, KEYS, "List", &lk, NULL, NULL), RPC_PERMISSION_DENIED);
	assert_int_equal(ctl_call(c.admin, KEYS, "List", &lk, &keys, NULL), RPC_OK);
	assert_true(keys->n_keys >= 2);
	for (size_t i = 0; i < keys->n_keys; i++)
		assert_string_equal(keys->keys[i]->key, "");
	xdrop__v1__list_keys_response__free_unpacked(keys, NULL);
	del.id = key->id;
	assert_int_equal(ctl_call(c.admin, KEYS, "Delete", &del, NULL, NULL), RPC_OK);
	assert_int_equal(ctl_call(ro, RULES, "List", &lr, NULL, NULL), RPC_UNAUTHENTICATED);
	assert_int_equal(ctl_call(c.admin, KEYS, "Delete", &del, NULL, NULL), RPC_NOT_FOUND);
	ck.scope = "root";
	assert_int_equal(ctl_call(c.admin, KEYS, "Create", &ck, NULL, NULL), RPC_INVALID_ARGUMENT);
	xdrop__v1__api_key__free_unpacked(key, NULL);

	/* node tokens: SyncService only */
	ctl_add_node(&c, "auth-node", NULL, nkey);
	snprintf(tok, sizeof(tok), "node:auth-node:%s", nkey);
	node = ctl_client(&c, tok);
	assert_int_equal(ctl_call(node, SYNC, "GetRevision", &empty, NULL, NULL), RPC_OK);
	assert_int_equal(ctl_call(node, RULES, "List", &lr, NULL, NULL), RPC_PERMISSION_DENIED);
	snprintf(tok, sizeof(tok), "node:auth-node:%sx", nkey);
	badnode = ctl_client(&c, tok);
	verified = nodekey_verify_count();
	assert_int_equal(ctl_call(badnode, SYNC, "GetRevision", &empty, NULL, NULL),
			 RPC_UNAUTHENTICATED);
	assert_int_equal(nodekey_verify_count() - verified, 1);
	rpc_client_close(badnode);
	/* an unknown node id runs the same verification (against a dummy verifier) as a wrong
	 * key of a known node, so the answer's timing does not tell which ids exist */
	snprintf(tok, sizeof(tok), "node:no-such-node:%sx", nkey);
	badnode = ctl_client(&c, tok);
	verified = nodekey_verify_count();
	assert_int_equal(ctl_call(badnode, SYNC, "GetRevision", &empty, NULL, NULL),
			 RPC_UNAUTHENTICATED);
	assert_int_equal(nodekey_verify_count() - verified, 1);
	rpc_client_close(badnode);
	rpc_client_close(node);
	rpc_client_close(ro);
	rpc_client_close(bad);
	rpc_client_close(none);
}

static void test_rules_crud(void **state)
{
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT, u = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *rep, *rep2;
	Xdrop__V1__GetRuleRequest g = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__UpdateRuleRequest up = XDROP__V1__UPDATE_RULE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__Rule *got = NULL;
	struct rpc_status st;
	char *mask[] = {"name", "comment"}, *badmask[] = {"created_at"};
	char id[64];

	r.name = "web";
	r.dst_cidr = "198.51.100.0/24";
	r.dst_port = 443;
	r.protocol = "tcp";
	r.action = "drop";
	r.enabled = true;
	rep = create(&r, RPC_OK, &st);
	assert_int_equal(strlen(rep->rule->id), 36);
	assert_int_equal(rep->rule->id[14], '7'); /* UUID v7: time-ordered (store_uuid) */
	assert_string_equal(rep->rule->source, "api");
	assert_true(rep->rule->created_at > 0);
	assert_true(rep->sync->revision > 0);
	snprintf(id, sizeof(id), "%s", rep->rule->id);

	/* the same match again: ALREADY_EXISTS naming the existing id */
	r.name = "web again";
	create(&r, RPC_ALREADY_EXISTS, &st);
	assert_non_null(strstr(st.message, id));
	/* field-naming validation errors */
	r.dst_cidr = "198.51.100.1/24";
	create(&r, RPC_INVALID_ARGUMENT, &st);
	assert_string_equal(st.field, "rule.dst_cidr");
	r.dst_cidr = "198.51.101.0/24";
	r.action = "explode";
	create(&r, RPC_INVALID_ARGUMENT, &st);
	assert_string_equal(st.field, "rule.action");
	assert_int_equal(
	    ctl_call(c.admin, RULES, "Create",
		     &(Xdrop__V1__CreateRuleRequest)XDROP__V1__CREATE_RULE_REQUEST__INIT, NULL,
		     &st),
	    RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "rule");

	/* update with a mask: only the named fields change */
	u.name = "web-renamed";
	u.comment = "edited";
	u.dst_port = 9999; /* not in the mask */
	up.id = id;
	up.rule = &u;
	up.update_mask = mask;
	up.n_update_mask = 2;
	assert_int_equal(ctl_call(c.admin, RULES, "Update", &up, &rep2, NULL), RPC_OK);
	assert_string_equal(rep2->rule->name, "web-renamed");
	assert_int_equal(rep2->rule->dst_port, 443);
	assert_int_equal(rep2->rule->created_at, rep->rule->created_at);
	assert_true(rep2->sync->revision == rep->sync->revision + 1);
	xdrop__v1__rule_write_reply__free_unpacked(rep2, NULL);
	up.update_mask = badmask;
	up.n_update_mask = 1;
	assert_int_equal(ctl_call(c.admin, RULES, "Update", &up, NULL, &st), RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "update_mask");
	up.update_mask = NULL;
	up.n_update_mask = 0;
	up.id = "no-such-rule";
	assert_int_equal(ctl_call(c.admin, RULES, "Update", &up, NULL, &st), RPC_NOT_FOUND);

	g.id = id;
	assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, &got, NULL), RPC_OK);
	assert_string_equal(got->comment, "edited");
	assert_non_null(got->stats);
	xdrop__v1__rule__free_unpacked(got, NULL);
	del.id = id;
	assert_int_equal(ctl_call(c.admin, RULES, "Delete", &del, NULL, NULL), RPC_OK);
	assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, NULL, &st), RPC_NOT_FOUND);
	assert_string_equal(st.field, "id");
	assert_int_equal(ctl_call(c.admin, RULES, "Delete", &del, NULL, NULL), RPC_NOT_FOUND);
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
}

/*
 * Input hygiene (issue 11): every spelling of a match is stored, returned and pushed in one
 * canonical form (lib/rulepb.h), and two spellings of one match are duplicates, on create,
 * update and whitelist alike.
 */
static void test_canonical_spelling(void **state)
{
	static const struct {
		const char *in[5];   /* src_ip, src_cidr, dst_cidr, protocol, tcp_flags */
		const char *want[5]; /* the same, as stored */
	} cases[] = {
	    {{"", "10.0.0.0/08", "", "TCP", "ack,!syn"}, {"", "10.0.0.0/8", "", "tcp", "!SYN,ACK"}},
	    {{"FD00:0:0::1", "", "FD00:0DB8::/032", "UDP", ""},
	     {"fd00::1", "", "fd00:db8::/32", "udp", ""}},
	    {{"::ffff:192.0.2.7", "", "", "6", "syn"}, {"192.0.2.7", "", "", "tcp", "SYN"}},
	    {{"", "::FFFF:198.51.100.0/120", "", "Any", ""}, {"", "198.51.100.0/24", "", "", ""}},
	    {{"2001:DB8:0:0:0:0:0:1", "", "", "ICMPv6", ""}, {"2001:db8::1", "", "", "icmpv6", ""}},
	    {{"", "", "203.0.113.0/24", "47", ""}, {"", "", "203.0.113.0/24", "gre", ""}},
	};
	Xdrop__V1__GetRuleRequest g = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__UpdateRuleRequest up = XDROP__V1__UPDATE_RULE_REQUEST__INIT;
	Xdrop__V1__CreateWhitelistRequest cw = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__WhitelistEntry w = XDROP__V1__WHITELIST_ENTRY__INIT;
	Xdrop__V1__WhitelistWriteReply *wrep = NULL;
	Xdrop__V1__RuleWriteReply *rep, *rep2;
	Xdrop__V1__Rule *got = NULL;
	struct rulepb_canon_buf cb;
	struct rpc_status st;
	char *mask[] = {"src_cidr"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
		const char *const *in = cases[i].in, *const *want = cases[i].want;

		r.src_ip = (char *)in[0];
		r.src_cidr = (char *)in[1];
		r.dst_cidr = (char *)in[2];
		r.protocol = (char *)in[3];
		r.tcp_flags = (char *)in[4];
		r.action = "drop";
		r.enabled = true;
		rep = create(&r, RPC_OK, &st);
		g.id = rep->rule->id;
		assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, &got, NULL), RPC_OK);
		for (int k = 0; k < 2; k++) {
			const Xdrop__V1__Rule *x = k ? got : rep->rule;

			assert_string_equal(x->src_ip, want[0]);
			assert_string_equal(x->src_cidr, want[1]);
			assert_string_equal(x->dst_cidr, want[2]);
			assert_string_equal(x->protocol, want[3]);
			assert_string_equal(x->tcp_flags, want[4]);
		}
		xdrop__v1__rule__free_unpacked(got, NULL);
		/* the canonical spelling is a duplicate of the written one */
		r.src_ip = (char *)want[0];
		r.src_cidr = (char *)want[1];
		r.dst_cidr = (char *)want[2];
		r.protocol = (char *)want[3];
		r.tcp_flags = (char *)want[4];
		create(&r, RPC_ALREADY_EXISTS, &st);
		assert_non_null(strstr(st.message, rep->rule->id));
		del.id = rep->rule->id;
		assert_int_equal(ctl_call(c.admin, RULES, "Delete", &del, NULL, NULL), RPC_OK);
		xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	}

	/* update: another spelling of an existing match is a duplicate; a new one is stored
	 * canonically */
	Xdrop__V1__Rule a = XDROP__V1__RULE__INIT, b = XDROP__V1__RULE__INIT;

	a.src_cidr = "10.1.0.0/16";
	a.action = b.action = "drop";
	b.src_cidr = "10.2.0.0/16";
	rep = create(&a, RPC_OK, &st);
	rep2 = create(&b, RPC_OK, &st);
	up.id = rep2->rule->id;
	up.rule = &b;
	up.update_mask = mask;
	up.n_update_mask = 1;
	b.src_cidr = "::ffff:10.1.0.0/112";
	assert_int_equal(ctl_call(c.admin, RULES, "Update", &up, NULL, &st), RPC_ALREADY_EXISTS);
	assert_non_null(strstr(st.message, rep->rule->id));
	b.src_cidr = "10.3.0.0/0016";
	g.id = rep2->rule->id;
	assert_int_equal(ctl_call(c.admin, RULES, "Update", &up, NULL, &st), RPC_OK);
	assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, &got, NULL), RPC_OK);
	assert_string_equal(got->src_cidr, "10.3.0.0/16");
	xdrop__v1__rule__free_unpacked(got, NULL);
	for (int k = 0; k < 2; k++) {
		del.id = (k ? rep2 : rep)->rule->id;
		assert_int_equal(ctl_call(c.admin, RULES, "Delete", &del, NULL, NULL), RPC_OK);
	}
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	xdrop__v1__rule_write_reply__free_unpacked(rep2, NULL);

	/* whitelist entries likewise */
	w.src_cidr = "FD00:0::/16";
	w.protocol = "UDP";
	cw.entry = &w;
	assert_int_equal(ctl_call(c.admin, WL, "Create", &cw, &wrep, NULL), RPC_OK);
	assert_string_equal(wrep->entry->src_cidr, "fd00::/16");
	assert_string_equal(wrep->entry->protocol, "udp");
	w.src_cidr = "fd00::/16";
	w.protocol = "17";
	assert_int_equal(ctl_call(c.admin, WL, "Create", &cw, NULL, &st), RPC_ALREADY_EXISTS);
	del.id = wrep->entry->id;
	assert_int_equal(ctl_call(c.admin, WL, "Delete", &del, NULL, NULL), RPC_OK);
	xdrop__v1__whitelist_write_reply__free_unpacked(wrep, NULL);

	/* what does not validate is left as written, for the store to refuse by field */
	a.src_cidr = "10.1.0.1/16";
	a.protocol = "TCP";
	assert_int_equal(rulepb_rule_canon(&a, &cb), -EINVAL);
	assert_string_equal(a.src_cidr, "10.1.0.1/16");
	assert_string_equal(a.protocol, "TCP");
}

static void test_batches_and_lists(void **state)
{
	enum { N = 10000 };
	Xdrop__V1__BatchCreateRulesRequest bc = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	Xdrop__V1__BatchDeleteRequest bd = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
	Xdrop__V1__BatchReply *rep = NULL;
	Xdrop__V1__ListRulesRequest lr = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__ListRulesResponse *lst = NULL;
	Xdrop__V1__TopRulesRequest top = XDROP__V1__TOP_RULES_REQUEST__INIT;
	Xdrop__V1__Rule *rules = calloc(N + 1, sizeof(*rules)),
			**ptrs = calloc(N + 1, sizeof(*ptrs));
	char(*ips)[24] = calloc(N + 1, 24);
	struct store_rev before, after;
	struct rpc_status st;
	long t0;

	for (int i = 0; i <= N; i++) {
		xdrop__v1__rule__init(&rules[i]);
		snprintf(ips[i], 24, "10.77.%d.%d", i / 256, i % 256);
		rules[i].src_ip = ips[i];
		rules[i].action = i % 2 ? "drop" : "pass";
		rules[i].enabled = i % 3 != 0;
		rules[i].name = i == 4242 ? "needle" : "hay";
		ptrs[i] = &rules[i];
	}
	bc.rules = ptrs;
	bc.n_rules = N;
	bc.atomic = true;

	/* one bad rule: the atomic batch stores nothing and names the item */
	rules[7777].src_ip = "10.77.300.1";
	store_revision(c.store, &before);
	assert_int_equal(ctl_call(c.admin, RULES, "BatchCreate", &bc, NULL, &st),
			 RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "rules[7777].src_ip");
	store_revision(c.store, &after);
	assert_int_equal(after.revision, before.revision);
	rules[7777].src_ip = ips[7777];

	t0 = now_ms();
	assert_int_equal(ctl_call(c.admin, RULES, "BatchCreate", &bc, &rep, NULL), RPC_OK);
	print_message("# BatchCreate of 10,000 rules over RPC: %ld ms (ASan build)\n",
		      now_ms() - t0);
	assert_int_equal(rep->added, N);
	assert_int_equal(rep->n_ids, N);
	assert_int_equal(rep->sync->revision, before.revision + 1); /* one revision */
	store_revision(c.store, &after);
	assert_int_equal(after.rules, before.rules + N);

	/* lists: filters, search, sort, order, pages */
	lr.enabled = "true";
	lr.action = "drop";
	lr.limit = 100;
	lr.page = 2;
	assert_int_equal(ctl_call(c.admin, RULES, "List", &lr, &lst, NULL), RPC_OK);
	assert_int_equal(lst->n_rules, 100);
	assert_int_equal(lst->pagination->total, 3333); /* odd and not a multiple of 3 */
	assert_int_equal(lst->pagination->pages, 34);
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
	lr = (Xdrop__V1__ListRulesRequest)XDROP__V1__LIST_RULES_REQUEST__INIT;
	lr.search = "NEEDLE";
	assert_int_equal(ctl_call(c.admin, RULES, "List", &lr, &lst, NULL), RPC_OK);
	assert_int_equal(lst->pagination->total, 1);
	assert_string_equal(lst->rules[0]->src_ip, ips[4242]);
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
	lr.search = "";
	lr.sort = "src_ip";
	lr.order = "desc";
	lr.limit = 1;
	assert_int_equal(ctl_call(c.admin, RULES, "List", &lr, &lst, NULL), RPC_OK);
	assert_string_equal(lst->rules[0]->src_ip, "10.77.9.99"); /* text order */
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
	static const struct {
		const char *sort, *order, *enabled, *action, *field;
	} bad[] = {
	    {"pb; DROP TABLE rules", "", "", "", "sort"},
	    {"", "sideways", "", "", "order"},
	    {"", "", "maybe", "", "enabled"},
	    {"", "", "", "nuke", "action"},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lr.sort = (char *)bad[i].sort;
		lr.order = (char *)bad[i].order;
		lr.enabled = (char *)bad[i].enabled;
		lr.action = (char *)bad[i].action;
		assert_int_equal(ctl_call(c.admin, RULES, "List", &lr, NULL, &st),
				 RPC_INVALID_ARGUMENT);
		assert_string_equal(st.field, bad[i].field);
	}
	assert_int_equal(ctl_call(c.admin, RULES, "Top", &top, &lst, NULL), RPC_OK);
	assert_int_equal(lst->n_rules, 0); /* no node has reported counters */
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
	top.by = "vibes";
	assert_int_equal(ctl_call(c.admin, RULES, "Top", &top, NULL, &st), RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "by");

	/* BatchDelete of all 10,000: one revision; a missing id refuses the whole batch */
	bd.ids = rep->ids;
	bd.n_ids = rep->n_ids;
	char *saved = bd.ids[5];
	bd.ids[5] = "missing";
	assert_int_equal(ctl_call(c.admin, RULES, "BatchDelete", &bd, NULL, &st), RPC_NOT_FOUND);
	assert_string_equal(st.field, "ids[5]");
	bd.ids[5] = saved;
	t0 = now_ms();
	Xdrop__V1__BatchReply *drep = NULL;
	assert_int_equal(ctl_call(c.admin, RULES, "BatchDelete", &bd, &drep, NULL), RPC_OK);
	print_message("# BatchDelete of 10,000 rules over RPC: %ld ms\n", now_ms() - t0);
	assert_int_equal(drep->deleted, N);
	assert_int_equal(drep->sync->revision, rep->sync->revision + 1);
	xdrop__v1__batch_reply__free_unpacked(drep, NULL);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);

	/* not atomic: the good ones go in, each failure reported with its index */
	bc.n_rules = 5;
	bc.atomic = false;
	rules[1].protocol = "bogus";
	rules[3].src_ip = ips[0]; /* duplicate of item 0 */
	assert_int_equal(ctl_call(c.admin, RULES, "BatchCreate", &bc, &rep, NULL), RPC_OK);
	assert_int_equal(rep->added, 3);
	assert_int_equal(rep->n_failed, 2);
	assert_int_equal(rep->failed[0]->index, 1);
	assert_string_equal(rep->failed[0]->error->field, "rules[1].protocol");
	assert_int_equal(rep->failed[1]->index, 3);
	assert_int_equal(rep->failed[1]->error->code, XDROP__V1__CODE__ALREADY_EXISTS);
	bd.ids = rep->ids;
	bd.n_ids = rep->n_ids;
	assert_int_equal(ctl_call(c.admin, RULES, "BatchDelete", &bd, NULL, NULL), RPC_OK);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	bc.n_rules = N + 1;
	assert_int_equal(ctl_call(c.admin, RULES, "BatchCreate", &bc, NULL, &st),
			 RPC_RESOURCE_EXHAUSTED);
	assert_string_equal(st.field, "rules");
	free(rules);
	free(ptrs);
	free(ips);
}

static void test_whitelist(void **state)
{
	Xdrop__V1__WhitelistEntry w = XDROP__V1__WHITELIST_ENTRY__INIT, w2 = w, *pw[2] = {&w, &w2};
	Xdrop__V1__CreateWhitelistRequest cw = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__BatchCreateWhitelistRequest bw = XDROP__V1__BATCH_CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__BatchDeleteRequest bd = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
	Xdrop__V1__WhitelistWriteReply *rep = NULL;
	Xdrop__V1__BatchReply *brep = NULL;
	Xdrop__V1__GetWhitelistRequest g = XDROP__V1__GET_WHITELIST_REQUEST__INIT;
	Xdrop__V1__ListWhitelistRequest lw = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
	Xdrop__V1__ListWhitelistResponse *lst = NULL;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__WhitelistEntry *got = NULL;
	struct rpc_status st;

	w.name = "office";
	w.src_cidr = "203.0.113.0/24";
	cw.entry = &w;
	assert_int_equal(ctl_call(c.admin, WL, "Create", &cw, &rep, NULL), RPC_OK);
	assert_int_equal(ctl_call(c.admin, WL, "Create", &cw, NULL, &st), RPC_ALREADY_EXISTS);
	assert_non_null(strstr(st.message, rep->entry->id));
	g.id = rep->entry->id;
	assert_int_equal(ctl_call(c.admin, WL, "Get", &g, &got, NULL), RPC_OK);
	assert_string_equal(got->name, "office");
	xdrop__v1__whitelist_entry__free_unpacked(got, NULL);
	w.src_cidr = "";
	assert_int_equal(ctl_call(c.admin, WL, "Create", &cw, NULL, &st), RPC_INVALID_ARGUMENT);
	assert_true(strncmp(st.field, "entry", 5) == 0);
	assert_int_equal(ctl_call(c.admin, WL, "List", &lw, &lst, NULL), RPC_OK);
	assert_int_equal(lst->pagination->total, 1);
	xdrop__v1__list_whitelist_response__free_unpacked(lst, NULL);
	del.id = rep->entry->id;
	assert_int_equal(ctl_call(c.admin, WL, "Delete", &del, NULL, NULL), RPC_OK);
	assert_int_equal(ctl_call(c.admin, WL, "Get", &g, NULL, NULL), RPC_NOT_FOUND);
	xdrop__v1__whitelist_write_reply__free_unpacked(rep, NULL);

	w.src_ip = "192.0.2.10";
	w2.dst_ip = "192.0.2.11";
	bw.entries = pw;
	bw.n_entries = 2;
	bw.atomic = true;
	assert_int_equal(ctl_call(c.admin, WL, "BatchCreate", &bw, &brep, NULL), RPC_OK);
	assert_int_equal(brep->added, 2);
	bd.ids = brep->ids;
	bd.n_ids = brep->n_ids;
	assert_int_equal(ctl_call(c.admin, WL, "BatchDelete", &bd, NULL, NULL), RPC_OK);
	xdrop__v1__batch_reply__free_unpacked(brep, NULL);
}

static void test_nodes_service(void **state)
{
	Xdrop__V1__CreateNodeRequest cn = XDROP__V1__CREATE_NODE_REQUEST__INIT;
	Xdrop__V1__Node n = XDROP__V1__NODE__INIT, *got = NULL;
	Xdrop__V1__NodeWriteReply *rep = NULL;
	Xdrop__V1__GetNodeRequest g = XDROP__V1__GET_NODE_REQUEST__INIT;
	Xdrop__V1__UpdateNodeRequest un = XDROP__V1__UPDATE_NODE_REQUEST__INIT;
	Xdrop__V1__ListNodesRequest ln = XDROP__V1__LIST_NODES_REQUEST__INIT;
	Xdrop__V1__ListNodesResponse *lst = NULL;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__SyncOutcome *so = NULL;
	Xdrop__V1__NodeStats *ns = NULL;
	struct rpc_status st;
	char *mask[] = {"comment"};

	n.name = "edge";
	n.address = "tcp://127.0.0.1:1";
	cn.node = &n;
	assert_int_equal(ctl_call(c.admin, NODES, "Create", &cn, &rep, NULL), RPC_OK);
	assert_int_equal(strlen(rep->key), 48);
	assert_string_equal(rep->node->status, "unknown");
	g.id = rep->node->id;
	assert_int_equal(ctl_call(c.admin, NODES, "Get", &g, &got, NULL), RPC_OK);
	assert_string_equal(got->name, "edge");
	assert_string_equal(got->status, "unknown");
	xdrop__v1__node__free_unpacked(got, NULL);
	n.id = "bad:id";
	assert_int_equal(ctl_call(c.admin, NODES, "Create", &cn, NULL, &st), RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "node.id");
	n.id = rep->node->id;
	assert_int_equal(ctl_call(c.admin, NODES, "Create", &cn, NULL, &st), RPC_ALREADY_EXISTS);
	n.id = "";
	/* registration needs a name and a dialable URL (issue 11, input hygiene) */
	static const struct {
		const char *name, *address, *field;
	} bad_nodes[] = {
	    {"edge", "not a url", "node.address"},
	    {"edge", "", "node.address"},
	    {"edge", "10.0.0.2:7600", "node.address"},
	    {"edge", "http://10.0.0.2:7600", "node.address"},
	    {"edge", "tcp://10.0.0.2", "node.address"},
	    {"edge", "tcp://10.0.0.2:0", "node.address"},
	    {"edge", "tcp://10.0.0.2:65536", "node.address"},
	    {"edge", "tls+tcp://:7600", "node.address"},
	    {"edge", "ipc://", "node.address"},
	    {"", "tcp://10.0.0.2:7600", "node.name"},
	};
	for (size_t i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		n.name = (char *)bad_nodes[i].name;
		n.address = (char *)bad_nodes[i].address;
		assert_int_equal(ctl_call(c.admin, NODES, "Create", &cn, NULL, &st),
				 RPC_INVALID_ARGUMENT);
		assert_string_equal(st.field, bad_nodes[i].field);
	}
	n.name = "edge";
	n.address = "not a url";

	n.comment = "rack 4";
	n.name = "ignored";
	un.id = rep->node->id;
	un.node = &n;
	un.update_mask = mask;
	un.n_update_mask = 1;
	Xdrop__V1__NodeWriteReply *urep = NULL;
	assert_int_equal(ctl_call(c.admin, NODES, "Update", &un, &urep, NULL), RPC_OK);
	assert_string_equal(urep->node->comment, "rack 4");
	assert_string_equal(urep->node->name, "edge");
	assert_string_equal(urep->key, ""); /* never again */
	xdrop__v1__node_write_reply__free_unpacked(urep, NULL);

	ln.search = "EDG";
	assert_int_equal(ctl_call(c.admin, NODES, "List", &ln, &lst, NULL), RPC_OK);
	assert_int_equal(lst->n_nodes, 1);
	xdrop__v1__list_nodes_response__free_unpacked(lst, NULL);
	ln.search = "";
	ln.status = "online";
	assert_int_equal(ctl_call(c.admin, NODES, "List", &ln, &lst, NULL), RPC_OK);
	assert_int_equal(lst->n_nodes, 0);
	xdrop__v1__list_nodes_response__free_unpacked(lst, NULL);

	assert_int_equal(ctl_call(c.admin, NODES, "GetStats", &g, &ns, NULL), RPC_OK);
	assert_string_equal(ns->node_id, rep->node->id);
	xdrop__v1__node_stats__free_unpacked(ns, NULL);
	assert_int_equal(ctl_call(c.admin, NODES, "Sync", &g, &so, NULL), RPC_OK);
	assert_int_equal(so->failed, 1); /* never heard from: not waited on */
	xdrop__v1__sync_outcome__free_unpacked(so, NULL);

	del.id = rep->node->id;
	assert_int_equal(ctl_call(c.admin, NODES, "Delete", &del, NULL, NULL), RPC_OK);
	assert_int_equal(ctl_call(c.admin, NODES, "Get", &g, NULL, NULL), RPC_NOT_FOUND);
	assert_int_equal(ctl_call(c.admin, NODES, "Sync", &g, NULL, NULL), RPC_NOT_FOUND);
	xdrop__v1__node_write_reply__free_unpacked(rep, NULL);
}

static void test_sync_service(void **state)
{
	Xdrop__V1__Empty empty = XDROP__V1__EMPTY__INIT;
	Xdrop__V1__RevisionInfo *ri = NULL;
	Xdrop__V1__SnapshotRequest sr = XDROP__V1__SNAPSHOT_REQUEST__INIT;
	Xdrop__V1__SnapshotChunk *ch = NULL;
	Xdrop__V1__DeltasRequest dr = XDROP__V1__DELTAS_REQUEST__INIT;
	Xdrop__V1__DeltaList *dl = NULL;
	struct rpc_status st;
	uint64_t r0, total = 0;
	uint32_t count;
	char hash[RULEHASH_HEX];

	for (unsigned i = 0; i < 10; i++)
		ctl_add_rule(&c, 5000 + i);
	assert_int_equal(ctl_call(c.admin, SYNC, "GetRevision", &empty, &ri, NULL), RPC_OK);
	r0 = ri->revision;
	snprintf(hash, sizeof(hash), "%s", ri->content_hash);
	xdrop__v1__revision_info__free_unpacked(ri, NULL);

	sr.max_items = 3;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, &ch, NULL), RPC_OK);
	assert_int_equal(ch->revision, r0);
	assert_string_equal(ch->content_hash, hash);
	count = ch->chunk_count;
	assert_int_equal(count, (ch->total_rules + ch->total_whitelist + 2) / 3);
	total += ch->n_rules + ch->n_whitelist;
	xdrop__v1__snapshot_chunk__free_unpacked(ch, NULL);
	ctl_add_rule(&c, 6000); /* the set moves on; chunks of r0 still come from the cache */
	sr.revision = r0;
	for (uint32_t i = 1; i < count; i++) {
		sr.chunk_index = i;
		assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, &ch, NULL), RPC_OK);
		assert_int_equal(ch->revision, r0);
		assert_string_equal(ch->content_hash, hash);
		total += ch->n_rules + ch->n_whitelist;
		xdrop__v1__snapshot_chunk__free_unpacked(ch, NULL);
	}
	assert_int_equal(total, 10 + 0);
	sr.chunk_index = count;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, NULL, &st),
			 RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "chunk_index");
	sr.revision = 0;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, NULL, &st),
			 RPC_INVALID_ARGUMENT);
	/* two newer snapshots push r0 out of the cache */
	sr.chunk_index = 0;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, NULL, NULL), RPC_OK);
	ctl_add_rule(&c, 6001);
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, NULL, NULL), RPC_OK);
	sr.revision = r0;
	sr.chunk_index = 1;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, NULL, &st),
			 RPC_FAILED_PRECONDITION);

	dr.from_revision = r0;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetDeltas", &dr, &dl, NULL), RPC_OK);
	assert_true(dl->complete);
	assert_int_equal(dl->n_deltas, 2);
	assert_int_equal(dl->deltas[0]->base_revision, r0);
	assert_int_equal(dl->deltas[0]->n_ops, 1);
	xdrop__v1__delta_list__free_unpacked(dl, NULL);
}

/* One chunk of the latest snapshot in the given size, packed again for comparison. */
static size_t snapshot_bytes(uint32_t max, uint8_t *buf, size_t len)
{
	Xdrop__V1__SnapshotRequest sr = XDROP__V1__SNAPSHOT_REQUEST__INIT;
	Xdrop__V1__SnapshotChunk *ch = NULL;
	size_t n;

	sr.max_items = max;
	assert_int_equal(ctl_call(c.admin, SYNC, "GetSnapshot", &sr, &ch, NULL), RPC_OK);
	assert_int_equal(ch->chunk_count, 1);
	n = xdrop__v1__snapshot_chunk__get_packed_size(ch);
	assert_true(n <= len);
	xdrop__v1__snapshot_chunk__pack(ch, buf);
	xdrop__v1__snapshot_chunk__free_unpacked(ch, NULL);
	return n;
}

/* Chunks in the agents' size are packed once and then served from the cache: the first
 * answer, the cached one and one built item by item (another size) are the same bytes. */
static void test_snapshot_packed_once(void **state)
{
	static uint8_t a[1 << 16], b[1 << 16], d[1 << 16];
	size_t na, nb, nd;

	(void)state;
	for (unsigned i = 0; i < 5; i++)
		ctl_add_rule(&c, 7000 + i);
	na = snapshot_bytes(XDROP_SNAPSHOT_MAX_ITEMS, a, sizeof(a));
	nb = snapshot_bytes(XDROP_SNAPSHOT_MAX_ITEMS, b, sizeof(b));
	nd = snapshot_bytes(XDROP_SNAPSHOT_MAX_ITEMS - 1, d, sizeof(d));
	assert_true(na > 5 * 20);
	assert_int_equal(na, nb);
	assert_int_equal(na, nd);
	assert_memory_equal(a, b, na);
	assert_memory_equal(a, d, na);
}

static void test_literal_strings(void **state)
{
	static const char *const evil[] = {
	    "'; DROP TABLE rules; --",
	    "x' OR '1'='1",
	    "\"); DELETE FROM api_keys; --",
	};
	size_t big_len = XDROP_STORE_MAX_TEXT;
	char *big = malloc(big_len + 1);
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT, *got = NULL;
	Xdrop__V1__GetRuleRequest g = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__ListRulesRequest lr = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__ListRulesResponse *lst = NULL;
	Xdrop__V1__RuleWriteReply *rep;
	Xdrop__V1__PingRequest ping = XDROP__V1__PING_REQUEST__INIT;

	for (unsigned i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.88.0.%u", i + 1);
		r.dst_ip = ip;
		r.action = "drop";
		r.name = r.comment = r.source = (char *)evil[i];
		rep = create(&r, RPC_OK, NULL);
		g.id = rep->rule->id;
		assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, &got, NULL), RPC_OK);
		assert_string_equal(got->name, evil[i]);
		assert_string_equal(got->comment, evil[i]);
		assert_string_equal(got->source, evil[i]);
		xdrop__v1__rule__free_unpacked(got, NULL);
		lr.search = (char *)evil[i];
		assert_int_equal(ctl_call(c.admin, RULES, "List", &lr, &lst, NULL), RPC_OK);
		assert_int_equal(lst->pagination->total, 1);
		xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
		xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	}
	memset(big, 'q', big_len);
	memcpy(big, evil[0], strlen(evil[0]));
	big[big_len] = '\0';
	r.dst_ip = "10.88.1.1";
	r.name = r.comment = r.source = big;
	rep = create(&r, RPC_OK, NULL);
	g.id = rep->rule->id;
	assert_int_equal(ctl_call(c.admin, RULES, "Get", &g, &got, NULL), RPC_OK);
	assert_string_equal(got->name, big);
	assert_string_equal(got->comment, big);
	assert_string_equal(got->source, big);
	xdrop__v1__rule__free_unpacked(got, NULL);
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	/* the schema is intact: the server answers and the tables still work */
	assert_int_equal(ctl_call(c.admin, HEALTH, "Ping", &ping, NULL, NULL), RPC_OK);
	assert_int_equal(store_integrity_check(c.db), 0);
	free(big);
}

/* ---- 20 concurrent writers over RPC ---------------------------------------------------- */
#define WRITERS 20
#define WRITES	10

struct writer {
	unsigned idx;
	int bad;
	char msg[XDROP_RPC_MAX_MESSAGE];
	uint64_t revs[WRITES];
};

static void *writer_main(void *p)
{
	struct writer *w = p;
	struct rpc_client *cl = ctl_client(&c, TEST_ADMIN_KEY);

	for (unsigned i = 0; i < WRITES; i++) {
		Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
		Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
		Xdrop__V1__RuleWriteReply *rep = NULL;
		struct rpc_status st;
		char ip[32];

		snprintf(ip, sizeof(ip), "10.99.%u.%u", w->idx, i);
		r.src_ip = ip;
		r.action = "drop";
		req.rule = &r;
		if (ctl_call(cl, RULES, "Create", &req, &rep, &st) != RPC_OK) {
			w->bad++;
			snprintf(w->msg, sizeof(w->msg), "%s", st.message);
			continue;
		}
		w->revs[i] = rep->sync->revision;
		xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	}
	rpc_client_close(cl);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	struct store_rev before, after;
	long t0 = now_ms();

	store_revision(c.store, &before);
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < WRITERS; i++) {
		if (w[i].bad)
			fail_msg("writer %u: %d failures, last: %s", i, w[i].bad, w[i].msg);
		for (unsigned j = 0; j < WRITES; j++)
			assert_true(w[i].revs[j] > before.revision);
	}
	store_revision(c.store, &after);
	print_message("# %d writers x %d creates over RPC: %ld ms, revisions %llu..%llu\n", WRITERS,
		      WRITES, now_ms() - t0, (unsigned long long)before.revision + 1,
		      (unsigned long long)after.revision);
	assert_int_equal(after.revision, before.revision + WRITERS * WRITES);
	assert_int_equal(after.rules, before.rules + WRITERS * WRITES);
}

static void test_stats_and_info(void **state)
{
	Xdrop__V1__InfoRequest ir = XDROP__V1__INFO_REQUEST__INIT;
	Xdrop__V1__InfoReply *info = NULL;
	Xdrop__V1__GetStatsRequest gs = XDROP__V1__GET_STATS_REQUEST__INIT;
	Xdrop__V1__StatsReply *sr = NULL;
	Xdrop__V1__HistoryRequest hr = XDROP__V1__HISTORY_REQUEST__INIT;
	struct store_rev rev;

	store_revision(c.store, &rev);
	assert_int_equal(ctl_call(c.admin, STATS, "Info", &ir, &info, NULL), RPC_OK);
	assert_string_equal(info->mode, "controller");
	assert_int_equal(info->revision, rev.revision);
	assert_string_equal(info->content_hash, rev.hash);
	xdrop__v1__info_reply__free_unpacked(info, NULL);
	assert_int_equal(ctl_call(c.admin, STATS, "Get", &gs, &sr, NULL), RPC_OK);
	assert_int_equal(sr->rules, rev.rules);
	assert_int_equal(sr->totals->rx, 0);
	xdrop__v1__stats_reply__free_unpacked(sr, NULL);
	hr.node_id = "nobody";
	assert_int_equal(ctl_call(c.admin, STATS, "History", &hr, NULL, NULL), RPC_NOT_FOUND);
}

/*
 * StatsService.History serves windows up to the longest history a controller can keep
 * (stats.history's maximum, 86400 s; the gateway takes the same): 86400 is answered, one
 * second more is INVALID_ARGUMENT naming `seconds` and saying why.
 */
static void test_history_window(void **state)
{
	Xdrop__V1__HistoryRequest hr = XDROP__V1__HISTORY_REQUEST__INIT;
	Xdrop__V1__HistoryReply *rep = NULL;
	struct rpc_status st;

	assert_int_equal(XDROP_HISTORY_WINDOW_MAX_S, 86400);
	stats_sample(c.stats);
	hr.seconds = 86400;
	assert_int_equal(ctl_call(c.admin, STATS, "History", &hr, &rep, NULL), RPC_OK);
	assert_true(rep->n_points >= 1);
	xdrop__v1__history_reply__free_unpacked(rep, NULL);
	hr.seconds = 86401;
	assert_int_equal(ctl_call(c.admin, STATS, "History", &hr, NULL, &st), RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "seconds");
	assert_non_null(strstr(st.message, "at most 86400"));
	assert_non_null(strstr(st.message, "stats.history"));
}

/*
 * Another process holds the database's write lock for longer than busy_timeout (200 ms
 * here): writes answer UNAVAILABLE saying the database is locked (not INTERNAL, not "out
 * of memory"); a non-atomic batch fails whole instead of blaming its items one by one;
 * once the lock is gone the same writes succeed.
 */
static void test_locked_database_is_unavailable(void **state)
{
	Xdrop__V1__BatchCreateRulesRequest br = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	Xdrop__V1__CreateWhitelistRequest wr = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__WhitelistEntry w = XDROP__V1__WHITELIST_ENTRY__INIT;
	Xdrop__V1__Rule r[3], *rp[3];
	Xdrop__V1__BatchReply *bat = NULL;
	struct ctl lc;
	struct rpc_status st;
	struct store_rev rev;
	sqlite3 *other = NULL;
	char ip[3][16];

	ctl_start_busy(&lc, 500, 200);
	for (int i = 0; i < 3; i++) {
		xdrop__v1__rule__init(&r[i]);
		snprintf(ip[i], sizeof(ip[i]), "10.77.0.%d", i + 1);
		r[i].dst_ip = ip[i];
		r[i].action = "drop";
		r[i].enabled = true;
		rp[i] = &r[i];
	}
	br.rules = rp;
	br.n_rules = 3;
	br.atomic = false;
	w.src_cidr = "192.0.2.0/24";
	wr.entry = &w;

	assert_int_equal(sqlite3_open(lc.db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	cr.rule = &r[0];
	assert_int_equal(ctl_call(lc.admin, RULES, "Create", &cr, NULL, &st), RPC_UNAVAILABLE);
	assert_non_null(strstr(st.message, "database is locked by another process"));
	assert_int_equal(ctl_call(lc.admin, RULES, "BatchCreate", &br, &bat, &st), RPC_UNAVAILABLE);
	assert_null(bat);
	assert_non_null(strstr(st.message, "locked"));
	assert_int_equal(ctl_call(lc.admin, WL, "Create", &wr, NULL, &st), RPC_UNAVAILABLE);
	store_revision(lc.store, &rev);
	assert_int_equal(rev.revision, 0);

	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(ctl_call(lc.admin, RULES, "BatchCreate", &br, &bat, NULL), RPC_OK);
	assert_int_equal(bat->added, 3);
	assert_int_equal(bat->n_failed, 0);
	xdrop__v1__batch_reply__free_unpacked(bat, NULL);
	assert_int_equal(ctl_call(lc.admin, WL, "Create", &wr, NULL, NULL), RPC_OK);
	store_revision(lc.store, &rev);
	assert_int_equal(rev.revision, 2);
	ctl_stop(&lc);
}

/* GetDeltas serves the change log while it is the cheaper way: a short gap gets its
 * deltas; a gap whose deltas are more bytes than a snapshot of the whole set (and more
 * than the floor of 16 KiB) gets complete = false, so the node takes the snapshot. */
static void test_deltas_weighed_against_snapshot(void **state)
{
	Xdrop__V1__DeltasRequest dr = XDROP__V1__DELTAS_REQUEST__INIT;
	Xdrop__V1__DeltaList *dl = NULL;
	struct store_rev rev;
	struct ctl lc;
	uint64_t r0, r1 = 0;

	(void)state;
	ctl_start(&lc, 500);
	store_revision(lc.store, &rev);
	r0 = rev.revision;
	/* 200 single-rule revisions: each delta carries its rule plus revisions and a
	 * 64-digit hash, about twice what the rule costs in a snapshot */
	for (unsigned i = 0; i < 200; i++) {
		ctl_add_rule(&lc, 7000 + i);
		if (i == 149)
			r1 = ctl_add_rule(&lc, 9000);
	}
	dr.from_revision = r1;
	assert_int_equal(ctl_call(lc.admin, SYNC, "GetDeltas", &dr, &dl, NULL), RPC_OK);
	assert_true(dl->complete);
	assert_int_equal(dl->n_deltas, 50);
	assert_int_equal(dl->deltas[0]->base_revision, r1);
	xdrop__v1__delta_list__free_unpacked(dl, NULL);
	dr.from_revision = r0;
	assert_int_equal(ctl_call(lc.admin, SYNC, "GetDeltas", &dr, &dl, NULL), RPC_OK);
	assert_false(dl->complete);
	assert_int_equal(dl->n_deltas, 0);
	xdrop__v1__delta_list__free_unpacked(dl, NULL);
	ctl_stop(&lc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_and_scopes),
	    cmocka_unit_test(test_rules_crud),
	    cmocka_unit_test(test_canonical_spelling),
	    cmocka_unit_test(test_batches_and_lists),
	    cmocka_unit_test(test_whitelist),
	    cmocka_unit_test(test_nodes_service),
	    cmocka_unit_test(test_sync_service),
	    cmocka_unit_test(test_snapshot_packed_once),
	    cmocka_unit_test(test_literal_strings),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_stats_and_info),
	    cmocka_unit_test(test_history_window),
	    cmocka_unit_test(test_locked_database_is_unavailable),
	    cmocka_unit_test(test_deltas_weighed_against_snapshot),
	};

	ctl_group(&c, 500);
	return cmocka_run_group_tests_name("controller services", tests, ctl_group_setup,
					   ctl_group_teardown);
}
