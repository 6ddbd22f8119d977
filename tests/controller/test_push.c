// SPDX-License-Identifier: MIT
/*
 * test_push: pushes and node health end to end, in one process over real nng sockets: an
 * in-process controller (tests/controller/harness.c) and toy agents built on lib/pubsub's
 * subscriber and beacon publisher (the library the real agent uses). Covers convergence,
 * a node offline during 20 changes then back, 5% of pushes lost (fault hook), the last
 * push lost and noticed through the heartbeat, state transitions (unknown, online,
 * out_of_sync, offline) with drift repaired by ForceSync, write outcomes, stats from
 * beacons, and expiry pushed as a change.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "harness.h"
#include "log.h"
#include "pubsub.h"

#define IV 500 /* beacon and heartbeat interval of most tests, ms */

static void agent_url(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "inproc://agent-%d-%s", getpid(), id);
}

static struct agent *add_agent(struct ctl *c, const char *id, enum agent_mode mode)
{
	char key[65], url[64];

	agent_url(url, sizeof(url), id);
	ctl_add_node(c, id, url, key);
	return agent_start(c, id, key, url, mode);
}

static void test_converge_and_outcome(void **state)
{
	struct ctl c;
	struct agent *a[2];
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;
	long ms;

	ctl_start(&c, IV);
	a[0] = add_agent(&c, "n1", AGENT_SOCKET);
	a[1] = add_agent(&c, "n2", AGENT_SOCKET);
	assert_true(wait_status(&c, "n1", NODE_ONLINE, 5000) >= 0);
	assert_true(wait_status(&c, "n2", NODE_ONLINE, 5000) >= 0);
	for (unsigned i = 0; i < 10; i++)
		ctl_add_rule(&c, i);
	ms = agents_wait_converged(&c, a, 2, 5000);
	print_message("# 10 changes: 2 nodes converged %ld ms after the last write\n", ms);
	assert_true(ms >= 0);

	/* a write's outcome: both nodes counted, none failed, reply without waiting */
	r.dst_cidr = "172.16.0.0/12";
	r.action = "drop";
	req.rule = &r;
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__rule_service__descriptor, "Create", &req, &rep, NULL),
	    RPC_OK);
	assert_int_equal(rep->sync->nodes, 2);
	assert_int_equal(rep->sync->failed, 0);
	assert_int_equal(rep->sync->applied + rep->sync->pending, 2);
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	assert_true(agents_wait_converged(&c, a, 2, 5000) >= 0);
	agent_stop(a[0]);
	agent_stop(a[1]);
	ctl_stop(&c);
}

static void test_offline_during_20_changes(void **state)
{
	struct ctl c;
	struct agent *a[2];
	long t0, ms, off;
	uint64_t rev = 0;

	ctl_start(&c, IV);
	a[0] = add_agent(&c, "n1", AGENT_SOCKET);
	a[1] = add_agent(&c, "n2", AGENT_SOCKET);
	assert_true(wait_status(&c, "n2", NODE_ONLINE, 5000) >= 0);
	ctl_add_rule(&c, 1);
	assert_true(agents_wait_converged(&c, a, 2, 5000) >= 0);

	agent_set_online(a[1], false);
	t0 = now_ms();
	off = wait_status(&c, "n2", NODE_OFFLINE, 10 * IV);
	print_message("# silent node marked offline after %ld ms (interval %d ms)\n", off, IV);
	assert_true(off >= 2 * IV && off <= 5 * IV);
	for (unsigned i = 0; i < 20; i++)
		rev = ctl_add_rule(&c, 100 + i);
	/* the write never waited on the offline node; it counts as failed */
	Xdrop__V1__SyncOutcome o = XDROP__V1__SYNC_OUTCOME__INIT;
	nodes_outcome(c.nodes, rev, &o, NULL, NULL);
	assert_int_equal(o.nodes, 2);
	assert_int_equal(o.failed, 1);
	assert_true(agents_wait_converged(&c, a, 1, 5000) >= 0);
	assert_true(agent_revision(a[1], NULL) < rev);

	t0 = now_ms();
	agent_set_online(a[1], true);
	ms = agents_wait_converged(&c, a, 2, 10000);
	print_message("# back online: caught up with 20 changes in %ld ms (%u snapshots)\n", ms,
		      agent_snapshots(a[1]));
	assert_true(ms >= 0);
	assert_true(wait_status(&c, "n2", NODE_ONLINE, 3 * IV) >= 0);
	(void)t0;
	agent_stop(a[0]);
	agent_stop(a[1]);
	ctl_stop(&c);
}

