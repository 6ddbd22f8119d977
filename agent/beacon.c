// SPDX-License-Identifier: MIT
/*
 * beacon: see beacon.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beacon.h"
#include "log.h"
#include "nodekey.h"
#include "pubsub.h"

struct beacon {
	struct beacon_opts o;
	struct ruleset *rs;
	struct stats *st;
	struct pubsub_pub *pub;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, started;
	uint64_t seq;
};

static void send_one(struct beacon *b)
{
	Xdrop__V1__Beacon m = XDROP__V1__BEACON__INIT;
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Rates r = XDROP__V1__RATES__INIT;
	Xdrop__V1__SystemStats sys = XDROP__V1__SYSTEM_STATS__INIT;
	Xdrop__V1__AttachState a = XDROP__V1__ATTACH_STATE__INIT;
	Xdrop__V1__RuleCounter top[XDROP_TOP_RULES], *tops[XDROP_TOP_RULES];
	char *ids[XDROP_TOP_RULES], hash[RULEHASH_HEX];
	uint8_t bkey[XDROP_NODEKEY_LEN];
	uint64_t match[XDROP_TOP_RULES], drop[XDROP_TOP_RULES];
	double pps[XDROP_TOP_RULES];
	struct timespec ts;
	size_t n;
	int err;

	clock_gettime(CLOCK_REALTIME, &ts);
	m.node_id = (char *)b->o.node_id;
	m.seq = ++b->seq;
	m.sent_at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	ruleset_published(b->rs, &m.revision, hash);
	m.content_hash = hash;
	stats_fill(b->st, &c, &r, &sys);
	m.counters = &c;
	m.rates = &r;
	m.system = &sys;
	if (b->o.attach) {
		b->o.attach(b->o.attach_arg, &a);
		m.attach = &a;
	}
	m.version = XDROP_VERSION;
	m.rpc_address = (char *)b->o.rpc_address;
	ruleset_counts(b->rs, &m.rules, &m.whitelist);
	n = stats_top(b->st, XDROP_TOP_RULES, ids, match, drop, pps);
	for (size_t i = 0; i < n; i++) {
		xdrop__v1__rule_counter__init(&top[i]);
		top[i].id = ids[i];
		top[i].match_count = match[i];
		top[i].drop_count = drop[i];
		top[i].pps = pps[i];
		tops[i] = &top[i];
	}
	m.n_top_rules = n;
	m.top_rules = tops;
	nodekey_beacon_key(b->o.node_key, bkey); /* what the controller keeps (lib/nodekey.h) */
	err = pubsub_pub_beacon(b->pub, &m, bkey, sizeof(bkey));
	explicit_bzero(bkey, sizeof(bkey));
	if (err)
		log_debug("beacon %llu not sent: %s", (unsigned long long)m.seq, strerror(-err));
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
}

static void *loop(void *arg)
{
	struct beacon *b = arg;
	struct timespec until;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		pthread_mutex_unlock(&b->lock);
		send_one(b);
		pthread_mutex_lock(&b->lock);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(b->o.interval_ms / 1000);
		until.tv_nsec += (long)(b->o.interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!b->stop && pthread_cond_timedwait(&b->cond, &b->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int beacon_start(struct beacon **out, const struct beacon_opts *o, struct ruleset *rs,
		 struct stats *st)
{
	struct beacon *b = calloc(1, sizeof(*b));
	struct pubsub_opts po = {.sz = sizeof(po), .url = o->url, .tls = o->tls};
	pthread_condattr_t ca;
	int err;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->o = *o;
	b->rs = rs;
	b->st = st;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = pubsub_pub_open(&b->pub, &po);
	if (err) {
		log_error("controller health %s: %s", o->url, strerror(-err));
		goto fail;
	}
	if (pthread_create(&b->th, NULL, loop, b)) {
		err = -EAGAIN;
		goto fail;
	}
	b->started = true;
	*out = b;
	return 0;
fail:
	beacon_stop(b);
	return err;
}

void beacon_stop(struct beacon *b)
{
	if (!b)
		return;
	if (b->started) {
		pthread_mutex_lock(&b->lock);
		b->stop = true;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->th, NULL);
	}
	pubsub_pub_close(b->pub);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b);
}
