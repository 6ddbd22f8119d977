// SPDX-License-Identifier: MIT
/*
 * test_stats: the agent's sampler (agent/stats.c) on a real, unpinned data plane and the
 * real rule set, with known traffic sent through BPF_PROG_TEST_RUN. Counters and rates
 * fill every field with the exclusive sums; per-entry figures (rules and whitelist
 * entries) carry exact packets and bytes; the beacon's rule_counters, fed to a receiver
 * that keeps the latest value per id, converge to the exact counters with a small cap per
 * beacon, again for a receiver that lost everything (the refresh alone), and never give a
 * deleted rule's numbers under the id of a rule that reuses its slot; a beacon with every
 * counter field at its largest stays under the health port's 64 KiB. Needs root (BPF).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "beacon.h"
#include "clock.h"
#include "pbfield.h"
#include "ruleset.h"
#include "stats.h"
#include "stats_figs.h"
#include "stats_ids.h"
#include "testdp.h"
#include "tmpdir.h"

#define NENT 5

static struct dataplane *dp;

struct entry {
	const struct ruleset_kind *k;
	const char *kv[5];
	struct pkt_desc pkt; /* matches the entry */
	int verdict;
	char *id;
	uint64_t match, drop, match_bytes, drop_bytes; /* what was sent */
};

/* TCP packets carry ACK: a segment without any flag would be an anomaly (INVALID) */
static struct entry ents[NENT] = {
    {&ruleset_rules,
     {"dst_ip=198.51.100.1", "action=drop", "enabled=1"},
     {.src = "192.0.2.1", .dst = "198.51.100.1", .proto = 17, .sport = 1, .dport = 53},
     XDP_DROP,
     NULL,
     0,
     0,
     0,
     0},
    {&ruleset_rules,
     {"dst_ip=198.51.100.2", "action=pass", "enabled=1"},
     {.src = "192.0.2.1",
      .dst = "198.51.100.2",
      .proto = 6,
      .sport = 1,
      .dport = 80,
      .tcp_flags = 0x10},
     XDP_PASS,
     NULL,
     0,
     0,
     0,
     0},
    {&ruleset_rules,
     {"dst_ip=198.51.100.3", "action=rate_limit", "rate_limit=1000000", "enabled=1"},
     {.src = "192.0.2.1", .dst = "198.51.100.3", .proto = 17, .sport = 1, .dport = 53},
     XDP_PASS,
     NULL,
     0,
     0,
     0,
     0},
    {&ruleset_whitelist,
     {"src_ip=192.0.2.50"},
     {.src = "192.0.2.50", .dst = "198.51.100.1", .proto = 17, .sport = 1, .dport = 53},
     XDP_PASS,
     NULL,
     0,
     0,
     0,
     0},
    {&ruleset_whitelist,
     {"src_ip=2001:db8::50"},
     {.src = "2001:db8::50",
      .dst = "2001:db8::1",
      .proto = 6,
      .sport = 1,
      .dport = 22,
      .tcp_flags = 0x10},
     XDP_PASS,
     NULL,
     0,
     0,
     0,
     0},
};

struct fixture {
	char dir[64];
	struct ruleset *rs;
	struct stats *st;
};

