// SPDX-License-Identifier: MIT
/*
 * test_pubsub: revisioned deltas and signed beacons (lib/pubsub.c).
 *
 * The state machine is driven frame by frame through pubsub_sub_feed (in order, stale,
 * gap, buffering and drain, heartbeats, failed applies, malformed frames, overflow). Then
 * a toy controller (PUB + SyncService.GetSnapshot over RPC, chunked) and a toy agent (SUB
 * + snapshot fetch in need_snapshot) run over inproc://, once without loss and once with
 * the fault hook dropping every 5th message: the agent must detect the gaps, fetch
 * snapshots and end at the controller's revision with identical content. Beacons: signed,
 * verified, and refused when the key, the signer or the bytes are wrong.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/md.h>

#include "log.h"
#include "pubsub.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

#define NSLOT 64 /* rules "r0".."r63" */
#define CHUNK 16

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a rule set: the same shape on the controller and the agent -------------------- */

struct ruleset {
	pthread_mutex_t lock;
	uint64_t revision;
	char name[NSLOT][24]; /* "" = absent */
};

static int slot_of(const char *id)
{
	int n = id[0] == 'r' ? atoi(id + 1) : -1;

	return n >= 0 && n < NSLOT ? n : -1;
}

/* Lock held. FNV-1a over the present rules, as hex. */
static void ruleset_hash(const struct ruleset *rs, char out[17])
{
	uint64_t h = 1469598103934665603ull;
	char buf[64];

	for (int i = 0; i < NSLOT; i++) {
		if (!rs->name[i][0])
			continue;
		int n = snprintf(buf, sizeof(buf), "r%d=%s;", i, rs->name[i]);
		for (int j = 0; j < n; j++)
			h = (h ^ (uint8_t)buf[j]) * 1099511628211ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Lock held. */
static int ruleset_apply_op(struct ruleset *rs, const Xdrop__V1__DeltaOp *op)
{
	int slot;

	switch (op->op_case) {
	case XDROP__V1__DELTA_OP__OP_UPSERT_RULE:
		slot = slot_of(op->upsert_rule->id);
		if (slot < 0)
			return -EINVAL;
		snprintf(rs->name[slot], sizeof(rs->name[slot]), "%s", op->upsert_rule->name);
		return 0;
	case XDROP__V1__DELTA_OP__OP_DELETE_RULE:
		slot = slot_of(op->delete_rule);
		if (slot < 0 || !rs->name[slot][0])
			return -ENOENT;
		rs->name[slot][0] = '\0';
		return 0;
	default:
		return -EINVAL;
	}
}

/* ---- 1. the state machine, frame by frame ------------------------------------------ */

struct recorder {
	struct ruleset rs;
	int apply_fail_at;		 /* revision whose apply fails, 0 = none */
	struct pubsub_sub *stale_source; /* set: install a snapshot at revision 1 from inside */
	int n_need;
	enum pubsub_resync_reason reasons[64];
	uint64_t applied_at_need[64];
};

static int rec_apply(void *arg, const Xdrop__V1__Delta *d)
{
	struct recorder *r = arg;

	if (r->apply_fail_at && d->revision == (uint64_t)r->apply_fail_at)
		return -EIO;
	for (size_t i = 0; i < d->n_ops; i++)
		if (ruleset_apply_op(&r->rs, d->ops[i]))
			return -EBADMSG;
	r->rs.revision = d->revision;
	return 0;
}

static void rec_need(void *arg, enum pubsub_resync_reason why, uint64_t applied, uint64_t seen)
{
	struct recorder *r = arg;

	if (r->n_need < 64) {
		r->reasons[r->n_need] = why;
		r->applied_at_need[r->n_need] = applied;
	}
	r->n_need++;
	if (r->stale_source)
		pubsub_sub_set_revision(r->stale_source, 1, NULL);
}

/* A delta frame: upsert r<rev % NSLOT> named "v<rev>", or a heartbeat when base == rev. */
static size_t delta_frame(uint8_t *buf, uint64_t base, uint64_t rev, const char *hash)
{
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	Xdrop__V1__DeltaOp op = XDROP__V1__DELTA_OP__INIT, *ops[1] = {&op};
	Xdrop__V1__Rule rule = XDROP__V1__RULE__INIT;
	char id[16], name[16];
	size_t t = strlen(XDROP_TOPIC_DELTA);

	d.revision = rev;
	d.base_revision = base;
	d.content_hash = (char *)(hash ? hash : "");
	if (base != rev) {
		snprintf(id, sizeof(id), "r%llu", (unsigned long long)(rev % NSLOT));
		snprintf(name, sizeof(name), "v%llu", (unsigned long long)rev);
		rule.id = id;
		rule.name = name;
		op.op_case = XDROP__V1__DELTA_OP__OP_UPSERT_RULE;
		op.upsert_rule = &rule;
		d.ops = ops;
		d.n_ops = 1;
	}
	memcpy(buf, XDROP_TOPIC_DELTA, t);
	return t + xdrop__v1__delta__pack(&d, buf + t);
}

static struct pubsub_sub *open_fed_sub(struct recorder *r, uint64_t rev)
{
	struct pubsub_opts o = {.sz = sizeof(o)}; /* no socket */
	struct pubsub_sub_ops ops = {.apply = rec_apply, .need_snapshot = rec_need, .arg = r};
	struct pubsub_sub *s = NULL;

	memset(r, 0, sizeof(*r));
	assert_int_equal(pubsub_sub_open(&s, &o, &ops, rev, NULL), 0);
	return s;
}

static void feed(struct pubsub_sub *s, uint64_t base, uint64_t rev, const char *hash)
{
	uint8_t buf[256];

	assert_int_equal(pubsub_sub_feed(s, buf, delta_frame(buf, base, rev, hash)), 0);
}

static void test_in_order_and_stale(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	feed(s, 0, 1, "h1");
	feed(s, 1, 2, "h2");
	feed(s, 1, 2, "h2"); /* duplicate */
	feed(s, 0, 1, "h1"); /* old */
	feed(s, 2, 3, "h3");
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.revision, 3);
	assert_true(st.synced);
	assert_int_equal(st.applied, 3);
	assert_int_equal(st.stale, 2);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(r.n_need, 0);
	assert_string_equal(r.rs.name[3], "v3");
	pubsub_sub_close(s);
}

static void test_gap_buffers_until_snapshot_then_drains(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	feed(s, 0, 1, "h1");
	feed(s, 1, 2, "h2");
	feed(s, 3, 4, "h4"); /* 3 lost */
	assert_int_equal(r.n_need, 1);
	assert_int_equal(r.reasons[0], PUBSUB_RESYNC_GAP);
	assert_int_equal(r.applied_at_need[0], 2);
	feed(s, 4, 5, "h5"); /* buffered, no second request */
	feed(s, 5, 5, "h5"); /* heartbeat while waiting: ignored */
	feed(s, 6, 7, "h7"); /* buffered (another gap inside the buffer) */
	assert_int_equal(r.n_need, 1);
	pubsub_sub_get_stats(s, &st);
	assert_false(st.synced);
	assert_int_equal(st.revision, 2);
	assert_int_equal(st.applied, 2);

	/* the application installs a snapshot at revision 3 */
	r.rs.revision = 3;
	assert_int_equal(pubsub_sub_set_revision(s, 3, "h3"), 0);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.revision, 5); /* 4 and 5 drained in order */
	assert_int_equal(r.rs.revision, 5);
	assert_false(st.synced); /* 7 does not follow 5: asks again */
	assert_int_equal(r.n_need, 2);
	assert_int_equal(r.reasons[1], PUBSUB_RESYNC_GAP);

	assert_int_equal(pubsub_sub_set_revision(s, 6, "h6"), 0);
	pubsub_sub_get_stats(s, &st);
	assert_true(st.synced);
	assert_int_equal(st.revision, 7);
	assert_int_equal(st.applied, 5);
	assert_int_equal(st.gaps, 2);
	assert_int_equal(st.resyncs, 2);
	pubsub_sub_close(s);
}

