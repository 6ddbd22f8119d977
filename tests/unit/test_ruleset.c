// SPDX-License-Identifier: MIT
/*
 * test_ruleset: the agent's rule set (agent/ruleset/) on a real, unpinned data plane
 * (tests/lib/testdp.h) with its state directory in a temporary directory. Local writes of
 * both kinds (create, update, delete, batch), their refusals with the field named, lists,
 * controller deltas and snapshots, expiry, and the set coming back from the snapshot file
 * and the journal after a reopen. Cases that are data are tables run for each kind.
 * Needs root (BPF). Prints TAP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "clock.h"
#include "pbfield.h"
#include "ruleset.h"
#include "testdp.h"
#include "tmpdir.h"

static struct dataplane *dp;

struct fixture {
	char dir[64];
	struct ruleset *rs;
};

/* ---- messages of any kind, from field=value text ---- */

/* A message of kind k with the given "field=value" settings (strings and integers), or
 * NULL for a field the kind does not have. Free with free_msg. */
static ProtobufCMessage *msg_of(const struct ruleset_kind *k, const char *const *kv)
{
	ProtobufCMessage *m = calloc(1, k->msg->sizeof_message);

	assert_non_null(m);
	protobuf_c_message_init(k->msg, m);
	for (size_t i = 0; kv && kv[i]; i++) {
		const char *eq = strchr(kv[i], '=');
		char name[64];
		const ProtobufCFieldDescriptor *f;

		assert_non_null(eq);
		snprintf(name, sizeof(name), "%.*s", (int)(eq - kv[i]), kv[i]);
		f = pbf_field(k->msg, name);
		assert_non_null(f);
		if (f->type == PROTOBUF_C_TYPE_STRING)
			assert_int_equal(pbf_set_ptr(m, name, eq + 1), 0);
		else
			assert_int_equal(pbf_set_int(m, name, strtoll(eq + 1, NULL, 0)), 0);
	}
	return m;
}

/* Frees what msg_of made (its strings are borrowed). */
static void free_msg(ProtobufCMessage *m)
{
	free(m);
}

static size_t dp_count(const struct ruleset_kind *k)
{
	return dataplane_count(dp, k->dp_kind);
}

static size_t stored(struct ruleset *rs, const struct ruleset_kind *k)
{
	uint64_t r, w;

	ruleset_counts(rs, &r, &w);
	return k == &ruleset_rules ? r : w;
}

/* Creates one entry; returns its id (malloc'ed). */
static char *create(struct ruleset *rs, const struct ruleset_kind *k, const char *const *kv)
{
	ProtobufCMessage *m = msg_of(k, kv), *out = NULL;
	struct rpc_status st = {0};
	char *id;

	assert_int_equal(ruleset_create(rs, k, m, &out, &st), 0);
	free_msg(m);
	assert_non_null(out);
	id = strdup(pbf_str(out, k->id_field));
	ruleset_free(out);
	return id;
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	dp = testdp_open(false, false);
	return 0;
}

