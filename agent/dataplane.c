// SPDX-License-Identifier: MIT
/*
 * dataplane: skeleton loading, pinning, adoption, and the transactional rule switch; the
 * protocol is described in dataplane.h and bpf/xdrop.h.
 *
 * Model (all in user memory, rebuilt from the maps on adoption):
 *   entries   by table and key: the active action, the prefixes a CIDR entry uses, and
 *             per-transaction scratch (what this transaction does to the entry);
 *   prefixes  by trie and prefix: id, parent id, reference counts per kind and combo;
 *   presence  reference counts per (field, value, table, kind, bit); a count going 0 -> 1
 *             sets the bit in the kernel's presence value before the flip, 1 -> 0 clears
 *             it after the grace period, so the kernel always holds a superset;
 *   slots     counter and rate-state indices, reused only after a grace period.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <uthash.h>

#include "dataplane.h"
#include "log.h"
#include "xdrop.skel.h"

/* Two-level stringification: DP_STR(XDROP_CIDR_MAX_DEPTH) is "8". */
#define DP_STR_(x) #x
#define DP_STR(x)  DP_STR_(x)

enum { TBL_EXACT = 0, TBL_CIDR = 1 };
enum { TRIE_SRC4, TRIE_DST4, TRIE_SRC6, TRIE_DST6, NTRIES };

/* What the running transaction does to an entry. */
enum { TX_NONE = 0, TX_NEW, TX_MOD, TX_DEL, TX_KEEP };

struct ekey {
	uint8_t table;
	uint8_t pad[3];
	union {
		struct xdrop_exact_key e;
		struct xdrop_cidr_key c;
	} u;
};

struct dp_prefix;

struct dp_entry {
	UT_hash_handle hh;
	struct ekey key;
	struct xdrop_act act;	  /* active */
	struct xdrop_act new_act; /* TX_NEW / TX_MOD */
	struct dp_prefix *pfx[2]; /* CIDR: source and destination prefix (NULL = absent) */
	uint8_t tx;
	uint8_t kind;
	uint8_t combo;
};

struct pkey {
	uint8_t trie;
	uint8_t pad[3];
	struct xdrop_addr addr;
	uint32_t plen;
};

struct dp_prefix {
	UT_hash_handle hh;
	struct pkey key;
	uint32_t id;
	uint32_t parent;
	uint32_t refs[XDROP_NKINDS][XDROP_NCOMBOS]; /* entries per kind and combo mask */
	uint64_t total;				    /* sum of refs */
	bool is_new;				    /* created by the running transaction */
	bool removing;				    /* no references left: removed at cleanup */
};

struct preskey {
	uint8_t field; /* enum xdrop_field */
	uint8_t table;
	uint8_t kind;
	uint8_t bit; /* exact: precedence position; CIDR: combo mask */
	struct xdrop_addr val;
};

struct dp_pres {
	UT_hash_handle hh;
	struct preskey key;
	uint32_t count;
};

/* Pending kernel presence values of one transaction, per (field, value). */
struct pagg {
	UT_hash_handle hh;
	struct {
		uint8_t field;
		uint8_t pad[3];
		struct xdrop_addr val;
	} key;
	struct xdrop_presence v;
};

/* The kernel's presence value per (field, value), mirrored so that changes need no reads. */
struct pval {
	UT_hash_handle hh;
	struct {
		uint8_t field;
		uint8_t pad[3];
		struct xdrop_addr val;
	} key;
	struct xdrop_presence v;
};

/* A switched transaction whose grace period and cleanup are still to run
 * (dataplane_apply_begin -> dataplane_apply_finish). */
struct dp_pending {
	bool active, inplace;
	struct plan *pl;
	size_t n;
	struct pagg *aggs;
	bool pfx_changed[NTRIES];
	struct dp_result *res;
};

struct dataplane {
	struct xdrop *skel;
	char pin_dir[256];
	bool pinned, adopted;
	struct dataplane_opts o;
	struct rule_order order;
	int ncpus;
	struct xdrop_gen *genp; /* mmapped xdrop_gen[0] */
	uint64_t gen;
	struct dp_pending pend;

	struct dp_entry *entries;
	struct dp_prefix *prefixes;
	struct dp_prefix **by_id; /* id -> prefix */
	uint32_t id_cap, next_id;
	uint32_t *free_ids;
	size_t nfree_ids;
	uint32_t ntrie[NTRIES];
	struct dp_pres *pres;
	struct pval *pvals;
	/* Address presence is maintained for a kind only once three or more exact combos of
	 * that kind are active: the program consults it only then (with at most two
	 * candidates it probes directly), and a one- or two-shape set of a million rules is
	 * spared a million presence entries. Once on, it stays on. */
	bool addr_pres[XDROP_NKINDS];

	uint32_t next_slot, *free_slots;
	size_t nfree_slots, cap_free_slots;
	int chunk_fd[XDROP_MAX_SLOT_CHUNKS];
	uint32_t nchunks;

	uint64_t count[2][XDROP_NKINDS][XDROP_NCOMBOS]; /* entries per table, kind, bit */
	size_t nkind[XDROP_NKINDS];
	size_t ntable[2];
	size_t nrate;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fd_of(const struct bpf_map *m)
{
	return bpf_map__fd(m);
}

/* ---- batched map writes ---- */

#define WB_MAX 65536 /* elements per BPF_MAP_UPDATE_BATCH call */

/* Collects key/value pairs for one map and writes them with BPF_MAP_UPDATE_BATCH: one
 * system call per WB_MAX elements instead of one per element. */
struct wbatch {
	int fd;
	size_t ksz, vsz, n, cap;
	uint8_t *keys, *vals;
};

static void wb_init(struct wbatch *b, int fd, size_t ksz, size_t vsz)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->ksz = ksz;
	b->vsz = vsz;
}

static int wb_flush(struct wbatch *b)
{
	size_t done = 0;

	while (done < b->n) {
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
		uint32_t count = (uint32_t)(b->n - done);

		if (bpf_map_update_batch(b->fd, b->keys + done * b->ksz, b->vals + done * b->vsz,
					 &count, &o)) {
			int err = -errno;

			/* count says how many went in; the rest is refused */
			if (count == 0)
				return err;
		}
		done += count;
	}
	b->n = 0;
	return 0;
}

static int wb_add(struct wbatch *b, const void *k, const void *v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		uint8_t *nk, *nv;

		if (b->n >= WB_MAX) {
			int err = wb_flush(b);

			if (err)
				return err;
			goto add;
		}
		nk = realloc(b->keys, cap * b->ksz);
		if (nk)
			b->keys = nk;
		nv = nk ? realloc(b->vals, cap * b->vsz) : NULL;
		if (nv)
			b->vals = nv;
		if (!nk || !nv)
			return -ENOMEM;
		b->cap = cap;
	}
add:
	memcpy(b->keys + b->n * b->ksz, k, b->ksz);
	memcpy(b->vals + b->n * b->vsz, v, b->vsz);
	b->n++;
	return 0;
}

static void wb_free(struct wbatch *b)
{
	free(b->keys);
	free(b->vals);
	memset(b, 0, sizeof(*b));
}

/* ---- slots and counter chunks ---- */

static int chunk_create(struct dataplane *dp, uint32_t idx)
{
	int fd, outer = fd_of(dp->skel->maps.xdrop_counters), err;
	char name[16];

	snprintf(name, sizeof(name), "xdrop_cnt%u", idx);
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, name, 4, sizeof(struct xdrop_slot_counters),
			    XDROP_SLOT_CHUNK, NULL);
	if (fd < 0) {
		log_error("counter chunk %u: create failed: %s", idx, strerror(errno));
		return -errno;
	}
	if (bpf_map_update_elem(outer, &idx, &fd, BPF_ANY)) {
		err = -errno;
		log_error("counter chunk %u: insert failed: %s", idx, strerror(errno));
		close(fd);
		return err;
	}
	dp->chunk_fd[idx] = fd;
	if (idx >= dp->nchunks)
		dp->nchunks = idx + 1;
	return 0;
}

static int slot_alloc(struct dataplane *dp, uint32_t *slot)
{
	uint32_t s, chunk;
	int err;

	if (dp->nfree_slots) {
		*slot = dp->free_slots[--dp->nfree_slots];
		return 0;
	}
	s = dp->next_slot;
	chunk = s >> XDROP_SLOT_CHUNK_BITS;
	if (chunk >= XDROP_MAX_SLOT_CHUNKS)
		return -ENOSPC;
	if (dp->chunk_fd[chunk] < 0) {
		err = chunk_create(dp, chunk);
		if (err)
			return err;
	}
	dp->next_slot++;
	*slot = s;
	return 0;
}

/* Puts a slot on the free list. Returns 0 or -ENOMEM (the slot then stays unused). */
static int free_slot_push(struct dataplane *dp, uint32_t slot)
{
	if (dp->nfree_slots == dp->cap_free_slots) {
		size_t cap = dp->cap_free_slots ? dp->cap_free_slots * 2 : 1024;
		uint32_t *n = realloc(dp->free_slots, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		dp->free_slots = n;
		dp->cap_free_slots = cap;
	}
	dp->free_slots[dp->nfree_slots++] = slot;
	return 0;
}

/* Zeroes the slot's counters (no program uses the slot any more) and frees it. */
static void slot_free(struct dataplane *dp, uint32_t slot)
{
	uint32_t chunk = slot >> XDROP_SLOT_CHUNK_BITS, idx = slot & (XDROP_SLOT_CHUNK - 1);
	struct xdrop_slot_counters *zero = calloc((size_t)dp->ncpus, sizeof(*zero));

	if (zero && chunk < XDROP_MAX_SLOT_CHUNKS && dp->chunk_fd[chunk] >= 0)
		bpf_map_update_elem(dp->chunk_fd[chunk], &idx, zero, BPF_ANY);
	free(zero);
	free_slot_push(dp, slot); /* on failure the slot leaks; counters stay correct */
}

/* One RCU grace period: an update of a map-in-map slot returns only after every program
 * that might still see the previous value has finished. */
static int grace_period(struct dataplane *dp)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_counters), &zero, &dp->chunk_fd[0],
				BPF_ANY))
		return -errno;
	return 0;
}

