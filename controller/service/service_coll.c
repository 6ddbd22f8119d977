// SPDX-License-Identifier: MIT
/*
 * service_coll: RuleService and WhitelistService, one set of handlers for both kinds.
 *
 * svc_colls[] describes each kind (its store kind, its field and noun names, how an item
 * is prepared and canonicalised); the handlers read and fill the kind's request and reply
 * fields by name through the messages' protobuf-c descriptors ("rule" or "entry", "rules"
 * or "entries"), so a new kind is one more entry and its registration lines. Update and
 * Top exist for rules only (proto/xdrop.proto).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pbfield.h"
#include "rule.h"
#include "rules.h"
#include "service_int.h"

/* ---- the kinds ------------------------------------------------------------------------- */

static void rule_prepare(const ProtobufCMessage *in, ProtobufCMessage *out, char *id, int64_t now)
{
	rules_prepare((const Xdrop__V1__Rule *)in, (Xdrop__V1__Rule *)out, id, now);
}

static void wl_prepare(const ProtobufCMessage *in, ProtobufCMessage *out, char *id, int64_t now)
{
	rules_prepare_wl((const Xdrop__V1__WhitelistEntry *)in, (Xdrop__V1__WhitelistEntry *)out,
			 id, now);
}

const struct svc_coll svc_colls[STORE_KINDS] = {
    [STORE_RULES] = {.kind = STORE_RULES,
		     .item = "rule",
		     .items = "rules",
		     .noun = "rule",
		     .plural = "rules",
		     .deleted = "rule deleted",
		     .prepare = rule_prepare},
    [STORE_WHITELIST] = {.kind = STORE_WHITELIST,
			 .item = "entry",
			 .items = "entries",
			 .noun = "whitelist entry",
			 .plural = "whitelist entries",
			 .deleted = "whitelist entry deleted",
			 .prepare = wl_prepare},
};

/* ---- helpers ---------------------------------------------------------------------------- */

static const struct svc_coll *coll_of(void *arg)
{
	return ((struct svc_arg *)arg)->coll;
}

/* RuleStats of rs (NULL: none known, all zero) for an item whose action is action ("" for
 * a whitelist entry): pps is the drop rate of a rule that drops, else the match rate (its
 * meaning before the other rates existed). malloc'd: freed with the item. */
static Xdrop__V1__RuleStats *rule_stats(const struct rule_sum *rs, const char *action)
{
	Xdrop__V1__RuleStats *st = malloc(sizeof(*st));

	if (!st)
		return NULL;
	xdrop__v1__rule_stats__init(st);
	if (!rs)
		return st;
	st->match_count = rs->match_count;
	st->drop_count = rs->drop_count;
	st->match_bytes = rs->match_bytes;
	st->drop_bytes = rs->drop_bytes;
	st->match_pps = rs->match_pps;
	st->drop_pps = rs->drop_pps;
	st->match_bps = rs->match_bps;
	st->drop_bps = rs->drop_bps;
	st->pps = !action[0] || !strcmp(action, "pass") ? rs->match_pps : rs->drop_pps;
	st->at = rs->at;
	st->stale = rs->stale;
	return st;
}

/* The kind's summed counters on its items (RuleStats, malloc'd, freed with the item). */
static void add_counters(struct service *s, const struct svc_coll *c, void **v, size_t n)
{
	const char **ids = calloc(n + 1, sizeof(*ids));
	struct rule_sum *sums = calloc(n + 1, sizeof(*sums));

	for (size_t i = 0; ids && sums && i < n; i++)
		ids[i] = pbf_str(v[i], "id");
	if (ids && sums)
		stats_rule_sums(s->stats, c->kind, ids, n, sums);
	for (size_t i = 0; i < n; i++)
		pbf_set_ptr(v[i], "stats",
			    rule_stats(ids && sums ? &sums[i] : NULL, pbf_str(v[i], "action")));
	free(ids);
	free(sums);
}

static void free_items_v(void *v, size_t n)
{
	store_free_items(v, n);
}

