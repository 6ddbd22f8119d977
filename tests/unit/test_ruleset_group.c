// SPDX-License-Identifier: MIT
/*
 * test_ruleset_group: changes that do not wait for each other (agent/ruleset/group.c) on a
 * real, unpinned data plane (tests/lib/testdp.h), probed through the real program with
 * BPF_PROG_TEST_RUN. Needs root (BPF). Prints TAP.
 *
 *  - concurrent writers, each creating and deleting a pair of rules per change, with
 *    probes that only a half-applied pair drops: none is dropped, every change has its
 *    own revision, and the changes cost fewer switches and grace periods than there are
 *    changes (counted by the data plane); the in-place switch (dataplane_opts.
 *    unsafe_inplace) run the same way is caught, or the probes would be blind;
 *  - a group with refused changes: held until four changes wait, they are applied in one
 *    switch; the two refused answer their own errors, the two others apply;
 *  - a delete queued behind the create of the same rule: two switches, in order, both
 *    succeed;
 *  - consecutive controller deltas given together: one switch, each its revision, each
 *    journaled (a reopen finds the same revision and hash).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "log.h"
#include "ruleset.h"
#include "testdp.h"
#include "tmpdir.h"

#define WRITERS 4
#define ROUNDS	40 /* create + delete per writer */

struct world {
	struct dataplane *dp;
	struct ruleset *rs;
	char dir[64];
	volatile int stop;
	uint8_t frame[WRITERS][PKT_MAX];
	int len[WRITERS];
	long sent, dropped;
	int rounds, werr;
};

static void open_world(struct world *w, bool broken)
{
	struct dataplane_opts o = {.sz = sizeof(o), .unsafe_inplace = broken};

	memset(w, 0, sizeof(*w));
	assert_int_equal(tmpdir_make(w->dir, sizeof(w->dir), "xdrop-group"), 0);
	assert_int_equal(dataplane_open(&w->dp, &o), 0);
	assert_int_equal(ruleset_open(&w->rs, w->dp, w->dir), 0);
}

static void close_world(struct world *w)
{
	ruleset_close(w->rs);
	dataplane_close(w->dp);
	tmpdir_remove(w->dir);
}

static void rule_init(Xdrop__V1__Rule *r, const char *id, const char *dst, bool udp53,
		      const char *action)
{
	xdrop__v1__rule__init(r);
	r->id = (char *)id;
	r->dst_ip = (char *)dst;
	if (udp53) {
		r->protocol = "udp";
		r->dst_port = 53;
	}
	r->action = (char *)action;
	r->enabled = true;
}

/* ---- concurrent writers, probes that see a half-applied pair ---- */

/* Writer i's pair: dst D_i -> drop, and dst D_i udp/53 -> pass. Probe X (udp/53 to D_i)
 * passes with neither rule and with both; only the drop rule without the pass rule (half a
 * create, half a delete) drops it. */
static void *writer(void *arg)
{
	struct world *w = ((void **)arg)[0];
	int i = (int)(intptr_t)((void **)arg)[1];
	char dst[32], ida[32], idb[32];
	char *ids[2] = {ida, idb};
	Xdrop__V1__Rule a, b;
	ProtobufCMessage *msgs[2] = {&a.base, &b.base};

	snprintf(dst, sizeof(dst), "198.51.100.%d", i + 1);
	snprintf(ida, sizeof(ida), "w%d-drop", i);
	snprintf(idb, sizeof(idb), "w%d-pass", i);
	rule_init(&a, ida, dst, false, "drop");
	rule_init(&b, idb, dst, true, "pass");
	for (int r = 0; r < w->rounds && !w->werr; r++) {
		struct rpc_status st = {0};
		size_t bad;
		int err = ruleset_create_many(w->rs, &ruleset_rules, msgs, 2, NULL, &st, &bad);

		if (!err)
			err = ruleset_delete_many(w->rs, &ruleset_rules, ids, 2, &st, &bad);
		if (err) {
			fprintf(stderr, "# writer %d: %s\n", i, st.message);
			w->werr = err;
		}
	}
	return NULL;
}

static void *sender(void *arg)
{
	struct world *w = arg;
	int fd = dataplane_prog_fd(w->dp);
	long sent = 0, dropped = 0;

	while (!w->stop) {
		for (int i = 0; i < WRITERS; i++) {
			int v = pkt_run(fd, w->frame[i], (size_t)w->len[i]);

			sent++;
			dropped += v != XDP_PASS;
		}
	}
	__atomic_add_fetch(&w->sent, sent, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->dropped, dropped, __ATOMIC_RELAXED);
	return NULL;
}

