// SPDX-License-Identifier: MIT
/*
 * dp_prefix: the prefixes of CIDR entries. Each distinct (trie, prefix) gets an id; the
 * LPM trie maps the prefix to its id, xdrop_prefix maps the id to its info (parent id,
 * length, the combos per kind in which it occurs), so that a packet walks from its longest
 * matching prefix to the enclosing ones (at most XDROP_CIDR_MAX_DEPTH). The model keeps
 * per prefix the references per kind and combo; a transaction creates prefixes in its
 * plan, writes them before the flip (stage), and the cleanup removes the unused ones after
 * a grace period (collect). See dp_priv.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

int dp_trie_of(const struct addr_prefix *p, int dst)
{
	bool v4 = addr_is_v4(&p->addr) && p->plen >= 96;

	return (v4 ? TRIE_SRC4 : TRIE_SRC6) + (dst ? 1 : 0);
}

int dp_trie_fd(struct dataplane *dp, int trie)
{
	switch (trie) {
	case TRIE_SRC4:
		return fd_of(dp->skel->maps.xdrop_src4);
	case TRIE_DST4:
		return fd_of(dp->skel->maps.xdrop_dst4);
	case TRIE_SRC6:
		return fd_of(dp->skel->maps.xdrop_src6);
	default:
		return fd_of(dp->skel->maps.xdrop_dst6);
	}
}

/* The trie and the hash of the same prefix: both hold it or neither (dp_plens.c). A new
 * prefix goes into the trie first, a removed one leaves the hash first. */
static int trie_write(struct dataplane *dp, struct dp_prefix *p, bool del)
{
	int fd = dp_trie_fd(dp, p->key.trie), err;

	if (del)
		dp_pfx_hash_write(dp, p, true);

	if (p->key.trie == TRIE_SRC4 || p->key.trie == TRIE_DST4) {
		struct xdrop_lpm4_key k = {.prefixlen = p->key.plen - 96};

		memcpy(k.addr, p->key.addr.b + 12, 4);
		err = del ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &p->id, 0);
	} else {
		struct xdrop_lpm6_key k = {.prefixlen = p->key.plen};

		memcpy(k.addr, p->key.addr.b, 16);
		err = del ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &p->id, 0);
	}
	if (err)
		return -errno;
	return del ? 0 : dp_pfx_hash_write(dp, p, false);
}

void dp_prefix_info(const struct dp_prefix *p, struct xdrop_prefix_info *info)
{
	memset(info, 0, sizeof(*info));
	info->parent = p->parent;
	info->plen = (uint8_t)p->key.plen;
	for (int k = 0; k < XDROP_NKINDS; k++)
		for (int m = 0; m < XDROP_NCOMBOS; m++)
			if (p->refs[k][m])
				info->combos[k] |= 1u << m;
}

int dp_prefix_info_write(struct dataplane *dp, const struct dp_prefix *p)
{
	struct xdrop_prefix_info info;

	dp_prefix_info(p, &info);
	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_prefix), &p->id, &info, BPF_ANY))
		return -errno;
	dp_pfx_hash_info(dp, p, &info);
	return 0;
}

struct dp_prefix *dp_prefix_find(struct dataplane *dp, int trie, const struct addr_prefix *a)
{
	struct pkey k;
	struct dp_prefix *p;

	memset(&k, 0, sizeof(k));
	k.trie = (uint8_t)trie;
	k.addr = a->addr;
	k.plen = a->plen;
	HASH_FIND(hh, dp->prefixes, &k, sizeof(k), p);
	return p;
}

static int id_alloc(struct dataplane *dp, uint32_t *id)
{
	if (dp->nfree_ids) {
		*id = dp->free_ids[--dp->nfree_ids];
		return 0;
	}
	if (dp->next_id >= dp->id_cap) {
		uint32_t cap = dp->id_cap ? dp->id_cap * 2 : 1024;
		struct dp_prefix **n = realloc(dp->by_id, cap * sizeof(*n));
		uint32_t *f = realloc(dp->free_ids, cap * sizeof(*f));

		if (n)
			dp->by_id = n;
		if (f)
			dp->free_ids = f;
		if (!n || !f)
			return -ENOMEM;
		memset(dp->by_id + dp->id_cap, 0, (cap - dp->id_cap) * sizeof(*n));
		dp->id_cap = cap;
	}
	*id = dp->next_id++;
	return 0;
}

int dp_ensure_id(struct dataplane *dp, uint32_t id)
{
	while (id >= dp->id_cap) {
		uint32_t save = dp->next_id, tmp;
		int err;

		dp->next_id = dp->id_cap;
		err = id_alloc(dp, &tmp); /* grows the arrays */
		dp->next_id = save;
		if (err)
			return err;
	}
	if (id >= dp->next_id)
		dp->next_id = id + 1;
	return 0;
}

struct dp_prefix *dp_prefix_new(struct dataplane *dp, int trie, const struct addr_prefix *a,
				uint32_t id)
{
	struct dp_prefix *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->key.trie = (uint8_t)trie;
	p->key.addr = a->addr;
	p->key.plen = a->plen;
	p->id = id;
	HASH_ADD(hh, dp->prefixes, key, sizeof(p->key), p);
	dp->by_id[id] = p;
	dp->ntrie[trie]++;
	return p;
}

static void prefix_forget(struct dataplane *dp, struct dp_prefix *p)
{
	HASH_DEL(dp->prefixes, p);
	dp->by_id[p->id] = NULL;
	dp->free_ids[dp->nfree_ids++] = p->id;
	dp->ntrie[p->key.trie]--;
	free(p);
}

