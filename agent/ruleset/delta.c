// SPDX-License-Identifier: MIT
/*
 * ruleset/delta.c: changes in the wire's form, Delta (docs/sync.md). A delta from the
 * controller becomes ops for the change engine; a local write's ops become the delta the
 * journal keeps, so that replaying the journal is applying deltas either way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "model.h"
#include "pbfield.h"

/* The op of one DeltaOp: an upsert (item copied) or a delete of any kind. */
static int op_from(const Xdrop__V1__DeltaOp *o, struct op *op, struct rpc_status *st)
{
	for (unsigned i = 0; i < RULESET_NKINDS; i++) {
		const struct ruleset_kind *k = ruleset_kinds[i];
		const ProtobufCMessage *m = pbf_get_ptr(&o->base, k->upsert_op);
		const char *id = pbf_get_ptr(&o->base, k->delete_op);

		op->kind = k;
		if (m)
			return rs_item_make(k, m, &op->item, st);
		if (id) {
			op->del = true;
			op->id = id;
			return 0;
		}
	}
	rs_status(st, RPC_INVALID_ARGUMENT, "ops", "empty delta op");
	return -EINVAL;
}

int rs_ops_from_delta(const Xdrop__V1__Delta *d, struct op **out, struct rpc_status *st,
		      size_t *bad)
{
	struct op *ops = calloc(d->n_ops + 1, sizeof(*ops));
	int err;

	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_ops; i++) {
		err = op_from(d->ops[i], &ops[i], st);
		if (err) {
			*bad = i;
			rs_ops_free(ops, i);
			return err;
		}
	}
	*out = ops;
	return 0;
}

int ruleset_apply_delta(struct ruleset *rs, const Xdrop__V1__Delta *d, struct rpc_status *st)
{
	char hex[RULEHASH_HEX];
	struct op *ops = NULL;
	size_t bad = 0;
	int err;

	pthread_mutex_lock(&rs->lock);
	if (d->base_revision != rs->revision) {
		rs_status(st, RPC_FAILED_PRECONDITION, "base_revision",
			  "delta base %llu, applied revision %llu",
			  (unsigned long long)d->base_revision, (unsigned long long)rs->revision);
		err = -ESTALE;
		goto out;
	}
	if (d->revision == d->base_revision) { /* heartbeat */
		err = d->content_hash && strcmp(d->content_hash, rulehash_hex(&rs->hash, hex))
			  ? -EBADMSG
			  : 0;
		goto out;
	}
	err = rs_ops_from_delta(d, &ops, st, &bad);
	if (err)
		goto out;
	err = rs_apply_ops(rs, ops, d->n_ops, d->revision, false, st, &bad);
	rs_ops_free(ops, d->n_ops);
	if (err)
		goto out;
	rs_journal_append(rs, d);
	if (d->content_hash && *d->content_hash &&
	    strcmp(d->content_hash, rulehash_hex(&rs->hash, hex)) != 0) {
		log_warn("after revision %llu the content hash is %s, the controller says %s",
			 (unsigned long long)rs->revision, hex, d->content_hash);
		err = -EBADMSG;
	}
out:
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* The delta of ops[0..n) as the next revision, packed into *buf (malloc'ed). The items
 * are borrowed (their messages unpacked for the while), so it is packed before the engine
 * takes them. */
static int pack_local(struct ruleset *rs, const struct op *ops, size_t n, uint8_t **buf,
		      size_t *len)
{
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	Xdrop__V1__DeltaOp *dops = calloc(n + 1, sizeof(*dops));
	Xdrop__V1__DeltaOp **dptrs = calloc(n + 1, sizeof(*dptrs));
	ProtobufCMessage **msgs = calloc(n + 1, sizeof(*msgs));
	int err = 0;

	if (!dops || !dptrs || !msgs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++) {
		const struct ruleset_kind *k = ops[i].kind;

		xdrop__v1__delta_op__init(&dops[i]);
		if (ops[i].del)
			pbf_set_ptr(&dops[i].base, k->delete_op, ops[i].id);
		else if ((msgs[i] = rs_item_msg(ops[i].item)))
			pbf_set_ptr(&dops[i].base, k->upsert_op, msgs[i]);
		else
			err = -ENOMEM;
		dptrs[i] = &dops[i];
	}
	if (err)
		goto out;
	d.base_revision = rs->revision;
	d.revision = rs->revision + 1;
	d.n_ops = n;
	d.ops = dptrs;
	d.created_at = clock_wall_ns();
	*len = xdrop__v1__delta__get_packed_size(&d);
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		err = -ENOMEM;
		goto out;
	}
	xdrop__v1__delta__pack(&d, *buf);
out:
	for (size_t i = 0; msgs && i < n; i++)
		ruleset_free(msgs[i]);
	free(msgs);
	free(dops);
	free(dptrs);
	return err;
}

int rs_commit_local(struct ruleset *rs, struct op *ops, size_t n, struct rpc_status *st,
		    size_t *bad)
{
	Xdrop__V1__Delta *copy;
	char hex[RULEHASH_HEX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	err = pack_local(rs, ops, n, &buf, &len);
	if (!err)
		err = rs_apply_ops(rs, ops, n, rs->revision + 1, true, st, bad);
	if (!err) {
		copy = xdrop__v1__delta__unpack(NULL, len, buf);
		if (copy) {
			copy->content_hash = NULL; /* not part of the packed copy anyway */
			rs_journal_append(rs, copy);
			xdrop__v1__delta__free_unpacked(copy, NULL);
		}
		log_debug("local change: revision %llu, hash %s", (unsigned long long)rs->revision,
			  rulehash_hex(&rs->hash, hex));
	}
	free(buf);
	return err;
}
