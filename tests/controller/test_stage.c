// SPDX-License-Identifier: MIT
/*
 * test_stage: staged imports against an in-process controller (real SQLite, RPC over
 * loopback): a BatchCreate of more than 10,000 rules in chunks (out of order) committed as
 * ONE revision; a chunk refused mid-stream (naming the item by its index in the whole set)
 * leaving the old state, its stage gone; a commit refused (a match stored already) rolled
 * back whole; a commit before every chunk arrived refused; a staged ReplaceSource whose
 * refresh costs the diff (the delta holds the changed rules only) while a reader sees the
 * old feed or the new one, never a mix; and a refresh refused up front when a node's
 * data plane has no room for what it adds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "log.h"

static struct ctl c;

#define RULES (&xdrop__v1__rule_service__descriptor)
#define SYNC  (&xdrop__v1__sync_service__descriptor)
#define CHUNK 5000
#define BIG   15000 /* more than one batch (XDROP_BATCH_MAX) */

/* Rules [0, n) dropping 20.g.x.y (generation g), in rules (pointers into store). */
struct set {
	Xdrop__V1__Rule r[BIG];
	Xdrop__V1__Rule *p[BIG];
	char ip[BIG][20];
};
static struct set set;

static void make_set(unsigned g, size_t n, const char *source)
{
	for (size_t i = 0; i < n; i++) {
		xdrop__v1__rule__init(&set.r[i]);
		snprintf(set.ip[i], sizeof(set.ip[i]), "20.%u.%zu.%zu", g, i >> 8, i & 255);
		set.r[i].src_ip = set.ip[i];
		set.r[i].action = "drop";
		set.r[i].enabled = true;
		set.r[i].name = "staged";
		set.r[i].source = (char *)source;
		set.p[i] = &set.r[i];
	}
}

static uint64_t revision(uint64_t *rules)
{
	struct store_rev r;

	store_revision(c.store, &r);
	if (rules)
		*rules = r.rules;
	return r.revision;
}

/* The StagePart of chunk at of stage name (commit with total). */
static Xdrop__V1__StagePart stage_part(const char *name, size_t at, bool commit, size_t total)
{
	Xdrop__V1__StagePart part = XDROP__V1__STAGE_PART__INIT;

	part.stage = (char *)name;
	part.offset = (uint32_t)at;
	part.commit = commit;
	part.total = (uint32_t)total;
	return part;
}

/* BatchCreate chunk [at, at + m) of set, stage name; commit with total. */
static enum rpc_code batch_chunk(const char *name, size_t at, size_t m, bool commit, size_t total,
				 Xdrop__V1__BatchReply **rep, struct rpc_status *st)
{
	Xdrop__V1__BatchCreateRulesRequest req = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	Xdrop__V1__StagePart part = stage_part(name, at, commit, total);

	req.rules = set.p + at;
	req.n_rules = m;
	req.stage = &part;
	*rep = NULL;
	return ctl_call(c.admin, RULES, "BatchCreate", &req, rep, st);
}

/* ReplaceSource chunk [at, at + m) of set for source. */
static enum rpc_code replace_chunk(const char *name, const char *source, size_t at, size_t m,
				   bool commit, size_t total, Xdrop__V1__ReplaceSourceReply **rep,
				   struct rpc_status *st)
{
	Xdrop__V1__ReplaceSourceRequest req = XDROP__V1__REPLACE_SOURCE_REQUEST__INIT;
	Xdrop__V1__StagePart part = stage_part(name, at, commit, total);

	req.source = (char *)source;
	req.rules = set.p + at;
	req.n_rules = m;
	req.stage = &part;
	*rep = NULL;
	return ctl_call(c.admin, RULES, "ReplaceSource", &req, rep, st);
}

/* The ops of the delta that made revision rev (from the change log: GetDeltas sends a node
 * this large a delta as a snapshot instead). */
static size_t delta_ops(uint64_t rev)
{
	Xdrop__V1__Delta **v = NULL;
	bool complete = false;
	size_t n = 0, ops;

	assert_int_equal(store_deltas(c.store, rev - 1, 1, &v, &n, &complete), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0]->revision, rev);
	ops = v[0]->n_ops;
	store_free_deltas(v, n);
	return ops;
}

