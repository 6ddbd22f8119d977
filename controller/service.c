// SPDX-License-Identifier: MIT
/*
 * service: RPC handlers; see service.h. Each handler is short: unpacked request in,
 * module call, response filled with memory that lives until the reply is packed
 * (rpc_call_alloc, or store results released with rpc_call_defer).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "idempotency.h"
#include "log.h"
#include "rule.h"
#include "rulepb.h"
#include "rules.h"
#include "service.h"

#define SERVICE_WRITES 14 /* methods is_write() lists */

struct service {
	struct store *store;
	struct nodes *nodes;
	struct stats *stats;
	int64_t started_at;
	pthread_mutex_t snap_lock;
	struct store_snapshot *snaps[XDROP_SNAPSHOT_CACHE]; /* [0] newest */
	struct idem_method writes[SERVICE_WRITES];	    /* the wrapped write methods */
	size_t n_writes;
};

#define REQ(type, r)  const type *req = (const type *)(r)
#define RESP(type, r) type *resp = (type *)(r)

/* ---- helpers ----------------------------------------------------------------------------- */

static enum rpc_code store_fail(struct rpc_call *call, int err, const struct store_error *e)
{
	if (e && e->code != RPC_OK && e->message[0])
		return rpc_call_error(call, e->code, e->field[0] ? e->field : NULL, "%s",
				      e->message);
	if (err == -ENOSPC)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "%s", STORE_DISK_FULL);
	return rpc_call_error(call, rpc_code_from_errno(err), NULL, "%s", strerror(-err));
}

/* Rewrites n prepared rules (or entries) to their canonical spelling (lib/rulepb.h), the
 * text kept in call memory; an invalid one stays as written for the store to refuse. */
static bool canon_rules(struct rpc_call *call, Xdrop__V1__Rule *v, size_t n)
{
	struct rulepb_canon_buf *b = rpc_call_alloc(call, n * sizeof(*b));

	for (size_t i = 0; b && i < n; i++)
		rulepb_rule_canon(&v[i], &b[i]);
	return b != NULL;
}

static bool canon_wl(struct rpc_call *call, Xdrop__V1__WhitelistEntry *v, size_t n)
{
	struct rulepb_canon_buf *b = rpc_call_alloc(call, n * sizeof(*b));

	for (size_t i = 0; b && i < n; i++)
		rulepb_wl_canon(&v[i], &b[i]);
	return b != NULL;
}

static Xdrop__V1__SyncOutcome *outcome(struct service *s, struct rpc_call *call, uint64_t rev)
{
	Xdrop__V1__SyncOutcome *o = rpc_call_alloc(call, sizeof(*o));

	if (o) {
		xdrop__v1__sync_outcome__init(o);
		nodes_outcome(s->nodes, rev, o);
	}
	return o;
}

struct arr {
	void *v;
	size_t n;
	void (*fn)(void *v, size_t n);
};

static void arr_free(void *p)
{
	struct arr *a = p;

	a->fn(a->v, a->n);
}

static void free_rules_v(void *v, size_t n)
{
	store_free_rules(v, n);
}

static void free_wl_v(void *v, size_t n)
{
	store_free_wl(v, n);
}

static void free_deltas_v(void *v, size_t n)
{
	store_free_deltas(v, n);
}

static void free_points_v(void *v, size_t n)
{
	stats_free_points(v, n);
}

/* Releases v with fn after the reply is packed. */
static int defer_arr(struct rpc_call *call, void *v, size_t n, void (*fn)(void *, size_t))
{
	struct arr *a = rpc_call_alloc(call, sizeof(*a));

	if (!a) {
		fn(v, n);
		return -ENOMEM;
	}
	a->v = v;
	a->n = n;
	a->fn = fn;
	return rpc_call_defer(call, arr_free, a);
}

static void free_msg(void *p)
{
	protobuf_c_message_free_unpacked(p, NULL);
}

static void *call_alloc(void *ctx, size_t size)
{
	return rpc_call_alloc(ctx, size);
}

static Xdrop__V1__Pagination *pagination(struct rpc_call *call, uint32_t page, uint32_t limit,
					 uint64_t total)
{
	Xdrop__V1__Pagination *p = rpc_call_alloc(call, sizeof(*p));

	if (!p)
		return NULL;
	xdrop__v1__pagination__init(p);
	p->page = page ? page : 1;
	p->limit = limit ? limit : XDROP_STORE_LIST_DEFAULT;
	if (p->limit > XDROP_STORE_LIST_MAX)
		p->limit = XDROP_STORE_LIST_MAX;
	p->total = total;
	p->pages = (uint32_t)((total + p->limit - 1) / p->limit);
	return p;
}

static enum rpc_code check_order(struct rpc_call *call, const char *order, bool *desc)
{
	if (!order || !order[0] || strcmp(order, "asc") == 0)
		*desc = false;
	else if (strcmp(order, "desc") == 0)
		*desc = true;
	else
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "order",
				      "order must be \"asc\" or \"desc\"");
	return RPC_OK;
}

/* Attaches summed counters (malloc'd, freed with the rule) to each rule. */
static void attach_stats(const struct rule_sum *sums, size_t nsums, Xdrop__V1__Rule **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct rule_sum *rs = stats_rule_find(sums, nsums, v[i]->id);
		Xdrop__V1__RuleStats *st = malloc(sizeof(*st));

		if (!st)
			continue;
		xdrop__v1__rule_stats__init(st);
		if (rs) {
			st->match_count = rs->match_count;
			st->drop_count = rs->drop_count;
			st->pps = rs->pps;
		}
		v[i]->stats = st;
	}
}

/* ---- RuleService --------------------------------------------------------------------------- */

static enum rpc_code rule_list(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__ListRulesRequest, r);
	RESP(Xdrop__V1__ListRulesResponse, out);
	struct service *s = arg;
	struct store_query q = {.page = req->page,
				.limit = req->limit,
				.search = req->search,
				.sort = req->sort,
				.enabled = -1,
				.action = req->action};
	struct rule_sum *sums = NULL;
	Xdrop__V1__Rule **v = NULL;
	size_t n = 0, nsums = 0;
	uint64_t total = 0;
	enum rpc_code rc;
	uint8_t act;
	int err;

	if ((rc = check_order(call, req->order, &q.desc)) != RPC_OK)
		return rc;
	if (!store_sort_field_ok(req->sort, false))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "sort",
				      "cannot sort rules by \"%.64s\"", req->sort);
	if (req->enabled[0])
		q.enabled = strcmp(req->enabled, "true") == 0	 ? 1
			    : strcmp(req->enabled, "false") == 0 ? 0
								 : -2;
	if (q.enabled == -2)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "enabled",
				      "enabled must be \"\", \"true\" or \"false\"");
	if (req->action[0] && rule_parse_action(req->action, &act) < 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "action", "unknown action %.64s",
				      req->action);
	if (req->limit > XDROP_STORE_LIST_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "limit", "limit is at most %d",
				      XDROP_STORE_LIST_MAX);
	err = store_rule_list(s->store, &q, &v, &n, &total);
	if (err)
		return store_fail(call, err, NULL);
	if (stats_rule_counters(s->stats, false, &sums, &nsums) == 0) {
		attach_stats(sums, nsums, v, n);
		free(sums);
	}
	defer_arr(call, v, n, free_rules_v);
	resp->rules = v;
	resp->n_rules = n;
	resp->count = (uint32_t)n;
	resp->pagination = pagination(call, req->page, req->limit, total);
	return RPC_OK;
}

