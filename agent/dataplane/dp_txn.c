// SPDX-License-Identifier: MIT
/*
 * dp_txn: the transaction behind dataplane_apply (agent/dataplane.h gives the protocol),
 * in its named phases:
 *
 *   plan      validate every change, resolve its key (new prefixes join the model), mark
 *             what it does to its entry, check capacities and prefix nesting; nothing is
 *             written, and a refusal undoes the model changes (plan_abort);
 *   stage     address presence, prefix links, slots and counts, prefixes, presence bits,
 *             then every entry, written invisibly (tagged with the next generation);
 *   flip      the next generation's config slot (once it is free), then the one atomic
 *             store;
 *   retire    the model takes the new actions (deleted entries are marked gone) and a
 *             grace period is asked for, without waiting; the transaction joins
 *             dp->retired;
 *   reap      after that grace period: deleted entries, old versions, unused presence bits,
 *             prefixes and slots go.
 *
 * A failure while staging or flipping rolls the staged writes back (rollback), which is
 * possible because nothing staged is visible before the flip. dataplane_apply_begin runs
 * plan to flip (reaping first what has become reapable); dataplane_apply_retire retires;
 * dataplane_apply_finish retires and reaps everything, waiting. A change that touches an
 * entry of a retired transaction (dp_entry.pend) waits for its reap: the entry's one
 * previous version may still be read by a program of the generation before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "dp_priv.h"
#include "log.h"

static double ms_since(int64_t t0_ns)
{
	return (double)(clock_mono_ns() - t0_ns) / 1e6;
}

int dp_refuse(struct dp_result *res, size_t i, const char *field, const char *reason, int err)
{
	res->index = i;
	res->err.field = field;
	res->err.reason = reason;
	return err;
}

/* Change in the number of rate_limit entries when an action changes. */
static int rl_delta(uint8_t before, uint8_t after)
{
	return (after == XDROP_ACT_RATE_LIMIT) - (before == XDROP_ACT_RATE_LIMIT);
}

/* ---- plan ---- */

/* The checks of a change that need no model: its operation and (PUT) its spec. */
static int plan_validate(struct dp_result *res, size_t i, const struct dp_change *c)
{
	if (c->op != DP_PUT && c->op != DP_DEL)
		return dp_refuse(res, i, "op", "unknown operation", -EINVAL);
	if (c->op == DP_PUT && rule_validate(&c->spec, &res->err)) {
		res->index = i;
		return -EINVAL;
	}
	if (c->op == DP_DEL && rule_combo(&c->spec) == 0)
		return dp_refuse(res, i, "src_ip", "no match field", -EINVAL);
	return 0;
}

/* A new model entry for spec s with key k (TX_NEW, not yet staged). */
static struct dp_entry *plan_new_entry(struct dataplane *dp, const struct ekey *k,
				       struct dp_prefix **pfx, const struct rule_spec *s)
{
	struct dp_entry *e = dp_entry_new(k->table);

	if (!e)
		return NULL;
	e->key = *k;
	if (k->table == TBL_CIDR) {
		e->pfx[0] = pfx[0];
		e->pfx[1] = pfx[1];
	}
	e->kind = s->kind;
	e->combo = rule_combo(s);
	e->tx = TX_NEW;
	if (dp_entry_put(dp, e)) {
		free(e);
		return NULL;
	}
	return e;
}

