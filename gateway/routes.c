// SPDX-License-Identifier: MIT
/*
 * routes: the gateway's one route table and the request path above the HTTP server (see
 * routes.h). More specific patterns come first where two could match
 * ("/api/v1/rules/batch" before "/api/v1/rules/:id").
 */
#include <pthread.h>
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
static const char *const top_by[] = {"drop_rate", "match_count", "drop_count", NULL};

/* Query parameters, in the order they are checked (the first bad one is answered). */
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

/* The routes that are not a collection's, matched before the collections' (so
 * "/api/v1/rules/top" before "/api/v1/rules/:id"). */
static const struct route fixed[] = {
    {"GET", "/health", P, .fn = api_health},
    {"GET", "/api/v1/health", P, .fn = api_health}, /* v2.7's node agent path */
    {"GET", "/api/info", P, .fn = api_info},
    {"GET", "/api/v1/info", P, .fn = api_info},
    {"POST", "/api/auth/login", P, .fn = api_login},
    {"POST", "/api/auth/logout", P, .fn = api_logout},
    {"GET", "/api/auth/check", P, .fn = api_auth_check},

    {"GET", "/api/v1/rules/top", 0,
     OP(rule, "Top", top_rules_request, .query = top_query, .out = API_OUT_TOP, .status = 200)},
    {"PUT", "/api/v1/sources/:id/rules", B | C, .fn = api_sync_source},
    {"GET", "/api/v1/stats", 0, .fn = api_stats},
    {"GET", "/api/v1/stats/cache_health", 0, .fn = api_cache_health},
    {"GET", "/api/v1/stats/history", 0,
     OP(stats, "History", history_request, .query = history_query, .out = API_OUT_HISTORY,
	.status = 200)},
    {"GET", "/api/v1/nodes/:id/stats", C,
     OP(node, "GetStats", get_node_request, .out = API_OUT_MSG, .status = 200)},
    {"GET", "/api/v1/top", 0, .fn = api_top_talkers},
    {"GET", "/api/v1/nodes/:id/top", C, .fn = api_top_talkers},
    {"POST", "/api/v1/nodes/:id/sync", C,
     OP(node, "Sync", get_node_request, .out = API_OUT_SYNCED, .status = 200)},

    {"GET", "/api/v1/keys", C,
     OP(key, "List", list_keys_request, .out = API_OUT_KEYS, .status = 200, .flags = API_ADMIN)},
    {"POST", "/api/v1/keys", C, .fn = api_keys_create},
    {"DELETE", "/api/v1/keys/:id", C,
     OP(key, "Delete", delete_request, .out = API_OUT_DELETE, .status = 200, .flags = API_ADMIN)},

    {"GET", "/api/v1/cluster", C, OP(cluster, "Status", empty, .out = API_OUT_MSG, .status = 200)},
    {"POST", "/api/v1/cluster/members", C, .fn = api_cluster_add},
    {"DELETE", "/api/v1/cluster/members/:id", C, .fn = api_cluster_remove},
    {"POST", "/api/v1/cluster/transfer", C, .fn = api_cluster_transfer},

    {"GET", "/api/v1/events", 0, .fn = sse_events},
    {"GET", "/metrics", 0, .fn = metrics_serve},
};

/* The collections of objects alike (api.h): one path each, every operation its kind has. */
static const struct collection {
	const char *path;
	enum api_kind kind;
	unsigned flags;
} collections[] = {
    {"/api/v1/rules", API_RULE, 0},
    {"/api/v1/whitelist", API_WL, 0},
    {"/api/v1/nodes", API_NODE, C},
};

/* A collection's routes, in the order they are matched (and named in Allow). */
static const struct verb_route {
	const char *method;
	const char *suffix; /* after the collection's path */
	enum api_verb verb;
	unsigned flags;
} verb_routes[] = {
    {"GET", "", API_LIST, 0},
    {"POST", "", API_CREATE, 0},
    {"POST", "/batch", API_BATCH_CREATE, B},
    {"DELETE", "/batch", API_BATCH_DELETE, B},
    {"GET", "/:id", API_GET, 0},
    {"PUT", "/:id", API_UPDATE, 0},
    {"DELETE", "/:id", API_DELETE, 0},
};

#define N_FIXED	    (sizeof(fixed) / sizeof(fixed[0]))
#define N_GENERATED (sizeof(collections) / sizeof(collections[0]) * API_VERB_COUNT)

/* The whole table: fixed, then the collections' routes; built once (build_table). */
static struct route table[N_FIXED + N_GENERATED];
static size_t n_table;
static struct api_op generated_ops[N_GENERATED];
static char generated_paths[N_GENERATED][64];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
	size_t k = 0;

	for (size_t i = 0; i < N_FIXED; i++)
		table[n_table++] = fixed[i];
	for (size_t c = 0; c < sizeof(collections) / sizeof(collections[0]); c++) {
		for (size_t v = 0; v < sizeof(verb_routes) / sizeof(verb_routes[0]); v++) {
			const struct verb_route *vr = &verb_routes[v];

			if (api_collection_op(collections[c].kind, vr->verb, &generated_ops[k]))
				continue;
			snprintf(generated_paths[k], sizeof(generated_paths[k]), "%s%s",
				 collections[c].path, vr->suffix);
			table[n_table++] = (struct route){
			    .method = vr->method,
			    .pattern = generated_paths[k],
			    .flags = collections[c].flags | vr->flags,
			    .op = &generated_ops[k],
			};
			k++;
		}
	}
}

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

	pthread_once(&table_once, build_table);
	*other_method = false;
	if (allow_len)
		allow[0] = 0;
	for (size_t i = 0; i < n_table; i++) {
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
