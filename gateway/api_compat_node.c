// SPDX-License-Identifier: MIT
/*
 * api_compat_node: XDrop 2.7's node fields beside XDrop's (issue 14; docs/api.md "v2.7
 * compatibility"): a node's `endpoint` (its address) and `last_sync`, and in its stats
 * (and GET /api/v1/nodes/:id/stats) the flat NodeStats figures v2.7's node cards read.
 * On input, `endpoint` is accepted for `address` (api_compat_node_input).
 */
#include <string.h>

#include "api.h"

/* The flat packet and rate figures of v2.7's NodeStats. Returns 0 or -1. */
static int flat_figures(cJSON *o, const Xdrop__V1__NodeStats *ns)
{
	const Xdrop__V1__Counters *c = ns->counters;
	const Xdrop__V1__Rates *r = ns->rates;
	const struct {
		const char *name;
		double v;
	} f[] = {
	    {"total_packets", c ? (double)c->rx : 0},
	    {"dropped_packets", c ? (double)c->dropped : 0},
	    {"passed_packets", c ? (double)c->passed : 0},
	    {"whitelisted_packets", c ? (double)c->whitelisted : 0},
	    {"rate_limited_packets", c ? (double)c->rate_limited : 0},
	    {"rules_count", (double)ns->rules},
	    {"whitelist_count", (double)ns->whitelist},
	    {"dropped_pps", r ? r->dropped_pps : 0},
	    {"passed_pps", r ? r->passed_pps : 0},
	    {"total_pps", r ? r->rx_pps : 0},
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!cJSON_AddNumberToObject(o, f[i].name, f[i].v))
			return -1;
	return 0;
}

/* system: v2.7's names added to ours (an object even when the node sent none). */
static int system_figures(cJSON *o, const Xdrop__V1__SystemStats *s)
{
	const Xdrop__V1__SystemStats none = XDROP__V1__SYSTEM_STATS__INIT;
	cJSON *sys = cJSON_GetObjectItemCaseSensitive(o, "system");

	if (!s)
		s = &none;
	if (!cJSON_IsObject(sys)) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, "system");
		sys = cJSON_AddObjectToObject(o, "system");
		if (!sys || !cJSON_AddNumberToObject(sys, "cpu_percent", s->cpu_percent))
			return -1;
	}
	if (!cJSON_AddNumberToObject(sys, "mem_total_mb",
				     (double)(s->mem_total_bytes / (1 << 20))) ||
	    !cJSON_AddNumberToObject(sys, "mem_used_mb", (double)(s->mem_used_bytes / (1 << 20))) ||
	    !cJSON_AddNumberToObject(sys, "mem_percent",
				     s->mem_total_bytes ? 100.0 * (double)s->mem_used_bytes /
							      (double)s->mem_total_bytes
							: 0) ||
	    !cJSON_AddNumberToObject(sys, "uptime_seconds", (double)s->uptime_s) ||
	    !cJSON_AddNumberToObject(sys, "load_avg_1", s->load1) ||
	    !cJSON_AddNumberToObject(sys, "load_avg_5", s->load5) ||
	    !cJSON_AddNumberToObject(sys, "load_avg_15", s->load15))
		return -1;
	return 0;
}