/* Plans change i: validates it, resolves its key and marks what it does to its entry. */
static int plan_change(struct dataplane *dp, struct txn *tx, size_t i, const struct dp_change *c)
{
	const struct rule_spec *s = &c->spec;
	struct dp_result *res = tx->res;
	struct xdrop_act *na = &tx->pl[i].act;
	struct dp_prefix *pfx[2];
	struct dp_entry *e;
	struct ekey k;
	int err;

	err = plan_validate(res, i, c);
	if (err)
		return err;
	err = dp_resolve_key(dp, s, &k, pfx, tx->new_per_trie);
	if (err)
		return dp_refuse(res, i, s->src.plen && s->src.plen < 128 ? "src_cidr" : "dst_cidr",
				 err == -ENOSPC ? "prefix capacity exhausted" : "out of memory",
				 err);
	e = dp_entry_get(dp, &k);
	if (e && e->pend)
		return -EAGAIN; /* its previous version may still be read: reap, plan again */
	if (e && e->tx != TX_NONE)
		return dp_refuse(res, i, "src_ip", "the same match key appears twice", -EEXIST);
	if (c->op == DP_DEL) {
		if (!e)
			return dp_refuse(res, i, "id", "no entry with this match key", -ENOENT);
		e->tx = TX_DEL;
	} else if (e) {
		rule_act(s, e->act.slot, na);
		e->tx = memcmp(na, &e->act, sizeof(e->act)) ? TX_MOD : TX_KEEP;
		tx->rate_delta += rl_delta(e->act.action, na->action);
	} else {
		e = plan_new_entry(dp, &k, pfx, s);
		if (!e)
			return -ENOMEM;
		if (k.table == TBL_EXACT)
			tx->new_exact++;
		else
			tx->new_cidr++;
		rule_act(s, 0, na);
		tx->rate_delta += rl_delta(0, na->action);
	}
	tx->pl[i].e = e;
	tx->pl[i].op = e->tx;
	return 0;
}

/* The capacities of the tables, of rate state and of prefix nesting, with the plan. */
static int plan_check_capacity(struct dataplane *dp, struct txn *tx)
{
	unsigned depth;
	int err;

	if (dp->ntable[TBL_EXACT] + tx->new_exact > dp->o.max_exact)
		return dp_refuse(tx->res, 0, "rules", "exact-rule capacity exhausted", -ENOSPC);
	if (dp->ntable[TBL_CIDR] + tx->new_cidr > dp->o.max_cidr)
		return dp_refuse(tx->res, 0, "rules", "CIDR-rule capacity exhausted", -ENOSPC);
	/* deleted entries still in the kernel tables take room until they are reaped */
	if (dp->ntable[TBL_EXACT] + dp->ngone[TBL_EXACT] + tx->new_exact > dp->o.max_exact ||
	    dp->ntable[TBL_CIDR] + dp->ngone[TBL_CIDR] + tx->new_cidr > dp->o.max_cidr)
		return -EAGAIN;
	if ((long)dp->nrate + tx->rate_delta > (long)dp->o.max_rate)
		return dp_refuse(tx->res, 0, "rate_limit", "rate-limit capacity exhausted",
				 -ENOSPC);
	for (int t = 0; t < NTRIES; t++) {
		if (!tx->new_per_trie[t])
			continue;
		err = dp_trie_relink(dp, t, false, true, &depth);
		if (err)
			return err;
		if (depth > XDROP_CIDR_MAX_DEPTH)
			return dp_refuse(
			    tx->res, 0, t & 1 ? "dst_cidr" : "src_cidr",
			    "prefixes nested deeper than " DP_STR(XDROP_CIDR_MAX_DEPTH) " levels",
			    -ENOSPC);
	}
	return 0;
}

static int txn_plan(struct dataplane *dp, struct txn *tx, const struct dp_change *ch)
{
	int err;

	for (size_t i = 0; i < tx->n; i++) {
		err = plan_change(dp, tx, i, &ch[i]);
		if (err)
			return err;
	}
	return plan_check_capacity(dp, tx);
}

/* Undoes a plan in the model: new entries and prefixes go, the others are untouched. */
static void plan_abort(struct dataplane *dp, struct plan *pl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct dp_entry *e = pl[i].e;

		if (!e)
			continue;
		if (e->tx == TX_NEW)
			dp_entry_drop(dp, e);
		else
			e->tx = TX_NONE;
	}
	dp_forget_new_prefixes(dp);
}

/* ---- stage ---- */

/* The model side of staging: slots, presence counts, prefix references and entry counts
 * of new and deleted entries. */