static ProtobufCMessage *msg_of(const struct ruleset_kind *k, const char *const *kv)
{
	ProtobufCMessage *m = calloc(1, k->msg->sizeof_message);

	assert_non_null(m);
	protobuf_c_message_init(k->msg, m);
	for (size_t i = 0; kv[i]; i++) {
		const char *eq = strchr(kv[i], '=');
		char name[64];
		const ProtobufCFieldDescriptor *f;

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

static char *create(struct ruleset *rs, const struct ruleset_kind *k, const char *const *kv)
{
	ProtobufCMessage *m = msg_of(k, kv), *out = NULL;
	struct rpc_status st = {0};
	char *id;

	assert_int_equal(ruleset_create(rs, k, m, &out, &st), 0);
	free(m);
	id = strdup(pbf_str(out, k->id_field));
	ruleset_free(out);
	return id;
}

/* Sends entry e's packet n times with payload bytes, recording what it should count. */
static size_t send_pkts(struct entry *e, int n, uint16_t payload)
{
	uint8_t buf[PKT_MAX];
	struct pkt_desc d = e->pkt;
	int len;

	d.payload = payload;
	len = pkt_build(&d, buf);
	assert_true(len > 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(pkt_run(dataplane_prog_fd(dp), buf, (size_t)len), e->verdict);
	e->match += (uint64_t)n;
	e->match_bytes += (uint64_t)n * (uint64_t)len;
	if (e->verdict == XDP_DROP) {
		e->drop += (uint64_t)n;
		e->drop_bytes += (uint64_t)n * (uint64_t)len;
	}
	return (size_t)len;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || tmpdir_make(f->dir, sizeof(f->dir), "xdrop-stats"))
		return -1;
	if (testdp_load(dp, NULL) || ruleset_open(&f->rs, dp, f->dir))
		return -1;
	for (int i = 0; i < NENT; i++) {
		ents[i].id = create(f->rs, ents[i].k, ents[i].kv);
		ents[i].match = ents[i].drop = ents[i].match_bytes = ents[i].drop_bytes = 0;
	}
	if (stats_start(&f->st, dp, f->rs, 20))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stats_stop(f->st);
	ruleset_close(f->rs);
	tmpdir_remove(f->dir);
	for (int i = 0; i < NENT; i++) {
		free(ents[i].id);
		ents[i].id = NULL;
	}
	free(f);
	return 0;
}

static bool rule_is(const struct stats_rule *r, const struct entry *e)
{
	return r->match == e->match && r->drop == e->drop && r->match_bytes == e->match_bytes &&
	       r->drop_bytes == e->drop_bytes;
}

/* Waits (up to 10 s) until the sampler's figures of every entry are what was sent. */
static void wait_sampled(struct stats *st)
{
	int64_t end = clock_mono_ns() + 10000000000ll;

	for (;;) {
		struct stats_rule r;
		int ok = 0;

		for (int i = 0; i < NENT; i++)
			ok += stats_rule(st, ents[i].id, &r) == 0 && rule_is(&r, &ents[i]);
		if (ok == NENT)
			return;
		if (clock_mono_ns() > end)
			fail_msg("the sampler did not reach the sent counts");
		usleep(5000);
	}
}

static void send_all(void)
{
	send_pkts(&ents[0], 3, 100);
	send_pkts(&ents[0], 2, 1000);
	send_pkts(&ents[1], 4, 7);
	send_pkts(&ents[2], 5, 300);
	send_pkts(&ents[3], 6, 33);
	send_pkts(&ents[4], 2, 500);
}

/* Counters and rates: exact figures and the exclusive sums. */
static void test_fill(void **state)
{
	struct fixture *f = *state;
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Rates r = XDROP__V1__RATES__INIT;
	struct entry none = {.pkt = {.src = "203.0.113.1", .dst = "203.0.113.2", .proto = 17},
			     .verdict = XDP_PASS};
	/* the same frame announcing more bytes than it holds: INVALID, passed all the same */
	struct entry lying = none;
	struct stats_rule sr;
	size_t nlen;

	send_all();
	nlen = send_pkts(&none, 9, 11); /* matches nothing: default pass */
	lying.pkt.ip_len = 1000;
	assert_int_equal(send_pkts(&lying, 4, 11), nlen);
	wait_sampled(f->st);
	stats_fill(f->st, &c, &r, NULL);
	assert_int_equal(c.rule_dropped, ents[0].drop);
	assert_int_equal(c.rule_dropped_bytes, ents[0].drop_bytes);
	assert_int_equal(c.rule_passed, ents[1].match);
	assert_int_equal(c.rule_passed_bytes, ents[1].match_bytes);
	assert_int_equal(c.rate_limit_passed, ents[2].match);
	assert_int_equal(c.rate_limit_passed_bytes, ents[2].match_bytes);
	assert_int_equal(c.whitelisted, ents[3].match + ents[4].match);
	assert_int_equal(c.whitelisted_bytes, ents[3].match_bytes + ents[4].match_bytes);
	assert_int_equal(c.default_passed, 13);
	assert_int_equal(c.default_passed_bytes, 13 * nlen);
	assert_int_equal(c.anomaly_invalid, 4);
	assert_int_equal(c.anomaly_bad_fragment, 0);
	assert_int_equal(c.rx, c.passed + c.dropped);
	assert_int_equal(c.rx_bytes, c.passed_bytes + c.dropped_bytes);
	assert_int_equal(c.dropped, c.rule_dropped + c.rate_limited + c.malformed);
	assert_int_equal(c.dropped_bytes,
			 c.rule_dropped_bytes + c.rate_limited_bytes + c.malformed_bytes);
	assert_int_equal(c.passed, c.rule_passed + c.rate_limit_passed + c.whitelisted +
				       c.protected_ + c.non_ip + c.default_passed);
	assert_int_equal(c.passed_bytes, c.rule_passed_bytes + c.rate_limit_passed_bytes +
					     c.whitelisted_bytes + c.protected_bytes +
					     c.non_ip_bytes + c.default_passed_bytes);
	assert_true(r.rx_pps >= 0 && r.rx_bps >= 0 && r.default_passed_bps >= 0);
	/* whitelist entries have figures, with their kind */
	assert_int_equal(stats_rule(f->st, ents[4].id, &sr), 0);
	assert_true(sr.whitelist);
	assert_true(rule_is(&sr, &ents[4]));
	assert_int_equal(stats_rule(f->st, ents[1].id, &sr), 0);
	assert_false(sr.whitelist);
}

/* A receiver keeping the latest value per id, as the controller does. */
struct receiver {
	char *id[NENT * 4];
	struct stats_rule v[NENT * 4];
	size_t n;
};

static void receive(struct receiver *rx, char **ids, const struct stats_rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < rx->n && strcmp(rx->id[j], ids[i]); j++)
			;
		if (j == rx->n) {
			assert_true(rx->n < NENT * 4);
			rx->id[rx->n++] = strdup(ids[i]);
		}
		rx->v[j] = v[i];
		free(ids[i]);
	}
}

