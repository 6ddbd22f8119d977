// SPDX-License-Identifier: MIT
/*
 * routes: the gateway's one route table (see routes.h). More specific patterns come first
 * where two could match ("/api/v1/rules/batch" before "/api/v1/rules/:id").
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "metrics.h"
#include "routes.h"
#include "sse.h"
#include "static.h"

#define P ROUTE_PUBLIC
#define B ROUTE_BATCH
#define C ROUTE_CONTROLLER

static const struct route table[] = {
    {"GET", "/health", api_health, P},
    {"GET", "/api/info", api_info, P},
    {"GET", "/api/v1/info", api_info, P},
    {"POST", "/api/auth/login", api_login, P},
    {"POST", "/api/auth/logout", api_logout, P},
    {"GET", "/api/auth/check", api_auth_check, P},

    {"GET", "/api/v1/rules", api_rules_list, 0},
    {"POST", "/api/v1/rules", api_rules_create, 0},
    {"POST", "/api/v1/rules/batch", api_rules_batch_create, B},
    {"DELETE", "/api/v1/rules/batch", api_rules_batch_delete, B},
    {"GET", "/api/v1/rules/top", api_rules_top, 0},
    {"GET", "/api/v1/rules/:id", api_rules_get, 0},
    {"PUT", "/api/v1/rules/:id", api_rules_update, 0},
    {"DELETE", "/api/v1/rules/:id", api_rules_delete, 0},

    {"GET", "/api/v1/whitelist", api_wl_list, 0},
    {"POST", "/api/v1/whitelist", api_wl_create, 0},
    {"POST", "/api/v1/whitelist/batch", api_wl_batch_create, B},
    {"DELETE", "/api/v1/whitelist/batch", api_wl_batch_delete, B},
    {"GET", "/api/v1/whitelist/:id", api_wl_get, 0},
    {"DELETE", "/api/v1/whitelist/:id", api_wl_delete, 0},

    {"GET", "/api/v1/stats", api_stats, 0},
    {"GET", "/api/v1/stats/history", api_stats_history, 0},

    {"GET", "/api/v1/nodes", api_nodes_list, C},
    {"POST", "/api/v1/nodes", api_nodes_create, C},
    {"GET", "/api/v1/nodes/:id", api_nodes_get, C},
    {"PUT", "/api/v1/nodes/:id", api_nodes_update, C},
    {"DELETE", "/api/v1/nodes/:id", api_nodes_delete, C},
    {"GET", "/api/v1/nodes/:id/stats", api_nodes_stats, C},
    {"POST", "/api/v1/nodes/:id/sync", api_nodes_sync, C},

    {"GET", "/api/v1/keys", api_keys_list, C},
    {"POST", "/api/v1/keys", api_keys_create, C},
    {"DELETE", "/api/v1/keys/:id", api_keys_delete, C},

    {"GET", "/api/v1/events", sse_events, 0},
    {"GET", "/metrics", metrics_serve, 0},
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

int routes_fallback(struct http_request *rq, struct http_reply *rp)
{
	if (!strncmp(rq->url, "/api/", 5) || !strcmp(rq->url, "/api"))
		return http_error(rp, 404, NULL, "no such endpoint: %s %s", rq->method, rq->url);
	if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD")) {
		rp->allow = "GET, HEAD";
		return http_error(rp, 405, NULL, "method %s not allowed", rq->method);
	}
	return static_serve(rq, rp);
}
