// SPDX-License-Identifier: MIT
/*
 * dp_adopt: adoption of the pinned state by a restarted agent. The model (prefixes,
 * entries, slots, presence counts) is rebuilt from the pinned maps alone, without touching
 * what the program sees: an interrupted transaction is rolled back where it never flipped
 * (its entries are still tagged with a future generation) and completed where it did
 * (deleted entries and old versions go); stale presence values, rate state and unused
 * prefixes are removed; then one clean generation built from the model is switched to.
 * See agent/dataplane.h.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"
#include "log.h"

#define DP_NSLOTS ((uint32_t)XDROP_MAX_SLOT_CHUNKS * XDROP_SLOT_CHUNK)

/* The counter chunks in xdrop_counters (chunk 0 is created if missing). */
static int adopt_chunks(struct dataplane *dp)
{
	int outer = fd_of(dp->skel->maps.xdrop_counters);

	for (uint32_t c = 0; c < XDROP_MAX_SLOT_CHUNKS; c++) {
		uint32_t id;

		if (bpf_map_lookup_elem(outer, &c, &id) == 0) {
			dp->chunk_fd[c] = bpf_map_get_fd_by_id(id);
			if (dp->chunk_fd[c] < 0)
				return -errno;
			dp->nchunks = c + 1;
		}
	}
	if (dp->chunk_fd[0] < 0)
		return dp_chunk_create(dp, 0);
	return 0;
}

/* The prefix of an LPM key of trie t (IPv4 tries hold IPv4-mapped prefixes). */
static void lpm_prefix(bool v4, const struct xdrop_lpm4_key *k4, const struct xdrop_lpm6_key *k6,
		       struct addr_prefix *a)
{
	memset(a, 0, sizeof(*a));
	if (v4) {
		a->addr.b[10] = a->addr.b[11] = 0xff;
		memcpy(a->addr.b + 12, k4->addr, 4);
		a->plen = k4->prefixlen + 96;
	} else {
		memcpy(a->addr.b, k6->addr, 16);
		a->plen = k6->prefixlen;
	}
}

/* The prefixes of one trie whose id has info; the others are half-made prefixes of an
 * interrupted change, collected later. */
static int adopt_trie(struct dataplane *dp, int t)
{
	int pfd = fd_of(dp->skel->maps.xdrop_prefix), fd = dp_trie_fd(dp, t), err;
	bool v4 = t == TRIE_SRC4 || t == TRIE_DST4;
	struct xdrop_lpm6_key k6, n6;
	struct xdrop_lpm4_key k4, n4;
	void *cur = NULL, *next = v4 ? (void *)&n4 : (void *)&n6;

	while (bpf_map_get_next_key(fd, cur, next) == 0) {
		struct xdrop_prefix_info info;
		struct addr_prefix a;
		struct dp_prefix *p;
		uint32_t id;

		lpm_prefix(v4, &n4, &n6, &a);
		if (v4) {
			k4 = n4;
			cur = &k4;
		} else {
			k6 = n6;
			cur = &k6;
		}
		if (bpf_map_lookup_elem(fd, cur, &id) || bpf_map_lookup_elem(pfd, &id, &info))
			continue;
		err = dp_ensure_id(dp, id);
		if (err)
			return err;
		if (dp->by_id[id])
			continue;
		p = dp_prefix_new(dp, t, &a, id);
		if (!p)
			return -ENOMEM;
		p->parent = info.parent;
	}
	return 0;
}

static int adopt_prefixes(struct dataplane *dp)
{
	int err;

	for (int t = 0; t < NTRIES; t++) {
		err = adopt_trie(dp, t);
		if (err)
			return err;
	}
	/* ids below next_id that no prefix holds are free */
	for (uint32_t id = 1; id < dp->next_id; id++)
		if (!dp->by_id[id])
			dp->free_ids[dp->nfree_ids++] = id;
	return 0;
}

/* Brings one entry of a pinned table to a clean state as of generation gen and returns
 * the action it has for packets, or NULL when it is (now) absent. prevs: the table's
 * previous-value map holds anything at all (else it is not looked up, entry by entry). */
