// SPDX-License-Identifier: MIT
/*
 * api_compat: the fields XDrop 2.7's clients read that XDrop's own shapes name otherwise
 * (issue 14; docs/api.md "v2.7 compatibility"), added beside ours, never instead of them.
 */
#include <string.h>

#include "api.h"
#include "gateway.h"
#include "xdrop_limits.h"

/* nodes_count and online_nodes: the controller's registered nodes and those "online" (in
 * node mode the one agent that just answered). Returns 0, or -1 when the list failed. */
static int node_counts(struct http_request *rq, unsigned *all, unsigned *online)
{
	Xdrop__V1__ListNodesRequest req = XDROP__V1__LIST_NODES_REQUEST__INIT;
	Xdrop__V1__ListNodesResponse *resp = NULL;
	struct rpc_status st;

	*all = *online = 1;
	if (rq->gw->cfg->node_mode)
		return 0;
	req.limit = XDROP_NODE_LIST_MAX;
	if (api_call(rq, &xdrop__v1__node_service__descriptor, "List", &req.base,
		     (ProtobufCMessage **)&resp, &st))
		return -1;
	*all = (unsigned)resp->n_nodes;
	*online = 0;
	for (size_t i = 0; i < resp->n_nodes; i++)
		*online += !strcmp(resp->nodes[i]->status, "online");
	api_free_msg(resp);
	return 0;
}

int api_compat_stats(struct http_request *rq, cJSON *o, const Xdrop__V1__StatsReply *s)
{
	const Xdrop__V1__Rates *r = s->rates;
	unsigned all, online;

	if (node_counts(rq, &all, &online)) { /* the nodes that reported, fresh ones online */
		all = (unsigned)s->n_nodes;
		online = 0;
		for (size_t i = 0; i < s->n_nodes; i++)
			online += !s->nodes[i]->stale;
	}
	if (!cJSON_AddNumberToObject(o, "nodes_count", all) ||
	    !cJSON_AddNumberToObject(o, "online_nodes", online) ||
	    !cJSON_AddNumberToObject(o, "total_dropped_pps", r ? r->dropped_pps : 0) ||
	    !cJSON_AddNumberToObject(o, "total_passed_pps", r ? r->passed_pps : 0))
		return -1;
	return 0;
}