static void test_snapshot_newer_than_buffer(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	feed(s, 5, 6, NULL);
	feed(s, 6, 7, NULL);
	assert_int_equal(r.n_need, 1);
	assert_int_equal(pubsub_sub_set_revision(s, 10, NULL), 0); /* covers 6 and 7 */
	feed(s, 10, 11, NULL);
	pubsub_sub_get_stats(s, &st);
	assert_true(st.synced);
	assert_int_equal(st.revision, 11);
	assert_int_equal(st.applied, 1);
	assert_int_equal(r.n_need, 1);
	pubsub_sub_close(s);
}

static void test_heartbeats(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	feed(s, 0, 1, "h1");
	feed(s, 1, 1, "h1"); /* in step: nothing to do */
	assert_int_equal(r.n_need, 0);
	feed(s, 1, 1, "other"); /* same revision, other content */
	assert_int_equal(r.n_need, 1);
	assert_int_equal(r.reasons[0], PUBSUB_RESYNC_HASH);
	pubsub_sub_set_revision(s, 1, "h1");
	feed(s, 2, 2, "h2"); /* the last delta was lost: noticed through the heartbeat */
	assert_int_equal(r.n_need, 2);
	assert_int_equal(r.reasons[1], PUBSUB_RESYNC_BEHIND);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.heartbeats, 3);
	assert_false(st.synced);
	pubsub_sub_close(s);
}

