// SPDX-License-Identifier: MIT
/*
 * service_source: RuleService.ReplaceSource, a feed's rules made equal to a set in one
 * change (controller/store/store_source.c computes the diff). The reply names every rule
 * added, updated and removed so that a dry run is a complete preview.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rule.h"
#include "rules.h"
#include "service_int.h"

static void free_diff(void *p)
{
	store_source_diff_free(p);
	free(p);
}

/* The set's rules prepared as BatchCreate prepares them, with the request's source. */
static Xdrop__V1__Rule **prepare_set(struct rpc_call *call, const char *source,
				     Xdrop__V1__Rule *const *rules, size_t n)
{
	Xdrop__V1__Rule *copies = rpc_call_alloc(call, (n + 1) * sizeof(*copies));
	Xdrop__V1__Rule **ptrs = rpc_call_alloc(call, (n + 1) * sizeof(*ptrs));
	char *ids = rpc_call_alloc(call, (n + 1) * XDROP_UUID_LEN);
	struct rulepb_canon_buf *b = rpc_call_alloc(call, (n + 1) * sizeof(*b));
	int64_t now = clock_wall_ns();

	if (!copies || !ptrs || !ids || !b)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__Rule *in = rules[i];
		Xdrop__V1__Rule tmp = *in;

		/* the source is the request's; a different one is refused by the store */
		if (!tmp.source || !tmp.source[0])
			tmp.source = (char *)source;
		rules_prepare(&tmp, &copies[i], ids + i * XDROP_UUID_LEN, now);
		rulepb_canon(&copies[i].base, &b[i]);
		ptrs[i] = &copies[i];
	}
	return ptrs;
}

/* The rules of the set whose fate is f, into *out (call memory). */
static size_t pick(struct rpc_call *call, const struct store_source_diff *d, Xdrop__V1__Rule **set,
		   enum store_fate f, Xdrop__V1__Rule ***out)
{
	size_t k = 0;

	*out = rpc_call_alloc(call, (d->n + 1) * sizeof(**out));
	for (size_t i = 0; *out && i < d->n; i++)
		if (d->fate[i] == f)
			(*out)[k++] = set[i];
	return *out ? k : 0;
}

/* What fill_reply needs besides the diff. */
struct reply_ctx {
	struct service *s;
	struct rpc_call *call;
	Xdrop__V1__Rule **set;
	bool dry_run;
	bool counts_only; /* a staged set: no lists (they would not fit a reply) */
	Xdrop__V1__ReplaceSourceReply *resp;
	bool oom;
};

/* Data-plane entries the rules added by a diff take on a node, by table. */
struct room {
	uint64_t exact, cidr, rate;
	struct store_error *err; /* the first node without room (code set) */
};

/* Checks one node's beacon: its entries in use plus what the change adds, per table. */
static void room_of_node(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct room *r = arg;
	const Xdrop__V1__Capacity *c = b->capacity;
	const char *what = NULL;
	uint64_t used = 0, max = 0, add = 0;

	if (!c || r->err->code)
		return;
	if (c->exact_max && c->exact_used + r->exact > c->exact_max)
		what = "exact-rule", used = c->exact_used, max = c->exact_max, add = r->exact;
	else if (c->cidr_max && c->cidr_used + r->cidr > c->cidr_max)
		what = "CIDR-rule", used = c->cidr_used, max = c->cidr_max, add = r->cidr;
	else if (c->rate_max && c->rate_used + r->rate > c->rate_max)
		what = "rate-limit", used = c->rate_used, max = c->rate_max, add = r->rate;
	if (!what)
		return;
	r->err->code = STORE_EXHAUSTED;
	snprintf(r->err->field, sizeof(r->err->field), "rules");
	snprintf(r->err->message, sizeof(r->err->message),
		 "node %.64s has %s capacity %llu with %llu in use; this change adds %llu "
		 "(new entries go in before the removed ones leave)",
		 id, what, (unsigned long long)max, (unsigned long long)used,
		 (unsigned long long)add);
}

/* Refuses (-E2BIG, *err) a change whose added rules do not fit a live node's data plane:
 * a node switches in the new entries before it removes the old, so a refresh needs room
 * for what it adds (docs/operations.md, Capacity). */
static int check_room(struct reply_ctx *x, const struct store_source_diff *d,
		      struct store_error *err)
{
	struct room r = {.err = err};