/* n items prepared from in[] into call memory (ids from call memory too) and
 * canonicalised; NULL when out of memory. */
static ProtobufCMessage *prepare(struct rpc_call *call, const struct svc_coll *c,
				 ProtobufCMessage *const *in, size_t n)
{
	size_t size = in[0]->descriptor->sizeof_message;
	char *copies = rpc_call_alloc(call, n * size);
	char *ids = rpc_call_alloc(call, n * XDROP_UUID_LEN);
	struct rulepb_canon_buf *b = rpc_call_alloc(call, n * sizeof(*b));
	int64_t now = clock_wall_ns();

	if (!copies || !ids || !b)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *m = (ProtobufCMessage *)(copies + i * size);

		c->prepare(in[i], m, ids + i * XDROP_UUID_LEN, now);
		rulepb_canon(m,
			     &b[i]); /* an invalid one stays as written for the store to refuse */
	}
	return (ProtobufCMessage *)copies;
}

/* The end of every write: the store's error, or the reply's SyncOutcome of revision rev. */
static enum rpc_code write_done(struct rpc_call *call, struct service *s, int err,
				const struct store_error *e, uint64_t rev, ProtobufCMessage *out)
{
	if (err)
		return store_fail(call, err, e);
	pbf_set_ptr(out, "sync", outcome(s, call, rev));
	return RPC_OK;
}

/* ---- reads ------------------------------------------------------------------------------ */

SVC_HANDLER(coll_list)
{
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	struct store_query q = {.page = (uint32_t)pbf_int(r, "page"),
				.limit = (uint32_t)pbf_int(r, "limit"),
				.search = pbf_str(r, "search"),
				.sort = pbf_str(r, "sort"),
				.enabled = -1,
				.action = pbf_str(r, "action"),
				.source = pbf_str(r, "source")};
	const char *enabled = pbf_str(r, "enabled");
	void **v = NULL;
	size_t n = 0;
	uint64_t total = 0;
	enum rpc_code rc;
	uint8_t act;
	int err;

	if ((rc = check_order(call, pbf_str(r, "order"), &q.desc)) != RPC_OK)
		return rc;
	if (!store_sort_field_ok(c->kind, q.sort))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "sort",
				      "cannot sort %s by \"%.64s\"", c->plural, q.sort);
	if (enabled && enabled[0])
		q.enabled = strcmp(enabled, "true") == 0    ? 1
			    : strcmp(enabled, "false") == 0 ? 0
							    : -2;
	if (q.enabled == -2)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "enabled",
				      "enabled must be \"\", \"true\" or \"false\"");
	if (q.action && q.action[0] && rule_parse_action(q.action, &act) < 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "action", "unknown action %.64s",
				      q.action);
	if (q.limit > XDROP_STORE_LIST_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "limit", "limit is at most %d",
				      XDROP_STORE_LIST_MAX);
	err = store_list(s->store, c->kind, &q, &v, &n, &total);
	if (err)
		return store_fail(call, err, NULL);
	add_counters(s, c, v, n);
	defer_arr(call, v, n, free_items_v);
	pbf_set_repeated(out, c->items, v, n);
	pbf_set_int(out, "count", (int64_t)n);
	pbf_set_ptr(out, "pagination", pagination(call, q.page, q.limit, total));
	return RPC_OK;
}

SVC_HANDLER(coll_get)
{
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	const char *id = pbf_str(r, "id");
	void *got = NULL;
	int err = store_get(s->store, c->kind, id, &got);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no %s %.64s", c->noun, id);
	if (err)
		return store_fail(call, err, NULL);
	add_counters(s, c, &got, 1);
	/* shallow: got's memory lives until the reply is packed */
	memcpy(out, got, out->descriptor->sizeof_message);
	rpc_call_defer(call, free_msg, got);
	return RPC_OK;
}

/* ---- writes ----------------------------------------------------------------------------- */