static void test_batch_beyond_cap_one_revision(void **state)
{
	Xdrop__V1__BatchReply *rep;
	uint64_t n0, n1, r0 = revision(&n0);

	make_set(1, BIG, "import");
	/* chunks out of order (a client sends several at once), the last one commits */
	assert_int_equal(batch_chunk("s-one", CHUNK, CHUNK, false, 0, &rep, NULL), RPC_OK);
	assert_int_equal(rep->staged, CHUNK);
	assert_int_equal(rep->added, 0);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(batch_chunk("s-one", 0, CHUNK, false, 0, &rep, NULL), RPC_OK);
	assert_int_equal(rep->staged, 2 * CHUNK);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(revision(NULL), r0); /* held, nothing stored yet */
	assert_int_equal(batch_chunk("s-one", 2 * CHUNK, CHUNK, true, BIG, &rep, NULL), RPC_OK);
	assert_int_equal(rep->added, BIG);
	assert_int_equal(rep->n_ids, 0); /* the counts only */
	assert_non_null(rep->sync);
	assert_int_equal(rep->sync->revision, r0 + 1);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(revision(&n1), r0 + 1);
	assert_int_equal(n1, n0 + BIG);
	assert_int_equal(delta_ops(r0 + 1), BIG);
}

static void test_chunk_refused_leaves_old_state(void **state)
{
	Xdrop__V1__BatchReply *rep;
	struct rpc_status st;
	uint64_t n0, n1, r0 = revision(&n0);

	make_set(2, BIG, "import");
	set.r[CHUNK + 3].src_ip = "300.1.2.3";
	assert_int_equal(batch_chunk("s-bad", 0, CHUNK, false, 0, &rep, NULL), RPC_OK);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(batch_chunk("s-bad", CHUNK, CHUNK, false, 0, &rep, &st),
			 RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "rules[5003].src_ip"); /* the index in the whole set */
	/* the stage is gone: its commit stores nothing */
	set.r[CHUNK + 3].src_ip = set.ip[CHUNK + 3];
	assert_int_equal(batch_chunk("s-bad", 2 * CHUNK, CHUNK, true, BIG, &rep, &st),
			 RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "nothing was stored"));
	assert_int_equal(revision(&n1), r0);
	assert_int_equal(n1, n0);
}

static void test_commit_refused_rolls_back(void **state)
{
	Xdrop__V1__BatchReply *rep;
	struct rpc_status st;
	uint64_t n0, n1, r0;

	make_set(1, BIG, "import"); /* generation 1 is stored: the whole set collides */
	set.r[0].src_ip = "20.9.0.0";
	set.r[1].src_ip = "20.9.0.1";
	r0 = revision(&n0);
	assert_int_equal(batch_chunk("s-dup", 0, CHUNK, false, 0, &rep, NULL), RPC_OK);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(batch_chunk("s-dup", CHUNK, CHUNK, false, 0, &rep, NULL), RPC_OK);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(batch_chunk("s-dup", 2 * CHUNK, CHUNK, true, BIG, &rep, &st),
			 RPC_ALREADY_EXISTS);
	assert_string_equal(st.field, "rules[2]"); /* the first one stored already */
	assert_int_equal(revision(&n1), r0);
	assert_int_equal(n1, n0); /* 20.9.0.0 and .1 were not kept either */
}

static void test_commit_incomplete_refused(void **state)
{
	Xdrop__V1__BatchReply *rep;
	struct rpc_status st;
	uint64_t r0 = revision(NULL);

	make_set(3, BIG, "import");
	assert_int_equal(batch_chunk("s-gap", 0, CHUNK, false, 0, &rep, NULL), RPC_OK);
	xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	assert_int_equal(batch_chunk("s-gap", 2 * CHUNK, CHUNK, true, BIG, &rep, &st),
			 RPC_FAILED_PRECONDITION);
	assert_string_equal(st.field, "stage.total");
	assert_int_equal(revision(NULL), r0);
}

/* A reader during a staged replace: every GetRevision answer pairs the revision with the
 * rule count of the old feed or of the new one, never a count in between. */
struct reader {
	atomic_bool stop;
	uint64_t r0, n_old, n_new;
	unsigned reads, mixed;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct rpc_client *cl = ctl_client(&c, TEST_ADMIN_KEY);

