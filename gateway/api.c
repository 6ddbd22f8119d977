// SPDX-License-Identifier: MIT
/*
 * api: REST handlers (see api.h). Every handler follows one pattern: validate the query
 * and body (errors name the field), build the RPC request, call the upstream, answer the
 * documented shape or api_fail().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "cache.h"
#include "json.h"
#include "upstream.h"

#define MAX_QUERY_TEXT	   256 /* search strings and ids in queries */
#define IDEMPOTENCY_HEADER "Idempotency-Key"

/* ---- the one RPC -> HTTP table ---- */

static const unsigned status_of_code[RPC_CODE_COUNT] = {
    [RPC_OK] = 200,
    [RPC_CANCELLED] = 503,
    [RPC_UNKNOWN] = 502,
    [RPC_INVALID_ARGUMENT] = 400,
    [RPC_DEADLINE_EXCEEDED] = 504,
    [RPC_NOT_FOUND] = 404,
    [RPC_ALREADY_EXISTS] = 409,
    [RPC_PERMISSION_DENIED] = 403,
    [RPC_RESOURCE_EXHAUSTED] = 507,
    [RPC_FAILED_PRECONDITION] = 409,
    [RPC_ABORTED] = 409,
    [RPC_OUT_OF_RANGE] = 400,
    [RPC_UNIMPLEMENTED] = 501,
    [RPC_INTERNAL] = 500,
    [RPC_UNAVAILABLE] = 503,
    [RPC_DATA_LOSS] = 502,
    [RPC_UNAUTHENTICATED] = 401,
};

unsigned api_status(enum rpc_code code)
{
	return (unsigned)code < RPC_CODE_COUNT ? status_of_code[code] : 502;
}

int api_fail(struct http_reply *rp, const struct rpc_status *st, const char *prefix)
{
	static const char *const strip[] = {"rule.", "entry.", "node.", "rules.", "entries."};
	unsigned status = api_status(st->code);
	const char *f = st->field;
	char field[160];

	if (!strcmp(f, "request_id")) {
		/* the request id is the Idempotency-Key header (api_call) */
		if (st->code == RPC_FAILED_PRECONDITION)
			return http_error(rp, 422, IDEMPOTENCY_HEADER,
					  "Idempotency-Key reused with a different request");
		return http_error(rp, status, IDEMPOTENCY_HEADER, "%s",
				  st->message[0] ? st->message : rpc_code_name(st->code));
	}
	if (status == 401)
		return http_error(rp, 401, NULL, "unauthorized");
	if (status == 403)
		return http_error(rp, 403, NULL, "forbidden");
	if (status == 503)
		rp->retry_after = 1;
	for (size_t i = 0; i < sizeof(strip) / sizeof(strip[0]); i++)
		if (!strncmp(f, strip[i], strlen(strip[i])))
			f += strlen(strip[i]);
	if (prefix && *prefix && *f)
		snprintf(field, sizeof(field), "%s.%s", prefix, f);
	else
		snprintf(field, sizeof(field), "%s", f);
	return http_error(rp, status, field, "%s",
			  st->message[0] ? st->message : rpc_code_name(st->code));
}

int api_call(struct http_request *rq, const ProtobufCServiceDescriptor *svc, const char *method,
	     const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st)
{
	const char *key = http_header(rq, IDEMPOTENCY_HEADER);
	bool busy = false;
	int err;

	/* Writes only: a GET is safe to repeat and never carries one upstream. */
	if (!strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD"))
		key = NULL;
	if (key && !rpc_request_id_ok(key)) {
		*resp = NULL;
		memset(st, 0, sizeof(*st));
		st->code = RPC_INVALID_ARGUMENT;
		snprintf(st->field, sizeof(st->field), "request_id");
		snprintf(st->message, sizeof(st->message),
			 "Idempotency-Key must be 1..%d printable ASCII characters without spaces",
			 XDROP_RPC_MAX_REQUEST_ID);
		return rpc_code_errno(st->code);
	}
	err = upstream_call_id(rq->gw->up, svc, method, req, resp, st, rq->token, key, &busy);
	if (st->replayed)
		rq->replayed = true;
	if (busy)
		atomic_fetch_add(&rq->gw->ctr.upstream_busy, 1);
	return err;
}

/* ---- helpers ---- */

static int bad_json(struct http_reply *rp, const struct json_error *e, int rc)
{
	if (rc == -ENOMEM)
		return http_error(rp, 500, NULL, "out of memory");
	return http_error(rp, 400, e->field, "%s", e->message);
}

/* Parses the body; on failure answers 400 and returns -EINVAL. */
static int body_json(struct http_request *rq, struct http_reply *rp, cJSON **out)
{
	struct json_error e = {0};
	int rc;

	*out = NULL;
	if (!rq->body || !rq->body_len) {
		http_error(rp, 400, NULL, "a JSON body is required");
		return -EINVAL;
	}
	rc = json_parse(rq->body, rq->body_len, out, &e);
	if (rc) {
		bad_json(rp, &e, rc);
		return rc;
	}
	return 0;
}

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

/* {"success": true} plus `key: msg` (taken over; NULL means none). NULL on ENOMEM. */
static cJSON *success_with(const char *key, cJSON *msg)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddBoolToObject(o, "success", true) ||
	    (key && (!msg || !cJSON_AddItemToObject(o, key, msg)))) {
		cJSON_Delete(o);
		cJSON_Delete(msg);
		return NULL;
	}
	return o;
}