static void test_failed_apply_and_forced_resync(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	r.apply_fail_at = 2;
	feed(s, 0, 1, NULL);
	feed(s, 1, 2, NULL);
	assert_int_equal(r.n_need, 1);
	assert_int_equal(r.reasons[0], PUBSUB_RESYNC_APPLY_FAILED);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.revision, 1); /* not advanced past the failure */
	pubsub_sub_set_revision(s, 2, NULL);
	pubsub_sub_resync(s);
	assert_int_equal(r.n_need, 2);
	assert_int_equal(r.reasons[1], PUBSUB_RESYNC_FORCED);
	pubsub_sub_close(s);
}

/* A snapshot source that lags forever: need_snapshot is not re-entered, only repeated. */
static void test_stale_snapshot_inside_callback(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	r.stale_source = s;
	feed(s, 5, 6, NULL); /* gap -> snapshot at 1 -> still a gap: raised, not re-entered */
	assert_int_equal(r.n_need, 1);
	feed(s, 6, 7, NULL); /* the next frame reports it again */
	assert_int_equal(r.n_need, 2);
	r.stale_source = NULL;
	pubsub_sub_set_revision(s, 5, NULL);
	pubsub_sub_get_stats(s, &st);
	assert_true(st.synced);
	assert_int_equal(st.revision, 7);
	pubsub_sub_close(s);
}

static void test_malformed_frames(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} cases[] = {
	    {"", 0},
	    {"delta", 5},			    /* short topic */
	    {"beacon:\x08\x01", 9},		    /* other topic */
	    {"delta:\xff\xff\xff", 9},		    /* bad protobuf */
	    {"delta:\x08\x05\x10\x05\x22\x00", 12}, /* ops but base == revision */
	    {"delta:\x08\x03\x10\x07\x22\x00", 12}, /* moves backwards */
	};
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(pubsub_sub_feed(s, cases[i].bytes, cases[i].len), -EBADMSG);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.malformed, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(st.revision, 0);
	assert_true(st.synced);
	assert_int_equal(r.n_need, 0);
	pubsub_sub_close(s);
}

static void test_buffer_is_bounded(void **state)
{
	struct recorder r;
	struct pubsub_sub *s = open_fed_sub(&r, 0);
	struct pubsub_sub_stats st;

	for (uint64_t i = 0; i < XDROP_PUBSUB_MAX_PENDING + 10; i++)
		feed(s, 100 + i, 101 + i, NULL);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.overflows, 1);
	assert_int_equal(r.reasons[r.n_need - 1], PUBSUB_RESYNC_OVERFLOW);
	/* what survived the overflow continues the snapshot */
	pubsub_sub_set_revision(s, XDROP_PUBSUB_MAX_PENDING + 100, NULL);
	pubsub_sub_get_stats(s, &st);
	assert_true(st.synced);
	assert_int_equal(st.revision, XDROP_PUBSUB_MAX_PENDING + 110);
	pubsub_sub_close(s);
}

/* ---- 2. controller and agent over sockets ------------------------------------------ */

struct controller {
	struct ruleset rs;
	struct ruleset snap; /* copy served by GetSnapshot chunk 0 .. n-1 */
	struct pubsub_pub *pub;
	struct rpc_server *rpc;
};