static enum rpc_code rule_get(struct rpc_call *call, const ProtobufCMessage *r,
			      ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__GetRuleRequest, r);
	RESP(Xdrop__V1__Rule, out);
	struct service *s = arg;
	struct rule_sum *sums = NULL;
	Xdrop__V1__Rule *got = NULL;
	size_t nsums = 0;
	int err = store_rule_get(s->store, req->id, &got);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no rule %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	if (stats_rule_counters(s->stats, false, &sums, &nsums) == 0) {
		attach_stats(sums, nsums, &got, 1);
		free(sums);
	}
	*resp = *got; /* shallow: got's memory lives until the reply is packed */
	rpc_call_defer(call, free_msg, got);
	return RPC_OK;
}

static enum rpc_code rule_create(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__CreateRuleRequest, r);
	RESP(Xdrop__V1__RuleWriteReply, out);
	struct service *s = arg;
	Xdrop__V1__Rule *rule = rpc_call_alloc(call, sizeof(*rule));
	char *id = rpc_call_alloc(call, XDROP_UUID_LEN);
	struct store_error e = {0};
	uint64_t rev = 0;
	size_t idx;
	int err;

	if (!req->rule)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule", "rule is required");
	if (!rule || !id)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	rules_prepare(req->rule, rule, id, store_now_ns());
	if (!canon_rules(call, rule, 1))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	resp->rule = rule; /* before the commit: the idempotency record holds it */
	err = store_rules_add(s->store, &rule, 1, "rule", &rev, &idx, &e);
	if (err)
		return store_fail(call, err, &e);
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code rule_update(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__UpdateRuleRequest, r);
	RESP(Xdrop__V1__RuleWriteReply, out);
	struct service *s = arg;
	Xdrop__V1__Rule *cur = NULL, *rule = rpc_call_alloc(call, sizeof(*rule));
	struct store_error e = {0};
	const char *bad = NULL;
	uint64_t rev = 0;
	int err;

	if (!req->rule)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule", "rule is required");
	if (!rule)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	if (req->rule->id[0] && strcmp(req->rule->id, req->id) != 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule.id",
				      "rule.id differs from id");
	err = store_rule_get(s->store, req->id, &cur);
	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no rule %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	rpc_call_defer(call, free_msg, cur);
	if (rules_merge(cur, req->rule, req->update_mask, req->n_update_mask, store_now_ns(), rule,
			&bad) < 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "update_mask",
				      "\"%.64s\" is not an updatable rule field", bad);
	if (!canon_rules(call, rule, 1))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	resp->rule = rule;
	err = store_rule_replace(s->store, rule, &rev, &e);
	if (err)
		return store_fail(call, err, &e);
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code delete_common(struct rpc_call *call, struct service *s, bool wl,
				   const char *id, Xdrop__V1__DeleteReply *resp)
{
	const char *ids[1] = {id};
	struct store_error e = {0};
	uint64_t rev = 0;
	size_t idx;
	int err;

	resp->message = rpc_call_strdup(call, wl ? "whitelist entry deleted" : "rule deleted");
	err = wl ? store_wl_delete(s->store, ids, 1, &rev, &idx, &e)
		 : store_rules_delete(s->store, ids, 1, &rev, &idx, &e);
	if (err)
		return store_fail(call, err, &e);
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code rule_delete(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__DeleteRequest, r);

	return delete_common(call, arg, false, req->id, (Xdrop__V1__DeleteReply *)out);
}

/* The ids a batch adds if the store takes ptrs[0..live) (set before each attempt, so that
 * the response is complete when the change commits). */
static void batch_ids(Xdrop__V1__BatchReply *resp, void **ptrs, size_t live, bool rules)
{
	for (size_t i = 0; i < live; i++)
		resp->ids[i] = rules ? ((Xdrop__V1__Rule *)ptrs[i])->id
				     : ((Xdrop__V1__WhitelistEntry *)ptrs[i])->id;
	resp->n_ids = live;
	resp->added = (uint32_t)live;
}

/* Non-atomic batches: drop the failing item and retry, recording each failure. */
static void add_failure(struct rpc_call *call, Xdrop__V1__BatchReply *resp, size_t index,
			const char *id, const struct store_error *e)
{
	Xdrop__V1__BatchFailure *f = rpc_call_alloc(call, sizeof(*f));
	Xdrop__V1__Error *er = rpc_call_alloc(call, sizeof(*er));

	if (!f || !er)
		return;
	xdrop__v1__batch_failure__init(f);
	xdrop__v1__error__init(er);
	f->index = (uint32_t)index;
	f->id = rpc_call_strdup(call, id);
	er->code = (Xdrop__V1__Code)e->code;
	er->message = rpc_call_strdup(call, e->message);
	er->field = rpc_call_strdup(call, e->field);
	f->error = er;
	resp->failed[resp->n_failed++] = f;
}

