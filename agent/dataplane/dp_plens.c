// SPDX-License-Identifier: MIT
/*
 * dp_plens: the prefix hashes that mirror the LPM tries (xdrop_pfx4, xdrop_pfx6) and the
 * lengths each trie uses (xdrop_plens, mmapped). Every prefix written to a trie is written
 * to its hash with its id and a copy of its info; the count of prefixes per (trie, length)
 * gives the length bits, and a trie is probed through its hash (mode 1) while it uses at
 * most XDROP_PFX_MAX_PROBES lengths. Bits and modes are single words stored atomically, and
 * both structures hold the same prefixes at every instant (a bit may be set before its
 * first prefix arrives and is cleared after its last one left: a probe of an empty length
 * only misses), so the program's answer is the LPM trie's whichever it uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

static bool trie_v4(int t)
{
	return t == TRIE_SRC4 || t == TRIE_DST4;
}

/* Length of p in its trie's units. */
static unsigned tlen(const struct dp_prefix *p)
{
	return trie_v4(p->key.trie) ? p->key.plen - 96 : p->key.plen;
}

/* Bit of a length in xdrop_plens.len[t] (lowest = longest). */
static unsigned len_bit(int t, unsigned len)
{
	return (trie_v4(t) ? 32 : 128) - len;
}

#define DIR16_BYTES ((size_t)2 * XDROP_DIR16_BLOCKS * sizeof(uint64_t))

/* The id of the longest hashed prefix of at most 16 bits covering block blk of trie t. */
static uint32_t short_id(struct dataplane *dp, int t, uint32_t blk)
{
	for (int len = 16; len >= 0; len--) {
		uint32_t ip = len ? (blk << 16) & (0xffffffffu << (32 - len)) : 0;
		struct addr_prefix a = {.plen = 96u + (unsigned)len};
		struct dp_prefix *p;

		a.addr.b[10] = a.addr.b[11] = 0xff;
		a.addr.b[12] = (uint8_t)(ip >> 24);
		a.addr.b[13] = (uint8_t)(ip >> 16);
		p = dp_prefix_find(dp, t, &a);
		if (p && p->in_hash)
			return p->id;
	}
	return 0;
}

#define DIR24_BYTES ((size_t)XDROP_DIR24_CHUNKS * XDROP_DIR24_WORDS * sizeof(uint64_t))

/* The xdrop_dir24 chunks: which block of each IPv4 trie holds which, the hashed prefixes per
 * (/24, length 17..32) of each chunk in use, and the chunks to reuse. A chunk a block gave
 * back is reused only once a grace period has ended since (no packet can still read it for
 * its old block). */
struct dp_dir24 {
	uint16_t chunk_of[2][XDROP_DIR16_BLOCKS];
	uint16_t (*cnt[XDROP_DIR24_CHUNKS])[16]; /* [256][16] per chunk in use */
	uint16_t free[XDROP_DIR24_CHUNKS];
	uint64_t freed_at[XDROP_DIR24_CHUNKS]; /* dp->grace_periods when given back */
	uint32_t nfree, next;
};

/* A chunk for a block (0 when none is left): a never used one, or one given back before
 * the last grace period. */
static uint16_t chunk_alloc(struct dataplane *dp)
{
	struct dp_dir24 *d = dp->d24;
	uint16_t c = 0;

	if (d->next < XDROP_DIR24_CHUNKS) {
		c = (uint16_t)d->next++;
	} else {
		for (uint32_t i = 0; i < d->nfree; i++) {
			if (d->freed_at[d->free[i]] < dp->grace_periods) {
				c = d->free[i];
				d->free[i] = d->free[--d->nfree];
				break;
			}
		}
	}
	if (!c)
		return 0;
	if (!d->cnt[c] && !(d->cnt[c] = calloc(256, sizeof(*d->cnt[c]))))
		return 0;
	memset(d->cnt[c], 0, 256 * sizeof(*d->cnt[c]));
	memset(dp->dir24 + (size_t)c * XDROP_DIR24_WORDS, 0, XDROP_DIR24_WORDS * sizeof(uint64_t));
	return c;
}

