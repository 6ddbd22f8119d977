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
};

/* One beacon (a ticker call). */
static void send_one(void *arg)
{
	struct beacon *b = arg;
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
	free(b);
}
