// SPDX-License-Identifier: MIT
/*
 * api_batch: the batches of api_run (POST and DELETE <collection>/batch): the body and
 * the query into a BatchCreate or BatchDelete request, and the BatchReply into JSON.
 *
 * A batch is partial by default, as v2.7's are: the items that pass are stored and the
 * others reported (index, id, field, error, code), whether the gateway refused them (the
 * JSON of an item) or the upstream did (the store's checks). `"atomic": true` in the body
 * or `?atomic=1` asks for all or nothing instead: the first bad item refuses the batch, as
 * one 400 naming it. The items sent upstream are a subset of the request's in partial
 * mode, so their indexes are mapped back (orig) before anything is reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "pbfield.h"

/* ?atomic=: 1 or true, 0 or false. Returns 0 (*set false when absent) or answers 400. */
static int query_atomic(struct http_request *rq, struct http_reply *rp, bool *set, bool *val)
{
	const char *v = http_query(rq, "atomic");

	*set = v != NULL;
	if (!v)
		return 0;
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		*val = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false"))
		*val = false;
	else {
		http_error(rp, 400, "atomic", "atomic must be 1, true, 0 or false");
		return -EINVAL;
	}
	return 0;
}

/* The body's "atomic" and the query's, which must agree; default false. Answers 400. */
static int batch_mode(struct http_request *rq, struct http_reply *rp, const cJSON *a, bool *atomic)
{
	bool qset, qval = false;

	*atomic = false;
	if (query_atomic(rq, rp, &qset, &qval))
		return -EINVAL;
	if (a && !cJSON_IsBool(a)) {
		http_error(rp, 400, "atomic", "expected true or false");
		return -EINVAL;
	}
	if (a && qset && cJSON_IsTrue(a) != qval) {
		http_error(rp, 400, "atomic", "atomic is %s in the body and %s in the query",
			   cJSON_IsTrue(a) ? "true" : "false", qval ? "true" : "false");
		return -EINVAL;
	}
	*atomic = a ? cJSON_IsTrue(a) : qval;
	return 0;
}

/* The items of a batch body: {"<list>": [...], "atomic": bool} or a bare array; answers
 * errors. */
static const cJSON *batch_items(struct http_request *rq, struct http_reply *rp, const cJSON *body,
				const char *list, bool *atomic)
{
	const cJSON *items = body, *a = NULL, *it;

	if (cJSON_IsObject(body)) {
		cJSON_ArrayForEach(it, body)
		{
			if (strcmp(it->string, list) && strcmp(it->string, "atomic")) {
				http_error(rp, 400, it->string, "unknown field");
				return NULL;
			}
		}
		items = cJSON_GetObjectItemCaseSensitive(body, list);
		a = cJSON_GetObjectItemCaseSensitive(body, "atomic");
	}
	if (batch_mode(rq, rp, a, atomic))
		return NULL;
	if (!cJSON_IsArray(items)) {
		http_error(rp, 400, list, "%s: an array is required", list);
		return NULL;
	}
	if (cJSON_GetArraySize(items) == 0) {
		http_error(rp, 400, list, "%s is empty", list);
		return NULL;
	}
	if ((unsigned)cJSON_GetArraySize(items) > rq->gw->cfg->batch_max_items) {
		http_error(rp, 413, list, "at most %u items per batch (limits.batch_max_items)",
			   rq->gw->cfg->batch_max_items);
		return NULL;
	}
	return items;
}

/* One error object of a batch reply: {index, id, error, code, field}. NULL: no memory. */
static cJSON *item_error(uint32_t index, const char *id, const char *message, const char *code,
			 const char *field)
{
	cJSON *x = cJSON_CreateObject();

	if (x && cJSON_AddNumberToObject(x, "index", index) &&
	    cJSON_AddStringToObject(x, "id", id ? id : "") &&
	    cJSON_AddStringToObject(x, "error", message ? message : "") &&
	    cJSON_AddStringToObject(x, "code", code) &&
	    cJSON_AddStringToObject(x, "field", field ? field : ""))
		return x;
	cJSON_Delete(x);
	return NULL;
}

/* x (taken over, or freed on failure) into b->refused, which stays in request order. */
static bool insert_refused(struct api_batch *b, cJSON *x)
{
	int i = cJSON_GetObjectItem(x, "index")->valueint, at = 0;
	const cJSON *g;

	cJSON_ArrayForEach(g, b->refused)
	{
		if (cJSON_GetObjectItem(g, "index")->valueint > i)
			break;
		at++;
	}
	if (b->refused &&
	    (g ? cJSON_InsertItemInArray(b->refused, at, x) : cJSON_AddItemToArray(b->refused, x)))
		return true;
	cJSON_Delete(x);
	return false;
}

