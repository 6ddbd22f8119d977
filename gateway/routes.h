/* SPDX-License-Identifier: MIT */
/*
 * routes: the one table of the gateway's HTTP surface, and what runs a request above the
 * HTTP server: the route match (for the body limit), authentication and the login
 * limiter, the mode and CSRF checks, then the route's handler or, off the table, the UI's
 * static files. main.c hands routes_body_limit and routes_handle to http_start.
 *
 * A row holds the method, the path pattern (":id" stands for one path segment), flags
 * saying what the request needs before the handler runs (authentication, the batch body
 * limit, a controller upstream), and either a table-driven REST operation (struct api_op:
 * service, RPC, how the request is built and the reply answered, the success status) or a
 * handler function for the routes that are truly different.
 */
#ifndef XDROP_GW_ROUTES_H
#define XDROP_GW_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
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
	unsigned flags;
	const struct api_op *op; /* run by api_run; NULL: fn */
	route_fn fn;
};

/*
 * Finds the route of method and path; the ":id" segment is copied to param (percent-decoded
 * already). Returns the route, or NULL: then *other_method tells whether the path exists
 * with other methods (listed in allow, e.g. "GET, POST"), for a 405.
 */
const struct route *routes_match(const char *method, const char *path, char *param,
				 size_t param_len, bool *other_method, char *allow,
				 size_t allow_len);

/*
 * The http_handler's body_limit (http.h): matches rq's route into rq->route and rq->param
 * and returns the body limit of that route from the config of ctx (the struct gateway).
 */
size_t routes_body_limit(void *ctx, struct http_request *rq);

/*
 * The http_handler's handle (http.h): authentication, the login limiter, the mode and
 * CSRF checks, then rq's route's handler, or a 405 (with Allow) for a known path, or the
 * fallback (404 under /api, the UI's static files for GET and HEAD, 405 else). ctx is the
 * struct gateway. Answers into rp.
 */
void routes_handle(void *ctx, struct http_request *rq, struct http_reply *rp);

#endif
