// SPDX-License-Identifier: MIT
/*
 * test_traffic: what the controller says about traffic, on a real SQLite file and real
 * nng sockets (tests/controller/harness.h), with signed beacons fed as the agents send
 * them: pass-rule, drop-rule and whitelist counters from the beacons' rule_counters summed
 * exactly across two nodes in RuleService and WhitelistService List/Get, Top and
 * StatsService.RuleStats; rates only from a node's latest beacon; the counters of a deleted
 * rule gone and not brought back by a late beacon, a deleted node's too; the counter table
 * bounded; a new node's full counters read once (AgentService.RuleStats), a failing one
 * asked again with a back-off; per-rule and node figures stale after the health timeout,
 * with the filtering states active, inactive, presumed and unknown; every status
 * transition logged both ways with the node's name and id; totals summing every Counters
 * and Rates field; history gaps that carry no rates; and StatsService.TopTalkers merging
 * fake agents' replies (slow ones asked at once), naming the nodes missing, and checking
 * its request like the agent does.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/capture.h"
#include "clock.h"
#include "harness.h"
#include "log.h"
#include "nodekey.h"
#include "pubsub.h"
#include "talkers.h"

#define RULES (&xdrop__v1__rule_service__descriptor)
#define WL    (&xdrop__v1__whitelist_service__descriptor)
#define NODES (&xdrop__v1__node_service__descriptor)
#define STATS (&xdrop__v1__stats_service__descriptor)
/* A node address where nothing listens (a refused TCP connection: fails at once). */
#define NOWHERE "tcp://127.0.0.1:9"

/* ---- helpers ----------------------------------------------------------------------------- */

struct beacon_spec {
	const char *node, *key;
	int64_t revision; /* -1: the store's current one */
	bool attached;
	Xdrop__V1__RuleCounter **rc;
	size_t nrc;
	const Xdrop__V1__Counters *counters;
	const Xdrop__V1__Rates *rates;
};

/* Feeds one fresh signed beacon as the agent sends it. */
static void feed(struct ctl *c, const struct beacon_spec *b)
{
	Xdrop__V1__Beacon m = XDROP__V1__BEACON__INIT;
	Xdrop__V1__AttachState at = XDROP__V1__ATTACH_STATE__INIT;
	Xdrop__V1__Capacity cap = XDROP__V1__CAPACITY__INIT;
	struct store_rev rev;
	uint8_t bkey[XDROP_NODEKEY_LEN], *frame = NULL;
	size_t len = 0;

	store_revision(c->store, &rev);
	m.node_id = (char *)b->node;
	m.seq = 1;
	m.sent_at = clock_wall_ns();
	m.revision = b->revision < 0 ? rev.revision : (uint64_t)b->revision;
	m.content_hash = rev.hash;
	m.version = "test-agent-1.2";
	m.agent_uptime_s = 77;
	at.attached = b->attached;
	at.mode = "traditional";
	m.attach = &at;
	cap.exact_used = 3;
	cap.exact_max = 1000;
	m.capacity = &cap;
	m.rule_counters = b->rc;
	m.n_rule_counters = b->nrc;
	m.counters = (Xdrop__V1__Counters *)b->counters;
	m.rates = (Xdrop__V1__Rates *)b->rates;
	nodekey_beacon_key(b->key, bkey);
	assert_int_equal(pubsub_beacon_frame(&m, bkey, sizeof(bkey), &frame, &len), 0);
	assert_int_equal(nodes_feed(c->nodes, frame, len), 0);
	free(frame);
}

/* feed() with rule counters and no totals. */
static void feed_rc(struct ctl *c, const char *node, const char *key, int64_t rev, bool attached,
		    Xdrop__V1__RuleCounter **rc, size_t nrc)
{
	feed(c, &(struct beacon_spec){.node = node,
				      .key = key,
				      .revision = rev,
				      .attached = attached,
				      .rc = rc,
				      .nrc = nrc});
}

static Xdrop__V1__RuleCounter counter(const char *id, const char *kind, uint64_t match,
				      uint64_t match_bytes, uint64_t drop, double match_pps)
{
	Xdrop__V1__RuleCounter rc = XDROP__V1__RULE_COUNTER__INIT;

	rc.id = (char *)id;
	rc.kind = (char *)kind;
	rc.match_count = match;
	rc.match_bytes = match_bytes;
	rc.drop_count = drop;
	rc.drop_bytes = drop ? match_bytes : 0;
	rc.match_pps = match_pps;
	rc.match_bps = match_pps * 800;
	rc.drop_pps = drop ? match_pps : 0;
	return rc;
}

static void create_rule(struct ctl *c, const char *id, const char *ip, const char *action)
{
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;

	r.id = (char *)id;
	r.dst_ip = (char *)ip;
	r.action = (char *)action;
	r.enabled = true;
	req.rule = &r;
	assert_int_equal(ctl_call(c->admin, RULES, "Create", &req, NULL, NULL), RPC_OK);
}