static const struct xdrop_act *adopt_entry(struct dataplane *dp, int table, const void *key,
					   struct xdrop_entry *v, struct xdrop_act *prev,
					   bool prevs)
{
	int fd = dp_entry_fd(dp, table, false), pfd = dp_entry_fd(dp, table, true);
	bool staged = (int64_t)(dp->gen - v->flip_gen) < 0;
	bool has_prev = prevs && bpf_map_lookup_elem(pfd, key, prev) == 0;

	if (staged) {
		/* never flipped to: roll the change back */
		if (v->vflags & XDROP_V_NEW) {
			bpf_map_delete_elem(fd, key);
			return NULL;
		}
		if ((v->vflags & XDROP_V_MOD) && has_prev)
			v->act = *prev;
		v->flip_gen = 0;
		v->vflags = 0;
		bpf_map_update_elem(fd, key, v, BPF_ANY);
		if (has_prev)
			bpf_map_delete_elem(pfd, key);
		return &v->act;
	}
	if (has_prev)
		bpf_map_delete_elem(pfd, key);
	if (v->vflags & XDROP_V_DEL) {
		bpf_map_delete_elem(fd, key);
		return NULL;
	}
	return &v->act;
}

/* A model entry for a clean pinned entry; NULL (and the pinned entry removed) when it is
 * malformed or refers to a missing prefix, or when memory runs out (*err = -ENOMEM). */
static struct dp_entry *adopt_model_entry(struct dataplane *dp, int table, const void *key,
					  const struct xdrop_act *act, const uint8_t *slot_used,
					  int *err)
{
	int fd = dp_entry_fd(dp, table, false);
	struct dp_entry *e = dp_entry_new(table);

	*err = e ? 0 : -ENOMEM;
	if (!e)
		return NULL;
	e->key.table = (uint8_t)table;
	memcpy(&e->key.u, key, table == TBL_EXACT ? sizeof(e->key.u.e) : sizeof(e->key.u.c));
	e->act = *act;
	if (table == TBL_EXACT) {
		e->kind = e->key.u.e.kind;
		e->combo = e->key.u.e.combo;
	} else {
		uint32_t ids[2] = {e->key.u.c.src_id, e->key.u.c.dst_id};

		e->kind = e->key.u.c.kind;
		e->combo = e->key.u.c.combo;
		for (int d = 0; d < 2; d++)
			if (ids[d])
				e->pfx[d] = ids[d] < dp->id_cap ? dp->by_id[ids[d]] : NULL;
		if ((ids[0] && !e->pfx[0]) || (ids[1] && !e->pfx[1])) {
			log_warn("adopt: CIDR entry refers to a missing prefix; removed");
			goto drop;
		}
	}
	if (e->kind >= XDROP_NKINDS || e->combo == 0 || e->combo > XDROP_F_ALL ||
	    e->act.slot >= DP_NSLOTS || slot_used[e->act.slot]) {
		log_warn("adopt: malformed entry removed");
		goto drop;
	}
	return e;
drop:
	bpf_map_delete_elem(fd, key);
	free(e);
	return NULL;
}

/* Adopts one pinned entry (key, v): cleaned, then in the model; marks its slot. */
static int adopt_one(struct dataplane *dp, int table, const void *key, struct xdrop_entry *v,
		     bool prevs, uint8_t *slot_used)
{
	const struct xdrop_act *act;
	struct xdrop_act prev;
	struct dp_entry *e;
	int err = 0;

	act = adopt_entry(dp, table, key, v, &prev, prevs);
	if (!act)
		return 0;
	e = adopt_model_entry(dp, table, key, act, slot_used, &err);
	if (!e)
		return err;
	if (dp_entry_put(dp, e)) {
		free(e);
		return -ENOMEM;
	}
	slot_used[e->act.slot] = 1;
	if (e->act.slot >= dp->next_slot)
		dp->next_slot = e->act.slot + 1;
	dp_model_count(dp, e, +1);
	if (e->act.action == XDROP_ACT_RATE_LIMIT)
		dp->nrate++;
	return 0;
}

