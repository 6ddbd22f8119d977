// SPDX-License-Identifier: MIT
/*
 * harness: in-process controller and toy agents; see harness.h.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "clock.h"
#include "auth.h"
#include "harness.h"
#include "log.h"
#include "nodekey.h"
#include "pubsub.h"
#include "rulehash.h"

static atomic_int instance;

long now_ms(void)
{
	return (long)clock_mono_ms();
}

void ctl_start(struct ctl *c, unsigned interval_ms)
{
	ctl_start_busy(c, interval_ms, 0);
}

void ctl_start_busy(struct ctl *c, unsigned interval_ms, unsigned busy_ms)
{
	struct store_opts so = {.sz = sizeof(so), .busy_ms = busy_ms};
	struct nodes_opts no = {.sz = sizeof(no), .repair = true};
	struct rpc_server_opts ro = {.sz = sizeof(ro),
				     .url = "tcp://127.0.0.1:0",
				     .auth = auth_hook,
				     .name = "test-controller"};
	struct service_deps d;
	int k = atomic_fetch_add(&instance, 1);

	memset(c, 0, sizeof(*c));
	c->interval_ms = interval_ms;
	snprintf(c->dir, sizeof(c->dir), "/tmp/xdrop-ctl-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->db, sizeof(c->db), "%s/c.db", c->dir);
	snprintf(c->push_url, sizeof(c->push_url), "inproc://ctl-push-%d-%d", getpid(), k);
	snprintf(c->health_url, sizeof(c->health_url), "inproc://ctl-health-%d-%d", getpid(), k);
	so.path = c->db;
	assert_int_equal(store_open(&c->store, &so), 0);
	assert_int_equal(
	    idem_open(&c->idem, &(struct idem_opts){.sz = sizeof(struct idem_opts), .path = c->db}),
	    0);
	store_set_txn_hook(c->store, idem_txn_hook, c->idem);
	assert_int_equal(auth_bootstrap(c->store, TEST_ADMIN_KEY, NULL), 0);
	assert_int_equal(publish_open(&c->pub, c->store, c->push_url, NULL, interval_ms), 0);
	no.store = c->store;
	no.health_url = c->health_url;
	no.interval_ms = interval_ms;
	assert_int_equal(nodes_open(&c->nodes, &no), 0);
	assert_int_equal(stats_open(&c->stats, c->nodes, 0), 0);
	assert_int_equal(rules_sweeper_start(&c->sweeper, c->store, 200), 0);
	ro.auth_arg = c->store;
	assert_int_equal(rpc_server_open(&c->srv, &ro), 0);
	d = (struct service_deps){
	    .store = c->store, .nodes = c->nodes, .stats = c->stats, .idem = c->idem};
	assert_int_equal(service_register(&c->svc, c->srv, &d), 0);
	assert_int_equal(rpc_server_start(c->srv), 0);
	snprintf(c->rpc_url, sizeof(c->rpc_url), "tcp://127.0.0.1:%d", rpc_server_port(c->srv));
	c->admin = ctl_client(c, TEST_ADMIN_KEY);
}

void ctl_stop(struct ctl *c)
{
	char cmd[96];

	rpc_client_close(c->admin);
	rpc_server_close(c->srv);
	service_free(c->svc);
	rules_sweeper_stop(c->sweeper);
	stats_close(c->stats);
	nodes_close(c->nodes);
	publish_close(c->pub);
	store_set_txn_hook(c->store, NULL, NULL);
	idem_close(c->idem);
	store_close(c->store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	assert_int_equal(system(cmd), 0);
}

static struct ctl *group_ctl;
static unsigned group_interval_ms;

void ctl_group(struct ctl *c, unsigned interval_ms)
{
	group_ctl = c;
	group_interval_ms = interval_ms;
}

int ctl_group_setup(void **state)
{
	(void)state;
	log_set_level(LOG_LEVEL_WARN);
	ctl_start(group_ctl, group_interval_ms);
	return 0;
}

int ctl_group_teardown(void **state)
{
	(void)state;
	ctl_stop(group_ctl);
	return 0;
}

struct rpc_client *ctl_client(struct ctl *c, const char *token)
{
	struct rpc_client_opts o = {
	    .sz = sizeof(o), .url = c->rpc_url, .auth_token = token, .timeout_ms = 20000};
	struct rpc_client *cl = NULL;

	assert_int_equal(rpc_client_open(&cl, &o), 0);
	return cl;
}

enum rpc_code ctl_call(struct rpc_client *cl, const ProtobufCServiceDescriptor *svc,
		       const char *method, const void *req, void *resp, struct rpc_status *st)
{
	struct rpc_status local;
	ProtobufCMessage *out = NULL;

	if (!st)
		st = &local;
	rpc_client_call(cl, svc, method, req, &out, st);
	if (resp)
		*(ProtobufCMessage **)resp = out;
	else if (out)
		protobuf_c_message_free_unpacked(out, NULL);
	return st->code;
}

void ctl_add_node(struct ctl *c, const char *id, const char *address, char *key)
{
	Xdrop__V1__CreateNodeRequest req = XDROP__V1__CREATE_NODE_REQUEST__INIT;
	Xdrop__V1__Node n = XDROP__V1__NODE__INIT;
	Xdrop__V1__NodeWriteReply *rep = NULL;

	n.id = (char *)id;
	n.name = (char *)id;
	n.address = (char *)(address ? address : "inproc://xdrop-test-unreachable");
	req.node = &n;
	assert_int_equal(
	    ctl_call(c->admin, &xdrop__v1__node_service__descriptor, "Create", &req, &rep, NULL),
	    RPC_OK);
	assert_true(strlen(rep->key) >= 16);
	snprintf(key, 65, "%s", rep->key);
	xdrop__v1__node_write_reply__free_unpacked(rep, NULL);
}

uint64_t ctl_add_rule(struct ctl *c, unsigned i)
{
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__Rule r = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;
	char ip[32];
	uint64_t rev;

	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	r.dst_ip = ip;
	r.action = "drop";
	r.enabled = true;
	r.name = "r";
	req.rule = &r;
	assert_int_equal(
	    ctl_call(c->admin, &xdrop__v1__rule_service__descriptor, "Create", &req, &rep, NULL),
	    RPC_OK);
	rev = rep->sync->revision;
	xdrop__v1__rule_write_reply__free_unpacked(rep, NULL);
	return rev;
}

/* ---- toy agent ----------------------------------------------------------------------- */

