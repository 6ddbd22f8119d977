// SPDX-License-Identifier: MIT
/*
 * service_stats: StatsService: cluster totals and rates, history rings, the controller's
 * info and the rules' summed counters (controller/stats.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"

#include "service_int.h"

static void free_points_v(void *v, size_t n)
{
	stats_free_points(v, n);
}

/* ---- StatsService ------------------------------------------------------------------------- */

enum rpc_code stats_get(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			void *arg)
{
	RESP(Xdrop__V1__StatsReply, out);
	struct service *s = svc_of(arg);
	Xdrop__V1__Counters *c = rpc_call_alloc(call, sizeof(*c));
	Xdrop__V1__Rates *rt = rpc_call_alloc(call, sizeof(*rt));
	Xdrop__V1__XdpInfo *xi = rpc_call_alloc(call, sizeof(*xi));
	struct store_node *rows = NULL;
	struct store_rev rev;
	size_t n = 0, k = 0;

	if (!c || !rt || !xi)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	xdrop__v1__counters__init(c);
	xdrop__v1__rates__init(rt);
	xdrop__v1__xdp_info__init(xi);
	stats_totals(s->stats, c, rt);
	xi->program = rpc_call_strdup(call, "xdrop");
	xi->version = rpc_call_strdup(call, XDROP_VERSION);
	/* the data plane's default capacities (bpf/xdrop.h); agents may configure others */
	xi->max_rules = XDROP_DEF_MAX_EXACT + XDROP_DEF_MAX_CIDR;
	xi->max_cidr = XDROP_DEF_MAX_CIDR;
	xi->max_whitelist = XDROP_DEF_MAX_EXACT + XDROP_DEF_MAX_CIDR;
	store_revision(s->store, &rev);
	if (store_node_list(s->store, &rows, &n) == 0) {
		resp->nodes = rpc_call_alloc(call, (n ? n : 1) * sizeof(*resp->nodes));
		for (size_t i = 0; resp->nodes && i < n; i++) {
			Xdrop__V1__Node *node = rpc_call_alloc(call, sizeof(*node));

			if (!node)
				break;
			xdrop__v1__node__init(node);
			node->id = rpc_call_strdup(call, rows[i].node->id);
			nodes_fill(s->nodes, node, call_alloc, call);
			if (node->stats)
				resp->nodes[k++] = node->stats;
		}
		store_free_nodes(rows, n);
	}
	resp->n_nodes = k;
	resp->totals = c;
	resp->rates = rt;
	resp->xdp = xi;
	resp->rules = rev.rules;
	resp->whitelist = rev.whitelist;
	resp->revision = rev.revision;
	resp->at = clock_wall_ns();
	return RPC_OK;
}

enum rpc_code stats_hist(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			 void *arg)
{
	REQ(Xdrop__V1__HistoryRequest, r);
	RESP(Xdrop__V1__HistoryReply, out);
	struct service *s = svc_of(arg);
	Xdrop__V1__HistoryPoint *v = NULL, **pp;
	size_t n = 0;
	int err;

	if (req->seconds > XDROP_HISTORY_WINDOW_MAX_S)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "seconds",
				      "at most %d: the longest history a controller keeps "
				      "(stats.history is at most %d s)",
				      XDROP_HISTORY_WINDOW_MAX_S, XDROP_HISTORY_MAX_S);
	err = stats_history(s->stats, req->node_id, req->seconds, req->step, &v, &n);
	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "node_id", "no history for %.64s",
				      req->node_id);
	if (err)
		return store_fail(call, err, NULL);
	defer_arr(call, v, n, free_points_v);
	pp = rpc_call_alloc(call, (n ? n : 1) * sizeof(*pp));
	if (!pp)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++)
		pp[i] = &v[i];
	resp->points = pp;
	resp->n_points = n;
	return RPC_OK;
}

enum rpc_code stats_info(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			 void *arg)
{
	RESP(Xdrop__V1__InfoReply, out);
	struct service *s = svc_of(arg);
	struct store_rev rev;

	store_revision(s->store, &rev);
	resp->name = rpc_call_strdup(call, "xdrop-controller");
	resp->version = rpc_call_strdup(call, XDROP_VERSION);
	resp->mode = rpc_call_strdup(call, "controller");
	resp->revision = rev.revision;
	resp->content_hash = rpc_call_strdup(call, rev.hash);
	resp->started_at = s->started_at;
	return RPC_OK;
}

enum rpc_code stats_rules(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__RuleStatsRequest, r);
	RESP(Xdrop__V1__RuleStatsReply, out);
	struct service *s = svc_of(arg);
	struct rule_sum *sums = NULL;
	size_t nsums = 0, k = 0, cap;
	int err = stats_rule_counters(s->stats, true, &sums, &nsums);

	if (err)
		return store_fail(call, err, NULL);
	cap = req->n_ids ? req->n_ids : nsums;
	resp->rules = rpc_call_alloc(call, (cap ? cap : 1) * sizeof(*resp->rules));
	for (size_t i = 0; resp->rules && i < cap; i++) {
		const struct rule_sum *rs =
		    req->n_ids ? stats_rule_find(sums, nsums, req->ids[i]) : &sums[i];
		Xdrop__V1__RuleCounter *rc = rpc_call_alloc(call, sizeof(*rc));

		if (!rc)
			break;
		xdrop__v1__rule_counter__init(rc);
		rc->id = rpc_call_strdup(call, req->n_ids ? req->ids[i] : rs->id);
		if (rs) {
			rc->match_count = rs->match_count;
			rc->drop_count = rs->drop_count;
			rc->pps = rs->pps;
		}
		resp->rules[k++] = rc;
	}
	resp->n_rules = k;
	free(sums);
	return RPC_OK;
}
