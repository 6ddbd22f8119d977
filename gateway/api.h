/* SPDX-License-Identifier: MIT */
/*
 * api: the REST handlers of /api/v1 (and /health, /api/info and the /api/auth routes).
 * Each turns a request into RPC calls to the upstream and the replies into the documented
 * JSON shapes (json.c does the conversions); api_status() is the one table from RPC
 * status to HTTP.
 *
 * Shapes: lists `{"rules"|"entries"|"nodes"|"keys": [...], "count": N, "pagination":
 * {"page", "limit", "total", "pages"}}`; writes `{"success": true, "rule"|"entry"|"node":
 * {...}, "sync": {...}}` (201 on create); deletes `{"success": true, "message", "sync"}`;
 * batches `{"success", "added"|"deleted", "failed": N, "errors": [...], "ids", "sync"}`;
 * errors `{"error": "...", "field": "..."}`.
 */
#ifndef XDROP_GW_API_H
#define XDROP_GW_API_H

#include "http.h"
#include "rpc.h"

/* The HTTP status for an RPC status code (the one table). */
unsigned api_status(enum rpc_code code);

/*
 * Answers an RPC failure: status from api_status(), the upstream's message and its field
 * path turned into the JSON name (the request message's prefix, "rule." or "entry.", is
 * dropped; prefix, e.g. "rules[3]", is prepended when given). 401 and 403 get one fixed
 * body each, whatever the cause. UNAVAILABLE adds Retry-After. Returns 0.
 */
int api_fail(struct http_reply *rp, const struct rpc_status *st, const char *prefix);

/* Calls the upstream with the request's credentials (see upstream_call). */
int api_call(struct http_request *rq, const ProtobufCServiceDescriptor *svc, const char *method,
	     const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st);

int api_health(struct http_request *rq, struct http_reply *rp);
int api_info(struct http_request *rq, struct http_reply *rp);
int api_login(struct http_request *rq, struct http_reply *rp);
int api_logout(struct http_request *rq, struct http_reply *rp);
int api_auth_check(struct http_request *rq, struct http_reply *rp);

int api_rules_list(struct http_request *rq, struct http_reply *rp);
int api_rules_create(struct http_request *rq, struct http_reply *rp);
int api_rules_get(struct http_request *rq, struct http_reply *rp);
int api_rules_update(struct http_request *rq, struct http_reply *rp);
int api_rules_delete(struct http_request *rq, struct http_reply *rp);
int api_rules_batch_create(struct http_request *rq, struct http_reply *rp);
int api_rules_batch_delete(struct http_request *rq, struct http_reply *rp);
int api_rules_top(struct http_request *rq, struct http_reply *rp);

int api_wl_list(struct http_request *rq, struct http_reply *rp);
int api_wl_create(struct http_request *rq, struct http_reply *rp);
int api_wl_get(struct http_request *rq, struct http_reply *rp);
int api_wl_delete(struct http_request *rq, struct http_reply *rp);
int api_wl_batch_create(struct http_request *rq, struct http_reply *rp);
int api_wl_batch_delete(struct http_request *rq, struct http_reply *rp);

int api_stats(struct http_request *rq, struct http_reply *rp);
int api_stats_history(struct http_request *rq, struct http_reply *rp);

int api_nodes_list(struct http_request *rq, struct http_reply *rp);
int api_nodes_create(struct http_request *rq, struct http_reply *rp);
int api_nodes_get(struct http_request *rq, struct http_reply *rp);
int api_nodes_update(struct http_request *rq, struct http_reply *rp);
int api_nodes_delete(struct http_request *rq, struct http_reply *rp);
int api_nodes_stats(struct http_request *rq, struct http_reply *rp);
int api_nodes_sync(struct http_request *rq, struct http_reply *rp);

int api_keys_list(struct http_request *rq, struct http_reply *rp);
int api_keys_create(struct http_request *rq, struct http_reply *rp);
int api_keys_delete(struct http_request *rq, struct http_reply *rp);

#endif