/* Create of a rule with merge_anomaly: v2.7's anomaly merge, in the store's one change
 * (store_rule_add_merge). The merged rule's memory lives until the reply is packed. */
static enum rpc_code create_merge(struct rpc_call *call, struct service *s, Xdrop__V1__Rule *m,
				  ProtobufCMessage *out)
{
	Xdrop__V1__RuleWriteReply *resp = (Xdrop__V1__RuleWriteReply *)out;
	Xdrop__V1__Rule *held = NULL;
	struct store_error e = {0};
	uint64_t rev = 0;
	int err = store_rule_add_merge(s->store, m, &held, &resp->merged, &rev, &e);

	if (held)
		rpc_call_defer(call, free_msg, held);
	return write_done(call, s, err, &e, rev, out);
}

SVC_HANDLER(coll_create)
{
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	ProtobufCMessage *in = pbf_get_ptr(r, c->item), *m;
	struct store_error e = {0};
	uint64_t rev = 0;
	size_t idx;
	int err;

	if (!in)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, c->item, "%s is required",
				      c->item);
	m = prepare(call, c, &in, 1);
	if (!m)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	/* before the commit: the idempotency record made at COMMIT holds the reply */
	pbf_set_ptr(out, c->item, m);
	if (c->kind == STORE_RULES && pbf_int(r, "merge_anomaly"))
		return create_merge(call, s, (Xdrop__V1__Rule *)m, out);
	err = store_add(s->store, c->kind, (void *const *)&m, 1, c->item, &rev, &idx, &e);
	return write_done(call, s, err, &e, rev, out);
}

/* Update (rules): the stored rule with the masked fields of the request's. */
SVC_HANDLER(coll_update)
{
	REQ(Xdrop__V1__UpdateRuleRequest, r);
	RESP(Xdrop__V1__RuleWriteReply, out);
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	Xdrop__V1__Rule *cur = NULL, *rule = rpc_call_alloc(call, sizeof(*rule));
	struct rulepb_canon_buf *b = rpc_call_alloc(call, sizeof(*b));
	struct store_error e = {0};
	const char *bad = NULL;
	uint64_t rev = 0;
	int err;

	if (!req->rule)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule", "rule is required");
	if (!rule || !b)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	if (req->rule->id[0] && strcmp(req->rule->id, req->id) != 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule.id",
				      "rule.id differs from id");
	err = store_get(s->store, c->kind, req->id, (void **)&cur);
	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no %s %.64s", c->noun, req->id);
	if (err)
		return store_fail(call, err, NULL);
	rpc_call_defer(call, free_msg, cur);
	if (rules_merge(cur, req->rule, req->update_mask, req->n_update_mask, clock_wall_ns(), rule,
			&bad) < 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "update_mask",
				      "\"%.64s\" is not an updatable rule field", bad);
	rulepb_canon(&rule->base, b);
	resp->rule = rule;
	err = store_replace(s->store, c->kind, rule, &rev, &e);
	return write_done(call, s, err, &e, rev, out);
}

SVC_HANDLER(coll_delete)
{
	REQ(Xdrop__V1__DeleteRequest, r);
	RESP(Xdrop__V1__DeleteReply, out);
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	const char *ids[1] = {req->id};
	struct store_error e = {0};
	uint64_t rev = 0;
	size_t idx;
	int err;

	resp->message = rpc_call_strdup(call, c->deleted);
	err = store_delete(s->store, c->kind, ids, 1, &rev, &idx, &e);
	return write_done(call, s, err, &e, rev, out);
}

/* The ids a batch adds if the store takes ptrs[0..live) (set before each attempt, so that
 * the response is complete when the change commits). A staged set's reply holds the count
 * only: a list of 1M ids would be recorded at COMMIT (the idempotency record) and freed
 * again, leaving ~38 MB of free pages in the database. */
