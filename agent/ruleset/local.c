// SPDX-License-Identifier: MIT
/*
 * ruleset/local.c: the writes of a standalone agent's own API (an agent with a controller
 * refuses them in agent/service.c). Each write is one change, one new revision, and is
 * journaled as a delta like the controller's. What a caller sends is not stored as is:
 * the id (the caller's on a create, as the controller keeps it, else a new UUID; an
 * update keeps the entry's), the creation and update times and the
 * default source are assigned here, the match fields canonicalised (lib/rulepb.h), and a
 * match of every address refused (lib/rule.h, rule_refuse_match_all).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "model.h"
#include "pbfield.h"

static void uuid_v4(char out[37])
{
	uint8_t b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		/* never expected; fall back to time and address entropy */
		uint64_t t = (uint64_t)clock_wall_ns() ^ (uint64_t)(uintptr_t)out;

		memcpy(b, &t, 8);
		memcpy(b + 8, &t, 8);
	}
	if (fd >= 0)
		close(fd);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* A shallow copy of m (its fields borrowed), to change before it is stored; free(). */
static ProtobufCMessage *shallow(const ProtobufCMessage *m)
{
	ProtobufCMessage *c = malloc(m->descriptor->sizeof_message);

	if (c)
		memcpy(c, m, m->descriptor->sizeof_message);
	return c;
}

/* Sets what a local write assigns on c: id, times, default source; clears stats. */
static void assign(const struct ruleset_kind *k, ProtobufCMessage *c, const char *id,
		   int64_t created)
{
	int64_t now = clock_wall_ns();

	pbf_set_ptr(c, k->id_field, id);
	if (k->created_field)
		pbf_set_int(c, k->created_field, created ? created : now);
	if (k->updated_field)
		pbf_set_int(c, k->updated_field, now);
	if (k->stats_field)
		pbf_set_ptr(c, k->stats_field, NULL);
	if (k->source_field && !*pbf_str(c, k->source_field))
		pbf_set_ptr(c, k->source_field, "api");
}

/* The item a local write stores for m: keep_id and created kept (an update) or assigned
 * (NULL and 0: a create); canonical; validated. */
static int local_item(const struct ruleset_kind *k, const ProtobufCMessage *m, const char *keep_id,
		      int64_t created, struct item **out, struct rpc_status *st)
{
	struct rule_error re = {0};
	struct rulepb_canon_buf cb;
	ProtobufCMessage *c;
	char id[37];
	int err;

	if (m->descriptor != k->msg) {
		rs_status(st, RPC_INVALID_ARGUMENT, k->item_field, "not a %s", k->noun);
		return -EINVAL;
	}
	if (!keep_id && *pbf_str(m, k->id_field)) {
		keep_id = pbf_str(m, k->id_field);
		if (!rule_id_ok(keep_id)) {
			rs_status(st, RPC_INVALID_ARGUMENT, k->id_field,
				  "an id is 1 to %d characters of %s", XDROP_ID_MAX,
				  XDROP_ID_CHARS);
			return -EINVAL;
		}
	}
	c = shallow(m);
	if (!c)
		return -ENOMEM;
	if (!keep_id)
		uuid_v4(id);
	assign(k, c, keep_id ? keep_id : id, created);
	rulepb_canon(c, &cb); /* an invalid entry stays as written: rs_item_make refuses it */
	err = rs_item_make(k, c, out, st);
	free(c);
	if (!err && rule_refuse_match_all(&(*out)->spec, &re)) {
		rs_status(st, RPC_INVALID_ARGUMENT, re.field, "%s", re.reason);
		rs_item_free(*out);
		*out = NULL;
		err = -EINVAL;
	}
	return err;
}

static int cmp_op_id(const void *a, const void *b)
{
	const struct op *x = *(const struct op *const *)a, *y = *(const struct op *const *)b;
	int c = strcmp(rs_id(x->item), rs_id(y->item));

	return c ? c : (x < y ? -1 : x > y);
}

int rs_ids_fresh(struct ruleset *rs, struct op *ops, size_t n, struct rpc_status *st, size_t *bad)
{
	struct op **v = calloc(n ? n : 1, sizeof(*v));
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = &ops[i];
	qsort(v, n, sizeof(*v), cmp_op_id);
	for (size_t i = 0; i < n && !err; i++) {
		const struct op *o = v[i];

		if (rs_find(rs, o->kind, rs_id(o->item)) ||
		    (i && !strcmp(rs_id(v[i - 1]->item), rs_id(o->item)))) {
			rs_status(st, RPC_ALREADY_EXISTS, o->kind->id_field, "%s %s already exists",
				  o->kind->noun, rs_id(o->item));
			*bad = (size_t)(o - ops);
			err = -EEXIST;
		}
	}
	free(v);
	return err;
}