static int group_teardown(void **state)
{
	dataplane_close(dp);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || tmpdir_make(f->dir, sizeof(f->dir), "xdrop-ruleset"))
		return -1;
	if (testdp_load(dp, NULL)) /* every test starts from an empty data plane */
		return -1;
	if (ruleset_open(&f->rs, dp, f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ruleset_close(f->rs);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Closes and opens the set again on the same state directory and the same data plane. */
static void reopen(struct fixture *f)
{
	ruleset_close(f->rs);
	f->rs = NULL;
	assert_int_equal(ruleset_open(&f->rs, dp, f->dir), 0);
}

/* ---- the descriptors ---- */

static void test_kinds_check(void **state)
{
	(void)state;
	assert_int_equal(ruleset_kinds_check(), 0);
	for (unsigned i = 0; i < RULESET_NKINDS; i++)
		assert_int_equal(ruleset_kinds[i]->index, i);
}

/* ---- create, and its refusals ---- */

struct create_case {
	const struct ruleset_kind *kind;
	const char *kv[6];
	int err;	   /* 0 or the refusal */
	const char *field; /* named by the refusal */
};

static const struct create_case create_cases[] = {
    {&ruleset_rules, {"src_ip=10.0.0.1", "action=drop", "enabled=1"}, 0, NULL},
    {&ruleset_rules,
     {"src_cidr=10.1.0.0/16", "protocol=TCP", "dst_port=80", "action=drop", "enabled=1"},
     0,
     NULL},
    {&ruleset_rules,
     {"src_ip=10.0.0.2", "action=rate_limit", "rate_limit=100", "enabled=1"},
     0,
     NULL},
    {&ruleset_rules, {"src_ip=not-an-address", "action=drop"}, -EINVAL, "src_ip"},
    {&ruleset_rules, {"src_ip=10.0.0.3", "action=fly"}, -EINVAL, "action"},
    {&ruleset_rules, {"src_ip=10.0.0.3"}, -EINVAL, "action"},
    {&ruleset_rules, {"src_ip=10.0.0.3", "dst_port=70000", "action=drop"}, -EINVAL, "dst_port"},
    {&ruleset_rules, {"src_cidr=0.0.0.0/0", "dst_port=53", "action=drop"}, -EINVAL, "src_cidr"},
    {&ruleset_whitelist, {"src_ip=192.0.2.1"}, 0, NULL},
    {&ruleset_whitelist, {"dst_cidr=2001:db8::/32", "protocol=udp", "dst_port=53"}, 0, NULL},
    {&ruleset_whitelist, {"src_ip=192.0.2.300"}, -EINVAL, "src_ip"},
    {&ruleset_whitelist, {"src_ip=192.0.2.1", "src_port=65536"}, -EINVAL, "src_port"},
    {&ruleset_whitelist, {"dst_cidr=0.0.0.0/0", "dst_port=22"}, -EINVAL, "dst_cidr"},
};

static void test_create_table(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(create_cases) / sizeof(create_cases[0]); i++) {
		const struct create_case *c = &create_cases[i];
		ProtobufCMessage *m = msg_of(c->kind, c->kv), *out = NULL;
		struct rpc_status st = {0};
		size_t before = stored(f->rs, c->kind), dp_before = dp_count(c->kind);
		uint64_t rev = ruleset_revision(f->rs);
		int err = ruleset_create(f->rs, c->kind, m, &out, &st);

		print_message("# %s %zu: %s %s\n", c->kind->noun, i, c->err ? "refused" : "created",
			      err ? st.message : "");
		assert_int_equal(err, c->err);
		if (c->err) {
			assert_null(out);
			assert_string_equal(st.field, c->field);
			assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
			assert_int_equal(stored(f->rs, c->kind), before);
			assert_int_equal(ruleset_revision(f->rs), rev);
		} else {
			/* what a local write assigns: an id, the creation time */
			assert_int_equal(strlen(pbf_str(out, c->kind->id_field)), 36);
			assert_true(pbf_int(out, c->kind->created_field) > 0);
			assert_int_equal(stored(f->rs, c->kind), before + 1);
			assert_int_equal(dp_count(c->kind), dp_before + 1);
			assert_int_equal(ruleset_revision(f->rs), rev + 1);
		}
		ruleset_free(out);
		free_msg(m);
	}
}

static void test_create_canonical_and_defaults(void **state)
{
	struct fixture *f = *state;
	const char *kv[] = {"src_cidr=10.0.0.0/08", "protocol=TCP", "action=drop", NULL};
	char *id = create(f->rs, &ruleset_rules, kv);
	Xdrop__V1__Rule *r = (Xdrop__V1__Rule *)ruleset_get(f->rs, &ruleset_rules, id);

	assert_non_null(r);
	assert_string_equal(r->src_cidr, "10.0.0.0/8");
	assert_string_equal(r->protocol, "tcp");
	assert_string_equal(r->source, "api");
	assert_true(r->updated_at >= r->created_at);
	assert_null(ruleset_get(f->rs, &ruleset_whitelist, id)); /* kinds do not mix */
	ruleset_free(&r->base);
	free(id);
}

static void test_duplicate_match_refused(void **state)
{
	struct fixture *f = *state;

	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		const struct ruleset_kind *kind = ruleset_kinds[k];
		const char *kv[] = {"src_ip=198.51.100.7", k ? NULL : "action=drop", "enabled=1",
				    NULL};
		char *id = create(f->rs, kind, kv);
		ProtobufCMessage *m = msg_of(kind, kv), *out = NULL;
		struct rpc_status st = {0};

		assert_int_equal(ruleset_create(f->rs, kind, m, &out, &st), -EEXIST);
		assert_int_equal(st.code, RPC_ALREADY_EXISTS);
		assert_string_equal(st.field, "rule");
		assert_non_null(strstr(st.message, id)); /* the entry holding the match */
		free_msg(m);
		free(id);
	}
}

/* The caller's id on a create is kept (as the controller keeps it); one already stored, one
 * given twice in a batch or one outside the id rule is refused, and nothing is stored. */