/* ---- prefixes ---- */

static int trie_of(const struct addr_prefix *p, int dst)
{
	bool v4 = addr_is_v4(&p->addr) && p->plen >= 96;

	return (v4 ? 0 : 2) + (dst ? 1 : 0);
}

static int trie_fd(struct dataplane *dp, int trie)
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

static int trie_write(struct dataplane *dp, const struct dp_prefix *p, bool del)
{
	int fd = trie_fd(dp, p->key.trie), err;

	if (p->key.trie == TRIE_SRC4 || p->key.trie == TRIE_DST4) {
		struct xdrop_lpm4_key k = {.prefixlen = p->key.plen - 96};

		memcpy(k.addr, p->key.addr.b + 12, 4);
		err = del ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &p->id, 0);
	} else {
		struct xdrop_lpm6_key k = {.prefixlen = p->key.plen};

		memcpy(k.addr, p->key.addr.b, 16);
		err = del ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &p->id, 0);
	}
	return err ? -errno : 0;
}

static void prefix_info(const struct dp_prefix *p, struct xdrop_prefix_info *info)
{
	memset(info, 0, sizeof(*info));
	info->parent = p->parent;
	info->plen = (uint8_t)p->key.plen;
	for (int k = 0; k < XDROP_NKINDS; k++)
		for (int m = 0; m < XDROP_NCOMBOS; m++)
			if (p->refs[k][m])
				info->combos[k] |= 1u << m;
}

static int prefix_info_write(struct dataplane *dp, const struct dp_prefix *p)
{
	struct xdrop_prefix_info info;

	prefix_info(p, &info);
	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_prefix), &p->id, &info, BPF_ANY))
		return -errno;
	return 0;
}

static struct dp_prefix *prefix_find(struct dataplane *dp, int trie, const struct addr_prefix *a)
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

static struct dp_prefix *prefix_new(struct dataplane *dp, int trie, const struct addr_prefix *a,
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
static int trie_relink(struct dataplane *dp, int trie, bool skip_removing, bool dry_run,
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
			err = prefix_info_write(dp, p);
			if (err)
				break;
		}
	}
	free(v);
	return err;
}

/* ---- presence ---- */

/* The value of field f (enum xdrop_field) in an entry's key, as presence key bytes:
 * addresses whole, ports in network order in the first two bytes, the protocol in the
 * first byte. */
static void pres_val(const struct dp_entry *e, int field, struct xdrop_addr *val)
{
	const __be16 *sport = e->key.table == TBL_EXACT ? &e->key.u.e.sport : &e->key.u.c.sport;
	const __be16 *dport = e->key.table == TBL_EXACT ? &e->key.u.e.dport : &e->key.u.c.dport;

	memset(val, 0, sizeof(*val));
	switch (field) {
	case XDROP_FIELD_SRC:
		*val = e->key.u.e.src;
		break;
	case XDROP_FIELD_DST:
		*val = e->key.u.e.dst;
		break;
	case XDROP_FIELD_SPORT:
		memcpy(val->b, sport, 2);
		break;
	case XDROP_FIELD_DPORT:
		memcpy(val->b, dport, 2);
		break;
	default:
		val->b[0] = e->key.table == TBL_EXACT ? e->key.u.e.proto : e->key.u.c.proto;
		break;
	}
}

static uint8_t entry_bit(const struct dataplane *dp, const struct dp_entry *e)
{
	return e->key.table == TBL_EXACT ? dp->order.pos_of_mask[e->combo] : e->combo;
}

static struct pagg *pagg_get(struct pagg **aggs, struct dataplane *dp, int field,
			     const struct xdrop_addr *val)
{
	struct pagg k, *a;

	memset(&k.key, 0, sizeof(k.key));
	k.key.field = (uint8_t)field;
	k.key.val = *val;
	HASH_FIND(hh, *aggs, &k.key, sizeof(k.key), a);
	if (a)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->key = k.key;
	/* start from the kernel's current value, as mirrored */
	{
		struct pval *pv;

		HASH_FIND(hh, dp->pvals, &a->key, sizeof(a->key), pv);
		if (pv)
			a->v = pv->v;
	}
	HASH_ADD(hh, *aggs, key, sizeof(a->key), a);
	return a;
}

/* Adjusts the presence reference counts of an entry by delta (+1 or -1); bits whose count
 * leaves or reaches zero are set or cleared in *aggs (pending kernel values). */
static int pres_adjust_fields(struct dataplane *dp, struct pagg **aggs, const struct dp_entry *e,
			      int delta, unsigned fields)
{
	for (int f = 0; f < XDROP_NFIELDS; f++) {
		struct dp_pres k, *p;
		struct pagg *a;
		bool flip;
		uint32_t bit;

		if (!(e->combo & fields & (1 << f)))
			continue;
		if (f <= XDROP_FIELD_DST && (e->key.table == TBL_CIDR || !dp->addr_pres[e->kind]))
			continue; /* CIDR addresses live in the prefix info; see addr_pres */
		memset(&k.key, 0, sizeof(k.key));
		k.key.field = (uint8_t)f;
		k.key.table = e->key.table;
		k.key.kind = e->kind;
		k.key.bit = entry_bit(dp, e);
		pres_val(e, f, &k.key.val);
		HASH_FIND(hh, dp->pres, &k.key, sizeof(k.key), p);
		if (!p) {
			if (delta < 0)
				continue;
			p = calloc(1, sizeof(*p));
			if (!p)
				return -ENOMEM;
			p->key = k.key;
			HASH_ADD(hh, dp->pres, key, sizeof(p->key), p);
		}
		p->count += (uint32_t)delta;
		flip = delta > 0 ? p->count == 1 : p->count == 0;
		if (!flip)
			continue;
		a = pagg_get(aggs, dp, f, &k.key.val);
		if (!a)
			return -ENOMEM;
		bit = 1u << k.key.bit;
		if (e->key.table == TBL_EXACT) {
			if (delta > 0)
				a->v.exact[e->kind] |= bit;
			else
				a->v.exact[e->kind] &= ~bit;
		} else {
			if (delta > 0)
				a->v.cidr[e->kind] |= bit;
			else
				a->v.cidr[e->kind] &= ~bit;
		}
		if (p->count == 0) {
			HASH_DEL(dp->pres, p);
			free(p);
		}
	}
	return 0;
}

/* The presence array of a port or protocol field. */
static int pres_array_fd(struct dataplane *dp, int field)
{
	return fd_of(field == XDROP_FIELD_SPORT	  ? dp->skel->maps.xdrop_sport
		     : field == XDROP_FIELD_DPORT ? dp->skel->maps.xdrop_dport
						  : dp->skel->maps.xdrop_proto);
}

static void pval_set(struct dataplane *dp, const struct pagg *a, bool keep)
{
	struct pval *pv;

	HASH_FIND(hh, dp->pvals, &a->key, sizeof(a->key), pv);
	if (!keep) {
		if (pv) {
			HASH_DEL(dp->pvals, pv);
			free(pv);
		}
		return;
	}
	if (!pv) {
		pv = calloc(1, sizeof(*pv));
		if (!pv)
			return; /* the mirror misses a value: the next change reads zero bits */
		memcpy(&pv->key, &a->key, sizeof(pv->key));
		HASH_ADD(hh, dp->pvals, key, sizeof(pv->key), pv);
	}
	pv->v = a->v;
}

static int pres_adjust(struct dataplane *dp, struct pagg **aggs, const struct dp_entry *e,
		       int delta)
{
	return pres_adjust_fields(dp, aggs, e, delta, XDROP_F_ALL);
}

/* Turns address presence on for a kind whose exact combos are about to exceed two: every
 * existing exact entry of the kind gets its address bits (entries of the running
 * transaction get theirs when staged). */
static int addr_pres_enable(struct dataplane *dp, struct pagg **aggs, uint8_t kind)
{
	struct dp_entry *e, *tmp;
	int err = 0;

	dp->addr_pres[kind] = true;
	HASH_ITER(hh, dp->entries, e, tmp)
	{
		if (e->kind != kind || e->key.table != TBL_EXACT || e->tx == TX_NEW)
			continue;
		err = pres_adjust_fields(dp, aggs, e, +1, XDROP_F_SRC | XDROP_F_DST);
		if (err)
			break;
	}
	return err;
}

/* Turns address presence off for a kind down to two exact combos or fewer (after the flip
 * and the grace period: no program of any generation still consults it). */
static void addr_pres_disable(struct dataplane *dp, struct pagg **aggs, uint8_t kind)
{
	struct dp_entry *e, *tmp;

	HASH_ITER(hh, dp->entries, e, tmp)
	{
		if (e->kind == kind && e->key.table == TBL_EXACT)
			pres_adjust_fields(dp, aggs, e, -1, XDROP_F_SRC | XDROP_F_DST);
	}
	dp->addr_pres[kind] = false;
}

/* Writes the pending presence values (address maps in batches), updates the mirror and
 * frees them. */
static int pagg_flush(struct dataplane *dp, struct pagg **aggs)
{
	struct wbatch wb[2];
	struct pagg *a, *tmp;
	int err = 0;

	wb_init(&wb[0], fd_of(dp->skel->maps.xdrop_src_addr), sizeof(struct xdrop_addr),
		sizeof(struct xdrop_addr_presence));
	wb_init(&wb[1], fd_of(dp->skel->maps.xdrop_dst_addr), sizeof(struct xdrop_addr),
		sizeof(struct xdrop_addr_presence));
	HASH_ITER(hh, *aggs, a, tmp)
	{
		bool nonzero = a->v.exact[0] || a->v.exact[1] || a->v.cidr[0] || a->v.cidr[1];

		if (err)
			break;
		if (a->key.field <= XDROP_FIELD_DST) {
			struct xdrop_addr_presence ap = {{a->v.exact[0], a->v.exact[1]}};

			if (nonzero)
				err = wb_add(&wb[a->key.field], &a->key.val, &ap);
			else if (bpf_map_delete_elem(wb[a->key.field].fd, &a->key.val) &&
				 errno != ENOENT)
				err = -errno;
		} else {
			uint32_t idx = a->key.field == XDROP_FIELD_PROTO
					   ? a->key.val.b[0]
					   : be16toh(*(const uint16_t *)a->key.val.b);

			if (bpf_map_update_elem(pres_array_fd(dp, a->key.field), &idx, &a->v,
						BPF_ANY))
				err = -errno;
		}
		pval_set(dp, a, nonzero);
	}
	for (int i = 0; i < 2; i++) {
		if (!err)
			err = wb_flush(&wb[i]);
		wb_free(&wb[i]);
	}
	HASH_ITER(hh, *aggs, a, tmp)
	{
		HASH_DEL(*aggs, a);
		free(a);
	}
	return err;
}