static void test_push_loss_5_percent(void **state)
{
	struct ctl c;
	struct agent *a[3];
	long ms, worst = 0;
	const unsigned iv = 1000;

	setenv("XDROP_FAULT_DROP_EVERY_N", "20", 1); /* read when the publisher opens */
	ctl_start(&c, iv);
	unsetenv("XDROP_FAULT_DROP_EVERY_N");
	a[0] = add_agent(&c, "n1", AGENT_SOCKET);
	a[1] = add_agent(&c, "n2", AGENT_SOCKET);
	a[2] = add_agent(&c, "n3", AGENT_SOCKET);
	assert_true(agents_wait_converged(&c, a, 3, 5000) >= 0);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 40; i++) {
			ctl_add_rule(&c, 1000 + round * 100 + i);
			usleep(20000);
		}
		ms = agents_wait_converged(&c, a, 3, iv + 3000);
		print_message("# 5%% loss, round %u: 3 nodes at the latest revision %ld ms after "
			      "the last write (limit %u)\n",
			      round, ms, iv + 3000);
		assert_true(ms >= 0);
		if (ms > worst)
			worst = ms;
	}
	print_message("# publisher sent %llu, dropped %llu (fault hook); agents took %u, %u, %u "
		      "snapshots\n",
		      (unsigned long long)publish_sent(c.pub),
		      (unsigned long long)publish_dropped(c.pub), agent_snapshots(a[0]),
		      agent_snapshots(a[1]), agent_snapshots(a[2]));
	assert_true(publish_dropped(c.pub) > 0);
	for (int i = 0; i < 3; i++)
		agent_stop(a[i]);
	ctl_stop(&c);
}

static void test_last_push_lost(void **state)
{
	struct ctl c;
	struct agent *a[1];
	struct store_rev rev;
	unsigned snaps;
	long ms;

	ctl_start(&c, IV);
	a[0] = add_agent(&c, "m1", AGENT_MANUAL);
	ctl_add_rule(&c, 1);
	assert_true(agents_wait_converged(&c, a, 1, 5000) >= 0);
	snaps = agent_snapshots(a[0]);
	store_revision(c.store, &rev);
	agent_drop_revision(a[0], rev.revision + 1);
	ctl_add_rule(&c, 2); /* its push never reaches the node; nothing follows it */
	ms = agents_wait_converged(&c, a, 1, 3 * IV + 1000);
	print_message("# last push lost: node at the latest revision %ld ms later (heartbeat "
		      "%d ms)\n",
		      ms, IV);
	assert_true(ms >= 0 && ms <= IV + 1000);
	assert_true(agent_snapshots(a[0]) > snaps);
	assert_true(wait_status(&c, "m1", NODE_ONLINE, 3 * IV) >= 0);
	agent_stop(a[0]);
	ctl_stop(&c);
}