static void test_create_keeps_caller_id(void **state)
{
	struct fixture *f = *state;

	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		const struct ruleset_kind *kind = ruleset_kinds[k];
		const char *kv[][4] = {{"src_ip=10.8.0.1", "action=drop", NULL},
				       {"src_ip=10.8.0.2", "action=drop", NULL},
				       {"src_ip=10.8.0.3", "action=drop", NULL}};
		const char *ids[] = {"mine-1", "mine-2", "mine-1"};
		ProtobufCMessage *m[3], *out = NULL;
		struct rpc_status st = {0};
		size_t badi = 99;

		for (size_t i = 0; i < 3; i++) {
			if (k)
				kv[i][1] = NULL;
			m[i] = msg_of(kind, kv[i]);
			pbf_set_ptr(m[i], kind->id_field, ids[i]);
		}
		assert_int_equal(ruleset_create_many(f->rs, kind, m, 3, NULL, &st, &badi), -EEXIST);
		assert_int_equal(st.code, RPC_ALREADY_EXISTS);
		assert_int_equal(badi, 2);
		assert_int_equal(stored(f->rs, kind), 0);
		assert_int_equal(ruleset_create(f->rs, kind, m[0], &out, &st), 0);
		assert_string_equal(pbf_str(out, kind->id_field), "mine-1");
		ruleset_free(out);
		out = NULL;
		assert_int_equal(ruleset_create(f->rs, kind, m[2], &out, &st), -EEXIST);
		assert_string_equal(st.field, kind->id_field);
		pbf_set_ptr(m[1], kind->id_field, "no:colons");
		assert_int_equal(ruleset_create(f->rs, kind, m[1], &out, &st), -EINVAL);
		assert_string_equal(st.field, kind->id_field);
		assert_int_equal(stored(f->rs, kind), 1);
		for (size_t i = 0; i < 3; i++)
			free_msg(m[i]);
	}
}

/* ---- update ---- */

static void test_update(void **state)
{
	struct fixture *f = *state;
	const char *kv[] = {"src_ip=10.9.0.1", "action=drop", "name=old", NULL};
	const char *nkv[] = {"name=new", "action=pass", NULL};
	char *id = create(f->rs, &ruleset_rules, kv), *mask[] = {"name"}, *bad[] = {"id"};
	ProtobufCMessage *m = msg_of(&ruleset_rules, nkv), *out = NULL;
	struct rpc_status st = {0};
	Xdrop__V1__Rule *r;

	/* only the masked field changes; id and creation time stay */
	assert_int_equal(ruleset_update(f->rs, &ruleset_rules, id, m, mask, 1, &out, &st), 0);
	r = (Xdrop__V1__Rule *)out;
	assert_string_equal(r->id, id);
	assert_string_equal(r->name, "new");
	assert_string_equal(r->action, "drop");
	ruleset_free(out);
	out = NULL;
	/* a read-only or unknown field in the mask */
	assert_int_equal(ruleset_update(f->rs, &ruleset_rules, id, m, bad, 1, &out, &st), -EINVAL);
	assert_string_equal(st.field, "update_mask");
	/* no such id */
	assert_int_equal(ruleset_update(f->rs, &ruleset_rules, "nope", m, NULL, 0, &out, &st),
			 -ENOENT);
	assert_string_equal(st.field, "id");
	assert_non_null(strstr(st.message, "no rule with id nope"));
	/* an empty mask replaces every writable field (this one loses its match) */
	assert_int_equal(ruleset_update(f->rs, &ruleset_rules, id, m, NULL, 0, &out, &st), -EINVAL);
	assert_string_equal(st.field, "src_ip");
	free_msg(m);
	free(id);
}

static void test_update_whitelist(void **state)
{
	struct fixture *f = *state;
	const char *kv[] = {"src_ip=10.9.0.2", NULL}, *nkv[] = {"comment=ops", NULL};
	char *id = create(f->rs, &ruleset_whitelist, kv), *mask[] = {"comment"};
	ProtobufCMessage *m = msg_of(&ruleset_whitelist, nkv), *out = NULL;
	struct rpc_status st = {0};

	assert_int_equal(ruleset_update(f->rs, &ruleset_whitelist, id, m, mask, 1, &out, &st), 0);
	assert_string_equal(pbf_str(out, "comment"), "ops");
	assert_string_equal(pbf_str(out, "src_ip"), "10.9.0.2");
	ruleset_free(out);
	free_msg(m);
	free(id);
}

/* ---- delete ---- */