static void chunk_release(struct dataplane *dp, uint16_t c)
{
	struct dp_dir24 *d = dp->d24;

	d->freed_at[c] = dp->grace_periods;
	d->free[d->nfree++] = c;
}

/* Counts a prefix longer than 16 bits in its block's chunk and rewrites the words of the
 * /24s it concerns: the lengths 25..32 inside, and the longest of 17..24 covering. */
static void chunk_count(struct dataplane *dp, uint16_t c, unsigned len, uint32_t ip, int delta)
{
	uint16_t(*cnt)[16] = dp->d24->cnt[c];
	uint32_t j0 = (ip >> 8) & 0xff, n = len <= 24 ? 1u << (24 - len) : 1;

	for (uint32_t j = j0 & ~(n - 1); j < (j0 & ~(n - 1)) + n; j++)
		cnt[j][len - 17] = (uint16_t)(cnt[j][len - 17] + delta);
	/* each word holds four /24s: rewritten whole, one atomic store each */
	for (uint32_t wi = (j0 & ~(n - 1)) / 4; wi <= ((j0 & ~(n - 1)) + n - 1) / 4; wi++) {
		uint64_t w = 0;

		for (uint32_t j = wi * 4; j < wi * 4 + 4; j++) {
			uint64_t lane = 0;

			for (unsigned l = 32; l >= 25; l--)
				if (cnt[j][l - 17])
					lane |= 1u << (32 - l);
			for (unsigned l = 24; l >= 17; l--) {
				if (cnt[j][l - 17]) {
					lane |= 1u << (32 - l);
					break;
				}
			}
			w |= lane << (16 * (j % 4));
		}
		__atomic_store_n(&dp->dir24[(size_t)c * XDROP_DIR24_WORDS + wi], w,
				 __ATOMIC_RELEASE);
	}
}

/* Rewrites the word of one block (one atomic store: the program sees it before or after). */
static void dir16_store(struct dataplane *dp, int t, uint32_t blk)
{
	const uint32_t *cnt = dp->dir16_cnt[t == TRIE_DST4];
	uint32_t lens = 0, n = 0;

	for (unsigned len = 17; cnt && len <= 32; len++) {
		if (cnt[blk * 16 + len - 17]) {
			lens |= 1u << (32 - len);
			n++;
		}
	}
	if (n > XDROP_PFX_MAX_PROBES)
		lens |= XDROP_DIR16_TRIE;
	lens |= (uint32_t)dp->d24->chunk_of[t == TRIE_DST4][blk] << XDROP_DIR16_CHUNK_SHIFT;
	__atomic_store_n(&dp->dir16[(t == TRIE_DST4) * XDROP_DIR16_BLOCKS + blk],
			 (uint64_t)lens << 32 | short_id(dp, t, blk), __ATOMIC_RELEASE);
}

/* A prefix longer than 16 bits entered (delta 1) or left (-1) block blk, whose counts are
 * already updated: its chunk (taken with the block's first such prefix, given back with its
 * last), then the block's word. */
static int dir24_update(struct dataplane *dp, int t, uint32_t blk, unsigned len, uint32_t ip,
			int delta)
{
	const uint32_t *cnt = dp->dir16_cnt[t == TRIE_DST4] + blk * 16;
	uint16_t *c = &dp->d24->chunk_of[t == TRIE_DST4][blk];
	uint32_t total = 0;

	for (int i = 0; i < 16; i++)
		total += cnt[i];
	if (delta > 0 && total == 1 && !*c)
		*c = chunk_alloc(dp); /* 0 when none is left: the block's lengths serve */
	if (*c)
		chunk_count(dp, *c, len, ip, delta);
	if (total == 0 && *c) {
		uint16_t old = *c;

		*c = 0;
		dir16_store(dp, t, blk);
		chunk_release(dp, old);
		return 0;
	}
	dir16_store(dp, t, blk);
	return 0;
}