static enum rpc_code h_get_snapshot(struct rpc_call *call, const ProtobufCMessage *req,
				    ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__SnapshotRequest *r = (const void *)req;
	Xdrop__V1__SnapshotChunk *c = (void *)resp;
	struct controller *ctl = arg;
	enum rpc_code code = RPC_OK;
	char hash[17];

	pthread_mutex_lock(&ctl->rs.lock);
	if (r->chunk_index == 0) {
		memcpy(ctl->snap.name, ctl->rs.name, sizeof(ctl->rs.name));
		ctl->snap.revision = ctl->rs.revision;
	} else if (r->revision != ctl->snap.revision) {
		code = rpc_call_error(call, RPC_FAILED_PRECONDITION, "revision",
				      "snapshot %llu is gone", (unsigned long long)r->revision);
		goto out;
	}
	if (r->chunk_index >= NSLOT / CHUNK) {
		code = rpc_call_error(call, RPC_OUT_OF_RANGE, "chunk_index", "no such chunk");
		goto out;
	}
	ruleset_hash(&ctl->snap, hash);
	c->revision = ctl->snap.revision;
	c->content_hash = rpc_call_strdup(call, hash);
	c->chunk_index = r->chunk_index;
	c->chunk_count = NSLOT / CHUNK;
	c->rules = rpc_call_alloc(call, CHUNK * sizeof(*c->rules));
	for (int i = (int)r->chunk_index * CHUNK; i < ((int)r->chunk_index + 1) * CHUNK; i++) {
		Xdrop__V1__Rule *rule;
		char id[16];

		if (!ctl->snap.name[i][0])
			continue;
		rule = rpc_call_alloc(call, sizeof(*rule));
		xdrop__v1__rule__init(rule);
		snprintf(id, sizeof(id), "r%d", i);
		rule->id = rpc_call_strdup(call, id);
		rule->name = rpc_call_strdup(call, ctl->snap.name[i]);
		c->rules[c->n_rules++] = rule;
	}
out:
	pthread_mutex_unlock(&ctl->rs.lock);
	return code;
}

/* One committed change, published as a delta: upsert or delete a pseudo-random rule. */
static void controller_change(struct controller *ctl, unsigned seed)
{
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	Xdrop__V1__DeltaOp op = XDROP__V1__DELTA_OP__INIT, *ops[1] = {&op};
	Xdrop__V1__Rule rule = XDROP__V1__RULE__INIT;
	char id[16], name[24], hash[17];
	int slot = (int)(seed * 2654435761u % NSLOT);

	pthread_mutex_lock(&ctl->rs.lock);
	snprintf(id, sizeof(id), "r%d", slot);
	if (ctl->rs.name[slot][0] && seed % 3 == 0) {
		op.op_case = XDROP__V1__DELTA_OP__OP_DELETE_RULE;
		op.delete_rule = id;
	} else {
		snprintf(name, sizeof(name), "n%u", seed);
		rule.id = id;
		rule.name = name;
		op.op_case = XDROP__V1__DELTA_OP__OP_UPSERT_RULE;
		op.upsert_rule = &rule;
	}
	assert_int_equal(ruleset_apply_op(&ctl->rs, &op), 0);
	d.base_revision = ctl->rs.revision;
	d.revision = ++ctl->rs.revision;
	ruleset_hash(&ctl->rs, hash);
	d.content_hash = hash;
	d.ops = ops;
	d.n_ops = 1;
	assert_int_equal(pubsub_pub_delta(ctl->pub, &d), 0);
	pthread_mutex_unlock(&ctl->rs.lock);
}

static void controller_heartbeat(struct controller *ctl)
{
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	char hash[17];

	pthread_mutex_lock(&ctl->rs.lock);
	d.revision = d.base_revision = ctl->rs.revision;
	ruleset_hash(&ctl->rs, hash);
	d.content_hash = hash;
	assert_int_equal(pubsub_pub_delta(ctl->pub, &d), 0);
	pthread_mutex_unlock(&ctl->rs.lock);
}

struct agent {
	struct ruleset rs;
	struct pubsub_sub *sub;
	struct rpc_client *rpc;
	atomic_int snapshots;
	atomic_int fetch_failures;
};

static int agent_apply(void *arg, const Xdrop__V1__Delta *d)
{
	struct agent *a = arg;
	char hash[17];
	int err = 0;

	pthread_mutex_lock(&a->rs.lock);
	for (size_t i = 0; i < d->n_ops && !err; i++)
		err = ruleset_apply_op(&a->rs, d->ops[i]);
	ruleset_hash(&a->rs, hash);
	if (!err && strcmp(hash, d->content_hash) != 0)
		err = -EBADMSG;
	if (!err)
		a->rs.revision = d->revision;
	pthread_mutex_unlock(&a->rs.lock);
	return err;
}

