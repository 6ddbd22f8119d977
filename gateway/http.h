/* SPDX-License-Identifier: MIT */
/*
 * http: the gateway's HTTP(S) server on libmicrohttpd, and the request and reply types
 * every handler uses.
 *
 * Threading: one thread per connection (libmicrohttpd's THREAD_PER_CONNECTION), so that a
 * handler may block on its upstream call and an SSE stream may wait for the next tick
 * without stalling anybody else. Threads are bounded by the connection limits.
 *
 * Limits, all from the config (gw_config.h has the defaults):
 *   - request line and headers: limits.header_bytes (libmicrohttpd answers 431/414);
 *   - body: limits.body_bytes, or limits.batch_body_bytes on batch routes; a larger
 *     Content-Length is refused with 413 before the body is read, a larger chunked body as
 *     soon as it passes the limit (the rest is discarded);
 *   - connections: limits.max_connections in all, limits.per_client_connections per client
 *     address (the excess is refused at accept, so other clients are still served);
 *   - deadline: a request must arrive whole (headers and body) within
 *     limits.request_deadline of its first byte, or of the previous reply on a kept-alive
 *     connection; a reaper thread shuts the socket of a client that is slower (slowloris).
 *     Handlers and SSE streams are not cut: their time is bounded by the upstream timeout.
 *   - idle connections are closed after limits.idle_timeout.
 */
#ifndef XDROP_GW_HTTP_H
#define XDROP_GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "gateway.h"

#define GW_MAX_PARAM 256 /* a path parameter (":id"), bytes with NUL */

struct route;

struct http_request {
	struct gateway *gw;
	struct MHD_Connection *conn;
	const char *method;	   /* "GET", ... */
	const char *url;	   /* path, percent-decoded by libmicrohttpd */
	const struct route *route; /* the caller's, for its handler (routes.h) */
	char param[GW_MAX_PARAM];  /* the ":id" segment, when the route has one */
	char *body;		   /* NUL-terminated; NULL when none */
	size_t body_len;
	const char *token; /* the API key to forward upstream ("" = none), see auth.h */
	bool cookie_auth;  /* authenticated by a session cookie, not a key */
	bool replayed;	   /* the upstream replayed an Idempotency-Key's outcome (api_call) */
	char client[64];   /* client address as text */
};

/* What a handler answers. Exactly one body kind is used. */
struct http_reply {
	unsigned status;
	cJSON *json; /* owned; serialized as the body */
	char *text;  /* owned; with content_type */
	size_t text_len;
	const char *content_type;
	int fd; /* static file (owned, closed after sending), -1 when none */
	uint64_t fd_size;
	/* a stream (SSE): libmicrohttpd's content reader */
	MHD_ContentReaderCallback reader;
	void *reader_cls;
	MHD_ContentReaderFreeCallback reader_free;
	const char *cache_control; /* static string or NULL */
	char *set_cookie;	   /* owned */
	unsigned retry_after;	   /* seconds; 0 = no header */
	char allow[64];		   /* Allow header for 405 ("": none) */
	bool html;		   /* add the UI's Content-Security-Policy */
	const char *csp;	   /* that policy (NULL: GW_UI_CSP); borrowed */
	/* The "code" of an error body: the upstream's RPC code name (api_fail), else NULL and
	 * http_error names the status's (http_status_code). */
	const char *error_code;
};

/* Answers `{"error": message, "field": field, "code": CODE}` (field omitted when NULL or
 * ""): CODE is rp->error_code when set, else the status's (http_status_code), so that a
 * client (the web UI) can pick its own sentence for it. Returns 0 (handlers return it). */
int http_error(struct http_reply *rp, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The error code of an HTTP status, in the RPC codes' names where one fits
 * ("INVALID_ARGUMENT" for 400, "NOT_FOUND" for 404, ...; "TOO_LARGE" for 413). */
const char *http_status_code(unsigned status);

/* Answers with obj (taken over; NULL means out of memory: 500). Returns 0. */
int http_json(struct http_reply *rp, unsigned status, cJSON *obj);

/* Header and query lookups (NULL when absent). */
const char *http_header(const struct http_request *rq, const char *name);
const char *http_query(const struct http_request *rq, const char *name);

/* The first query parameter of rq whose name is not in known (NULL-terminated), copied
 * into name (truncated to len); returns false when every one is known. */
bool http_query_unknown(const struct http_request *rq, const char *const *known, char *name,
			size_t len);

/*
 * What the server runs for each request, given by its caller (the server knows nothing of
 * routes, credentials or the API). Both run on the request's connection thread.
 */
struct http_handler {
	/* Once the request line and headers are in: the body limit in bytes for rq (it may
	 * note what it found in rq->route and rq->param for handle). */
	size_t (*body_limit)(void *ctx, struct http_request *rq);
	/* Once the whole body is in (within the limit): answers rq into rp, which comes as
	 * status 200 and nothing else set; the server sends it and frees what it owns. */
	void (*handle)(void *ctx, struct http_request *rq, struct http_reply *rp);
	void *ctx;
};

struct http_server;

/* Starts listening per gw->cfg, running h (copied) for every request. Returns 0 and *out,
 * or a negative errno (logged). */
int http_start(struct http_server **out, struct gateway *gw, const struct http_handler *h);

/* The bound port (for listen: "host:0"). */
unsigned http_port(const struct http_server *s);

/* Stops accepting, ends streams, waits for connection threads, frees s. NULL is fine. */
void http_stop(struct http_server *s);

#endif