/* A prefix of an IPv4 trie entered (delta 1) or left (-1) the hash. */
static int dir16_update(struct dataplane *dp, const struct dp_prefix *p, int delta)
{
	int t = p->key.trie;
	unsigned len = tlen(p);
	uint32_t ip = (uint32_t)p->key.addr.b[12] << 24 | (uint32_t)p->key.addr.b[13] << 16;
	uint32_t blk = ip >> 16, **cnt = &dp->dir16_cnt[t == TRIE_DST4];

	if (!dp->dir16)
		return 0;
	if (len <= 16) {
		uint32_t n = 1u << (16 - len), first = blk & ~(n - 1);

		for (uint32_t b = first; b < first + n; b++)
			dir16_store(dp, t, b);
		return 0;
	}
	if (!*cnt && !(*cnt = calloc((size_t)XDROP_DIR16_BLOCKS * 16, sizeof(**cnt))))
		return -ENOMEM;
	(*cnt)[blk * 16 + len - 17] += (uint32_t)delta;
	return dir24_update(dp, t, blk, len, ip | (uint32_t)p->key.addr.b[14] << 8, delta);
}

static void publish(struct dataplane *dp, int t)
{
	uint64_t w[3] = {0}, u;
	unsigned n = 0, nu = 0, max = trie_v4(t) ? 32 : 128;

	for (unsigned len = 0; len <= max; len++) {
		if (!dp->plen_count[t][len])
			continue;
		w[len_bit(t, len) / 64] |= 1ull << (len_bit(t, len) % 64);
		n++;
	}
	for (int i = 0; i < 3; i++)
		nu += (unsigned)__builtin_popcountll(w[i] | dp->plens->len[t][i]);
	/* The program probes at most XDROP_PFX_MAX_PROBES lengths, so the hashes are used
	 * only while every length that may hold a prefix fits: the trie takes over before the
	 * set grows past it, and hands back after it shrank. */
	if (nu > XDROP_PFX_MAX_PROBES)
		__atomic_store_n(&dp->plens->mode[t], 0, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++) {
		u = w[i] | dp->plens->len[t][i];
		__atomic_store_n(&dp->plens->len[t][i], u, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < 3; i++)
		__atomic_store_n(&dp->plens->len[t][i], w[i], __ATOMIC_RELEASE);
	if (trie_v4(t))
		__atomic_store_n(&dp->plens->mode[t], dp->dir16 ? XDROP_PFX_DIR16 : XDROP_PFX_TRIE,
				 __ATOMIC_RELEASE);
	else
		__atomic_store_n(&dp->plens->mode[t],
				 n <= XDROP_PFX6_HASH_LENS ? XDROP_PFX_HASH : XDROP_PFX_TRIE,
				 __ATOMIC_RELEASE);
}

static int hash_key(const struct dp_prefix *p, union dp_pfx_key *k)
{
	int t = p->key.trie;

	memset(k, 0, sizeof(*k));
	if (trie_v4(t)) {
		k->k4.trie = (uint8_t)t;
		k->k4.plen = (uint8_t)tlen(p);
		memcpy(&k->k4.addr, p->key.addr.b + 12, 4);
		return 4;
	}
	k->k6.trie = (uint8_t)t;
	k->k6.plen = (uint8_t)tlen(p);
	memcpy(k->k6.addr, p->key.addr.b, 16);
	return 6;
}

static int hash_fd(struct dataplane *dp, int fam)
{
	return fam == 4 ? fd_of(dp->skel->maps.xdrop_pfx4) : fd_of(dp->skel->maps.xdrop_pfx6);
}

/* The hash value of a prefix: its id and info, and a copy of each kind's entry whose only
 * field is the prefix, as xdrop_cidr holds it now (xdrop.h, struct xdrop_pfx_val). */
static void pfx_value(struct dataplane *dp, const struct dp_prefix *p,
		      const struct xdrop_prefix_info *info, struct xdrop_pfx_val *v)
{
	int dst = p->key.trie == TRIE_DST4 || p->key.trie == TRIE_DST6;
	uint8_t combo = dst ? XDROP_F_DST : XDROP_F_SRC;
	struct xdrop_cidr_key key;

	memset(v, 0, sizeof(*v));
	v->id = p->id;
	v->info = *info;
	for (int k = 0; k < XDROP_NKINDS; k++) {
		if (!p->refs[k][combo])
			continue;
		memset(&key, 0, sizeof(key));
		key.src_id = dst ? 0 : p->id;
		key.dst_id = dst ? p->id : 0;
		key.combo = combo;
		key.kind = (uint8_t)k;
		if (!bpf_map_lookup_elem(dp_entry_fd(dp, TBL_CIDR, false), &key, &v->solo_e[k]))
			v->solo |= 1u << k;
	}
}

int dp_pfx_hash_write(struct dataplane *dp, struct dp_prefix *p, bool del)
{
	struct xdrop_prefix_info info;
	struct xdrop_pfx_val v;
	union dp_pfx_key k;
	int fam = hash_key(p, &k), t = p->key.trie;

	if (!dp->plens)
		return 0;
	if (del) {
		if (!p->in_hash)
			return 0;
		p->in_hash = false;
		if (trie_v4(t))
			dir16_update(dp, p, -1);
		bpf_map_delete_elem(hash_fd(dp, fam), &k);
		dp_bloom6_update(dp, p, -1);
		dp->plen_count[t][tlen(p)]--;
		publish(dp, t);
		return 0;
	}
	dp_prefix_info(p, &info);
	pfx_value(dp, p, &info, &v);
	if (!p->in_hash)
		dp_bloom6_update(dp, p, +1);
	if (bpf_map_update_elem(hash_fd(dp, fam), &k, &v, BPF_ANY)) {
		if (!p->in_hash)
			dp_bloom6_update(dp, p, -1);
		return -errno;
	}
	if (!p->in_hash) {
		p->in_hash = true;
		dp->plen_count[t][tlen(p)]++;
		publish(dp, t);
		if (trie_v4(t))
			return dir16_update(dp, p, +1);
	}
	return 0;
}

void dp_pfx_hash_info(struct dataplane *dp, const struct dp_prefix *p,
		      const struct xdrop_prefix_info *info)
{
	struct xdrop_pfx_val v;
	union dp_pfx_key k;
	int fam = hash_key(p, &k);

	if (!dp->plens || !p->in_hash)
		return;
	pfx_value(dp, p, info, &v);
	bpf_map_update_elem(hash_fd(dp, fam), &k, &v, BPF_EXIST);
}

void dp_pfx_hash_solo(struct dataplane *dp, const struct dp_entry *e)
{
	struct xdrop_prefix_info info;
	struct dp_prefix *p;

	if (e->key.table != TBL_CIDR || (e->combo != XDROP_F_SRC && e->combo != XDROP_F_DST))
		return;
	p = e->pfx[e->combo == XDROP_F_DST];
	if (!p)
		return;
	dp_prefix_info(p, &info);
	dp_pfx_hash_info(dp, p, &info);
}

int dp_plens_open(struct dataplane *dp)
{
	int err;
	void *m[3];

	if ((err = dp_map_mmap(dp->skel->maps.xdrop_plens, (size_t)sysconf(_SC_PAGESIZE), &m[0])))
		return err;
	dp->plens = m[0];
	if ((err = dp_map_mmap(dp->skel->maps.xdrop_dir16, DIR16_BYTES, &m[1])))
		return err;
	dp->dir16 = m[1];
	if ((err = dp_map_mmap(dp->skel->maps.xdrop_dir24, DIR24_BYTES, &m[2])))
		return err;
	dp->dir24 = m[2];
	if (!(dp->d24 = calloc(1, sizeof(*dp->d24))))
		return -ENOMEM;
	dp->d24->next = 1;
	if ((err = dp_bloom6_open(dp)))
		return err;
	/* until the hashes are known to match the tries (rebuilt after an adoption), the
	 * program uses the tries */
	for (int t = 0; t < NTRIES; t++)
		__atomic_store_n(&dp->plens->mode[t], 0, __ATOMIC_RELEASE);
	return 0;
}

/* Deletes every hashed prefix that the model does not hold in the same trie with the same id
 * (left by an interrupted run); returns 0 or -errno. */
static int hash_prune(struct dataplane *dp, int fam)
{
	int fd = hash_fd(dp, fam);
	union dp_pfx_key cur, next;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &cur, &next) == 0) {
		struct xdrop_pfx_val v;
		struct addr_prefix a;
		struct dp_prefix *p;
		int t = fam == 4 ? next.k4.trie : next.k6.trie;

		memset(&a, 0, sizeof(a));
		if (fam == 4) {
			a.addr.b[10] = a.addr.b[11] = 0xff;
			memcpy(a.addr.b + 12, &next.k4.addr, 4);
			a.plen = next.k4.plen + 96u;
		} else {
			memcpy(a.addr.b, next.k6.addr, 16);
			a.plen = next.k6.plen;
		}
		p = t < NTRIES ? dp_prefix_find(dp, t, &a) : NULL;
		if (bpf_map_lookup_elem(fd, &next, &v) || !p || p->id != v.id) {
			if (bpf_map_delete_elem(fd, &next) && errno != ENOENT)
				return -errno;
			continue; /* next key from the same cursor */
		}
		cur = next;
		first = false;
	}
	return 0;
}

