/* SPDX-License-Identifier: MIT */
/*
 * stats: cluster counters from the nodes' beacons, per-rule counters summed across nodes,
 * and a history ring (one point per second, XDROP_HISTORY_DEFAULT_S of them by default)
 * for the cluster and for each node.
 *
 * Counters and rates come from each node's latest beacon (nodes that are offline or were
 * never heard from count for nothing); every field of Counters and Rates is summed.
 *
 * History: one point per second per ring. A point with no data is a gap, not a zero: the
 * cluster's when no node had a fresh beacon, a node's when it sent none, and one per
 * second the sampler missed (a paused process). StatsService.History returns a gap as a
 * HistoryPoint with `at` and neither rates nor counters, so a chart draws a hole; with a
 * step above 1 a point is the newest of its step that has data, else a gap.
 *
 * Per-rule counters (rules and whitelist entries): the latest RuleCounter per (node, kind,
 * id) from every beacon's top_rules and rule_counters (controller/rulecounters.h), summed
 * across nodes: counts and bytes from every node known, rates only from nodes whose beacon
 * is fresh (a node silent for the health timeout makes the sum `stale`), `at` the oldest
 * contributing node's measurement time. StatsService.RuleStats (stats_rule_counters with
 * ask_agents) asks AgentService.RuleStats on every reachable node and uses its answer
 * instead of the beacons' for that node. Each node's full counters are also read once
 * when it is first heard from (stats_seed), since its beacons carry only changes.
 * Counters of deleted rules and entries (read from the change log at each sample and each
 * query) and of deleted nodes are forgotten.
 */
#ifndef XDROP_CONTROLLER_STATS_H
#define XDROP_CONTROLLER_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "nodes.h"
#include "rulecounters.h"
#include "xdrop.pb-c.h"
#include "xdrop_limits.h"

#define XDROP_HISTORY_DEFAULT_S 3600
/* The longest window StatsService.History serves: the longest history a controller can
 * keep (stats.history is at most XDROP_HISTORY_MAX_S), so a longer window could never be
 * filled. The gateway's /stats/history `seconds` limit must be the same number. */
#define XDROP_HISTORY_WINDOW_MAX_S XDROP_HISTORY_MAX_S
/* Nodes with a history ring of their own (each ring is history_s points, about 150 bytes
 * each); nodes seen after that many have no per-node history (logged once), the cluster's
 * ring always exists. */
#define XDROP_HISTORY_MAX_NODES	     1024
#define XDROP_STATS_AGENT_TIMEOUT_MS 1000
/* How often nodes heard from whose full counters were not read yet are asked for them. */
#define XDROP_STATS_SEED_MS 2000
/* All of StatsService.RuleStats' calls to agents (made at once) end within this. */
#define XDROP_STATS_AGENTS_DEADLINE_MS 3000

struct stats;

/* Starts sampling every second, keeping history_s points (0 = default). */
int stats_open(struct stats **out, struct nodes *nodes, unsigned history_s);
void stats_close(struct stats *s);

/* Sums the latest beacons into totals and rates (both zero-initialized by the caller). */
void stats_totals(struct stats *s, Xdrop__V1__Counters *totals, Xdrop__V1__Rates *rates);

/* Takes one sample now (a ticker does it every second; tests call it). */
void stats_sample(struct stats *s);

/*
 * The history of node_id ("" or NULL = cluster) over the last `seconds` (0 = all kept),
 * one point per `step` seconds (0 = 1), oldest first. *out is an array of *n points
 * (free with stats_free_points). Returns 0, -ENOENT for a node without history.
 */
int stats_history(struct stats *s, const char *node_id, uint32_t seconds, uint32_t step,
		  Xdrop__V1__HistoryPoint **out, size_t *n);
void stats_free_points(Xdrop__V1__HistoryPoint *v, size_t n);

/*
 * All known rule and whitelist counters summed across nodes (struct rule_sum,
 * rulecounters.h), sorted by (kind, id) (*out freed with free()). ask_agents also calls
 * AgentService.RuleStats on every reachable node at once (controller/fanout.h: at most
 * XDROP_STATS_AGENT_TIMEOUT_MS per node, XDROP_STATS_AGENTS_DEADLINE_MS in all) and uses
 * each answer instead of the beacons' counters for that node. Returns 0
 * or -ENOMEM.
 */
int stats_rule_counters(struct stats *s, bool ask_agents, struct rule_sum **out, size_t *n);

/* out[i] = the counters of ids[i] of kind summed across nodes (zero when no node reported
 * them), from the beacons only: what lists of n items need, without collecting every
 * counter known. */
void stats_rule_sums(struct stats *s, enum store_kind kind, const char *const *ids, size_t n,
		     struct rule_sum *out);

/* Binary search in stats_rule_counters' array; NULL when absent. */
const struct rule_sum *stats_rule_find(const struct rule_sum *v, size_t n, enum store_kind kind,
				       const char *id);

/*
 * Asks every reachable node not asked yet (since it was first heard from) for all its rule
 * and whitelist counters (AgentService.RuleStats) and keeps them: beacons carry only what
 * changed, so a controller started after its agents would otherwise miss unchanged
 * counters until the agents' slow refresh. A ticker calls it every XDROP_STATS_SEED_MS;
 * a node that does not answer is asked again later, backing off (rulecounters.h).
 */
void stats_seed(struct stats *s);

/* Reads the change log since the last call and forgets the counters of what it deleted
 * (stats_sample and stats_rule_counters call it). */
void stats_forget_deleted(struct stats *s);

#endif
