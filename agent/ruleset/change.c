// SPDX-License-Identifier: MIT
/*
 * ruleset/change.c: the change engine. Every change is a list of operations (upsert an
 * item, delete an id). rs_apply_ops turns it into data-plane changes by match key: an old
 * key that no longer holds an active entry is deleted, a new or changed key is put; a key
 * touched twice ends as its last state, so one switch carries the whole change. Only
 * after the switch succeeds is the model updated (the caller journals it). rs_install
 * replaces the whole set the same way (snapshots, start-up). Expiry is in expiry.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "model.h"

/* ---- planning: the final state of every touched match key ---- */

struct lastop {
	UT_hash_handle hh;
	size_t idx;
	char key[]; /* the kind's index as a character, then the id */
};

static const char *op_id(const struct op *o)
{
	return o->del ? o->id : rs_id(o->item);
}

static void lastops_free(struct lastop **map)
{
	struct lastop *e, *tmp;

	HASH_ITER(hh, *map, e, tmp)
	{
		HASH_DEL(*map, e);
		free(e);
	}
}

/* For each op, whether it is the last one on its (kind, id): earlier ones are superseded.
 * One pass with a hash, so a batch of a million ops stays linear. *out is malloc'ed. */
static int last_ops(const struct op *ops, size_t n, bool **out)
{
	struct lastop *map = NULL, *e;
	bool *last = calloc(n + 1, sizeof(*last));
	int err = 0;

	if (!last)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		const char *id = op_id(&ops[i]);
		size_t len = strlen(id) + 1;
		char buf[RS_ID_MAX + 1];

		if (len > RS_ID_MAX) {
			err = -EINVAL;
			break;
		}
		buf[0] = (char)('0' + ops[i].kind->index);
		memcpy(buf + 1, id, len);
		HASH_FIND_STR(map, buf, e);
		if (e) {
			last[e->idx] = false;
		} else {
			e = malloc(sizeof(*e) + len + 1);
			if (!e) {
				err = -ENOMEM;
				break;
			}
			memcpy(e->key, buf, len + 1);
			HASH_ADD_STR(map, key, e);
		}
		e->idx = i;
		last[i] = true;
	}
	lastops_free(&map);
	if (err) {
		free(last);
		return err;
	}
	*out = last;
	return 0;
}

struct kchange {
	UT_hash_handle hh;
	char key[RS_KEY_LEN];
	struct rule_spec spec;
	bool put;	    /* final state: put spec; else delete */
	bool was_active;    /* the key is in the data plane now */
	struct item *owner; /* the new owner when put */
};

static int kchange_get(struct kchange **map, const char *key, struct kchange **out)
{
	struct kchange *k;

	HASH_FIND_STR(*map, key, k);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return -ENOMEM;
		snprintf(k->key, sizeof(k->key), "%s", key);
		HASH_ADD_STR(*map, key, k);
	}
	*out = k;
	return 0;
}

static void kchanges_free(struct kchange **map)
{
	struct kchange *k, *tmp;

	HASH_ITER(hh, *map, k, tmp)
	{
		HASH_DEL(*map, k);
		free(k);
	}
}

/* The keys the entries the change replaces or deletes hold in the data plane now. */
static int plan_old(struct rs_plan *p)
{
	struct kchange *k;
	int err;

	for (size_t i = 0; i < p->n; i++) {
		const struct op *o = &p->ops[i];
		struct item *old = p->last[i] ? rs_find(p->rs, o->kind, op_id(o)) : NULL;

		if (!old && o->del && p->last[i] && p->local) {
			*p->bad = i;
			rs_status(p->st, RPC_NOT_FOUND, "id", "no %s with id %s", o->kind->noun,
				  o->id);
			return -ENOENT;
		}
		if (old && old->active) {
			char key[RS_KEY_LEN];

			err = kchange_get(&p->keys, rs_item_key(old, key), &k);
			if (err)
				return err;
			k->was_active = true;
		}
	}
	return 0;
}

/* The keys the new entries put; refuses two entries with one match. */
static int plan_new(struct rs_plan *p, int64_t now)
{
	struct kchange *k;
	struct item *held;
	int err;

	for (size_t i = 0; i < p->n; i++) {
		struct item *it = p->ops[i].item;
		char key[RS_KEY_LEN];

		if (p->ops[i].del || !p->last[i])
			continue; /* a deletion, or superseded by a later op on the same id */
		it->active = rs_item_active(it, now);
		if (!it->active)
			continue;
		err = kchange_get(&p->keys, rs_item_key(it, key), &k);
		if (err)
			return err;
		if (k->put) {
			*p->bad = i;
			rs_status(p->st, RPC_ALREADY_EXISTS, "rule", "%s has the same match as %s",
				  rs_id(it), rs_id(k->owner));
			return -EEXIST;
		}
		/* held by an entry this change does not touch, or touches but keeps */
		held = p->local ? rs_key_find(p->rs, key) : NULL;
		if (held && !k->was_active) {
			*p->bad = i;
			rs_status(p->st, RPC_ALREADY_EXISTS, "rule",
				  "the same match exists already: %s", rs_id(held));
			return -EEXIST;
		}
		k->put = true;
		k->spec = it->spec;
		k->owner = it;
	}
	return 0;
}