static int stage_model(struct dataplane *dp, struct txn *tx)
{
	int err;

	for (size_t i = 0; i < tx->n; i++) {
		struct plan *p = &tx->pl[i];
		struct dp_entry *e = p->e;

		if (p->op == TX_NEW) {
			err = dp_slot_alloc(dp, &p->act.slot);
			if (err)
				return err;
			err = dp_pres_adjust(dp, &tx->aggs, e, +1);
			if (err) {
				dp_slot_free(dp, p->act.slot);
				return err;
			}
			dp_prefix_refs(e, +1, tx->pfx_changed);
			dp_model_count(dp, e, +1);
			p->staged = true;
		} else if (p->op == TX_DEL) {
			dp_model_count(dp, e, -1);
			p->staged = true;
		}
	}
	return 0;
}

/* Adds one planned entry's staged version (and for TX_MOD its old version) to the batches
 * of its table; rate state is created first where an action becomes rate_limit. */
static int stage_entry(struct dataplane *dp, const struct txn *tx, const struct plan *p,
		       struct wbatch *ent, struct wbatch *prev)
{
	struct dp_entry *e = p->e;
	struct xdrop_entry v;
	int err = 0;

	memset(&v, 0, sizeof(v));
	v.flip_gen = tx->inplace ? dp->gen : tx->next;
	switch (p->op) {
	case TX_NEW:
	case TX_MOD:
		/* rate state for an action that becomes rate_limit (a new entry's act is empty) */
		if (p->act.action == XDROP_ACT_RATE_LIMIT && e->act.action != XDROP_ACT_RATE_LIMIT)
			err = dp_rate_create(dp, &p->act);
		if (!err && p->op == TX_MOD && !tx->inplace)
			err = dp_wb_add(&prev[e->key.table], dp_ekey_bytes(e), &e->act);
		v.vflags = tx->inplace ? 0 : p->op == TX_NEW ? XDROP_V_NEW : XDROP_V_MOD;
		v.act = p->act;
		if (!err)
			err = dp_wb_add(&ent[e->key.table], dp_ekey_bytes(e), &v);
		break;
	case TX_DEL:
		if (tx->inplace) {
			if (bpf_map_delete_elem(dp_entry_fd(dp, e->key.table, false),
						dp_ekey_bytes(e)))
				err = -errno;
		} else {
			v.vflags = XDROP_V_DEL;
			v.act = e->act;
			err = dp_wb_add(&ent[e->key.table], dp_ekey_bytes(e), &v);
		}
		break;
	default:
		break;
	}
	return err;
}

/* Writes the entries in batches: old versions first, so that a modified entry never
 * points at a missing one; all of it invisible until the flip. */
static int stage_entries(struct dataplane *dp, struct txn *tx)
{
	struct wbatch ent[NTABLES], prev[NTABLES];
	int err = 0;

	for (int tb = 0; tb < NTABLES; tb++) {
		size_t ksz = tb == TBL_EXACT ? sizeof(struct xdrop_exact_key)
					     : sizeof(struct xdrop_cidr_key);

		dp_wb_init(&ent[tb], dp_entry_fd(dp, tb, false), ksz, sizeof(struct xdrop_entry));
		dp_wb_init(&prev[tb], dp_entry_fd(dp, tb, true), ksz, sizeof(struct xdrop_act));
	}
	for (size_t i = 0; i < tx->n && !err; i++) {
		err = stage_entry(dp, tx, &tx->pl[i], ent, prev);
		if (err)
			log_error("staging entry %zu failed: %s", i, strerror(-err));
	}
	for (int tb = 0; tb < NTABLES; tb++) {
		if (!err)
			err = dp_wb_flush(&prev[tb]);
	}
	for (int tb = 0; tb < NTABLES; tb++) {
		if (!err)
			err = dp_wb_flush(&ent[tb]);
		dp_wb_free(&ent[tb]);
		dp_wb_free(&prev[tb]);
	}
	if (err)
		log_error("staging entries failed: %s", strerror(-err));
	return err;
}

