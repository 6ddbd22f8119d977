// SPDX-License-Identifier: MIT
/*
 * metrics_fleet: the node families and each node's traffic counters of /metrics (see
 * metrics.h for the list and docs/operations.md for their meaning).
 *
 * Traffic is exported per node only, each packet once: xdrop_packets_total and
 * xdrop_bytes_total carry a verdict and a reason that are mutually exclusive (the
 * Counters contract in proto/xdrop.proto), so sum() over every series of a node is what
 * it received, and a cluster figure is a sum() in PromQL. No cluster series is exported
 * beside them: sum(xdrop_packets_total) would count every packet twice.
 *
 * A node's label is its name (xdrop_node_info joins the id, version and address onto it);
 * a name that is empty or shared by two nodes falls back to the node's id, so that two
 * nodes never write the same series.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

/* One verdict/reason pair: the packet and byte counters of Xdrop__V1__Counters. */
static const struct reason {
	const char *verdict, *reason;
	size_t packets, bytes;
} reasons[] = {
/* clang-format off */
#define C(m) offsetof(Xdrop__V1__Counters, m)
    {"dropped", "rule", C(rule_dropped), C(rule_dropped_bytes)},
    {"dropped", "rate_limit", C(rate_limited), C(rate_limited_bytes)},
    {"dropped", "malformed", C(malformed), C(malformed_bytes)},
    {"passed", "rule", C(rule_passed), C(rule_passed_bytes)},
    {"passed", "rate_limit", C(rate_limit_passed), C(rate_limit_passed_bytes)},
    {"passed", "whitelist", C(whitelisted), C(whitelisted_bytes)},
    {"passed", "protected", C(protected_), C(protected_bytes)},
    {"passed", "non_ip", C(non_ip), C(non_ip_bytes)},
    {"passed", "default", C(default_passed), C(default_passed_bytes)},
#undef C
    /* clang-format on */
};

static const char *const statuses[] = {"online", "syncing", "out_of_sync", "offline", "unknown"};
static const char *const filterings[] = {"active", "inactive", "presumed", "unknown"};

/* What the families say about one node, from the node list (controller) or the agent's
 * own reply (node mode). */
struct view {
	const char *label, *id, *status, *filtering, *version, *address;
	int64_t last_seen_ns;
	uint64_t revision;
	bool listed;			/* has node families (not only traffic) */
	const Xdrop__V1__NodeStats *st; /* NULL: no figures yet */
};

static uint64_t field_u64(const Xdrop__V1__Counters *c, size_t off)
{
	return c ? *(const uint64_t *)((const char *)c + off) : 0;
}

static const Xdrop__V1__NodeStats *stats_of(const struct mx_scrape *s, const char *id)
{
	for (size_t i = 0; s->stats && i < s->stats->n_nodes; i++)
		if (!strcmp(s->stats->nodes[i]->node_id, id))
			return s->stats->nodes[i];
	return NULL;
}

/* The label of v: its name unless empty or not unique among the n views (judged on the
 * names, all of them before any label changes). */
static void choose_labels(struct view *v, size_t n)
{
	bool *shared = calloc(n + 1, sizeof(*shared));

	for (size_t i = 0; shared && i < n; i++) {
		shared[i] = !v[i].label || !*v[i].label;
		for (size_t j = 0; !shared[i] && j < n; j++)
			shared[i] = j != i && v[j].label && !strcmp(v[i].label, v[j].label);
	}
	for (size_t i = 0; i < n; i++)
		if (!shared || shared[i])
			v[i].label = *v[i].id ? v[i].id : "local";
	free(shared);
}

/* Node mode: the one agent behind the gateway, as it described itself. */
static size_t agent_view(const struct mx_scrape *s, struct view *v)
{
	const Xdrop__V1__NodeStats *st = s->stats->n_nodes ? s->stats->nodes[0] : NULL;
	const char *id = st && *st->node_id ? st->node_id : s->info ? s->info->node_id : "";

	v->label = *id ? id : "local";
	v->id = id;
	v->status = "online"; /* it answered this scrape */
	v->filtering = st && st->attach && st->attach->attached ? "active" : "inactive";
	v->version = s->info ? s->info->version : "";
	v->address = s->upstream_url ? s->upstream_url : "";
	v->last_seen_ns = s->stats->at;
	v->revision = s->stats->revision;
	v->listed = true;
	v->st = st;
	return 1;
}

/* Controller mode: every listed node, then the figures of nodes not (or no longer)
 * listed, traffic only. Returns the number of views (at most the room made for them). */
static size_t controller_views(const struct mx_scrape *s, struct view *v)
{
	size_t n = 0;

	for (size_t i = 0; s->nodes && i < s->nodes->n_nodes; i++) {
		const Xdrop__V1__Node *nd = s->nodes->nodes[i];

		v[n++] = (struct view){
		    .label = nd->name,
		    .id = nd->id,
		    .status = nd->status,
		    .filtering = nd->filtering,
		    .version = nd->version,
		    .address = nd->address,
		    .last_seen_ns = nd->last_seen,
		    .revision = nd->applied_revision,
		    .listed = true,
		    .st = stats_of(s, nd->id),
		};
	}
	for (size_t i = 0; s->stats && i < s->stats->n_nodes; i++) {
		const Xdrop__V1__NodeStats *st = s->stats->nodes[i];
		bool seen = false;

		for (size_t j = 0; j < n && !seen; j++)
			seen = v[j].st == st;
		if (!seen)
			v[n++] = (struct view){.label = st->node_id, .id = st->node_id, .st = st};
	}
	return n;
}