struct entry {
	char id[XDROP_STORE_MAX_ID + 2]; /* 'R' or 'W' + id */
	uint8_t digest[RULEHASH_LEN];
};

struct agent {
	struct ctl *ctl;
	char id[64], key[65], token[160], rpc_url[64];
	enum agent_mode mode;
	pthread_mutex_t lock; /* the set, revision, hash, flags */
	struct entry *set;
	size_t n, cap;
	struct rulehash hash;
	uint64_t revision;
	bool online, corrupt;
	uint64_t drop_rev;
	unsigned apply_ms; /* each delta takes this long to apply (a busy node) */
	unsigned chunk_ms; /* each snapshot chunk takes this long to fetch (a large set) */
	uint64_t fetching; /* the snapshot being fetched, as beacons report it (0: none) */
	unsigned snapshots, force_syncs;
	struct pubsub_sub *sub;
	struct pubsub_pub *beacons;
	struct rpc_client *rpc; /* to the controller, node token */
	struct rpc_server *srv; /* AgentService */
	nng_socket manual_sock;
	bool manual_open;
	uint64_t exact_max; /* beacons report a capacity (exact table) when set */
	pthread_t beacon_thread, manual_thread;
	atomic_bool stop;
	uint64_t seq;
};

/* Lock held. */
static struct entry *set_find(struct agent *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->set[i].id, key) == 0)
			return &a->set[i];
	return NULL;
}