static void batch_ids(Xdrop__V1__BatchReply *resp, void **ptrs, size_t live, bool staged)
{
	for (size_t i = 0; i < live && !staged; i++)
		resp->ids[i] = (char *)pbf_str(ptrs[i], "id");
	resp->n_ids = staged ? 0 : live;
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
	er->code = (Xdrop__V1__Code)store_rpc_code(e->code);
	er->message = rpc_call_strdup(call, e->message);
	er->field = rpc_call_strdup(call, e->field);
	f->error = er;
	resp->failed[resp->n_failed++] = f;
}

/*
 * Adds ptrs[0..n) (orig[i]: each one's index in the request) as one change; without
 * atomic, an item the store refuses is recorded in resp->failed and the rest retried.
 * Fills resp's ids (staged: the count only) and *rev; returns RPC_OK or the error set on call.
 */
static enum rpc_code batch_add(struct rpc_call *call, struct service *s, const struct svc_coll *c,
			       bool atomic, bool staged, void **ptrs, size_t *orig, size_t n,
			       Xdrop__V1__BatchReply *resp, uint64_t *rev)
{
	struct store_error e;
	size_t live = n;
	int err;

	for (;;) {
		size_t idx = SIZE_MAX; /* the store sets it only when one item failed */

		memset(&e, 0, sizeof(e));
		batch_ids(resp, ptrs, live, staged);
		err = store_add(s->store, c->kind, ptrs, live, c->items, rev, &idx, &e);
		if (!err)
			break;
		if (atomic || idx >= live || e.code == STORE_INTERNAL ||
		    e.code == STORE_EXHAUSTED) {
			if (live != n && idx < live) /* report the request's index */
				snprintf(e.field, sizeof(e.field), "%s[%zu]", c->items, orig[idx]);
			return store_fail(call, err, &e);
		}
		add_failure(call, resp, orig[idx], pbf_str(ptrs[idx], "id"), &e);
		memmove(&ptrs[idx], &ptrs[idx + 1], (live - idx - 1) * sizeof(*ptrs));
		memmove(&orig[idx], &orig[idx + 1], (live - idx - 1) * sizeof(*orig));
		if (--live == 0)
			break;
	}
	batch_ids(resp, ptrs, live, staged);
	return RPC_OK;
}

SVC_HANDLER(coll_batch_create)
{
	RESP(Xdrop__V1__BatchReply, out);
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	size_t n;
	ProtobufCMessage *const *in = pbf_repeated(r, c->items, &n);
	const Xdrop__V1__StagePart *part = pbf_get_ptr(r, "stage");
	bool atomic = pbf_int(r, "atomic") != 0 || part;
	struct stage_out so;
	ProtobufCMessage *copies;
	uint64_t rev = 0;
	enum rpc_code rc;
	size_t *orig;
	void **ptrs;

	if (n > XDROP_STORE_MAX_BATCH)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, c->items,
				      "a batch holds at most %d %s", XDROP_STORE_MAX_BATCH,
				      c->items);
	if (part) { /* a chunk of a staged import: held, or on commit the whole set */
		rc = stage_take(call, s, c, "BatchCreate", part, in, n, &so);
		resp->staged = (uint32_t)so.staged;
		if (rc != RPC_OK || !part->commit)
			return rc;
		in = so.all;
		n = so.n;
	}
	if (n == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, c->items, "no %s", c->items);
	ptrs = rpc_call_alloc(call, n * sizeof(*ptrs));
	orig = rpc_call_alloc(call, n * sizeof(*orig));
	resp->failed = rpc_call_alloc(call, n * sizeof(*resp->failed));
	resp->ids = rpc_call_alloc(call, n * sizeof(*resp->ids));
	copies = ptrs && orig && resp->failed && resp->ids ? prepare(call, c, in, n) : NULL;
	if (!copies)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ptrs[i] = (char *)copies + i * copies->descriptor->sizeof_message;
		orig[i] = i;
	}
	rc = batch_add(call, s, c, atomic, part != NULL, ptrs, orig, n, resp, &rev);
	if (rc != RPC_OK)
		return rc;
	if (!part) /* a whole staged set: the counts only (batch_ids) */
		pbf_set_repeated(&resp->base, c->items, ptrs, resp->n_ids); /* the items stored */
	resp->sync = outcome(s, call, rev); /* rev 0 when nothing changed */
	return RPC_OK;
}