static cJSON *add_sync(cJSON *o, const Xdrop__V1__SyncOutcome *sync)
{
	cJSON *s = json_from_msg(sync ? &sync->base : NULL);

	if (!o || !s || !cJSON_AddItemToObject(o, "sync", s)) {
		cJSON_Delete(s);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static void free_msg(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* obj (taken over, NULL is fine) as http_json() would send it; NULL when out of memory.
 * The length goes to *len. */
static char *json_print(cJSON *obj, size_t *len)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	*len = text ? strlen(text) : 0;
	return text;
}

/* Answers 200 with body (JSON text, taken over): the same bytes and headers http_json()
 * gives the object the text was printed from. Returns 0. */
static int reply_body(struct http_reply *rp, char *body, size_t len)
{
	cJSON_Delete(rp->json);
	rp->json = NULL;
	free(rp->text);
	rp->text = body;
	rp->text_len = len;
	rp->content_type = "application/json";
	rp->status = 200;
	return 0;
}

/* Answers a reply message as JSON as it is (GET of one object, lists). */
static int reply_msg(struct http_reply *rp, const ProtobufCMessage *m)
{
	return http_json(rp, 200, json_from_msg(m));
}

/* ---- health, info ---- */

int api_health(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__PingRequest req = XDROP__V1__PING_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o = cJSON_CreateObject();
	bool ok;

	upstream_call(rq->gw->up, &xdrop__v1__health_service__descriptor, "Ping", &req.base, &resp,
		      &st, NULL, NULL);
	ok = st.code == RPC_OK;
	free_msg(resp);
	if (o) {
		cJSON_AddStringToObject(o, "status", ok ? "healthy" : "degraded");
		cJSON_AddStringToObject(o, "upstream", ok ? "ok" : rpc_code_name(st.code));
		cJSON_AddStringToObject(o, "mode", rq->gw->cfg->node_mode ? "node" : "controller");
	}
	if (!ok)
		rp->retry_after = 1;
	return http_json(rp, ok ? 200 : 503, o);
}

int api_info(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__InfoRequest req = XDROP__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o = cJSON_CreateObject(), *up = NULL;

	if (rq->token && *rq->token &&
	    !api_call(rq, &xdrop__v1__stats_service__descriptor, "Info", &req.base, &resp, &st))
		up = json_from_msg(resp);
	free_msg(resp);
	if (!up)
		up = cJSON_CreateNull();
	if (!o || !up || !cJSON_AddStringToObject(o, "name", XDROP_GATEWAY_NAME) ||
	    !cJSON_AddStringToObject(o, "version", XDROP_GATEWAY_VERSION) ||
	    !cJSON_AddStringToObject(o, "status", "ok") ||
	    !cJSON_AddStringToObject(o, "mode", rq->gw->cfg->node_mode ? "node" : "controller") ||
	    !cJSON_AddBoolToObject(o, "auth_enabled", rq->gw->cfg->auth_enabled) ||
	    !cJSON_AddItemToObject(o, "upstream", up)) {
		cJSON_Delete(o);
		cJSON_Delete(up);
		o = NULL;
	}
	return http_json(rp, 200, o);
}

/* ---- auth ---- */

/*
 * Asks the upstream who key is: KeyService.Whoami on a controller (name and scope),
 * StatsService.Info on an agent (which has no key names; the scope is checked per call).
 */
static int whoami(struct http_request *rq, const char *key, char *name, size_t nlen, char *scope,
		  size_t slen, struct rpc_status *st)
{
	ProtobufCMessage *resp = NULL;
	int err;

	snprintf(name, nlen, "api-key");
	scope[0] = 0;
	if (rq->gw->cfg->node_mode) {
		Xdrop__V1__InfoRequest req = XDROP__V1__INFO_REQUEST__INIT;

		err = upstream_call(rq->gw->up, &xdrop__v1__stats_service__descriptor, "Info",
				    &req.base, &resp, st, key, NULL);
	} else {
		Xdrop__V1__Empty req = XDROP__V1__EMPTY__INIT;

		err = upstream_call(rq->gw->up, &xdrop__v1__key_service__descriptor, "Whoami",
				    &req.base, &resp, st, key, NULL);
		if (!err) {
			const Xdrop__V1__ApiKey *k = (const void *)resp;

			if (k->name && *k->name)
				snprintf(name, nlen, "%s", k->name);
			snprintf(scope, slen, "%s", k->scope ? k->scope : "");
		}
	}
	free_msg(resp);
	return err;
}

int api_login(struct http_request *rq, struct http_reply *rp)
{
	const struct gw_config *c = rq->gw->cfg;
	const cJSON *k;
	cJSON *body = NULL, *o;
	char name[128], scope[32], token[80], cookie[256];
	struct rpc_status st;
	int err;

	if (!c->auth_enabled) {
		o = cJSON_CreateObject();
		if (o && (!cJSON_AddStringToObject(o, "message", "auth disabled") ||
			  !cJSON_AddBoolToObject(o, "auth_enabled", false))) {
			cJSON_Delete(o);
			o = NULL;
		}
		return http_json(rp, 200, o);
	}
	/* failed logins are limited with every other credential (http.c, auth.h) */
	if (body_json(rq, rp, &body))
		return 0;
	k = cJSON_GetObjectItemCaseSensitive(body, "key");
	if (!k)
		k = cJSON_GetObjectItemCaseSensitive(body, "api_key");
	if (!k)
		k = cJSON_GetObjectItemCaseSensitive(body, "password");
	if (!cJSON_IsObject(body) || !cJSON_IsString(k) || !*k->valuestring ||
	    strlen(k->valuestring) > XDROP_MAX_KEY) {
		cJSON_Delete(body);
		return http_error(rp, 400, "key", "key (an API key) is required");
	}
	err = whoami(rq, k->valuestring, name, sizeof(name), scope, sizeof(scope), &st);
	if (err) {
		cJSON_Delete(body);
		if (st.code == RPC_UNAUTHENTICATED || st.code == RPC_PERMISSION_DENIED) {
			atomic_fetch_add(&rq->gw->ctr.login_failed, 1);
			return http_error(rp, 401, NULL, "unauthorized");
		}
		return api_fail(rp, &st, NULL);
	}
	err = auth_session_new(rq->gw->auth, k->valuestring, scope, token, sizeof(token));
	cJSON_Delete(body);
	if (err)
		return http_error(rp, 500, NULL, "cannot create a session: %s", strerror(-err));
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%u%s",
		 XDROP_SESSION_COOKIE, token, c->session_ttl_s, c->https_cert ? "; Secure" : "");
	explicit_bzero(token, sizeof(token));
	rp->set_cookie = strdup(cookie);
	explicit_bzero(cookie, sizeof(cookie));
	o = cJSON_CreateObject();
	if (!rp->set_cookie || !o || !cJSON_AddStringToObject(o, "message", "ok") ||
	    !cJSON_AddStringToObject(o, "username", name) ||
	    !cJSON_AddStringToObject(o, "scope", scope)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, 200, o);
}

int api_logout(struct http_request *rq, struct http_reply *rp)
{
	char cookie[160];
	cJSON *o = cJSON_CreateObject();

	auth_session_end(rq->gw->auth, rq);
	snprintf(cookie, sizeof(cookie), "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
		 XDROP_SESSION_COOKIE, rq->gw->cfg->https_cert ? "; Secure" : "");
	rp->set_cookie = strdup(cookie);
	if (o && !cJSON_AddStringToObject(o, "message", "logged out")) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, 200, o);
}