static void test_delete(void **state)
{
	struct fixture *f = *state;

	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		const struct ruleset_kind *kind = ruleset_kinds[k];
		const char *a[] = {"src_ip=10.8.0.1", k ? NULL : "action=drop", "enabled=1", NULL};
		const char *b[] = {"src_ip=10.8.0.2", k ? NULL : "action=drop", "enabled=1", NULL};
		char *ids[2] = {create(f->rs, kind, a), create(f->rs, kind, b)};
		char *missing[] = {ids[0], "no-such-id"};
		struct rpc_status st = {0};

		assert_int_equal(dp_count(kind), 2);
		/* one absent id refuses the whole change */
		assert_int_equal(ruleset_delete(f->rs, kind, missing, 2, &st), -ENOENT);
		assert_string_equal(st.field, "id");
		assert_int_equal(stored(f->rs, kind), 2);
		assert_int_equal(ruleset_delete(f->rs, kind, ids, 2, &st), 0);
		assert_int_equal(stored(f->rs, kind), 0);
		assert_int_equal(dp_count(kind), 0);
		free(ids[0]);
		free(ids[1]);
	}
}

/* ---- batches ---- */

static void test_batch(void **state)
{
	struct fixture *f = *state;

	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		const struct ruleset_kind *kind = ruleset_kinds[k];
		const char *good[][4] = {{"src_ip=10.7.0.1", "action=drop", "enabled=1"},
					 {"src_ip=10.7.0.2", "action=drop", "enabled=1"},
					 {"src_ip=10.7.0.3", "action=drop", "enabled=1"}};
		const char *bad[] = {"src_ip=10.7.0.x", "action=drop", NULL};
		ProtobufCMessage *msgs[3];
		struct rpc_status st = {0};
		char **ids = NULL;
		size_t badi = 99;

		for (size_t i = 0; i < 3; i++) {
			if (k)
				good[i][1] = NULL; /* whitelist entries have no action */
			msgs[i] = msg_of(kind, good[i]);
		}
		/* all or nothing: the refused item is named */
		free_msg(msgs[1]);
		if (k)
			bad[1] = NULL;
		msgs[1] = msg_of(kind, bad);
		assert_int_equal(ruleset_create_many(f->rs, kind, msgs, 3, &ids, &st, &badi),
				 -EINVAL);
		assert_int_equal(badi, 1);
		assert_string_equal(st.field, "src_ip");
		assert_null(ids);
		assert_int_equal(stored(f->rs, kind), 0);
		free_msg(msgs[1]);
		msgs[1] = msg_of(kind, good[1]);
		assert_int_equal(ruleset_create_many(f->rs, kind, msgs, 3, &ids, &st, &badi), 0);
		assert_int_equal(stored(f->rs, kind), 3);
		assert_int_equal(dp_count(kind), 3);
		for (size_t i = 0; i < 3; i++) {
			ProtobufCMessage *got = ruleset_get(f->rs, kind, ids[i]);

			assert_non_null(got);
			ruleset_free(got);
			free(ids[i]);
			free_msg(msgs[i]);
		}
		assert_null(ids[3]);
		free(ids);
		/* the limit names the batch's field */
		assert_int_equal(
		    ruleset_create_many(f->rs, kind, NULL, kind->batch_max + 1, NULL, &st, &badi),
		    -ENOSPC);
		assert_string_equal(st.field, kind->list_field);
	}
}

/* ---- lists ---- */

static void test_list(void **state)
{
	struct fixture *f = *state;
	const char *rules[][5] = {{"src_ip=10.6.0.1", "action=drop", "name=b"},
				  {"src_ip=10.6.0.2", "action=pass", "name=a", "comment=Web"},
				  {"src_ip=10.6.0.3", "action=drop", "name=c"}};
	Xdrop__V1__ListRulesRequest q = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__ListRulesResponse r = XDROP__V1__LIST_RULES_RESPONSE__INIT;

	for (size_t i = 0; i < 3; i++)
		free(create(f->rs, &ruleset_rules, rules[i]));
	q.sort = "name";
	q.order = "desc";
	q.limit = 2;
	assert_int_equal(ruleset_list(f->rs, &ruleset_rules, &q.base, &r.base), 0);
	assert_int_equal(r.n_rules, 2);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.rules[0]->name, "c");
	assert_string_equal(r.rules[1]->name, "b");
	assert_int_equal(r.pagination->total, 3);
	assert_int_equal(r.pagination->pages, 2);
	for (size_t i = 0; i < r.n_rules; i++)
		ruleset_free(&r.rules[i]->base);
	free(r.rules);
	free(r.pagination);

	/* a filter and the search text (case-insensitive, over name, comment, addresses) */
	xdrop__v1__list_rules_response__init(&r);
	xdrop__v1__list_rules_request__init(&q);
	q.action = "pass";
	q.search = "web";
	assert_int_equal(ruleset_list(f->rs, &ruleset_rules, &q.base, &r.base), 0);
	assert_int_equal(r.n_rules, 1);
	assert_string_equal(r.rules[0]->name, "a");
	ruleset_free(&r.rules[0]->base);
	free(r.rules);
	free(r.pagination);
}

