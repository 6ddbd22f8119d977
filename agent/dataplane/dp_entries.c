// SPDX-License-Identifier: MIT
/*
 * dp_entries: the entries of the model: a rule_spec's key in the exact or CIDR table (a
 * CIDR key names its prefixes by id), the lookup of an entry by spec, the way back from an
 * entry to its spec, the entry counts per table, kind and bit that the config slots are
 * written from, and the write of one entry's value. See dp_priv.h.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

int dp_entry_fd(struct dataplane *dp, int table, bool prev)
{
	if (table == TBL_EXACT)
		return fd_of(prev ? dp->skel->maps.xdrop_exact_prev : dp->skel->maps.xdrop_exact);
	return fd_of(prev ? dp->skel->maps.xdrop_cidr_prev : dp->skel->maps.xdrop_cidr);
}

const void *dp_ekey_bytes(const struct dp_entry *e)
{
	return e->key.table == TBL_EXACT ? (const void *)&e->key.u.e : (const void *)&e->key.u.c;
}

int dp_entry_write(struct dataplane *dp, const struct dp_entry *e, uint64_t flip_gen,
		   uint8_t vflags, const struct xdrop_act *act)
{
	struct xdrop_entry v;

	memset(&v, 0, sizeof(v));
	v.flip_gen = flip_gen;
	v.vflags = vflags;
	v.act = *act;
	if (bpf_map_update_elem(dp_entry_fd(dp, e->key.table, false), dp_ekey_bytes(e), &v,
				BPF_ANY))
		return -errno;
	return 0;
}

void dp_model_count(struct dataplane *dp, const struct dp_entry *e, int delta)
{
	dp->count[e->key.table][e->kind][dp_entry_bit(dp, e)] += (uint64_t)(int64_t)delta;
	dp->nkind[e->kind] += (size_t)(ssize_t)delta;
	dp->ntable[e->key.table] += (size_t)(ssize_t)delta;
}

int dp_resolve_key(struct dataplane *dp, const struct rule_spec *s, struct ekey *k,
		   struct dp_prefix **pfx, uint32_t *new_per_trie)
{
	int err;

	memset(k, 0, sizeof(*k));
	pfx[0] = pfx[1] = NULL;
	if (rule_is_exact(s)) {
		k->table = TBL_EXACT;
		rule_exact_key(s, &k->u.e);
		return 0;
	}
	k->table = TBL_CIDR;
	if (s->src.plen) {
		err = dp_resolve_prefix(dp, &s->src, 0, &pfx[0], new_per_trie);
		if (err)
			return err;
	}
	if (s->dst.plen) {
		err = dp_resolve_prefix(dp, &s->dst, 1, &pfx[1], new_per_trie);
		if (err)
			return err;
	}
	k->u.c.src_id = pfx[0] ? pfx[0]->id : 0;
	k->u.c.dst_id = pfx[1] ? pfx[1]->id : 0;
	k->u.c.sport = htobe16(s->sport);
	k->u.c.dport = htobe16(s->dport);
	k->u.c.proto = s->proto;
	k->u.c.combo = rule_combo(s);
	k->u.c.kind = s->kind;
	return 0;
}

static bool entry_has_key(const void *e, const void *k)
{
	return !memcmp(&((const struct dp_entry *)e)->key, k, sizeof(struct ekey));
}

static uint32_t ekey_hash(const struct ekey *k)
{
	return ptab_hash(k, sizeof(*k));
}

struct dp_entry *dp_entry_new(int table)
{
	return calloc(1, table == TBL_EXACT ? offsetof(struct dp_entry, pfx)
					    : sizeof(struct dp_entry));
}

struct dp_entry *dp_entry_get(const struct dataplane *dp, const struct ekey *k)
{
	return ptab_find(&dp->entries, ekey_hash(k), entry_has_key, k);
}

int dp_entry_put(struct dataplane *dp, struct dp_entry *e)
{
	return ptab_add(&dp->entries, ekey_hash(&e->key), e);
}

void dp_entry_drop(struct dataplane *dp, struct dp_entry *e)
{
	ptab_del(&dp->entries, ekey_hash(&e->key), entry_has_key, &e->key);
	free(e);
}

struct dp_entry *dp_entry_find(struct dataplane *dp, const struct rule_spec *s)
{
	uint32_t none[NTRIES] = {0};
	struct dp_prefix *pfx[2];
	struct dp_entry *e;
	struct ekey k;

	/* a prefix that does not exist means no entry: look up only, create nothing */
	if (!rule_is_exact(s)) {
		if (s->src.plen && !dp_prefix_find(dp, dp_trie_of(&s->src, 0), &s->src))
			return NULL;
		if (s->dst.plen && !dp_prefix_find(dp, dp_trie_of(&s->dst, 1), &s->dst))
			return NULL;
	}
	if (dp_resolve_key(dp, s, &k, pfx, none))
		return NULL;
	e = dp_entry_get(dp, &k);
	if (e && e->gone)
		return NULL; /* deleted; only its cleanup is still to run */
	return e;
}

void dp_spec_of(const struct dp_entry *e, struct rule_spec *s)
{
	struct xdrop_exact_key k;

	if (e->key.table == TBL_EXACT) {
		rule_from_exact(&e->key.u.e, &e->act, s);
		return;
	}
	memset(&k, 0, sizeof(k));
	k.sport = e->key.u.c.sport;
	k.dport = e->key.u.c.dport;
	k.proto = e->key.u.c.proto;
	k.combo = e->combo & ~(XDROP_F_SRC | XDROP_F_DST);
	k.kind = e->kind;
	rule_from_exact(&k, &e->act, s);
	for (int d = 0; d < 2; d++) {
		struct addr_prefix *a = d ? &s->dst : &s->src;

		if (e->pfx[d]) {
			a->addr = e->pfx[d]->key.addr;
			a->plen = e->pfx[d]->key.plen;
		}
	}
}