static void receiver_free(struct receiver *rx)
{
	for (size_t i = 0; i < rx->n; i++)
		free(rx->id[i]);
	rx->n = 0;
}

static const struct stats_rule *received(const struct receiver *rx, const char *id)
{
	for (size_t i = 0; i < rx->n; i++)
		if (!strcmp(rx->id[i], id))
			return &rx->v[i];
	return NULL;
}

static bool converged(const struct receiver *rx)
{
	for (int i = 0; i < NENT; i++) {
		const struct stats_rule *r = received(rx, ents[i].id);

		if (!r || !rule_is(r, &ents[i]) ||
		    r->whitelist != (ents[i].k == &ruleset_whitelist))
			return false;
	}
	return true;
}

/* Beacons of at most max changed + refresh entries until the receiver converges;
 * returns how many it took. */
static int beacons_until_converged(struct stats *st, struct stats_sent *t, struct receiver *rx,
				   size_t max, size_t refresh)
{
	char *ids[8];
	struct stats_rule v[8];
	int k;

	for (k = 1; k <= 20; k++) {
		size_t n = stats_changed(st, t, max, refresh, ids, v);

		assert_true(n <= max + refresh);
		receive(rx, ids, v, n);
		if (converged(rx))
			return k;
	}
	fail_msg("no convergence after 20 beacons");
	return -1;
}