/* Runs the writers with traffic; fills the switches and grace periods they cost. */
static void run_writers(struct world *w, uint64_t *switches, uint64_t *graces)
{
	pthread_t wt[WRITERS], st[2];
	void *args[WRITERS][2];
	uint64_t gen0 = dataplane_gen(w->dp), gp0 = dataplane_grace_periods(w->dp);

	for (int i = 0; i < WRITERS; i++) {
		char dst[32];
		struct pkt_desc d = {
		    .src = "192.0.2.1", .dst = dst, .proto = 17, .sport = 7, .dport = 53};

		snprintf(dst, sizeof(dst), "198.51.100.%d", i + 1);
		w->len[i] = pkt_build(&d, w->frame[i]);
		assert_true(w->len[i] > 0);
	}
	for (int c = 0; c < 2; c++)
		assert_int_equal(pthread_create(&st[c], NULL, sender, w), 0);
	for (int i = 0; i < WRITERS; i++) {
		args[i][0] = w;
		args[i][1] = (void *)(intptr_t)i;
		assert_int_equal(pthread_create(&wt[i], NULL, writer, args[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	w->stop = 1;
	for (int c = 0; c < 2; c++)
		pthread_join(st[c], NULL);
	*switches = dataplane_gen(w->dp) - gen0;
	*graces = dataplane_grace_periods(w->dp) - gp0;
}

static void concurrent_changes_are_atomic_and_share_switches(void **state)
{
	uint64_t changes = 2 * WRITERS * ROUNDS, switches, graces;
	struct world w;

	(void)state;
	open_world(&w, false);
	w.rounds = ROUNDS;
	run_writers(&w, &switches, &graces);
	printf("# %llu changes from %d writers: %llu switches, %llu grace periods; %ld probes, "
	       "%ld dropped\n",
	       (unsigned long long)changes, WRITERS, (unsigned long long)switches,
	       (unsigned long long)graces, w.sent, w.dropped);
	assert_int_equal(w.werr, 0);
	assert_true(w.sent > (long)changes); /* traffic really flowed during the changes */
	assert_int_equal(w.dropped, 0);
	/* every change its own revision */
	assert_int_equal(ruleset_revision(w.rs), changes);
	assert_int_equal(dataplane_count(w.dp, ruleset_rules.dp_kind), 0);
	/* and fewer switches and grace periods than changes: they were coalesced */
	assert_true(switches < changes);
	assert_true(graces < changes);
	assert_true(graces <= switches);
	close_world(&w);
}

static void inplace_switch_is_caught(void **state)
{
	uint64_t switches, graces;
	struct world w;

	(void)state;
	/* the same writers on the deliberately broken switch: half-applied pairs must show */
	for (int attempt = 0; attempt < 10; attempt++) {
		open_world(&w, true);
		w.rounds = 200;
		run_writers(&w, &switches, &graces);
		close_world(&w);
		assert_int_equal(w.werr, 0);
		if (w.dropped)
			break;
	}
	printf("# in-place switch: %ld of %ld probes dropped by a half-applied pair\n", w.dropped,
	       w.sent);
	if (w.dropped == 0)
		fail_msg("the in-place switch produced no half-applied pair: the probes are blind");
}

/* ---- a group with refused changes ---- */

struct one {
	struct world *w;
	int what; /* 0: create g-a, 1: create a duplicate match, 2: delete a missing id,
		     3: create g-d */
	int err;
	struct rpc_status st;
};

static void *one_change(void *arg)
{
	struct one *o = arg;
	Xdrop__V1__Rule r;
	char *missing = "no-such-rule";

	if (o->what == 2) {
		o->err = ruleset_delete(o->w->rs, &ruleset_rules, &missing, 1, &o->st);
		return NULL;
	}
	rule_init(&r,
		  o->what == 0	 ? "g-a"
		  : o->what == 3 ? "g-d"
				 : "g-dup",
		  o->what == 0	 ? "203.0.113.1"
		  : o->what == 3 ? "203.0.113.4"
				 : "203.0.113.9",
		  false, "drop");
	o->err = ruleset_create(o->w->rs, &ruleset_rules, &r.base, NULL, &o->st);
	return NULL;
}

static void refused_change_answers_alone(void **state)
{
	struct one ones[4];
	pthread_t th[4];
	Xdrop__V1__Rule pre;
	struct rpc_status st = {0};
	uint64_t gp0, rev0;
	struct world w;

	(void)state;
	open_world(&w, false);
	rule_init(&pre, "pre", "203.0.113.9", false, "drop");
	assert_int_equal(ruleset_create(w.rs, &ruleset_rules, &pre.base, NULL, &st), 0);
	rev0 = ruleset_revision(w.rs);
	gp0 = dataplane_grace_periods(w.dp);
	ruleset_test_hold(w.rs, true);
	for (int i = 0; i < 4; i++) {
		ones[i] = (struct one){.w = &w, .what = i};
		assert_int_equal(pthread_create(&th[i], NULL, one_change, &ones[i]), 0);
	}
	while (ruleset_queued(w.rs) < 4)
		usleep(1000);
	ruleset_test_hold(w.rs, false);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(ones[0].err, 0);
	assert_int_equal(ones[3].err, 0);
	assert_int_equal(ones[1].err, -EEXIST);
	assert_int_equal(ones[1].st.code, RPC_ALREADY_EXISTS);
	assert_int_equal(ones[2].err, -ENOENT);
	assert_int_equal(ones[2].st.code, RPC_NOT_FOUND);
	assert_string_equal(ones[2].st.field, "id");
	/* the two that apply share one switch and one grace period, each its revision */
	assert_int_equal(dataplane_grace_periods(w.dp) - gp0, 1);
	assert_int_equal(ruleset_revision(w.rs), rev0 + 2);
	assert_int_equal(dataplane_count(w.dp, ruleset_rules.dp_kind), 3);
	close_world(&w);
}

/* A change that touches what an earlier queued change touches waits for the next switch,
 * and is planned after it: a delete of the rule a queued create makes finds it. */
static void *create_s1(void *arg)
{
	struct one *o = arg;
	Xdrop__V1__Rule r;

	rule_init(&r, "s-1", "203.0.113.50", false, "drop");
	o->err = ruleset_create(o->w->rs, &ruleset_rules, &r.base, NULL, &o->st);
	return NULL;
}

static void *delete_s1(void *arg)
{
	struct one *o = arg;
	char *id = "s-1";

	o->err = ruleset_delete(o->w->rs, &ruleset_rules, &id, 1, &o->st);
	return NULL;
}

static void overlapping_changes_stay_in_order(void **state)
{
	struct one c = {0}, d = {0};
	pthread_t tc, td;
	uint64_t gp0, rev0;
	struct world w;

	(void)state;
	open_world(&w, false);
	c.w = d.w = &w;
	rev0 = ruleset_revision(w.rs);
	gp0 = dataplane_grace_periods(w.dp);
	ruleset_test_hold(w.rs, true);
	assert_int_equal(pthread_create(&tc, NULL, create_s1, &c), 0);
	while (ruleset_queued(w.rs) < 1)
		usleep(1000);
	assert_int_equal(pthread_create(&td, NULL, delete_s1, &d), 0);
	while (ruleset_queued(w.rs) < 2)
		usleep(1000);
	ruleset_test_hold(w.rs, false);
	pthread_join(tc, NULL);
	pthread_join(td, NULL);
	assert_int_equal(c.err, 0);
	assert_int_equal(d.err, 0);
	assert_int_equal(ruleset_revision(w.rs), rev0 + 2);
	assert_int_equal(dataplane_grace_periods(w.dp) - gp0, 2);
	assert_int_equal(dataplane_count(w.dp, ruleset_rules.dp_kind), 0);
	close_world(&w);
}

/* ---- deltas given together ---- */

static void deltas_together_share_one_switch(void **state)
{
	enum { N = 5 };
	Xdrop__V1__Delta d[N], *dp_[N];
	Xdrop__V1__DeltaOp op[N], *opp[N];
	Xdrop__V1__Rule r[N];
	char id[N][16], dst[N][32], hash[RULEHASH_HEX], hash2[RULEHASH_HEX];
	struct rpc_status st = {0};
	size_t applied = 0;
	uint64_t gp0;
	struct world w;

	(void)state;
	open_world(&w, false);
	for (int i = 0; i < N; i++) {
		snprintf(id[i], sizeof(id[i]), "d%d", i);
		snprintf(dst[i], sizeof(dst[i]), "203.0.113.%d", 20 + i);
		rule_init(&r[i], id[i], dst[i], false, "drop");
		xdrop__v1__delta_op__init(&op[i]);
		op[i].op_case = XDROP__V1__DELTA_OP__OP_UPSERT_RULE;
		op[i].upsert_rule = &r[i];
		opp[i] = &op[i];
		xdrop__v1__delta__init(&d[i]);
		d[i].base_revision = (uint64_t)i;
		d[i].revision = (uint64_t)i + 1;
		d[i].n_ops = 1;
		d[i].ops = &opp[i];
		d[i].content_hash = "";
		dp_[i] = &d[i];
	}
	gp0 = dataplane_grace_periods(w.dp);
	assert_int_equal(ruleset_apply_deltas(w.rs, dp_, N, &st, &applied), 0);
	assert_int_equal(applied, N);
	assert_int_equal(dataplane_grace_periods(w.dp) - gp0, 1);
	assert_int_equal(ruleset_revision(w.rs), N);
	assert_int_equal(dataplane_count(w.dp, ruleset_rules.dp_kind), N);
	/* a delta that does not continue is refused alone, the set unchanged */
	d[0].base_revision = 2;
	d[0].revision = 3;
	assert_int_equal(ruleset_apply_deltas(w.rs, dp_, 1, &st, &applied), -ESTALE);
	assert_int_equal(applied, 0);
	assert_int_equal(ruleset_revision(w.rs), N);
	/* each was journaled: the set comes back as it was */
	ruleset_hash(w.rs, hash);
	ruleset_close(w.rs);
	assert_int_equal(ruleset_open(&w.rs, w.dp, w.dir), 0);
	ruleset_hash(w.rs, hash2);
	assert_int_equal(ruleset_revision(w.rs), N);
	assert_string_equal(hash, hash2);
	close_world(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(concurrent_changes_are_atomic_and_share_switches),
	    cmocka_unit_test(inplace_switch_is_caught),
	    cmocka_unit_test(refused_change_answers_alone),
	    cmocka_unit_test(overlapping_changes_stay_in_order),
	    cmocka_unit_test(deltas_together_share_one_switch),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests_name("ruleset_group", tests, NULL, NULL);
}
