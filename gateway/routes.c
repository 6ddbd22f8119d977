// SPDX-License-Identifier: MIT
/*
 * routes: the gateway's one route table and the request path above the HTTP server (see
 * routes.h). More specific patterns come first where two could match
 * ("/api/v1/rules/batch" before "/api/v1/rules/:id").
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "metrics.h"
#include "routes.h"
#include "sse.h"
#include "static.h"

#define P ROUTE_PUBLIC
#define B ROUTE_BATCH
#define C ROUTE_CONTROLLER

/* A table-driven REST operation (api.h): service, RPC, request type, then the rest. */
#define OP(svc, rpc, req, ...)                                                                     \
	.op = &(const struct api_op)                                                               \
	{                                                                                          \
		&xdrop__v1__##svc##_service__descriptor, rpc, &xdrop__v1__##req##__descriptor,     \
		    __VA_ARGS__                                                                    \
	}
#define ONE_MSG .in = API_IN_PARAMS, .out = API_OUT_MSG, .status = 200
#define DELETED .in = API_IN_PARAMS, .out = API_OUT_DELETE, .status = 200

static const char *const rule_sort[] = {"created_at", "updated_at", "name", "id", "action", NULL};
static const char *const wl_sort[] = {"created_at", "name", "id", NULL};
static const char *const orders[] = {"asc", "desc", NULL};
static const char *const bools[] = {"true", "false", NULL};
static const char *const actions[] = {"drop", "pass", "rate_limit", NULL};
static const char *const top_by[] = {"drop_rate", "match_count", "drop_count", NULL};
static const char *const statuses[] = {"online",  "syncing", "out_of_sync",
				       "offline", "unknown", NULL};