/* Partial mode: item i, refused by the gateway (e), joins b->refused. */
static int refuse_item(struct api_batch *b, size_t i, const struct json_error *e)
{
	cJSON *x =
	    item_error((uint32_t)i, "", e->message, rpc_code_name(RPC_INVALID_ARGUMENT), e->field);

	if (!x || !cJSON_AddItemToArray(b->refused, x)) {
		cJSON_Delete(x);
		return -ENOMEM;
	}
	return 0;
}

/* Item i of the request (it) into b->items, or (partial) into b->refused. Returns 0,
 * -EINVAL (atomic: answered) or -ENOMEM. */
static int batch_item(struct api_batch *b, const struct api_batch_kind *k, struct http_reply *rp,
		      const cJSON *it, size_t i)
{
	struct json_error e = {0};
	int rc = 0;

	if (!b->create) {
		if (!cJSON_IsString(it) || !*it->valuestring) {
			snprintf(e.field, sizeof(e.field), "ids[%zu]", i);
			snprintf(e.message, sizeof(e.message), "expected a non-empty string");
			rc = -EINVAL;
		} else {
			b->items[b->n_items] = it->valuestring;
		}
	} else {
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "%s[%zu]", k->many, i);
		rc = k->parse(it, prefix, (ProtobufCMessage **)&b->items[b->n_items], NULL, NULL,
			      &e);
		if (!rc && k->api_source && api_default_source(b->items[b->n_items])) {
			api_free_msg(b->items[b->n_items]);
			rc = -ENOMEM;
		}
	}
	if (!rc) {
		b->orig[b->n_items++] = (uint32_t)i;
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	if (b->atomic) {
		api_bad_json(rp, &e, rc);
		return -EINVAL;
	}
	return refuse_item(b, i, &e);
}

int api_batch_build(struct api_batch *b, const struct api_batch_kind *k, bool create,
		    struct http_request *rq, struct http_reply *rp, const cJSON *body,
		    ProtobufCMessage *req)
{
	const cJSON *items, *it;
	size_t n, i = 0;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	b->create = create;
	b->list = create ? k->many : "ids";
	items = batch_items(rq, rp, body, b->list, &b->atomic);
	if (!items)
		return -EINVAL;
	n = (size_t)cJSON_GetArraySize(items);
	b->items = calloc(n, sizeof(*b->items));
	b->orig = calloc(n, sizeof(*b->orig));
	b->refused = cJSON_CreateArray();
	if (!b->items || !b->orig || !b->refused)
		rc = -ENOMEM;
	cJSON_ArrayForEach(it, items)
	{
		if (!rc)
			rc = batch_item(b, k, rp, it, i++);
	}
	if (rc == -ENOMEM)
		http_error(rp, 500, NULL, "out of memory");
	if (rc)
		return rc;
	if (create)
		pbf_set_int(req, "atomic", b->atomic);
	else
		pbf_set_int(req, "partial", !b->atomic);
	pbf_set_repeated(req, b->list, b->items, b->n_items);
	return 0;
}

/* An upstream error's field for request item `index`: its own prefix ("rule.", "rules[3]"
 * or "ids[3]") replaced by the request's ("rules[7]"); an id of a delete is "ids[7]". */
static void item_field(const struct api_batch *b, const char *field, uint32_t index, char *buf,
		       size_t len)
{
	const char *dot = field ? strchr(field, '.') : NULL, *list = b->list;

	buf[0] = 0;
	if (!b->create)
		snprintf(buf, len, "ids[%u]", index);
	else if (!field || !*field)
		return;
	else if (dot)
		snprintf(buf, len, "%s[%u].%s", list, index, dot + 1);
	else if (strchr(field, '['))
		snprintf(buf, len, "%s[%u]", list, index);
	else
		snprintf(buf, len, "%s[%u].%s", list, index, field);
}

int api_batch_drop(struct api_batch *b, const struct rpc_status *st, ProtobufCMessage *req)
{
	const char *msg = st->message;
	unsigned long idx;
	char *end, field[160];
	cJSON *x;

	if (b->atomic || st->replayed || strncmp(msg, "item ", 5) ||
	    (st->code != RPC_INVALID_ARGUMENT && st->code != RPC_ALREADY_EXISTS &&
	     st->code != RPC_NOT_FOUND && st->code != RPC_FAILED_PRECONDITION))
		return -1;
	idx = strtoul(msg + 5, &end, 10);
	if (end == msg + 5 || *end != ':' || idx >= b->n_items)
		return -1;
	for (end++; *end == ' '; end++)
		;
	item_field(b, st->field, b->orig[idx], field, sizeof(field));
	x = item_error(b->orig[idx], b->create ? pbf_str(b->items[idx], "id") : b->items[idx], end,
		       rpc_code_name(st->code), field);
	if (!x || !insert_refused(b, x))
		return -1;
	if (b->create)
		api_free_msg(b->items[idx]);
	memmove(&b->items[idx], &b->items[idx + 1], (b->n_items - idx - 1) * sizeof(*b->items));
	memmove(&b->orig[idx], &b->orig[idx + 1], (b->n_items - idx - 1) * sizeof(*b->orig));
	b->n_items--;
	pbf_set_repeated(req, b->list, b->items, b->n_items);
	return 0;
}

