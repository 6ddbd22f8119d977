// SPDX-License-Identifier: MIT
/*
 * service: the agent's RPC API (node level): HealthService, RuleService,
 * WhitelistService, StatsService and AgentService, over lib/rpc.
 *
 * Authentication: the node token (node:<id>:<key>) and the admin keys from the config may
 * do everything; read-only keys may read. The controller, which keeps only a record of the
 * node key, calls with the token derived from the beacon key (lib/nodekey.h), good for
 * AgentService.ForceSync, RuleStats and TopTalkers only. Ping needs no token. An
 * agent managed by a controller refuses rule and whitelist writes (FAILED_PRECONDITION):
 * the controller is the source of truth and its next snapshot would undo them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "nodekey.h"
#include "pbfield.h"
#include "service.h"

enum scope { SCOPE_READ = 1, SCOPE_ADMIN = 2 };

static int scope_admin = SCOPE_ADMIN, scope_read = SCOPE_READ;

/* Constant-time comparison of two tokens (length leaks, content does not). */
static bool token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = (unsigned char)(la != lb);

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

static enum rpc_code auth(struct rpc_call *call, const char *token, void *arg)
{
	struct service *sv = arg;
	const struct agent_config *c = sv->cfg;
	bool write;

	if (!strcmp(rpc_call_service(call), "xdrop.v1.HealthService"))
		return RPC_OK;
	if (!token || !*token)
		return rpc_call_error(call, RPC_UNAUTHENTICATED, NULL, "an API key is required");
	write = strcmp(rpc_call_method(call), "List") && strcmp(rpc_call_method(call), "Get") &&
		strcmp(rpc_call_method(call), "Top") && strcmp(rpc_call_method(call), "Info") &&
		strcmp(rpc_call_method(call), "GetStats") &&
		strcmp(rpc_call_method(call), "RuleStats") &&
		strcmp(rpc_call_method(call), "TopTalkers") &&
		strcmp(rpc_call_method(call), "History");
	if (sv->node_token[0] && token_eq(token, sv->node_token)) {
		rpc_call_set_principal(call, &scope_admin);
		return RPC_OK;
	}
	if (sv->ctl_token[0] && token_eq(token, sv->ctl_token)) {
		if (strcmp(rpc_call_service(call), "xdrop.v1.AgentService") ||
		    (strcmp(rpc_call_method(call), "ForceSync") &&
		     strcmp(rpc_call_method(call), "RuleStats") &&
		     strcmp(rpc_call_method(call), "TopTalkers")))
			return rpc_call_error(
			    call, RPC_PERMISSION_DENIED, NULL,
			    "the controller's token only syncs and reads counters and talkers");
		rpc_call_set_principal(call, &scope_admin);
		return RPC_OK;
	}
	for (size_t i = 0; i < c->n_admin_keys; i++) {
		if (token_eq(token, c->admin_keys[i])) {
			rpc_call_set_principal(call, &scope_admin);
			return RPC_OK;
		}
	}
	for (size_t i = 0; i < c->n_read_keys; i++) {
		if (token_eq(token, c->read_keys[i])) {
			if (write)
				return rpc_call_error(call, RPC_PERMISSION_DENIED, NULL,
						      "a read-only key cannot change anything");
			rpc_call_set_principal(call, &scope_read);
			return RPC_OK;
		}
	}
	return rpc_call_error(call, RPC_UNAUTHENTICATED, NULL, "unknown API key");
}

static enum rpc_code from_status(struct rpc_call *call, const struct rpc_status *st, int err)
{
	enum rpc_code code = st->code != RPC_OK ? st->code : rpc_code_from_errno(err);

	return rpc_call_error(call, code, st->field[0] ? st->field : NULL, "%s",
			      st->message[0] ? st->message : strerror(-err));
}

static enum rpc_code refuse_managed(struct service *sv, struct rpc_call *call)
{
	if (!sv->cfg->controller_rpc)
		return RPC_OK;
	return rpc_call_error(call, RPC_FAILED_PRECONDITION, NULL,
			      "this node is managed by the controller at %s: change rules there",
			      sv->cfg->controller_rpc);
}

