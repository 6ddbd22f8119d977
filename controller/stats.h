/* SPDX-License-Identifier: MIT */
/*
 * stats: cluster counters from the nodes' beacons, per-rule counters summed across nodes,
 * and a history ring (one point per second, XDROP_HISTORY_DEFAULT_S of them by default)
 * for the cluster and for each node.
 *
 * Counters and rates come from each node's latest beacon (nodes that are offline or were
 * never heard from count for nothing). Per-rule counters come from the beacons' top_rules
 * and, for StatsService.RuleStats, from AgentService.RuleStats on every reachable node
 * (stats_rule_counters with ask_agents), summed by rule id.
 */
#ifndef XDROP_CONTROLLER_STATS_H
#define XDROP_CONTROLLER_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "nodes.h"
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

/* Per-rule counters summed across nodes. */
struct rule_sum {
	char id[XDROP_STORE_MAX_ID + 1];
	uint64_t match_count, drop_count;
	double pps;
};

/*
 * All known rule counters, sorted by id (*out freed with free()). ask_agents also calls
 * AgentService.RuleStats on each reachable node (bounded by XDROP_STATS_AGENT_TIMEOUT_MS
 * per node) and uses its answer instead of the beacon's top_rules for that node.
 */
int stats_rule_counters(struct stats *s, bool ask_agents, struct rule_sum **out, size_t *n);

/* Binary search in a sorted array; NULL when absent. */
const struct rule_sum *stats_rule_find(const struct rule_sum *v, size_t n, const char *id);

#endif