static int txn_stage(struct dataplane *dp, struct txn *tx)
{
	unsigned depth;
	int err;

	err = dp_addr_pres_grow(dp, &tx->aggs, tx->pl, tx->n);
	for (int t = 0; t < NTRIES && !err; t++)
		if (tx->new_per_trie[t])
			err = dp_trie_relink(dp, t, false, false, &depth);
	if (!err)
		err = stage_model(dp, tx);
	if (!err)
		err = dp_prefixes_stage(dp, tx->pfx_changed);
	if (!err)
		err = dp_pagg_flush(dp, &tx->aggs);
	if (!err)
		err = stage_entries(dp, tx);
	/* the copies of the entries whose only field is a prefix, in its hash value */
	for (size_t i = 0; i < tx->n && !err; i++)
		dp_pfx_hash_solo(dp, tx->pl[i].e);
	return err;
}

/* ---- flip ---- */

static int txn_flip(struct dataplane *dp, struct txn *tx)
{
	int64_t t1 = clock_mono_ns();
	int err;

	tx->res->stage_ms = (double)(t1 - tx->t0_ns) / 1e6;
	if (tx->inplace) {
		/* the deliberately broken switch: entries above went live one by one; the
		 * config is rewritten in place; the generation still moves on, as a naive
		 * versioning scheme would do */
		err = dp_config_write(dp, dp->gen);
		if (err)
			return err;
	} else {
		err = dp_slot_wait(dp, tx->next);
		if (err)
			return err;
	}
	err = dp_config_write(dp, tx->next);
	if (err)
		return err;
	dp_gen_store(dp, tx->next);
	tx->res->flip_ms = ms_since(t1);
	tx->res->gen = dp->gen;
	return 0;
}

/* ---- rollback (a failure before the flip) ---- */

static void rollback_entry(struct dataplane *dp, struct txn *tx, const struct plan *p)
{
	struct dp_entry *e = p->e;

	if (!e)
		return;
	if (p->op == TX_NEW) {
		bpf_map_delete_elem(dp_entry_fd(dp, e->key.table, false), dp_ekey_bytes(e));
		if (p->act.action == XDROP_ACT_RATE_LIMIT)
			dp_rate_delete(dp, p->act.slot);
		if (p->staged) {
			dp_pres_adjust(dp, &tx->aggs, e, -1);
			dp_prefix_refs(e, -1, tx->pfx_changed);
			dp_model_count(dp, e, -1);
			dp_slot_free(dp, p->act.slot);
		}
	} else if (p->op == TX_MOD || p->op == TX_DEL) {
		dp_entry_write(dp, e, 0, 0, &e->act);
		bpf_map_delete_elem(dp_entry_fd(dp, e->key.table, true), dp_ekey_bytes(e));
		if (p->op == TX_DEL && p->staged)
			dp_model_count(dp, e, +1);
	}
	dp_pfx_hash_solo(dp, e);
}

/* Staged writes are invisible (tagged with a generation never flipped to): undoes them
 * and the model changes, leaving the active set as it was. Pending presence bits are
 * written, not dropped: the counts already include them, and a superset is safe. */
static void txn_rollback(struct dataplane *dp, struct txn *tx)
{
	dp_pagg_flush(dp, &tx->aggs);
	for (size_t i = 0; i < tx->n; i++)
		rollback_entry(dp, tx, &tx->pl[i]);
	dp_pagg_flush(dp, &tx->aggs);
	dp_prefixes_unstage(dp);
}

/* Ends a refused or failed transaction: names the error when no phase did, undoes the
 * plan in the model. */
static void txn_abort(struct dataplane *dp, struct txn *tx, int err)
{
	if (tx->res->err.field == NULL) {
		tx->res->err.field = "rules";
		tx->res->err.reason = strerror(-err);
	}
	plan_abort(dp, tx->pl, tx->n);
	free(tx->pl);
	memset(tx, 0, sizeof(*tx));
}

/* Plans the changes; a plan that meets the state of a retired transaction (an entry it
 * touched, room its deleted entries still take) is undone and made again after every
 * retired transaction is reaped. */