static Xdrop__V1__SyncOutcome *local_outcome(struct service *sv, struct rpc_call *call)
{
	Xdrop__V1__SyncOutcome *o = rpc_call_alloc(call, sizeof(*o));

	if (!o)
		return NULL;
	xdrop__v1__sync_outcome__init(o);
	o->nodes = 1;
	o->applied = 1;
	o->revision = ruleset_revision(sv->rs);
	return o;
}

static void free_msg(void *p)
{
	ruleset_free(p);
}

static void free_ids(void *p)
{
	char **ids = p;

	for (size_t i = 0; ids && ids[i]; i++)
		free(ids[i]);
	free(ids);
}

/* Adds the entry's counters to a copy about to be returned, when its kind has them. They
 * belong to the copy: ruleset_free frees them with it. */
static void attach_stats(struct service *sv, const struct ruleset_kind *k, ProtobufCMessage *m)
{
	Xdrop__V1__RuleStats *rs;
	ProtobufCMessage *old;
	struct stats_rule sr;

	if (!k->stats_field || !(rs = malloc(sizeof(*rs))))
		return;
	xdrop__v1__rule_stats__init(rs);
	if (stats_rule(sv->stats, pbf_str(m, k->id_field), &sr) == 0)
		stats_rule_to_pb(&sr, rs);
	old = pbf_get_ptr(m, k->stats_field);
	if (old)
		protobuf_c_message_free_unpacked(old, NULL);
	pbf_set_ptr(m, k->stats_field, rs);
}

/* ---- HealthService ---- */

static enum rpc_code h_ping(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__PingRequest *q = (const void *)req;
	Xdrop__V1__PingReply *r = (void *)resp;

	(void)arg;
	r->data = q->data;
	r->at = clock_wall_ns();
	r->server = "xdrop-agent";
	(void)call;
	return RPC_OK;
}

/* ---- RuleService and WhitelistService: one collection each ---- */

/* The RPC service of each kind; it has the generic methods its proto service declares
 * (the whitelist has no Update). Requests and replies are reached by the field names in
 * the kind's descriptor (agent/ruleset.h). */
static const struct collection {
	const ProtobufCServiceDescriptor *svc;
	const struct ruleset_kind *kind;
} collections[] = {
    {&xdrop__v1__rule_service__descriptor, &ruleset_rules},
    {&xdrop__v1__whitelist_service__descriptor, &ruleset_whitelist},
};

/* The kind a call of a collection's service is about. */
static const struct ruleset_kind *kind_of(struct rpc_call *call)
{
	for (size_t i = 0; i < sizeof(collections) / sizeof(collections[0]); i++)
		if (!strcmp(rpc_call_service(call), collections[i].svc->name))
			return collections[i].kind;
	return &ruleset_rules; /* not reached: handlers are registered for these only */
}

static enum rpc_code c_list(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const struct ruleset_kind *k = kind_of(call);
	int err = ruleset_list(sv->rs, k, req, resp);
	size_t n;
	ProtobufCMessage **v = pbf_repeated(resp, k->list_field, &n);

	for (size_t i = 0; i < n; i++) {
		attach_stats(sv, k, v[i]);
		rpc_call_defer(call, free_msg, v[i]);
	}
	rpc_call_defer(call, free, v);
	rpc_call_defer(call, free, pbf_get_ptr(resp, "pagination"));
	if (err)
		return rpc_call_error(call, RPC_INTERNAL, NULL, "%s", strerror(-err));
	return RPC_OK;
}

static enum rpc_code c_get(struct rpc_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const struct ruleset_kind *k = kind_of(call);
	const char *id = pbf_str(req, "id");
	ProtobufCMessage *m = ruleset_get(sv->rs, k, id);

	if (!m)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no %s with id %s", k->noun, id);
	attach_stats(sv, k, m);
	/* the reply is resp: the found entry's fields go into it, m is freed after packing */
	memcpy(resp, m, k->msg->sizeof_message);
	rpc_call_defer(call, free_msg, m);
	return RPC_OK;
}

/* Create and Update: the request's entry (required) stored as a new revision; the reply
 * holds the stored entry and the write's outcome. */