/* Lock held. */
static void set_put(struct agent *a, char kind, const char *id, const uint8_t *d)
{
	char key[XDROP_STORE_MAX_ID + 2];
	struct entry *e;

	snprintf(key, sizeof(key), "%c%s", kind, id);
	e = set_find(a, key);
	if (e) {
		rulehash_sub(&a->hash, e->digest);
	} else {
		if (a->n == a->cap) {
			a->cap = a->cap ? a->cap * 2 : 64;
			a->set = realloc(a->set, a->cap * sizeof(*a->set));
			assert_non_null(a->set);
		}
		e = &a->set[a->n++];
		snprintf(e->id, sizeof(e->id), "%s", key);
	}
	memcpy(e->digest, d, RULEHASH_LEN);
	rulehash_add(&a->hash, d);
}

/* Lock held. */
static void set_del(struct agent *a, char kind, const char *id)
{
	char key[XDROP_STORE_MAX_ID + 2];
	struct entry *e;

	snprintf(key, sizeof(key), "%c%s", kind, id);
	e = set_find(a, key);
	if (!e)
		return;
	rulehash_sub(&a->hash, e->digest);
	*e = a->set[--a->n];
}

static int apply_cb(void *arg, const Xdrop__V1__Delta *d)
{
	struct agent *a = arg;
	char hex[RULEHASH_HEX];
	uint8_t dg[RULEHASH_LEN];
	unsigned delay;
	int err = 0;

	pthread_mutex_lock(&a->lock);
	delay = a->apply_ms;
	pthread_mutex_unlock(&a->lock);
	if (delay)
		usleep(delay * 1000u);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < d->n_ops; i++) {
		const Xdrop__V1__DeltaOp *op = d->ops[i];

		switch (op->op_case) {
		case XDROP__V1__DELTA_OP__OP_UPSERT_RULE:
			rulehash_rule_digest(op->upsert_rule, dg);
			set_put(a, 'R', op->upsert_rule->id, dg);
			break;
		case XDROP__V1__DELTA_OP__OP_DELETE_RULE:
			set_del(a, 'R', op->delete_rule);
			break;
		case XDROP__V1__DELTA_OP__OP_UPSERT_WHITELIST:
			rulehash_wl_digest(op->upsert_whitelist, dg);
			set_put(a, 'W', op->upsert_whitelist->id, dg);
			break;
		case XDROP__V1__DELTA_OP__OP_DELETE_WHITELIST:
			set_del(a, 'W', op->delete_whitelist);
			break;
		default:
			break;
		}
	}
	a->revision = d->revision;
	if (strcmp(rulehash_hex(&a->hash, hex), d->content_hash) != 0)
		err = -EBADMSG;
	pthread_mutex_unlock(&a->lock);
	return err;
}

/* Fetches a whole snapshot; returns its revision (hash into hash) or 0 on failure. */
static uint64_t fetch_snapshot(struct agent *a, char hash[RULEHASH_HEX])
{
	Xdrop__V1__SnapshotRequest req = XDROP__V1__SNAPSHOT_REQUEST__INIT;
	struct rulehash h;
	struct entry *set = NULL;
	size_t n = 0, cap = 0;
	uint64_t rev = 0;
	uint32_t count = 1;
	char hex[RULEHASH_HEX];
	unsigned chunk_ms;

	pthread_mutex_lock(&a->lock);
	chunk_ms = a->chunk_ms;
	pthread_mutex_unlock(&a->lock);
	rulehash_init(&h);
	req.node_id = a->id;
	req.max_items = 7; /* small chunks: exercise chunking */
	for (uint32_t i = 0; i < count; i++) {
		Xdrop__V1__SnapshotChunk *ch = NULL;

		req.revision = rev;
		req.chunk_index = i;
		if (ctl_call(a->rpc, &xdrop__v1__sync_service__descriptor, "GetSnapshot", &req, &ch,
			     NULL) != RPC_OK) {
			pthread_mutex_lock(&a->lock);
			a->fetching = 0;
			pthread_mutex_unlock(&a->lock);
			free(set);
			return 0;
		}
		if (i == 0) {
			rev = ch->revision;
			count = ch->chunk_count;
			snprintf(hash, RULEHASH_HEX, "%s", ch->content_hash);
			pthread_mutex_lock(&a->lock);
			a->fetching = rev;
			pthread_mutex_unlock(&a->lock);
		}
		if (chunk_ms)
			usleep(chunk_ms * 1000);
		for (size_t k = 0; k < ch->n_rules + ch->n_whitelist; k++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				set = realloc(set, cap * sizeof(*set));
			}
			if (k < ch->n_rules) {
				snprintf(set[n].id, sizeof(set[n].id), "R%s", ch->rules[k]->id);
				rulehash_rule_digest(ch->rules[k], set[n].digest);
			} else {
				Xdrop__V1__WhitelistEntry *w = ch->whitelist[k - ch->n_rules];

				snprintf(set[n].id, sizeof(set[n].id), "W%s", w->id);
				rulehash_wl_digest(w, set[n].digest);
			}
			rulehash_add(&h, set[n].digest);
			n++;
		}
		xdrop__v1__snapshot_chunk__free_unpacked(ch, NULL);
	}
	pthread_mutex_lock(&a->lock);
	a->fetching = 0;
	pthread_mutex_unlock(&a->lock);
	if (strcmp(rulehash_hex(&h, hex), hash) != 0) {
		free(set);
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	free(a->set);
	a->set = set;
	a->n = n;
	a->cap = cap;
	a->hash = h;
	a->revision = rev;
	a->corrupt = false;
	a->snapshots++;
	pthread_mutex_unlock(&a->lock);
	return rev;
}