/* ---- entries ---- */

static int entry_fd(struct dataplane *dp, int table, bool prev)
{
	if (table == TBL_EXACT)
		return fd_of(prev ? dp->skel->maps.xdrop_exact_prev : dp->skel->maps.xdrop_exact);
	return fd_of(prev ? dp->skel->maps.xdrop_cidr_prev : dp->skel->maps.xdrop_cidr);
}

static const void *ekey_bytes(const struct dp_entry *e)
{
	return e->key.table == TBL_EXACT ? (const void *)&e->key.u.e : (const void *)&e->key.u.c;
}

static int entry_write(struct dataplane *dp, const struct dp_entry *e, uint64_t flip_gen,
		       uint8_t vflags, const struct xdrop_act *act)
{
	struct xdrop_entry v;

	memset(&v, 0, sizeof(v));
	v.flip_gen = flip_gen;
	v.vflags = vflags;
	v.act = *act;
	if (bpf_map_update_elem(entry_fd(dp, e->key.table, false), ekey_bytes(e), &v, BPF_ANY))
		return -errno;
	return 0;
}

static int rate_create(struct dataplane *dp, const struct xdrop_act *a)
{
	struct xdrop_rate_state st;

	memset(&st, 0, sizeof(st));
	st.tokens = (uint64_t)a->burst * XDROP_TOKEN_SCALE;
	st.last_ns = dp->o.test_clock ? 0 : mono_ns();
	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_rate), &a->slot, &st, BPF_NOEXIST) &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

static void rate_delete(struct dataplane *dp, uint32_t slot)
{
	bpf_map_delete_elem(fd_of(dp->skel->maps.xdrop_rate), &slot);
}

static void model_count(struct dataplane *dp, const struct dp_entry *e, int delta)
{
	dp->count[e->key.table][e->kind][entry_bit(dp, e)] += (uint64_t)(int64_t)delta;
	dp->nkind[e->kind] += (size_t)(ssize_t)delta;
	dp->ntable[e->key.table] += (size_t)(ssize_t)delta;
}

static void prefix_refs(struct dp_entry *e, int delta, bool *changed)
{
	for (int d = 0; d < 2; d++) {
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

static int config_write(struct dataplane *dp, uint32_t idx)
{
	struct xdrop_config c, cur;
	uint32_t cidx = (uint32_t)(dp->gen & 1);
	int fd = fd_of(dp->skel->maps.xdrop_config);

	memset(&c, 0, sizeof(c));
	for (int k = 0; k < XDROP_NKINDS; k++) {
		for (int b = 0; b < XDROP_NCOMBOS; b++) {
			if (dp->count[TBL_EXACT][k][b])
				c.exact_active[k] |= 1u << b;
			if (dp->count[TBL_CIDR][k][b])
				c.cidr_active[k] |= 1u << b;
		}
	}
	/* flags (fast-forward) carry over from the active buffer */
	if (bpf_map_lookup_elem(fd, &cidx, &cur) == 0)
		c.flags = cur.flags;
	if (bpf_map_update_elem(fd, &idx, &c, BPF_ANY))
		return -errno;
	return 0;
}

static void gen_store(struct dataplane *dp, uint64_t gen)
{
	__atomic_store_n(&dp->genp->gen, gen, __ATOMIC_RELEASE);
	dp->gen = gen;
}

/* ---- transactions ---- */

struct plan {
	struct dp_entry *e;
	uint8_t op;
	bool staged; /* TX_NEW: references, counts and slot taken */
};

static int resolve_prefix(struct dataplane *dp, const struct addr_prefix *a, int dst,
			  struct dp_prefix **out, uint32_t *new_per_trie)
{
	int trie = trie_of(a, dst), err;
	struct dp_prefix *p = prefix_find(dp, trie, a);
	uint32_t id;

	if (!p) {
		if (dp->ntrie[trie] + 1 > dp->o.max_prefixes)
			return -ENOSPC;
		err = id_alloc(dp, &id);
		if (err)
			return err;
		p = prefix_new(dp, trie, a, id);
		if (!p)
			return -ENOMEM;
		p->is_new = true;
		new_per_trie[trie]++;
	}
	*out = p;
	return 0;
}

/* Builds the model key of a spec; CIDR specs get (possibly new) prefixes. */
static int resolve_key(struct dataplane *dp, const struct rule_spec *s, struct ekey *k,
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
		err = resolve_prefix(dp, &s->src, 0, &pfx[0], new_per_trie);
		if (err)
			return err;
	}
	if (s->dst.plen) {
		err = resolve_prefix(dp, &s->dst, 1, &pfx[1], new_per_trie);
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

/* Drops prefixes created by a refused transaction (nothing was written for them). */
static void forget_new_prefixes(struct dataplane *dp)
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

static void plan_abort(struct dataplane *dp, struct plan *pl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct dp_entry *e = pl[i].e;

		if (!e)
			continue;
		if (e->tx == TX_NEW) {
			HASH_DEL(dp->entries, e);
			free(e);
		} else {
			e->tx = TX_NONE;
		}
	}
	forget_new_prefixes(dp);
}

static int refuse(struct dp_result *res, size_t i, const char *field, const char *reason, int err)
{
	res->index = i;
	res->err.field = field;
	res->err.reason = reason;
	return err;
}

static int rl_delta(uint8_t before, uint8_t after)
{
	return (after == XDROP_ACT_RATE_LIMIT) - (before == XDROP_ACT_RATE_LIMIT);
}

/* Removes prefixes no entry uses any more: relink without them, unlink them from the
 * tries, wait for readers that may still hold their ids, forget them. */
static int prefixes_collect(struct dataplane *dp)
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
		if (any[t] && (err = trie_relink(dp, t, true, false, &depth)))
			return err;
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->removing)
			trie_write(dp, p, true);
	}
	err = grace_period(dp);
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		if (p->removing) {
			bpf_map_delete_elem(fd_of(dp->skel->maps.xdrop_prefix), &p->id);
			prefix_forget(dp, p);
		}
	}
	return err;
}

int dataplane_apply_begin(struct dataplane *dp, const struct dp_change *ch, size_t n,
			  struct dp_result *res)
{
	uint32_t new_per_trie[NTRIES] = {0};
	struct dp_result scratch;
	struct pagg *aggs = NULL;
	bool pfx_changed[NTRIES] = {false};
	size_t i, new_exact = 0, new_cidr = 0;
	long rate_delta = 0;
	uint64_t next = dp->gen + 1;
	struct plan *pl;
	double t0 = now_ms(), t1;
	int err = 0, t;
	unsigned depth;
	bool inplace = dp->o.unsafe_inplace;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	res->gen = dp->gen;
	if (n == 0)
		return 0;
	pl = calloc(n, sizeof(*pl));
	if (!pl)
		return -ENOMEM;

	/* 1. validate, resolve keys, check duplicates and capacities: nothing written yet */
	for (i = 0; i < n; i++) {
		const struct rule_spec *s = &ch[i].spec;
		struct dp_prefix *pfx[2];
		struct dp_entry *e;
		struct ekey k;

		if (ch[i].op != DP_PUT && ch[i].op != DP_DEL) {
			err = refuse(res, i, "op", "unknown operation", -EINVAL);
			goto abort;
		}
		if (ch[i].op == DP_PUT && rule_validate(s, &res->err)) {
			res->index = i;
			err = -EINVAL;
			goto abort;
		}
		if (ch[i].op == DP_DEL && rule_combo(s) == 0) {
			err = refuse(res, i, "src_ip", "no match field", -EINVAL);
			goto abort;
		}
		err = resolve_key(dp, s, &k, pfx, new_per_trie);
		if (err) {
			err = refuse(
			    res, i, s->src.plen && s->src.plen < 128 ? "src_cidr" : "dst_cidr",
			    err == -ENOSPC ? "prefix capacity exhausted" : "out of memory", err);
			goto abort;
		}
		HASH_FIND(hh, dp->entries, &k, sizeof(k), e);
		if (e && e->tx != TX_NONE) {
			err = refuse(res, i, "src_ip", "the same match key appears twice", -EEXIST);
			goto abort;
		}
		if (ch[i].op == DP_DEL) {
			if (!e) {
				err = refuse(res, i, "id", "no entry with this match key", -ENOENT);
				goto abort;
			}
			e->tx = TX_DEL;
		} else if (e) {
			rule_act(s, e->act.slot, &e->new_act);
			e->tx = memcmp(&e->new_act, &e->act, sizeof(e->act)) ? TX_MOD : TX_KEEP;
			rate_delta += rl_delta(e->act.action, e->new_act.action);
		} else {
			e = calloc(1, sizeof(*e));
			if (!e) {
				err = -ENOMEM;
				goto abort;
			}
			e->key = k;
			e->pfx[0] = pfx[0];
			e->pfx[1] = pfx[1];
			e->kind = s->kind;
			e->combo = rule_combo(s);
			e->tx = TX_NEW;
			rule_act(s, 0, &e->new_act);
			HASH_ADD(hh, dp->entries, key, sizeof(e->key), e);
			if (k.table == TBL_EXACT)
				new_exact++;
			else
				new_cidr++;
			rate_delta += rl_delta(0, e->new_act.action);
		}
		pl[i].e = e;
		pl[i].op = e->tx;
	}
	if (dp->ntable[TBL_EXACT] + new_exact > dp->o.max_exact) {
		err = refuse(res, 0, "rules", "exact-rule capacity exhausted", -ENOSPC);
		goto abort;
	}
	if (dp->ntable[TBL_CIDR] + new_cidr > dp->o.max_cidr) {
		err = refuse(res, 0, "rules", "CIDR-rule capacity exhausted", -ENOSPC);
		goto abort;
	}
	if ((long)dp->nrate + rate_delta > (long)dp->o.max_rate) {
		err = refuse(res, 0, "rate_limit", "rate-limit capacity exhausted", -ENOSPC);
		goto abort;
	}
	for (t = 0; t < NTRIES; t++) {
		if (!new_per_trie[t])
			continue;
		err = trie_relink(dp, t, false, true, &depth);
		if (err)
			goto abort;
		if (depth > XDROP_CIDR_MAX_DEPTH) {
			err = refuse(
			    res, 0, t & 1 ? "dst_cidr" : "src_cidr",
			    "prefixes nested deeper than " DP_STR(XDROP_CIDR_MAX_DEPTH) " levels",
			    -ENOSPC);
			goto abort;
		}
	}