static enum rpc_code c_write(struct rpc_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const struct ruleset_kind *k = kind_of(call);
	const ProtobufCMessage *body = pbf_get_ptr(req, k->item_field);
	struct rpc_status st = {0};
	ProtobufCMessage *out = NULL;
	enum rpc_code c = refuse_managed(sv, call);
	size_t nmask;
	char **mask = pbf_repeated(req, "update_mask", &nmask);
	bool merged = false;
	int err;

	if (c != RPC_OK)
		return c;
	if (!body)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, k->item_field, "%s is required",
				      k->item_field);
	if (!strcmp(rpc_call_method(call), "Update"))
		err = ruleset_update(sv->rs, k, pbf_str(req, "id"), body, mask, nmask, &out, &st);
	else if (pbf_int(req, "merge_anomaly")) /* rules: v2.7's anomaly merge */
		err = ruleset_create_merge(sv->rs, k, body, &out, &merged, &st);
	else
		err = ruleset_create(sv->rs, k, body, &out, &st);
	if (err)
		return from_status(call, &st, err);
	if (merged)
		pbf_set_int(resp, "merged", 1);
	pbf_set_ptr(resp, k->item_field, out);
	pbf_set_ptr(resp, "sync", local_outcome(sv, call));
	rpc_call_defer(call, free_msg, out);
	return RPC_OK;
}

static enum rpc_code c_delete(struct rpc_call *call, const ProtobufCMessage *req,
			      ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const struct ruleset_kind *k = kind_of(call);
	const Xdrop__V1__DeleteRequest *q = (const void *)req;
	Xdrop__V1__DeleteReply *r = (void *)resp;
	struct rpc_status st = {0};
	enum rpc_code c = refuse_managed(sv, call);
	char *id = q->id ? q->id : "";
	size_t len = strlen(k->noun) + sizeof(" deleted");
	int err;

	if (c != RPC_OK)
		return c;
	err = ruleset_delete(sv->rs, k, &id, 1, &st);
	if (err)
		return from_status(call, &st, err);
	r->sync = local_outcome(sv, call);
	r->message = rpc_call_alloc(call, len);
	if (r->message)
		snprintf(r->message, len, "%s deleted", k->noun);
	return RPC_OK;
}

static enum rpc_code batch_reply(struct service *sv, struct rpc_call *call,
				 Xdrop__V1__BatchReply *r, int err, const struct rpc_status *st,
				 size_t bad, char **ids, size_t n, bool deleted)
{
	if (err) {
		Xdrop__V1__BatchFailure *f = rpc_call_alloc(call, sizeof(*f));
		Xdrop__V1__Error *e = rpc_call_alloc(call, sizeof(*e));
		Xdrop__V1__BatchFailure **fp = rpc_call_alloc(call, sizeof(*fp));

		/* all or nothing: the whole batch is refused, the failing item is named */
		if (!f || !e || !fp)
			return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
		xdrop__v1__batch_failure__init(f);
		xdrop__v1__error__init(e);
		e->code = (Xdrop__V1__Code)(st->code ? st->code : rpc_code_from_errno(err));
		e->message = rpc_call_strdup(call, st->message);
		e->field = rpc_call_strdup(call, st->field);
		f->index = (uint32_t)bad;
		f->error = e;
		fp[0] = f;
		r->failed = fp;
		r->n_failed = 1;
		return rpc_call_error(call, (enum rpc_code)e->code, st->field[0] ? st->field : NULL,
				      "item %zu: %s", bad, st->message);
	}
	if (deleted)
		r->deleted = (uint32_t)n;
	else
		r->added = (uint32_t)n;
	r->ids = ids;
	r->n_ids = ids ? n : 0;
	r->sync = local_outcome(sv, call);
	return RPC_OK;
}

/* The entries a batch create stored, as stored (the reply's rules or entries, as the
 * controller answers them). */
static enum rpc_code batch_stored(struct service *sv, struct rpc_call *call,
				  const struct ruleset_kind *k, char **ids, size_t n,
				  ProtobufCMessage *resp)
{
	ProtobufCMessage **v = rpc_call_alloc(call, (n ? n : 1) * sizeof(*v));
	size_t got = 0;

	if (!v)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v[got] = ruleset_get(sv->rs, k, ids[i]);
		/* one removed since (expired, deleted by another caller) is left out */
		if (v[got])
			rpc_call_defer(call, free_msg, v[got++]);
	}
	pbf_set_repeated(resp, k->list_field, v, got);
	return RPC_OK;
}