static void test_list_whitelist(void **state)
{
	struct fixture *f = *state;
	const char *a[] = {"src_ip=10.5.0.1", "name=x", NULL}, *b[] = {"src_ip=10.5.0.2", NULL};
	Xdrop__V1__ListWhitelistRequest q = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
	Xdrop__V1__ListWhitelistResponse r = XDROP__V1__LIST_WHITELIST_RESPONSE__INIT;

	free(create(f->rs, &ruleset_whitelist, a));
	free(create(f->rs, &ruleset_whitelist, b));
	q.search = "10.5.0.2";
	assert_int_equal(ruleset_list(f->rs, &ruleset_whitelist, &q.base, &r.base), 0);
	assert_int_equal(r.n_entries, 1);
	assert_string_equal(r.entries[0]->src_ip, "10.5.0.2");
	assert_int_equal(r.pagination->total, 1);
	ruleset_free(&r.entries[0]->base);
	free(r.entries);
	free(r.pagination);
}

/* ---- the controller's changes ---- */

static void test_delta(void **state)
{
	struct fixture *f = *state;
	const char *kv[] = {"id=ctl-1", "src_ip=10.4.0.1", "action=drop", "enabled=1", NULL};
	ProtobufCMessage *m = msg_of(&ruleset_rules, kv);
	Xdrop__V1__DeltaOp op = XDROP__V1__DELTA_OP__INIT, *ops[] = {&op};
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	struct rpc_status st = {0};
	uint64_t rev = ruleset_revision(f->rs);

	op.op_case = XDROP__V1__DELTA_OP__OP_UPSERT_RULE;
	op.upsert_rule = (Xdrop__V1__Rule *)m;
	d.ops = ops;
	d.n_ops = 1;
	d.base_revision = rev + 5;
	d.revision = rev + 6;
	assert_int_equal(ruleset_apply_delta(f->rs, &d, &st), -ESTALE);
	assert_string_equal(st.field, "base_revision");
	d.base_revision = rev;
	d.revision = rev + 7;
	assert_int_equal(ruleset_apply_delta(f->rs, &d, &st), 0);
	assert_int_equal(ruleset_revision(f->rs), rev + 7);
	assert_int_equal(dp_count(&ruleset_rules), 1);
	/* and its deletion */
	op.op_case = XDROP__V1__DELTA_OP__OP_DELETE_RULE;
	op.delete_rule = "ctl-1";
	d.base_revision = rev + 7;
	d.revision = rev + 8;
	assert_int_equal(ruleset_apply_delta(f->rs, &d, &st), 0);
	assert_int_equal(stored(f->rs, &ruleset_rules), 0);
	assert_int_equal(dp_count(&ruleset_rules), 0);
	free_msg(m);
}

static void test_snapshot_staging(void **state)
{
	struct fixture *f = *state;
	const char *rkv[] = {"id=r1", "src_ip=10.3.0.1", "action=drop", "enabled=1", NULL};
	const char *wkv[] = {"id=w1", "src_ip=10.3.0.2", NULL};
	ProtobufCMessage *rm = msg_of(&ruleset_rules, rkv), *wm = msg_of(&ruleset_whitelist, wkv);
	Xdrop__V1__Rule *rules[] = {(Xdrop__V1__Rule *)rm};
	Xdrop__V1__WhitelistEntry *wl[] = {(Xdrop__V1__WhitelistEntry *)wm};
	Xdrop__V1__SnapshotChunk c = XDROP__V1__SNAPSHOT_CHUNK__INIT;
	struct rpc_status st = {0};
	char hash[RULEHASH_HEX];

	c.revision = 40;
	c.chunk_count = 1;
	c.rules = rules;
	c.n_rules = 1;
	c.whitelist = wl;
	c.n_whitelist = 1;
	/* a wrong content hash: refused, nothing installed */
	ruleset_stage_begin(f->rs, 40, "00", 1);
	assert_int_equal(ruleset_stage_chunk(f->rs, &c, &st), 0);
	assert_int_equal(ruleset_stage_commit(f->rs, &st), -EBADMSG);
	assert_int_equal(st.code, RPC_DATA_LOSS);
	assert_string_equal(st.field, "content_hash");
	assert_int_equal(stored(f->rs, &ruleset_rules), 0);
	/* a chunk out of order */
	ruleset_stage_begin(f->rs, 40, "", 2);
	c.chunk_index = 1;
	c.chunk_count = 2;
	assert_int_equal(ruleset_stage_chunk(f->rs, &c, &st), -ESTALE);
	assert_string_equal(st.field, "chunk_index");
	/* no hash to check: installed, and persisted */
	c.chunk_index = 0;
	c.chunk_count = 1;
	ruleset_stage_begin(f->rs, 40, "", 1);
	assert_int_equal(ruleset_stage_chunk(f->rs, &c, &st), 0);
	assert_int_equal(ruleset_stage_next(f->rs), 1);
	assert_int_equal(ruleset_stage_commit(f->rs, &st), 0);
	assert_int_equal(ruleset_stage_next(f->rs), -1);
	assert_int_equal(ruleset_revision(f->rs), 40);
	assert_int_equal(dp_count(&ruleset_rules), 1);
	assert_int_equal(dp_count(&ruleset_whitelist), 1);
	ruleset_hash(f->rs, hash);
	reopen(f);
	assert_int_equal(ruleset_revision(f->rs), 40);
	assert_int_equal(stored(f->rs, &ruleset_whitelist), 1);
	free_msg(rm);
	free_msg(wm);
}

