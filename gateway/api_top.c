// SPDX-License-Identifier: MIT
/*
 * api_top: GET /api/v1/top and GET /api/v1/nodes/:id/top, the top talkers (api.h). The
 * query is checked here, each bad parameter answered 400 naming it, so that a typo
 * ("verdit=passed") is not silently read as the default: unlike the list routes, every
 * parameter of these two has a default, and a wrong figure during an attack costs more
 * than a refused request.
 *
 * On a controller the call is StatsService.TopTalkers (node_id "" = the whole cluster);
 * on an agent (upstream.mode: node) it is AgentService.TopTalkers, the one node's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "rule.h"
#include "talkreq.h"

/* One of allowed (the first when absent) into *out; answers 400 naming name. */
static int one_of(struct http_request *rq, struct http_reply *rp, const char *name,
		  const char *const *allowed, const char **out)
{
	const char *v = http_query(rq, name);
	char list[128];
	size_t used = 0;

	*out = allowed[0];
	if (!v)
		return 0;
	for (size_t i = 0; allowed[i]; i++) {
		if (!strcmp(v, allowed[i])) {
			*out = allowed[i];
			return 0;
		}
	}
	list[0] = 0;
	for (size_t i = 0; allowed[i] && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 allowed[i]);
	http_error(rp, 400, name, "%s must be one of: %s", name, list);
	return -EINVAL;
}

/* One of the windows the agents keep (lib/talkreq), written as seconds ("60", "60s") or,
 * for whole minutes, minutes ("1m"). */
static int window_of(struct http_request *rq, struct http_reply *rp, uint32_t *out)
{
	const char *v = http_query(rq, "window");
	char s[16], sec[16], min[16];

	*out = TALKREQ_WINDOW_DEFAULT;
	if (!v)
		return 0;
	for (int i = 0; i < TALKREQ_NWINDOWS; i++) {
		uint32_t w = talkreq_windows[i];

		snprintf(s, sizeof(s), "%u", w);
		snprintf(sec, sizeof(sec), "%us", w);
		snprintf(min, sizeof(min), "%um", w / 60);
		if (!strcmp(v, s) || !strcmp(v, sec) || (w % 60 == 0 && !strcmp(v, min))) {
			*out = w;
			return 0;
		}
	}
	http_error(rp, 400, "window", "window must be 10s, 1m or 5m (or 10, 60, 300 seconds)");
	return -EINVAL;
}

static int limit_of(struct http_request *rq, struct http_reply *rp, uint32_t *out)
{
	const char *v = http_query(rq, "limit");
	unsigned long n;
	char *end;

	*out = TALKREQ_LIMIT_DEFAULT;
	if (!v)
		return 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || *v < '0' || *v > '9' || n < 1 || n > TALKREQ_LIMIT_MAX) {
		http_error(rp, 400, "limit", "limit must be an integer from 1 to %d",
			   TALKREQ_LIMIT_MAX);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

/* The node asked: the path's :id on /nodes/:id/top, else the `node` parameter ("" = the
 * cluster), which a gateway in front of one agent does not take. */
static int node_of(struct http_request *rq, struct http_reply *rp, const char **out)
{
	const char *v = http_query(rq, "node");

	*out = rq->param[0] ? rq->param : "";
	if (!v)
		return 0;
	if (rq->gw->cfg->node_mode) {
		http_error(rp, 400, "node",
			   "node: the gateway fronts a single agent (upstream.mode: node); leave "
			   "node out");
		return -EINVAL;
	}
	if (!rule_id_ok(v)) {
		http_error(rp, 400, "node", "node must be a node id");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* The request from the query, in the order the parameters are checked. */
static int top_request(struct http_request *rq, struct http_reply *rp,
		       Xdrop__V1__TopTalkersRequest *req)
{
	static const char *const known[] = {"by", "verdict", "window", "limit", "node", NULL};
	static const char *const known_node[] = {"by", "verdict", "window", "limit", NULL};
	const char *by, *verdict, *node;
	char name[64];

	if (http_query_unknown(rq, rq->param[0] ? known_node : known, name, sizeof(name))) {
		http_error(rp, 400, name,
			   "unknown query parameter %s (known: by, verdict, window, limit%s)", name,
			   rq->param[0] ? "" : ", node");
		return -EINVAL;
	}
	if (one_of(rq, rp, "by", talkreq_by_names, &by) ||
	    one_of(rq, rp, "verdict", talkreq_verdict_names, &verdict) ||
	    window_of(rq, rp, &req->window_s) || limit_of(rq, rp, &req->limit) ||
	    node_of(rq, rp, &node))
		return -EINVAL;
	/* borrowed: the request is only packed, never freed as an unpacked message */
	req->by = (char *)by;
	req->verdict = (char *)verdict;
	req->node_id = (char *)node;
	return 0;
}

int api_top_talkers(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__TopTalkersRequest req = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	const ProtobufCServiceDescriptor *svc = rq->gw->cfg->node_mode
						    ? &xdrop__v1__agent_service__descriptor
						    : &xdrop__v1__stats_service__descriptor;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	if (top_request(rq, rp, &req))
		return 0;
	if (api_call(rq, svc, "TopTalkers", &req.base, &resp, &st)) {
		/* the upstream names request fields; the caller wrote query parameters */
		if (!strcmp(st.field, "node_id"))
			snprintf(st.field, sizeof(st.field), "node");
		else if (!strcmp(st.field, "window_s"))
			snprintf(st.field, sizeof(st.field), "window");
		return api_fail(rp, &st, NULL);
	}
	o = json_from_msg(resp);
	if (o && !cJSON_AddNumberToObject(
		     o, "count", (double)((const Xdrop__V1__TopTalkersReply *)resp)->n_talkers)) {
		cJSON_Delete(o);
		o = NULL;
	}
	api_free_msg(resp);
	return http_json(rp, 200, o);
}