/* A one-hot family: for each node, one series per value, 1 for the node's (a value not in
 * values counts as the last one, "unknown"), so that no series comes and goes. */
static void one_hot(FILE *f, const char *name, const char *label, const char *const *values,
		    size_t n_values, const struct view *v, size_t n, bool status)
{
	for (size_t i = 0; i < n; i++) {
		const char *cur = status ? v[i].status : v[i].filtering;
		size_t hot = n_values - 1;

		if (!v[i].listed)
			continue;
		for (size_t k = 0; cur && k < n_values; k++)
			if (!strcmp(cur, values[k]))
				hot = k;
		for (size_t k = 0; k < n_values; k++)
			mx_u64(f, name,
			       (const struct mx_label[]){
				   {"node", v[i].label}, {label, values[k]}, {NULL, NULL}},
			       k == hot);
	}
}

static bool reachable(const char *status)
{
	return status && (!strcmp(status, "online") || !strcmp(status, "syncing") ||
			  !strcmp(status, "out_of_sync"));
}

static void node_families(FILE *f, const struct view *v, size_t n)
{
#define EACH_LISTED(i)                                                                             \
	for (size_t i = 0; i < n; i++)                                                             \
		if (v[i].listed)
#define NODE(i) ((const struct mx_label[]){{"node", v[i].label}, {NULL, NULL}})

	mx_family(f, "xdrop_node_info", "gauge",
		  "1 for each node: its id, agent version and address, to join on node.");
	EACH_LISTED(i)
	mx_u64(f, "xdrop_node_info",
	       (const struct mx_label[]){{"node", v[i].label},
					 {"node_id", v[i].id},
					 {"version", v[i].version},
					 {"address", v[i].address},
					 {NULL, NULL}},
	       1);
	mx_family(f, "xdrop_node_up", "gauge",
		  "1 while the node's agent is heard from (online, syncing, out_of_sync), else 0.");
	EACH_LISTED(i) mx_u64(f, "xdrop_node_up", NODE(i), reachable(v[i].status));
	mx_family(f, "xdrop_node_status", "gauge",
		  "1 for the node's status, 0 for the others (one series per status).");
	one_hot(f, "xdrop_node_status", "status", statuses, 5, v, n, true);
	mx_family(f, "xdrop_node_filtering", "gauge",
		  "1 for whether the node filters (active, inactive, presumed, unknown), 0 for "
		  "the others.");
	one_hot(f, "xdrop_node_filtering", "state", filterings, 4, v, n, false);
	mx_family(f, "xdrop_node_last_seen_timestamp_seconds", "gauge",
		  "When the node was last heard from, Unix time (0: never).");
	EACH_LISTED(i)
	mx_f64(f, "xdrop_node_last_seen_timestamp_seconds", NODE(i),
	       (double)v[i].last_seen_ns / 1e9);
	mx_family(f, "xdrop_node_applied_revision", "gauge", "Rule-set revision the node applied.");
	EACH_LISTED(i) mx_u64(f, "xdrop_node_applied_revision", NODE(i), v[i].revision);
#undef EACH_LISTED
#undef NODE
}