static void test_states_and_repair(void **state)
{
	struct ctl c;
	struct agent *a[1];
	char key[65], url[64];
	uint64_t forces, ok;
	long ms;

	ctl_start(&c, IV);
	agent_url(url, sizeof(url), "s1");
	ctl_add_node(&c, "s1", url, key);
	assert_int_equal(nodes_status(c.nodes, "s1"), NODE_UNKNOWN);
	a[0] = agent_start(&c, "s1", key, url, AGENT_SOCKET);
	assert_true(wait_status(&c, "s1", NODE_ONLINE, 5000) >= 0);
	for (int i = 0; i < 500 && agent_snapshots(a[0]) == 0; i++)
		usleep(10000); /* its start-up snapshot is in, so nothing but repair clears drift */
	assert_true(agent_snapshots(a[0]) >= 1);

	/* drift: the node reports another hash at the same revision */
	agent_corrupt(a[0]);
	ms = wait_status(&c, "s1", NODE_OUT_OF_SYNC, 3 * IV);
	assert_true(ms >= 0);
	ms = wait_status(&c, "s1", NODE_ONLINE, 10 * IV);
	forces = nodes_force_syncs(c.nodes, &ok);
	print_message("# out_of_sync repaired by ForceSync in %ld ms (%llu calls, %llu ok)\n", ms,
		      (unsigned long long)forces, (unsigned long long)ok);
	assert_true(ms >= 0);
	assert_true(agent_force_syncs(a[0]) >= 1);
	assert_true(ok >= 1);

	/* NodeService.Sync on an online node: a forced snapshot, applied */
	Xdrop__V1__GetNodeRequest g = XDROP__V1__GET_NODE_REQUEST__INIT;
	Xdrop__V1__SyncOutcome *so = NULL;
	g.id = "s1";
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__node_service__descriptor, "Sync", &g, &so, NULL), RPC_OK);
	assert_int_equal(so->nodes, 1);
	assert_int_equal(so->failed, 0);
	xdrop__v1__sync_outcome__free_unpacked(so, NULL);

	/* silence: offline after 3 intervals, online again with the next beacon */
	agent_set_online(a[0], false);
	ms = wait_status(&c, "s1", NODE_OFFLINE, 10 * IV);
	assert_true(ms >= 2 * IV && ms <= 5 * IV);
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__node_service__descriptor, "Sync", &g, &so, NULL), RPC_OK);
	assert_int_equal(so->failed, 1); /* never waits on an offline node */
	xdrop__v1__sync_outcome__free_unpacked(so, NULL);
	agent_set_online(a[0], true);
	assert_true(wait_status(&c, "s1", NODE_ONLINE, 5 * IV) >= 0);
	agent_stop(a[0]);
	ctl_stop(&c);
}

/* A node behind but moving (each delta takes half an interval to apply while writes come
 * in at once) is busy, not stuck: the repair loop leaves it alone, and it converges on its
 * own deltas, with no ForceSync and no snapshot. */
static void test_busy_node_not_forced(void **state)
{
	struct ctl c;
	struct agent *a[1];
	char key[65], url[64];
	uint64_t forces0, forces, ok;
	unsigned snaps0;
	long ms;

	ctl_start(&c, IV);
	agent_url(url, sizeof(url), "b1");
	ctl_add_node(&c, "b1", url, key);
	ctl_add_rule(&c, 8099); /* its start-up snapshot has a revision to install */
	a[0] = agent_start(&c, "b1", key, url, AGENT_SOCKET);
	assert_true(agents_wait_converged(&c, a, 1, 5000) >= 0);
	for (int i = 0; i < 500 && agent_snapshots(a[0]) == 0; i++)
		usleep(10000); /* its start-up snapshot is in */
	snaps0 = agent_snapshots(a[0]);
	forces0 = nodes_force_syncs(c.nodes, &ok);
	agent_set_apply_ms(a[0], IV / 2);
	for (unsigned i = 0; i < 12; i++) /* 6 intervals of work for the node */
		ctl_add_rule(&c, 8100 + i);
	assert_true(wait_status(&c, "b1", NODE_SYNCING, 3 * IV) >= 0);
	ms = agents_wait_converged(&c, a, 1, 30 * IV);
	forces = nodes_force_syncs(c.nodes, &ok);
	print_message("# busy node converged in %ld ms; ForceSync calls %llu\n", ms,
		      (unsigned long long)(forces - forces0));
	assert_true(ms >= 0);
	assert_int_equal(forces - forces0, 0);
	assert_int_equal(agent_force_syncs(a[0]), 0);
	assert_int_equal(agent_snapshots(a[0]), snaps0);
	agent_stop(a[0]);
	ctl_stop(&c);
}

/* A node that fetches a large snapshot (each chunk takes an interval: six intervals in
 * all, three times the repair limit) names it in its beacons: the repair loop leaves it
 * alone, and it takes one snapshot, not a second one forced on top of it. */
