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
 * batches `{"success", "added"|"deleted", "failed": N, "errors": [...], "ids", "rules"|
 * "entries", "sync"}`; every "sync" `{"total", "nodes", "success", "applied", "pending",
 * "failed", "errors": {node: message}, "revision"}`;
 * errors `{"error": "...", "field": "..."}`.
 */
#ifndef XDROP_GW_API_H
#define XDROP_GW_API_H

#include "http.h"
#include "json.h"
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

/*
 * ---- the REST handlers that are alike: one table row each (routes.c), run by api_run ----
 *
 * A row names the RPC (service, method, request type), how the request is built from the
 * HTTP request, how the reply is answered, and the status on success. Every row follows
 * one pattern: validate the query and the body (errors name the field), build the RPC
 * request, call the upstream, answer the documented shape or api_fail().
 */

/* The collections of objects that behave alike: one descriptor each in api_op.c (JSON
 * names, parser, service, request types, list query), so that a new kind is one edit. */
enum api_kind {
	API_RULE, /* /api/v1/rules: "rule" / "rules", source "api" unless named */
	API_WL,	  /* /api/v1/whitelist: "entry" / "entries" */
	API_NODE, /* /api/v1/nodes: "node" */
};

/* The operations of a collection (each kind has those its descriptor names). */
enum api_verb {
	API_LIST,	  /* GET <path>: 200 */
	API_CREATE,	  /* POST <path>: 201 */
	API_BATCH_CREATE, /* POST <path>/batch: 201 */
	API_BATCH_DELETE, /* DELETE <path>/batch: 200 */
	API_GET,	  /* GET <path>/:id: 200 */
	API_UPDATE,	  /* PUT <path>/:id: 200 */
	API_DELETE,	  /* DELETE <path>/:id: 200 */
	API_VERB_COUNT,
};

/* How the RPC request is built. */
enum api_input {
	API_IN_PARAMS,	     /* the path's :id into "id", query parameters (op->query) */
	API_IN_CREATE,	     /* the body's object (op->kind) into the request's object field */
	API_IN_UPDATE,	     /* likewise with "id" from the path and "update_mask" */
	API_IN_BATCH_CREATE, /* {"<many>": [...], "atomic": bool} or a bare array */
	API_IN_BATCH_DELETE, /* {"ids": [...], "atomic": bool} or a bare array */
};

/* How a successful reply is answered (shapes: see the top of this file). */
enum api_output {
	API_OUT_MSG,	 /* the reply message as it is */
	API_OUT_WRITE,	 /* {"success": true, "<one>": {...}} (+ "key", + "sync": flags) */
	API_OUT_DELETE,	 /* {"success": true, "message", "sync"} */
	API_OUT_BATCH,	 /* {"success", "added"|"deleted", "failed", "errors", "ids", "sync"} */
	API_OUT_SYNCED,	 /* {"success": true, "message": "sync requested", "sync"} */
	API_OUT_TOP,	 /* the message without "pagination" */
	API_OUT_HISTORY, /* the message plus "count" (its points) */
	API_OUT_KEYS,	 /* the key list without secrets, plus "count" */
};

enum api_flags {
	API_ADMIN = 1 << 0,	/* the caller's key must have the admin scope (require_admin) */
	API_WITH_SYNC = 1 << 1, /* API_OUT_WRITE: add the reply's "sync" */
	API_WITH_KEY = 1 << 2,	/* API_OUT_WRITE: add the reply's "key" when set (node create) */
};

/* A query parameter copied into the request field of the same name: a uint32 field takes
 * an integer in [min, max] (def when absent), a string field text (one of allowed, when
 * not NULL; "" when absent). Lists end with a NULL name. */
struct api_query {
	const char *name;
	unsigned min, max, def;
	const char *const *allowed;
};

struct api_op {
	const ProtobufCServiceDescriptor *svc;
	const char *rpc;		       /* method of svc */
	const ProtobufCMessageDescriptor *req; /* its request type */
	enum api_input in;
	enum api_kind kind;	       /* API_IN_CREATE, _UPDATE, _BATCH_CREATE */
	const struct api_query *query; /* API_IN_PARAMS; NULL: none */
	enum api_output out;
	unsigned status; /* on success */
	unsigned flags;	 /* enum api_flags */
};

/* Fills *op with the operation verb of collection kind. Returns 0, or -ENOENT when kind
 * has no such operation (the whitelist has no update, nodes have no batches). */