	/* 2. stage: prefixes, presence, slots, rate state, invisible entries */
	for (int kd = 0; kd < XDROP_NKINDS; kd++) {
		uint32_t active = 0;

		if (dp->addr_pres[kd])
			continue;
		for (int b = 0; b < XDROP_NCOMBOS; b++)
			if (dp->count[TBL_EXACT][kd][b])
				active |= 1u << b;
		for (i = 0; i < n; i++)
			if (pl[i].op == TX_NEW && pl[i].e->kind == kd &&
			    pl[i].e->key.table == TBL_EXACT)
				active |= 1u << entry_bit(dp, pl[i].e);
		if (__builtin_popcount(active) >= XDROP_ADDR_PRES_MIN) {
			err = addr_pres_enable(dp, &aggs, (uint8_t)kd);
			if (err)
				goto fail;
		}
	}
	for (t = 0; t < NTRIES; t++) {
		if (!new_per_trie[t])
			continue;
		err = trie_relink(dp, t, false, false, &depth);
		if (err)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		struct dp_entry *e = pl[i].e;

		if (pl[i].op == TX_NEW) {
			err = slot_alloc(dp, &e->new_act.slot);
			if (err)
				goto fail;
			err = pres_adjust(dp, &aggs, e, +1);
			if (err) {
				slot_free(dp, e->new_act.slot);
				goto fail;
			}
			prefix_refs(e, +1, pfx_changed);
			model_count(dp, e, +1);
			pl[i].staged = true;
		} else if (pl[i].op == TX_DEL) {
			model_count(dp, e, -1);
			pl[i].staged = true;
		}
	}
	{
		struct dp_prefix *p, *tmp;

		HASH_ITER(hh, dp->prefixes, p, tmp)
		{
			if (p->is_new) {
				err = prefix_info_write(dp, p);
				if (!err)
					err = trie_write(dp, p, false);
				if (err)
					goto fail;
			} else if (pfx_changed[p->key.trie]) {
				/* combos only grow here; a superset is safe before the flip */
				err = prefix_info_write(dp, p);
				if (err)
					goto fail;
			}
		}
	}
	err = pagg_flush(dp, &aggs);
	if (err)
		goto fail;
	{
		/* entries go in batches: old versions first, so a modified entry never
		 * points at a missing one; all of it invisible until the flip */
		struct wbatch ent[2], prev[2];
		uint64_t fg = inplace ? dp->gen : next;

		for (int tb = 0; tb < 2; tb++) {
			size_t ksz = tb == TBL_EXACT ? sizeof(struct xdrop_exact_key)
						     : sizeof(struct xdrop_cidr_key);

			wb_init(&ent[tb], entry_fd(dp, tb, false), ksz, sizeof(struct xdrop_entry));
			wb_init(&prev[tb], entry_fd(dp, tb, true), ksz, sizeof(struct xdrop_act));
		}
		for (i = 0; i < n && !err; i++) {
			struct dp_entry *e = pl[i].e;
			struct xdrop_entry v;

			memset(&v, 0, sizeof(v));
			v.flip_gen = fg;
			switch (pl[i].op) {
			case TX_NEW:
				if (e->new_act.action == XDROP_ACT_RATE_LIMIT)
					err = rate_create(dp, &e->new_act);
				v.vflags = inplace ? 0 : XDROP_V_NEW;
				v.act = e->new_act;
				if (!err)
					err = wb_add(&ent[e->key.table], ekey_bytes(e), &v);
				break;
			case TX_MOD:
				if (e->new_act.action == XDROP_ACT_RATE_LIMIT &&
				    e->act.action != XDROP_ACT_RATE_LIMIT)
					err = rate_create(dp, &e->new_act);
				if (!err && !inplace)
					err = wb_add(&prev[e->key.table], ekey_bytes(e), &e->act);
				v.vflags = inplace ? 0 : XDROP_V_MOD;
				v.act = e->new_act;
				if (!err)
					err = wb_add(&ent[e->key.table], ekey_bytes(e), &v);
				break;
			case TX_DEL:
				if (inplace) {
					if (bpf_map_delete_elem(entry_fd(dp, e->key.table, false),
								ekey_bytes(e)))
						err = -errno;
				} else {
					v.vflags = XDROP_V_DEL;
					v.act = e->act;
					err = wb_add(&ent[e->key.table], ekey_bytes(e), &v);
				}
				break;
			default:
				break;
			}
			if (err)
				log_error("staging entry %zu failed: %s", i, strerror(-err));
		}
		for (int tb = 0; tb < 2; tb++) {
			if (!err)
				err = wb_flush(&prev[tb]);
		}
		for (int tb = 0; tb < 2; tb++) {
			if (!err)
				err = wb_flush(&ent[tb]);
			wb_free(&ent[tb]);
			wb_free(&prev[tb]);
		}
		if (err) {
			log_error("staging entries failed: %s", strerror(-err));
			goto fail;
		}
	}

	/* 3. config for the next generation, then the one atomic flip */
	t1 = now_ms();
	res->stage_ms = t1 - t0;
	if (inplace) {
		/* the deliberately broken switch: entries above went live one by one; the
		 * config is rewritten in place; the generation still moves on, as a naive
		 * versioning scheme would do */
		err = config_write(dp, (uint32_t)(dp->gen & 1));
		if (err)
			goto fail;
	}
	err = config_write(dp, (uint32_t)(next & 1));
	if (err)
		goto fail;
	gen_store(dp, next);
	res->flip_ms = now_ms() - t1;
	res->gen = dp->gen;
	dp->pend = (struct dp_pending){
	    .active = true, .inplace = inplace, .pl = pl, .n = n, .aggs = aggs, .res = res};
	memcpy(dp->pend.pfx_changed, pfx_changed, sizeof(pfx_changed));
	return 0;

fail:
	/* Staged writes are invisible (tagged with a generation never flipped to): undo them
	 * and the model changes, leaving the active set as it was. Pending presence bits are
	 * written, not dropped: the counts already include them, and a superset is safe. */
	pagg_flush(dp, &aggs);
	for (i = 0; i < n; i++) {
		struct dp_entry *e = pl[i].e;

		if (!e)
			continue;
		if (pl[i].op == TX_NEW) {
			bpf_map_delete_elem(entry_fd(dp, e->key.table, false), ekey_bytes(e));
			if (e->new_act.action == XDROP_ACT_RATE_LIMIT)
				rate_delete(dp, e->new_act.slot);
			if (pl[i].staged) {
				pres_adjust(dp, &aggs, e, -1);
				prefix_refs(e, -1, pfx_changed);
				model_count(dp, e, -1);
				slot_free(dp, e->new_act.slot);
			}
		} else if (pl[i].op == TX_MOD || pl[i].op == TX_DEL) {
			entry_write(dp, e, 0, 0, &e->act);
			bpf_map_delete_elem(entry_fd(dp, e->key.table, true), ekey_bytes(e));
			if (pl[i].op == TX_DEL && pl[i].staged)
				model_count(dp, e, +1);
		}
	}
	pagg_flush(dp, &aggs);
	{
		struct dp_prefix *p, *tmp;

		HASH_ITER(hh, dp->prefixes, p, tmp)
		{
			if (p->is_new && p->total == 0) {
				trie_write(dp, p, true);
				p->removing = true;
			}
		}
		grace_period(dp);
		HASH_ITER(hh, dp->prefixes, p, tmp)
		{
			if (p->removing) {
				bpf_map_delete_elem(fd_of(dp->skel->maps.xdrop_prefix), &p->id);
				p->removing = false;
			}
		}
	}
abort:
	if (res->err.field == NULL) {
		res->err.field = "rules";
		res->err.reason = strerror(-err);
	}
	plan_abort(dp, pl, n);
	free(pl);
	return err;
}