static enum rpc_code rule_batch_create(struct rpc_call *call, const ProtobufCMessage *r,
				       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__BatchCreateRulesRequest, r);
	RESP(Xdrop__V1__BatchReply, out);
	struct service *s = arg;
	size_t n = req->n_rules, live;
	Xdrop__V1__Rule *copies, **ptrs;
	size_t *orig;
	char *ids;
	struct store_error e = {0};
	uint64_t rev = 0;
	int64_t now = store_now_ns();
	int err;

	if (n == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rules", "no rules");
	if (n > XDROP_STORE_MAX_BATCH)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "rules",
				      "a batch holds at most %d rules", XDROP_STORE_MAX_BATCH);
	copies = rpc_call_alloc(call, n * sizeof(*copies));
	ptrs = rpc_call_alloc(call, n * sizeof(*ptrs));
	orig = rpc_call_alloc(call, n * sizeof(*orig));
	ids = rpc_call_alloc(call, n * XDROP_UUID_LEN);
	resp->failed = rpc_call_alloc(call, n * sizeof(*resp->failed));
	resp->ids = rpc_call_alloc(call, n * sizeof(*resp->ids));
	if (!copies || !ptrs || !orig || !ids || !resp->failed || !resp->ids)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		rules_prepare(req->rules[i], &copies[i], ids + i * XDROP_UUID_LEN, now);
		ptrs[i] = &copies[i];
		orig[i] = i;
	}
	if (!canon_rules(call, copies, n))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	live = n;
	for (;;) {
		size_t idx = SIZE_MAX; /* the store sets it only when one item failed */

		memset(&e, 0, sizeof(e));
		batch_ids(resp, (void **)ptrs, live, true);
		err = store_rules_add(s->store, ptrs, live, "rules", &rev, &idx, &e);
		if (!err)
			break;
		if (req->atomic || idx >= live || e.code == RPC_INTERNAL ||
		    e.code == RPC_RESOURCE_EXHAUSTED) {
			if (live != n && idx < live) /* report the request's index */
				snprintf(e.field, sizeof(e.field), "rules[%zu]", orig[idx]);
			return store_fail(call, err, &e);
		}
		add_failure(call, resp, orig[idx], ptrs[idx]->id, &e);
		memmove(&ptrs[idx], &ptrs[idx + 1], (live - idx - 1) * sizeof(*ptrs));
		memmove(&orig[idx], &orig[idx + 1], (live - idx - 1) * sizeof(*orig));
		if (--live == 0)
			break;
	}
	batch_ids(resp, (void **)ptrs, live, true);
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code batch_delete_common(struct rpc_call *call, struct service *s, bool wl,
					 const Xdrop__V1__BatchDeleteRequest *req,
					 Xdrop__V1__BatchReply *resp)
{
	struct store_error e = {0};
	uint64_t rev = 0;
	size_t idx;
	int err;

	if (req->n_ids == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "ids", "no ids");
	if (req->n_ids > XDROP_STORE_MAX_BATCH)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "ids",
				      "a batch holds at most %d ids", XDROP_STORE_MAX_BATCH);
	resp->deleted = (uint32_t)req->n_ids;
	resp->ids = req->ids;
	resp->n_ids = req->n_ids;
	err = wl ? store_wl_delete(s->store, (const char *const *)req->ids, req->n_ids, &rev, &idx,
				   &e)
		 : store_rules_delete(s->store, (const char *const *)req->ids, req->n_ids, &rev,
				      &idx, &e);
	if (err)
		return store_fail(call, err, &e);
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code rule_batch_delete(struct rpc_call *call, const ProtobufCMessage *r,
				       ProtobufCMessage *out, void *arg)
{
	return batch_delete_common(call, arg, false, (const Xdrop__V1__BatchDeleteRequest *)r,
				   (Xdrop__V1__BatchReply *)out);
}

static enum rpc_code rule_top(struct rpc_call *call, const ProtobufCMessage *r,
			      ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__TopRulesRequest, r);
	RESP(Xdrop__V1__ListRulesResponse, out);
	struct service *s = arg;
	struct rule_sum *sums = NULL;
	Xdrop__V1__Rule **v;
	size_t nsums = 0, n = 0, limit = req->limit ? req->limit : XDROP_TOP_DEFAULT;
	int err;

	if (limit > XDROP_TOP_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "limit", "limit is at most %d",
				      XDROP_TOP_MAX);
	err = stats_rule_counters(s->stats, false, &sums, &nsums);
	if (err)
		return store_fail(call, err, NULL);
	if (rules_rank(sums, nsums, req->by) < 0) {
		free(sums);
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "by",
				      "by must be drop_rate, match_count or drop_count");
	}
	v = calloc(limit, sizeof(*v));
	for (size_t i = 0; v && i < nsums && n < limit; i++) {
		Xdrop__V1__Rule *got = NULL;
		Xdrop__V1__RuleStats *st;

		if (store_rule_get(s->store, sums[i].id, &got) < 0)
			continue; /* counters of a rule deleted since */
		st = malloc(sizeof(*st));
		if (st) {
			xdrop__v1__rule_stats__init(st);
			st->match_count = sums[i].match_count;
			st->drop_count = sums[i].drop_count;
			st->pps = sums[i].pps;
			got->stats = st;
		}
		v[n++] = got;
	}
	free(sums);
	if (!v)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	defer_arr(call, v, n, free_rules_v);
	resp->rules = v;
	resp->n_rules = n;
	resp->count = (uint32_t)n;
	resp->pagination = pagination(call, 1, (uint32_t)limit, n);
	return RPC_OK;
}

/* ---- WhitelistService ------------------------------------------------------------------------ */

static enum rpc_code wl_list(struct rpc_call *call, const ProtobufCMessage *r,
			     ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__ListWhitelistRequest, r);
	RESP(Xdrop__V1__ListWhitelistResponse, out);
	struct service *s = arg;
	struct store_query q = {.page = req->page,
				.limit = req->limit,
				.search = req->search,
				.sort = req->sort,
				.enabled = -1};
	Xdrop__V1__WhitelistEntry **v = NULL;
	size_t n = 0;
	uint64_t total = 0;
	enum rpc_code rc;
	int err;

	if ((rc = check_order(call, req->order, &q.desc)) != RPC_OK)
		return rc;
	if (!store_sort_field_ok(req->sort, true))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "sort",
				      "cannot sort whitelist entries by \"%.64s\"", req->sort);
	if (req->limit > XDROP_STORE_LIST_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "limit", "limit is at most %d",
				      XDROP_STORE_LIST_MAX);
	err = store_wl_list(s->store, &q, &v, &n, &total);
	if (err)
		return store_fail(call, err, NULL);
	defer_arr(call, v, n, free_wl_v);
	resp->entries = v;
	resp->n_entries = n;
	resp->count = (uint32_t)n;
	resp->pagination = pagination(call, req->page, req->limit, total);
	return RPC_OK;
}

static enum rpc_code wl_get(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			    void *arg)
{
	REQ(Xdrop__V1__GetWhitelistRequest, r);
	struct service *s = arg;
	Xdrop__V1__WhitelistEntry *got = NULL;
	int err = store_wl_get(s->store, req->id, &got);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no whitelist entry %.64s",
				      req->id);
	if (err)
		return store_fail(call, err, NULL);
	*(Xdrop__V1__WhitelistEntry *)out = *got;
	rpc_call_defer(call, free_msg, got);
	return RPC_OK;
}