/* Each chunk is validated as it is staged (its entries made into items then) and the ids
 * across chunks are checked at the commit: a bad entry is refused with its field and leaves
 * the chunk unstaged; an id given twice in two chunks refuses the whole snapshot. */
static void test_snapshot_staging_refusals(void **state)
{
	struct fixture *f = *state;
	const char *akv[] = {"id=r1", "src_ip=10.4.0.1", "action=drop", "enabled=1", NULL};
	const char *bkv[] = {"id=r1", "src_ip=10.4.0.2", "action=drop", "enabled=1", NULL};
	const char *xkv[] = {"id=r2", "src_ip=10.4.0.300", "action=drop", "enabled=1", NULL};
	ProtobufCMessage *a = msg_of(&ruleset_rules, akv), *b = msg_of(&ruleset_rules, bkv),
			 *x = msg_of(&ruleset_rules, xkv);
	Xdrop__V1__Rule *ra[] = {(Xdrop__V1__Rule *)a}, *rb[] = {(Xdrop__V1__Rule *)b},
			*rx[] = {(Xdrop__V1__Rule *)x};
	Xdrop__V1__SnapshotChunk c = XDROP__V1__SNAPSHOT_CHUNK__INIT;
	struct rpc_status st = {0};

	c.revision = 50;
	c.chunk_count = 2;
	c.n_rules = 1;
	/* an invalid entry: refused at its chunk, which stays unstaged */
	ruleset_stage_begin(f->rs, 50, "", 2);
	c.rules = rx;
	assert_int_equal(ruleset_stage_chunk(f->rs, &c, &st), -EINVAL);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "src_ip");
	assert_int_equal(ruleset_stage_next(f->rs), 0);
	/* the same id in two chunks: both staged, the commit refuses the snapshot */
	c.rules = ra;
	assert_int_equal(ruleset_stage_chunk(f->rs, &c, &st), 0);
	c.chunk_index = 1;
	c.rules = rb;
	assert_int_equal(ruleset_stage_chunk(f->rs, &c, &st), 0);
	assert_int_equal(ruleset_stage_next(f->rs), 2);
	memset(&st, 0, sizeof(st));
	assert_int_equal(ruleset_stage_commit(f->rs, &st), -EINVAL);
	assert_string_equal(st.field, "id");
	assert_int_equal(ruleset_stage_next(f->rs), -1);
	assert_int_equal(stored(f->rs, &ruleset_rules), 0);
	assert_int_equal(dp_count(&ruleset_rules), 0);
	assert_int_not_equal(ruleset_revision(f->rs), 50);
	free_msg(a);
	free_msg(b);
	free_msg(x);
}

/* ---- persistence ---- */