/* Every entry of one pinned table, its keys and values read in batches (a million
 * entries in a few calls, not two per entry); marks the slots they hold in slot_used. */
static int adopt_entries(struct dataplane *dp, int table, uint8_t *slot_used)
{
	size_t ksz =
	    table == TBL_EXACT ? sizeof(struct xdrop_exact_key) : sizeof(struct xdrop_cidr_key);
	const size_t vsz = sizeof(struct xdrop_entry);
	int fd = dp_entry_fd(dp, table, false), err;
	uint8_t *keys = NULL, *vals = NULL, *pkeys = NULL;
	size_t n, np = 0;
	bool batched;

	/* the previous values exist only while a change is staged: usually none */
	err = dp_map_keys(dp_entry_fd(dp, table, true), ksz, &pkeys, &np);
	free(pkeys);
	if (err)
		return err;
	batched = dp_map_entries(fd, ksz, vsz, &keys, &vals, &n) == 0;
	if (!batched && (err = dp_map_keys(fd, ksz, &keys, &n)))
		return err;
	err = ptab_reserve(&dp->entries, dp->entries.n + n); /* one allocation, no regrowth */
	for (size_t i = 0; i < n && !err; i++) {
		const void *key = keys + i * ksz;
		struct xdrop_entry v;

		if (batched)
			memcpy(&v, vals + i * vsz, vsz);
		else if (bpf_map_lookup_elem(fd, key, &v))
			continue;
		err = adopt_one(dp, table, key, &v, np > 0, slot_used);
	}
	free(keys);
	free(vals);
	return err;
}

/* Entries and slots: the free list holds the slots below next_slot that no entry holds;
 * rate state exists exactly for the rate_limit entries. */
static int adopt_entries_slots(struct dataplane *dp)
{
	uint8_t *slot_used = calloc(DP_NSLOTS, 1), *rkeys;
	struct dp_entry *e;
	size_t tmp;
	size_t nr;
	int err;

	if (!slot_used)
		return -ENOMEM;
	err = adopt_entries(dp, TBL_EXACT, slot_used);
	if (!err)
		err = adopt_entries(dp, TBL_CIDR, slot_used);
	for (uint32_t s = 0; s < dp->next_slot && !err; s++)
		if (!slot_used[s] && dp_free_slot_push(dp, s))
			err = -ENOMEM;
	if (err)
		goto out;
	if (dp_map_keys(fd_of(dp->skel->maps.xdrop_rate), sizeof(uint32_t), &rkeys, &nr) == 0) {
		for (size_t i = 0; i < nr; i++) {
			uint32_t slot;

			memcpy(&slot, rkeys + i * sizeof(slot), sizeof(slot));
			if (slot >= DP_NSLOTS || !slot_used[slot])
				dp_rate_delete(dp, slot);
		}
		free(rkeys);
	}
	DP_FOR_ENTRIES(dp, e, tmp)
	{
		if (e->act.action == XDROP_ACT_RATE_LIMIT && (err = dp_rate_create(dp, &e->act)))
			break;
	}
out:
	free(slot_used);
	return err;
}

/* Deletes the keys of the address presence maps that the model has no value for. */
static int presence_drop_stale_addrs(struct dataplane *dp, struct pagg *aggs)
{
	for (int f = XDROP_FIELD_SRC; f <= XDROP_FIELD_DST; f++) {
		int fd = fd_of(f == XDROP_FIELD_SRC ? dp->skel->maps.xdrop_src_addr
						    : dp->skel->maps.xdrop_dst_addr);
		uint8_t *keys;
		size_t n;
		int err = dp_map_keys(fd, sizeof(struct xdrop_addr), &keys, &n);

		if (err)
			return err;
		for (size_t i = 0; i < n; i++) {
			struct pagg ak, *a;

			memset(&ak.key, 0, sizeof(ak.key));
			ak.key.field = (uint8_t)f;
			memcpy(&ak.key.val, keys + i * sizeof(struct xdrop_addr), 16);
			HASH_FIND(hh, aggs, &ak.key, sizeof(ak.key), a);
			if (!a)
				bpf_map_delete_elem(fd, &ak.key.val);
		}
		free(keys);
	}
	return 0;
}

