// SPDX-License-Identifier: MIT
/*
 * api_source: PUT /api/v1/sources/:id/rules, a feed's rules made equal to the body's set
 * in one change (RuleService.ReplaceSource). The body is {"rules": [...], "dry_run": bool}
 * or a bare array; every rule is read as POST /api/v1/rules reads one, with the path's
 * source. The answer is the ReplaceSourceReply (added, removed, updated, unchanged, the
 * rules of each, sync) plus "success".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* The rules of the body into req (the caller frees req). Answers errors. */
static int read_set(struct http_request *rq, struct http_reply *rp, const cJSON *body,
		    Xdrop__V1__ReplaceSourceRequest *req)
{
	const cJSON *items = body, *it, *dry;
	char path[32];
	size_t n;

	if (cJSON_IsObject(body)) {
		cJSON_ArrayForEach(it, body)
		{
			if (strcmp(it->string, "rules") && strcmp(it->string, "dry_run")) {
				http_error(rp, 400, it->string, "unknown field");
				return -1;
			}
		}
		items = cJSON_GetObjectItemCaseSensitive(body, "rules");
		dry = cJSON_GetObjectItemCaseSensitive(body, "dry_run");
		if (dry && !cJSON_IsBool(dry)) {
			http_error(rp, 400, "dry_run", "expected true or false");
			return -1;
		}
		req->dry_run = cJSON_IsTrue(dry);
	}
	if (!cJSON_IsArray(items)) {
		http_error(rp, 400, "rules", "rules: an array is required");
		return -1;
	}
	n = (size_t)cJSON_GetArraySize(items);
	if (n > rq->gw->cfg->batch_max_items) {
		http_error(rp, 413, "rules", "at most %u rules (limits.batch_max_items)",
			   rq->gw->cfg->batch_max_items);
		return -1;
	}
	req->rules = calloc(n + 1, sizeof(*req->rules));
	if (!req->rules) {
		http_error(rp, 500, NULL, "out of memory");
		return -1;
	}
	cJSON_ArrayForEach(it, items)
	{
		struct json_error e = {0};
		int rc;

		snprintf(path, sizeof(path), "rules[%zu]", req->n_rules);
		rc = json_to_rule(it, path, &req->rules[req->n_rules], NULL, NULL, &e);
		if (rc) {
			api_bad_json(rp, &e, rc);
			return -1;
		}
		req->n_rules++;
	}
	return 0;
}

static void free_req(Xdrop__V1__ReplaceSourceRequest *req)
{
	for (size_t i = 0; i < req->n_rules; i++)
		api_free_msg(req->rules[i]);
	free(req->rules);
}

/* o with "success": true, or NULL (o freed) when out of memory. */
static cJSON *with_success(cJSON *o)
{
	if (o && !cJSON_AddBoolToObject(o, "success", true)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int api_sync_source(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__ReplaceSourceRequest req = XDROP__V1__REPLACE_SOURCE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *body = NULL;

	if (api_body_json(rq, rp, &body))
		return 0;
	req.source = (char *)rq->param;
	if (!read_set(rq, rp, body, &req)) {
		if (api_call(rq, &xdrop__v1__rule_service__descriptor, "ReplaceSource", &req.base,
			     &resp, &st))
			api_fail(rp, &st, NULL);
		else
			http_json(rp, 200, with_success(json_from_msg(resp)));
	}
	api_free_msg(resp);
	free_req(&req);
	cJSON_Delete(body);
	return 0;
}
