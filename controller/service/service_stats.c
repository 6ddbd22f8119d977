// SPDX-License-Identifier: MIT
/*
 * service_stats: StatsService: cluster totals and rates, history rings, the controller's
 * info, the rules' and whitelist entries' summed counters (controller/stats.c) and the
 * cluster's top talkers (controller/talkers.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "talkers.h"

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
	resp->clustered = s->cluster != NULL;
	return RPC_OK;
}

/* rc (in call memory) from rs (NULL: zero) for id of kind. */
static void rule_counter(struct rpc_call *call, Xdrop__V1__RuleCounter *rc, const char *id,
			 enum store_kind kind, const struct rule_sum *rs)
{
	xdrop__v1__rule_counter__init(rc);
	rc->id = rpc_call_strdup(call, id);
	rc->kind = (char *)(kind == STORE_WHITELIST ? "whitelist" : "rule");
	if (!rs)
		return;
	rc->match_count = rs->match_count;
	rc->drop_count = rs->drop_count;
	rc->pps = rs->pps;
	rc->match_bytes = rs->match_bytes;
	rc->drop_bytes = rs->drop_bytes;
	rc->match_pps = rs->match_pps;
	rc->drop_pps = rs->drop_pps;
	rc->match_bps = rs->match_bps;
	rc->drop_bps = rs->drop_bps;
}

/* RuleStats: the counters of the ids asked (rules first, else whitelist entries of that
 * id), or of everything known; exact and fresh from every agent that answers. */
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
		const struct rule_sum *rs = req->n_ids ? NULL : &sums[i];
		enum store_kind kind = rs ? rs->kind : STORE_RULES;
		Xdrop__V1__RuleCounter *rc = rpc_call_alloc(call, sizeof(*rc));

		if (!rc)
			break;
		if (req->n_ids) {
			rs = stats_rule_find(sums, nsums, STORE_RULES, req->ids[i]);
			if (!rs &&
			    (rs = stats_rule_find(sums, nsums, STORE_WHITELIST, req->ids[i])))
				kind = STORE_WHITELIST;
		}
		rule_counter(call, rc, req->n_ids ? req->ids[i] : rs->id, kind, rs);
		resp->rules[k++] = rc;
	}
	resp->n_rules = k;
	free(sums);
	return RPC_OK;
}

static void free_talkers(void *p)
{
	xdrop__v1__top_talkers_reply__free_unpacked(p, NULL);
}

/* TopTalkers: the cluster's (node_id "") or one node's; controller/talkers.h. */
enum rpc_code stats_talkers(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			    void *arg)
{
	REQ(Xdrop__V1__TopTalkersRequest, r);
	struct service *s = svc_of(arg);
	Xdrop__V1__TopTalkersReply *rep = NULL;
	struct talkers_req q;
	struct talkers_err e;

	if (talkers_check(req, &q, &e) < 0 || talkers_query(s->nodes, &q, &rep, &e) < 0)
		return rpc_call_error(call, e.code, e.field, "%s", e.msg);
	/* shallow: rep's memory lives until the reply is packed */
	memcpy(out, rep, sizeof(*rep));
	rpc_call_defer(call, free_talkers, rep);
	return RPC_OK;
}