static void test_journal_across_reopen(void **state)
{
	struct fixture *f = *state;
	const char *r1[] = {"src_ip=10.2.0.1", "action=drop", "enabled=1", NULL};
	const char *r2[] = {"src_ip=10.2.0.2", "action=drop", "enabled=0", NULL};
	const char *w1[] = {"src_ip=10.2.0.3", NULL};
	char *ids[3], hash[RULEHASH_HEX], hash2[RULEHASH_HEX];
	struct rpc_status st = {0};
	uint64_t rev;

	ids[0] = create(f->rs, &ruleset_rules, r1);
	ids[1] = create(f->rs, &ruleset_rules, r2); /* stored, not in the data plane */
	ids[2] = create(f->rs, &ruleset_whitelist, w1);
	assert_int_equal(ruleset_delete(f->rs, &ruleset_rules, &ids[0], 1, &st), 0);
	rev = ruleset_revision(f->rs);
	ruleset_hash(f->rs, hash);
	reopen(f);
	assert_int_equal(ruleset_revision(f->rs), rev);
	ruleset_hash(f->rs, hash2);
	assert_string_equal(hash, hash2);
	assert_int_equal(stored(f->rs, &ruleset_rules), 1);
	assert_int_equal(stored(f->rs, &ruleset_whitelist), 1);
	assert_int_equal(dp_count(&ruleset_rules), 0);
	assert_int_equal(dp_count(&ruleset_whitelist), 1);
	/* a write after the replay continues the journal */
	free(create(f->rs, &ruleset_rules, r1));
	reopen(f);
	assert_int_equal(ruleset_revision(f->rs), rev + 1);
	assert_int_equal(dp_count(&ruleset_rules), 1);
	for (size_t i = 0; i < 3; i++)
		free(ids[i]);
}

static void test_torn_journal_record(void **state)
{
	struct fixture *f = *state;
	const char *r1[] = {"src_ip=10.1.0.1", "action=drop", NULL};
	char path[256];
	FILE *j;
	uint64_t rev;

	free(create(f->rs, &ruleset_rules, r1));
	rev = ruleset_revision(f->rs);
	snprintf(path, sizeof(path), "%s/state.journal", f->dir);
	j = fopen(path, "a");
	assert_non_null(j);
	fwrite("\x40\x00\x00\x00\x08", 1, 5, j); /* a length, then less than it promised */
	fclose(j);
	reopen(f);
	assert_int_equal(ruleset_revision(f->rs), rev);
	assert_int_equal(stored(f->rs, &ruleset_rules), 1);
}

/* ---- expiry ---- */

static void test_expire(void **state)
{
	struct fixture *f = *state;
	char at[64];
	const char *kv[] = {"src_ip=10.0.9.1", "action=drop", "enabled=1", at, NULL};

	snprintf(at, sizeof(at), "expires_at=%lld", (long long)(clock_wall_ns() + 3600e9));
	free(create(f->rs, &ruleset_rules, kv));
	assert_int_equal(dp_count(&ruleset_rules), 1);
	assert_int_equal(ruleset_expire(f->rs, clock_wall_ns()), 0);
	assert_int_equal(ruleset_expire(f->rs, clock_wall_ns() + (int64_t)7200e9), 1);
	assert_int_equal(dp_count(&ruleset_rules), 0);
	assert_int_equal(stored(f->rs, &ruleset_rules), 1); /* it stays stored */
}

/* Rules expire in the order of their expires_at, whatever the order they were written,
 * updated or deleted in (the expiry heap), also after a reopen; disabled rules and
 * whitelist entries are never taken out. */
static void test_expire_order(void **state)
{
	struct fixture *f = *state;
	enum { N = 40 };
	const int64_t s = 1000000000, base = clock_wall_ns() + 3600 * s;
	char ip[N][32], at[N][64], *ids[N], later[64];
	const char *wl[] = {"src_ip=10.9.0.1", NULL};
	const char *off[] = {"src_ip=10.9.0.2", "action=drop", "enabled=0", at[0], NULL};
	const char *mask[] = {"expires_at"};
	ProtobufCMessage *m, *out = NULL;
	struct rpc_status st = {0};
	const char *kv[5];
	int gone = 0;

	/* rule i expires (i * 17) % N + 1 seconds after base: a shuffled order */
	for (int i = 0; i < N; i++) {
		snprintf(ip[i], sizeof(ip[i]), "src_ip=10.8.0.%d", i + 1);
		snprintf(at[i], sizeof(at[i]), "expires_at=%lld",
			 (long long)(base + ((i * 17) % N + 1) * s));
		kv[0] = ip[i], kv[1] = "action=drop", kv[2] = "enabled=1", kv[3] = at[i];
		kv[4] = NULL;
		ids[i] = create(f->rs, &ruleset_rules, kv);
	}
	free(create(f->rs, &ruleset_whitelist, wl));
	free(create(f->rs, &ruleset_rules, off));
	/* rule 0 (due at +1 s) is deleted, rule 3 (+12 s) now expires after every other */
	assert_int_equal(ruleset_delete(f->rs, &ruleset_rules, &ids[0], 1, &st), 0);
	snprintf(later, sizeof(later), "expires_at=%lld", (long long)(base + (N + 5) * s));
	kv[0] = later, kv[1] = NULL;
	m = msg_of(&ruleset_rules, kv);
	assert_int_equal(
	    ruleset_update(f->rs, &ruleset_rules, ids[3], m, (char **)mask, 1, &out, &st), 0);
	ruleset_free(out);
	free_msg(m);
	reopen(f); /* the heap is rebuilt from the state directory */
	assert_int_equal(ruleset_expire(f->rs, base), 0);
	/* second by second: exactly the rules due by then (one a second, bar 0 and 3) */
	for (int t = 1; t <= N; t++) {
		int due = t != 1 && t != 12;

		assert_int_equal(ruleset_expire(f->rs, base + t * s), due);
		gone += due;
		assert_int_equal(dp_count(&ruleset_rules), N - 1 - gone);
	}
	assert_int_equal(dp_count(&ruleset_rules), 1); /* rule 3 */
	assert_int_equal(ruleset_expire(f->rs, base + (N + 5) * s), 1);
	assert_int_equal(dp_count(&ruleset_rules), 0);
	assert_int_equal(dp_count(&ruleset_whitelist), 1);
	assert_int_equal(stored(f->rs, &ruleset_rules), N); /* N - 1, and the disabled one */
	for (int i = 0; i < N; i++)
		free(ids[i]);
}