static enum rpc_code wl_create(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__CreateWhitelistRequest, r);
	RESP(Xdrop__V1__WhitelistWriteReply, out);
	struct service *s = arg;
	Xdrop__V1__WhitelistEntry *w = rpc_call_alloc(call, sizeof(*w));
	char *id = rpc_call_alloc(call, XDROP_UUID_LEN);
	struct store_error e = {0};
	uint64_t rev = 0;
	size_t idx;
	int err;

	if (!req->entry)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "entry", "entry is required");
	if (!w || !id)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	rules_prepare_wl(req->entry, w, id, store_now_ns());
	if (!canon_wl(call, w, 1))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	err = store_wl_add(s->store, &w, 1, "entry", &rev, &idx, &e);
	if (err)
		return store_fail(call, err, &e);
	resp->entry = w;
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code wl_delete(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__DeleteRequest, r);

	return delete_common(call, arg, true, req->id, (Xdrop__V1__DeleteReply *)out);
}

static enum rpc_code wl_batch_create(struct rpc_call *call, const ProtobufCMessage *r,
				     ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__BatchCreateWhitelistRequest, r);
	RESP(Xdrop__V1__BatchReply, out);
	struct service *s = arg;
	size_t n = req->n_entries, live;
	Xdrop__V1__WhitelistEntry *copies, **ptrs;
	size_t *orig;
	char *ids;
	struct store_error e = {0};
	uint64_t rev = 0;
	int64_t now = store_now_ns();
	int err;

	if (n == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "entries", "no entries");
	if (n > XDROP_STORE_MAX_BATCH)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "entries",
				      "a batch holds at most %d entries", XDROP_STORE_MAX_BATCH);
	copies = rpc_call_alloc(call, n * sizeof(*copies));
	ptrs = rpc_call_alloc(call, n * sizeof(*ptrs));
	orig = rpc_call_alloc(call, n * sizeof(*orig));
	ids = rpc_call_alloc(call, n * XDROP_UUID_LEN);
	resp->failed = rpc_call_alloc(call, n * sizeof(*resp->failed));
	resp->ids = rpc_call_alloc(call, n * sizeof(*resp->ids));
	if (!copies || !ptrs || !orig || !ids || !resp->failed || !resp->ids)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		rules_prepare_wl(req->entries[i], &copies[i], ids + i * XDROP_UUID_LEN, now);
		ptrs[i] = &copies[i];
		orig[i] = i;
	}
	if (!canon_wl(call, copies, n))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	live = n;
	for (;;) {
		size_t idx = SIZE_MAX; /* the store sets it only when one item failed */

		memset(&e, 0, sizeof(e));
		batch_ids(resp, (void **)ptrs, live, false);
		err = store_wl_add(s->store, ptrs, live, "entries", &rev, &idx, &e);
		if (!err)
			break;
		if (req->atomic || idx >= live || e.code == RPC_INTERNAL ||
		    e.code == RPC_RESOURCE_EXHAUSTED) {
			if (live != n && idx < live)
				snprintf(e.field, sizeof(e.field), "entries[%zu]", orig[idx]);
			return store_fail(call, err, &e);
		}
		add_failure(call, resp, orig[idx], ptrs[idx]->id, &e);
		memmove(&ptrs[idx], &ptrs[idx + 1], (live - idx - 1) * sizeof(*ptrs));
		memmove(&orig[idx], &orig[idx + 1], (live - idx - 1) * sizeof(*orig));
		if (--live == 0)
			break;
	}
	batch_ids(resp, (void **)ptrs, live, false);
	resp->sync = outcome(s, call, rev);
	return RPC_OK;
}

static enum rpc_code wl_batch_delete(struct rpc_call *call, const ProtobufCMessage *r,
				     ProtobufCMessage *out, void *arg)
{
	return batch_delete_common(call, arg, true, (const Xdrop__V1__BatchDeleteRequest *)r,
				   (Xdrop__V1__BatchReply *)out);
}

/* ---- NodeService -------------------------------------------------------------------------- */

static enum rpc_code node_text_check(struct rpc_call *call, const Xdrop__V1__Node *n)
{
	const char *why;

	if (strlen(n->name) > XDROP_STORE_MAX_TEXT)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.name", "too long");
	if (strlen(n->comment) > XDROP_STORE_MAX_TEXT)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.comment", "too long");
	if (strlen(n->address) > 1024)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.address", "too long");
	if (!n->name[0])
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.name",
				      "a name is required");
	if (!n->address[0])
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.address",
				      "an address is required, e.g. tcp://10.0.0.2:7600");
	if (nodes_check_address(n->address, &why))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.address", "%s", why);
	return RPC_OK;
}

/* free_unpacked would free call memory in these fields: detach them before it runs. */
static void node_detach_free(void *p)
{
	Xdrop__V1__Node *n = p;

	n->status = n->content_hash = n->version = (char *)protobuf_c_empty_string;
	n->stats = NULL;
	xdrop__v1__node__free_unpacked(n, NULL);
}

static Xdrop__V1__Node *node_out(struct service *s, struct rpc_call *call, struct store_node *sn)
{
	Xdrop__V1__Node *n = sn->node;

	sn->node = NULL;
	free(sn->cred);
	sn->cred = NULL;
	rpc_call_defer(call, node_detach_free, n);
	/* the live fields come from the call's memory: drop the row's placeholders first */
	free(n->status);
	free(n->content_hash);
	free(n->version);
	n->status = n->content_hash = n->version = (char *)protobuf_c_empty_string;
	nodes_fill(s->nodes, n, call_alloc, call);
	return n;
}

static enum rpc_code node_list(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__ListNodesRequest, r);
	RESP(Xdrop__V1__ListNodesResponse, out);
	struct service *s = arg;
	struct store_node *rows = NULL;
	size_t n = 0, k = 0, matched = 0;
	uint32_t limit = req->limit ? req->limit : XDROP_STORE_LIST_DEFAULT;
	uint32_t page = req->page ? req->page : 1;
	int err;

	if (limit > XDROP_NODE_LIST_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "limit", "limit is at most %d",
				      XDROP_NODE_LIST_MAX);
	err = store_node_list(s->store, &rows, &n);
	if (err)
		return store_fail(call, err, NULL);
	resp->nodes = rpc_call_alloc(call, (n ? n : 1) * sizeof(*resp->nodes));
	for (size_t i = 0; resp->nodes && i < n; i++) {
		Xdrop__V1__Node *node = rows[i].node;
		const char *st = node_status_name(nodes_status(s->nodes, node->id));

		if (req->search[0] && !strcasestr(node->name, req->search) &&
		    !strcasestr(node->id, req->search) && !strcasestr(node->address, req->search))
			continue;
		if (req->status[0] && strcmp(req->status, st) != 0)
			continue;
		if (matched++ < (size_t)(page - 1) * limit || k >= limit)
			continue;
		resp->nodes[k++] = node_out(s, call, &rows[i]);
	}
	/* rows handed out were detached by node_out; its deferred free handles them */
	for (size_t i = 0; i < n; i++)
		store_node_free(&rows[i]);
	free(rows);
	resp->n_nodes = k;
	resp->count = (uint32_t)k;
	resp->pagination = pagination(call, page, limit, matched);
	return RPC_OK;
}