/* The gauges of a node's own report: rule counts, table use, age of the figures. */
static void report_families(FILE *f, const struct view *v, size_t n)
{
	static const char *const tables[] = {"exact", "cidr", "rate"};

#define EACH_REPORTED(i)                                                                           \
	for (size_t i = 0; i < n; i++)                                                             \
		if (v[i].st)
#define NODE(i) ((const struct mx_label[]){{"node", v[i].label}, {NULL, NULL}})

	mx_family(f, "xdrop_node_rules", "gauge", "Rules loaded on the node.");
	EACH_REPORTED(i) mx_u64(f, "xdrop_node_rules", NODE(i), v[i].st->rules);
	mx_family(f, "xdrop_node_whitelist_entries", "gauge", "Whitelist entries on the node.");
	EACH_REPORTED(i) mx_u64(f, "xdrop_node_whitelist_entries", NODE(i), v[i].st->whitelist);
	mx_family(f, "xdrop_node_table_entries", "gauge",
		  "Entries the node's data-plane table holds (exact, cidr, rate).");
	EACH_REPORTED(i)
	for (size_t t = 0; t < 3; t++) {
		const Xdrop__V1__Capacity *c = v[i].st->capacity;
		uint64_t used[3] = {c ? c->exact_used : 0, c ? c->cidr_used : 0,
				    c ? c->rate_used : 0};

		mx_u64(f, "xdrop_node_table_entries",
		       (const struct mx_label[]){
			   {"node", v[i].label}, {"table", tables[t]}, {NULL, NULL}},
		       used[t]);
	}
	mx_family(f, "xdrop_node_table_capacity_entries", "gauge",
		  "Entries the node's data-plane table can hold (exact, cidr, rate).");
	EACH_REPORTED(i)
	for (size_t t = 0; t < 3; t++) {
		const Xdrop__V1__Capacity *c = v[i].st->capacity;
		uint64_t max[3] = {c ? c->exact_max : 0, c ? c->cidr_max : 0, c ? c->rate_max : 0};

		mx_u64(f, "xdrop_node_table_capacity_entries",
		       (const struct mx_label[]){
			   {"node", v[i].label}, {"table", tables[t]}, {NULL, NULL}},
		       max[t]);
	}
	mx_family(f, "xdrop_node_stats_timestamp_seconds", "gauge",
		  "When the node measured the figures exported for it, Unix time.");
	EACH_REPORTED(i)
	mx_f64(f, "xdrop_node_stats_timestamp_seconds", NODE(i), (double)v[i].st->at / 1e9);
	mx_family(f, "xdrop_node_stats_stale", "gauge",
		  "1 when the node's figures are older than the health timeout (last known, not "
		  "current).");
	EACH_REPORTED(i) mx_u64(f, "xdrop_node_stats_stale", NODE(i), v[i].st->stale);
	mx_family(f, "xdrop_node_agent_uptime_seconds", "gauge",
		  "Seconds the node's agent process has run, as of its last report.");
	EACH_REPORTED(i)
	mx_u64(f, "xdrop_node_agent_uptime_seconds", NODE(i), v[i].st->agent_uptime_s);
#undef EACH_REPORTED
#undef NODE
}

/* xdrop_packets_total or xdrop_bytes_total: one series per node, verdict and reason. */
static void traffic_family(FILE *f, const struct view *v, size_t n, bool bytes)
{
	const char *name = bytes ? "xdrop_bytes_total" : "xdrop_packets_total";

	mx_family(f, name, "counter",
		  bytes ? "Bytes (frame lengths as XDP sees them) by verdict and reason, each "
			  "byte once: the sum over a node's series is what it received."
			: "Packets by verdict and reason, each packet once: the sum over a node's "
			  "series is what it received.");
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__Counters *c = v[i].st ? v[i].st->counters : NULL;

		if (!v[i].st)
			continue;
		for (size_t k = 0; k < sizeof(reasons) / sizeof(reasons[0]); k++)
			mx_u64(f, name,
			       (const struct mx_label[]){{"node", v[i].label},
							 {"verdict", reasons[k].verdict},
							 {"reason", reasons[k].reason},
							 {NULL, NULL}},
			       field_u64(c, bytes ? reasons[k].bytes : reasons[k].packets));
	}
}

/* A per-node counter family of one Counters field. */
static void node_counter(FILE *f, const struct view *v, size_t n, const char *name,
			 const char *help, size_t off)
{
	mx_family(f, name, "counter", help);
	for (size_t i = 0; i < n; i++)
		if (v[i].st)
			mx_u64(f, name,
			       (const struct mx_label[]){{"node", v[i].label}, {NULL, NULL}},
			       field_u64(v[i].st->counters, off));
}

void metrics_fleet(FILE *f, const struct mx_scrape *s)
{
	size_t room = (s->nodes ? s->nodes->n_nodes : 0) + (s->stats ? s->stats->n_nodes : 0) + 1;
	struct view *v = calloc(room, sizeof(*v));
	size_t n;

	if (!v || !s->stats) {
		free(v);
		return;
	}
	n = s->node_mode ? agent_view(s, v) : controller_views(s, v);
	choose_labels(v, n);
	node_families(f, v, n);
	report_families(f, v, n);
	traffic_family(f, v, n, false);
	traffic_family(f, v, n, true);
	node_counter(f, v, n, "xdrop_received_packets_total", "Packets the node received.",
		     offsetof(Xdrop__V1__Counters, rx));
	node_counter(f, v, n, "xdrop_received_bytes_total",
		     "Bytes the node received (frame lengths as XDP sees them).",
		     offsetof(Xdrop__V1__Counters, rx_bytes));
	node_counter(f, v, n, "xdrop_talker_samples_total", "Packets sampled for the top talkers.",
		     offsetof(Xdrop__V1__Counters, samples));
	node_counter(f, v, n, "xdrop_talker_samples_lost_total",
		     "Top-talker samples lost because the ring was full.",
		     offsetof(Xdrop__V1__Counters, samples_lost));
	node_counter(f, v, n, "xdrop_anomaly_bad_fragment_packets_total",
		     "Packets seen with impossible or hostile fragment geometry.",
		     offsetof(Xdrop__V1__Counters, anomaly_bad_fragment));
	node_counter(f, v, n, "xdrop_anomaly_invalid_packets_total",
		     "Packets seen with invalid IP or TCP header fields or impossible TCP flags.",
		     offsetof(Xdrop__V1__Counters, anomaly_invalid));
	free(v);
}
