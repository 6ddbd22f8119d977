/* SPDX-License-Identifier: MIT */
/*
 * routes: the one table of the gateway's HTTP surface: method, path pattern (":id" stands
 * for one path segment) and handler, with flags saying what the request needs before the
 * handler runs (authentication, the batch body limit, a controller upstream).
 */
#ifndef XDROP_GW_ROUTES_H
#define XDROP_GW_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

typedef int (*route_fn)(struct http_request *rq, struct http_reply *rp);

enum route_flags {
	ROUTE_PUBLIC = 1 << 0,	   /* no credentials needed */
	ROUTE_BATCH = 1 << 1,	   /* body up to limits.batch_body_bytes */
	ROUTE_CONTROLLER = 1 << 2, /* needs a controller upstream: 501 in node mode */
};

struct route {
	const char *method;
	const char *pattern;
	route_fn fn;
	unsigned flags;
};

/*
 * Finds the route of method and path; the ":id" segment is copied to param (percent-decoded
 * already). Returns the route, or NULL: then *other_method tells whether the path exists
 * with other methods (listed in allow, e.g. "GET, POST"), for a 405.
 */
const struct route *routes_match(const char *method, const char *path, char *param,
				 size_t param_len, bool *other_method, char *allow,
				 size_t allow_len);

/* The handler for paths outside the table (the UI's static files), GET and HEAD only. */
int routes_fallback(struct http_request *rq, struct http_reply *rp);

#endif