static enum rpc_code node_get(struct rpc_call *call, const ProtobufCMessage *r,
			      ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__GetNodeRequest, r);
	struct service *s = arg;
	struct store_node sn;
	int err = store_node_get(s->store, req->id, &sn);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	*(Xdrop__V1__Node *)out = *node_out(s, call, &sn);
	return RPC_OK;
}

static enum rpc_code node_create(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__CreateNodeRequest, r);
	RESP(Xdrop__V1__NodeWriteReply, out);
	struct service *s = arg;
	Xdrop__V1__Node *n = rpc_call_alloc(call, sizeof(*n));
	char *id = rpc_call_alloc(call, XDROP_UUID_LEN);
	char *key = rpc_call_alloc(call, 2 * XDROP_NODE_KEY_BYTES + 1);
	enum rpc_code rc;
	int err;

	if (!req->node)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node", "node is required");
	if (!n || !id || !key)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	*n = *req->node;
	if (!n->id[0]) {
		store_uuid(id);
		n->id = id;
	} else if (!rule_id_ok(n->id)) {
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.id",
				      "a node id is 1..%d characters of " XDROP_ID_CHARS,
				      XDROP_ID_MAX);
	}
	if ((rc = node_text_check(call, n)) != RPC_OK)
		return rc;
	n->created_at = n->updated_at = store_now_ns();
	n->stats = NULL;
	auth_random_hex(key, XDROP_NODE_KEY_BYTES);
	err = store_node_add(s->store, n, key);
	if (err == -EEXIST)
		return rpc_call_error(call, RPC_ALREADY_EXISTS, "node.id", "node %s already exists",
				      n->id);
	if (err)
		return store_fail(call, err, NULL);
	nodes_reload(s->nodes);
	n->status = rpc_call_strdup(call, "unknown");
	n->content_hash = n->version = (char *)protobuf_c_empty_string;
	n->applied_revision = 0;
	n->last_seen = 0;
	resp->node = n;
	resp->key = key;
	return RPC_OK;
}

static enum rpc_code node_update(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__UpdateNodeRequest, r);
	RESP(Xdrop__V1__NodeWriteReply, out);
	struct service *s = arg;
	struct store_node sn;
	Xdrop__V1__Node *n;
	enum rpc_code rc;
	int err;

	if (!req->node)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node", "node is required");
	err = store_node_get(s->store, req->id, &sn);
	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	n = sn.node;
	free(sn.cred);
	rpc_call_defer(call, node_detach_free, n);
	for (size_t i = 0; i < req->n_update_mask || i == 0; i++) {
		const char *f = req->n_update_mask ? req->update_mask[i] : NULL;
		char **dst = NULL, *src = NULL;

		for (int k = 0; k < 3; k++) {
			static const char *const names[] = {"name", "address", "comment"};
			char **d = k == 0 ? &n->name : k == 1 ? &n->address : &n->comment;
			char *sv = k == 0   ? req->node->name
				   : k == 1 ? req->node->address
					    : req->node->comment;

			if (!f || strcmp(f, names[k]) == 0) {
				dst = d;
				src = sv;
				free(*dst);
				*dst = strdup(src);
				if (!*dst)
					*dst = (char *)protobuf_c_empty_string;
			}
		}
		if (f && !dst)
			return rpc_call_error(call, RPC_INVALID_ARGUMENT, "update_mask",
					      "\"%.64s\" is not an updatable node field", f);
	}
	if ((rc = node_text_check(call, n)) != RPC_OK)
		return rc;
	n->updated_at = store_now_ns();
	err = store_node_update(s->store, n);
	if (err)
		return store_fail(call, err, NULL);
	nodes_reload(s->nodes);
	free(n->status);
	free(n->content_hash);
	free(n->version);
	n->status = n->content_hash = n->version = (char *)protobuf_c_empty_string;
	nodes_fill(s->nodes, n, call_alloc, call);
	resp->node = n;
	return RPC_OK;
}

static enum rpc_code node_delete(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__DeleteRequest, r);
	RESP(Xdrop__V1__DeleteReply, out);
	struct service *s = arg;
	int err = store_node_delete(s->store, req->id);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	nodes_reload(s->nodes);
	resp->message = rpc_call_strdup(call, "node deleted");
	return RPC_OK;
}

static enum rpc_code node_get_stats(struct rpc_call *call, const ProtobufCMessage *r,
				    ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__GetNodeRequest, r);
	struct service *s = arg;
	Xdrop__V1__Node *n = rpc_call_alloc(call, sizeof(*n));
	struct store_node sn;
	int err = store_node_get(s->store, req->id, &sn);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err || !n)
		return store_fail(call, err ? err : -ENOMEM, NULL);
	store_node_free(&sn);
	xdrop__v1__node__init(n);
	n->id = rpc_call_strdup(call, req->id);
	nodes_fill(s->nodes, n, call_alloc, call);
	if (n->stats)
		*(Xdrop__V1__NodeStats *)out = *n->stats;
	else
		((Xdrop__V1__NodeStats *)out)->node_id = n->id;
	return RPC_OK;
}

static enum rpc_code node_sync(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__GetNodeRequest, r);
	struct service *s = arg;

	if (nodes_force_sync(s->nodes, req->id, (Xdrop__V1__SyncOutcome *)out) == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	return RPC_OK;
}

/* ---- StatsService ------------------------------------------------------------------------- */

static enum rpc_code stats_get(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	RESP(Xdrop__V1__StatsReply, out);
	struct service *s = arg;
	Xdrop__V1__Counters *c = rpc_call_alloc(call, sizeof(*c));
	Xdrop__V1__Rates *rt = rpc_call_alloc(call, sizeof(*rt));
	Xdrop__V1__XdpInfo *xi = rpc_call_alloc(call, sizeof(*xi));
	struct store_node *rows = NULL;
	struct store_rev rev;
	size_t n = 0, k = 0;

	if (!c || !rt || !xi)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	xdrop__v1__counters__init(c);
	xdrop__v1__rates__init(rt);
	xdrop__v1__xdp_info__init(xi);
	stats_totals(s->stats, c, rt);
	xi->program = rpc_call_strdup(call, "xdrop");
	xi->version = rpc_call_strdup(call, XDROP_VERSION);
	/* the data plane's default capacities (bpf/xdrop.h); agents may configure others */
	xi->max_rules = XDROP_DEF_MAX_EXACT + XDROP_DEF_MAX_CIDR;
	xi->max_cidr = XDROP_DEF_MAX_CIDR;
	xi->max_whitelist = XDROP_DEF_MAX_EXACT + XDROP_DEF_MAX_CIDR;
	store_revision(s->store, &rev);
	if (store_node_list(s->store, &rows, &n) == 0) {
		resp->nodes = rpc_call_alloc(call, (n ? n : 1) * sizeof(*resp->nodes));
		for (size_t i = 0; resp->nodes && i < n; i++) {
			Xdrop__V1__Node *node = rpc_call_alloc(call, sizeof(*node));

			if (!node)
				break;
			xdrop__v1__node__init(node);
			node->id = rpc_call_strdup(call, rows[i].node->id);
			nodes_fill(s->nodes, node, call_alloc, call);
			if (node->stats)
				resp->nodes[k++] = node->stats;
		}
		store_free_nodes(rows, n);
	}
	resp->n_nodes = k;
	resp->totals = c;
	resp->rates = rt;
	resp->xdp = xi;
	resp->rules = rev.rules;
	resp->whitelist = rev.whitelist;
	resp->revision = rev.revision;
	resp->at = store_now_ns();
	return RPC_OK;
}