static void test_beacon_converges(void **state)
{
	struct fixture *f = *state;
	struct stats_sent *t = stats_sent_new();
	struct receiver rx = {0}, fresh = {0};
	char *ids[8];
	struct stats_rule v[8];
	int k;

	/* entries that counted nothing are not sent (a receiver takes them as zero) */
	wait_sampled(f->st);
	assert_int_equal(stats_changed(f->st, t, 10, 10, ids, v), 0);
	send_all();
	wait_sampled(f->st);
	/* 5 entries, 2 changed ones per beacon: three beacons */
	k = beacons_until_converged(f->st, t, &rx, 2, 0);
	assert_int_equal(k, 3);
	/* nothing changed: nothing more without the refresh */
	assert_int_equal(stats_changed(f->st, t, 2, 0, ids, v), 0);
	/* more traffic on two entries: only those */
	send_pkts(&ents[1], 1, 1);
	send_pkts(&ents[3], 2, 2);
	wait_sampled(f->st);
	assert_int_equal(stats_changed(f->st, t, 10, 0, ids, v), 2);
	receive(&rx, ids, v, 2);
	assert_true(converged(&rx));
	/* a restarted controller: the refresh alone, one per beacon, brings it back */
	k = beacons_until_converged(f->st, t, &fresh, 10, 1);
	assert_int_equal(k, NENT);
	receiver_free(&rx);
	receiver_free(&fresh);
	stats_sent_free(t);
}

/* A rule deleted and another created in its slot: the new id never carries the old
 * numbers, then converges to its own. */
static void test_slot_reuse(void **state)
{
	struct fixture *f = *state;
	struct stats_sent *t = stats_sent_new();
	struct receiver rx = {0};
	struct rpc_status st = {0};
	const char *kv[] = {"dst_ip=198.51.100.9", "action=drop", "enabled=1", NULL};
	struct entry *a = &ents[0];
	char *ids[8], *old_id;
	struct stats_rule v[8];
	struct rule_spec spec;
	uint32_t slot_a, slot_b;
	int64_t end;

	send_all();
	wait_sampled(f->st);
	beacons_until_converged(f->st, t, &rx, 8, 0);
	old_id = a->id;
	assert_int_equal(testdp_spec("dst_ip=198.51.100.1 action=drop", &spec), 0);
	assert_int_equal(dataplane_entry_slot(dp, &spec, &slot_a), 0);
	assert_int_equal(ruleset_delete(f->rs, &ruleset_rules, &old_id, 1, &st), 0);
	/* the deleted rule's slot is free once its switch's grace period has passed and its
	 * cleanup has run (otherwise at a later switch or housekeeping tick) */
	dataplane_settle(dp, true);
	a->id = create(f->rs, &ruleset_rules, kv);
	assert_int_equal(testdp_spec("dst_ip=198.51.100.9 action=drop", &spec), 0);
	assert_int_equal(dataplane_entry_slot(dp, &spec, &slot_b), 0);
	assert_int_equal(slot_b, slot_a); /* the case this test is about */
	a->pkt.dst = "198.51.100.9";
	a->match = a->drop = a->match_bytes = a->drop_bytes = 0;
	/* until the sampler sees the new rule, every beacon is checked */
	end = clock_mono_ns() + 10000000000ll;
	for (;;) {
		struct stats_rule r;
		size_t n = stats_changed(f->st, t, 8, 2, ids, v);

		for (size_t i = 0; i < n; i++)
			if (!strcmp(ids[i], a->id))
				assert_int_equal(v[i].match, 0);
		receive(&rx, ids, v, n);
		if (stats_rule(f->st, a->id, &r) == 0)
			break;
		assert_true(clock_mono_ns() < end);
		usleep(5000);
	}
	send_pkts(a, 4, 64);
	wait_sampled(f->st);
	beacons_until_converged(f->st, t, &rx, 8, 0);
	free(old_id);
	receiver_free(&rx);
	stats_sent_free(t);
}

/* A beacon with every field of every rule counter at its largest stays well under the
 * health port's 64 KiB frame cap. */