/* Fetches every chunk of one revision, verifies the hash, installs, resumes deltas. */
static int agent_fetch_snapshot(struct agent *a)
{
	char staged[NSLOT][24], hash[32] = "", got[17];
	uint64_t revision = 0;
	uint32_t count = 1;
	struct ruleset check;

	memset(staged, 0, sizeof(staged));
	for (uint32_t i = 0; i < count; i++) {
		Xdrop__V1__SnapshotRequest rq = XDROP__V1__SNAPSHOT_REQUEST__INIT;
		Xdrop__V1__SnapshotChunk *c = NULL;

		rq.node_id = "n1";
		rq.revision = revision;
		rq.chunk_index = i;
		if (rpc_client_call(a->rpc, &xdrop__v1__sync_service__descriptor, "GetSnapshot",
				    &rq.base, (ProtobufCMessage **)&c, NULL))
			return -EAGAIN;
		if (i == 0) {
			revision = c->revision;
			count = c->chunk_count;
			snprintf(hash, sizeof(hash), "%s", c->content_hash);
		}
		for (size_t j = 0; j < c->n_rules; j++) {
			int slot = slot_of(c->rules[j]->id);

			if (slot >= 0)
				snprintf(staged[slot], sizeof(staged[slot]), "%s",
					 c->rules[j]->name);
		}
		xdrop__v1__snapshot_chunk__free_unpacked(c, NULL);
	}
	memcpy(check.name, staged, sizeof(staged));
	ruleset_hash(&check, got);
	if (strcmp(got, hash) != 0)
		return -EBADMSG;
	pthread_mutex_lock(&a->rs.lock);
	memcpy(a->rs.name, staged, sizeof(staged));
	a->rs.revision = revision;
	pthread_mutex_unlock(&a->rs.lock);
	atomic_fetch_add(&a->snapshots, 1);
	return pubsub_sub_set_revision(a->sub, revision, hash);
}

static void agent_need_snapshot(void *arg, enum pubsub_resync_reason why, uint64_t applied,
				uint64_t seen)
{
	struct agent *a = arg;

	/* On failure the subscriber asks again after XDROP_PUBSUB_RESYNC_RETRY_MS. */
	if (agent_fetch_snapshot(a))
		atomic_fetch_add(&a->fetch_failures, 1);
}

static void run_controller_and_agent(const char *tag, int drop_every, int changes,
				     struct pubsub_sub_stats *out, uint64_t *dropped)
{
	char pub_url[64], rpc_url[64];
	struct controller *ctl = calloc(1, sizeof(*ctl));
	struct agent *ag = calloc(1, sizeof(*ag));
	struct pubsub_opts po = {.sz = sizeof(po), .url = pub_url, .listen = true};
	struct pubsub_opts so = {.sz = sizeof(so), .url = pub_url};
	struct rpc_server_opts ro = {.sz = sizeof(ro), .url = rpc_url, .workers = 2};
	struct rpc_client_opts co = {.sz = sizeof(co), .url = rpc_url, .timeout_ms = 2000};
	struct pubsub_sub_ops ops = {
	    .apply = agent_apply, .need_snapshot = agent_need_snapshot, .arg = ag};
	char want[17], have[17];
	int64_t deadline;

	assert_non_null(ctl);
	assert_non_null(ag);
	snprintf(pub_url, sizeof(pub_url), "inproc://test-pubsub-%s-push", tag);
	snprintf(rpc_url, sizeof(rpc_url), "inproc://test-pubsub-%s-rpc", tag);
	pthread_mutex_init(&ctl->rs.lock, NULL);
	pthread_mutex_init(&ag->rs.lock, NULL);

	if (drop_every) {
		char n[16];

		snprintf(n, sizeof(n), "%d", drop_every);
		setenv(XDROP_FAULT_DROP_ENV, n, 1);
	}
	assert_int_equal(pubsub_pub_open(&ctl->pub, &po), 0);
	unsetenv(XDROP_FAULT_DROP_ENV);
	assert_int_equal(rpc_server_open(&ctl->rpc, &ro), 0);
	assert_int_equal(rpc_server_register(ctl->rpc, &xdrop__v1__sync_service__descriptor,
					     "GetSnapshot", h_get_snapshot, ctl),
			 0);
	assert_int_equal(rpc_server_start(ctl->rpc), 0);
	assert_int_equal(rpc_client_open(&ag->rpc, &co), 0);
	assert_int_equal(pubsub_sub_open(&ag->sub, &so, &ops, 0, NULL), 0);

	/* connected, and the start-up snapshot installed */
	deadline = now_ms() + 5000;
	while ((pubsub_pub_peers(ctl->pub) < 1 || atomic_load(&ag->snapshots) < 1) &&
	       now_ms() < deadline)
		usleep(5000);
	assert_int_equal(atomic_load(&ag->snapshots), 1);