static void create_wl(struct ctl *c, const char *id, const char *ip)
{
	Xdrop__V1__CreateWhitelistRequest req = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__WhitelistEntry w = XDROP__V1__WHITELIST_ENTRY__INIT;

	w.id = (char *)id;
	w.src_ip = (char *)ip;
	req.entry = &w;
	assert_int_equal(ctl_call(c->admin, WL, "Create", &req, NULL, NULL), RPC_OK);
}

static Xdrop__V1__Rule *get_rule(struct ctl *c, const char *id)
{
	Xdrop__V1__GetRuleRequest g = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__Rule *r = NULL;

	g.id = (char *)id;
	assert_int_equal(ctl_call(c->admin, RULES, "Get", &g, &r, NULL), RPC_OK);
	assert_non_null(r->stats);
	return r;
}

static Xdrop__V1__Node *get_node(struct ctl *c, const char *id)
{
	Xdrop__V1__GetNodeRequest g = XDROP__V1__GET_NODE_REQUEST__INIT;
	Xdrop__V1__Node *n = NULL;

	g.id = (char *)id;
	assert_int_equal(ctl_call(c->admin, NODES, "Get", &g, &n, NULL), RPC_OK);
	return n;
}

/* ---- per-rule and per-whitelist counters ------------------------------------------------ */

static void test_rule_and_whitelist_counters(void **state)
{
	struct ctl c;
	char k1[65], k2[65];
	Xdrop__V1__RuleCounter a[3], b[3], *pa[3] = {&a[0], &a[1], &a[2]},
					   *pb[3] = {&b[0], &b[1], &b[2]};
	Xdrop__V1__GetWhitelistRequest gw = XDROP__V1__GET_WHITELIST_REQUEST__INIT;
	Xdrop__V1__ListWhitelistRequest lw = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
	Xdrop__V1__ListWhitelistResponse *wl = NULL;
	Xdrop__V1__TopRulesRequest top = XDROP__V1__TOP_RULES_REQUEST__INIT;
	Xdrop__V1__ListRulesResponse *lst = NULL;
	Xdrop__V1__RuleStatsRequest rs = XDROP__V1__RULE_STATS_REQUEST__INIT;
	Xdrop__V1__RuleStatsReply *rsr = NULL;
	Xdrop__V1__WhitelistEntry *w = NULL;
	Xdrop__V1__Rule *r;
	char *ids[2] = {"wl-1", "pass-1"};

	ctl_start(&c, 1000);
	create_rule(&c, "pass-1", "192.0.2.1", "pass");
	create_rule(&c, "drop-1", "192.0.2.2", "drop");
	create_wl(&c, "wl-1", "198.51.100.7");
	ctl_add_node(&c, "n1", NOWHERE, k1);
	ctl_add_node(&c, "n2", NOWHERE, k2);

	/* the pass rule and the whitelist entry never drop: before, they showed 0 */
	a[0] = counter("pass-1", "rule", 166836, 166836 * 98, 0, 1000);
	a[1] = counter("drop-1", "rule", 500, 500 * 60, 500, 10);
	a[2] = counter("wl-1", "whitelist", 4242, 4242 * 1500, 0, 20);
	b[0] = counter("pass-1", "rule", 1164, 1164 * 98, 0, 5);
	b[1] = counter("drop-1", "rule", 7, 7 * 60, 7, 1);
	b[2] = counter("wl-1", "whitelist", 58, 58 * 1500, 0, 2);
	feed_rc(&c, "n1", k1, -1, true, pa, 3);
	feed_rc(&c, "n2", k2, -1, true, pb, 3);

	r = get_rule(&c, "pass-1");
	assert_int_equal(r->stats->match_count, 168000);
	assert_int_equal(r->stats->match_bytes, 168000 * 98);
	assert_int_equal(r->stats->drop_count, 0);
	assert_true(r->stats->match_pps == 1005);
	assert_true(r->stats->pps == 1005); /* a pass rule's pps is its match rate */
	assert_true(r->stats->match_bps == 1005 * 800);
	assert_false(r->stats->stale);
	assert_true(r->stats->at > 0);
	xdrop__v1__rule__free_unpacked(r, NULL);
	r = get_rule(&c, "drop-1");
	assert_int_equal(r->stats->drop_count, 507);
	assert_int_equal(r->stats->drop_bytes, 507 * 60);
	assert_true(r->stats->pps == 11);
	xdrop__v1__rule__free_unpacked(r, NULL);

	gw.id = "wl-1";
	assert_int_equal(ctl_call(c.admin, WL, "Get", &gw, &w, NULL), RPC_OK);
	assert_non_null(w->stats);
	assert_int_equal(w->stats->match_count, 4300);
	assert_int_equal(w->stats->match_bytes, 4300 * 1500);
	xdrop__v1__whitelist_entry__free_unpacked(w, NULL);
	assert_int_equal(ctl_call(c.admin, WL, "List", &lw, &wl, NULL), RPC_OK);
	assert_int_equal(wl->n_entries, 1);
	assert_int_equal(wl->entries[0]->stats->match_count, 4300);
	xdrop__v1__list_whitelist_response__free_unpacked(wl, NULL);

	/* Top by match_count ranks the pass rule first (it had no drops, so no top_rules) */
	top.by = "match_count";
	assert_int_equal(ctl_call(c.admin, RULES, "Top", &top, &lst, NULL), RPC_OK);
	assert_int_equal(lst->n_rules, 2); /* rules only: the whitelist entry is not one */
	assert_string_equal(lst->rules[0]->id, "pass-1");
	assert_int_equal(lst->rules[0]->stats->match_count, 168000);
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);
	top.by = "drop_rate";
	assert_int_equal(ctl_call(c.admin, RULES, "Top", &top, &lst, NULL), RPC_OK);
	assert_string_equal(lst->rules[0]->id, "drop-1");
	xdrop__v1__list_rules_response__free_unpacked(lst, NULL);

	/* RuleStats (agents unreachable here: the beacons' counters stand in), by id and kind */
	rs.ids = ids;
	rs.n_ids = 2;
	assert_int_equal(ctl_call(c.admin, STATS, "RuleStats", &rs, &rsr, NULL), RPC_OK);
	assert_int_equal(rsr->n_rules, 2);
	assert_string_equal(rsr->rules[0]->kind, "whitelist");
	assert_int_equal(rsr->rules[0]->match_count, 4300);
	assert_string_equal(rsr->rules[1]->kind, "rule");
	assert_int_equal(rsr->rules[1]->match_bytes, 168000 * 98);
	xdrop__v1__rule_stats_reply__free_unpacked(rsr, NULL);

	/* n1's next beacon carries only the drop rule: the pass rule did not move there, so
	 * its rate is n2's alone, and its count stays exact */
	a[1].match_count = a[1].drop_count = 600;
	feed_rc(&c, "n1", k1, -1, true, &pa[1], 1);
	r = get_rule(&c, "pass-1");
	assert_int_equal(r->stats->match_count, 168000);
	assert_true(r->stats->match_pps == 5);
	xdrop__v1__rule__free_unpacked(r, NULL);
	r = get_rule(&c, "drop-1");
	assert_int_equal(r->stats->drop_count, 607);
	xdrop__v1__rule__free_unpacked(r, NULL);
	ctl_stop(&c);
}