	for (size_t i = 0; i < d->n; i++) {
		const Xdrop__V1__Rule *rule = x->set[i];
		struct rule_spec spec;
		struct rule_error re = {0};

		if (d->fate[i] != STORE_FATE_ADD || !rule->enabled ||
		    rulepb_to_spec(&rule->base, &spec, &re) < 0)
			continue;
		if (rule_is_exact(&spec))
			r.exact++;
		else
			r.cidr++;
		r.rate += rule->action && !strcmp(rule->action, "rate_limit");
	}
	if (!r.exact && !r.cidr && !r.rate)
		return 0;
	err->code = STORE_OK;
	nodes_each_beacon(x->s->nodes, room_of_node, &r);
	return err->code == STORE_EXHAUSTED ? -E2BIG : 0;
}

/* The reply from the diff, before the change commits: the idempotency record made at COMMIT
 * holds it (its sync is filled on replay). A change that does not fit a node is refused. */
static int fill_reply(void *arg, const struct store_source_diff *d, struct store_error *err)
{
	struct reply_ctx *x = arg;
	Xdrop__V1__ReplaceSourceReply *resp = x->resp;
	Xdrop__V1__Rule **same = NULL;

	resp->added = (uint32_t)d->added;
	resp->updated = (uint32_t)d->updated;
	resp->unchanged = (uint32_t)d->unchanged;
	resp->removed = (uint32_t)d->n_removed;
	resp->dry_run = x->dry_run;
	if (x->s->nodes && check_room(x, d, err) < 0)
		return -E2BIG;
	if (x->counts_only)
		return 0;
	resp->n_to_add = pick(x->call, d, x->set, STORE_FATE_ADD, &resp->to_add);
	resp->n_to_update = pick(x->call, d, x->set, STORE_FATE_UPDATE, &resp->to_update);
	resp->n_unchanged_ids = pick(x->call, d, x->set, STORE_FATE_UNCHANGED, &same);
	resp->unchanged_ids = rpc_call_alloc(x->call, (resp->n_unchanged_ids + 1) * sizeof(char *));
	x->oom = !resp->to_add || !resp->to_update || !same || !resp->unchanged_ids;
	for (size_t i = 0; !x->oom && i < resp->n_unchanged_ids; i++)
		resp->unchanged_ids[i] = same[i]->id;
	if (x->oom)
		resp->n_to_add = resp->n_to_update = resp->n_unchanged_ids = 0;
	resp->to_remove = d->removed;
	resp->n_to_remove = d->n_removed;
	return 0;
}

SVC_HANDLER(rule_replace_source)
{
	REQ(Xdrop__V1__ReplaceSourceRequest, r);
	RESP(Xdrop__V1__ReplaceSourceReply, out);
	struct service *s = svc_of(arg);
	struct store_source_diff *d = calloc(1, sizeof(*d));
	struct store_error e = {0};
	struct reply_ctx x;
	Xdrop__V1__Rule **set, *const *rules = req->rules;
	size_t idx = 0, n = req->n_rules;
	struct stage_out so;
	uint64_t rev = 0;
	int err;

	if (!d)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	if (rpc_call_defer(call, free_diff, d) < 0) {
		free(d);
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	}
	if (n > XDROP_STORE_MAX_BATCH)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "rules",
				      "a request holds at most %d rules (stage a larger set)",
				      XDROP_STORE_MAX_BATCH);
	if (req->stage) { /* a chunk of a staged set: held, or on commit the whole set */
		enum rpc_code rc = stage_take(call, s, &svc_colls[STORE_RULES], "ReplaceSource",
					      req->stage, (ProtobufCMessage *const *)rules, n, &so);

		resp->staged = (uint32_t)so.staged;
		if (rc != RPC_OK || !req->stage->commit)
			return rc;
		rules = (Xdrop__V1__Rule *const *)so.all;
		n = so.n;
	}
	set = prepare_set(call, req->source, rules, n);
	if (!set)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	x = (struct reply_ctx){.s = s,
			       .call = call,
			       .set = set,
			       .dry_run = req->dry_run,
			       .counts_only = req->stage != NULL,
			       .resp = resp};
	err = store_rules_replace_source(s->store, req->source, set, n, req->dry_run, d, fill_reply,
					 &x, &rev, &idx, &e);
	if (err)
		return store_fail(call, err, &e);
	if (x.oom) /* the change is made; only its listing is missing */
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL,
				      "out of memory for the reply (the change was made)");
	if (!req->dry_run)
		resp->sync = outcome(s, call, rev);
	return RPC_OK;
}