/* Step 4 of a transaction: the grace period, then clean up what no packet can see. */
void dataplane_apply_finish(struct dataplane *dp)
{
	struct dp_pending pd = dp->pend;
	struct plan *pl = pd.pl;
	struct pagg *aggs = pd.aggs;
	struct dp_result *res = pd.res;
	bool *pfx_changed = pd.pfx_changed;
	bool inplace = pd.inplace;
	size_t i, n = pd.n;
	double t1;
	int err;

	if (!pd.active)
		return;
	memset(&dp->pend, 0, sizeof(dp->pend));
	t1 = now_ms();
	if (!inplace) {
		err = grace_period(dp);
		if (err)
			log_warn("grace period failed: %s", strerror(-err));
	}
	for (i = 0; i < n; i++) {
		struct dp_entry *e = pl[i].e;

		switch (pl[i].op) {
		case TX_NEW:
			e->act = e->new_act;
			res->added++;
			if (e->act.action == XDROP_ACT_RATE_LIMIT)
				dp->nrate++;
			break;
		case TX_MOD:
			if (!inplace)
				bpf_map_delete_elem(entry_fd(dp, e->key.table, true),
						    ekey_bytes(e));
			if (e->act.action == XDROP_ACT_RATE_LIMIT &&
			    e->new_act.action != XDROP_ACT_RATE_LIMIT)
				rate_delete(dp, e->act.slot);
			dp->nrate =
			    (size_t)((long)dp->nrate + rl_delta(e->act.action, e->new_act.action));
			e->act = e->new_act;
			res->updated++;
			break;
		case TX_DEL:
			if (!inplace)
				bpf_map_delete_elem(entry_fd(dp, e->key.table, false),
						    ekey_bytes(e));
			if (e->act.action == XDROP_ACT_RATE_LIMIT) {
				rate_delete(dp, e->act.slot);
				dp->nrate--;
			}
			pres_adjust(dp, &aggs, e, -1);
			prefix_refs(e, -1, pfx_changed);
			slot_free(dp, e->act.slot);
			HASH_DEL(dp->entries, e);
			free(e);
			pl[i].e = NULL;
			res->deleted++;
			break;
		default:
			break;
		}
		if (pl[i].e)
			pl[i].e->tx = TX_NONE;
	}
	/* after the grace period: address presence no program can consult any more goes */
	for (int kd = 0; kd < XDROP_NKINDS; kd++) {
		int active = 0;

		for (int b = 0; b < XDROP_NCOMBOS; b++)
			active += dp->count[TBL_EXACT][kd][b] != 0;
		if (dp->addr_pres[kd] && active < XDROP_ADDR_PRES_MIN && !inplace)
			addr_pres_disable(dp, &aggs, (uint8_t)kd);
	}
	err = pagg_flush(dp, &aggs);
	if (!err) {
		struct dp_prefix *p, *tmp;

		HASH_ITER(hh, dp->prefixes, p, tmp)
		{
			p->is_new = false;
			if (pfx_changed[p->key.trie] && p->total && !err)
				err = prefix_info_write(dp, p);
		}
	}
	if (!err)
		err = prefixes_collect(dp);
	res->cleanup_ms = now_ms() - t1;
	free(pl);
	if (err)
		log_warn("cleanup after generation %llu incomplete: %s (the active set is "
			 "correct; the next open repairs it)",
			 (unsigned long long)dp->gen, strerror(-err));
}

int dataplane_apply(struct dataplane *dp, const struct dp_change *ch, size_t n,
		    struct dp_result *res)
{
	struct dp_result scratch;
	int err = dataplane_apply_begin(dp, ch, n, res ? res : &scratch);

	if (!err)
		dataplane_apply_finish(dp);
	return err;
}

/* The spec of a model entry (its active action). */
static void spec_of(const struct dp_entry *e, struct rule_spec *s)
{
	if (e->key.table == TBL_EXACT) {
		rule_from_exact(&e->key.u.e, &e->act, s);
		return;
	}
	{
		struct xdrop_exact_key k;

		memset(&k, 0, sizeof(k));
		k.sport = e->key.u.c.sport;
		k.dport = e->key.u.c.dport;
		k.proto = e->key.u.c.proto;
		k.combo = e->combo & ~(XDROP_F_SRC | XDROP_F_DST);
		k.kind = e->kind;
		rule_from_exact(&k, &e->act, s);
	}
	for (int d = 0; d < 2; d++) {
		struct addr_prefix *a = d ? &s->dst : &s->src;

		if (e->pfx[d]) {
			a->addr = e->pfx[d]->key.addr;
			a->plen = e->pfx[d]->key.plen;
		}
	}
}

int dataplane_replace(struct dataplane *dp, unsigned kinds, const struct rule_spec *specs, size_t n,
		      struct dp_result *res)
{
	struct dp_change *ch;
	struct dp_entry *e, *tmp;
	struct dp_result scratch;
	size_t nch = 0, i, cap = n + dp->nkind[0] + dp->nkind[1];
	uint32_t none[NTRIES] = {0};
	int err = 0;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	ch = calloc(cap ? cap : 1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct dp_prefix *pfx[2] = {NULL, NULL};
		struct ekey k;
		bool resolvable = true;

		if (!(kinds & (1u << specs[i].kind))) {
			err = refuse(res, i, "kind", "entry kind not part of this replacement",
				     -EINVAL);
			goto out;
		}
		if (rule_validate(&specs[i], &res->err)) {
			res->index = i;
			err = -EINVAL;
			goto out;
		}
		/* only look up: prefixes that do not exist mean the entry is new */
		if (!rule_is_exact(&specs[i])) {
			if (specs[i].src.plen &&
			    !prefix_find(dp, trie_of(&specs[i].src, 0), &specs[i].src))
				resolvable = false;
			if (specs[i].dst.plen &&
			    !prefix_find(dp, trie_of(&specs[i].dst, 1), &specs[i].dst))
				resolvable = false;
		}
		e = NULL;
		if (resolvable && resolve_key(dp, &specs[i], &k, pfx, none) == 0)
			HASH_FIND(hh, dp->entries, &k, sizeof(k), e);
		if (e) {
			struct xdrop_act a;

			if (e->tx == TX_KEEP) {
				err = refuse(res, i, "src_ip", "the same match key appears twice",
					     -EEXIST);
				goto out;
			}
			e->tx = TX_KEEP;
			rule_act(&specs[i], e->act.slot, &a);
			if (memcmp(&a, &e->act, sizeof(a)) == 0)
				continue;
		}
		ch[nch].op = DP_PUT;
		ch[nch++].spec = specs[i];
	}
	HASH_ITER(hh, dp->entries, e, tmp)
	{
		if (e->tx == TX_KEEP) {
			e->tx = TX_NONE;
			/* a kept entry changed by a PUT above is matched again by apply */
			continue;
		}
		if (!(kinds & (1u << e->kind)))
			continue;
		ch[nch].op = DP_DEL;
		spec_of(e, &ch[nch++].spec);
	}
	err = dataplane_apply(dp, ch, nch, res);
	if (err && res->index < nch) {
		/* report the index in the caller's array where it is one of theirs */
		for (i = 0; i < n; i++)
			if (memcmp(&specs[i], &ch[res->index].spec, sizeof(specs[i])) == 0)
				res->index = i;
	}
out:
	HASH_ITER(hh, dp->entries, e, tmp)
	{
		e->tx = TX_NONE;
	}
	free(ch);
	return err;
}

/* ---- queries ---- */

size_t dataplane_count(const struct dataplane *dp, enum xdrop_kind kind)
{
	return kind < XDROP_NKINDS ? dp->nkind[kind] : 0;
}

int dataplane_foreach(const struct dataplane *dp, int (*fn)(const struct rule_spec *, void *),
		      void *arg)
{
	struct dp_entry *e, *tmp;
	struct rule_spec s;
	int r;

	HASH_ITER(hh, dp->entries, e, tmp)
	{
		spec_of(e, &s);
		r = fn(&s, arg);
		if (r)
			return r;
	}
	return 0;
}

int dataplane_counters(const struct dataplane *dp, uint64_t out[XDROP_NCOUNTERS])
{
	struct xdrop_stats *v = calloc((size_t)dp->ncpus, sizeof(*v));
	uint32_t zero = 0;
	int err = 0;

	if (!v)
		return -ENOMEM;
	memset(out, 0, sizeof(uint64_t) * XDROP_NCOUNTERS);
	if (bpf_map_lookup_elem(fd_of(dp->skel->maps.xdrop_stats), &zero, v)) {
		err = -errno;
	} else {
		for (int c = 0; c < dp->ncpus; c++)
			for (int i = 0; i < XDROP_NCOUNTERS; i++)
				out[i] += v[c].c[i];
	}
	free(v);
	return err;
}

int dataplane_entry_slot(const struct dataplane *dp, const struct rule_spec *spec, uint32_t *slot)
{
	uint32_t none[NTRIES] = {0};
	struct dp_prefix *pfx[2];
	struct dp_entry *e = NULL;
	struct ekey k;

	if (!rule_is_exact(spec)) {
		if ((spec->src.plen &&
		     !prefix_find((struct dataplane *)dp, trie_of(&spec->src, 0), &spec->src)) ||
		    (spec->dst.plen &&
		     !prefix_find((struct dataplane *)dp, trie_of(&spec->dst, 1), &spec->dst)))
			return -ENOENT;
	}
	if (resolve_key((struct dataplane *)dp, spec, &k, pfx, none))
		return -ENOENT;
	HASH_FIND(hh, dp->entries, &k, sizeof(k), e);
	if (!e)
		return -ENOENT;
	*slot = e->act.slot;
	return 0;
}

int dataplane_entry_counters(const struct dataplane *dp, const struct rule_spec *spec,
			     uint64_t *match, uint64_t *drop)
{
	struct xdrop_slot_counters *v;
	uint32_t slot, chunk, idx;
	int err = dataplane_entry_slot(dp, spec, &slot);

	if (err)
		return err;
	chunk = slot >> XDROP_SLOT_CHUNK_BITS;
	idx = slot & (XDROP_SLOT_CHUNK - 1);
	v = calloc((size_t)dp->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*match = *drop = 0;
	if (bpf_map_lookup_elem(dp->chunk_fd[chunk], &idx, v) == 0) {
		for (int c = 0; c < dp->ncpus; c++) {
			*match += v[c].match;
			*drop += v[c].drop;
		}
	}
	free(v);
	return 0;
}

int dataplane_read_slots(const struct dataplane *dp, uint64_t **match, uint64_t **drop, size_t *n)
{
	size_t nslots = dp->next_slot, ncpu = (size_t)dp->ncpus;
	struct xdrop_slot_counters *vals = NULL;
	uint32_t *keys = NULL;
	uint64_t *m, *d;
	int err = 0;

	m = calloc(nslots + 1, sizeof(*m));
	d = calloc(nslots + 1, sizeof(*d));
	keys = calloc(XDROP_SLOT_CHUNK, sizeof(*keys));
	vals = calloc((size_t)XDROP_SLOT_CHUNK * ncpu, sizeof(*vals));
	if (!m || !d || !keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t c = 0; c < dp->nchunks && (size_t)c * XDROP_SLOT_CHUNK < nslots; c++) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		uint32_t out_batch, count = XDROP_SLOT_CHUNK;
		size_t base = (size_t)c * XDROP_SLOT_CHUNK;

		if (dp->chunk_fd[c] < 0)
			continue;
		/* one syscall per chunk of 65,536 slots */
		if (bpf_map_lookup_batch(dp->chunk_fd[c], NULL, &out_batch, keys, vals, &count,
					 &bo) &&
		    errno != ENOENT) {
			err = -errno;
			goto out;
		}
		for (uint32_t i = 0; i < count; i++) {
			size_t s = base + keys[i];

			if (s >= nslots)
				continue;
			for (size_t cpu = 0; cpu < ncpu; cpu++) {
				m[s] += vals[(size_t)i * ncpu + cpu].match;
				d[s] += vals[(size_t)i * ncpu + cpu].drop;
			}
		}
	}
	*match = m;
	*drop = d;
	*n = nslots;
	m = d = NULL;
out:
	free(m);
	free(d);
	free(keys);
	free(vals);
	return err;
}