static bool has_counter(struct ctl *c, const char *id)
{
	struct rule_sum *v = NULL;
	size_t n = 0;
	bool found;

	assert_int_equal(stats_rule_counters(c->stats, false, &v, &n), 0);
	found = stats_rule_find(v, n, STORE_RULES, id) != NULL;
	free(v);
	return found;
}

static void test_deleted_rule_counters_gone(void **state)
{
	struct ctl c;
	char k1[65];
	Xdrop__V1__RuleCounter a = counter("gone-1", "rule", 10, 1000, 10, 1), *pa[1] = {&a};
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	struct store_rev before;

	ctl_start(&c, 1000);
	create_rule(&c, "gone-1", "192.0.2.9", "drop");
	ctl_add_node(&c, "n1", NOWHERE, k1);
	store_revision(c.store, &before);
	feed_rc(&c, "n1", k1, -1, true, pa, 1);
	assert_true(has_counter(&c, "gone-1"));

	del.id = "gone-1";
	assert_int_equal(ctl_call(c.admin, RULES, "Delete", &del, NULL, NULL), RPC_OK);
	assert_false(has_counter(&c, "gone-1"));
	/* a beacon the node sent before it applied the delete does not bring it back */
	feed_rc(&c, "n1", k1, (int64_t)before.revision, true, pa, 1);
	assert_false(has_counter(&c, "gone-1"));

	/* a deleted node's counters go too */
	create_rule(&c, "kept-1", "192.0.2.10", "drop");
	a.id = "kept-1";
	feed_rc(&c, "n1", k1, -1, true, pa, 1);
	assert_true(has_counter(&c, "kept-1"));
	del.id = "n1";
	assert_int_equal(ctl_call(c.admin, NODES, "Delete", &del, NULL, NULL), RPC_OK);
	assert_false(has_counter(&c, "kept-1"));
	ctl_stop(&c);
}

/* The table is bounded: entries beyond its size are refused and counted, the ones held
 * keep their exact figures. */
static void test_counter_table_bounded(void **state)
{
	struct rulecounters *t = NULL;
	Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
	Xdrop__V1__RuleCounter a[3] = {counter("a", "rule", 1, 64, 1, 0),
				       counter("b", "rule", 2, 128, 2, 0),
				       counter("c", "whitelist", 3, 192, 0, 0)},
			       *pa[3] = {&a[0], &a[1], &a[2]};
	struct rule_sum sums[1];
	const char *ids[1] = {"a"};
	uint64_t refused = 0;

	assert_int_equal(rc_open(&t, 2), 0);
	b.sent_at = clock_wall_ns();
	b.rule_counters = pa;
	b.n_rule_counters = 3;
	rc_beacon(t, "n1", &b, now_ms());
	assert_int_equal(rc_count(t, &refused), 2);
	assert_int_equal(refused, 1);
	a[0].match_count = 10; /* an entry held is still updated */
	rc_beacon(t, "n1", &b, now_ms());
	rc_sum_ids(t, now_ms(), 1000, STORE_RULES, ids, 1, sums);
	assert_int_equal(sums[0].match_count, 10);
	assert_int_equal(rc_count(t, &refused), 2);
	assert_int_equal(refused, 2);
	rc_close(t);
}