/* The data-plane changes of a plan; *out is malloc'ed. */
static int plan_changes(struct rs_plan *p, struct dp_change **out, size_t *nout)
{
	struct dp_change *ch = calloc(HASH_COUNT(p->keys) + 1, sizeof(*ch));
	struct kchange *k, *tmp;
	struct item *held;
	size_t n = 0;

	if (!ch)
		return -ENOMEM;
	HASH_ITER(hh, p->keys, k, tmp)
	{
		if (k->put) {
			ch[n].op = DP_PUT;
			ch[n++].spec = k->spec;
		} else if (k->was_active) {
			held = rs_key_find(p->rs, k->key);
			if (!held)
				continue;
			ch[n].op = DP_DEL;
			ch[n++].spec = held->spec;
		}
	}
	*out = ch;
	*nout = n;
	return 0;
}

/* The RPC code of a data-plane refusal. */
static enum rpc_code dp_code(int err, enum rpc_code otherwise)
{
	return err == -ENOSPC	? RPC_RESOURCE_EXHAUSTED
	       : err == -EINVAL ? RPC_INVALID_ARGUMENT
	       : err == -EEXIST ? RPC_ALREADY_EXISTS
				: otherwise;
}

int rs_plan_commit(struct rs_plan *p, uint64_t new_revision, bool publish)
{
	struct ruleset *rs = p->rs;
	struct kchange *k, *tmp;
	int err = 0;

	HASH_ITER(hh, p->keys, k, tmp)
	{
		if (!k->put)
			rs_key_drop(rs, k->key);
		else if (rs_key_set(rs, k->key, k->owner))
			err = -ENOMEM; /* the data plane is right; the index lags */
	}
	for (size_t i = 0; i < p->n; i++) {
		struct op *o = &p->ops[i];
		struct item *old = rs_find(rs, o->kind, op_id(o));

		if (old) {
			rs_model_remove(rs, old);
			rs_item_free(old);
		}
		if (!o->del) {
			rs_model_add(rs, o->item);
			o->item = NULL; /* owned by the set now */
		}
	}
	rs->revision = new_revision;
	if (publish)
		rs_publish(rs);
	return err;
}

int rs_plan_make(struct rs_plan *p, struct ruleset *rs, struct op *ops, size_t n, bool local,
		 struct rpc_status *st, size_t *bad_index)
{
	int err;

	*p = (struct rs_plan){
	    .rs = rs, .ops = ops, .n = n, .local = local, .st = st, .bad = bad_index};
	/* final state per touched id: the last op on an id wins */
	err = last_ops(ops, n, &p->last);
	if (!err)
		err = plan_old(p);
	if (!err)
		err = plan_new(p, clock_wall_ns());
	if (!err)
		err = plan_changes(p, &p->ch, &p->nch);
	return err;
}

void rs_plan_free(struct rs_plan *p)
{
	free(p->last);
	kchanges_free(&p->keys);
	free(p->ch);
	memset(p, 0, sizeof(*p));
}

void rs_plan_refused(struct rs_plan *p, int err, const struct dp_result *res)
{
	*p->bad = 0;
	rs_status(p->st, dp_code(err, RPC_INTERNAL), res->err.field,
		  "data plane refused the change: %s",
		  res->err.reason ? res->err.reason : strerror(-err));
}

int rs_apply_ops(struct ruleset *rs, struct op *ops, size_t n, uint64_t new_revision, bool local,
		 struct rpc_status *st, size_t *bad_index)
{
	struct dp_result res = {0};
	struct rs_plan p;
	int err;

	err = rs_plan_make(&p, rs, ops, n, local, st, bad_index);
	if (err)
		goto out;
	/* the switch; its grace period and cleanup run after the new revision is published */
	err = rs->loading ? 0 : dataplane_apply_begin(rs->dp, p.ch, p.nch, &res);
	if (err) {
		rs_plan_refused(&p, err, &res);
		goto out;
	}
	err = rs_plan_commit(&p, new_revision, true);
out:
	if (!rs->loading && rs->dp)
		dataplane_apply_finish(rs->dp);
	rs_plan_free(&p);
	return err;
}

/* ---- whole sets ---- */

int rs_install(struct ruleset *rs, struct item **items, size_t n, uint64_t revision,
	       struct rpc_status *st)
{
	/* loading: the data plane is not touched here, so no copy of every spec (68 bytes a
	 * rule, for a moment) */
	struct rule_spec *specs = rs->loading ? NULL : calloc(n + 1, sizeof(*specs));
	struct dp_result res = {0};
	int64_t now = clock_wall_ns();
	unsigned kinds = 0;
	size_t ns = 0;
	int err;

	if (!specs && !rs->loading)
		return -ENOMEM;
	for (unsigned k = 0; k < RULESET_NKINDS; k++)
		kinds |= 1u << ruleset_kinds[k]->dp_kind;
	for (size_t i = 0; i < n; i++) {
		items[i]->active = rs_item_active(items[i], now);
		if (items[i]->active && specs)
			specs[ns++] = items[i]->spec;
	}
	err = rs->loading ? 0 : dataplane_replace(rs->dp, kinds, specs, ns, &res);
	free(specs);
	if (err) {
		rs_status(st, dp_code(err, RPC_INVALID_ARGUMENT), res.err.field,
			  "data plane refused the snapshot: %s",
			  res.err.reason ? res.err.reason : strerror(-err));
		return err;
	}
	rs_model_clear(rs);
	rulehash_init(&rs->hash);
	rs_model_reserve_for(rs, items, n);
	for (size_t i = 0; i < n; i++) {
		char key[RS_KEY_LEN];

		rs_model_add(rs, items[i]);
		if (items[i]->active) /* -ENOMEM: the index lags */
			rs_key_set(rs, rs_item_key(items[i], key), items[i]);
	}
	rs->revision = revision;
	rs_publish(rs);
	return 0;
}