static void test_snapshot_in_progress_not_forced(void **state)
{
	struct ctl c;
	struct agent *a[1];
	struct store_rev rev;
	char key[65], url[64];
	uint64_t forces0, forces, ok;
	unsigned snaps0;
	long ms;

	ctl_start(&c, IV);
	agent_url(url, sizeof(url), "f1");
	ctl_add_node(&c, "f1", url, key);
	for (unsigned i = 0; i < 35; i++) /* with the next one: 6 chunks of 7 */
		ctl_add_rule(&c, 8200 + i);
	a[0] = agent_start(&c, "f1", key, url, AGENT_MANUAL);
	assert_true(agents_wait_converged(&c, a, 1, 20 * IV) >= 0);
	snaps0 = agent_snapshots(a[0]);
	forces0 = nodes_force_syncs(c.nodes, &ok);
	agent_set_chunk_ms(a[0], IV);
	store_revision(c.store, &rev);
	agent_drop_revision(a[0], rev.revision + 1);
	ctl_add_rule(&c, 8300); /* its push never reaches the node: it fetches a snapshot */
	ms = agents_wait_converged(&c, a, 1, 40 * IV);
	forces = nodes_force_syncs(c.nodes, &ok);
	print_message("# slow snapshot: converged in %ld ms; ForceSync calls %llu, snapshots %u\n",
		      ms, (unsigned long long)(forces - forces0), agent_snapshots(a[0]) - snaps0);
	assert_true(ms >= 0);
	assert_int_equal(forces - forces0, 0);
	assert_int_equal(agent_force_syncs(a[0]), 0);
	assert_int_equal(agent_snapshots(a[0]), snaps0 + 1);
	agent_stop(a[0]);
	ctl_stop(&c);
}

static void test_stats_from_beacons(void **state)
{
	struct ctl c;
	struct agent *a[2];
	Xdrop__V1__GetStatsRequest gs = XDROP__V1__GET_STATS_REQUEST__INIT;
	Xdrop__V1__StatsReply *st = NULL;
	Xdrop__V1__RuleStatsRequest rs = XDROP__V1__RULE_STATS_REQUEST__INIT;
	Xdrop__V1__RuleStatsReply *rr = NULL;
	Xdrop__V1__HistoryRequest hr = XDROP__V1__HISTORY_REQUEST__INIT;
	Xdrop__V1__HistoryReply *hp = NULL;
	Xdrop__V1__GetNodeRequest g = XDROP__V1__GET_NODE_REQUEST__INIT;
	Xdrop__V1__Node *node = NULL;
	char *ids[] = {"hot-rule"};

	ctl_start(&c, IV);
	a[0] = add_agent(&c, "n1", AGENT_SOCKET);
	a[1] = add_agent(&c, "n2", AGENT_SOCKET);
	assert_true(wait_status(&c, "n1", NODE_ONLINE, 5000) >= 0);
	assert_true(wait_status(&c, "n2", NODE_ONLINE, 5000) >= 0);
	stats_sample(c.stats);
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__stats_service__descriptor, "Get", &gs, &st, NULL),
	    RPC_OK);
	assert_int_equal(st->totals->rx, 2000);
	assert_int_equal(st->n_nodes, 2);
	assert_true(st->rates->rx_pps > 199.0 && st->rates->rx_pps < 201.0);
	xdrop__v1__stats_reply__free_unpacked(st, NULL);

	rs.ids = ids;
	rs.n_ids = 1;
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__stats_service__descriptor, "RuleStats", &rs, &rr, NULL),
	    RPC_OK);
	assert_int_equal(rr->n_rules, 1);
	assert_int_equal(rr->rules[0]->match_count, 10); /* summed across both nodes */
	xdrop__v1__rule_stats_reply__free_unpacked(rr, NULL);

	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__stats_service__descriptor, "History", &hr, &hp, NULL),
	    RPC_OK);
	assert_true(hp->n_points >= 1);
	assert_int_equal(hp->points[hp->n_points - 1]->counters->rx, 2000);
	xdrop__v1__history_reply__free_unpacked(hp, NULL);
	hr.node_id = "n1";
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__stats_service__descriptor, "History", &hr, &hp, NULL),
	    RPC_OK);
	assert_int_equal(hp->points[hp->n_points - 1]->counters->rx, 1000);
	xdrop__v1__history_reply__free_unpacked(hp, NULL);

	g.id = "n1";
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__node_service__descriptor, "Get", &g, &node, NULL),
	    RPC_OK);
	assert_string_equal(node->status, "online");
	assert_string_equal(node->version, "toy");
	assert_non_null(node->stats);
	assert_int_equal(node->stats->counters->rx, 1000);
	assert_true(node->last_seen > 0);
	xdrop__v1__node__free_unpacked(node, NULL);
	agent_stop(a[0]);
	agent_stop(a[1]);
	ctl_stop(&c);
}