	while (!atomic_load(&rd->stop)) {
		Xdrop__V1__Empty q = XDROP__V1__EMPTY__INIT;
		Xdrop__V1__RevisionInfo *ri = NULL;

		if (ctl_call(cl, SYNC, "GetRevision", &q, &ri, NULL) != RPC_OK)
			continue;
		rd->reads++;
		if (!(ri->revision == rd->r0 && ri->rules == rd->n_old) &&
		    !(ri->revision == rd->r0 + 1 && ri->rules == rd->n_new))
			rd->mixed++;
		xdrop__v1__revision_info__free_unpacked(ri, NULL);
	}
	rpc_client_close(cl);
	return NULL;
}

static void replace_all(const char *name, size_t n, Xdrop__V1__ReplaceSourceReply **rep)
{
	for (size_t at = 0; at < n; at += CHUNK) {
		size_t m = n - at < CHUNK ? n - at : CHUNK;

		assert_int_equal(replace_chunk(name, "feed-big", at, m, at + m == n, n, rep, NULL),
				 RPC_OK);
		if (at + m < n)
			xdrop__v1__replace_source_reply__free_unpacked(*rep, NULL);
	}
}

static void test_replace_staged_costs_the_diff(void **state)
{
	Xdrop__V1__ReplaceSourceReply *rep;
	struct reader rd = {0};
	pthread_t th;
	uint64_t n0, r0;

	make_set(4, 12000, "feed-big");
	r0 = revision(&n0);
	replace_all("s-feed1", 12000, &rep);
	assert_int_equal(rep->added, 12000);
	assert_int_equal(rep->n_to_add, 0); /* a staged set: the counts only */
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);
	assert_int_equal(revision(NULL), r0 + 1);

	/* refresh: 100 rules leave, 3,000 arrive, the rest stays; a reader watches */
	make_set(4, BIG, "feed-big");
	for (size_t i = 0; i < 100; i++)
		snprintf(set.ip[i], sizeof(set.ip[i]), "20.5.%zu.%zu", i >> 8, i & 255);
	rd.r0 = r0 + 1;
	rd.n_old = n0 + 12000;
	rd.n_new = n0 + BIG;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
	replace_all("s-feed2", BIG, &rep);
	atomic_store(&rd.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(rep->added, 3100);
	assert_int_equal(rep->removed, 100);
	assert_int_equal(rep->unchanged, 11900);
	assert_int_equal(rep->sync->revision, r0 + 2);
	xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);
	assert_int_equal(delta_ops(r0 + 2), 3200); /* the diff, not the set of 15,000 */
	assert_true(rd.reads > 0);
	assert_int_equal(rd.mixed, 0);
}

static void max_of(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	if (!strcmp(id, "cap-node") && b->capacity)
		*(uint64_t *)arg = b->capacity->exact_max;
}

/* Waits until the controller holds a beacon of cap-node reporting exact_max want. */
static bool wait_capacity(uint64_t want)
{
	for (long t0 = now_ms(); now_ms() - t0 < 5000; usleep(10000)) {
		uint64_t got = 0;

		nodes_each_beacon(c.nodes, max_of, &got);
		if (got == want)
			return true;
	}
	return false;
}

static void test_replace_refused_without_room(void **state)
{
	Xdrop__V1__ReplaceSourceReply *rep;
	struct rpc_status st;
	char key[65], url[64];
	struct agent *a;
	uint64_t r0, n0;

	snprintf(url, sizeof(url), "inproc://agent-%d-cap", (int)getpid());
	ctl_add_node(&c, "cap-node", url, key);
	a = agent_start(&c, "cap-node", key, url, AGENT_SOCKET);
	assert_true(agents_wait_converged(&c, &a, 1, 20000) >= 0);
	r0 = revision(&n0);
	/* room for the set plus 100: a refresh adding 3,000 new rules does not fit */
	agent_set_capacity(a, n0 + 100);
	assert_true(wait_capacity(n0 + 100));
	make_set(6, 3000, "feed-big");
	for (size_t at = 0; at < 3000; at += 1000) {
		enum rpc_code rc = replace_chunk("s-room", "feed-big", at, 1000, at + 1000 == 3000,
						 3000, &rep, &st);

		if (at + 1000 < 3000) {
			assert_int_equal(rc, RPC_OK);
			xdrop__v1__replace_source_reply__free_unpacked(rep, NULL);
		} else {
			assert_int_equal(rc, RPC_RESOURCE_EXHAUSTED);
		}
	}
	assert_non_null(strstr(st.message, "node cap-node has exact-rule capacity"));
	assert_non_null(strstr(st.message, "this change adds 3000"));
	assert_int_equal(revision(NULL), r0);
	agent_stop(a);
}