int api_auth_check(struct http_request *rq, struct http_reply *rp)
{
	char name[128], scope[32];
	struct rpc_status st;
	cJSON *o;

	if (!rq->gw->cfg->auth_enabled) {
		o = cJSON_CreateObject();
		if (o && (!cJSON_AddStringToObject(o, "message", "ok") ||
			  !cJSON_AddBoolToObject(o, "auth_enabled", false))) {
			cJSON_Delete(o);
			o = NULL;
		}
		return http_json(rp, 200, o);
	}
	if (!rq->token || !*rq->token)
		return http_error(rp, 401, NULL, "unauthorized");
	if (whoami(rq, rq->token, name, sizeof(name), scope, sizeof(scope), &st))
		return api_fail(rp, &st, NULL);
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddStringToObject(o, "message", "ok") ||
		  !cJSON_AddStringToObject(o, "username", name) ||
		  !cJSON_AddStringToObject(o, "scope", scope) ||
		  !cJSON_AddBoolToObject(o, "auth_enabled", true) ||
		  !cJSON_AddBoolToObject(o, "session", rq->cookie_auth))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, 200, o);
}

/* ---- rules ---- */

/* Rules made through the REST API say so, unless the caller named a source. The empty
 * default is protobuf-c's static empty string: replaced, never freed. */