static enum rpc_code stats_hist(struct rpc_call *call, const ProtobufCMessage *r,
				ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__HistoryRequest, r);
	RESP(Xdrop__V1__HistoryReply, out);
	struct service *s = arg;
	Xdrop__V1__HistoryPoint *v = NULL, **pp;
	size_t n = 0;
	int err;

	if (req->seconds > XDROP_HISTORY_WINDOW_MAX_S)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "seconds",
				      "at most %d: the longest history a controller keeps "
				      "(stats.history is at most %d s)",
				      XDROP_HISTORY_WINDOW_MAX_S, XDROP_HISTORY_MAX_S);
	err = stats_history(s->stats, req->node_id, req->seconds, req->step, &v, &n);
	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "node_id", "no history for %.64s",
				      req->node_id);
	if (err)
		return store_fail(call, err, NULL);
	defer_arr(call, v, n, free_points_v);
	pp = rpc_call_alloc(call, (n ? n : 1) * sizeof(*pp));
	if (!pp)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++)
		pp[i] = &v[i];
	resp->points = pp;
	resp->n_points = n;
	return RPC_OK;
}

static enum rpc_code stats_info(struct rpc_call *call, const ProtobufCMessage *r,
				ProtobufCMessage *out, void *arg)
{
	RESP(Xdrop__V1__InfoReply, out);
	struct service *s = arg;
	struct store_rev rev;

	store_revision(s->store, &rev);
	resp->name = rpc_call_strdup(call, "xdrop-controller");
	resp->version = rpc_call_strdup(call, XDROP_VERSION);
	resp->mode = rpc_call_strdup(call, "controller");
	resp->revision = rev.revision;
	resp->content_hash = rpc_call_strdup(call, rev.hash);
	resp->started_at = s->started_at;
	return RPC_OK;
}

static enum rpc_code stats_rules(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__RuleStatsRequest, r);
	RESP(Xdrop__V1__RuleStatsReply, out);
	struct service *s = arg;
	struct rule_sum *sums = NULL;
	size_t nsums = 0, k = 0, cap;
	int err = stats_rule_counters(s->stats, true, &sums, &nsums);

	if (err)
		return store_fail(call, err, NULL);
	cap = req->n_ids ? req->n_ids : nsums;
	resp->rules = rpc_call_alloc(call, (cap ? cap : 1) * sizeof(*resp->rules));
	for (size_t i = 0; resp->rules && i < cap; i++) {
		const struct rule_sum *rs =
		    req->n_ids ? stats_rule_find(sums, nsums, req->ids[i]) : &sums[i];
		Xdrop__V1__RuleCounter *rc = rpc_call_alloc(call, sizeof(*rc));

		if (!rc)
			break;
		xdrop__v1__rule_counter__init(rc);
		rc->id = rpc_call_strdup(call, req->n_ids ? req->ids[i] : rs->id);
		if (rs) {
			rc->match_count = rs->match_count;
			rc->drop_count = rs->drop_count;
			rc->pps = rs->pps;
		}
		resp->rules[k++] = rc;
	}
	resp->n_rules = k;
	free(sums);
	return RPC_OK;
}

/* ---- KeyService ------------------------------------------------------------------------------ */

static Xdrop__V1__ApiKey *key_msg(struct rpc_call *call, const struct store_key *k)
{
	Xdrop__V1__ApiKey *m = rpc_call_alloc(call, sizeof(*m));

	if (!m)
		return NULL;
	xdrop__v1__api_key__init(m);
	m->id = rpc_call_strdup(call, k->id);
	m->name = rpc_call_strdup(call, k->name);
	m->scope = rpc_call_strdup(call, k->scope);
	m->created_at = k->created_at;
	m->last_used_at = k->last_used_at;
	return m;
}

static enum rpc_code key_list(struct rpc_call *call, const ProtobufCMessage *r,
			      ProtobufCMessage *out, void *arg)
{
	RESP(Xdrop__V1__ListKeysResponse, out);
	struct service *s = arg;
	struct store_key *keys = NULL;
	size_t n = 0;
	int err = store_key_list(s->store, &keys, &n);

	if (err)
		return store_fail(call, err, NULL);
	resp->keys = rpc_call_alloc(call, (n ? n : 1) * sizeof(*resp->keys));
	for (size_t i = 0; resp->keys && i < n; i++)
		resp->keys[resp->n_keys++] = key_msg(call, &keys[i]);
	store_free_keys(keys, n);
	return RPC_OK;
}

static enum rpc_code key_create(struct rpc_call *call, const ProtobufCMessage *r,
				ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__CreateKeyRequest, r);
	struct service *s = arg;
	char *token = rpc_call_alloc(call, XDROP_KEY_MAX);
	struct store_key k;
	Xdrop__V1__ApiKey *m;
	int err;

	if (!token)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	if (strlen(req->name) > XDROP_STORE_MAX_TEXT)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "name", "too long");
	err = auth_key_create(s->store, req->name, req->scope, token, &k);
	if (err == -EINVAL)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "scope",
				      "scope must be \"admin\" or \"read_only\"");
	if (err)
		return store_fail(call, err, NULL);
	m = key_msg(call, &k);
	free(k.name);
	if (!m)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	m->key = token;
	*(Xdrop__V1__ApiKey *)out = *m;
	return RPC_OK;
}

static enum rpc_code key_delete(struct rpc_call *call, const ProtobufCMessage *r,
				ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__DeleteRequest, r);
	RESP(Xdrop__V1__DeleteReply, out);
	struct service *s = arg;
	int err = store_key_delete(s->store, req->id);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no key %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	resp->message = rpc_call_strdup(call, "key revoked");
	return RPC_OK;
}

