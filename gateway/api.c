// SPDX-License-Identifier: MIT
/*
 * api: the RPC status -> HTTP table, the upstream call with the caller's credentials, the
 * helpers every REST handler shares, and the handlers that are different from the rest:
 * health, info, login/logout/check, the stats cache and key creation (see api.h). The
 * handlers that are alike are table rows (routes.c) run by api_op.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "clock.h"
#include "cache.h"
#include "json.h"
#include "upstream.h"
#include "webpass.h"

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

	if (status == 503) /* no leader, a busy store: a failover window, worth a retry */
		rp->retry_after = 1;
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
	for (size_t i = 0; i < sizeof(strip) / sizeof(strip[0]); i++)
		if (!strncmp(f, strip[i], strlen(strip[i])))
			f += strlen(strip[i]);
	if (prefix && *prefix && *f)
		snprintf(field, sizeof(field), "%s.%s", prefix, f);
	else
		snprintf(field, sizeof(field), "%s", f);
	rp->error_code = rpc_code_name(st->code); /* the upstream's own, finer than the status */
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

int api_bad_json(struct http_reply *rp, const struct json_error *e, int rc)
{
	if (rc == -ENOMEM)
		return http_error(rp, 500, NULL, "out of memory");
	return http_error(rp, 400, e->field, "%s", e->message);
}

int api_body_json(struct http_request *rq, struct http_reply *rp, cJSON **out)
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
		api_bad_json(rp, &e, rc);
		return rc;
	}
	return 0;
}

cJSON *api_success_with(const char *key, cJSON *msg)
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

/* v2.7's errors: {"<node name>": "message"} (the id when the name is empty or taken). */
static cJSON *sync_errors(const Xdrop__V1__SyncOutcome *sync)
{
	cJSON *errs = cJSON_CreateObject();

	for (size_t i = 0; errs && i < sync->n_errors; i++) {
		const Xdrop__V1__NodeSyncError *e = sync->errors[i];
		const char *key = e->node_name && *e->node_name ? e->node_name : e->node_id;

		if (cJSON_HasObjectItem(errs, key))
			key = e->node_id;
		if (!cJSON_AddStringToObject(errs, key, e->message ? e->message : "")) {
			cJSON_Delete(errs);
			errs = NULL;
		}
	}
	return errs;
}

/* The JSON of sync: its fields with v2.7's total (nodes), success (applied) and errors. */
static cJSON *sync_json(const Xdrop__V1__SyncOutcome *sync)
{
	cJSON *s = json_from_msg(sync ? &sync->base : NULL), *errs;

	if (!s || !sync)
		return s;
	cJSON_DeleteItemFromObjectCaseSensitive(s, "errors");
	errs = sync_errors(sync);
	if (!errs || !cJSON_AddItemToObject(s, "errors", errs) ||
	    !cJSON_AddNumberToObject(s, "total", sync->nodes) ||
	    !cJSON_AddNumberToObject(s, "success", sync->applied)) {
		if (!cJSON_GetObjectItemCaseSensitive(s, "errors"))
			cJSON_Delete(errs);
		cJSON_Delete(s);
		return NULL;
	}
	return s;
}