static void test_beacon_size(void **state)
{
	enum { N = BEACON_RULE_COUNTERS + BEACON_RULE_REFRESH };
	static Xdrop__V1__RuleCounter rc[N + XDROP_TOP_RULES];
	static Xdrop__V1__RuleCounter *p[N + XDROP_TOP_RULES];
	Xdrop__V1__Beacon m = XDROP__V1__BEACON__INIT;
	Xdrop__V1__Capacity cap = XDROP__V1__CAPACITY__INIT;
	struct stats_rule big = {.match = UINT64_MAX,
				 .drop = UINT64_MAX,
				 .match_bytes = UINT64_MAX,
				 .drop_bytes = UINT64_MAX,
				 .match_pps = 1e9,
				 .drop_pps = 1e9,
				 .match_bps = 1e12,
				 .drop_bps = 1e12,
				 .whitelist = true};
	char id[] = "ffffffff-ffff-4fff-bfff-ffffffffffff";
	size_t sz;

	(void)state;
	for (int i = 0; i < N + XDROP_TOP_RULES; i++) {
		xdrop__v1__rule_counter__init(&rc[i]);
		rc[i].id = id;
		stats_rule_to_counter(&big, &rc[i]);
		p[i] = &rc[i];
	}
	m.rule_counters = p;
	m.n_rule_counters = N;
	m.top_rules = p + N;
	m.n_top_rules = XDROP_TOP_RULES;
	cap.exact_used = cap.exact_max = cap.cidr_used = cap.cidr_max = UINT64_MAX;
	m.capacity = &cap;
	sz = xdrop__v1__beacon__get_packed_size(&m);
	printf("# largest rule counters of a beacon: %zu bytes\n", sz);
	assert_true(sz < 56 * 1024);
}

static int group_setup(void **state)
{
	(void)state;
	dp = testdp_open(false, false);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	dataplane_close(dp);
	return 0;
}

/* A set of more than one stripe (STATS_SLOTS_PER_TICK) is read round-robin while it does
 * not change: the counts of an entry in the last stripe still reach the sampler, without
 * a change of the set to trigger a full read. */
static void test_round_robin(void **state)
{
	struct fixture *f = *state;
	enum { N = 2 * STATS_SLOTS_PER_TICK + 100 };
	static char dst[N][32];
	ProtobufCMessage **msgs = calloc(N, sizeof(*msgs));
	struct entry last = {&ruleset_rules,
			     {NULL},
			     {.src = "192.0.2.1", .proto = 17, .sport = 1, .dport = 53},
			     XDP_DROP,
			     NULL,
			     0,
			     0,
			     0,
			     0};
	struct rpc_status st = {0};
	struct rule_spec spec;
	struct stats_rule r;
	char **ids = NULL, probe[64];
	uint32_t slot;
	size_t bad;
	int64_t end;

	assert_non_null(msgs);
	for (int i = 0; i < N; i++) {
		const char *kv[] = {dst[i], "action=drop", "enabled=1", NULL};

		snprintf(dst[i], sizeof(dst[i]), "dst_ip=10.%d.%d.%d", 40 + i / 65536,
			 (i / 256) % 256, i % 256);
		msgs[i] = msg_of(&ruleset_rules, kv);
	}
	assert_int_equal(ruleset_create_many(f->rs, &ruleset_rules, msgs, N, &ids, &st, &bad), 0);
	last.id = ids[N - 1];
	last.pkt.dst = dst[N - 1] + strlen("dst_ip=");
	snprintf(probe, sizeof(probe), "%s action=drop", dst[N - 1]);
	assert_int_equal(testdp_spec(probe, &spec), 0);
	assert_int_equal(dataplane_entry_slot(dp, &spec, &slot), 0);
	assert_true(slot >= 2 * STATS_SLOTS_PER_TICK); /* in the third stripe */
	/* the set's full read after the change, then counts the round-robin must pick up */
	end = clock_mono_ns() + 10000000000ll;
	while (stats_rule(f->st, last.id, &r) != 0) {
		assert_true(clock_mono_ns() < end);
		usleep(5000);
	}
	send_pkts(&last, 3, 200);
	end = clock_mono_ns() + 20000000000ll;
	while (stats_rule(f->st, last.id, &r) != 0 || !rule_is(&r, &last)) {
		assert_true(clock_mono_ns() < end);
		usleep(5000);
	}
	assert_int_equal(r.drop, 3);
	for (int i = 0; i < N; i++) {
		free(msgs[i]);
		free(ids[i]);
	}
	free(msgs);
	free(ids);
}

/* The sampler's packed slot <-> id map (stats_ids.c) names every entry's slot with its id
 * and kind; the way from an id to its slot is the rule set's (ruleset_entry_slots), which
 * the map confirms; a slot without an entry and an unknown id give nothing. */