/* Zeroes the port and protocol presence values that the model has no value for. */
static void presence_zero_arrays(struct dataplane *dp, struct pagg *aggs)
{
	struct xdrop_presence zero;

	memset(&zero, 0, sizeof(zero));
	for (uint32_t i = 0; i < XDROP_NPORTS; i++) {
		for (int f = XDROP_FIELD_SPORT; f <= XDROP_FIELD_PROTO; f++) {
			struct pagg ak, *a;

			if (f == XDROP_FIELD_PROTO && i >= XDROP_NPROTOS)
				continue;
			memset(&ak.key, 0, sizeof(ak.key));
			ak.key.field = (uint8_t)f;
			if (f == XDROP_FIELD_PROTO) {
				ak.key.val.b[0] = (uint8_t)i;
			} else {
				uint16_t be = htobe16((uint16_t)i);

				memcpy(ak.key.val.b, &be, 2);
			}
			HASH_FIND(hh, aggs, &ak.key, sizeof(ak.key), a);
			if (!a)
				bpf_map_update_elem(dp_pres_array_fd(dp, f), &i, &zero, BPF_ANY);
		}
	}
}

/* Rewrites every presence map from the model: counts from scratch (the transaction's own
 * counting, starting from no kernel value), stale values removed, then every value
 * written by the transaction's writer. */
static int adopt_presence(struct dataplane *dp)
{
	struct pagg *aggs = NULL;
	struct dp_entry *e;
	size_t tmp;
	int err = 0;

	for (int kd = 0; kd < XDROP_NKINDS; kd++)
		dp->addr_pres[kd] =
		    __builtin_popcount(dp_active_bits(dp, TBL_EXACT, kd)) >= XDROP_ADDR_PRES_MIN;
	DP_FOR_ENTRIES(dp, e, tmp)
	{
		err = dp_pres_adjust(dp, &aggs, e, +1);
		if (err)
			break;
	}
	if (!err)
		err = presence_drop_stale_addrs(dp, aggs);
	if (err) {
		dp_pagg_drop(&aggs);
		return err;
	}
	presence_zero_arrays(dp, aggs);
	return dp_pagg_flush(dp, &aggs);
}

/* Prefix references from the entries, every prefix's info and links rewritten, unused
 * prefixes removed. */
static int adopt_prefix_links(struct dataplane *dp)
{
	bool changed[NTRIES] = {false};
	struct dp_entry *e;
	size_t etmp;
	struct dp_prefix *p, *ptmp;
	unsigned depth;
	int err;

	DP_FOR_ENTRIES(dp, e, etmp)
	{
		dp_prefix_refs(e, +1, changed);
	}
	HASH_ITER(hh, dp->prefixes, p, ptmp)
	{
		if ((err = dp_prefix_info_write(dp, p)))
			return err;
	}
	for (int t = 0; t < NTRIES; t++)
		if ((err = dp_trie_relink(dp, t, false, false, &depth)))
			return err;
	return dp_prefixes_collect(dp);
}

int dp_adopt(struct dataplane *dp)
{
	int err;

	dp->gen = __atomic_load_n(&dp->genp->gen, __ATOMIC_ACQUIRE);
	err = dp_cfg_legacy_open(dp);
	if (!err)
		err = adopt_chunks(dp);
	if (!err)
		err = adopt_prefixes(dp);
	if (!err)
		err = adopt_entries_slots(dp);
	if (err)
		return err;
	err = adopt_presence(dp);
	if (!err)
		err = adopt_prefix_links(dp);
	if (err)
		return err;
	/* one clean generation built from the model */
	err = dp_config_write(dp, dp->gen + 1);
	if (err)
		return err;
	dp_gen_store(dp, dp->gen + 1);
	return dp_grace_period(dp);
}