	for (int i = 1; i <= changes; i++) {
		controller_change(ctl, (unsigned)i * 7919u);
		usleep(1000);
	}
	/* the controller repeats its head until the agent reports it (beacons, in real life) */
	deadline = now_ms() + 10000;
	for (;;) {
		pubsub_sub_get_stats(ag->sub, out);
		pthread_mutex_lock(&ctl->rs.lock);
		ruleset_hash(&ctl->rs, want);
		pthread_mutex_unlock(&ctl->rs.lock);
		pthread_mutex_lock(&ag->rs.lock);
		ruleset_hash(&ag->rs, have);
		pthread_mutex_unlock(&ag->rs.lock);
		if ((out->synced && out->revision == (uint64_t)changes && !strcmp(want, have)) ||
		    now_ms() > deadline)
			break;
		controller_heartbeat(ctl);
		usleep(20000);
	}
	*dropped = pubsub_pub_dropped(ctl->pub);

	assert_true(out->synced);
	assert_int_equal(out->revision, changes);
	assert_int_equal(ag->rs.revision, changes);
	assert_string_equal(have, want);
	for (int i = 0; i < NSLOT; i++)
		assert_string_equal(ag->rs.name[i], ctl->rs.name[i]);

	pubsub_sub_close(ag->sub);
	rpc_client_close(ag->rpc);
	rpc_server_close(ctl->rpc);
	pubsub_pub_close(ctl->pub);
	free(ctl);
	free(ag);
}

static void test_deltas_without_loss(void **state)
{
	struct pubsub_sub_stats st;
	uint64_t dropped;

	run_controller_and_agent("clean", 0, 100, &st, &dropped);
	assert_int_equal(dropped, 0);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(st.resyncs, 1); /* the connection's snapshot only */
	assert_int_equal(st.applied, 100);
}

static void test_loss_gap_snapshot_convergence(void **state)
{
	struct pubsub_sub_stats st;
	uint64_t dropped;

	run_controller_and_agent("lossy", 5, 200, &st, &dropped);
	fprintf(stderr,
		"# lossy: dropped %llu, gaps %llu, resyncs %llu, applied %llu, stale %llu\n",
		(unsigned long long)dropped, (unsigned long long)st.gaps,
		(unsigned long long)st.resyncs, (unsigned long long)st.applied,
		(unsigned long long)st.stale);
	assert_true(dropped >= 200 / 5);
	assert_true(st.gaps >= 1);
	assert_true(st.resyncs >= 2);  /* connection + at least one gap */
	assert_true(st.applied >= 50); /* most changes still arrive as deltas */
	assert_true(st.applied < 200);
}

/* ---- 3. beacons -------------------------------------------------------------------- */

struct beacons {
	pthread_mutex_t lock;
	int n;
	uint64_t last_revision;
	uint64_t last_seq;
	char last_node[32];
};

static int key_lookup(void *arg, const char *node_id, uint8_t *key, size_t *len)
{
	const char *k = strcmp(node_id, "n1") == 0   ? "n1-secret-key"
			: strcmp(node_id, "n2") == 0 ? "n2-other-key"
						     : NULL;

	if (!k)
		return -ENOENT;
	*len = strlen(k);
	memcpy(key, k, *len);
	return 0;
}

static void on_beacon(void *arg, const Xdrop__V1__Beacon *b)
{
	struct beacons *bs = arg;

	pthread_mutex_lock(&bs->lock);
	bs->n++;
	bs->last_revision = b->revision;
	bs->last_seq = b->seq;
	snprintf(bs->last_node, sizeof(bs->last_node), "%s", b->node_id);
	pthread_mutex_unlock(&bs->lock);
}