int api_collection_op(enum api_kind kind, enum api_verb verb, struct api_op *op);

/* Runs one table row for rq: answers into rp (errors included). Returns 0. */
int api_run(const struct api_op *op, struct http_request *rq, struct http_reply *rp);

/* A rules or whitelist list asked without page and limit (api_list.c): every item. */
bool api_list_wants_all(const struct api_op *op, struct http_request *rq);
/* Answers every item of the list (req built from the query), newest first unless sort or
 * order is given; more than GW_LIST_ALL_MAX: 413. Returns 0. */
int api_list_all(const struct api_op *op, struct http_request *rq, struct http_reply *rp,
		 ProtobufCMessage *req);

/* Adds v2.7's nodes_count, online_nodes, total_dropped_pps and total_passed_pps to o,
 * the JSON of s (api_compat.c; a NodeService.List on a controller). Returns 0 or -1. */
int api_compat_stats(struct http_request *rq, cJSON *o, const Xdrop__V1__StatsReply *s);

/* A page of a rules or whitelist list counts, as in v2.7, every item that matched
 * (pagination.total), not the rows of the page. Returns 0 or -1 (out of memory). */
int api_compat_list_count(cJSON *o);

/* Adds v2.7's six stats_* fields (the fleet's health, read from the node list) to o, a
 * rules list or top reply. Returns 0, or -1 (o may then hold some of them). */
int api_compat_stats_meta(struct http_request *rq, cJSON *o);
/* GET /api/v1/stats/cache_health: v2.7's shape, answered truthfully (XDrop keeps no
 * rule-stats cache; the fleet's health decides the status). */
int api_cache_health(struct http_request *rq, struct http_reply *rp);

/* Adds v2.7's node-API answer to a create (node/API.md) to o, {"success", "rule" or
 * "entry", ...}: "message" and the new id as "rule_id" (rules) or "id" (whitelist
 * entries). Other kinds: unchanged. Returns 0 or -1 (out of memory). */
int api_compat_created(enum api_kind kind, cJSON *o);
/* Adds v2.7's node statistics (system, agent_state, xdp_info) of ns to o, the JSON of a
 * node-mode GET /api/v1/stats (node/API.md). Returns 0 or -1. */
int api_compat_node_figures(cJSON *o, const Xdrop__V1__NodeStats *ns);
/* Adds v2.7's node fields (endpoint, last_sync, the flat NodeStats figures) to o, the JSON
 * of m: a Node, NodeWriteReply, ListNodesResponse or NodeStats (others: unchanged).
 * Returns 0 or -1 (out of memory). */
int api_compat_node_output(const ProtobufCMessage *m, cJSON *o);
/* A node body's `endpoint` becomes `address`; both given and different: 400 naming
 * endpoint. Returns 0, or answers and returns -1. */
int api_compat_node_input(cJSON *body, struct http_reply *rp);

/* v2.7's anomaly merge (api_anomaly.c): a REST rule create asks for it in req; the
 * answer's status is 200 (and o gets "merged": true) when the upstream merged the rule
 * into an existing one, else op->status. */
void api_anomaly_request(const struct api_op *op, ProtobufCMessage *req);
unsigned api_anomaly_answer(const struct api_op *op, const ProtobufCMessage *resp, cJSON *o);

/* ---- batches (api_batch.c) ---- */

/* What a batch needs of its kind: the list's name, the item parser (as json_to_rule; path
 * names the item in errors) and whether items get the source "api" unless named. */
struct api_batch_kind {
	const char *many;
	int (*parse)(const cJSON *obj, const char *path, ProtobufCMessage **out, char ***mask,
		     size_t *n_mask, struct json_error *e);
	bool api_source;
};

/* One batch request: the items sent upstream and the items the gateway refused. */
struct api_batch {
	const char *list; /* "rules", "entries" or "ids" */
	bool create, atomic;
	void **items;	/* sent: new messages (create) or ids borrowed from the body */
	uint32_t *orig; /* items[i]'s index in the request */
	size_t n_items; /* sent */
	cJSON *refused; /* partial: the error objects of the items refused here */
};

/*
 * Fills b and req (a BatchCreate request of k, or a BatchDelete request) from body and
 * rq's query: the mode (atomic: body or ?atomic=, default partial), then each item; in
 * partial mode an item the gateway refuses joins b->refused, in atomic mode it refuses
 * the batch. req borrows b's items. Returns 0, or answers (400, 413, 500) and returns a
 * negative errno. Free b with api_batch_free (also after a failure).
 */