/* GetSnapshot chunk idx of revision rev (small chunks: several for the set). */
static enum rpc_code snap_chunk(uint64_t rev, uint32_t idx, uint64_t *got_rev, uint32_t *count)
{
	Xdrop__V1__SnapshotRequest sr = XDROP__V1__SNAPSHOT_REQUEST__INIT;
	Xdrop__V1__SnapshotChunk *ch = NULL;
	enum rpc_code rc;

	sr.revision = rev;
	sr.chunk_index = idx;
	sr.max_items = 1000;
	rc = ctl_call(c.admin, SYNC, "GetSnapshot", &sr, &ch, NULL);
	if (rc == RPC_OK) {
		if (got_rev)
			*got_rev = ch->revision;
		if (count)
			*count = ch->chunk_count;
		xdrop__v1__snapshot_chunk__free_unpacked(ch, NULL);
	}
	return rc;
}

/* A cached snapshot (the set's packed bytes) is freed once no node asked for a chunk of it
 * for XDROP_SNAPSHOT_IDLE_MS: a chunk of a revision the set has moved on from is then
 * refused (the node starts again from chunk 0), one of the current revision is read again.
 * Each probe that still finds it renews the idle time, so the wait is for a quiet spell of
 * idle and a half, bounded by 60 s. */
static void test_snapshot_freed_when_idle(void **state)
{
	uint64_t rev = 0, again = 0;
	uint32_t count = 0;
	long deadline = now_ms() + 60000;
	enum rpc_code rc = RPC_OK;

	(void)state;
	make_set(9, 3000, "idle");
	for (size_t at = 0; at < 3000; at += 1000) {
		Xdrop__V1__BatchReply *rep;

		assert_int_equal(batch_chunk("s-idle", at, 1000, at == 2000, 3000, &rep, NULL),
				 RPC_OK);
		xdrop__v1__batch_reply__free_unpacked(rep, NULL);
	}
	assert_int_equal(snap_chunk(0, 0, &rev, &count), RPC_OK);
	assert_true(count >= 3);
	ctl_add_rule(&c, 9000); /* the set moves on: chunks of rev only from the cache */
	assert_int_equal(snap_chunk(rev, 1, NULL, NULL), RPC_OK);
	while (rc == RPC_OK && now_ms() < deadline) {
		long quiet = now_ms() + XDROP_SNAPSHOT_IDLE_MS + XDROP_SNAPSHOT_IDLE_MS / 2;

		while (now_ms() < quiet)
			usleep(100 * 1000);
		rc = snap_chunk(rev, 2, NULL, NULL);
	}
	assert_int_equal(rc, RPC_FAILED_PRECONDITION);
	/* the current revision is read again when its cache was dropped */
	assert_int_equal(snap_chunk(0, 0, &again, NULL), RPC_OK);
	assert_int_equal(again, rev + 1);
	deadline = now_ms() + 3 * XDROP_SNAPSHOT_IDLE_MS;
	while (now_ms() < deadline)
		usleep(100 * 1000);
	assert_int_equal(snap_chunk(again, 2, NULL, NULL), RPC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_beyond_cap_one_revision),
	    cmocka_unit_test(test_chunk_refused_leaves_old_state),
	    cmocka_unit_test(test_commit_refused_rolls_back),
	    cmocka_unit_test(test_commit_incomplete_refused),
	    cmocka_unit_test(test_replace_staged_costs_the_diff),
	    cmocka_unit_test(test_replace_refused_without_room),
	    cmocka_unit_test(test_snapshot_freed_when_idle),
	};

	ctl_group(&c, 200);
	return cmocka_run_group_tests_name("controller: staged imports", tests, ctl_group_setup,
					   ctl_group_teardown);
}