static enum rpc_code c_batch_create(struct rpc_call *call, const ProtobufCMessage *req,
				    ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const struct ruleset_kind *k = kind_of(call);
	struct rpc_status st = {0};
	enum rpc_code c = refuse_managed(sv, call);
	size_t n, bad = 0;
	ProtobufCMessage **msgs = pbf_repeated(req, k->list_field, &n);
	char **ids = NULL;
	int err;

	if (c != RPC_OK)
		return c;
	err = ruleset_create_many(sv->rs, k, msgs, n, &ids, &st, &bad);
	if (ids)
		rpc_call_defer(call, free_ids, ids);
	c = batch_reply(sv, call, (void *)resp, err, &st, bad, ids, n, false);
	return c == RPC_OK ? batch_stored(sv, call, k, ids, n, resp) : c;
}

static enum rpc_code c_batch_delete(struct rpc_call *call, const ProtobufCMessage *req,
				    ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const Xdrop__V1__BatchDeleteRequest *q = (const void *)req;
	struct rpc_status st = {0};
	enum rpc_code c = refuse_managed(sv, call);
	size_t bad = 0;
	int err;

	if (c != RPC_OK)
		return c;
	err = ruleset_delete_many(sv->rs, kind_of(call), q->ids, q->n_ids, &st, &bad);
	return batch_reply(sv, call, (void *)resp, err, &st, bad, err ? NULL : q->ids, q->n_ids,
			   true);
}

/* The generic methods, registered for every collection whose proto service has them. */
static const struct {
	const char *method;
	rpc_handler_fn fn;
} collection_methods[] = {
    {"List", c_list},
    {"Get", c_get},
    {"Create", c_write},
    {"Update", c_write},
    {"Delete", c_delete},
    {"BatchCreate", c_batch_create},
    {"BatchDelete", c_batch_delete},
};

/* RuleService.Top: the rules with the highest drop rate, with their counters. */
static enum rpc_code r_top(struct rpc_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const Xdrop__V1__TopRulesRequest *q = (const void *)req;
	Xdrop__V1__ListRulesResponse *r = (void *)resp;
	size_t limit = q->limit ? (q->limit > 100 ? 100 : q->limit) : 10, n;
	char **ids = rpc_call_alloc(call, limit * sizeof(*ids));
	struct stats_rule *sr = rpc_call_alloc(call, limit * sizeof(*sr));

	if (!ids || !sr)
		return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
	n = stats_top(sv->stats, limit, ids, sr);
	r->rules = rpc_call_alloc(call, (n + 1) * sizeof(*r->rules));
	for (size_t i = 0; r->rules && i < n; i++) {
		ProtobufCMessage *rule = ruleset_get(sv->rs, &ruleset_rules, ids[i]);

		free(ids[i]);
		if (!rule)
			continue;
		attach_stats(sv, &ruleset_rules, rule);
		rpc_call_defer(call, free_msg, rule);
		r->rules[r->n_rules++] = (Xdrop__V1__Rule *)rule;
	}
	r->count = (uint32_t)r->n_rules;
	return RPC_OK;
}

/* ---- stats and agent ---- */

static void fill_node_stats(struct service *sv, struct rpc_call *call, Xdrop__V1__NodeStats *ns)
{
	Xdrop__V1__Counters *c = rpc_call_alloc(call, sizeof(*c));
	Xdrop__V1__Rates *r = rpc_call_alloc(call, sizeof(*r));
	Xdrop__V1__SystemStats *sys = rpc_call_alloc(call, sizeof(*sys));
	Xdrop__V1__AttachState *a = rpc_call_alloc(call, sizeof(*a));
	Xdrop__V1__Capacity *cap = rpc_call_alloc(call, sizeof(*cap));

	if (!c || !r || !sys || !a || !cap)
		return;
	xdrop__v1__capacity__init(cap);
	stats_capacity(sv->stats, cap);
	ns->capacity = cap;
	ns->agent_version = XDROP_VERSION;
	ns->agent_uptime_s = stats_agent_uptime_s(sv->stats);
	xdrop__v1__counters__init(c);
	xdrop__v1__rates__init(r);
	xdrop__v1__system_stats__init(sys);
	xdrop__v1__attach_state__init(a);
	stats_fill(sv->stats, c, r, sys);
	if (sv->attach_fill)
		sv->attach_fill(sv->attach_arg, a);
	ns->node_id = (char *)(sv->cfg->node_id ? sv->cfg->node_id : "");
	ns->counters = c;
	ns->rates = r;
	ns->system = sys;
	ns->attach = a;
	ruleset_counts(sv->rs, &ns->rules, &ns->whitelist);
	ns->at = clock_wall_ns();
}