static int txn_plan_reaped(struct dataplane *dp, struct txn *tx, const struct dp_change *ch)
{
	int err = txn_plan(dp, tx, ch);

	if (err != -EAGAIN)
		return err;
	plan_abort(dp, tx->pl, tx->n);
	memset(tx->pl, 0, tx->n * sizeof(*tx->pl));
	memset(tx->new_per_trie, 0, sizeof(tx->new_per_trie));
	memset(tx->pfx_changed, 0, sizeof(tx->pfx_changed));
	tx->new_exact = tx->new_cidr = 0;
	tx->rate_delta = 0;
	dp_reap(dp, true);
	err = txn_plan(dp, tx, ch);
	return err == -EAGAIN ? -EBUSY : err; /* cannot happen: nothing is retired */
}

int dataplane_apply_begin(struct dataplane *dp, const struct dp_change *ch, size_t n,
			  struct dp_result *res)
{
	struct txn *tx = &dp->tx;
	int err;

	if (!res)
		res = &dp->res_scratch;
	memset(res, 0, sizeof(*res));
	res->gen = dp->gen;
	if (n == 0)
		return 0;
	dp_cfg_legacy_poll(dp);
	dp_reap(dp, dp->nretired == DP_RETIRED);
	memset(tx, 0, sizeof(*tx));
	tx->pl = calloc(n, sizeof(*tx->pl));
	if (!tx->pl)
		return -ENOMEM;
	tx->n = n;
	tx->res = res;
	tx->next = dp->gen + 1;
	tx->inplace = dp->o.unsafe_inplace;
	tx->t0_ns = clock_mono_ns();

	err = txn_plan_reaped(dp, tx, ch);
	if (!err) {
		err = txn_stage(dp, tx);
		if (!err)
			err = txn_flip(dp, tx);
		if (err)
			txn_rollback(dp, tx);
	}
	if (err) {
		txn_abort(dp, tx, err);
		return err;
	}
	tx->active = true;
	return 0;
}

/* ---- retire (after the flip) ---- */

/* The model takes the entry's new state; what a program of the generation before may
 * still read stays in the kernel until the reap. */
static void retire_entry(struct dataplane *dp, struct txn *tx, struct plan *p)
{
	struct dp_entry *e = p->e;

	switch (p->op) {
	case TX_NEW:
		e->act = p->act;
		tx->res->added++;
		if (e->act.action == XDROP_ACT_RATE_LIMIT)
			dp->nrate++;
		break;
	case TX_MOD:
		p->old = e->act;
		dp->nrate = (size_t)((long)dp->nrate + rl_delta(e->act.action, p->act.action));
		e->act = p->act;
		tx->res->updated++;
		break;
	case TX_DEL:
		if (e->act.action == XDROP_ACT_RATE_LIMIT)
			dp->nrate--;
		e->gone = true;
		dp->ngone[e->key.table]++;
		tx->res->deleted++;
		break;
	default:
		if (e)
			e->tx = TX_NONE;
		return;
	}
	e->tx = TX_NONE;
	e->pend = true;
}

/* ---- reap (after the grace period) ---- */

/* What no packet can see any more goes: the old version, the rate state an action no
 * longer uses, a deleted entry with its references and slot. */
static void reap_entry(struct dataplane *dp, struct txn *tx, struct plan *p)
{
	struct dp_entry *e = p->e;

	switch (p->op) {
	case TX_MOD:
		if (!tx->inplace)
			bpf_map_delete_elem(dp_entry_fd(dp, e->key.table, true), dp_ekey_bytes(e));
		if (p->old.action == XDROP_ACT_RATE_LIMIT && e->act.action != XDROP_ACT_RATE_LIMIT)
			dp_rate_delete(dp, p->old.slot);
		break;
	case TX_DEL:
		if (!tx->inplace)
			bpf_map_delete_elem(dp_entry_fd(dp, e->key.table, false), dp_ekey_bytes(e));
		if (e->act.action == XDROP_ACT_RATE_LIMIT)
			dp_rate_delete(dp, e->act.slot);
		dp_pres_adjust(dp, &tx->aggs, e, -1);
		dp_prefix_refs(e, -1, tx->pfx_changed);
		dp_pfx_hash_solo(dp, e);
		dp_slot_free(dp, e->act.slot);
		dp->ngone[e->key.table]--;
		dp_entry_drop(dp, e);
		p->e = NULL;
		return;
	default:
		break;
	}
	if (e)
		e->pend = false;
}

