/* SPDX-License-Identifier: MIT */
/*
 * stats: the agent's sampler. Every interval one thread reads the global counters and
 * the rules' and whitelist entries' counters (in bulk: all of them after a change of the
 * rule set, else STATS_SLOTS_PER_TICK of them round-robin) and keeps rates over those
 * reads, so that a PPS or BPS figure does not depend on who asks or how often. It also
 * keeps an hour of history at the sampling interval and the host's CPU and memory use.
 * The sampler is a lib/ticker thread: the first sample at start, then every interval on
 * the monotonic clock.
 *
 * Bytes are frame lengths as the XDP program sees them (bpf/xdrop.h); bps = bytes x 8 / s.
 */
#ifndef XDROP_STATS_H
#define XDROP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"
#include "ruleset.h"
#include "xdrop.pb-c.h"

#define STATS_HISTORY 3600 /* samples kept */
/* Counter slots read per interval while the rule set does not change (agent/stats.c): a
 * million entries are read whole every 31 intervals. A divisor of XDROP_SLOT_CHUNK. */
#define STATS_SLOTS_PER_TICK 32768

struct stats;

/* Starts sampling dp every interval_ms (0: 1000); dp and rs are borrowed and must outlive
 * the sampler. Returns 0 with *out set, or a negative errno. */
int stats_start(struct stats **out, struct dataplane *dp, struct ruleset *rs, uint64_t interval_ms);
/* Stops the sampler (a sample in progress completes first) and frees s (NULL is fine). */
void stats_stop(struct stats *s);

/* Fills counters, rates (every field: exclusive reasons, bytes, bps) and system stats from
 * the last sample (strings none). */
void stats_fill(struct stats *s, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r,
		Xdrop__V1__SystemStats *sys);

/* One rule's or whitelist entry's figures, from the last sample. */
struct stats_rule {
	uint64_t match, drop, match_bytes, drop_bytes;
	double match_pps, drop_pps, match_bps, drop_bps;
	bool whitelist; /* a whitelist entry (kind "whitelist"), else a rule */
	int64_t at;	/* when the figures were read (wall ns, like NodeStats.at) */
};

/* The pps of the v2.7 RuleStats.pps field: the drop rate when the entry drops, else its
 * match rate. */
double stats_rule_pps(const struct stats_rule *r);

/* Figures of the rule or whitelist entry id. Returns 0 or -ENOENT. */
int stats_rule(struct stats *s, const char *id, struct stats_rule *out);

/* Copies r into a RuleStats or RuleCounter (kind: a static string). */
void stats_rule_to_pb(const struct stats_rule *r, Xdrop__V1__RuleStats *rs);
void stats_rule_to_counter(const struct stats_rule *r, Xdrop__V1__RuleCounter *rc);

/* Up to n rules with the highest drop rate (rules that dropped something): ids copied into
 * ids[i] (free them), figures into out[i]. Returns how many. */
size_t stats_top(struct stats *s, size_t n, char **ids, struct stats_rule *out);

/* Up to n rules and whitelist entries that matched something, the highest match rate
 * first; as stats_top. */
size_t stats_busiest(struct stats *s, size_t n, char **ids, struct stats_rule *out);

/* What one receiver (a beacon stream) was last sent, per slot: stats_changed sends an
 * entry again only when its figures moved. */
struct stats_sent;
struct stats_sent *stats_sent_new(void);
void stats_sent_free(struct stats_sent *t);

/* Up to max entries whose counters changed since they were last given to t (entries t
 * never got: once they counted something; a receiver takes unknown entries as zero), and
 * up to refresh unchanged non-zero ones in round-robin order, so a receiver that lost state
 * converges. ids copied into ids[i] (free them), figures into
 * out[i], which hold max + refresh. A slot that now belongs to another entry counts as
 * changed for it (the previous owner's figures are never given under the new id).
 * Returns how many. */
size_t stats_changed(struct stats *s, struct stats_sent *t, size_t max, size_t refresh, char **ids,
		     struct stats_rule *out);

struct stats_point {
	int64_t at; /* ns since the epoch */
	uint64_t c[XDROP_NCOUNTERS];
	double dt; /* seconds since the previous sample (0: no rates) */
	uint64_t prev[XDROP_NCOUNTERS];
};

/* History points oldest first since the given time (ns, 0 = all); *out is malloc'ed. */
size_t stats_history(struct stats *s, int64_t since_ns, struct stats_point **out);
/* Fills a history point's counters and rates, as stats_fill does. */
void stats_point_fill(const struct stats_point *p, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r);

/* The data plane's entries against its capacities. */
void stats_capacity(struct stats *s, Xdrop__V1__Capacity *c);

/* Seconds since the agent process started (since stats_start). */
uint64_t stats_agent_uptime_s(struct stats *s);

#endif