/*
 * Deletes ids[0..n) (orig[i]: each one's index in the request) as one change; with
 * partial, an id the store refuses (unknown, twice in the batch) is recorded in
 * resp->failed and the rest retried. Fills resp's ids and *rev; returns RPC_OK or the
 * error set on call.
 */
static enum rpc_code batch_del(struct rpc_call *call, struct service *s, const struct svc_coll *c,
			       bool partial, char **ids, size_t *orig, size_t n,
			       Xdrop__V1__BatchReply *resp, uint64_t *rev)
{
	struct store_error e;
	size_t live = n;
	int err;

	for (;;) {
		size_t idx = SIZE_MAX;

		memset(&e, 0, sizeof(e));
		resp->ids = ids;
		resp->n_ids = live;
		resp->deleted = (uint32_t)live;
		if (live == 0)
			return RPC_OK; /* nothing left: no change */
		err =
		    store_delete(s->store, c->kind, (const char *const *)ids, live, rev, &idx, &e);
		if (!err)
			return RPC_OK;
		if (!partial || idx >= live || e.code == STORE_INTERNAL ||
		    e.code == STORE_EXHAUSTED) {
			if (live != n && idx < live)
				snprintf(e.field, sizeof(e.field), "ids[%zu]", orig[idx]);
			return store_fail(call, err, &e);
		}
		snprintf(e.field, sizeof(e.field), "ids[%zu]", orig[idx]);
		add_failure(call, resp, orig[idx], ids[idx], &e);
		memmove(&ids[idx], &ids[idx + 1], (live - idx - 1) * sizeof(*ids));
		memmove(&orig[idx], &orig[idx + 1], (live - idx - 1) * sizeof(*orig));
		live--;
	}
}

SVC_HANDLER(coll_batch_delete)
{
	REQ(Xdrop__V1__BatchDeleteRequest, r);
	RESP(Xdrop__V1__BatchReply, out);
	const struct svc_coll *c = coll_of(arg);
	struct service *s = svc_of(arg);
	size_t n = req->n_ids, *orig;
	uint64_t rev = 0;
	enum rpc_code rc;
	char **ids;

	if (n == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "ids", "no ids");
	if (n > XDROP_STORE_MAX_BATCH)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "ids",
				      "a batch holds at most %d ids", XDROP_STORE_MAX_BATCH);
	ids = rpc_call_alloc(call, n * sizeof(*ids));
	orig = rpc_call_alloc(call, n * sizeof(*orig));
	resp->failed = rpc_call_alloc(call, n * sizeof(*resp->failed));
	if (!ids || !orig || !resp->failed)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ids[i] = req->ids[i];
		orig[i] = i;
	}
	rc = batch_del(call, s, c, req->partial, ids, orig, n, resp, &rev);
	if (rc != RPC_OK)
		return rc;
	resp->sync = outcome(s, call, rev); /* rev 0 when nothing changed */
	return RPC_OK;
}

/* ---- RuleService.Top -------------------------------------------------------------------- */

SVC_HANDLER(rule_top)
{
	REQ(Xdrop__V1__TopRulesRequest, r);
	RESP(Xdrop__V1__ListRulesResponse, out);
	struct service *s = svc_of(arg);
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

		if (sums[i].kind != STORE_RULES)
			continue; /* whitelist entries are not rules */
		if (store_rule_get(s->store, sums[i].id, &got) < 0)
			continue; /* counters of a rule deleted since */
		got->stats = rule_stats(&sums[i], got->action);
		v[n++] = got;
	}
	free(sums);
	if (!v)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	defer_arr(call, v, n, free_items_v);
	resp->rules = v;
	resp->n_rules = n;
	resp->count = (uint32_t)n;
	resp->pagination = pagination(call, 1, (uint32_t)limit, n);
	return RPC_OK;
}