/* A journal that grows beyond half the snapshot (256 KiB at least) is folded into a new
 * snapshot, which a reopen reads back field for field (the items' packed bytes, written
 * without unpacking the set, and read one element at a time). */
static void test_journal_folded_by_size(void **state)
{
	struct fixture *f = *state;
	enum { N = 2000 };
	static char ip[N][32], name[N][32];
	const char *comment = "comment=a comment long enough that 2000 rules make a journal "
			      "of more than 256 KiB, so that it is folded into the snapshot";
	const char *kv[] = {NULL, NULL, "action=drop", NULL, "source=feed-x", "enabled=1", NULL};
	ProtobufCMessage *msgs[N], *got;
	struct rpc_status st = {0};
	char path[256], **ids = NULL;
	struct stat sb;
	size_t bad;

	for (int i = 0; i < N; i++) {
		snprintf(ip[i], sizeof(ip[i]), "src_ip=10.%d.%d.1", 20 + i / 250, i % 250);
		snprintf(name[i], sizeof(name[i]), "name=r%d", i);
		kv[0] = ip[i], kv[1] = name[i], kv[3] = comment;
		msgs[i] = msg_of(&ruleset_rules, kv);
	}
	assert_int_equal(ruleset_create_many(f->rs, &ruleset_rules, msgs, N / 2, &ids, &st, &bad),
			 0);
	for (size_t i = 0; ids[i]; i++)
		free(ids[i]);
	free(ids);
	snprintf(path, sizeof(path), "%s/state.snapshot", f->dir);
	assert_int_not_equal(stat(path, &sb), 0); /* 1000 rules: still in the journal */
	assert_int_equal(
	    ruleset_create_many(f->rs, &ruleset_rules, msgs + N / 2, N / 2, &ids, &st, &bad), 0);
	assert_int_equal(stat(path, &sb), 0); /* the second batch folded the journal */
	assert_true(sb.st_size > 256 * 1024);
	snprintf(path, sizeof(path), "%s/state.journal", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	reopen(f);
	assert_int_equal(stored(f->rs, &ruleset_rules), N);
	assert_int_equal(dp_count(&ruleset_rules), N);
	got = ruleset_get(f->rs, &ruleset_rules, ids[N / 2 - 1]);
	assert_non_null(got);
	assert_string_equal(((Xdrop__V1__Rule *)got)->name, "r1999");
	assert_string_equal(((Xdrop__V1__Rule *)got)->comment, comment + strlen("comment="));
	assert_string_equal(((Xdrop__V1__Rule *)got)->source, "feed-x");
	assert_string_equal(((Xdrop__V1__Rule *)got)->src_ip, "10.27.249.1");
	assert_true(((Xdrop__V1__Rule *)got)->enabled);
	ruleset_free(got);
	for (size_t i = 0; ids[i]; i++)
		free(ids[i]);
	free(ids);
	for (int i = 0; i < N; i++)
		free_msg(msgs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kinds_check),
	    cmocka_unit_test_setup_teardown(test_create_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_canonical_and_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_match_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_keeps_caller_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_whitelist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_whitelist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_staging, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_staging_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_journal_across_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_journal_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expire_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_journal_folded_by_size, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