static void test_beacon_verification(void **state)
{
	struct beacons bs = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct pubsub_collector_ops ops = {.key = key_lookup, .beacon = on_beacon, .arg = &bs};
	struct pubsub_opts o = {.sz = sizeof(o)};
	struct pubsub_collector *c = NULL;
	struct pubsub_collector_stats st;
	Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
	uint8_t *frame = NULL;
	size_t len;

	assert_int_equal(pubsub_collector_open(&c, &o, &ops), 0);
	b.node_id = "n1";
	b.revision = 42;
	b.content_hash = "abc";

	assert_int_equal(
	    pubsub_beacon_frame(&b, (const uint8_t *)"n1-secret-key", 13, &frame, &len), 0);
	assert_int_equal(pubsub_collector_feed(c, frame, len), 0);
	assert_int_equal(bs.n, 1);
	assert_int_equal(bs.last_revision, 42);
	assert_string_equal(bs.last_node, "n1");
	/* one flipped bit anywhere after the topic: refused */
	for (size_t i = strlen(XDROP_TOPIC_BEACON); i < len; i++) {
		frame[i] ^= 0x01;
		assert_int_not_equal(pubsub_collector_feed(c, frame, len), 0);
		frame[i] ^= 0x01;
	}
	assert_int_equal(bs.n, 1);
	free(frame);

	/* the wrong key */
	assert_int_equal(pubsub_beacon_frame(&b, (const uint8_t *)"guess", 5, &frame, &len), 0);
	assert_int_equal(pubsub_collector_feed(c, frame, len), -EACCES);
	free(frame);

	/* n2, with its own valid key, sends a beacon whose body claims to be n1 */
	{
		Xdrop__V1__SignedBeacon sb = XDROP__V1__SIGNED_BEACON__INIT;
		uint8_t body[256], mac[32];
		size_t blen = xdrop__v1__beacon__pack(&b, body), t = strlen(XDROP_TOPIC_BEACON);

		assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
						 (const uint8_t *)"n2-other-key", 12, body, blen,
						 mac),
				 0);
		sb.node_id = "n2";
		sb.beacon.data = body;
		sb.beacon.len = blen;
		sb.hmac_sha256.data = mac;
		sb.hmac_sha256.len = sizeof(mac);
		frame = malloc(t + xdrop__v1__signed_beacon__get_packed_size(&sb));
		assert_non_null(frame);
		memcpy(frame, XDROP_TOPIC_BEACON, t);
		len = t + xdrop__v1__signed_beacon__pack(&sb, frame + t);
	}
	assert_int_equal(pubsub_collector_feed(c, frame, len), -EACCES);
	free(frame);

	/* an unknown node and garbage */
	b.node_id = "n9";
	assert_int_equal(pubsub_beacon_frame(&b, (const uint8_t *)"whatever", 8, &frame, &len), 0);
	assert_int_equal(pubsub_collector_feed(c, frame, len), -ENOENT);
	free(frame);
	assert_int_equal(pubsub_collector_feed(c, "beacon:\xff\xff", 9), -EBADMSG);
	assert_int_equal(pubsub_collector_feed(c, "delta:", 6), -EBADMSG);
	/* and no key, no signature */
	b.node_id = "";
	assert_int_equal(pubsub_beacon_frame(&b, (const uint8_t *)"k", 1, &frame, &len), -EINVAL);
	b.node_id = "n1";
	assert_int_equal(pubsub_beacon_frame(&b, NULL, 0, &frame, &len), -EINVAL);

	pubsub_collector_get_stats(c, &st);
	assert_int_equal(st.accepted, 1);
	assert_true(st.unknown_node >= 1); /* flipped bits in the node id, and n9 */
	assert_true(st.bad_proof >= 2);
	assert_true(st.malformed >= 2);
	assert_int_equal(bs.n, 1);
	pubsub_collector_close(c);
}

static void test_beacons_over_sockets(void **state)
{
	struct beacons bs = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct pubsub_collector_ops ops = {.key = key_lookup, .beacon = on_beacon, .arg = &bs};
	struct pubsub_opts co = {
	    .sz = sizeof(co), .url = "inproc://test-pubsub-health", .listen = true};
	struct pubsub_opts po = {.sz = sizeof(co), .url = "inproc://test-pubsub-health"};
	struct pubsub_collector *c = NULL;
	struct pubsub_pub *p = NULL;
	Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
	int64_t deadline;
	int n;

	assert_int_equal(pubsub_collector_open(&c, &co, &ops), 0);
	assert_int_equal(pubsub_pub_open(&p, &po), 0);
	deadline = now_ms() + 3000;
	while (pubsub_pub_peers(p) < 1 && now_ms() < deadline)
		usleep(2000);
	assert_int_equal(pubsub_pub_peers(p), 1);
	usleep(20000);
	b.node_id = "n1";
	for (int i = 1; i <= 5; i++) {
		b.seq = (uint64_t)i;
		b.revision = 100 + (uint64_t)i;
		assert_int_equal(pubsub_pub_beacon(p, &b, (const uint8_t *)"n1-secret-key", 13), 0);
		usleep(10000);
	}
	deadline = now_ms() + 3000;
	do {
		usleep(5000);
		pthread_mutex_lock(&bs.lock);
		n = bs.n;
		pthread_mutex_unlock(&bs.lock);
	} while (n < 5 && now_ms() < deadline);
	assert_int_equal(n, 5);
	assert_int_equal(bs.last_seq, 5);
	assert_int_equal(bs.last_revision, 105);
	assert_int_equal(pubsub_pub_sent(p), 5);
	pubsub_pub_close(p);
	pubsub_collector_close(c);
}