cJSON *api_add_sync(cJSON *o, const Xdrop__V1__SyncOutcome *sync)
{
	cJSON *s = sync_json(sync);

	if (!o || !s || !cJSON_AddItemToObject(o, "sync", s)) {
		cJSON_Delete(s);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void api_free_msg(void *m)
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
	api_free_msg(resp);
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
	cJSON *o = cJSON_CreateObject(), *up = NULL, *compat;

	if (rq->token && *rq->token &&
	    !api_call(rq, &xdrop__v1__stats_service__descriptor, "Info", &req.base, &resp, &st))
		up = json_from_msg(resp);
	api_free_msg(resp);
	if (!up)
		up = cJSON_CreateNull();
	if (!o || !up || !cJSON_AddStringToObject(o, "name", XDROP_GATEWAY_NAME) ||
	    !cJSON_AddStringToObject(o, "version", XDROP_GATEWAY_VERSION) ||
	    !cJSON_AddStringToObject(o, "status", "ok") ||
	    !cJSON_AddStringToObject(o, "mode", rq->gw->cfg->node_mode ? "node" : "controller") ||
	    !cJSON_AddBoolToObject(o, "auth_enabled", rq->gw->cfg->auth_enabled) ||
	    !(compat = cJSON_AddObjectToObject(o, "compat")) ||
	    !cJSON_AddStringToObject(compat, "xdrop2", "2.7") ||
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
	api_free_msg(resp);
	return err;
}

/* The answer of the auth routes when auth.enabled is false: 200 {"success": true,
 * "message": message, "authenticated": true, "auth_enabled": false} (v2.7's UI reads
 * success and authenticated). Returns 0. */
static int auth_disabled(struct http_reply *rp, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (o && (!cJSON_AddBoolToObject(o, "success", true) ||
		  !cJSON_AddStringToObject(o, "message", message) ||
		  !cJSON_AddBoolToObject(o, "authenticated", true) ||
		  !cJSON_AddBoolToObject(o, "auth_enabled", false))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, 200, o);
}

/* The session cookie for a new session acting with key, and the login reply. */
static int login_reply(struct http_request *rq, struct http_reply *rp, const char *key,
		       const char *name, const char *scope)
{
	const struct gw_config *c = rq->gw->cfg;
	char token[80], cookie[256];
	int err = auth_session_new(rq->gw->auth, key, scope, token, sizeof(token));
	cJSON *o;

	if (err)
		return http_error(rp, 500, NULL, "cannot create a session: %s", strerror(-err));
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%u%s",
		 XDROP_SESSION_COOKIE, token, c->session_ttl_s, c->https_cert ? "; Secure" : "");
	explicit_bzero(token, sizeof(token));
	rp->set_cookie = strdup(cookie);
	explicit_bzero(cookie, sizeof(cookie));
	o = cJSON_CreateObject();
	if (!rp->set_cookie || !o || !cJSON_AddBoolToObject(o, "success", true) ||
	    !cJSON_AddStringToObject(o, "message", "ok") ||
	    !cJSON_AddStringToObject(o, "username", name) ||
	    !cJSON_AddStringToObject(o, "scope", scope)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, 200, o);
}

/* v2.7's {"username", "password"} (or {"password"} alone) against auth.web_username and
 * the stored hash; the session acts with upstream.token (its scope). Failures are 401
 * (and count in the limiter, routes.c). Takes body over. */
static int web_login(struct http_request *rq, struct http_reply *rp, cJSON *body)
{
	const struct gw_config *c = rq->gw->cfg;
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "username");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");
	char name[128], scope[32];
	struct rpc_status st;
	bool ok;

	ok = cJSON_IsString(p) && webpass_verify(c->web_password_hash, p->valuestring) &&
	     (!u || (cJSON_IsString(u) && strlen(u->valuestring) == strlen(c->web_username) &&
		     auth_ct_equal(u->valuestring, c->web_username, strlen(c->web_username))));
	cJSON_Delete(body);
	if (!ok) {
		atomic_fetch_add(&rq->gw->ctr.login_failed, 1);
		return http_error(rp, 401, NULL, "unauthorized");
	}
	if (whoami(rq, c->upstream_token, name, sizeof(name), scope, sizeof(scope), &st))
		return api_fail(rp, &st, NULL);
	return login_reply(rq, rp, c->upstream_token, c->web_username, scope);
}

/* Whether body is a password login: it names a username (v2.7's UI), or its only
 * credential is a "password" that matches the stored hash (v2.7's API.md body); any other
 * body is a key login. */