static enum rpc_code key_whoami(struct rpc_call *call, const ProtobufCMessage *r,
				ProtobufCMessage *out, void *arg)
{
	struct service *s = arg;
	const struct principal *p = rpc_call_principal(call);
	struct store_key k;
	Xdrop__V1__ApiKey *m;

	if (!p || (p->kind != AUTH_ADMIN && p->kind != AUTH_READ_ONLY))
		return rpc_call_error(call, RPC_UNAUTHENTICATED, NULL, "not an API key");
	if (store_key_get(s->store, p->id, &k) < 0)
		return rpc_call_error(call, RPC_NOT_FOUND, NULL, "key %s is gone", p->id);
	m = key_msg(call, &k);
	free(k.name);
	if (!m)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	*(Xdrop__V1__ApiKey *)out = *m;
	return RPC_OK;
}

/* ---- SyncService ------------------------------------------------------------------------------
 */

static enum rpc_code sync_revision(struct rpc_call *call, const ProtobufCMessage *r,
				   ProtobufCMessage *out, void *arg)
{
	RESP(Xdrop__V1__RevisionInfo, out);
	struct service *s = arg;
	struct store_rev rev;

	store_revision(s->store, &rev);
	resp->revision = rev.revision;
	resp->content_hash = rpc_call_strdup(call, rev.hash);
	resp->rules = rev.rules;
	resp->whitelist = rev.whitelist;
	return RPC_OK;
}

/* Lock held: the cached snapshot of revision rev (0 = build the latest). */
static int snap_find(struct service *s, uint64_t rev, struct store_snapshot **out)
{
	struct store_rev cur;
	struct store_snapshot *snap = NULL;
	int err;

	*out = NULL;
	if (rev == 0) {
		store_revision(s->store, &cur);
		rev = cur.revision;
		for (int i = 0; i < XDROP_SNAPSHOT_CACHE; i++)
			if (s->snaps[i] && s->snaps[i]->revision == rev)
				*out = s->snaps[i];
		if (*out)
			return 0;
		err = store_snapshot(s->store, &snap);
		if (err)
			return err;
		store_snapshot_free(s->snaps[XDROP_SNAPSHOT_CACHE - 1]);
		memmove(&s->snaps[1], &s->snaps[0],
			(XDROP_SNAPSHOT_CACHE - 1) * sizeof(s->snaps[0]));
		s->snaps[0] = snap;
		*out = snap;
		return 0;
	}
	for (int i = 0; i < XDROP_SNAPSHOT_CACHE; i++)
		if (s->snaps[i] && s->snaps[i]->revision == rev)
			*out = s->snaps[i];
	return *out ? 0 : -ESTALE;
}

static size_t item_len(const struct store_snapshot *snap, size_t i)
{
	return i < snap->nrules ? snap->rules[i].len : snap->wl[i - snap->nrules].len;
}

/* Chunk boundaries: at most max items and XDROP_SNAPSHOT_CHUNK_BYTES per chunk (one item
 * at least). Fills *count and, for chunk `want`, [*from, *to). */
static void chunk_bounds(const struct store_snapshot *snap, size_t max, uint32_t want,
			 uint32_t *count, size_t *from, size_t *to)
{
	size_t total = snap->nrules + snap->nwl, start = 0;
	uint32_t c = 0;

	*from = *to = 0;
	while (start < total || c == 0) {
		size_t end = start, bytes = 0;

		while (end < total && end - start < max &&
		       (end == start || bytes + item_len(snap, end) <= XDROP_SNAPSHOT_CHUNK_BYTES))
			bytes += item_len(snap, end++);
		if (c == want) {
			*from = start;
			*to = end;
		}
		c++;
		start = end;
		if (start >= total)
			break;
	}
	*count = c;
}

static enum rpc_code sync_snapshot(struct rpc_call *call, const ProtobufCMessage *r,
				   ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__SnapshotRequest, r);
	RESP(Xdrop__V1__SnapshotChunk, out);
	struct service *s = arg;
	struct store_snapshot *snap;
	size_t max = req->max_items ? req->max_items : XDROP_SNAPSHOT_CHUNK_ITEMS, from, to;
	uint32_t count;
	enum rpc_code rc = RPC_OK;
	int err;

	/* max_items is the caller's preference: larger asks get the largest chunk served */
	if (max > XDROP_SNAPSHOT_MAX_ITEMS)
		max = XDROP_SNAPSHOT_MAX_ITEMS;
	if (req->revision == 0 && req->chunk_index != 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "revision",
				      "chunks after 0 name the revision chunk 0 returned");
	pthread_mutex_lock(&s->snap_lock);
	err = snap_find(s, req->revision, &snap);
	if (err == -ESTALE) {
		rc = rpc_call_error(call, RPC_FAILED_PRECONDITION, "revision",
				    "snapshot of revision %llu is gone; start again from chunk 0",
				    (unsigned long long)req->revision);
		goto out;
	}
	if (err) {
		rc = store_fail(call, err, NULL);
		goto out;
	}
	chunk_bounds(snap, max, req->chunk_index, &count, &from, &to);
	if (req->chunk_index >= count) {
		rc = rpc_call_error(call, RPC_INVALID_ARGUMENT, "chunk_index", "chunk %u of %u",
				    req->chunk_index, count);
		goto out;
	}
	resp->revision = snap->revision;
	resp->content_hash = rpc_call_strdup(call, snap->hash);
	resp->chunk_index = req->chunk_index;
	resp->chunk_count = count;
	resp->total_rules = snap->nrules;
	resp->total_whitelist = snap->nwl;
	resp->rules = rpc_call_alloc(call, (to - from + 1) * sizeof(*resp->rules));
	resp->whitelist = rpc_call_alloc(call, (to - from + 1) * sizeof(*resp->whitelist));
	if (!resp->rules || !resp->whitelist) {
		rc = rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		goto out;
	}
	for (size_t i = from; i < to; i++) {
		ProtobufCMessage *m;

		if (i < snap->nrules)
			m = protobuf_c_message_unpack(&xdrop__v1__rule__descriptor, NULL,
						      snap->rules[i].len, snap->rules[i].data);
		else
			m = protobuf_c_message_unpack(&xdrop__v1__whitelist_entry__descriptor, NULL,
						      snap->wl[i - snap->nrules].len,
						      snap->wl[i - snap->nrules].data);
		if (!m) {
			rc = rpc_call_error(call, RPC_INTERNAL, NULL, "stored entry undecodable");
			goto out;
		}
		rpc_call_defer(call, free_msg, m);
		if (i < snap->nrules)
			resp->rules[resp->n_rules++] = (Xdrop__V1__Rule *)m;
		else
			resp->whitelist[resp->n_whitelist++] = (Xdrop__V1__WhitelistEntry *)m;
	}
out:
	pthread_mutex_unlock(&s->snap_lock);
	return rc;
}

