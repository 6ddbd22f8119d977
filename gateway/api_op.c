// SPDX-License-Identifier: MIT
/*
 * api_op: the one generic REST handler, api_run(), that runs a row of the route table
 * (routes.c) for the handlers that are alike: lists, get, create, update, delete, batch
 * create and batch delete of rules, whitelist entries, nodes and keys (see api.h).
 *
 * Rules and whitelist entries (and nodes, where they write alike) differ only in their
 * JSON names and their parser: one descriptor per kind below. The RPC request is built
 * through protobuf-c's message descriptors: fields are found by their proto name, so a
 * row only names the request type and which of its fields the path, the query or the body
 * fill. What the request points to (the path parameter, query strings, the parsed body)
 * is borrowed or owned by struct run, never by the request message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "pbfield.h"

#define MAX_QUERY_TEXT 256 /* search strings and ids in queries */

/* What tells the kinds of objects apart: their JSON names, parser, service and request
 * types (NULL: the kind has no such operation). */
struct kind {
	const char *one; /* the object's member in requests and replies: "rule" */
	/* the batch's list member ("rules"), the parser of a body or one batch item (path
	 * "rules[3]"; mask as in json.h), source "api" unless named */
	struct api_batch_kind b;
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMessageDescriptor *list, *create, *batch_create, *get, *update;
	const struct api_query *query; /* of the list, in the order they are checked */
	unsigned write_flags;	       /* of API_OUT_WRITE on create (update: without the key) */
};

static int parse_rule(const cJSON *obj, const char *path, ProtobufCMessage **out, char ***mask,
		      size_t *n_mask, struct json_error *e)
{
	return json_to_rule(obj, path, (Xdrop__V1__Rule **)out, mask, n_mask, e);
}

static int parse_wl(const cJSON *obj, const char *path, ProtobufCMessage **out, char ***mask,
		    size_t *n_mask, struct json_error *e)
{
	(void)mask;
	(void)n_mask;
	return json_to_wl(obj, path, (Xdrop__V1__WhitelistEntry **)out, e);
}

static int parse_node(const cJSON *obj, const char *path, ProtobufCMessage **out, char ***mask,
		      size_t *n_mask, struct json_error *e)
{
	return json_to_node(obj, path, (Xdrop__V1__Node **)out, mask, n_mask, e);
}

static const char *const orders[] = {"asc", "desc", NULL};
static const char *const rule_sort[] = {"created_at", "updated_at", "name", "id", "action", NULL};
static const char *const bools[] = {"true", "false", NULL};
static const char *const actions[] = {"drop", "pass", "rate_limit", NULL};
static const char *const wl_sort[] = {"created_at", "name", "id", NULL};
static const char *const statuses[] = {"online",  "syncing", "out_of_sync",
				       "offline", "unknown", NULL};

/* The query of every list: page, limit, search, then the kind's own. */
/* clang-format off */
#define PAGE_QUERY {"page", 1, 10000000, 1, NULL}, {"limit", 1, GW_LIST_MAX_LIMIT, 50, NULL}, \
	{"search", 0, 0, 0, NULL}
/* clang-format on */