/* Commits ops built here (create: their ids must be new) as one change, through the queue
 * (group.c); *ids_out gets the ops' ids, *first_out a copy of the entry the first op stored
 * (each when not NULL). */
static int local_write(struct ruleset *rs, struct op *ops, size_t n, bool create, char ***ids_out,
		       ProtobufCMessage **first_out, struct rpc_status *st, size_t *bad)
{
	char first_id[RS_ID_MAX + 1] = "", **ids = NULL;
	struct rs_change c = {.ops = ops, .n = n, .create = create, .st = st};
	struct rs_change *cs = &c;
	size_t i;
	int err;

	if (ids_out) {
		ids = calloc(n + 1, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		for (i = 0; i < n; i++)
			ids[i] = strdup(ops[i].del ? ops[i].id : rs_id(ops[i].item));
	}
	if (n && !ops[0].del && first_out) {
		snprintf(first_id, sizeof(first_id), "%s", rs_id(ops[0].item));
		c.out_kind = ops[0].kind;
		c.out_id = first_id;
		c.out = first_out;
	}
	err = rs_submit(rs, &cs, 1);
	*bad = c.bad;
	if (ids_out && !err) {
		*ids_out = ids;
	} else if (ids) {
		for (i = 0; i < n; i++)
			free(ids[i]);
		free(ids);
	}
	return err;
}

int ruleset_create(struct ruleset *rs, const struct ruleset_kind *k, const ProtobufCMessage *m,
		   ProtobufCMessage **out, struct rpc_status *st)
{
	struct op op = {.kind = k};
	size_t bad;
	int err;

	err = local_item(k, m, NULL, 0, &op.item, st);
	if (err)
		return err;
	err = local_write(rs, &op, 1, true, NULL, out, st, &bad);
	rs_item_free(op.item);
	return err;
}

/* Copies the RSF_WRITE fields named in mask (all of them when nmask is 0) from src onto
 * dst. */
static int apply_mask(const struct ruleset_kind *k, ProtobufCMessage *dst,
		      const ProtobufCMessage *src, char **mask, size_t nmask, struct rpc_status *st)
{
	for (size_t i = 0; i < (nmask ? nmask : k->nfields); i++) {
		const struct ruleset_field *f = nmask ? NULL : &k->fields[i];

		for (size_t j = 0; !f && j < k->nfields; j++)
			if (!strcmp(mask[i], k->fields[j].name))
				f = &k->fields[j];
		if (nmask && (!f || !(f->flags & RSF_WRITE))) {
			rs_status(st, RPC_INVALID_ARGUMENT, "update_mask",
				  "unknown or read-only field %s", mask[i]);
			return -EINVAL;
		}
		if (f->flags & RSF_WRITE)
			pbf_copy(dst, src, f->name);
	}
	return 0;
}

int ruleset_update(struct ruleset *rs, const struct ruleset_kind *k, const char *id,
		   const ProtobufCMessage *m, char **mask, size_t nmask, ProtobufCMessage **out,
		   struct rpc_status *st)
{
	ProtobufCMessage *cur = ruleset_get(rs, k, id), *merged = NULL;
	struct op op = {.kind = k};
	size_t bad;
	int err;

	if (!cur) {
		rs_status(st, RPC_NOT_FOUND, "id", "no %s with id %s", k->noun, id);
		return -ENOENT;
	}
	if (m->descriptor != k->msg) {
		rs_status(st, RPC_INVALID_ARGUMENT, k->item_field, "not a %s", k->noun);
		err = -EINVAL;
		goto out;
	}
	merged = shallow(cur);
	err = merged ? apply_mask(k, merged, m, mask, nmask, st) : -ENOMEM;
	if (!err)
		err =
		    local_item(k, merged, pbf_get_ptr(cur, k->id_field),
			       k->created_field ? pbf_int(cur, k->created_field) : 0, &op.item, st);
	if (!err)
		err = local_write(rs, &op, 1, false, NULL, out, st, &bad);
out:
	free(merged);
	ruleset_free(cur);
	rs_item_free(op.item);
	return err;
}

int ruleset_delete(struct ruleset *rs, const struct ruleset_kind *k, char **ids, size_t n,
		   struct rpc_status *st)
{
	size_t bad;

	return ruleset_delete_many(rs, k, ids, n, st, &bad);
}

int ruleset_delete_many(struct ruleset *rs, const struct ruleset_kind *k, char **ids, size_t n,
			struct rpc_status *st, size_t *bad_index)
{
	struct op *ops = calloc(n + 1, sizeof(*ops));
	int err;

	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ops[i].kind = k;
		ops[i].del = true;
		ops[i].id = ids[i];
	}
	err = local_write(rs, ops, n, false, NULL, NULL, st, bad_index);
	free(ops);
	return err;
}