static int set_default_source(Xdrop__V1__Rule *r)
{
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

static const char *const sort_fields[] = {"created_at", "updated_at", "name", "id", "action", NULL};
static const char *const orders[] = {"asc", "desc", NULL};
static const char *const bools[] = {"true", "false", NULL};
static const char *const actions[] = {"drop", "pass", "rate_limit", NULL};

int api_rules_list(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__ListRulesRequest req = XDROP__V1__LIST_RULES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (q_uint(rq, rp, "page", 1, 10000000, 1, &req.page) ||
	    q_uint(rq, rp, "limit", 1, GW_LIST_MAX_LIMIT, 50, &req.limit) ||
	    q_text(rq, rp, "search", NULL, &req.search) ||
	    q_text(rq, rp, "sort", sort_fields, &req.sort) ||
	    q_text(rq, rp, "order", orders, &req.order) ||
	    q_text(rq, rp, "enabled", bools, &req.enabled) ||
	    q_text(rq, rp, "action", actions, &req.action))
		return 0;
	if (api_call(rq, &xdrop__v1__rule_service__descriptor, "List", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	reply_msg(rp, resp);
	free_msg(resp);
	return 0;
}

/* Answers a RuleWriteReply / WhitelistWriteReply / NodeWriteReply. */
static int write_reply(struct http_reply *rp, unsigned status, const char *key,
		       const ProtobufCMessage *obj, const Xdrop__V1__SyncOutcome *sync,
		       bool with_sync)
{
	cJSON *o = success_with(key, json_from_msg(obj));

	if (with_sync)
		o = add_sync(o, sync);
	return http_json(rp, status, o);
}

int api_rules_create(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__CreateRuleRequest req = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *w;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	cJSON *body;
	int rc;

	if (body_json(rq, rp, &body))
		return 0;
	rc = json_to_rule(body, "", &req.rule, NULL, NULL, &e);
	cJSON_Delete(body);
	if (rc)
		return bad_json(rp, &e, rc);
	if (set_default_source(req.rule)) {
		free_msg(req.rule);
		return http_error(rp, 500, NULL, "out of memory");
	}
	if (api_call(rq, &xdrop__v1__rule_service__descriptor, "Create", &req.base, &resp, &st)) {
		api_fail(rp, &st, NULL);
	} else {
		w = (void *)resp;
		write_reply(rp, 201, "rule", w->rule ? &w->rule->base : NULL, w->sync, true);
	}
	free_msg(resp);
	free_msg(req.rule);
	return 0;
}

int api_rules_get(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__GetRuleRequest req = XDROP__V1__GET_RULE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	req.id = rq->param;
	if (api_call(rq, &xdrop__v1__rule_service__descriptor, "Get", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	reply_msg(rp, resp);
	free_msg(resp);
	return 0;
}

int api_rules_update(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__UpdateRuleRequest req = XDROP__V1__UPDATE_RULE_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *w;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	cJSON *body;
	int rc;

	if (body_json(rq, rp, &body))
		return 0;
	rc = json_to_rule(body, "", &req.rule, &req.update_mask, &req.n_update_mask, &e);
	cJSON_Delete(body);
	if (rc)
		return bad_json(rp, &e, rc);
	req.id = rq->param;
	if (*req.rule->id && strcmp(req.rule->id, rq->param)) {
		http_error(rp, 400, "id", "id in the body differs from the path");
		goto out;
	}
	if (!req.n_update_mask) {
		http_error(rp, 400, NULL, "no field to update");
		goto out;
	}
	if (api_call(rq, &xdrop__v1__rule_service__descriptor, "Update", &req.base, &resp, &st)) {
		api_fail(rp, &st, NULL);
		goto out;
	}
	w = (void *)resp;
	write_reply(rp, 200, "rule", w->rule ? &w->rule->base : NULL, w->sync, true);
out:
	req.id = NULL;
	free_msg(resp);
	free_msg(req.rule);
	json_mask_free(req.update_mask, req.n_update_mask);
	return 0;
}

static int delete_one(struct http_request *rq, struct http_reply *rp,
		      const ProtobufCServiceDescriptor *svc)
{
	Xdrop__V1__DeleteRequest req = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__DeleteReply *d;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	req.id = rq->param;
	if (api_call(rq, svc, "Delete", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	d = (void *)resp;
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddBoolToObject(o, "success", true) ||
		  !cJSON_AddStringToObject(o, "message",
					   d->message && *d->message ? d->message : "deleted"))) {
		cJSON_Delete(o);
		o = NULL;
	}
	http_json(rp, 200, add_sync(o, d->sync));
	free_msg(resp);
	return 0;
}

int api_rules_delete(struct http_request *rq, struct http_reply *rp)
{
	return delete_one(rq, rp, &xdrop__v1__rule_service__descriptor);
}

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

static int batch_reply(struct http_reply *rp, unsigned status, const Xdrop__V1__BatchReply *b,
		       bool deleted, const char *list)
{
	cJSON *o = cJSON_CreateObject(), *errs = cJSON_CreateArray(), *ids;
	bool ok = o && errs;

	for (size_t i = 0; ok && i < b->n_failed; i++) {
		const Xdrop__V1__BatchFailure *f = b->failed[i];
		const Xdrop__V1__Error *e = f->error;
		cJSON *x = cJSON_CreateObject();
		char field[160] = "";

		if (e && e->field && *e->field) {
			const char *p = strchr(e->field, '.');

			snprintf(field, sizeof(field), "%s[%u].%s", list, f->index,
				 p ? p + 1 : e->field);
		}
		ok = x && cJSON_AddItemToArray(errs, x) &&
		     cJSON_AddNumberToObject(x, "index", f->index) &&
		     cJSON_AddStringToObject(x, "id", f->id ? f->id : "") &&
		     cJSON_AddStringToObject(x, "error", e && e->message ? e->message : "") &&
		     cJSON_AddStringToObject(
			 x, "code", rpc_code_name(e ? (enum rpc_code)e->code : RPC_UNKNOWN)) &&
		     cJSON_AddStringToObject(x, "field", field);
		if (!x)
			ok = false;
	}
	ok = ok && cJSON_AddBoolToObject(o, "success", b->n_failed == 0) &&
	     cJSON_AddNumberToObject(o, deleted ? "deleted" : "added",
				     deleted ? b->deleted : b->added) &&
	     cJSON_AddNumberToObject(o, "failed", (double)b->n_failed) &&
	     cJSON_AddItemToObject(o, "errors", errs);
	if (!ok) {
		cJSON_Delete(errs);
		errs = NULL;
	}
	ids = ok ? cJSON_CreateStringArray((const char *const *)b->ids, (int)b->n_ids) : NULL;
	if (!ok || !ids || !cJSON_AddItemToObject(o, "ids", ids)) {
		cJSON_Delete(ids);
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, status, add_sync(o, b->sync));
}

/* The items of a batch body: {"<list>": [...]} or a bare array; answers errors. */
static const cJSON *batch_items(struct http_request *rq, struct http_reply *rp, const cJSON *body,
				const char *list, bool *atomic)
{
	const cJSON *items = body, *a, *it;

	*atomic = true;
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
		if (a && !cJSON_IsBool(a)) {
			http_error(rp, 400, "atomic", "expected true or false");
			return NULL;
		}
		if (a)
			*atomic = cJSON_IsTrue(a);
	}
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

int api_rules_batch_create(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__BatchCreateRulesRequest req = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	const cJSON *items, *it;
	cJSON *body;
	bool atomic;
	char prefix[64];
	int rc = 0;

	if (body_json(rq, rp, &body))
		return 0;
	items = batch_items(rq, rp, body, "rules", &atomic);
	if (!items)
		goto out;
	req.atomic = atomic;
	req.rules = calloc((size_t)cJSON_GetArraySize(items), sizeof(*req.rules));
	if (!req.rules) {
		http_error(rp, 500, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, items)
	{
		snprintf(prefix, sizeof(prefix), "rules[%zu]", req.n_rules);
		rc = json_to_rule(it, prefix, &req.rules[req.n_rules], NULL, NULL, &e);
		if (rc) {
			bad_json(rp, &e, rc);
			goto out;
		}
		req.n_rules++;
		if (set_default_source(req.rules[req.n_rules - 1])) {
			http_error(rp, 500, NULL, "out of memory");
			goto out;
		}
	}
	if (api_call(rq, &xdrop__v1__rule_service__descriptor, "BatchCreate", &req.base, &resp,
		     &st)) {
		batch_prefix(&st, "rules", prefix, sizeof(prefix));
		api_fail(rp, &st, prefix);
		goto out;
	}
	batch_reply(rp, 201, (const void *)resp, false, "rules");
out:
	for (size_t i = 0; i < req.n_rules; i++)
		free_msg(req.rules[i]);
	free(req.rules);
	free_msg(resp);
	cJSON_Delete(body);
	return 0;
}

static int batch_delete(struct http_request *rq, struct http_reply *rp,
			const ProtobufCServiceDescriptor *svc)
{
	Xdrop__V1__BatchDeleteRequest req = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	const cJSON *items, *it;
	cJSON *body;
	bool atomic;
	char prefix[64];

	if (body_json(rq, rp, &body))
		return 0;
	items = batch_items(rq, rp, body, "ids", &atomic);
	if (!items)
		goto out;
	req.ids = calloc((size_t)cJSON_GetArraySize(items), sizeof(*req.ids));
	if (!req.ids) {
		http_error(rp, 500, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, items)
	{
		if (!cJSON_IsString(it) || !*it->valuestring) {
			snprintf(prefix, sizeof(prefix), "ids[%zu]", req.n_ids);
			http_error(rp, 400, prefix, "expected a non-empty string");
			goto out;
		}
		req.ids[req.n_ids++] = it->valuestring;
	}
	if (api_call(rq, svc, "BatchDelete", &req.base, &resp, &st)) {
		api_fail(rp, &st, NULL);
		goto out;
	}
	batch_reply(rp, 200, (const void *)resp, true, "ids");
out:
	free(req.ids);
	free_msg(resp);
	cJSON_Delete(body);
	return 0;
}

int api_rules_batch_delete(struct http_request *rq, struct http_reply *rp)
{
	return batch_delete(rq, rp, &xdrop__v1__rule_service__descriptor);
}

int api_rules_top(struct http_request *rq, struct http_reply *rp)
{
	static const char *const by[] = {"drop_rate", "match_count", "drop_count", NULL};
	Xdrop__V1__TopRulesRequest req = XDROP__V1__TOP_RULES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	if (q_uint(rq, rp, "limit", 1, 100, 10, &req.limit) || q_text(rq, rp, "by", by, &req.by))
		return 0;
	if (api_call(rq, &xdrop__v1__rule_service__descriptor, "Top", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	o = json_from_msg(resp);
	cJSON_DeleteItemFromObject(o, "pagination");
	http_json(rp, 200, o);
	free_msg(resp);
	return 0;
}

/* ---- whitelist ---- */

int api_wl_list(struct http_request *rq, struct http_reply *rp)
{
	static const char *const wl_sort[] = {"created_at", "name", "id", NULL};
	Xdrop__V1__ListWhitelistRequest req = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (q_uint(rq, rp, "page", 1, 10000000, 1, &req.page) ||
	    q_uint(rq, rp, "limit", 1, GW_LIST_MAX_LIMIT, 50, &req.limit) ||
	    q_text(rq, rp, "search", NULL, &req.search) ||
	    q_text(rq, rp, "sort", wl_sort, &req.sort) ||
	    q_text(rq, rp, "order", orders, &req.order))
		return 0;
	if (api_call(rq, &xdrop__v1__whitelist_service__descriptor, "List", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	reply_msg(rp, resp);
	free_msg(resp);
	return 0;
}

int api_wl_create(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__CreateWhitelistRequest req = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__WhitelistWriteReply *w;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	cJSON *body;
	int rc;

	if (body_json(rq, rp, &body))
		return 0;
	rc = json_to_wl(body, "", &req.entry, &e);
	cJSON_Delete(body);
	if (rc)
		return bad_json(rp, &e, rc);
	if (api_call(rq, &xdrop__v1__whitelist_service__descriptor, "Create", &req.base, &resp,
		     &st)) {
		api_fail(rp, &st, NULL);
	} else {
		w = (void *)resp;
		write_reply(rp, 201, "entry", w->entry ? &w->entry->base : NULL, w->sync, true);
	}
	free_msg(resp);
	free_msg(req.entry);
	return 0;
}

int api_wl_get(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__GetWhitelistRequest req = XDROP__V1__GET_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	req.id = rq->param;
	if (api_call(rq, &xdrop__v1__whitelist_service__descriptor, "Get", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	reply_msg(rp, resp);
	free_msg(resp);
	return 0;
}

int api_wl_delete(struct http_request *rq, struct http_reply *rp)
{
	return delete_one(rq, rp, &xdrop__v1__whitelist_service__descriptor);
}

int api_wl_batch_create(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__BatchCreateWhitelistRequest req =
	    XDROP__V1__BATCH_CREATE_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	const cJSON *items, *it;
	cJSON *body;
	bool atomic;
	char prefix[64];
	int rc;

	if (body_json(rq, rp, &body))
		return 0;
	items = batch_items(rq, rp, body, "entries", &atomic);
	if (!items)
		goto out;
	req.atomic = atomic;
	req.entries = calloc((size_t)cJSON_GetArraySize(items), sizeof(*req.entries));
	if (!req.entries) {
		http_error(rp, 500, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, items)
	{
		snprintf(prefix, sizeof(prefix), "entries[%zu]", req.n_entries);
		rc = json_to_wl(it, prefix, &req.entries[req.n_entries], &e);
		if (rc) {
			bad_json(rp, &e, rc);
			goto out;
		}
		req.n_entries++;
	}
	if (api_call(rq, &xdrop__v1__whitelist_service__descriptor, "BatchCreate", &req.base, &resp,
		     &st)) {
		batch_prefix(&st, "entries", prefix, sizeof(prefix));
		api_fail(rp, &st, prefix);
		goto out;
	}
	batch_reply(rp, 201, (const void *)resp, false, "entries");
out:
	for (size_t i = 0; i < req.n_entries; i++)
		free_msg(req.entries[i]);
	free(req.entries);
	free_msg(resp);
	cJSON_Delete(body);
	return 0;
}

int api_wl_batch_delete(struct http_request *rq, struct http_reply *rp)
{
	return batch_delete(rq, rp, &xdrop__v1__whitelist_service__descriptor);
}

/* ---- stats ---- */

/*
 * GET /api/v1/stats is what dashboards, the UI and scripts poll, often several at once,
 * and an upstream call costs the gateway and the controller several times what answering
 * a stored body does. So the serialized body of a successful reply is kept per credential
 * (gw->stats_cache, keyed by the SHA-256 of rq->token: the API key, or the key behind a
 * UI session) for cache.stats_ttl, and a hit answers those same bytes with the same
 * headers: only the reply's time-dependent content (`at`, counters, rates) is up to one
 * TTL old. Errors go through api_fail() and are never stored. A credential is checked
 * upstream only on a miss: a key revoked upstream keeps reading the stats cached for it
 * for at most the TTL (docs/api.md); a wrong key never matches an entry and gets 401 from
 * the upstream as before.
 */
int api_stats(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__GetStatsRequest req = XDROP__V1__GET_STATS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct cache *cache = rq->gw->stats_cache;
	struct rpc_status st;
	struct cache_key key = {0};
	int64_t asked;
	char *body;
	size_t len;

	if (cache) {
		cache_key_of(rq->token ? rq->token : "", &key);
		if (!cache_get(cache, &key, &body, &len)) {
			atomic_fetch_add(&rq->gw->ctr.stats_cached, 1);
			return reply_body(rp, body, len);
		}
	}
	asked = cache_now_ms();
	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "Get", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	body = json_print(json_from_stats((const void *)resp), &len);
	free_msg(resp);
	if (!body)
		return http_json(rp, 200, NULL); /* out of memory: 500 */
	if (cache)
		cache_put(cache, &key, asked, body, len);
	return reply_body(rp, body, len);
}

int api_stats_history(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__HistoryRequest req = XDROP__V1__HISTORY_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	if (q_uint(rq, rp, "seconds", 1, GW_HISTORY_MAX_S, 3600, &req.seconds) ||
	    q_uint(rq, rp, "step", 1, 3600, 1, &req.step) ||
	    q_text(rq, rp, "node_id", NULL, &req.node_id))
		return 0;
	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "History", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	o = json_from_msg(resp);
	if (o && !cJSON_AddNumberToObject(o, "count",
					  (double)((Xdrop__V1__HistoryReply *)resp)->n_points)) {
		cJSON_Delete(o);
		o = NULL;
	}
	http_json(rp, 200, o);
	free_msg(resp);
	return 0;
}

/* ---- nodes ---- */

int api_nodes_list(struct http_request *rq, struct http_reply *rp)
{
	static const char *const statuses[] = {"online",  "syncing", "out_of_sync",
					       "offline", "unknown", NULL};
	Xdrop__V1__ListNodesRequest req = XDROP__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (q_uint(rq, rp, "page", 1, 10000000, 1, &req.page) ||
	    q_uint(rq, rp, "limit", 1, GW_LIST_MAX_LIMIT, 50, &req.limit) ||
	    q_text(rq, rp, "search", NULL, &req.search) ||
	    q_text(rq, rp, "status", statuses, &req.status))
		return 0;
	if (api_call(rq, &xdrop__v1__node_service__descriptor, "List", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	reply_msg(rp, resp);
	free_msg(resp);
	return 0;
}

static int node_write(struct http_request *rq, struct http_reply *rp, bool create)
{
	Xdrop__V1__CreateNodeRequest creq = XDROP__V1__CREATE_NODE_REQUEST__INIT;
	Xdrop__V1__UpdateNodeRequest ureq = XDROP__V1__UPDATE_NODE_REQUEST__INIT;
	Xdrop__V1__Node *node = NULL;
	Xdrop__V1__NodeWriteReply *w;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	char **mask = NULL;
	size_t n_mask = 0;
	cJSON *body, *o;
	int rc;

	if (body_json(rq, rp, &body))
		return 0;
	rc = json_to_node(body, "", &node, create ? NULL : &mask, &n_mask, &e);
	cJSON_Delete(body);
	if (rc)
		return bad_json(rp, &e, rc);
	if (create) {
		creq.node = node;
		rc = api_call(rq, &xdrop__v1__node_service__descriptor, "Create", &creq.base, &resp,
			      &st);
	} else if (*node->id && strcmp(node->id, rq->param)) {
		http_error(rp, 400, "id", "id in the body differs from the path");
		goto out;
	} else if (!n_mask) {
		http_error(rp, 400, NULL, "no field to update");
		goto out;
	} else {
		ureq.id = rq->param;
		ureq.node = node;
		ureq.update_mask = mask;
		ureq.n_update_mask = n_mask;
		rc = api_call(rq, &xdrop__v1__node_service__descriptor, "Update", &ureq.base, &resp,
			      &st);
	}
	if (rc) {
		api_fail(rp, &st, NULL);
		goto out;
	}
	w = (void *)resp;
	o = success_with("node", json_from_msg(w->node ? &w->node->base : NULL));
	if (o && create && w->key && *w->key && !cJSON_AddStringToObject(o, "key", w->key)) {
		cJSON_Delete(o);
		o = NULL;
	}
	http_json(rp, create ? 201 : 200, o);
out:
	free_msg(resp);
	free_msg(node);
	json_mask_free(mask, n_mask);
	return 0;
}

int api_nodes_create(struct http_request *rq, struct http_reply *rp)
{
	return node_write(rq, rp, true);
}

int api_nodes_update(struct http_request *rq, struct http_reply *rp)
{
	return node_write(rq, rp, false);
}

static int node_get(struct http_request *rq, struct http_reply *rp, const char *method)
{
	Xdrop__V1__GetNodeRequest req = XDROP__V1__GET_NODE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	req.id = rq->param;
	if (api_call(rq, &xdrop__v1__node_service__descriptor, method, &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	reply_msg(rp, resp);
	free_msg(resp);
	return 0;
}

int api_nodes_get(struct http_request *rq, struct http_reply *rp)
{
	return node_get(rq, rp, "Get");
}

int api_nodes_stats(struct http_request *rq, struct http_reply *rp)
{
	return node_get(rq, rp, "GetStats");
}

int api_nodes_delete(struct http_request *rq, struct http_reply *rp)
{
	return delete_one(rq, rp, &xdrop__v1__node_service__descriptor);
}

int api_nodes_sync(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__GetNodeRequest req = XDROP__V1__GET_NODE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	req.id = rq->param;
	if (api_call(rq, &xdrop__v1__node_service__descriptor, "Sync", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddBoolToObject(o, "success", true) ||
		  !cJSON_AddStringToObject(o, "message", "sync requested"))) {
		cJSON_Delete(o);
		o = NULL;
	}
	http_json(rp, 200, add_sync(o, (const void *)resp));
	free_msg(resp);
	return 0;
}

/* ---- keys (admin only) ---- */

/* The controller already refuses every KeyService method but Whoami to a read_only key
 * (controller/auth.c); the gateway checks the admin scope itself too, through Whoami, so a
 * read_only key gets 403 here without the call being forwarded. Answers 401/403 and
 * returns -EACCES. */
static int require_admin(struct http_request *rq, struct http_reply *rp)
{
	char name[128], scope[32];
	struct rpc_status st;

	if (whoami(rq, rq->token, name, sizeof(name), scope, sizeof(scope), &st)) {
		api_fail(rp, &st, NULL);
		return -EACCES;
	}
	if (strcmp(scope, "admin")) {
		http_error(rp, 403, NULL, "forbidden");
		return -EACCES;
	}
	return 0;
}

int api_keys_list(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__ListKeysRequest req = XDROP__V1__LIST_KEYS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	if (require_admin(rq, rp))
		return 0;
	if (api_call(rq, &xdrop__v1__key_service__descriptor, "List", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	o = json_from_msg(resp);
	if (o) {
		cJSON *k, *keys = cJSON_GetObjectItemCaseSensitive(o, "keys");

		/* the secret is shown once, at creation: never in a list */
		cJSON_ArrayForEach(k, keys) cJSON_DeleteItemFromObjectCaseSensitive(k, "key");
		if (!cJSON_AddNumberToObject(o, "count", cJSON_GetArraySize(keys))) {
			cJSON_Delete(o);
			o = NULL;
		}
	}
	http_json(rp, 200, o);
	free_msg(resp);
	return 0;
}

int api_keys_create(struct http_request *rq, struct http_reply *rp)
{
	static const char *const scopes[] = {"admin", "read_only", NULL};
	ProtobufCMessage *req = NULL, *resp = NULL;
	struct json_error e = {0};
	struct rpc_status st;
	Xdrop__V1__CreateKeyRequest *k;
	cJSON *body;
	bool ok = false;
	int rc;

	if (require_admin(rq, rp) || body_json(rq, rp, &body))
		return 0;
	rc = json_to_msg(body, &xdrop__v1__create_key_request__descriptor, "", NULL, &req, &e);
	cJSON_Delete(body);
	if (rc)
		return bad_json(rp, &e, rc);
	k = (void *)req;
	for (size_t i = 0; scopes[i]; i++)
		ok |= !strcmp(k->scope, scopes[i]);
	if (!*k->name || strlen(k->name) > 128) {
		http_error(rp, 400, "name", "name is required (at most 128 bytes)");
	} else if (!ok) {
		http_error(rp, 400, "scope", "scope must be admin or read_only");
	} else if (api_call(rq, &xdrop__v1__key_service__descriptor, "Create", req, &resp, &st)) {
		api_fail(rp, &st, NULL);
	} else {
		http_json(rp, 201, success_with("key", json_from_msg(resp)));
	}
	free_msg(resp);
	free_msg(req);
	return 0;
}

int api_keys_delete(struct http_request *rq, struct http_reply *rp)
{
	if (require_admin(rq, rp))
		return 0;
	return delete_one(rq, rp, &xdrop__v1__key_service__descriptor);
}