static enum rpc_code s_get(struct rpc_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	Xdrop__V1__StatsReply *r = (void *)resp;
	Xdrop__V1__NodeStats *ns = rpc_call_alloc(call, sizeof(*ns));
	Xdrop__V1__NodeStats **nsp = rpc_call_alloc(call, sizeof(*nsp));
	Xdrop__V1__XdpInfo *x = rpc_call_alloc(call, sizeof(*x));

	(void)req;
	if (!ns || !nsp || !x)
		return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
	xdrop__v1__node_stats__init(ns);
	xdrop__v1__xdp_info__init(x);
	fill_node_stats(sv, call, ns);
	r->totals = ns->counters;
	r->rates = ns->rates;
	nsp[0] = ns;
	r->nodes = nsp;
	r->n_nodes = 1;
	x->program = "xdrop";
	x->version = XDROP_VERSION;
	x->max_rules = sv->cfg->max_rules;
	x->max_cidr = sv->cfg->max_cidr_rules;
	x->max_whitelist = sv->cfg->max_rules;
	r->xdp = x;
	r->rules = ns->rules;
	r->whitelist = ns->whitelist;
	r->revision = ruleset_revision(sv->rs);
	r->at = ns->at;
	return RPC_OK;
}

static enum rpc_code s_history(struct rpc_call *call, const ProtobufCMessage *req,
			       ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const Xdrop__V1__HistoryRequest *q = (const void *)req;
	Xdrop__V1__HistoryReply *r = (void *)resp;
	struct stats_point *pts = NULL;
	int64_t since = q->seconds ? clock_wall_ns() - (int64_t)q->seconds * 1000000000 : 0;
	size_t n = stats_history(sv->stats, since, &pts), step = q->step ? q->step : 1, k = 0;

	rpc_call_defer(call, free, pts);
	r->points = rpc_call_alloc(call, (n / step + 1) * sizeof(*r->points));
	for (size_t i = 0; r->points && i < n; i += step) {
		Xdrop__V1__HistoryPoint *p = rpc_call_alloc(call, sizeof(*p));
		Xdrop__V1__Rates *rt = rpc_call_alloc(call, sizeof(*rt));
		Xdrop__V1__Counters *c = rpc_call_alloc(call, sizeof(*c));

		if (!p || !rt || !c)
			break;
		xdrop__v1__history_point__init(p);
		xdrop__v1__rates__init(rt);
		xdrop__v1__counters__init(c);
		p->at = pts[i].at;
		stats_point_fill(&pts[i], c, rt);
		p->rates = rt;
		p->counters = c;
		r->points[k++] = p;
	}
	r->n_points = k;
	return RPC_OK;
}

static enum rpc_code s_info(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	Xdrop__V1__InfoReply *r = (void *)resp;
	char *hash = rpc_call_alloc(call, RULEHASH_HEX);

	(void)req;
	if (!hash)
		return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
	r->name = "xdrop-agent";
	r->version = XDROP_VERSION;
	r->mode = "node";
	ruleset_published(sv->rs, &r->revision, hash);
	r->content_hash = hash;
	r->started_at = sv->started_at;
	r->node_id = (char *)(sv->cfg->node_id ? sv->cfg->node_id : "");
	r->protected_flows = sv->protected_flows;
	r->n_protected_flows = sv->n_protected_flows;
	ruleset_switches(sv->rs, &r->switches, &r->grace_periods);
	return RPC_OK;
}

