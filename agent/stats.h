/* SPDX-License-Identifier: MIT */
/*
 * stats: the agent's sampler. Every interval one thread reads the global counters and
 * every rule's counters (in bulk) and keeps rates over that fixed window, so that a PPS
 * figure does not depend on who asks or how often. It also keeps an hour of history at the
 * sampling interval and the host's CPU and memory use. The sampler is a lib/ticker
 * thread: the first sample at start, then every interval on the monotonic clock.
 */
#ifndef XDROP_STATS_H
#define XDROP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"
#include "ruleset.h"
#include "xdrop.pb-c.h"

#define STATS_HISTORY 3600 /* samples kept */

struct stats;

/* Starts sampling dp every interval_ms (0: 1000); dp and rs are borrowed and must outlive
 * the sampler. Returns 0 with *out set, or a negative errno. */
int stats_start(struct stats **out, struct dataplane *dp, struct ruleset *rs, uint64_t interval_ms);
/* Stops the sampler (a sample in progress completes first) and frees s (NULL is fine). */
void stats_stop(struct stats *s);

/* Fills counters, rates and system stats from the last sample (strings none). */
void stats_fill(struct stats *s, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r,
		Xdrop__V1__SystemStats *sys);

/* One rule's counters and drop-or-match PPS. Returns 0 or -ENOENT. */
int stats_rule(struct stats *s, const char *id, uint64_t *match, uint64_t *drop, double *pps);

/* Up to n rules with the highest drop rate: ids copied into ids[i] (free them), counters
 * into the arrays. Returns how many. */
size_t stats_top(struct stats *s, size_t n, char **ids, uint64_t *match, uint64_t *drop,
		 double *pps);

struct stats_point {
	int64_t at; /* ns since the epoch */
	uint64_t rx, passed, dropped, whitelisted, rate_limited;
	double rx_pps, passed_pps, dropped_pps, rate_limited_pps;
};

/* History points oldest first since the given time (ns, 0 = all); *out is malloc'ed. */
size_t stats_history(struct stats *s, int64_t since_ns, struct stats_point **out);

#endif