int api_batch_build(struct api_batch *b, const struct api_batch_kind *k, bool create,
		    struct http_request *rq, struct http_reply *rp, const cJSON *body,
		    ProtobufCMessage *req);
/* An upstream that refuses a whole batch for one item (an agent: "item N: ...") in
 * partial mode: item N joins b->refused and leaves req, to be sent again. Returns 0, or
 * -1 when st is not such a refusal (atomic, another code, no item named). */
int api_batch_drop(struct api_batch *b, const struct rpc_status *st, ProtobufCMessage *req);
/* The JSON answer: {"success", "added"|"deleted", "failed": N, "errors": [{index, id,
 * field, error, code}] in request order, "ids", "rules"|"entries" (create: as stored),
 * "sync"}. NULL when out of memory. */
cJSON *api_batch_reply(const struct api_batch *b, const Xdrop__V1__BatchReply *r);
void api_batch_free(struct api_batch *b);

/* PUT of a rule (api_put.c): v2.7's meaning of the body, made explicit in place: an
 * absent field and a scalar's zero value ("" or 0) leave the field unchanged, JSON null
 * clears it, action other than rate_limit clears rate_limit and burst. Returns 0, or
 * answers 400 and returns -EINVAL. */
int api_put_rule_input(cJSON *body, struct http_reply *rp);

/* ---- the handlers that are different ---- */

int api_health(struct http_request *rq, struct http_reply *rp);
int api_info(struct http_request *rq, struct http_reply *rp);
int api_login(struct http_request *rq, struct http_reply *rp);
int api_logout(struct http_request *rq, struct http_reply *rp);
int api_auth_check(struct http_request *rq, struct http_reply *rp);
int api_stats(struct http_request *rq, struct http_reply *rp);
int api_keys_create(struct http_request *rq, struct http_reply *rp);
/* PUT /api/v1/sources/:id/rules (api_source.c): RuleService.ReplaceSource of the body's
 * set {"rules": [...], "dry_run": bool} (or a bare array) for source :id; answers the
 * reply's fields plus "success". */
int api_sync_source(struct http_request *rq, struct http_reply *rp);
/* GET /api/v1/top and /api/v1/nodes/:id/top (api_top.c): by, verdict, window, limit and
 * (cluster route only) node, each checked (400 naming it, unknown ones too); answers the
 * TopTalkersReply's fields plus "count" (its talkers). */
int api_top_talkers(struct http_request *rq, struct http_reply *rp);
/* POST /api/v1/cluster/members, DELETE /api/v1/cluster/members/:id, POST
 * /api/v1/cluster/transfer (api_cluster.c): ClusterService.Add, Remove, Transfer (admin);
 * answers the ClusterReply's fields plus "success". */
int api_cluster_add(struct http_request *rq, struct http_reply *rp);
int api_cluster_remove(struct http_request *rq, struct http_reply *rp);
int api_cluster_transfer(struct http_request *rq, struct http_reply *rp);

/* ---- shared by the api files ---- */

/* Parses rq's body strictly (json.h) into *out (cJSON_Delete). Returns 0, or answers 400
 * (500 when out of memory) and returns a negative errno. */
int api_body_json(struct http_request *rq, struct http_reply *rp, cJSON **out);

/* Answers a json.h conversion failure rc with e: 400 naming the field (500 on -ENOMEM).
 * Returns 0. */
int api_bad_json(struct http_reply *rp, const struct json_error *e, int rc);

/* {"success": true} plus `key: msg` (msg taken over; key NULL: none). NULL when out of
 * memory (msg freed). */
cJSON *api_success_with(const char *key, cJSON *msg);

/* Adds "sync" (sync as JSON; NULL gives null) to o (taken over). NULL when out of memory
 * (o freed). */
cJSON *api_add_sync(cJSON *o, const Xdrop__V1__SyncOutcome *sync);

/* The controller already refuses every KeyService method but Whoami to a read_only key
 * (controller/auth.c); the gateway checks the admin scope itself too, through Whoami, so a
 * read_only key gets 403 here without the call being forwarded. Returns 0, or answers
 * 401/403 and returns -EACCES. */
int api_require_admin(struct http_request *rq, struct http_reply *rp);

/* Sets source "api" on rule r (a Xdrop__V1__Rule) unless it names one. Returns 0 or
 * -ENOMEM. */
int api_default_source(void *r);

/* Frees an unpacked message; NULL is fine. */
void api_free_msg(void *m);

#endif