uint64_t dataplane_gen(const struct dataplane *dp)
{
	return __atomic_load_n(&dp->genp->gen, __ATOMIC_ACQUIRE);
}

int dataplane_set_clock(struct dataplane *dp, uint64_t ns)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_clock), &zero, &ns, BPF_ANY))
		return -errno;
	return 0;
}

int dataplane_seen_gen(const struct dataplane *dp, int cpu, uint64_t *gen)
{
	uint64_t *v = calloc((size_t)dp->ncpus, sizeof(*v));
	uint32_t zero = 0;
	int err = 0;

	if (!v)
		return -ENOMEM;
	if (cpu < 0 || cpu >= dp->ncpus)
		err = -EINVAL;
	else if (bpf_map_lookup_elem(fd_of(dp->skel->maps.xdrop_seen), &zero, v))
		err = -errno;
	else
		*gen = v[cpu];
	free(v);
	return err;
}

int dataplane_prog_fd(const struct dataplane *dp)
{
	return bpf_program__fd(dp->skel->progs.xdrop_main);
}

const char *dataplane_pin_dir(const struct dataplane *dp)
{
	return dp->pinned ? dp->pin_dir : NULL;
}

bool dataplane_adopted(const struct dataplane *dp)
{
	return dp->adopted;
}

int dataplane_set_port(struct dataplane *dp, uint32_t ifindex, uint32_t peer, bool filter)
{
	int pfd = fd_of(dp->skel->maps.xdrop_ports), dfd = fd_of(dp->skel->maps.xdrop_devmap);
	int cfd = fd_of(dp->skel->maps.xdrop_config);
	struct xdrop_port port = {.peer_ifindex = peer, .flags = filter ? XDROP_PORT_FILTER : 0};
	struct xdrop_config c;
	uint32_t key, any = 0;

	if (peer) {
		if (bpf_map_update_elem(dfd, &ifindex, &peer, BPF_ANY))
			return -errno;
		if (bpf_map_update_elem(pfd, &ifindex, &port, BPF_ANY))
			return -errno;
	} else {
		bpf_map_delete_elem(pfd, &ifindex);
		bpf_map_delete_elem(dfd, &ifindex);
	}
	/* the fast-forward flag lives in both config buffers: it is not part of a rule set */
	key = 0;
	if (bpf_map_get_next_key(pfd, NULL, &key) == 0)
		any = XDROP_CFG_FF;
	for (key = 0; key < 2; key++) {
		if (bpf_map_lookup_elem(cfd, &key, &c))
			return -errno;
		c.flags = (c.flags & ~XDROP_CFG_FF) | any;
		if (bpf_map_update_elem(cfd, &key, &c, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int fdinfo_u64(int fd, const char *field, uint64_t *out)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			*out = strtoull(line + flen + 1, NULL, 10);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

int dataplane_memlock(const struct dataplane *dp, uint64_t *bytes)
{
	struct bpf_map *m;
	uint64_t v;

	*bytes = 0;
	bpf_object__for_each_map(m, dp->skel->obj)
	{
		if (fdinfo_u64(bpf_map__fd(m), "memlock", &v) == 0)
			*bytes += v;
	}
	for (uint32_t c = 0; c < dp->nchunks; c++)
		if (dp->chunk_fd[c] >= 0 && fdinfo_u64(dp->chunk_fd[c], "memlock", &v) == 0)
			*bytes += v;
	return 0;
}

int dataplane_verified_insns(const struct dataplane *dp, uint32_t *insns)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(dataplane_prog_fd(dp), &info, &len))
		return -errno;
	*insns = info.verified_insns;
	return 0;
}

/* ---- open, adopt, close ---- */

static int ensure_id(struct dataplane *dp, uint32_t id)
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

static int adopt_prefixes(struct dataplane *dp)
{
	int pfd = fd_of(dp->skel->maps.xdrop_prefix), err;
	uint8_t *used;

	for (int t = 0; t < NTRIES; t++) {
		bool v4 = t == TRIE_SRC4 || t == TRIE_DST4;
		struct xdrop_lpm6_key k6, n6;
		struct xdrop_lpm4_key k4, n4;
		void *cur = NULL, *next = v4 ? (void *)&n4 : (void *)&n6;
		int fd = trie_fd(dp, t);

		while (bpf_map_get_next_key(fd, cur, next) == 0) {
			struct xdrop_prefix_info info;
			struct addr_prefix a;
			struct dp_prefix *p;
			uint32_t id;

			memset(&a, 0, sizeof(a));
			if (v4) {
				a.addr.b[10] = a.addr.b[11] = 0xff;
				memcpy(a.addr.b + 12, n4.addr, 4);
				a.plen = n4.prefixlen + 96;
				k4 = n4;
				cur = &k4;
			} else {
				memcpy(a.addr.b, n6.addr, 16);
				a.plen = n6.prefixlen;
				k6 = n6;
				cur = &k6;
			}
			if (bpf_map_lookup_elem(fd, cur, &id) ||
			    bpf_map_lookup_elem(pfd, &id, &info))
				continue; /* half-made prefix of an interrupted change: dropped
					     below */
			err = ensure_id(dp, id);
			if (err)
				return err;
			if (dp->by_id[id])
				continue;
			p = prefix_new(dp, t, &a, id);
			if (!p)
				return -ENOMEM;
			p->parent = info.parent;
		}
	}
	/* ids below next_id that no prefix holds are free */
	used = calloc(dp->next_id ? dp->next_id : 1, 1);
	if (!used)
		return -ENOMEM;
	for (uint32_t id = 1; id < dp->next_id; id++)
		if (!dp->by_id[id])
			dp->free_ids[dp->nfree_ids++] = id;
	free(used);
	return 0;
}

static int map_keys(int fd, size_t ksz, uint8_t **out, size_t *n)
{
	size_t cap = 1024, cnt = 0;
	uint8_t *keys = malloc(cap * ksz), *cur = NULL;

	if (!keys)
		return -ENOMEM;
	while (1) {
		if (cnt == cap) {
			uint8_t *nk = realloc(keys, cap * 2 * ksz);

			if (!nk) {
				free(keys);
				return -ENOMEM;
			}
			keys = nk;
			cap *= 2;
		}
		if (bpf_map_get_next_key(fd, cnt ? keys + (cnt - 1) * ksz : cur, keys + cnt * ksz))
			break;
		cnt++;
	}
	*out = keys;
	*n = cnt;
	return 0;
}

/* Brings one entry of a pinned table to a clean state as of generation gen and returns
 * the action it has for packets, or NULL when it is (now) absent. */
static const struct xdrop_act *adopt_entry(struct dataplane *dp, int table, const void *key,
					   struct xdrop_entry *v, struct xdrop_act *prev)
{
	int fd = entry_fd(dp, table, false), pfd = entry_fd(dp, table, true);
	bool staged = (int64_t)(dp->gen - v->flip_gen) < 0;
	bool has_prev = bpf_map_lookup_elem(pfd, key, prev) == 0;

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

static int adopt_entries(struct dataplane *dp, int table, uint8_t *slot_used)
{
	size_t ksz =
	    table == TBL_EXACT ? sizeof(struct xdrop_exact_key) : sizeof(struct xdrop_cidr_key);
	int fd = entry_fd(dp, table, false), err;
	uint8_t *keys;
	size_t n;

	err = map_keys(fd, ksz, &keys, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		const void *key = keys + i * ksz;
		const struct xdrop_act *act;
		struct xdrop_entry v;
		struct xdrop_act prev;
		struct dp_entry *e;

		if (bpf_map_lookup_elem(fd, key, &v))
			continue;
		act = adopt_entry(dp, table, key, &v, &prev);
		if (!act)
			continue;
		e = calloc(1, sizeof(*e));
		if (!e) {
			free(keys);
			return -ENOMEM;
		}
		e->key.table = (uint8_t)table;
		memcpy(&e->key.u, key, ksz);
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
				bpf_map_delete_elem(fd, key);
				free(e);
				continue;
			}
		}
		if (e->kind >= XDROP_NKINDS || e->combo == 0 || e->combo > XDROP_F_ALL ||
		    e->act.slot >= XDROP_MAX_SLOT_CHUNKS * XDROP_SLOT_CHUNK ||
		    slot_used[e->act.slot]) {
			log_warn("adopt: malformed entry removed");
			bpf_map_delete_elem(fd, key);
			free(e);
			continue;
		}
		slot_used[e->act.slot] = 1;
		if (e->act.slot >= dp->next_slot)
			dp->next_slot = e->act.slot + 1;
		HASH_ADD(hh, dp->entries, key, sizeof(e->key), e);
		model_count(dp, e, +1);
		if (e->act.action == XDROP_ACT_RATE_LIMIT)
			dp->nrate++;
	}
	free(keys);
	return 0;
}

/* Rewrites every presence map from the model's reference counts. */
static int adopt_presence(struct dataplane *dp)
{
	struct pagg *aggs = NULL, *a;
	struct dp_entry *e, *etmp;
	struct xdrop_presence zero;
	int err = 0;

	/* address presence where three or more exact combos of a kind are active */
	for (int kd = 0; kd < XDROP_NKINDS; kd++) {
		int active = 0;

		for (int b = 0; b < XDROP_NCOMBOS; b++)
			active += dp->count[TBL_EXACT][kd][b] != 0;
		dp->addr_pres[kd] = active >= XDROP_ADDR_PRES_MIN;
	}
	/* counts from scratch */
	HASH_ITER(hh, dp->entries, e, etmp)
	{
		for (int f = 0; f < XDROP_NFIELDS; f++) {
			struct dp_pres k, *p;
			struct pagg ak;

			if (!(e->combo & (1 << f)))
				continue;
			if (f <= XDROP_FIELD_DST &&
			    (e->key.table == TBL_CIDR || !dp->addr_pres[e->kind]))
				continue;
			memset(&k.key, 0, sizeof(k.key));
			k.key.field = (uint8_t)f;
			k.key.table = e->key.table;
			k.key.kind = e->kind;
			k.key.bit = entry_bit(dp, e);
			pres_val(e, f, &k.key.val);
			HASH_FIND(hh, dp->pres, &k.key, sizeof(k.key), p);
			if (!p) {
				p = calloc(1, sizeof(*p));
				if (!p)
					return -ENOMEM;
				p->key = k.key;
				HASH_ADD(hh, dp->pres, key, sizeof(p->key), p);
			}
			p->count++;
			memset(&ak.key, 0, sizeof(ak.key));
			ak.key.field = (uint8_t)f;
			ak.key.val = k.key.val;
			HASH_FIND(hh, aggs, &ak.key, sizeof(ak.key), a);
			if (!a) {
				a = calloc(1, sizeof(*a));
				if (!a)
					return -ENOMEM;
				a->key = ak.key;
				HASH_ADD(hh, aggs, key, sizeof(a->key), a);
			}
			if (e->key.table == TBL_EXACT)
				a->v.exact[e->kind] |= 1u << k.key.bit;
			else
				a->v.cidr[e->kind] |= 1u << k.key.bit;
		}
	}
	/* stale address keys go; arrays are zeroed, then everything is written */
	for (int f = XDROP_FIELD_SRC; f <= XDROP_FIELD_DST; f++) {
		int fd = fd_of(f == XDROP_FIELD_SRC ? dp->skel->maps.xdrop_src_addr
						    : dp->skel->maps.xdrop_dst_addr);
		uint8_t *keys;
		size_t n;

		err = map_keys(fd, sizeof(struct xdrop_addr), &keys, &n);
		if (err)
			return err;
		for (size_t i = 0; i < n; i++) {
			struct pagg ak;

			memset(&ak.key, 0, sizeof(ak.key));
			ak.key.field = (uint8_t)f;
			memcpy(&ak.key.val, keys + i * sizeof(struct xdrop_addr), 16);
			HASH_FIND(hh, aggs, &ak.key, sizeof(ak.key), a);
			if (!a)
				bpf_map_delete_elem(fd, &ak.key.val);
		}
		free(keys);
	}
	memset(&zero, 0, sizeof(zero));
	for (uint32_t i = 0; i < XDROP_NPORTS; i++) {
		struct pagg ak;

		for (int f = XDROP_FIELD_SPORT; f <= XDROP_FIELD_PROTO; f++) {
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
			if (a)
				continue;
			bpf_map_update_elem(pres_array_fd(dp, f), &i, &zero, BPF_ANY);
		}
	}
	/* every value the model has: the same writer as a transaction's */
	return pagg_flush(dp, &aggs);
}

static int adopt(struct dataplane *dp)
{
	uint32_t nslots = XDROP_MAX_SLOT_CHUNKS * XDROP_SLOT_CHUNK;
	int outer = fd_of(dp->skel->maps.xdrop_counters), err;
	struct dp_entry *e, *etmp;
	struct dp_prefix *p, *ptmp;
	bool changed[NTRIES];
	uint8_t *slot_used;
	uint8_t *rkeys;
	size_t nr;
	unsigned depth;

	dp->gen = __atomic_load_n(&dp->genp->gen, __ATOMIC_ACQUIRE);
	for (uint32_t c = 0; c < XDROP_MAX_SLOT_CHUNKS; c++) {
		uint32_t id;

		if (bpf_map_lookup_elem(outer, &c, &id) == 0) {
			dp->chunk_fd[c] = bpf_map_get_fd_by_id(id);
			if (dp->chunk_fd[c] < 0)
				return -errno;
			dp->nchunks = c + 1;
		}
	}
	if (dp->chunk_fd[0] < 0 && (err = chunk_create(dp, 0)))
		return err;
	err = adopt_prefixes(dp);
	if (err)
		return err;
	slot_used = calloc(nslots, 1);
	if (!slot_used)
		return -ENOMEM;
	err = adopt_entries(dp, TBL_EXACT, slot_used);
	if (!err)
		err = adopt_entries(dp, TBL_CIDR, slot_used);
	if (err) {
		free(slot_used);
		return err;
	}
	for (uint32_t s = 0; s < dp->next_slot; s++) {
		if (!slot_used[s] && free_slot_push(dp, s)) {
			free(slot_used);
			return -ENOMEM;
		}
	}
	/* rate state: exactly one per rate_limit entry */
	err = map_keys(fd_of(dp->skel->maps.xdrop_rate), sizeof(uint32_t), &rkeys, &nr);
	if (!err) {
		for (size_t i = 0; i < nr; i++) {
			uint32_t slot;

			memcpy(&slot, rkeys + i * 4, 4);
			if (slot >= nslots || !slot_used[slot])
				rate_delete(dp, slot);
		}
		free(rkeys);
	}
	free(slot_used);
	HASH_ITER(hh, dp->entries, e, etmp)
	{
		if (e->act.action == XDROP_ACT_RATE_LIMIT && (err = rate_create(dp, &e->act)))
			return err;
		prefix_refs(e, +1, changed);
	}
	err = adopt_presence(dp);
	if (err)
		return err;
	HASH_ITER(hh, dp->prefixes, p, ptmp)
	{
		if ((err = prefix_info_write(dp, p)))
			return err;
	}
	for (int t = 0; t < NTRIES; t++)
		if ((err = trie_relink(dp, t, false, false, &depth)))
			return err;
	err = prefixes_collect(dp);
	if (err)
		return err;
	/* one clean generation built from the model */
	err = config_write(dp, (uint32_t)((dp->gen + 1) & 1));
	if (err)
		return err;
	gen_store(dp, dp->gen + 1);
	return grace_period(dp);
}

static int ensure_dir(const char *path)
{
	char buf[256];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0700) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool is_data_map(const struct bpf_map *m)
{
	return strchr(bpf_map__name(m), '.') == NULL;
}

/* The global counters pinned by a build whose xdrop_stats had another size (before
 * XDROP_STATS_ROOM): returns its fd, to be carried over by stats_migrate, or -1. */
static int stats_stale_fd(const char *path)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    info.value_size != sizeof(struct xdrop_stats))
		return fd;
	close(fd);
	return -1;
}