/* ---- deltas handed over together (apply_batch) ---- */

struct batcher {
	struct recorder r;
	unsigned calls, sizes[16];
	uint64_t fail_at; /* revision whose apply fails, 0 = none */
};

static int batch_apply(void *arg, Xdrop__V1__Delta *const *ds, size_t n, size_t *applied)
{
	struct batcher *b = arg;

	if (b->calls < 16)
		b->sizes[b->calls] = (unsigned)n;
	b->calls++;
	for (*applied = 0; *applied < n; (*applied)++) {
		if (ds[*applied]->revision == b->fail_at)
			return -EIO;
		assert_int_equal(rec_apply(&b->r, ds[*applied]), 0);
	}
	return 0;
}

static void batch_need(void *arg, enum pubsub_resync_reason why, uint64_t applied, uint64_t seen)
{
	rec_need(&((struct batcher *)arg)->r, why, applied, seen);
}

/* Deltas buffered during a snapshot are drained in one apply_batch call; a failure inside
 * a batch keeps the ones before it and asks for a snapshot. */
static void test_batch_drain(void **state)
{
	struct batcher b = {0};
	struct pubsub_opts o = {.sz = sizeof(o)};
	struct pubsub_sub_ops ops = {
	    .apply = rec_apply, .apply_batch = batch_apply, .need_snapshot = batch_need, .arg = &b};
	struct pubsub_sub *s = NULL;
	struct pubsub_sub_stats st;

	(void)state;
	assert_int_equal(pubsub_sub_open(&s, &o, &ops, 0, NULL), 0);
	feed(s, 0, 1, "h1"); /* fed one at a time: one call each */
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.sizes[0], 1);
	feed(s, 2, 3, "h3"); /* 2 lost: 3..6 buffered */
	feed(s, 3, 4, "h4");
	feed(s, 4, 5, "h5");
	feed(s, 5, 6, "h6");
	assert_int_equal(b.r.n_need, 1);
	b.r.rs.revision = 2;
	assert_int_equal(pubsub_sub_set_revision(s, 2, "h2"), 0);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(st.revision, 6);
	assert_true(st.synced);
	assert_int_equal(b.calls, 2); /* 3, 4, 5, 6 together */
	assert_int_equal(b.sizes[1], 4);
	assert_int_equal(st.applied, 5);

	/* 9 fails inside the batch 8..10: 8 stays applied, a snapshot is asked for */
	b.fail_at = 9;
	feed(s, 7, 8, "h8"); /* after a gap at 7 */
	feed(s, 8, 9, "h9");
	feed(s, 9, 10, "h10");
	b.r.rs.revision = 7;
	assert_int_equal(pubsub_sub_set_revision(s, 7, "h7"), 0);
	pubsub_sub_get_stats(s, &st);
	assert_int_equal(b.sizes[2], 3);
	assert_int_equal(st.revision, 8);
	assert_false(st.synced);
	assert_int_equal(b.r.reasons[b.r.n_need - 1], PUBSUB_RESYNC_APPLY_FAILED);
	pubsub_sub_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order_and_stale),
	    cmocka_unit_test(test_gap_buffers_until_snapshot_then_drains),
	    cmocka_unit_test(test_snapshot_newer_than_buffer),
	    cmocka_unit_test(test_heartbeats),
	    cmocka_unit_test(test_failed_apply_and_forced_resync),
	    cmocka_unit_test(test_stale_snapshot_inside_callback),
	    cmocka_unit_test(test_malformed_frames),
	    cmocka_unit_test(test_buffer_is_bounded),
	    cmocka_unit_test(test_batch_drain),
	    cmocka_unit_test(test_deltas_without_loss),
	    cmocka_unit_test(test_loss_gap_snapshot_convergence),
	    cmocka_unit_test(test_beacon_verification),
	    cmocka_unit_test(test_beacons_over_sockets),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests_name("pubsub", tests, NULL, NULL);
}