static void need_snapshot_cb(void *arg, enum pubsub_resync_reason why, uint64_t applied,
			     uint64_t seen)
{
	struct agent *a = arg;
	char hash[RULEHASH_HEX];
	uint64_t rev = fetch_snapshot(a, hash);

	if (rev)
		pubsub_sub_set_revision(a->sub, rev, hash);
}

void agent_set_capacity(struct agent *a, uint64_t exact_max)
{
	pthread_mutex_lock(&a->lock);
	a->exact_max = exact_max;
	pthread_mutex_unlock(&a->lock);
}

static void *beacon_main(void *arg)
{
	struct agent *a = arg;

	while (!atomic_load(&a->stop)) {
		Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
		Xdrop__V1__Counters cn = XDROP__V1__COUNTERS__INIT;
		Xdrop__V1__Rates rt = XDROP__V1__RATES__INIT;
		Xdrop__V1__RuleCounter rc = XDROP__V1__RULE_COUNTER__INIT, *rcs[1] = {&rc};
		Xdrop__V1__Capacity cap = XDROP__V1__CAPACITY__INIT;
		char hex[RULEHASH_HEX];
		bool online;

		pthread_mutex_lock(&a->lock);
		online = a->online;
		b.node_id = a->id;
		b.seq = ++a->seq;
		b.sent_at = clock_wall_ns();
		b.revision = a->revision;
		rulehash_hex(&a->hash, hex);
		if (a->corrupt)
			hex[0] = hex[0] == 'f' ? '0' : 'f';
		b.content_hash = hex;
		b.rules = a->n;
		b.snapshot_revision = a->fetching;
		b.version = "toy";
		b.rpc_address = a->rpc_url;
		cn.rx = 1000;
		cn.dropped = 10;
		rt.rx_pps = 100;
		rt.dropped_pps = 1;
		b.counters = &cn;
		b.rates = &rt;
		rc.id = "hot-rule";
		rc.match_count = 5;
		rc.drop_count = 5;
		rc.pps = 2.5;
		b.top_rules = rcs;
		b.n_top_rules = 1;
		cap.exact_used = a->n;
		cap.exact_max = a->exact_max;
		if (a->exact_max)
			b.capacity = &cap;
		pthread_mutex_unlock(&a->lock);
		if (online) {
			uint8_t bkey[XDROP_NODEKEY_LEN];

			nodekey_beacon_key(a->key, bkey); /* as the agent signs */
			pubsub_pub_beacon(a->beacons, &b, bkey, sizeof(bkey));
		}
		usleep(a->ctl->interval_ms * 1000);
	}
	return NULL;
}

