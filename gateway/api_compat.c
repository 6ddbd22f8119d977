// SPDX-License-Identifier: MIT
/*
 * api_compat: the fields XDrop 2.7's clients read that XDrop's own shapes name otherwise
 * (issue 14; docs/api.md "v2.7 compatibility"), added beside ours, never instead of them.
 */
#include <string.h>

#include "api.h"
#include "clock.h"
#include "gateway.h"
#include "xdrop_limits.h"

/* The nodes as v2.7's stats cache reports them: names by health (XDrop's "out_of_sync"
 * counts as syncing). XDrop has no rule-stats cache: the controller aggregates every
 * node's last report on each request, so "freshness" is always 0 and nothing "fails". */
struct fleet {
	unsigned all, online;
	cJSON *offline, *unknown, *syncing; /* arrays of names */
	long long list_ms;		    /* how long the node list took */
};

static void fleet_free(struct fleet *f)
{
	cJSON_Delete(f->offline);
	cJSON_Delete(f->unknown);
	cJSON_Delete(f->syncing);
}

/* Reads the fleet (node mode: the one agent, online). Returns 0 or -1. */
static int fleet_read(struct http_request *rq, struct fleet *f)
{
	Xdrop__V1__ListNodesRequest req = XDROP__V1__LIST_NODES_REQUEST__INIT;
	Xdrop__V1__ListNodesResponse *resp = NULL;
	long long t0 = clock_mono_ms();
	struct rpc_status st;

	*f = (struct fleet){.offline = cJSON_CreateArray(),
			    .unknown = cJSON_CreateArray(),
			    .syncing = cJSON_CreateArray()};
	if (!f->offline || !f->unknown || !f->syncing)
		return -1;
	if (rq->gw->cfg->node_mode) {
		f->all = f->online = 1;
		return 0;
	}
	req.limit = XDROP_NODE_LIST_MAX;
	if (api_call(rq, &xdrop__v1__node_service__descriptor, "List", &req.base,
		     (ProtobufCMessage **)&resp, &st))
		return -1;
	f->all = (unsigned)resp->n_nodes;
	for (size_t i = 0; i < resp->n_nodes; i++) {
		const char *s = resp->nodes[i]->status, *name = resp->nodes[i]->name;
		cJSON *to = !strcmp(s, "offline")   ? f->offline
			    : !strcmp(s, "unknown") ? f->unknown
			    : strcmp(s, "online")   ? f->syncing
						    : NULL;

		f->online += !to;
		if (to)
			cJSON_AddItemToArray(to,
					     cJSON_CreateString(*name ? name : resp->nodes[i]->id));
	}
	api_free_msg(resp);
	f->list_ms = clock_mono_ms() - t0;
	return 0;
}

/* v2.7's stats_status of the fleet. */
static const char *fleet_status(const struct fleet *f)
{
	if (!f->all)
		return "no_nodes";
	if (f->online == f->all)
		return "ok";
	return f->online ? "partial" : "failed";
}

int api_compat_list_count(cJSON *o)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pagination");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "total");
	cJSON *c;

	if (!t)
		return 0;
	/* the total as lib/json wrote it (a 64-bit count may be a raw number) */
	c = cJSON_Duplicate(t, false);
	if (!c)
		return -1;
	cJSON_DeleteItemFromObject(o, "count");
	cJSON_AddItemToObject(o, "count", c);
	return 0;
}

int api_compat_stats_meta(struct http_request *rq, cJSON *o)
{
	struct fleet f;
	int rc = -1;

	if (fleet_read(rq, &f))
		goto out;
	if (!cJSON_AddStringToObject(o, "stats_status", fleet_status(&f)) ||
	    !cJSON_AddNumberToObject(o, "stats_freshness_ms", 0) ||
	    !cJSON_AddObjectToObject(o, "stats_node_failures"))
		goto out;
	cJSON_AddItemToObject(o, "stats_offline_nodes", f.offline);
	cJSON_AddItemToObject(o, "stats_unknown_nodes", f.unknown);
	cJSON_AddItemToObject(o, "stats_syncing_nodes", f.syncing);
	f.offline = f.unknown = f.syncing = NULL;
	rc = 0;
out:
	fleet_free(&f);
	return rc;
}