/* Copies the counters of a stale xdrop_stats (same order, fewer of them) into the new map
 * and pins the new one in its place. */
static int stats_migrate(struct dataplane *dp, int old_fd, const char *path)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info), zero = 0;
	struct xdrop_stats *v = calloc((size_t)dp->ncpus, sizeof(*v));
	uint8_t *old = NULL;
	int err = 0, fd = fd_of(dp->skel->maps.xdrop_stats);

	if (!v || bpf_obj_get_info_by_fd(old_fd, &info, &len)) {
		err = v ? -errno : -ENOMEM;
		goto out;
	}
	old = calloc((size_t)dp->ncpus, (info.value_size + 7) & ~7u);
	if (!old) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(old_fd, &zero, old) == 0) {
		for (int c = 0; c < dp->ncpus; c++)
			memcpy(&v[c], old + (size_t)c * ((info.value_size + 7) & ~7u),
			       info.value_size < sizeof(*v) ? info.value_size : sizeof(*v));
		bpf_map_update_elem(fd, &zero, v, BPF_ANY);
	}
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		log_error("replace %s failed: %s", path, strerror(errno));
		goto out;
	}
	err = bpf_map__pin(dp->skel->maps.xdrop_stats, path);
	if (err) {
		log_error("pin %s failed: %s", path, strerror(-err));
		goto out;
	}
	log_info("global counters in %s carried over to the new layout", path);
out:
	free(old);
	free(v);
	return err;
}

/* The port prefilter xdrop_protect_ports (xdrop_protect_word, xdrop_protect_bit). */
static int protect_ports_write(struct dataplane *dp, const struct xdrop_protect_val *vals, size_t n)
{
	int fd = fd_of(dp->skel->maps.xdrop_protect_ports), err = 0;
	uint64_t *words = calloc(XDROP_PROTECT_PORT_WORDS, sizeof(*words));
	uint16_t pp, lp;

	if (!words)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++) {
		for (size_t q = 0; q < XDROP_PROTECT_PORTS; q++) {
			pp = ntohs(vals[j].peer_port[q]);
			lp = ntohs(vals[j].local_port[q]);
			if (pp)
				words[xdrop_protect_word(pp)] |= 1ull << xdrop_protect_bit(pp, 0);
			if (lp)
				words[xdrop_protect_word(lp)] |= 1ull << xdrop_protect_bit(lp, 1);
		}
	}
	for (uint32_t i = 0; i < XDROP_PROTECT_PORT_WORDS && !err; i++)
		if (bpf_map_update_elem(fd, &i, &words[i], BPF_ANY))
			err = -errno;
	free(words);
	return err;
}