static void *manual_main(void *arg)
{
	struct agent *a = arg;

	while (!atomic_load(&a->stop)) {
		nng_msg *m = NULL;
		const uint8_t *body;
		size_t len;
		Xdrop__V1__Delta *d;
		bool drop = false;

		if (nng_recvmsg(a->manual_sock, &m, 0) != 0)
			continue;
		body = nng_msg_body(m);
		len = nng_msg_len(m);
		d = len > strlen(XDROP_TOPIC_DELTA)
			? xdrop__v1__delta__unpack(NULL, len - strlen(XDROP_TOPIC_DELTA),
						   body + strlen(XDROP_TOPIC_DELTA))
			: NULL;
		pthread_mutex_lock(&a->lock);
		if (d && a->drop_rev && d->revision == a->drop_rev && d->n_ops) {
			drop = true;
			a->drop_rev = 0;
		}
		pthread_mutex_unlock(&a->lock);
		if (d)
			xdrop__v1__delta__free_unpacked(d, NULL);
		if (!drop)
			pubsub_sub_feed(a->sub, body, len);
		nng_msg_free(m);
	}
	return NULL;
}

static enum rpc_code force_sync_h(struct rpc_call *call, const ProtobufCMessage *req,
				  ProtobufCMessage *resp, void *arg)
{
	struct agent *a = arg;
	Xdrop__V1__ForceSyncReply *r = (Xdrop__V1__ForceSyncReply *)resp;

	pthread_mutex_lock(&a->lock);
	a->force_syncs++;
	pthread_mutex_unlock(&a->lock);
	if (a->sub)
		pubsub_sub_resync(a->sub);
	pthread_mutex_lock(&a->lock);
	r->revision = a->revision;
	pthread_mutex_unlock(&a->lock);
	return RPC_OK;
}

static void open_sub(struct agent *a)
{
	struct pubsub_sub_ops ops = {
	    .apply = apply_cb, .need_snapshot = need_snapshot_cb, .arg = a};
	struct pubsub_opts o = {.sz = sizeof(o)};
	char hex[RULEHASH_HEX];

	if (a->mode == AGENT_SOCKET)
		o.url = a->ctl->push_url;
	pthread_mutex_lock(&a->lock);
	rulehash_hex(&a->hash, hex);
	pthread_mutex_unlock(&a->lock);
	assert_int_equal(pubsub_sub_open(&a->sub, &o, &ops, a->revision, hex), 0);
	if (a->mode == AGENT_MANUAL) {
		assert_int_equal(nng_sub0_open(&a->manual_sock), 0);
		assert_int_equal(nng_socket_set(a->manual_sock, NNG_OPT_SUB_SUBSCRIBE,
						XDROP_TOPIC_DELTA, strlen(XDROP_TOPIC_DELTA)),
				 0);
		assert_int_equal(nng_socket_set_ms(a->manual_sock, NNG_OPT_RECVTIMEO, 100), 0);
		assert_int_equal(
		    nng_socket_set_size(a->manual_sock, NNG_OPT_RECVMAXSZ, XDROP_PUBSUB_MAX_MSG),
		    0);
		assert_int_equal(nng_dial(a->manual_sock, a->ctl->push_url, NULL, 0), 0);
		a->manual_open = true;
	}
}

struct agent *agent_start(struct ctl *c, const char *id, const char *key, const char *rpc_url,
			  enum agent_mode mode)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct pubsub_opts bo = {.sz = sizeof(bo), .url = c->health_url};
	struct rpc_server_opts so = {.sz = sizeof(so), .url = rpc_url, .name = id};
	struct rpc_client_opts co = {.sz = sizeof(co), .url = c->rpc_url, .timeout_ms = 10000};

	assert_non_null(a);
	a->ctl = c;
	a->mode = mode;
	a->online = true;
	pthread_mutex_init(&a->lock, NULL);
	rulehash_init(&a->hash);
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->key, sizeof(a->key), "%s", key);
	snprintf(a->token, sizeof(a->token), "node:%s:%s", id, key);
	snprintf(a->rpc_url, sizeof(a->rpc_url), "%s", rpc_url);
	co.auth_token = a->token;
	assert_int_equal(rpc_client_open(&a->rpc, &co), 0);
	assert_int_equal(rpc_server_open(&a->srv, &so), 0);
	assert_int_equal(rpc_server_register(a->srv, &xdrop__v1__agent_service__descriptor,
					     "ForceSync", force_sync_h, a),
			 0);
	assert_int_equal(rpc_server_start(a->srv), 0);
	assert_int_equal(pubsub_pub_open(&a->beacons, &bo), 0);
	open_sub(a);
	if (mode == AGENT_MANUAL)
		assert_int_equal(pthread_create(&a->manual_thread, NULL, manual_main, a), 0);
	assert_int_equal(pthread_create(&a->beacon_thread, NULL, beacon_main, a), 0);
	return a;
}

