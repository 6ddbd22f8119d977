/* SPDX-License-Identifier: MIT */
/*
 * rulecounters: the latest counters of every rule and whitelist entry on every node, as
 * the nodes' beacons report them, and their sums across nodes.
 *
 * A beacon carries rule_counters (those that changed since the agent last sent them, plus
 * a slow round-robin refresh of unchanged non-zero ones) and top_rules; the table keeps the
 * latest RuleCounter per (node, kind, id), so it converges to each node's exact counters.
 * A counter the node's latest beacon did not carry has not moved since it was sent: its
 * rates count as 0 (the figures it was sent with are a past rate, not the current one).
 *
 * The table is bounded (XDROP_RULE_COUNTERS_MAX entries; one more is refused and counted,
 * the refusal logged at the 1st, 2nd, 4th... time). Entries of deleted rules and
 * whitelist entries are forgotten (rc_forget, from the change log's delete ops), and so are
 * a deleted node's (rc_forget_node). So that a beacon sent before its node applied a
 * delete cannot bring the counters back, a beacon at a revision below the last delete's
 * (rc_set_min_revision) may update existing entries but not create new ones.
 *
 * Not thread-safe: controller/stats.c holds its lock around every call.
 */
#ifndef XDROP_CONTROLLER_RULECOUNTERS_H
#define XDROP_CONTROLLER_RULECOUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "xdrop.pb-c.h"

/* (node, rule) pairs with counters the controller keeps; each costs about 200 bytes. */
#define XDROP_RULE_COUNTERS_MAX (1u << 19)

/* Counters of one rule or whitelist entry summed across nodes (see stats.h). */
struct rule_sum {
	char id[XDROP_STORE_MAX_ID + 1];
	enum store_kind kind;
	uint64_t match_count, drop_count, match_bytes, drop_bytes;
	double pps; /* the sum of the nodes' pps (drop_pps for a legacy top_rules entry) */
	double match_pps, drop_pps, match_bps, drop_bps;
	int64_t at; /* the oldest contributing node's measurement time (ns since the epoch) */
	bool stale; /* some contributing node's figures are older than the health timeout */
};

struct rulecounters;

/* An empty table of at most max entries (0 = XDROP_RULE_COUNTERS_MAX). 0 or -ENOMEM. */
int rc_open(struct rulecounters **out, size_t max);
void rc_close(struct rulecounters *t);

/*
 * Takes the counters of one accepted beacon of node (b borrowed): its top_rules, then its
 * rule_counters (kind "" is "rule"), received now_ms (monotonic).
 */
void rc_beacon(struct rulecounters *t, const char *node, const Xdrop__V1__Beacon *b,
	       int64_t now_ms);

/*
 * A node's counters as its agent reported them all at once (AgentService.RuleStats): what
 * a controller that started after the agent needs, since beacons carry only the counters
 * that changed (unchanged ones come back only with the slow refresh). Entries are created
 * as by the node's latest beacon (and only for a node heard from). rc_seed_due is true
 * for a node heard from and not seeded yet, unless a failed attempt (rc_seed_failed) is
 * too recent: a node that does not answer is asked again after 2 s, then 4, 8... up to
 * 5 min.
 */
void rc_seed(struct rulecounters *t, const char *node, const Xdrop__V1__RuleCounter *const *v,
	     size_t n);
bool rc_seed_due(const struct rulecounters *t, const char *node, int64_t now_ms);
void rc_seed_failed(struct rulecounters *t, const char *node, int64_t now_ms);

/* From now on a beacon below revision rev creates no entry (see above). */
void rc_set_min_revision(struct rulecounters *t, uint64_t rev);

/* Forgets the counters of id of kind on every node. */
void rc_forget(struct rulecounters *t, enum store_kind kind, const char *id);

/* Forgets the counters of every entry for which keep(arg, kind, id) is false. */
void rc_forget_if(struct rulecounters *t,
		  bool (*keep)(void *arg, enum store_kind kind, const char *id), void *arg);

/* Forgets every node for which keep(arg, node_id) is false, with its counters. */
void rc_forget_nodes(struct rulecounters *t, bool (*keep)(void *arg, const char *node_id),
		     void *arg);

/* Entries held now, and entries refused because the table was full. */
size_t rc_count(const struct rulecounters *t, uint64_t *refused);

/*
 * Appends one rule_sum per entry (not yet merged) to *v (*n of *cap, grown with realloc),
 * leaving out nodes for which skip(arg, node) is true (skip may be NULL). A node whose
 * last beacon arrived more than stale_ms before now_ms is stale: its counts are kept,
 * its rates are 0. Returns 0 or -ENOMEM.
 */
int rc_collect(struct rulecounters *t, int64_t now_ms, int64_t stale_ms,
	       bool (*skip)(void *arg, const char *node), void *arg, struct rule_sum **v, size_t *n,
	       size_t *cap);

/* out[i] = the sum across nodes of ids[i] of kind (zero when no node reported it), as
 * rc_collect and rc_merge would give it, by one lookup per node and id. */
void rc_sum_ids(struct rulecounters *t, int64_t now_ms, int64_t stale_ms, enum store_kind kind,
		const char *const *ids, size_t n, struct rule_sum *out);

/* Appends one rule_sum made of c (kind from c->kind) measured at `at`, fresh. */
int rc_sum_append(const Xdrop__V1__RuleCounter *c, int64_t at, struct rule_sum **v, size_t *n,
		  size_t *cap);

/* Sorts v by (kind, id) and merges equal ones (counts and rates summed, the oldest at, any
 * stale); *n becomes the merged count. */
void rc_merge(struct rule_sum *v, size_t *n);

#endif
