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

/* A heartbeat (no ops, revision == base): checks the base and the content hash. */
static int heartbeat(struct ruleset *rs, const Xdrop__V1__Delta *d, struct rpc_status *st)
{
	char hex[RULEHASH_HEX];
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	if (d->base_revision != rs->revision) {
		rs_status(st, RPC_FAILED_PRECONDITION, "base_revision",
			  "delta base %llu, applied revision %llu",
			  (unsigned long long)d->base_revision, (unsigned long long)rs->revision);
		err = -ESTALE;
	} else if (d->content_hash && strcmp(d->content_hash, rulehash_hex(&rs->hash, hex))) {
		err = -EBADMSG;
	}
	pthread_mutex_unlock(&rs->lock);
	return err;
}

int ruleset_apply_deltas(struct ruleset *rs, Xdrop__V1__Delta *const *ds, size_t n,
			 struct rpc_status *st, size_t *applied)
{
	struct rs_change *c = calloc(n + 1, sizeof(*c));
	struct rs_change **cs = calloc(n + 1, sizeof(*cs));
	size_t nc, bad = 0;
	int err = 0, rerr = 0;

	*applied = 0;
	if (!c || !cs) {
		free(c);
		free(cs);
		return -ENOMEM;
	}
	for (nc = 0; nc < n; nc++) {
		rerr = rs_ops_from_delta(ds[nc], &c[nc].ops, st, &bad);
		if (rerr) /* the ones before it are still applied */
			break;
		c[nc].delta = ds[nc];
		c[nc].n = ds[nc]->n_ops;
		c[nc].st = st;
		cs[nc] = &c[nc];
	}
	if (nc)
		rs_submit(rs, cs, nc);
	for (size_t i = 0; i < nc; i++) {
		if (c[i].err && !err)
			err = c[i].err;
		if (!err)
			*applied = i + 1;
		rs_ops_free(c[i].ops, c[i].n);
	}
	free(c);
	free(cs);
	return err ? err : rerr;
}

int ruleset_apply_delta(struct ruleset *rs, const Xdrop__V1__Delta *d, struct rpc_status *st)
{
	Xdrop__V1__Delta *one = (Xdrop__V1__Delta *)d;
	size_t applied;

	if (d->revision == d->base_revision)
		return heartbeat(rs, d, st);
	return ruleset_apply_deltas(rs, &one, 1, st, &applied);
}

/* The delta of ops[0..n) as the next revision, packed into *buf (malloc'ed). The items
 * are borrowed (their messages unpacked for the while), so it is packed before the engine
 * takes them. */
int rs_pack_local(struct ruleset *rs, const struct op *ops, size_t n, uint8_t **buf, size_t *len)
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

void rs_journal_local(struct ruleset *rs, const uint8_t *buf, size_t len)
{
	Xdrop__V1__Delta *copy = xdrop__v1__delta__unpack(NULL, len, buf);
	char hex[RULEHASH_HEX];

	if (copy) {
		copy->content_hash = NULL; /* not part of the packed copy anyway */
		rs_journal_append(rs, copy);
		xdrop__v1__delta__free_unpacked(copy, NULL);
	}
	log_debug("local change: revision %llu, hash %s", (unsigned long long)rs->revision,
		  rulehash_hex(&rs->hash, hex));
}