static enum rpc_code sync_deltas(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__DeltasRequest, r);
	RESP(Xdrop__V1__DeltaList, out);
	struct service *s = arg;
	Xdrop__V1__Delta **v = NULL;
	size_t n = 0;
	bool complete = false;
	int err = store_deltas(s->store, req->from_revision, req->max, &v, &n, &complete);

	if (err)
		return store_fail(call, err, NULL);
	defer_arr(call, v, n, free_deltas_v);
	resp->deltas = v;
	resp->n_deltas = n;
	resp->complete = complete;
	return RPC_OK;
}

/* ---- HealthService --------------------------------------------------------------------------- */

static enum rpc_code health_ping(struct rpc_call *call, const ProtobufCMessage *r,
				 ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__PingRequest, r);
	RESP(Xdrop__V1__PingReply, out);

	resp->data = req->data;
	resp->at = store_now_ns();
	resp->server = rpc_call_strdup(call, "xdrop-controller");
	return RPC_OK;
}

/* The methods registered through idem_handler: every write with a lasting outcome. */
static bool is_write(const ProtobufCServiceDescriptor *svc, const char *method)
{
	static const struct {
		const ProtobufCServiceDescriptor *svc;
		const char *const methods[6];
	} writes[] = {
	    {&xdrop__v1__rule_service__descriptor,
	     {"Create", "Update", "Delete", "BatchCreate", "BatchDelete"}},
	    {&xdrop__v1__whitelist_service__descriptor,
	     {"Create", "Delete", "BatchCreate", "BatchDelete"}},
	    {&xdrop__v1__node_service__descriptor, {"Create", "Update", "Delete"}},
	    {&xdrop__v1__key_service__descriptor, {"Create", "Delete"}},
	};

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		for (size_t j = 0; writes[i].svc == svc && writes[i].methods[j]; j++)
			if (!strcmp(writes[i].methods[j], method))
				return true;
	return false;
}

/* Completes a response replayed from a record made at COMMIT: its SyncOutcome, now. */
static void fill_sync(void *arg, struct rpc_call *call, ProtobufCMessage *resp, uint64_t revision)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "sync");
	void **slot;

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->descriptor != &xdrop__v1__sync_outcome__descriptor)
		return;
	slot = (void **)((char *)resp + f->offset);
	if (!*slot)
		*slot = outcome(arg, call, revision);
}

/* ---- registration ------------------------------------------------------------------------------
 */

int service_register(struct service **out, struct rpc_server *srv, const struct service_deps *d)
{
	static const struct {
		const ProtobufCServiceDescriptor *svc;
		const char *method;
		rpc_handler_fn fn;
	} table[] = {
	    {&xdrop__v1__rule_service__descriptor, "List", rule_list},
	    {&xdrop__v1__rule_service__descriptor, "Get", rule_get},
	    {&xdrop__v1__rule_service__descriptor, "Create", rule_create},
	    {&xdrop__v1__rule_service__descriptor, "Update", rule_update},
	    {&xdrop__v1__rule_service__descriptor, "Delete", rule_delete},
	    {&xdrop__v1__rule_service__descriptor, "BatchCreate", rule_batch_create},
	    {&xdrop__v1__rule_service__descriptor, "BatchDelete", rule_batch_delete},
	    {&xdrop__v1__rule_service__descriptor, "Top", rule_top},
	    {&xdrop__v1__whitelist_service__descriptor, "List", wl_list},
	    {&xdrop__v1__whitelist_service__descriptor, "Get", wl_get},
	    {&xdrop__v1__whitelist_service__descriptor, "Create", wl_create},
	    {&xdrop__v1__whitelist_service__descriptor, "Delete", wl_delete},
	    {&xdrop__v1__whitelist_service__descriptor, "BatchCreate", wl_batch_create},
	    {&xdrop__v1__whitelist_service__descriptor, "BatchDelete", wl_batch_delete},
	    {&xdrop__v1__node_service__descriptor, "List", node_list},
	    {&xdrop__v1__node_service__descriptor, "Get", node_get},
	    {&xdrop__v1__node_service__descriptor, "Create", node_create},
	    {&xdrop__v1__node_service__descriptor, "Update", node_update},
	    {&xdrop__v1__node_service__descriptor, "Delete", node_delete},
	    {&xdrop__v1__node_service__descriptor, "GetStats", node_get_stats},
	    {&xdrop__v1__node_service__descriptor, "Sync", node_sync},
	    {&xdrop__v1__stats_service__descriptor, "Get", stats_get},
	    {&xdrop__v1__stats_service__descriptor, "History", stats_hist},
	    {&xdrop__v1__stats_service__descriptor, "Info", stats_info},
	    {&xdrop__v1__stats_service__descriptor, "RuleStats", stats_rules},
	    {&xdrop__v1__key_service__descriptor, "List", key_list},
	    {&xdrop__v1__key_service__descriptor, "Create", key_create},
	    {&xdrop__v1__key_service__descriptor, "Delete", key_delete},
	    {&xdrop__v1__key_service__descriptor, "Whoami", key_whoami},
	    {&xdrop__v1__sync_service__descriptor, "GetRevision", sync_revision},
	    {&xdrop__v1__sync_service__descriptor, "GetSnapshot", sync_snapshot},
	    {&xdrop__v1__sync_service__descriptor, "GetDeltas", sync_deltas},
	    {&xdrop__v1__health_service__descriptor, "Ping", health_ping},
	};
	struct service *s;
	int err = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->store = d->store;
	s->nodes = d->nodes;
	s->stats = d->stats;
	s->started_at = store_now_ns();
	pthread_mutex_init(&s->snap_lock, NULL);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]) && !err; i++) {
		rpc_handler_fn fn = table[i].fn;
		void *arg = s;

		if (d->idem && is_write(table[i].svc, table[i].method)) {
			struct idem_method *im;

			if (s->n_writes == SERVICE_WRITES) { /* is_write() grew: raise the bound */
				log_error("service: more than %d write methods", SERVICE_WRITES);
				err = -ENOSPC;
				break;
			}
			im = &s->writes[s->n_writes++];

			*im = (struct idem_method){
			    .m = d->idem, .fn = fn, .arg = s, .fill_sync = fill_sync};
			fn = idem_handler;
			arg = im;
		}
		err = rpc_server_register(srv, table[i].svc, table[i].method, fn, arg);
		if (err)
			log_error("service: cannot register %s.%s: %s", table[i].svc->name,
				  table[i].method, strerror(-err));
	}
	if (err) {
		service_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void service_free(struct service *s)
{
	if (!s)
		return;
	for (int i = 0; i < XDROP_SNAPSHOT_CACHE; i++)
		store_snapshot_free(s->snaps[i]);
	pthread_mutex_destroy(&s->snap_lock);
	free(s);
}