int dataplane_set_protect(struct dataplane *dp, const struct xdrop_protect_key *keys,
			  const struct xdrop_protect_val *vals, size_t n)
{
	int fd = fd_of(dp->skel->maps.xdrop_protect), cfd = fd_of(dp->skel->maps.xdrop_config);
	struct xdrop_protect_key k, next;
	struct xdrop_config c;
	uint32_t i;
	size_t j;
	bool keep, more;
	int err;

	if (n > XDROP_MAX_PROTECT)
		return -E2BIG;
	for (j = 0; j < n; j++)
		if (bpf_map_update_elem(fd, &keys[j], &vals[j], BPF_ANY))
			return -errno;
	err = protect_ports_write(dp, vals, n);
	if (err)
		return err;
	/* drop what is no longer configured (restarted agent, other config) */
	for (more = bpf_map_get_next_key(fd, NULL, &k) == 0; more; k = next) {
		more = bpf_map_get_next_key(fd, &k, &next) == 0;
		keep = false;
		for (j = 0; j < n && !keep; j++)
			keep = memcmp(&keys[j], &k, sizeof(k)) == 0;
		if (!keep && bpf_map_delete_elem(fd, &k) && errno != ENOENT)
			return -errno;
	}
	/* like the fast-forward flag, it lives in both config buffers */
	for (i = 0; i < 2; i++) {
		if (bpf_map_lookup_elem(cfd, &i, &c))
			return -errno;
		c.flags = (c.flags & ~XDROP_CFG_PROTECT) | (n ? XDROP_CFG_PROTECT : 0);
		if (bpf_map_update_elem(cfd, &i, &c, BPF_ANY))
			return -errno;
	}
	return 0;
}

int dataplane_open(struct dataplane **out, const struct dataplane_opts *opts)
{
	struct dataplane *dp;
	struct bpf_map *m;
	struct rule_order *o;
	char path[512];
	int err, i, stale_stats = -1;

	*out = NULL;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	for (i = 0; i < XDROP_MAX_SLOT_CHUNKS; i++)
		dp->chunk_fd[i] = -1;
	if (opts)
		memcpy(&dp->o, opts, opts->sz < sizeof(dp->o) ? opts->sz : sizeof(dp->o));
	dp->o.sz = sizeof(dp->o);
	if (!dp->o.max_exact)
		dp->o.max_exact = XDROP_DEF_MAX_EXACT;
	if (!dp->o.max_cidr)
		dp->o.max_cidr = XDROP_DEF_MAX_CIDR;
	if (!dp->o.max_prefixes)
		dp->o.max_prefixes = XDROP_DEF_MAX_PREFIXES;
	if (!dp->o.max_addrs)
		dp->o.max_addrs = dp->o.max_exact;
	if (!dp->o.max_rate)
		dp->o.max_rate = XDROP_DEF_MAX_RATE;
	dp->next_slot = 0;
	dp->next_id = 1; /* id 0 means "absent" */
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0) {
		err = dp->ncpus ? dp->ncpus : -EINVAL;
		goto fail;
	}
	rule_exact_order(&dp->order);

	dp->skel = xdrop__open();
	if (!dp->skel) {
		err = -errno;
		log_error("open BPF skeleton failed: %s", strerror(errno));
		goto fail;
	}
	o = &dp->order;
	for (i = 0; i < XDROP_NCOMBOS; i++) {
		((uint8_t *)dp->skel->rodata->order_mask)[i] = o->order_mask[i];
		((uint32_t *)dp->skel->rodata->order_rank)[i] = o->order_rank[i];
	}
	for (i = 0; i < XDROP_NFIELDS; i++)
		((uint32_t *)dp->skel->rodata->order_need)[i] = o->order_need[i];
	*(uint8_t *)&dp->skel->rodata->test_clock = dp->o.test_clock;
	*(uint8_t *)&dp->skel->rodata->record_gen = dp->o.record_gen;

	bpf_map__set_max_entries(dp->skel->maps.xdrop_exact, dp->o.max_exact);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_exact_prev, dp->o.max_exact);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_cidr, dp->o.max_cidr);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_cidr_prev, dp->o.max_cidr);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_src_addr, dp->o.max_addrs);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_dst_addr, dp->o.max_addrs);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_src4, dp->o.max_prefixes);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_dst4, dp->o.max_prefixes);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_src6, dp->o.max_prefixes);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_dst6, dp->o.max_prefixes);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_prefix, 4 * dp->o.max_prefixes);
	bpf_map__set_max_entries(dp->skel->maps.xdrop_rate, dp->o.max_rate);

	if (dp->o.pin_dir) {
		if (strlen(dp->o.pin_dir) >= sizeof(dp->pin_dir) - 32) {
			err = -ENAMETOOLONG;
			goto fail;
		}
		strcpy(dp->pin_dir, dp->o.pin_dir);
		dp->o.pin_dir = dp->pin_dir;
		err = ensure_dir(dp->pin_dir);
		if (err) {
			log_error("pin directory %s: %s", dp->pin_dir, strerror(-err));
			goto fail;
		}
		{
			struct statfs sfs;

			if (statfs(dp->pin_dir, &sfs) || sfs.f_type != BPF_FS_MAGIC) {
				log_error(
				    "pin directory %s is not on a bpf filesystem (mount -t bpf "
				    "bpf /sys/fs/bpf)",
				    dp->pin_dir);
				err = -ENOTSUP;
				goto fail;
			}
		}
		snprintf(path, sizeof(path), "%s/xdrop_gen", dp->pin_dir);
		dp->adopted = access(path, F_OK) == 0;
		bpf_object__for_each_map(m, dp->skel->obj)
		{
			if (!is_data_map(m))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, bpf_map__name(m));
			/* The kernel adds BPF_F_RDONLY_PROG to every devmap but refuses it at
			 * creation, so libbpf 1.1's reuse check (which compares flags) can never
			 * accept a pinned devmap: adopt that one by hand, pin it after load. */
			if (m == dp->skel->maps.xdrop_devmap) {
				int fd = bpf_obj_get(path);

				if (fd >= 0) {
					err = bpf_map__reuse_fd(m, fd);
					close(fd);
					if (err)
						goto fail;
				}
				continue;
			}
			if (m == dp->skel->maps.xdrop_stats) {
				stale_stats = stats_stale_fd(path);
				if (stale_stats >= 0)
					continue;
			}
			bpf_map__set_pin_path(m, path);
		}
		dp->pinned = true;
	}
	err = xdrop__load(dp->skel);
	if (err) {
		log_error("load XDP program failed: %s%s", strerror(-err),
			  dp->adopted ? " (pinned maps incompatible with this build or "
					"capacities? remove them with xdrop-agent --detach)"
				      : "");
		goto fail;
	}
	if (dp->pinned) {
		snprintf(path, sizeof(path), "%s/xdrop_devmap", dp->pin_dir);
		if (access(path, F_OK) != 0 &&
		    bpf_obj_pin(fd_of(dp->skel->maps.xdrop_devmap), path)) {
			err = -errno;
			log_error("pin %s failed: %s", path, strerror(errno));
			goto fail;
		}
		snprintf(path, sizeof(path), "%s/xdrop_stats", dp->pin_dir);
		if (stale_stats >= 0 && (err = stats_migrate(dp, stale_stats, path)))
			goto fail;
	}
	dp->genp = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED,
			fd_of(dp->skel->maps.xdrop_gen), 0);
	if (dp->genp == MAP_FAILED) {
		dp->genp = NULL;
		err = -errno;
		goto fail;
	}
	if (dp->adopted) {
		err = adopt(dp);
		if (err) {
			log_error("adopt pinned state in %s failed: %s", dp->pin_dir,
				  strerror(-err));
			goto fail;
		}
		log_info("adopted pinned state in %s: %zu rules, %zu whitelist entries, "
			 "generation %llu",
			 dp->pin_dir, dp->nkind[XDROP_KIND_RULE], dp->nkind[XDROP_KIND_WL],
			 (unsigned long long)dp->gen);
	} else {
		err = chunk_create(dp, 0);
		if (err)
			goto fail;
		dp->gen = 0;
	}
	if (stale_stats >= 0)
		close(stale_stats);
	*out = dp;
	return 0;
fail:
	if (stale_stats >= 0)
		close(stale_stats);
	dataplane_close(dp);
	return err;
}

int dataplane_unpin(struct dataplane *dp)
{
	struct bpf_map *m;
	int err = 0;

	if (!dp->pinned)
		return 0;
	bpf_object__for_each_map(m, dp->skel->obj)
	{
		if (is_data_map(m) && bpf_map__is_pinned(m) && bpf_map__unpin(m, NULL))
			err = -errno;
	}
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/xdrop_devmap", dp->pin_dir);
		if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	if (rmdir(dp->pin_dir) && errno != ENOENT && errno != ENOTEMPTY)
		err = -errno;
	dp->pinned = false;
	return err;
}

int dataplane_unpin_dir(const char *pin_dir)
{
	struct dirent *d;
	char path[512];
	DIR *dir = opendir(pin_dir);
	int err = 0;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, d->d_name);
		if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	closedir(dir);
	if (rmdir(pin_dir) && errno != ENOENT)
		err = -errno;
	return err;
}

void dataplane_close(struct dataplane *dp)
{
	struct dp_entry *e, *etmp;
	struct dp_prefix *p, *ptmp;
	struct dp_pres *r, *rtmp;

	if (!dp)
		return;
	HASH_ITER(hh, dp->entries, e, etmp)
	{
		HASH_DEL(dp->entries, e);
		free(e);
	}
	HASH_ITER(hh, dp->prefixes, p, ptmp)
	{
		HASH_DEL(dp->prefixes, p);
		free(p);
	}
	HASH_ITER(hh, dp->pres, r, rtmp)
	{
		HASH_DEL(dp->pres, r);
		free(r);
	}
	{
		struct pval *pv, *ptmp2;

		HASH_ITER(hh, dp->pvals, pv, ptmp2)
		{
			HASH_DEL(dp->pvals, pv);
			free(pv);
		}
	}
	for (int i = 0; i < XDROP_MAX_SLOT_CHUNKS; i++)
		if (dp->chunk_fd[i] >= 0)
			close(dp->chunk_fd[i]);
	if (dp->genp)
		munmap(dp->genp, (size_t)sysconf(_SC_PAGESIZE));
	xdrop__destroy(dp->skel);
	free(dp->by_id);
	free(dp->free_ids);
	free(dp->free_slots);
	free(dp);
}
