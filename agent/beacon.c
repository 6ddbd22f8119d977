// SPDX-License-Identifier: MIT
/*
 * beacon: see beacon.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "beacon.h"
#include "clock.h"
#include "log.h"
#include "nodekey.h"
#include "pubsub.h"
#include "ticker.h"

struct beacon {
	struct beacon_opts o;
	struct ruleset *rs;
	struct stats *st;
	struct pubsub_pub *pub;
	struct ticker *ticker;
	uint64_t seq;
	struct stats_sent *sent; /* rule counters last sent (NULL: out of memory, none sent) */
};

/* The rule_counters of a beacon: owned by the caller until rule_counters_free. */
struct rule_counters {
	Xdrop__V1__RuleCounter v[BEACON_RULE_COUNTERS + BEACON_RULE_REFRESH];
	Xdrop__V1__RuleCounter *p[BEACON_RULE_COUNTERS + BEACON_RULE_REFRESH];
	char *ids[BEACON_RULE_COUNTERS + BEACON_RULE_REFRESH];
	struct stats_rule sr[BEACON_RULE_COUNTERS + BEACON_RULE_REFRESH];
	size_t n;
};

static void rule_counters_fill(struct beacon *b, struct rule_counters *rc, Xdrop__V1__Beacon *m)
{
	rc->n = b->sent ? stats_changed(b->st, b->sent, BEACON_RULE_COUNTERS, BEACON_RULE_REFRESH,
					rc->ids, rc->sr)
			: 0;
	for (size_t i = 0; i < rc->n; i++) {
		xdrop__v1__rule_counter__init(&rc->v[i]);
		rc->v[i].id = rc->ids[i];
		stats_rule_to_counter(&rc->sr[i], &rc->v[i]);
		rc->p[i] = &rc->v[i];
	}
	m->n_rule_counters = rc->n;
	m->rule_counters = rc->p;
}

static void rule_counters_free(struct rule_counters *rc)
{
	for (size_t i = 0; i < rc->n; i++)
		free(rc->ids[i]);
}

/* One beacon (a ticker call). */
static void send_one(void *arg)
{
	struct beacon *b = arg;
	static __thread struct rule_counters rc; /* too big for the ticker's stack */
	Xdrop__V1__Capacity cap = XDROP__V1__CAPACITY__INIT;
	Xdrop__V1__Beacon m = XDROP__V1__BEACON__INIT;
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Rates r = XDROP__V1__RATES__INIT;
	Xdrop__V1__SystemStats sys = XDROP__V1__SYSTEM_STATS__INIT;
	Xdrop__V1__AttachState a = XDROP__V1__ATTACH_STATE__INIT;
	Xdrop__V1__RuleCounter top[XDROP_TOP_RULES], *tops[XDROP_TOP_RULES];
	char *ids[XDROP_TOP_RULES], hash[RULEHASH_HEX];
	uint8_t bkey[XDROP_NODEKEY_LEN];
	struct stats_rule sr[XDROP_TOP_RULES];
	size_t n;
	int err;

	m.node_id = (char *)b->o.node_id;
	m.seq = ++b->seq;
	m.sent_at = clock_wall_ns();
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
	m.snapshot_revision = ruleset_staging(b->rs);
	n = stats_top(b->st, XDROP_TOP_RULES, ids, sr);
	for (size_t i = 0; i < n; i++) {
		xdrop__v1__rule_counter__init(&top[i]);
		top[i].id = ids[i];
		stats_rule_to_counter(&sr[i], &top[i]);
		tops[i] = &top[i];
	}
	m.n_top_rules = n;
	m.top_rules = tops;
	rule_counters_fill(b, &rc, &m);
	stats_capacity(b->st, &cap);
	m.capacity = &cap;
	m.agent_uptime_s = stats_agent_uptime_s(b->st);
	nodekey_beacon_key(b->o.node_key, bkey); /* what the controller keeps (lib/nodekey.h) */
	err = pubsub_pub_beacon(b->pub, &m, bkey, sizeof(bkey));
	explicit_bzero(bkey, sizeof(bkey));
	if (err) {
		log_debug("beacon %llu not sent: %s", (unsigned long long)m.seq, strerror(-err));
		/* what it carried was not delivered: send every counter again */
		stats_sent_free(b->sent);
		b->sent = stats_sent_new();
	}
	rule_counters_free(&rc);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
}

int beacon_start(struct beacon **out, const struct beacon_opts *o, struct ruleset *rs,
		 struct stats *st)
{
	struct beacon *b = calloc(1, sizeof(*b));
	struct pubsub_opts po = {.sz = sizeof(po), .url = o->url, .tls = o->tls};
	struct ticker_opts to = {.sz = sizeof(to),
				 .name = "beacon",
				 .period_ms = (unsigned)o->interval_ms,
				 .first_now = true,
				 .fn = send_one,
				 .arg = b};
	int err;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->o = *o;
	b->rs = rs;
	b->st = st;
	b->sent = stats_sent_new();
	err = pubsub_pub_open(&b->pub, &po);
	if (err) {
		log_error("controller health %s: %s", o->url, strerror(-err));
		goto fail;
	}
	err = ticker_start(&b->ticker, &to);
	if (err)
		goto fail;
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
	ticker_stop(b->ticker);
	pubsub_pub_close(b->pub);
	stats_sent_free(b->sent);
	free(b);
}