int dp_plens_rebuild(struct dataplane *dp)
{
	struct dp_prefix *p, *tmp;
	int err;

	if (!dp->plens)
		return 0;
	memset(dp->plen_count, 0, sizeof(dp->plen_count));
	/* every trie is searched as a trie meanwhile (dp_plens_open) */
	memset(dp->dir16, 0, DIR16_BYTES);
	for (int i = 0; i < 2; i++)
		if (dp->dir16_cnt[i])
			memset(dp->dir16_cnt[i], 0,
			       (size_t)XDROP_DIR16_BLOCKS * 16 * sizeof(uint32_t));
	dp_bloom6_reset(dp);
	/* every chunk free: no block refers to one (dir16 is zero) */
	memset(dp->d24->chunk_of, 0, sizeof(dp->d24->chunk_of));
	dp->d24->nfree = 0;
	dp->d24->next = 1;
	if ((err = hash_prune(dp, 4)) || (err = hash_prune(dp, 6)))
		return err;
	HASH_ITER(hh, dp->prefixes, p, tmp)
	{
		p->in_hash = false;
		if ((err = dp_pfx_hash_write(dp, p, false)))
			return err;
	}
	for (int t = 0; t < NTRIES; t++)
		publish(dp, t);
	return 0;
}

void dp_plens_close(struct dataplane *dp)
{
	if (dp->plens)
		munmap(dp->plens, (size_t)sysconf(_SC_PAGESIZE));
	if (dp->dir16)
		munmap(dp->dir16, DIR16_BYTES);
	if (dp->dir24)
		munmap(dp->dir24, DIR24_BYTES);
	if (dp->d24)
		for (int c = 0; c < XDROP_DIR24_CHUNKS; c++)
			free(dp->d24->cnt[c]);
	free(dp->d24);
	dp->d24 = NULL;
	dp_bloom6_close(dp);
	dp->plens = NULL;
	dp->dir16 = NULL;
	dp->dir24 = NULL;
	for (int i = 0; i < 2; i++) {
		free(dp->dir16_cnt[i]);
		dp->dir16_cnt[i] = NULL;
	}
}

int dataplane_prefix_mode(const struct dataplane *dp, bool v6, bool dst, uint32_t v4_block)
{
	int t = (v6 ? TRIE_SRC6 : TRIE_SRC4) + (dst ? 1 : 0);
	uint32_t mode;

	if (!dp->plens)
		return XDROP_PFX_TRIE;
	mode = __atomic_load_n(&dp->plens->mode[t], __ATOMIC_ACQUIRE);
	if (mode == XDROP_PFX_DIR16 && v4_block < XDROP_DIR16_BLOCKS &&
	    (__atomic_load_n(&dp->dir16[(dst ? XDROP_DIR16_BLOCKS : 0) + v4_block],
			     __ATOMIC_ACQUIRE) >>
	     32) &
		XDROP_DIR16_TRIE)
		return XDROP_PFX_TRIE;
	return (int)mode;
}