static void test_expiry_is_a_change(void **state)
{
	struct ctl c;
	struct agent *a[1];
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;
	Xdrop__V1__GetRuleRequest g = XDROP__V1__GET_RULE_REQUEST__INIT;
	struct store_rev rev;
	uint64_t before;

	ctl_start(&c, IV);
	a[0] = add_agent(&c, "e1", AGENT_SOCKET);
	r.dst_ip = "192.0.2.1";
	r.action = "drop";
	r.enabled = true;
	r.expires_at = clock_wall_ns() + 400 * 1000000ll;
	req.rule = &r;
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__rule_service__descriptor, "Create", &req, &rep, NULL),
	    RPC_OK);
	before = rep->sync->revision;
	g.id = rep->rule->id;
	assert_true(agents_wait_converged(&c, a, 1, 5000) >= 0);
	usleep(900000);
	store_revision(c.store, &rev);
	assert_int_equal(rev.revision, before + 1); /* the sweep's delete, one revision */
	assert_int_equal(rev.rules, 0);
	assert_int_equal(
	    ctl_call(c.admin, &xdrop__v1__rule_service__descriptor, "Get", &g, NULL, NULL),
	    RPC_NOT_FOUND);
	assert_true(agents_wait_converged(&c, a, 1, 5000) >= 0);
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	agent_stop(a[0]);
	ctl_stop(&c);
}

static _Atomic uint64_t hb_seen; /* the newest revision the raw subscriber saw */

static int apply_any(void *arg, const Xdrop__V1__Delta *d)
{
	return 0;
}

static void note_seen(void *arg, enum pubsub_resync_reason why, uint64_t applied, uint64_t seen)
{
	atomic_store(&hb_seen, seen);
}

static uint64_t frames(struct pubsub_sub *sub)
{
	struct pubsub_sub_stats st;

	pubsub_sub_get_stats(sub, &st);
	return st.received;
}

static bool wait_frames_above(struct pubsub_sub *sub, uint64_t n, int64_t ms)
{
	int64_t end = clock_mono_ms() + ms;

	while (frames(sub) <= n && clock_mono_ms() < end)
		usleep(10000);
	return frames(sub) > n;
}

/*
 * A follower of a cluster (store_set_publishing false) sends no heartbeat: its last published
 * revision would tell the nodes, which hear every controller, that they are behind or ahead.
 * Leading again, its first heartbeat carries the store's revision, written meanwhile.
 */
static void test_follower_sends_no_heartbeat(void **state)
{
	struct pubsub_sub_ops ops = {.apply = apply_any, .need_snapshot = note_seen};
	struct pubsub_opts po = {.sz = sizeof(po)};
	struct pubsub_sub *sub = NULL;
	struct store_rev rev;
	uint64_t n;
	struct ctl c;

	ctl_start(&c, IV);
	po.url = c.push_url;
	assert_int_equal(pubsub_sub_open(&sub, &po, &ops, 0, NULL), 0);
	assert_true(wait_frames_above(sub, 0, 3 * IV));
	store_set_publishing(c.store, false);
	ctl_add_rule(&c, 1); /* a write elsewhere: not published here */
	usleep(IV * 1000);   /* a heartbeat under way when it stopped publishing */
	n = frames(sub);
	assert_false(wait_frames_above(sub, n, 3 * IV));
	store_set_publishing(c.store, true);
	assert_true(wait_frames_above(sub, n, 3 * IV));
	store_revision(c.store, &rev);
	for (int64_t end = clock_mono_ms() + 3 * IV;
	     atomic_load(&hb_seen) != rev.revision && clock_mono_ms() < end;)
		usleep(10000);
	assert_int_equal(atomic_load(&hb_seen), rev.revision);
	pubsub_sub_close(sub);
	ctl_stop(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_converge_and_outcome),
	    cmocka_unit_test(test_offline_during_20_changes),
	    cmocka_unit_test(test_push_loss_5_percent),
	    cmocka_unit_test(test_last_push_lost),
	    cmocka_unit_test(test_follower_sends_no_heartbeat),
	    cmocka_unit_test(test_states_and_repair),
	    cmocka_unit_test(test_busy_node_not_forced),
	    cmocka_unit_test(test_snapshot_in_progress_not_forced),
	    cmocka_unit_test(test_stats_from_beacons),
	    cmocka_unit_test(test_expiry_is_a_change),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests_name("controller push and health", tests, NULL, NULL);
}