/* Cleans up one retired transaction whose grace period has passed. */
static void txn_reap(struct dataplane *dp, struct txn *tx)
{
	int err;

	for (size_t i = 0; i < tx->n; i++)
		if (tx->pl[i].op != TX_NONE && tx->pl[i].op != TX_KEEP)
			reap_entry(dp, tx, &tx->pl[i]);
	/* address presence no program can consult any more goes; only as of the newest
	 * generation: the counts are those of the model, and a program of an older one
	 * still running may need what a later switch removed */
	if (!tx->inplace && dp->gen == tx->next)
		dp_addr_pres_shrink(dp, &tx->aggs);
	err = dp_pagg_flush(dp, &tx->aggs);
	if (!err)
		err = dp_prefixes_finish(dp, tx->pfx_changed);
	if (!err)
		err = dp_prefixes_collect(dp);
	if (err)
		log_warn("cleanup after generation %llu incomplete: %s (the active set is "
			 "correct; the next open repairs it)",
			 (unsigned long long)tx->next, strerror(-err));
	free(tx->pl);
	memset(tx, 0, sizeof(*tx));
}

void dp_reap(struct dataplane *dp, bool wait)
{
	while (dp->nretired) {
		struct txn *tx = &dp->retired[dp->retired_head];

		if (!tx->inplace) {
			if (wait)
				dp_grace_wait(dp, tx->next);
			else if (!dp_grace_elapsed(dp, tx->next))
				return;
		}
		txn_reap(dp, tx);
		dp->retired_head = (dp->retired_head + 1) % DP_RETIRED;
		dp->nretired--;
	}
}

void dp_retired_free(struct dataplane *dp)
{
	for (size_t i = 0; i < DP_RETIRED; i++) {
		dp_pagg_drop(&dp->retired[i].aggs);
		free(dp->retired[i].pl);
		dp->retired[i].pl = NULL;
	}
	dp->nretired = 0;
}

void dataplane_apply_retire(struct dataplane *dp)
{
	struct txn *tx = &dp->tx;
	size_t slot;

	if (!tx->active)
		return;
	for (size_t i = 0; i < tx->n; i++)
		retire_entry(dp, tx, &tx->pl[i]);
	if (!tx->inplace)
		dp_grace_request(dp, tx->next);
	if (dp->nretired == DP_RETIRED) /* cannot happen: begin made room */
		dp_reap(dp, true);
	slot = (dp->retired_head + dp->nretired) % DP_RETIRED;
	dp->retired[slot] = *tx;
	dp->retired[slot].active = false;
	dp->retired[slot].res = NULL;
	dp->nretired++;
	memset(tx, 0, sizeof(*tx));
	/* the deliberately broken switch has no grace period to wait for */
	dp_reap(dp, false);
}

void dataplane_apply_finish(struct dataplane *dp)
{
	struct dp_result *res = dp->tx.res;
	int64_t t1 = clock_mono_ns();

	if (!dp->tx.active)
		return;
	dataplane_apply_retire(dp);
	dp_reap(dp, true);
	res->cleanup_ms = ms_since(t1);
}

void dataplane_settle(struct dataplane *dp, bool wait)
{
	dp_cfg_legacy_poll(dp);
	dp_reap(dp, wait);
}

int dataplane_apply(struct dataplane *dp, const struct dp_change *ch, size_t n,
		    struct dp_result *res)
{
	int err = dataplane_apply_begin(dp, ch, n, res);

	if (!err)
		dataplane_apply_finish(dp);
	return err;
}