/* The numbers of GET /api/v1/stats/cache_health (v2.7 names). */
static int health_numbers(cJSON *o, const struct fleet *f, double now)
{
	const struct {
		const char *name;
		double v;
	} n[] = {
	    {"last_attempt_unix_ms", now},
	    {"last_snapshot_unix_ms", now},
	    {"freshness_ms", 0},
	    {"configured_nodes", f->all},
	    {"attempted_nodes", f->online},
	    {"succeeded_nodes", f->online},
	    {"failed_nodes", 0},
	    {"skipped_offline_nodes", cJSON_GetArraySize(f->offline)},
	    {"skipped_unknown_nodes", cJSON_GetArraySize(f->unknown)},
	    {"skipped_syncing_nodes", cJSON_GetArraySize(f->syncing)},
	    {"top_n_cache_size", 0},
	    {"top_rules_cached", 0},
	    {"last_refresh_duration_ms", (double)f->list_ms},
	    {"consecutive_all_fail", 0},
	};

	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		if (!cJSON_AddNumberToObject(o, n[i].name, n[i].v))
			return -1;
	return 0;
}

/* rule_count: the rules the upstream holds (StatsService.Get); -1 when it cannot say. */
static double rule_count(struct http_request *rq)
{
	Xdrop__V1__GetStatsRequest req = XDROP__V1__GET_STATS_REQUEST__INIT;
	Xdrop__V1__StatsReply *resp = NULL;
	struct rpc_status st;
	double n;

	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "Get", &req.base,
		     (ProtobufCMessage **)&resp, &st))
		return -1;
	n = (double)resp->rules;
	api_free_msg(resp);
	return n;
}

int api_cache_health(struct http_request *rq, struct http_reply *rp)
{
	cJSON *o = cJSON_CreateObject();
	double now = (double)clock_wall_ms();
	struct fleet f;

	if (!o || fleet_read(rq, &f)) {
		cJSON_Delete(o);
		fleet_free(&f);
		return http_error(rp, 502, NULL, "the node list could not be read");
	}
	if (!cJSON_AddStringToObject(o, "status", fleet_status(&f)) ||
	    !cJSON_AddStringToObject(o, "last_refresh_status", fleet_status(&f)) ||
	    !(f.online == f.all ? cJSON_AddNumberToObject(o, "last_full_success_unix_ms", now)
				: cJSON_AddNullToObject(o, "last_full_success_unix_ms")) ||
	    health_numbers(o, &f, now) ||
	    !cJSON_AddNumberToObject(o, "rule_count", rule_count(rq)) ||
	    !cJSON_AddStringToObject(o, "cache", "none: rule statistics are read live") ||
	    !cJSON_AddObjectToObject(o, "node_errors")) {
		cJSON_Delete(o);
		o = NULL;
	} else {
		cJSON_AddItemToObject(o, "offline_node_names", f.offline);
		cJSON_AddItemToObject(o, "unknown_node_names", f.unknown);
		cJSON_AddItemToObject(o, "syncing_node_names", f.syncing);
		f.offline = f.unknown = f.syncing = NULL;
	}
	fleet_free(&f);
	return http_json(rp, 200, o);
}

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
	if (rq->gw->cfg->node_mode && s->n_nodes == 1 && api_compat_node_figures(o, s->nodes[0]))
		return -1;
	if (!cJSON_AddNumberToObject(o, "nodes_count", all) ||
	    !cJSON_AddNumberToObject(o, "online_nodes", online) ||
	    !cJSON_AddNumberToObject(o, "total_dropped_pps", r ? r->dropped_pps : 0) ||
	    !cJSON_AddNumberToObject(o, "total_passed_pps", r ? r->passed_pps : 0))
		return -1;
	return 0;
}

int api_compat_created(enum api_kind kind, cJSON *o)
{
	const char *one = kind == API_RULE ? "rule" : kind == API_WL ? "entry" : NULL;
	const cJSON *obj = one ? cJSON_GetObjectItemCaseSensitive(o, one) : NULL;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");

	if (!cJSON_IsString(id))
		return 0;
	if (!cJSON_AddStringToObject(o, kind == API_RULE ? "rule_id" : "id", id->valuestring) ||
	    !cJSON_AddStringToObject(o, "message",
				     kind == API_RULE ? "Rule added" : "Whitelist entry added"))
		return -1;
	return 0;
}