int ruleset_create_many(struct ruleset *rs, const struct ruleset_kind *k,
			ProtobufCMessage *const *msgs, size_t n, char ***ids_out,
			struct rpc_status *st, size_t *bad_index)
{
	struct op *ops;
	int err = 0;

	if (n > k->batch_max) {
		rs_status(st, RPC_RESOURCE_EXHAUSTED, k->list_field,
			  "at most %zu entries per batch", k->batch_max);
		return -ENOSPC;
	}
	ops = calloc(n + 1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		ops[i].kind = k;
		err = local_item(k, msgs[i], NULL, 0, &ops[i].item, st);
		if (err)
			*bad_index = i;
	}
	if (!err)
		err = local_write(rs, ops, n, true, ids_out, NULL, st, bad_index);
	rs_ops_free(ops, n);
	return err;
}

/* The merge target of item it (XDrop v2.7's anomaly merge): the anomaly rule of kind k in
 * the data plane with it's match and action, or NULL. rs->lock held. */
static struct item *merge_target(struct ruleset *rs, const struct ruleset_kind *k,
				 const struct item *it)
{
	struct item *held = NULL;
	char key[RS_KEY_LEN];

	if (it->spec.anomaly)
		held = rs_key_find(rs, rs_item_key(it, key));
	if (!held || rs_kind(held) != k || !held->spec.anomaly ||
	    held->spec.action != it->spec.action)
		return NULL;
	return held;
}

/* *op's item replaced by cur with the new item's anomaly bits ORed in (id, creation time
 * and the other fields cur's). rs->lock held. */
static int merge_into(const struct ruleset_kind *k, const struct item *cur, struct op *op,
		      struct rpc_status *st)
{
	ProtobufCMessage *c = rs_item_msg(cur);
	struct item *mi = NULL;
	int err;

	if (!c)
		return -ENOMEM;
	pbf_set_int(c, "match_anomaly", cur->spec.anomaly | op->item->spec.anomaly);
	err = local_item(k, c, rs_id(cur), cur->created_at, &mi, st);
	protobuf_c_message_free_unpacked(c, NULL);
	if (err)
		return err;
	rs_item_free(op->item);
	op->item = mi;
	return 0;
}

/* The build of a create that may merge (group.c): under the lock, against the model. */
static int merge_build(struct ruleset *rs, struct rs_change *c)
{
	struct item *cur = merge_target(rs, c->ops[0].kind, c->ops[0].item);
	bool *merged = c->arg;
	int err;

	err = cur ? merge_into(c->ops[0].kind, cur, &c->ops[0], c->st)
		  : rs_ids_fresh(rs, c->ops, 1, c->st, &c->bad);
	if (!err) {
		*merged = cur != NULL;
		c->out_id = rs_id(c->ops[0].item); /* read before the commit takes the item */
	}
	return err;
}

int ruleset_create_merge(struct ruleset *rs, const struct ruleset_kind *k,
			 const ProtobufCMessage *m, ProtobufCMessage **out, bool *merged,
			 struct rpc_status *st)
{
	struct op op = {.kind = k};
	struct rs_change c = {.ops = &op, .n = 1, .build = merge_build, .st = st};
	struct rs_change *cs = &c;
	bool was_merged = false;
	int err;

	*merged = false;
	err = local_item(k, m, NULL, 0, &op.item, st);
	if (err)
		return err;
	c.arg = &was_merged;
	c.out_kind = k;
	c.out = out;
	err = rs_submit(rs, &cs, 1);
	if (!err)
		*merged = was_merged;
	rs_item_free(op.item);
	return err;
}