/* agent_state and xdp_info from the node's capacity and attachment. */
static int agent_figures(cJSON *o, const Xdrop__V1__NodeStats *ns)
{
	const Xdrop__V1__Capacity *cap = ns->capacity;
	const Xdrop__V1__AttachState *at = ns->attach;
	uint64_t exact = cap ? cap->exact_used : 0;
	cJSON *st = cJSON_AddObjectToObject(o, "agent_state");
	cJSON *xdp = cJSON_AddObjectToObject(o, "xdp_info"), *ifs;

	if (!st || !xdp ||
	    !cJSON_AddNumberToObject(st, "exact_rules",
				     (double)(exact > ns->whitelist ? exact - ns->whitelist : 0)) ||
	    !cJSON_AddNumberToObject(st, "cidr_rules", cap ? (double)cap->cidr_used : 0) ||
	    !cJSON_AddNumberToObject(st, "whitelist_entries", (double)ns->whitelist) ||
	    !cJSON_AddStringToObject(xdp, "mode", at && *at->mode ? at->mode : "traditional") ||
	    !(ifs = cJSON_AddArrayToObject(xdp, "interfaces")))
		return -1;
	for (size_t i = 0; at && i < at->n_interfaces; i++) {
		cJSON *it = cJSON_CreateObject();

		if (!it || !cJSON_AddItemToArray(ifs, it) ||
		    !cJSON_AddStringToObject(it, "name", at->interfaces[i]) ||
		    !cJSON_AddStringToObject(it, "role", "filter"))
			return -1;
	}
	return 0;
}

static int compat_stats(cJSON *o, const Xdrop__V1__NodeStats *ns)
{
	if (!cJSON_IsObject(o) || !ns)
		return 0;
	return flat_figures(o, ns) || system_figures(o, ns->system) || agent_figures(o, ns) ? -1
											    : 0;
}

int api_compat_node_figures(cJSON *o, const Xdrop__V1__NodeStats *ns)
{
	if (!ns)
		return 0;
	return system_figures(o, ns->system) || agent_figures(o, ns) ? -1 : 0;
}

/* endpoint, last_sync (when the node last reported, once it has applied a revision: XDrop
 * keeps no separate sync time) and the stats' v2.7 figures. */
static int compat_node(cJSON *o, const Xdrop__V1__Node *n)
{
	cJSON *seen = cJSON_GetObjectItemCaseSensitive(o, "last_seen");
	cJSON *sync = n->applied_revision && n->last_seen && seen ? cJSON_Duplicate(seen, 1)
								  : cJSON_CreateNull();

	if (!cJSON_IsObject(o))
		return cJSON_Delete(sync), 0;
	if (!sync || !cJSON_AddItemToObject(o, "last_sync", sync) ||
	    !cJSON_AddStringToObject(o, "endpoint", n->address))
		return -1;
	return compat_stats(cJSON_GetObjectItemCaseSensitive(o, "stats"), n->stats);
}

int api_compat_node_output(const ProtobufCMessage *m, cJSON *o)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (d == &xdrop__v1__node__descriptor)
		return compat_node(o, (const void *)m);
	if (d == &xdrop__v1__node_write_reply__descriptor)
		return compat_node(cJSON_GetObjectItemCaseSensitive(o, "node"),
				   ((const Xdrop__V1__NodeWriteReply *)m)->node);
	if (d == &xdrop__v1__node_stats__descriptor)
		return compat_stats(o, (const void *)m);
	if (d == &xdrop__v1__list_nodes_response__descriptor) {
		const Xdrop__V1__ListNodesResponse *l = (const void *)m;
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "nodes");

		for (size_t i = 0; i < l->n_nodes; i++)
			if (compat_node(cJSON_GetArrayItem(arr, (int)i), l->nodes[i]))
				return -1;
	}
	return 0;
}

int api_compat_node_input(cJSON *body, struct http_reply *rp)
{
	cJSON *ep = cJSON_GetObjectItemCaseSensitive(body, "endpoint");
	cJSON *addr = cJSON_GetObjectItemCaseSensitive(body, "address");

	if (!ep)
		return 0;
	if (!cJSON_IsString(ep)) {
		http_error(rp, 400, "endpoint", "endpoint must be a string");
		return -1;
	}
	if (addr) {
		if (!cJSON_IsString(addr) || strcmp(addr->valuestring, ep->valuestring)) {
			http_error(rp, 400, "endpoint", "endpoint and address differ");
			return -1;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(body, "endpoint");
		return 0;
	}
	if (!cJSON_AddStringToObject(body, "address", ep->valuestring)) {
		http_error(rp, 500, NULL, "out of memory");
		return -1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "endpoint");
	return 0;
}