static const struct api_query rule_query[] = {
    PAGE_QUERY,
    {"sort", 0, 0, 0, rule_sort},
    {"order", 0, 0, 0, orders},
    {"enabled", 0, 0, 0, bools},
    {"action", 0, 0, 0, actions},
    {"source", 0, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};
static const struct api_query wl_query[] = {
    PAGE_QUERY,
    {"sort", 0, 0, 0, wl_sort},
    {"order", 0, 0, 0, orders},
    {NULL, 0, 0, 0, NULL},
};
static const struct api_query node_query[] = {
    PAGE_QUERY,
    {"status", 0, 0, 0, statuses},
    {NULL, 0, 0, 0, NULL},
};

static const struct kind kinds[] = {
    [API_RULE] =
	{
	    .one = "rule",
	    .b = {.many = "rules", .parse = parse_rule, .api_source = true},
	    .svc = &xdrop__v1__rule_service__descriptor,
	    .list = &xdrop__v1__list_rules_request__descriptor,
	    .create = &xdrop__v1__create_rule_request__descriptor,
	    .batch_create = &xdrop__v1__batch_create_rules_request__descriptor,
	    .get = &xdrop__v1__get_rule_request__descriptor,
	    .update = &xdrop__v1__update_rule_request__descriptor,
	    .query = rule_query,
	    .write_flags = API_WITH_SYNC,
	},
    [API_WL] =
	{
	    .one = "entry",
	    .b = {.many = "entries", .parse = parse_wl},
	    .svc = &xdrop__v1__whitelist_service__descriptor,
	    .list = &xdrop__v1__list_whitelist_request__descriptor,
	    .create = &xdrop__v1__create_whitelist_request__descriptor,
	    .batch_create = &xdrop__v1__batch_create_whitelist_request__descriptor,
	    .get = &xdrop__v1__get_whitelist_request__descriptor,
	    .query = wl_query,
	    .write_flags = API_WITH_SYNC,
	},
    [API_NODE] =
	{
	    .one = "node",
	    .b = {.many = "nodes", .parse = parse_node},
	    .svc = &xdrop__v1__node_service__descriptor,
	    .list = &xdrop__v1__list_nodes_request__descriptor,
	    .create = &xdrop__v1__create_node_request__descriptor,
	    .get = &xdrop__v1__get_node_request__descriptor,
	    .update = &xdrop__v1__update_node_request__descriptor,
	    .query = node_query,
	    .write_flags = API_WITH_KEY,
	},
};

/* What the operations of every collection have in common. */
static const struct api_op verbs[API_VERB_COUNT] = {
    [API_LIST] = {.rpc = "List", .in = API_IN_PARAMS, .out = API_OUT_MSG, .status = 200},
    [API_CREATE] = {.rpc = "Create", .in = API_IN_CREATE, .out = API_OUT_WRITE, .status = 201},
    [API_BATCH_CREATE] = {.rpc = "BatchCreate",
			  .in = API_IN_BATCH_CREATE,
			  .out = API_OUT_BATCH,
			  .status = 201},
    [API_BATCH_DELETE] = {.rpc = "BatchDelete",
			  .req = &xdrop__v1__batch_delete_request__descriptor,
			  .in = API_IN_BATCH_DELETE,
			  .out = API_OUT_BATCH,
			  .status = 200},
    [API_GET] = {.rpc = "Get", .in = API_IN_PARAMS, .out = API_OUT_MSG, .status = 200},
    [API_UPDATE] = {.rpc = "Update", .in = API_IN_UPDATE, .out = API_OUT_WRITE, .status = 200},
    [API_DELETE] = {.rpc = "Delete",
		    .req = &xdrop__v1__delete_request__descriptor,
		    .in = API_IN_PARAMS,
		    .out = API_OUT_DELETE,
		    .status = 200},
};

int api_collection_op(enum api_kind kind, enum api_verb verb, struct api_op *op)
{
	const struct kind *k = &kinds[kind];
	const ProtobufCMessageDescriptor *req[API_VERB_COUNT] = {
	    [API_LIST] = k->list,
	    [API_CREATE] = k->create,
	    [API_BATCH_CREATE] = k->batch_create,
	    /* a kind that has batches has both */
	    [API_BATCH_DELETE] = k->batch_create ? verbs[API_BATCH_DELETE].req : NULL,
	    [API_GET] = k->get,
	    [API_UPDATE] = k->update,
	    [API_DELETE] = verbs[API_DELETE].req,
	};

	if ((unsigned)verb >= API_VERB_COUNT || !req[verb])
		return -ENOENT;
	*op = verbs[verb];
	op->svc = k->svc;
	op->req = req[verb];
	op->kind = kind;
	if (verb == API_LIST)
		op->query = k->query;
	else if (verb == API_CREATE)
		op->flags = k->write_flags;
	else if (verb == API_UPDATE)
		op->flags = k->write_flags & ~(unsigned)API_WITH_KEY; /* shown once, on create */
	return 0;
}

/* One api_run: the request and everything it borrows that must be freed. */
struct run {
	const struct api_op *op;
	const struct kind *kind;
	ProtobufCMessage *req;	/* its own pointers are borrowed from the fields below */
	ProtobufCMessage *resp; /* unpacked reply */
	cJSON *body;
	ProtobufCMessage *obj; /* create, update: the body's object */
	char **mask;	       /* update: the fields present */
	size_t n_mask;
	struct api_batch batch; /* batches */
	char prefix[64];	/* batch create: the item an upstream error names ("rules[3]") */
};

/* ---- query parameters ---- */

/* An unsigned query parameter in [min, max]; absent: def. Answers 400 on error. */
static int q_uint(struct http_request *rq, struct http_reply *rp, const char *name, unsigned min,
		  unsigned max, unsigned def, uint32_t *out)
{
	const char *v = http_query(rq, name);
	unsigned long long n;
	char *end;

	*out = def;
	if (!v)
		return 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || *v == '-' || n < min || n > max) {
		http_error(rp, 400, name, "%s must be an integer from %u to %u", name, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

/* A text query parameter, optionally one of a list; "" when absent. */
static int q_text(struct http_request *rq, struct http_reply *rp, const char *name,
		  const char *const *allowed, char **out)
{
	const char *v = http_query(rq, name);
	char list[256] = "";
	size_t used = 0;

	*out = "";
	if (!v || !*v)
		return 0;
	if (strlen(v) > MAX_QUERY_TEXT) {
		http_error(rp, 400, name, "%s is longer than %d bytes", name, MAX_QUERY_TEXT);
		return -EINVAL;
	}
	if (allowed) {
		size_t i;

		for (i = 0; allowed[i]; i++) {
			if (!strcmp(v, allowed[i]))
				break;
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? ", " : "", allowed[i]);
			if (used >= sizeof(list))
				used = sizeof(list) - 1;
		}
		if (!allowed[i]) {
			http_error(rp, 400, name, "%s must be one of: %s", name, list);
			return -EINVAL;
		}
	}
	*out = (char *)v;
	return 0;
}

/* ---- building the request ---- */

/* Rules made through the REST API say so, unless the caller named a source. The empty
 * default is protobuf-c's static empty string: replaced, never freed. */
int api_default_source(void *rule)
{
	Xdrop__V1__Rule *r = rule;
	char *s;

	if (r->source && *r->source)
		return 0;
	s = strdup("api");
	if (!s)
		return -ENOMEM;
	if (r->source != protobuf_c_empty_string)
		free(r->source);
	r->source = s;
	return 0;
}

/* API_IN_PARAMS: the path's :id into "id", then the row's query parameters in order. */
static int build_params(struct run *r, struct http_request *rq, struct http_reply *rp)
{
	pbf_set_ptr(r->req, "id", rq->param); /* -ENOENT: the request has no id */
	for (const struct api_query *q = r->op->query; q && q->name; q++) {
		const ProtobufCFieldDescriptor *f = pbf_field(r->req->descriptor, q->name);
		void *p = (char *)r->req + f->offset;
		int err;

		if (f->type == PROTOBUF_C_TYPE_UINT32)
			err = q_uint(rq, rp, q->name, q->min, q->max, q->def, p);
		else
			err = q_text(rq, rp, q->name, q->allowed, p);
		if (err)
			return err;
	}
	return 0;
}

/* API_IN_CREATE and API_IN_UPDATE: the body's object (and for an update the path's id and
 * the fields present, at least one). */
static int build_write(struct run *r, struct http_request *rq, struct http_reply *rp)
{
	bool update = r->op->in == API_IN_UPDATE;
	struct json_error e = {0};
	int rc;

	if (api_body_json(rq, rp, &r->body))
		return -EINVAL;
	if (r->op->kind == API_NODE && api_compat_node_input(r->body, rp))
		return -EINVAL;
	if (update && r->op->kind == API_RULE && api_put_rule_input(r->body, rp))
		return -EINVAL;
	rc = r->kind->b.parse(r->body, "", &r->obj, update ? &r->mask : NULL, &r->n_mask, &e);
	cJSON_Delete(r->body);
	r->body = NULL;
	if (rc) {
		api_bad_json(rp, &e, rc);
		return rc;
	}
	pbf_set_ptr(r->req, r->kind->one, r->obj);
	if (!update) {
		api_anomaly_request(r->op, r->req);
		if (r->kind->b.api_source && api_default_source(r->obj)) {
			http_error(rp, 500, NULL, "out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	pbf_set_ptr(r->req, "id", rq->param);
	pbf_set_repeated(r->req, "update_mask", r->mask, r->n_mask);
	{
		const char *id = pbf_str(r->obj, "id");

		if (*id && strcmp(id, rq->param)) {
			http_error(rp, 400, "id", "id in the body differs from the path");
			return -EINVAL;
		}
	}
	if (!r->n_mask) {
		http_error(rp, 400, NULL, "no field to update");
		return -EINVAL;
	}
	return 0;
}

/* API_IN_BATCH_CREATE and API_IN_BATCH_DELETE (api_batch.c). */
static int build_batch(struct run *r, struct http_request *rq, struct http_reply *rp)
{
	if (api_body_json(rq, rp, &r->body))
		return -EINVAL;
	return api_batch_build(&r->batch, &r->kind->b, r->op->in == API_IN_BATCH_CREATE, rq, rp,
			       r->body, r->req);
}

/* ---- answering the reply ---- */

/* The batch item an upstream error is about: agents say "item N: ...". */
static void batch_prefix(const struct rpc_status *st, const char *list, char *buf, size_t len)
{
	unsigned long n;
	char *end;

	buf[0] = 0;
	if (strncmp(st->message, "item ", 5))
		return;
	n = strtoul(st->message + 5, &end, 10);
	if (end != st->message + 5 && *end == ':')
		snprintf(buf, len, "%s[%lu]", list, n);
}

/* {"success": true, "<one>": {...}} with the reply's "key" and "sync" as the flags say. */
static cJSON *write_reply(const struct run *r)
{
	const char *one = r->kind->one;
	cJSON *o = api_success_with(one, json_from_msg(pbf_get_ptr(r->resp, one)));

	if (r->op->flags & API_WITH_KEY) {
		const char *key = pbf_get_ptr(r->resp, "key");

		if (o && key && *key && !cJSON_AddStringToObject(o, "key", key)) {
			cJSON_Delete(o);
			o = NULL;
		}
	}
	if (r->op->flags & API_WITH_SYNC)
		o = api_add_sync(o, pbf_get_ptr(r->resp, "sync"));
	return o;
}

/* {"success": true, "message": message} plus the sync outcome. */
static cJSON *message_reply(const char *message, const Xdrop__V1__SyncOutcome *sync)
{
	cJSON *o = cJSON_CreateObject();

	if (o && (!cJSON_AddBoolToObject(o, "success", true) ||
		  !cJSON_AddStringToObject(o, "message", message))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return api_add_sync(o, sync);
}

/* The key list without secrets (shown once, at creation), plus "count". */
static cJSON *keys_reply(const ProtobufCMessage *resp)
{
	cJSON *o = json_from_msg(resp);

	if (o) {
		cJSON *k, *keys = cJSON_GetObjectItemCaseSensitive(o, "keys");

		cJSON_ArrayForEach(k, keys) cJSON_DeleteItemFromObjectCaseSensitive(k, "key");
		if (!cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(keys))) {
			cJSON_Delete(o);
			o = NULL;
		}
	}
	return o;
}

/* The JSON answer to a successful call (NULL when out of memory: 500). */
static cJSON *reply_of(const struct run *r)
{
	const ProtobufCMessage *m = r->resp;
	const Xdrop__V1__DeleteReply *d = (const void *)m;
	cJSON *o;

	switch (r->op->out) {
	case API_OUT_WRITE:
		return write_reply(r);
	case API_OUT_DELETE:
		return message_reply(d->message && *d->message ? d->message : "deleted", d->sync);
	case API_OUT_BATCH:
		return api_batch_reply(&r->batch, (const void *)m);
	case API_OUT_SYNCED:
		return message_reply("sync requested", (const void *)m);
	case API_OUT_TOP:
		o = json_from_msg(m);
		cJSON_DeleteItemFromObject(o, "pagination");
		return o;
	case API_OUT_HISTORY:
		o = json_from_msg(m);
		if (o && !cJSON_AddNumberToObject(
			     o, "count", (double)((const Xdrop__V1__HistoryReply *)m)->n_points)) {
			cJSON_Delete(o);
			o = NULL;
		}
		return o;
	case API_OUT_KEYS:
		return keys_reply(m);
	case API_OUT_MSG:
	default:
		return json_from_msg(m);
	}
}

/* ---- the runner ---- */

/* A partial batch whose every item the gateway refused: the reply of an upstream that
 * stored nothing (no write: no node has anything to apply). */
static void batch_none(const struct run *r, struct http_reply *rp)
{
	Xdrop__V1__BatchReply none = XDROP__V1__BATCH_REPLY__INIT;
	Xdrop__V1__SyncOutcome sync = XDROP__V1__SYNC_OUTCOME__INIT;

	none.sync = &sync;
	http_json(rp, r->op->status, api_batch_reply(&r->batch, &none));
}

static void run_free(struct run *r)
{
	api_batch_free(&r->batch);
	api_free_msg(r->obj);
	json_mask_free(r->mask, r->n_mask);
	cJSON_Delete(r->body);
	api_free_msg(r->resp);
	free(r->req); /* its pointers were borrowed */
}

int api_run(const struct api_op *op, struct http_request *rq, struct http_reply *rp)
{
	struct run r = {.op = op, .kind = &kinds[op->kind]};
	struct rpc_status st;
	cJSON *o;
	int err;

	if ((op->flags & API_ADMIN) && api_require_admin(rq, rp))
		return 0;
	r.req = calloc(1, op->req->sizeof_message);
	if (!r.req)
		return http_error(rp, 500, NULL, "out of memory");
	protobuf_c_message_init(op->req, r.req);
	switch (op->in) {
	case API_IN_CREATE:
	case API_IN_UPDATE:
		err = build_write(&r, rq, rp);
		break;
	case API_IN_BATCH_CREATE:
	case API_IN_BATCH_DELETE:
		err = build_batch(&r, rq, rp);
		break;
	case API_IN_PARAMS:
	default:
		err = build_params(&r, rq, rp);
		break;
	}
	if (err)
		goto out;
	if (op->out == API_OUT_BATCH && !r.batch.n_items) {
		batch_none(&r, rp); /* every item refused here: nothing to send */
		goto out;
	}
	if (api_list_wants_all(op, rq)) {
		api_list_all(op, rq, rp, r.req);
		goto out;
	}
	while (api_call(rq, op->svc, op->rpc, r.req, &r.resp, &st)) {
		/* a partial batch the upstream refused whole for one item: again without it */
		if (op->out == API_OUT_BATCH && !api_batch_drop(&r.batch, &st, r.req)) {
			if (r.batch.n_items)
				continue;
			batch_none(&r, rp);
			goto out;
		}
		if (op->in == API_IN_BATCH_CREATE)
			batch_prefix(&st, r.kind->b.many, r.prefix, sizeof(r.prefix));
		else
			r.prefix[0] = 0;
		api_fail(rp, &st, r.prefix);
		goto out;
	}
	o = reply_of(&r);
	if (o && op->svc == &xdrop__v1__rule_service__descriptor &&
	    (!strcmp(op->rpc, "List") || op->out == API_OUT_TOP))
		api_compat_stats_meta(rq, o); /* v2.7's stats_* fields; best effort */
	if (o && (op->kind == API_RULE || op->kind == API_WL) && !strcmp(op->rpc, "List"))
		api_compat_list_count(o);
	if (o && ((op->in == API_IN_CREATE && api_compat_created(op->kind, o)) ||
		  (op->svc == &xdrop__v1__node_service__descriptor &&
		   api_compat_node_output(r.resp, o)))) {
		cJSON_Delete(o);
		o = NULL;
	}
	http_json(rp, api_anomaly_answer(op, r.resp, o), o);
out:
	run_free(&r);
	return 0;
}