static enum rpc_code s_rule_stats(struct rpc_call *call, const ProtobufCMessage *req,
				  ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const Xdrop__V1__RuleStatsRequest *q = (const void *)req;
	Xdrop__V1__RuleStatsReply *r = (void *)resp;

	if (q->n_ids == 0) {
		/* all rules and whitelist entries that matched: the busiest first, bounded */
		size_t lim = 1000, n;
		char **ids = rpc_call_alloc(call, lim * sizeof(*ids));
		struct stats_rule *sr = rpc_call_alloc(call, lim * sizeof(*sr));

		if (!ids || !sr)
			return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
		n = stats_busiest(sv->stats, lim, ids, sr);
		r->rules = rpc_call_alloc(call, (n + 1) * sizeof(*r->rules));
		for (size_t i = 0; r->rules && i < n; i++) {
			Xdrop__V1__RuleCounter *rc = rpc_call_alloc(call, sizeof(*rc));

			if (!rc)
				break;
			xdrop__v1__rule_counter__init(rc);
			rc->id = rpc_call_strdup(call, ids[i]);
			stats_rule_to_counter(&sr[i], rc);
			r->rules[r->n_rules++] = rc;
		}
		for (size_t i = 0; i < n; i++)
			free(ids[i]);
		return RPC_OK;
	}
	if (q->n_ids > 100000)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "ids", "at most 100000 ids");
	r->rules = rpc_call_alloc(call, (q->n_ids + 1) * sizeof(*r->rules));
	for (size_t i = 0; r->rules && i < q->n_ids; i++) {
		Xdrop__V1__RuleCounter *rc = rpc_call_alloc(call, sizeof(*rc));
		struct stats_rule sr;

		if (!rc)
			break;
		xdrop__v1__rule_counter__init(rc);
		rc->id = q->ids[i];
		if (stats_rule(sv->stats, q->ids[i], &sr) == 0)
			stats_rule_to_counter(&sr, rc);
		r->rules[r->n_rules++] = rc;
	}
	return RPC_OK;
}

static enum rpc_code a_get_stats(struct rpc_call *call, const ProtobufCMessage *req,
				 ProtobufCMessage *resp, void *arg)
{
	(void)req;
	fill_node_stats(arg, call, (void *)resp);
	return RPC_OK;
}

static enum rpc_code a_force_sync(struct rpc_call *call, const ProtobufCMessage *req,
				  ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	Xdrop__V1__ForceSyncReply *r = (void *)resp;
	struct rpc_status st = {0};
	char *hash = rpc_call_alloc(call, RULEHASH_HEX);
	int err;

	(void)req;
	if (!sv->sync)
		return rpc_call_error(call, RPC_FAILED_PRECONDITION, NULL,
				      "standalone node: there is no controller to sync from");
	err = sync_now(sv->sync, &st);
	if (err)
		return from_status(call, &st, err);
	ruleset_published(sv->rs, &r->revision, hash);
	if (hash)
		r->content_hash = hash;
	return RPC_OK;
}

static enum rpc_code a_apply_chunk(struct rpc_call *call, const ProtobufCMessage *req,
				   ProtobufCMessage *resp, void *arg)
{
	struct service *sv = arg;
	const Xdrop__V1__SnapshotChunk *c = (const void *)req;
	Xdrop__V1__ApplyReply *r = (void *)resp;
	struct rpc_status st = {0};
	char *hash = rpc_call_alloc(call, RULEHASH_HEX);
	int err;

	if (c->chunk_index == 0)
		ruleset_stage_begin(sv->rs, c->revision, c->content_hash,
				    c->chunk_count ? c->chunk_count : 1);
	err = ruleset_stage_chunk(sv->rs, c, &st);
	if (!err && ruleset_stage_next(sv->rs) == (int)(c->chunk_count ? c->chunk_count : 1)) {
		err = ruleset_stage_commit(sv->rs, &st);
		r->complete = err == 0;
	}
	if (err)
		return from_status(call, &st, err);
	ruleset_published(sv->rs, &r->revision, hash);
	if (hash)
		r->content_hash = hash;
	return RPC_OK;
}

static int reg(struct rpc_server *srv, const ProtobufCServiceDescriptor *svc, const char *method,
	       rpc_handler_fn fn, struct service *sv)
{
	int err = rpc_server_register(srv, svc, method, fn, sv);

	if (err)
		log_error("register %s.%s: %s", svc->name, method, strerror(-err));
	return err;
}