/* A controller started after its agents reads each node's full counters once: the
 * beacons carry only what changed, and these counters do not change. */
static atomic_int seed_calls, failing_calls;

static enum rpc_code seed_rule_stats_h(struct rpc_call *call, const ProtobufCMessage *req,
				       ProtobufCMessage *resp, void *arg)
{
	static Xdrop__V1__RuleCounter rc = XDROP__V1__RULE_COUNTER__INIT;
	static Xdrop__V1__RuleCounter *v[1] = {&rc};
	Xdrop__V1__RuleStatsReply *r = (Xdrop__V1__RuleStatsReply *)resp;

	if (arg) { /* an agent that fails */
		atomic_fetch_add(&failing_calls, 1);
		return rpc_call_error(call, RPC_INTERNAL, NULL, "broken");
	}
	atomic_fetch_add(&seed_calls, 1);
	rc.id = "quiet-1";
	rc.kind = "rule";
	rc.match_count = 31337;
	rc.match_bytes = 31337 * 64;
	r->rules = v;
	r->n_rules = 1;
	return RPC_OK;
}

static void test_counters_read_once_from_new_nodes(void **state)
{
	struct rpc_server_opts so = {
	    .sz = sizeof(so), .url = "tcp://127.0.0.1:0", .workers = 2, .name = "seed-agent"};
	struct rpc_server *agent = NULL, *broken = NULL;
	struct ctl c;
	char key[65], bkey[65], url[64], burl[64];
	Xdrop__V1__Rule *r;
	int calls;

	assert_int_equal(rpc_server_open(&agent, &so), 0);
	assert_int_equal(rpc_server_register(agent, &xdrop__v1__agent_service__descriptor,
					     "RuleStats", seed_rule_stats_h, NULL),
			 0);
	assert_int_equal(rpc_server_start(agent), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rpc_server_port(agent));
	assert_int_equal(rpc_server_open(&broken, &so), 0);
	assert_int_equal(rpc_server_register(broken, &xdrop__v1__agent_service__descriptor,
					     "RuleStats", seed_rule_stats_h, &c),
			 0);
	assert_int_equal(rpc_server_start(broken), 0);
	snprintf(burl, sizeof(burl), "tcp://127.0.0.1:%d", rpc_server_port(broken));
	ctl_start(&c, 1000);
	create_rule(&c, "quiet-1", "192.0.2.13", "pass");
	ctl_add_node(&c, "n1", url, key);
	stats_seed(c.stats); /* not heard from yet: nothing to ask */
	assert_int_equal(atomic_load(&seed_calls), 0);
	feed_rc(&c, "n1", key, -1, true, NULL, 0); /* a beacon without rule counters */
	stats_seed(c.stats);
	calls = atomic_load(&seed_calls);
	assert_true(calls >= 1); /* the seeder's own tick may have come first */
	r = get_rule(&c, "quiet-1");
	assert_int_equal(r->stats->match_count, 31337);
	assert_int_equal(r->stats->match_bytes, 31337 * 64);
	xdrop__v1__rule__free_unpacked(r, NULL);
	stats_seed(c.stats); /* once per node */
	assert_int_equal(atomic_load(&seed_calls), calls);

	/* a node that fails is asked again, but not at every tick: after 2 s, 4 s, ... */
	ctl_add_node(&c, "n2", burl, bkey);
	feed_rc(&c, "n2", bkey, -1, true, NULL, 0);
	stats_seed(c.stats);
	calls = atomic_load(&failing_calls);
	assert_true(calls >= 1);
	stats_seed(c.stats);
	stats_seed(c.stats);
	assert_int_equal(atomic_load(&failing_calls), calls);
	ctl_stop(&c);
	rpc_server_close(agent);
	rpc_server_close(broken);
}

/* ---- stale figures and filtering states -------------------------------------------------- */

static bool wait_rule_stale(struct ctl *c, const char *id, unsigned timeout_ms)
{
	long t0 = now_ms();

	while (now_ms() - t0 <= (long)timeout_ms) {
		Xdrop__V1__Rule *r = get_rule(c, id);
		bool stale = r->stats->stale;

		xdrop__v1__rule__free_unpacked(r, NULL);
		if (stale)
			return true;
		usleep(10000);
	}
	return false;
}