int dp_resolve_prefix(struct dataplane *dp, const struct addr_prefix *a, int dst,
		      struct dp_prefix **out, uint32_t *new_per_trie)
{
	int trie = dp_trie_of(a, dst), err;
	struct dp_prefix *p = dp_prefix_find(dp, trie, a);
	uint32_t id;

	if (!p) {
		if (dp->ntrie[trie] + 1 > dp->o.max_prefixes)
			return -ENOSPC;
		err = id_alloc(dp, &id);
		if (err)
			return err;
		p = dp_prefix_new(dp, trie, a, id);
		if (!p)
			return -ENOMEM;
		p->is_new = true;
		new_per_trie[trie]++;
	}
	*out = p;
	return 0;
}

static int pfx_cmp(const void *a, const void *b)
{
	const struct dp_prefix *x = *(struct dp_prefix *const *)a,
			       *y = *(struct dp_prefix *const *)b;
	int c = memcmp(x->key.addr.b, y->key.addr.b, 16);

	if (c)
		return c;
	return x->key.plen < y->key.plen ? -1 : x->key.plen > y->key.plen;
}

static bool pkey_covers(const struct dp_prefix *outer, const struct dp_prefix *inner)
{
	struct addr_prefix o = {.addr = outer->key.addr, .plen = outer->key.plen};
	struct addr_prefix i = {.addr = inner->key.addr, .plen = inner->key.plen};

	return addr_prefix_covers(&o, &i);
}

/*
 * Recomputes the parent of every prefix of one trie (skipping those being removed when
 * skip_removing), writing the info of those whose parent changed unless dry_run. Sorting
 * by (address, length) puts each prefix right after the prefixes that enclose it, so a
 * stack of open enclosures yields the nearest one. Returns the deepest nesting seen
 * through *depth, 0 or a negative errno.
 */
int dp_trie_relink(struct dataplane *dp, int trie, bool skip_removing, bool dry_run,
		   unsigned *depth)
{
	struct dp_prefix **v, *p, *tmp, *stack[130];
	size_t n = 0, i;
	unsigned sp = 0;
	int err = 0;

	*depth = 0;
	v = malloc((dp->ntrie[trie] + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->key.trie == trie && !(skip_removing && p->removing))
			v[n++] = p;
	}
	qsort(v, n, sizeof(*v), pfx_cmp);
	for (i = 0; i < n; i++) {
		uint32_t parent;

		p = v[i];
		while (sp && !pkey_covers(stack[sp - 1], p))
			sp--;
		parent = sp ? stack[sp - 1]->id : 0;
		if (sp + 1 > *depth)
			*depth = sp + 1;
		if (sp < sizeof(stack) / sizeof(stack[0]))
			stack[sp++] = p;
		if (!dry_run && (parent != p->parent || p->is_new)) {
			p->parent = parent;
			err = dp_prefix_info_write(dp, p);
			if (err)
				break;
		}
	}
	free(v);
	return err;
}

void dp_prefix_refs(struct dp_entry *e, int delta, bool *changed)
{
	for (int d = 0; e->key.table == TBL_CIDR && d < 2; d++) {
		struct dp_prefix *p = e->pfx[d];

		if (!p)
			continue;
		p->refs[e->kind][e->combo] += (uint32_t)delta;
		p->total += (uint64_t)(int64_t)delta;
		if ((delta > 0 && p->refs[e->kind][e->combo] == 1) ||
		    (delta < 0 && p->refs[e->kind][e->combo] == 0))
			changed[p->key.trie] = true;
	}
}

int dp_prefixes_stage(struct dataplane *dp, const bool *changed)
{
	struct dp_prefix *p, *tmp;
	int err = 0;

	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->is_new) {
			err = dp_prefix_info_write(dp, p);
			if (!err)
				err = trie_write(dp, p, false);
		} else if (changed[p->key.trie]) {
			/* combos only grow here; a superset is safe before the flip */
			err = dp_prefix_info_write(dp, p);
		}
		if (err)
			return err;
	}
	return 0;
}

void dp_prefixes_unstage(struct dataplane *dp)
{
	struct dp_prefix *p, *tmp;

	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->is_new && p->total == 0) {
			trie_write(dp, p, true);
			p->removing = true;
		}
	}
	dp_grace_period(dp);
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->removing) {
			bpf_map_delete_elem(fd_of(dp->skel->maps.xdrop_prefix), &p->id);
			p->removing = false;
		}
	}
}

int dp_prefixes_finish(struct dataplane *dp, const bool *changed)
{
	struct dp_prefix *p, *tmp;
	int err = 0;

	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		p->is_new = false;
		if (changed[p->key.trie] && p->total && !err)
			err = dp_prefix_info_write(dp, p);
	}
	return err;
}

void dp_forget_new_prefixes(struct dataplane *dp)
{
	struct dp_prefix *p, *tmp;

	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->is_new && p->total == 0)
			prefix_forget(dp, p);
		else
			p->is_new = false;
	}
}

/* Relinks without the unused prefixes, unlinks them from the tries, waits for readers
 * that may still hold their ids, then forgets them. */
int dp_prefixes_collect(struct dataplane *dp)
{
	struct dp_prefix *p, *tmp;
	bool any[NTRIES] = {false};
	unsigned depth;
	int err = 0, t;
	bool found = false;

	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->total == 0) {
			p->removing = true;
			any[p->key.trie] = true;
			found = true;
		}
	}
	if (!found)
		return 0;
	for (t = 0; t < NTRIES; t++)
		if (any[t] && (err = dp_trie_relink(dp, t, true, false, &depth)))
			return err;
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->removing)
			trie_write(dp, p, true);
	}
	err = dp_grace_period(dp);
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->removing) {
			bpf_map_delete_elem(fd_of(dp->skel->maps.xdrop_prefix), &p->id);
			prefix_forget(dp, p);
		}
	}
	return err;
}