/* The errors of the batch, the gateway's and the upstream's, in request order. */
static cJSON *batch_errors(const struct api_batch *b, const Xdrop__V1__BatchReply *r)
{
	cJSON *errs = cJSON_CreateArray(), *g = b->refused ? b->refused->child : NULL;
	size_t u = 0;

	while (errs && (g || u < r->n_failed)) {
		const Xdrop__V1__BatchFailure *f = u < r->n_failed ? r->failed[u] : NULL;
		uint32_t fi = f && f->index < b->n_items ? b->orig[f->index] : 0;
		cJSON *x;

		if (g && (!f || cJSON_GetObjectItem(g, "index")->valueint < (int)fi)) {
			x = cJSON_Duplicate(g, true);
			g = g->next;
		} else {
			const Xdrop__V1__Error *e = f->error;
			char field[160];

			item_field(b, e ? e->field : NULL, fi, field, sizeof(field));
			x = item_error(fi, f->id, e ? e->message : "",
				       rpc_code_name(e ? (enum rpc_code)e->code : RPC_UNKNOWN),
				       field);
			u++;
		}
		if (!x || !cJSON_AddItemToArray(errs, x)) {
			cJSON_Delete(x);
			cJSON_Delete(errs);
			return NULL;
		}
	}
	return errs;
}

/* The stored items of a create (the reply's "rules" or "entries") as JSON; from an
 * upstream that answers ids only (an agent), the items sent with those ids. */
static cJSON *batch_stored(const struct api_batch *b, const Xdrop__V1__BatchReply *r)
{
	size_t n = 0;
	ProtobufCMessage *const *v = pbf_repeated(&r->base, b->list, &n);
	bool sent = !n && r->n_ids == b->n_items;
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < (sent ? b->n_items : n); i++) {
		cJSON *x = json_from_msg(sent ? b->items[i] : v[i]);

		if (x && sent)
			cJSON_ReplaceItemInObjectCaseSensitive(x, "id",
							       cJSON_CreateString(r->ids[i]));
		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			cJSON_Delete(a);
			a = NULL;
		}
	}
	return a;
}

cJSON *api_batch_reply(const struct api_batch *b, const Xdrop__V1__BatchReply *r)
{
	cJSON *o = cJSON_CreateObject(), *errs = batch_errors(b, r), *ids = NULL, *stored = NULL;
	size_t failed = (size_t)cJSON_GetArraySize(errs);
	bool ok = o && errs;

	/* v2.7: success says the batch was processed; failed says how many items were not */
	ok = ok && cJSON_AddBoolToObject(o, "success", !b->atomic || failed == 0) &&
	     cJSON_AddNumberToObject(o, b->create ? "added" : "deleted",
				     b->create ? r->added : r->deleted) &&
	     cJSON_AddNumberToObject(o, "failed", (double)failed) &&
	     cJSON_AddItemToObject(o, "errors", errs);
	if (!ok)
		cJSON_Delete(errs);
	if (ok) /* cJSON makes no array of 0 strings */
		ids = r->n_ids ? cJSON_CreateStringArray((const char *const *)r->ids, (int)r->n_ids)
			       : cJSON_CreateArray();
	ok = ok && ids && cJSON_AddItemToObject(o, "ids", ids);
	if (!ok)
		cJSON_Delete(ids);
	if (ok && b->create) {
		stored = batch_stored(b, r);
		ok = stored && cJSON_AddItemToObject(o, b->list, stored);
		if (!ok)
			cJSON_Delete(stored);
	}
	if (!ok) {
		cJSON_Delete(o);
		o = NULL;
	}
	return api_add_sync(o, r->sync);
}

void api_batch_free(struct api_batch *b)
{
	if (b->create)
		for (size_t i = 0; i < b->n_items; i++)
			api_free_msg(b->items[i]);
	free(b->items);
	free(b->orig);
	cJSON_Delete(b->refused);
	memset(b, 0, sizeof(*b));
}