static void check_filtering(struct ctl *c, const char *id, const char *want, bool stale)
{
	Xdrop__V1__Node *n = get_node(c, id);

	assert_string_equal(n->filtering, want);
	assert_true(n->status_since > 0);
	if (n->stats) {
		assert_int_equal(n->stats->stale, stale);
		assert_true(n->stats->at > 0 && n->stats->at <= clock_wall_ns());
		assert_true(n->stats->age_ms >= 0);
	}
	xdrop__v1__node__free_unpacked(n, NULL);
}

static void test_stale_and_filtering(void **state)
{
	struct ctl c;
	char k1[65], k2[65], k3[65];
	Xdrop__V1__RuleCounter a = counter("r-1", "rule", 10, 640, 10, 4), *pa[1] = {&a};
	Xdrop__V1__Node *n;
	Xdrop__V1__Rule *r;

	ctl_start(&c, 100); /* health timeout: 300 ms */
	create_rule(&c, "r-1", "192.0.2.11", "drop");
	ctl_add_node(&c, "attached", NOWHERE, k1);
	ctl_add_node(&c, "detached", NOWHERE, k2);
	ctl_add_node(&c, "silent", NOWHERE, k3);
	feed_rc(&c, "attached", k1, -1, true, pa, 1);
	feed_rc(&c, "detached", k2, -1, false, NULL, 0);
	check_filtering(&c, "attached", "active", false);
	check_filtering(&c, "detached", "inactive", false);
	check_filtering(&c, "silent", "unknown", false);
	n = get_node(&c, "attached");
	assert_string_equal(n->stats->agent_version, "test-agent-1.2");
	assert_int_equal(n->stats->agent_uptime_s, 77);
	assert_non_null(n->stats->capacity);
	assert_int_equal(n->stats->capacity->exact_max, 1000);
	xdrop__v1__node__free_unpacked(n, NULL);

	/* no more beacons: after the health timeout the figures are the last known, stale */
	assert_true(wait_rule_stale(&c, "r-1", 5000));
	r = get_rule(&c, "r-1");
	assert_int_equal(r->stats->drop_count, 10); /* the count stays */
	assert_true(r->stats->drop_pps == 0);	    /* no current rate from a silent node */
	xdrop__v1__rule__free_unpacked(r, NULL);
	assert_true(wait_status(&c, "attached", NODE_OFFLINE, 5000) >= 0);
	assert_true(wait_status(&c, "detached", NODE_OFFLINE, 5000) >= 0);
	check_filtering(&c, "attached", "presumed", true); /* a pinned program filters on */
	check_filtering(&c, "detached", "unknown", true);
	n = get_node(&c, "attached");
	assert_non_null(n->stats); /* the last known figures are kept, marked stale */
	assert_true(n->stats->age_ms >= 300);
	xdrop__v1__node__free_unpacked(n, NULL);
	ctl_stop(&c);
}

/* ---- transitions logged both ways ------------------------------------------------------- */

