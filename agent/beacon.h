/* SPDX-License-Identifier: MIT */
/*
 * beacon: publishes the node's signed health beacon every interval (docs/sync.md):
 * applied revision and content hash, counters and rates, system stats, attach state,
 * entry counts and the top rules by drop rate.
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

int beacon_start(struct beacon **out, const struct beacon_opts *o, struct ruleset *rs,
		 struct stats *st);
void beacon_stop(struct beacon *b);

#define XDROP_TOP_RULES 10 /* rules listed in a beacon */

#endif