static void test_idmap(void **state)
{
	struct fixture *f = *state;
	uint32_t slots[RULESET_NKINDS];
	struct idmap m;

	assert_int_equal(idmap_build(&m, dp, f->rs), 0);
	assert_int_equal(m.count, NENT);
	for (int i = 0; i < NENT; i++) {
		assert_int_equal(ruleset_entry_slots(f->rs, ents[i].id, slots), 1);
		assert_true(idmap_is(&m, slots[0], ents[i].id));
		assert_string_equal(idmap_id(&m, slots[0]), ents[i].id);
		assert_int_equal(idmap_wl(&m, slots[0]), ents[i].k == &ruleset_whitelist);
		assert_false(idmap_is(&m, slots[0], ents[(i + 1) % NENT].id));
	}
	assert_int_equal(ruleset_entry_slots(f->rs, "no-such-id", slots), 0);
	assert_null(idmap_id(&m, m.n));
	assert_null(idmap_id(&m, m.n + 1000));
	idmap_free(&m);
	assert_null(m.arena);
	assert_int_equal(m.n, 0);
}

/* The sampler's per-slot figures (stats_figs.c) keep a page only while one of its slots
 * reads something: a set that never matched holds no page; rates come from the previous
 * read (none for a slot it did not cover); a page whose slots fall back to zero goes. */
static void test_figs_pages(void **state)
{
	const size_t n = 10 * STATS_FIG_PAGE + 3;
	struct xdrop_slot_counters *v = calloc(n, sizeof(*v));
	struct figs a, b;
	size_t kept = 0;

	(void)state;
	assert_non_null(v);
	assert_int_equal(figs_build(&a, &(struct figs){0}, v, n, 1), 0);
	for (size_t pg = 0; pg * STATS_FIG_PAGE < n; pg++)
		assert_null(a.pages[pg]);
	assert_int_equal(figs_sc(&a, 5)->match, 0);
	assert_true(figs_rate(&a, n + 9)[0] == 0);
	v[3 * STATS_FIG_PAGE + 7].match = 100;
	v[3 * STATS_FIG_PAGE + 7].match_bytes = 6400;
	v[n - 1].drop = 4;
	assert_int_equal(figs_build(&b, &a, v, n, 2), 0);
	for (size_t pg = 0; pg * STATS_FIG_PAGE < n; pg++)
		kept += b.pages[pg] != NULL;
	assert_int_equal(kept, 2);
	assert_int_equal(figs_sc(&b, 3 * STATS_FIG_PAGE + 7)->match, 100);
	assert_true(figs_rate(&b, 3 * STATS_FIG_PAGE + 7)[0] == 50);	/* 100 over 2 s */
	assert_true(figs_rate(&b, 3 * STATS_FIG_PAGE + 7)[2] == 25600); /* bits per second */
	assert_true(figs_rate(&b, n - 1)[1] == 2);
	/* a stripe read again: the slot counts on, the other falls back (reused): page gone */
	v[3 * STATS_FIG_PAGE + 7].match = 130;
	v[n - 1].drop = 0;
	assert_int_equal(figs_merge(&b, 0, v, n, 1), 0);
	assert_true(figs_rate(&b, 3 * STATS_FIG_PAGE + 7)[0] == 30);
	assert_null(b.pages[(n - 1) / STATS_FIG_PAGE]);
	assert_int_equal(figs_sc(&b, n - 1)->drop, 0);
	/* slots past the previous read have no rate yet */
	figs_free(&a);
	assert_int_equal(figs_build(&a, &(struct figs){0}, v, n, 1), 0);
	assert_int_equal(figs_sc(&a, 3 * STATS_FIG_PAGE + 7)->match, 130);
	assert_true(figs_rate(&a, 3 * STATS_FIG_PAGE + 7)[0] == 0);
	figs_free(&a);
	figs_free(&b);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idmap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_beacon_converges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slot_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
	    cmocka_unit_test(test_beacon_size),
	    cmocka_unit_test(test_figs_pages),
	};

	return cmocka_run_group_tests_name("agent_stats", tests, group_setup, group_teardown);
}
