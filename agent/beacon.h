/* SPDX-License-Identifier: MIT */
/*
 * beacon: publishes the node's signed health beacon every interval (docs/sync.md):
 * applied revision and content hash, counters and rates, system stats, attach state,
 * entry counts, capacity, the top rules by drop rate, and the counters of rules and
 * whitelist entries that changed since the last beacon (plus a slow refresh of unchanged
 * ones, so a restarted controller converges). The beacons are sent by a lib/ticker
 * thread: the first at start, then every interval on the monotonic clock.
 */
#ifndef XDROP_BEACON_H
#define XDROP_BEACON_H

#include <stdint.h>

#include "ruleset.h"
#include "stats.h"
#include "tls.h"
#include "xdrop.pb-c.h"
#include "xdrop_limits.h"

struct beacon;

struct beacon_opts {
	const char *node_id;
	const char *node_key;
	const char *url; /* controller health (SUB) address */
	const struct tls_opts *tls;
	uint64_t interval_ms;
	const char *rpc_address; /* where the controller reaches this agent */
	/* fills the attach state (strings must stay valid until the next call) */
	void (*attach)(void *arg, Xdrop__V1__AttachState *a);
	void *attach_arg;
};

/* Opens the publisher to o->url and starts sending. rs and st are borrowed and must
 * outlive the beacon. Returns 0 with *out set, or a negative errno (logged). */
int beacon_start(struct beacon **out, const struct beacon_opts *o, struct ruleset *rs,
		 struct stats *st);
/* Stops sending (a beacon in progress completes first) and frees b (NULL is fine). */
void beacon_stop(struct beacon *b);

#define XDROP_TOP_RULES 10 /* rules listed in a beacon */
/* Rule counters per beacon: changed ones, then the round-robin refresh of unchanged ones.
 * A full RuleCounter is at most ~150 bytes packed, so 288 of them stay near 43 KiB, well
 * under the controller's 64 KiB health-port frame cap (tests/agent checks the size). */
#define BEACON_RULE_COUNTERS 256
#define BEACON_RULE_REFRESH  32

#endif