/* Query parameters, in the order they are checked (the first bad one is answered). */
static const struct api_query rules_query[] = {
    {"page", 1, 10000000, 1, NULL}, {"limit", 1, GW_LIST_MAX_LIMIT, 50, NULL},
    {"search", 0, 0, 0, NULL},	    {"sort", 0, 0, 0, rule_sort},
    {"order", 0, 0, 0, orders},	    {"enabled", 0, 0, 0, bools},
    {"action", 0, 0, 0, actions},   {NULL, 0, 0, 0, NULL},
};
static const struct api_query wl_query[] = {
    {"page", 1, 10000000, 1, NULL}, {"limit", 1, GW_LIST_MAX_LIMIT, 50, NULL},
    {"search", 0, 0, 0, NULL},	    {"sort", 0, 0, 0, wl_sort},
    {"order", 0, 0, 0, orders},	    {NULL, 0, 0, 0, NULL},
};
static const struct api_query nodes_query[] = {
    {"page", 1, 10000000, 1, NULL}, {"limit", 1, GW_LIST_MAX_LIMIT, 50, NULL},
    {"search", 0, 0, 0, NULL},	    {"status", 0, 0, 0, statuses},
    {NULL, 0, 0, 0, NULL},
};
static const struct api_query top_query[] = {
    {"limit", 1, 100, 10, NULL},
    {"by", 0, 0, 0, top_by},
    {NULL, 0, 0, 0, NULL},
};
static const struct api_query history_query[] = {
    {"seconds", 1, GW_HISTORY_MAX_S, 3600, NULL},
    {"step", 1, 3600, 1, NULL},
    {"node_id", 0, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const struct route table[] = {
    {"GET", "/health", P, .fn = api_health},
    {"GET", "/api/info", P, .fn = api_info},
    {"GET", "/api/v1/info", P, .fn = api_info},
    {"POST", "/api/auth/login", P, .fn = api_login},
    {"POST", "/api/auth/logout", P, .fn = api_logout},
    {"GET", "/api/auth/check", P, .fn = api_auth_check},

    {"GET", "/api/v1/rules", 0,
     OP(rule, "List", list_rules_request, .query = rules_query, .out = API_OUT_MSG, .status = 200)},
    {"POST", "/api/v1/rules", 0,
     OP(rule, "Create", create_rule_request, .in = API_IN_CREATE, .kind = API_RULE,
	.out = API_OUT_WRITE, .status = 201, .flags = API_WITH_SYNC)},
    {"POST", "/api/v1/rules/batch", B,
     OP(rule, "BatchCreate", batch_create_rules_request, .in = API_IN_BATCH_CREATE,
	.kind = API_RULE, .out = API_OUT_BATCH, .status = 201)},
    {"DELETE", "/api/v1/rules/batch", B,
     OP(rule, "BatchDelete", batch_delete_request, .in = API_IN_BATCH_DELETE, .out = API_OUT_BATCH,
	.status = 200)},
    {"GET", "/api/v1/rules/top", 0,
     OP(rule, "Top", top_rules_request, .query = top_query, .out = API_OUT_TOP, .status = 200)},
    {"GET", "/api/v1/rules/:id", 0, OP(rule, "Get", get_rule_request, ONE_MSG)},
    {"PUT", "/api/v1/rules/:id", 0,
     OP(rule, "Update", update_rule_request, .in = API_IN_UPDATE, .kind = API_RULE,
	.out = API_OUT_WRITE, .status = 200, .flags = API_WITH_SYNC)},
    {"DELETE", "/api/v1/rules/:id", 0, OP(rule, "Delete", delete_request, DELETED)},

    {"GET", "/api/v1/whitelist", 0,
     OP(whitelist, "List", list_whitelist_request, .query = wl_query, .out = API_OUT_MSG,
	.status = 200)},
    {"POST", "/api/v1/whitelist", 0,
     OP(whitelist, "Create", create_whitelist_request, .in = API_IN_CREATE, .kind = API_WL,
	.out = API_OUT_WRITE, .status = 201, .flags = API_WITH_SYNC)},
    {"POST", "/api/v1/whitelist/batch", B,
     OP(whitelist, "BatchCreate", batch_create_whitelist_request, .in = API_IN_BATCH_CREATE,
	.kind = API_WL, .out = API_OUT_BATCH, .status = 201)},
    {"DELETE", "/api/v1/whitelist/batch", B,
     OP(whitelist, "BatchDelete", batch_delete_request, .in = API_IN_BATCH_DELETE,
	.out = API_OUT_BATCH, .status = 200)},
    {"GET", "/api/v1/whitelist/:id", 0, OP(whitelist, "Get", get_whitelist_request, ONE_MSG)},
    {"DELETE", "/api/v1/whitelist/:id", 0, OP(whitelist, "Delete", delete_request, DELETED)},

    {"GET", "/api/v1/stats", 0, .fn = api_stats},
    {"GET", "/api/v1/stats/history", 0,
     OP(stats, "History", history_request, .query = history_query, .out = API_OUT_HISTORY,
	.status = 200)},

    {"GET", "/api/v1/nodes", C,
     OP(node, "List", list_nodes_request, .query = nodes_query, .out = API_OUT_MSG, .status = 200)},
    {"POST", "/api/v1/nodes", C,
     OP(node, "Create", create_node_request, .in = API_IN_CREATE, .kind = API_NODE,
	.out = API_OUT_WRITE, .status = 201, .flags = API_WITH_KEY)},
    {"GET", "/api/v1/nodes/:id", C, OP(node, "Get", get_node_request, ONE_MSG)},
    {"PUT", "/api/v1/nodes/:id", C,
     OP(node, "Update", update_node_request, .in = API_IN_UPDATE, .kind = API_NODE,
	.out = API_OUT_WRITE, .status = 200)},
    {"DELETE", "/api/v1/nodes/:id", C, OP(node, "Delete", delete_request, DELETED)},
    {"GET", "/api/v1/nodes/:id/stats", C, OP(node, "GetStats", get_node_request, ONE_MSG)},
    {"POST", "/api/v1/nodes/:id/sync", C,
     OP(node, "Sync", get_node_request, .out = API_OUT_SYNCED, .status = 200)},

    {"GET", "/api/v1/keys", C,
     OP(key, "List", list_keys_request, .out = API_OUT_KEYS, .status = 200, .flags = API_ADMIN)},
    {"POST", "/api/v1/keys", C, .fn = api_keys_create},
    {"DELETE", "/api/v1/keys/:id", C,
     OP(key, "Delete", delete_request, DELETED, .flags = API_ADMIN)},

    {"GET", "/api/v1/events", 0, .fn = sse_events},
    {"GET", "/metrics", 0, .fn = metrics_serve},
};

/* Matches path against pattern; ":id" takes one non-empty segment into param. */
static bool path_match(const char *pattern, const char *path, char *param, size_t len)
{
	while (*pattern && *path) {
		if (*pattern == ':') {
			size_t n = strcspn(path, "/");

			if (n == 0 || n >= len)
				return false;
			memcpy(param, path, n);
			param[n] = 0;
			path += n;
			pattern += strcspn(pattern, "/");
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	/* a trailing slash is the same resource */
	if (!*pattern && path[0] == '/' && !path[1])
		return true;
	return !*pattern && !*path;
}

const struct route *routes_match(const char *method, const char *path, char *param,
				 size_t param_len, bool *other_method, char *allow,
				 size_t allow_len)
{
	const char *m = !strcmp(method, "HEAD") ? "GET" : method;
	size_t used = 0;

	*other_method = false;
	if (allow_len)
		allow[0] = 0;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char tmp[GW_MAX_PARAM];

		if (!path_match(table[i].pattern, path, tmp, sizeof(tmp)))
			continue;
		if (!strcmp(table[i].method, m)) {
			snprintf(param, param_len, "%s", strchr(table[i].pattern, ':') ? tmp : "");
			return &table[i];
		}
		if (strstr(allow, table[i].method))
			continue;
		*other_method = true;
		used += (size_t)snprintf(allow + used, used < allow_len ? allow_len - used : 0,
					 "%s%s", used ? ", " : "", table[i].method);
		if (used >= allow_len)
			used = allow_len - 1;
	}
	return NULL;
}

/* Paths outside the table: the UI's static files, GET and HEAD only. */
static int fallback(struct http_request *rq, struct http_reply *rp)
{
	if (!strncmp(rq->url, "/api/", 5) || !strcmp(rq->url, "/api"))
		return http_error(rp, 404, NULL, "no such endpoint: %s %s", rq->method, rq->url);
	if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD")) {
		snprintf(rp->allow, sizeof(rp->allow), "GET, HEAD");
		return http_error(rp, 405, NULL, "method %s not allowed", rq->method);
	}
	return static_serve(rq, rp);
}

size_t routes_body_limit(void *ctx, struct http_request *rq)
{
	const struct gateway *gw = ctx;
	bool other;
	char allow[64];

	rq->route = routes_match(rq->method, rq->url, rq->param, sizeof(rq->param), &other, allow,
				 sizeof(allow));
	return rq->route && (rq->route->flags & ROUTE_BATCH) ? gw->cfg->batch_body_max
							     : gw->cfg->body_max;
}

void routes_handle(void *ctx, struct http_request *rq, struct http_reply *rp)
{
	struct gateway *gw = ctx;
	const struct route *rt = rq->route;
	bool other = false, cred;
	char allow[64] = "";
	unsigned retry = 0;

	if (!rt) {
		rt = routes_match(rq->method, rq->url, rq->param, sizeof(rq->param), &other, allow,
				  sizeof(allow));
		rq->route = rt;
	}
	cred = rt && auth_presents_credential(rq);
	if (!rt && other) {
		snprintf(rp->allow, sizeof(rp->allow), "%s", allow);
		http_error(rp, 405, NULL, "method %s not allowed on %s", rq->method, rq->url);
	} else if (!rt) {
		fallback(rq, rp);
	} else if (cred && auth_limit_check(gw->auth, rq, &retry)) {
		/* before the credential is checked: an answer would be an oracle */
		atomic_fetch_add(&gw->ctr.login_limited, 1);
		rp->retry_after = retry;
		http_error(rp, 429, NULL,
			   "too many failed credentials from this address; retry in %u s", retry);
	} else if (!(rt->flags & ROUTE_PUBLIC) && auth_request(gw->auth, rq)) {
		http_error(rp, 401, NULL, "unauthorized");
	} else if ((rt->flags & ROUTE_CONTROLLER) && gw->cfg->node_mode) {
		http_error(
		    rp, 501, NULL,
		    "not available: the gateway fronts a single agent (upstream.mode: node)");
	} else if (!auth_csrf_ok(rq)) {
		/* a cross-site form cannot send JSON or a custom header without a preflight */
		http_error(rp, 403, NULL,
			   "a session-cookie %s needs Content-Type: application/json or an "
			   "%s header",
			   rq->method, XDROP_CSRF_HEADER);
	} else {
		if (rt->flags & ROUTE_PUBLIC)
			auth_request(gw->auth, rq); /* optional credentials (e.g. /api/info) */
		if (rt->op)
			api_run(rt->op, rq, rp);
		else
			rt->fn(rq, rp);
	}
	if (cred && rp->status == 401)
		auth_limit_fail(gw->auth, rq);
}