int service_register(struct service *sv, struct rpc_server *srv)
{
	const struct {
		const ProtobufCServiceDescriptor *svc;
		const char *method;
		rpc_handler_fn fn;
	} regs[] = {
	    {&xdrop__v1__health_service__descriptor, "Ping", h_ping},
	    {&xdrop__v1__rule_service__descriptor, "Top", r_top},
	    {&xdrop__v1__stats_service__descriptor, "Get", s_get},
	    {&xdrop__v1__stats_service__descriptor, "History", s_history},
	    {&xdrop__v1__stats_service__descriptor, "Info", s_info},
	    {&xdrop__v1__stats_service__descriptor, "RuleStats", s_rule_stats},
	    {&xdrop__v1__agent_service__descriptor, "Info", s_info},
	    {&xdrop__v1__agent_service__descriptor, "ForceSync", a_force_sync},
	    {&xdrop__v1__agent_service__descriptor, "GetStats", a_get_stats},
	    {&xdrop__v1__agent_service__descriptor, "RuleStats", s_rule_stats},
	    {&xdrop__v1__agent_service__descriptor, "ApplySnapshotChunk", a_apply_chunk},
	};
	int err = 0;

	for (size_t i = 0; i < sizeof(collections) / sizeof(collections[0]) && !err; i++) {
		const ProtobufCServiceDescriptor *svc = collections[i].svc;

		for (size_t j = 0;
		     j < sizeof(collection_methods) / sizeof(collection_methods[0]) && !err; j++) {
			const char *method = collection_methods[j].method;

			if (protobuf_c_service_descriptor_get_method_by_name(svc, method))
				err = reg(srv, svc, method, collection_methods[j].fn, sv);
		}
	}
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]) && !err; i++)
		err = reg(srv, regs[i].svc, regs[i].method, regs[i].fn, sv);
	/* StatsService too: the gateway in node mode asks the agent what it would ask the
	 * controller (GET /api/v1/top) */
	sv->top.node_id = sv->cfg->node_id;
	if (!err)
		err = rpc_server_register(srv, &xdrop__v1__stats_service__descriptor, "TopTalkers",
					  talkers_rpc_top, &sv->top);
	if (!err)
		err = rpc_server_register(srv, &xdrop__v1__agent_service__descriptor, "TopTalkers",
					  talkers_rpc_top, &sv->top);
	if (err)
		log_error("register TopTalkers: %s", strerror(-err));
	return err;
}

rpc_auth_fn service_auth(void)
{
	return auth;
}

void service_tokens(struct service *sv)
{
	const struct agent_config *c = sv->cfg;
	uint8_t bkey[XDROP_NODEKEY_LEN];

	sv->node_token[0] = sv->ctl_token[0] = '\0';
	if (!c->node_id || !c->node_key)
		return;
	snprintf(sv->node_token, sizeof(sv->node_token), "node:%s:%s", c->node_id, c->node_key);
	nodekey_beacon_key(c->node_key, bkey);
	if (nodekey_ctl_token(c->node_id, bkey, sv->ctl_token, sizeof(sv->ctl_token)))
		sv->ctl_token[0] = '\0'; /* an id too long for a token: no controller calls */
	explicit_bzero(bkey, sizeof(bkey));
}

int service_start(struct service *sv, struct rpc_server **srv)
{
	const struct agent_config *c = sv->cfg;
	struct rpc_server_opts ro = {
	    .sz = sizeof(ro), .url = c->rpc_listen, .tls = &c->tls, .name = "agent"};
	int err;

	*srv = NULL;
	err = authlimit_open(&sv->guard, &c->auth_limit, service_auth(), sv); /* failed keys */
	if (err)
		return err;
	ro.auth = sv->guard ? authlimit_hook : service_auth();
	ro.auth_arg = sv->guard ? (void *)sv->guard : sv;
	err = rpc_server_open(srv, &ro);
	if (!err)
		err = service_register(sv, *srv);
	if (!err)
		err = rpc_server_start(*srv);
	if (err) {
		log_error("rpc on %s: %s", c->rpc_listen, strerror(-err));
		rpc_server_close(*srv);
		*srv = NULL;
	}
	return err;
}

void service_stop(struct service *sv, struct rpc_server *srv)
{
	rpc_server_close(srv);
	authlimit_close(sv->guard);
	sv->guard = NULL;
}