void agent_stop(struct agent *a)
{
	atomic_store(&a->stop, true);
	pthread_join(a->beacon_thread, NULL);
	if (a->mode == AGENT_MANUAL)
		pthread_join(a->manual_thread, NULL);
	if (a->manual_open)
		nng_close(a->manual_sock);
	rpc_server_close(a->srv); /* first: a ForceSync being served uses a->sub */
	pubsub_sub_close(a->sub);
	pubsub_pub_close(a->beacons);
	rpc_client_close(a->rpc);
	free(a->set);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void agent_set_online(struct agent *a, bool online)
{
	assert_int_equal(a->mode, AGENT_SOCKET);
	pthread_mutex_lock(&a->lock);
	a->online = online;
	pthread_mutex_unlock(&a->lock);
	if (!online) {
		pubsub_sub_close(a->sub);
		a->sub = NULL;
	} else {
		open_sub(a);
	}
}

void agent_drop_revision(struct agent *a, uint64_t rev)
{
	pthread_mutex_lock(&a->lock);
	a->drop_rev = rev;
	pthread_mutex_unlock(&a->lock);
}

void agent_set_chunk_ms(struct agent *a, unsigned ms)
{
	pthread_mutex_lock(&a->lock);
	a->chunk_ms = ms;
	pthread_mutex_unlock(&a->lock);
}

void agent_set_apply_ms(struct agent *a, unsigned ms)
{
	pthread_mutex_lock(&a->lock);
	a->apply_ms = ms;
	pthread_mutex_unlock(&a->lock);
}

void agent_corrupt(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	a->corrupt = true;
	pthread_mutex_unlock(&a->lock);
}

uint64_t agent_revision(struct agent *a, char hash[RULEHASH_HEX])
{
	uint64_t r;

	pthread_mutex_lock(&a->lock);
	r = a->revision;
	if (hash)
		rulehash_hex(&a->hash, hash);
	pthread_mutex_unlock(&a->lock);
	return r;
}

unsigned agent_snapshots(struct agent *a)
{
	unsigned n;

	pthread_mutex_lock(&a->lock);
	n = a->snapshots;
	pthread_mutex_unlock(&a->lock);
	return n;
}

unsigned agent_force_syncs(struct agent *a)
{
	unsigned n;

	pthread_mutex_lock(&a->lock);
	n = a->force_syncs;
	pthread_mutex_unlock(&a->lock);
	return n;
}

long agents_wait_converged(struct ctl *c, struct agent **v, unsigned n, unsigned timeout_ms)
{
	long t0 = now_ms();

	while (now_ms() - t0 <= (long)timeout_ms) {
		struct store_rev rev;
		unsigned ok = 0;

		store_revision(c->store, &rev);
		for (unsigned i = 0; i < n; i++) {
			char hash[RULEHASH_HEX];

			if (agent_revision(v[i], hash) == rev.revision &&
			    strcmp(hash, rev.hash) == 0)
				ok++;
		}
		if (ok == n)
			return now_ms() - t0;
		usleep(10000);
	}
	return -1;
}

long wait_status(struct ctl *c, const char *id, enum node_status st, unsigned timeout_ms)
{
	long t0 = now_ms();

	while (now_ms() - t0 <= (long)timeout_ms) {
		if (nodes_status(c->nodes, id) == st)
			return now_ms() - t0;
		usleep(10000);
	}
	return -1;
}