static bool password_login(const struct gw_config *c, const cJSON *body)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");

	if (cJSON_GetObjectItemCaseSensitive(body, "username"))
		return true;
	if (cJSON_GetObjectItemCaseSensitive(body, "key") ||
	    cJSON_GetObjectItemCaseSensitive(body, "api_key") || !cJSON_IsString(p))
		return false;
	return webpass_verify(c->web_password_hash, p->valuestring);
}

int api_login(struct http_request *rq, struct http_reply *rp)
{
	const struct gw_config *c = rq->gw->cfg;
	const cJSON *k;
	cJSON *body = NULL;
	char name[128], scope[32];
	struct rpc_status st;
	int err;

	if (!c->auth_enabled)
		return auth_disabled(rp, "auth disabled");
	/* failed logins are limited with every other credential (http.c, auth.h) */
	if (api_body_json(rq, rp, &body))
		return 0;
	if (c->web_username && cJSON_IsObject(body) && password_login(c, body))
		return web_login(rq, rp, body);
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
	err = login_reply(rq, rp, k->valuestring, name, scope);
	cJSON_Delete(body);
	return err;
}

int api_logout(struct http_request *rq, struct http_reply *rp)
{
	char cookie[160];
	cJSON *o = cJSON_CreateObject();

	auth_session_end(rq->gw->auth, rq);
	snprintf(cookie, sizeof(cookie), "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
		 XDROP_SESSION_COOKIE, rq->gw->cfg->https_cert ? "; Secure" : "");
	rp->set_cookie = strdup(cookie);
	if (o && (!cJSON_AddBoolToObject(o, "success", true) ||
		  !cJSON_AddStringToObject(o, "message", "logged out"))) {
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

	if (!rq->gw->cfg->auth_enabled)
		return auth_disabled(rp, "ok");
	if (!rq->token || !*rq->token)
		return http_error(rp, 401, NULL, "unauthorized");
	if (whoami(rq, rq->token, name, sizeof(name), scope, sizeof(scope), &st))
		return api_fail(rp, &st, NULL);
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddStringToObject(o, "message", "ok") ||
		  !cJSON_AddStringToObject(o, "username", name) ||
		  !cJSON_AddStringToObject(o, "scope", scope) ||
		  !cJSON_AddBoolToObject(o, "authenticated", true) ||
		  !cJSON_AddBoolToObject(o, "auth_enabled", true) ||
		  !cJSON_AddBoolToObject(o, "session", rq->cookie_auth))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_json(rp, 200, o);
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
	cJSON *o;

	if (cache) {
		cache_key_of(rq->token ? rq->token : "", &key);
		if (!cache_get(cache, &key, &body, &len)) {
			atomic_fetch_add(&rq->gw->ctr.stats_cached, 1);
			return reply_body(rp, body, len);
		}
	}
	asked = clock_mono_ms();
	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "Get", &req.base, &resp, &st))
		return api_fail(rp, &st, NULL);
	o = json_from_stats((const void *)resp);
	if (o && api_compat_stats(rq, o, (const void *)resp)) {
		cJSON_Delete(o);
		o = NULL;
	}
	body = json_print(o, &len);
	api_free_msg(resp);
	if (!body)
		return http_json(rp, 200, NULL); /* out of memory: 500 */
	if (cache)
		cache_put(cache, &key, asked, body, len);
	return reply_body(rp, body, len);
}

/* ---- keys (admin only) ---- */

int api_require_admin(struct http_request *rq, struct http_reply *rp)
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

	if (api_require_admin(rq, rp) || api_body_json(rq, rp, &body))
		return 0;
	rc = json_to_msg(body, &xdrop__v1__create_key_request__descriptor, "", NULL, &req, &e);
	cJSON_Delete(body);
	if (rc)
		return api_bad_json(rp, &e, rc);
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
		http_json(rp, 201, api_success_with("key", json_from_msg(resp)));
	}
	api_free_msg(resp);
	api_free_msg(req);
	return 0;
}