static bool wait_log(const char *path, const char *what, unsigned timeout_ms)
{
	long t0 = now_ms();

	while (now_ms() - t0 <= (long)timeout_ms) {
		char *log = capture_slurp(path);
		bool found = log && strstr(log, what) != NULL;

		free(log);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_transitions_logged(void **state)
{
	struct ctl c;
	char k1[65], path[128];
	struct store_rev rev;
	int saved;

	ctl_start(&c, 100);
	ctl_add_node(&c, "edge-7", NOWHERE, k1);
	snprintf(path, sizeof(path), "%s/stderr.log", c.dir);
	saved = capture_stderr(path);
	assert_true(saved >= 0);
	log_set_level(LOG_LEVEL_INFO);

	feed_rc(&c, "edge-7", k1, -1, true, NULL, 0);
	assert_true(wait_log(path, "node edge-7 (edge-7) unknown -> online", 5000));
	assert_true(wait_log(path, "node edge-7 (edge-7) offline: no beacon for", 5000));
	assert_true(wait_log(path, "filtering presumed to go on", 100));
	feed_rc(&c, "edge-7", k1, -1, true, NULL, 0);
	assert_true(wait_log(path, "node edge-7 (edge-7) back online after", 5000));
	/* behind, then another hash at the same revision */
	create_rule(&c, "t-1", "192.0.2.12", "drop");
	store_revision(c.store, &rev);
	feed_rc(&c, "edge-7", k1, (int64_t)rev.revision - 1, true, NULL, 0);
	assert_true(wait_log(path, "node edge-7 (edge-7) online -> syncing", 5000));
	feed_rc(&c, "edge-7", k1, (int64_t)rev.revision + 1, true, NULL, 0);
	assert_true(wait_log(path, "node edge-7 (edge-7) syncing -> out_of_sync", 5000));

	log_set_level(LOG_LEVEL_WARN);
	capture_end(saved);
	ctl_stop(&c);
}

/* ---- totals and history ------------------------------------------------------------------ */

static void test_totals_and_history_gaps(void **state)
{
	struct ctl c;
	char k1[65], k2[65];
	Xdrop__V1__Counters cn = XDROP__V1__COUNTERS__INIT, tc = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Rates rt = XDROP__V1__RATES__INIT, tr = XDROP__V1__RATES__INIT;
	Xdrop__V1__HistoryRequest hr = XDROP__V1__HISTORY_REQUEST__INIT;
	Xdrop__V1__HistoryReply *rep = NULL;
	size_t gaps = 0, data = 0;

	ctl_start(&c, 100);
	ctl_add_node(&c, "h1", NOWHERE, k1);
	ctl_add_node(&c, "h2", NOWHERE, k2);
	stats_sample(c.stats); /* no node heard from: a gap, not a zero */
	cn.rx = 100;
	cn.rx_bytes = 6400;
	cn.whitelisted_bytes = 300;
	cn.rule_passed_bytes = 700;
	cn.default_passed = 9;
	cn.samples_lost = 2;
	rt.rx_bps = 1e6;
	rt.whitelisted_bps = 250;
	rt.default_passed_pps = 3;
	feed(&c, &(struct beacon_spec){
		     .node = "h1", .key = k1, .revision = -1, .counters = &cn, .rates = &rt});
	feed(&c, &(struct beacon_spec){
		     .node = "h2", .key = k2, .revision = -1, .counters = &cn, .rates = &rt});
	stats_totals(c.stats, &tc, &tr);
	assert_int_equal(tc.rx_bytes, 12800);
	assert_int_equal(tc.whitelisted_bytes, 600);
	assert_int_equal(tc.rule_passed_bytes, 1400);
	assert_int_equal(tc.default_passed, 18);
	assert_int_equal(tc.samples_lost, 4);
	assert_true(tr.rx_bps == 2e6);
	assert_true(tr.whitelisted_bps == 500);
	assert_true(tr.default_passed_pps == 6);
	stats_sample(c.stats);

	hr.seconds = 0;
	assert_int_equal(ctl_call(c.admin, STATS, "History", &hr, &rep, NULL), RPC_OK);
	for (size_t i = 0; i < rep->n_points; i++) {
		Xdrop__V1__HistoryPoint *p = rep->points[i];

		assert_true(p->at > 0);
		assert_true((p->rates == NULL) == (p->counters == NULL));
		if (!p->rates) {
			gaps++;
		} else if (p->counters->rx_bytes == 12800) {
			assert_true(p->rates->rx_bps == 2e6);
			assert_true(p->rates->whitelisted_bps == 500);
			data++;
		}
	}
	assert_true(gaps >= 1);
	assert_true(data >= 1);
	assert_null(rep->points[0]->rates); /* the first sample: nothing known yet */
	xdrop__v1__history_reply__free_unpacked(rep, NULL);

	/* h1 falls silent: its own history shows the hole, as a gap */
	assert_true(wait_status(&c, "h1", NODE_OFFLINE, 5000) >= 0);
	stats_sample(c.stats);
	hr.node_id = "h1";
	assert_int_equal(ctl_call(c.admin, STATS, "History", &hr, &rep, NULL), RPC_OK);
	assert_true(rep->n_points >= 2);
	assert_null(rep->points[rep->n_points - 1]->rates);
	xdrop__v1__history_reply__free_unpacked(rep, NULL);
	ctl_stop(&c);
}

/* ---- top talkers ------------------------------------------------------------------------- */

struct fake_agent {
	struct rpc_server *srv;
	char url[64];
	const char *keys[3];
	uint64_t packets[3];
	uint64_t total;
	atomic_uint asked_limit;
	atomic_int calls;
	unsigned delay_ms; /* a slow agent: answers after this long */
};

static enum rpc_code talkers_h(struct rpc_call *call, const ProtobufCMessage *req,
			       ProtobufCMessage *resp, void *arg)
{
	struct fake_agent *a = arg;
	const Xdrop__V1__TopTalkersRequest *q = (const Xdrop__V1__TopTalkersRequest *)req;
	Xdrop__V1__TopTalkersReply *r = (Xdrop__V1__TopTalkersReply *)resp;
	Xdrop__V1__Talker **v = rpc_call_alloc(call, 3 * sizeof(*v));

	atomic_store(&a->asked_limit, q->limit);
	atomic_fetch_add(&a->calls, 1);
	if (a->delay_ms)
		usleep(a->delay_ms * 1000);
	for (size_t i = 0; i < 3 && a->keys[i]; i++) {
		Xdrop__V1__Talker *t = rpc_call_alloc(call, sizeof(*t));

		xdrop__v1__talker__init(t);
		t->key = (char *)a->keys[i];
		t->packets = a->packets[i];
		t->bytes = a->packets[i] * 100;
		t->pps = (double)a->packets[i] / 10;
		t->bps = t->pps * 800;
		t->error_packets = 64;
		v[r->n_talkers++] = t;
	}
	r->talkers = v;
	r->by = rpc_call_strdup(call, q->by);
	r->verdict = rpc_call_strdup(call, q->verdict);
	r->window_s = q->window_s;
	r->span_s = 10;
	r->sample_rate = 64;
	r->total_packets = a->total;
	r->samples = a->total / 64;
	r->at = clock_wall_ns();
	return RPC_OK;
}

static void fake_start(struct fake_agent *a, const char *name)
{
	struct rpc_server_opts so = {
	    .sz = sizeof(so), .url = "tcp://127.0.0.1:0", .workers = 2, .name = name};

	assert_int_equal(rpc_server_open(&a->srv, &so), 0);
	assert_int_equal(rpc_server_register(a->srv, &xdrop__v1__agent_service__descriptor,
					     "TopTalkers", talkers_h, a),
			 0);
	assert_int_equal(rpc_server_start(a->srv), 0);
	snprintf(a->url, sizeof(a->url), "tcp://127.0.0.1:%d", rpc_server_port(a->srv));
}

static enum rpc_code top(struct ctl *c, Xdrop__V1__TopTalkersRequest *q,
			 Xdrop__V1__TopTalkersReply **rep, struct rpc_status *st)
{
	return ctl_call(c->admin, STATS, "TopTalkers", q, rep, st);
}

static void test_top_talkers(void **state)
{
	struct ctl c;
	struct fake_agent a = {.keys = {"192.0.2.7", "192.0.2.8", "198.51.100.1"},
			       .packets = {6400, 3200, 640},
			       .total = 12800},
			  b = {.keys = {"192.0.2.7", "203.0.113.5"},
			       .packets = {1600, 1280},
			       .total = 3200};
	char ka[65], kb[65], kd[65], ko[65];
	Xdrop__V1__TopTalkersRequest q = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	Xdrop__V1__TopTalkersReply *rep = NULL;
	struct rpc_status st;

	fake_start(&a, "fake-a");
	fake_start(&b, "fake-b");
	ctl_start(&c, 1000); /* offline 3 s after a beacon: long enough for each query */
	ctl_add_node(&c, "a", a.url, ka);
	ctl_add_node(&c, "b", b.url, kb);
	ctl_add_node(&c, "dead", "tcp://127.0.0.1:9", kd); /* online, but nothing answers */
	ctl_add_node(&c, "off", NOWHERE, ko);		   /* never heard from */
	feed_rc(&c, "a", ka, -1, true, NULL, 0);
	feed_rc(&c, "b", kb, -1, true, NULL, 0);
	feed_rc(&c, "dead", kd, -1, true, NULL, 0);

	q.limit = 2;
	assert_int_equal(top(&c, &q, &rep, NULL), RPC_OK);
	assert_int_equal(atomic_load(&a.asked_limit), 8); /* 4x the limit */
	assert_string_equal(rep->by, "src");
	assert_string_equal(rep->verdict, "dropped");
	assert_int_equal(rep->window_s, 10);
	assert_int_equal(rep->n_talkers, 2);
	assert_string_equal(rep->talkers[0]->key, "192.0.2.7");
	assert_int_equal(rep->talkers[0]->packets, 8000);
	assert_int_equal(rep->talkers[0]->bytes, 800000);
	assert_true(rep->talkers[0]->pps == 800);
	assert_int_equal(rep->talkers[0]->error_packets, 128);
	assert_true(rep->talkers[0]->share == 8000.0 / 16000);
	assert_string_equal(rep->talkers[1]->key, "192.0.2.8");
	assert_int_equal(rep->total_packets, 16000);
	assert_int_equal(rep->sample_rate, 64);
	assert_int_equal(rep->n_nodes, 2);
	assert_int_equal(rep->n_missing_nodes, 1);
	assert_string_equal(rep->missing_nodes[0], "dead");
	xdrop__v1__top_talkers_reply__free_unpacked(rep, NULL);

	/* one node: its figures alone; unknown and unreachable nodes are errors naming them */
	feed_rc(&c, "b", kb, -1, true, NULL, 0);
	feed_rc(&c, "dead", kd, -1, true, NULL, 0);
	q.node_id = "b";
	q.limit = 0;
	q.by = "src_prefix";
	q.verdict = "passed";
	q.window_s = 300;
	assert_int_equal(top(&c, &q, &rep, NULL), RPC_OK);
	assert_int_equal(atomic_load(&b.asked_limit), 10);
	assert_int_equal(rep->n_talkers, 2);
	assert_int_equal(rep->talkers[0]->packets, 1600);
	assert_string_equal(rep->nodes[0], "b");
	assert_int_equal(rep->window_s, 300);
	xdrop__v1__top_talkers_reply__free_unpacked(rep, NULL);
	q.node_id = "nope";
	assert_int_equal(top(&c, &q, NULL, &st), RPC_NOT_FOUND);
	assert_string_equal(st.field, "node_id");
	q.node_id = "off";
	assert_int_equal(top(&c, &q, NULL, &st), RPC_UNAVAILABLE);
	assert_non_null(strstr(st.message, "off"));
	q.node_id = "dead";
	assert_int_equal(top(&c, &q, NULL, &st), RPC_UNAVAILABLE);
	assert_non_null(strstr(st.message, "node dead (dead)"));
	ctl_stop(&c);
	rpc_server_close(a.srv);
	rpc_server_close(b.srv);
}

/* Slow agents are asked at once: six that each take 600 ms all answer, where one after
 * the other they would need 3.6 s, more than the query's 3 s (some would be missing). */
#define SLOW_AGENTS 6

static void test_top_talkers_in_parallel(void **state)
{
	struct fake_agent a[SLOW_AGENTS];
	char keys[SLOW_AGENTS][65], id[SLOW_AGENTS][16];
	Xdrop__V1__TopTalkersRequest q = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	Xdrop__V1__TopTalkersReply *rep = NULL;
	struct ctl c;

	ctl_start(&c, 1000);
	for (int i = 0; i < SLOW_AGENTS; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].keys[0] = "192.0.2.99";
		a[i].packets[0] = 100;
		a[i].total = 100;
		a[i].delay_ms = 600;
		fake_start(&a[i], "slow");
		snprintf(id[i], sizeof(id[i]), "slow-%d", i);
		ctl_add_node(&c, id[i], a[i].url, keys[i]);
	}
	for (int i = 0; i < SLOW_AGENTS; i++)
		feed_rc(&c, id[i], keys[i], -1, true, NULL, 0);
	assert_int_equal(top(&c, &q, &rep, NULL), RPC_OK);
	assert_int_equal(rep->n_nodes, SLOW_AGENTS);
	assert_int_equal(rep->n_missing_nodes, 0);
	assert_int_equal(rep->talkers[0]->packets, 100 * SLOW_AGENTS);
	assert_true(rep->talkers[0]->share == 1.0);
	xdrop__v1__top_talkers_reply__free_unpacked(rep, NULL);
	ctl_stop(&c);
	for (int i = 0; i < SLOW_AGENTS; i++)
		rpc_server_close(a[i].srv);
}

/* A read-only key may look (TopTalkers is a read, like the other StatsService methods). */
static void top_read_only(struct ctl *c)
{
	Xdrop__V1__CreateKeyRequest ck = XDROP__V1__CREATE_KEY_REQUEST__INIT;
	Xdrop__V1__TopTalkersRequest q = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	Xdrop__V1__ApiKey *key = NULL;
	struct rpc_client *ro;

	ck.name = "viewer";
	ck.scope = "read_only";
	assert_int_equal(
	    ctl_call(c->admin, &xdrop__v1__key_service__descriptor, "Create", &ck, &key, NULL),
	    RPC_OK);
	ro = ctl_client(c, key->key);
	assert_int_equal(ctl_call(ro, STATS, "TopTalkers", &q, NULL, NULL), RPC_OK);
	rpc_client_close(ro);
	xdrop__v1__api_key__free_unpacked(key, NULL);
}

/* Requests the agent refuses are refused here, naming the field, before any node is asked. */
static void test_top_talkers_validation(void **state)
{
	static const struct {
		const char *by, *verdict;
		uint32_t window_s, limit;
		const char *field; /* NULL: valid */
	} cases[] = {
	    {"", "", 0, 0, NULL},
	    {"dst_port", "passed", 60, 100, NULL},
	    {"dst", "dropped", 300, 1, NULL},
	    {"source", "", 0, 0, "by"},
	    {"", "blocked", 0, 0, "verdict"},
	    {"", "", 30, 0, "window_s"},
	    {"", "", 11, 0, "window_s"},
	    {"", "", 0, 101, "limit"},
	};
	struct ctl c;

	ctl_start(&c, 1000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Xdrop__V1__TopTalkersRequest q = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
		Xdrop__V1__TopTalkersReply *rep = NULL;
		struct rpc_status st;

		q.by = (char *)cases[i].by;
		q.verdict = (char *)cases[i].verdict;
		q.window_s = cases[i].window_s;
		q.limit = cases[i].limit;
		if (!cases[i].field) {
			assert_int_equal(top(&c, &q, &rep, NULL), RPC_OK);
			assert_int_equal(rep->n_nodes, 0); /* no node: an empty answer */
			xdrop__v1__top_talkers_reply__free_unpacked(rep, NULL);
			continue;
		}
		assert_int_equal(top(&c, &q, NULL, &st), RPC_INVALID_ARGUMENT);
		assert_string_equal(st.field, cases[i].field);
	}
	top_read_only(&c);
	ctl_stop(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_and_whitelist_counters),
	    cmocka_unit_test(test_deleted_rule_counters_gone),
	    cmocka_unit_test(test_counter_table_bounded),
	    cmocka_unit_test(test_counters_read_once_from_new_nodes),
	    cmocka_unit_test(test_stale_and_filtering),
	    cmocka_unit_test(test_transitions_logged),
	    cmocka_unit_test(test_totals_and_history_gaps),
	    cmocka_unit_test(test_top_talkers),
	    cmocka_unit_test(test_top_talkers_in_parallel),
	    cmocka_unit_test(test_top_talkers_validation),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests_name("controller traffic", tests, NULL, NULL);
}
