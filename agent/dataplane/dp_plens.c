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
	__atomic_store_n(&dp->dir16[(t == TRIE_DST4) * XDROP_DIR16_BLOCKS + blk],
			 (uint64_t)lens << 32 | short_id(dp, t, blk), __ATOMIC_RELEASE);
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
	dir16_store(dp, t, blk);
	return 0;
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

int dp_pfx_hash_write(struct dataplane *dp, struct dp_prefix *p, bool del)
{
	struct xdrop_pfx_val v = {.id = p->id};
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
		dp->plen_count[t][tlen(p)]--;
		publish(dp, t);
		return 0;
	}
	dp_prefix_info(p, &v.info);
	if (bpf_map_update_elem(hash_fd(dp, fam), &k, &v, BPF_ANY))
		return -errno;
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
	struct xdrop_pfx_val v = {.id = p->id, .info = *info};
	union dp_pfx_key k;
	int fam = hash_key(p, &k);

	if (dp->plens && p->in_hash)
		bpf_map_update_elem(hash_fd(dp, fam), &k, &v, BPF_EXIST);
}

int dp_plens_open(struct dataplane *dp)
{
	void *m = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd_of(dp->skel->maps.xdrop_plens), 0);

	if (m == MAP_FAILED)
		return -errno;
	dp->plens = m;
	m = mmap(NULL, DIR16_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd_of(dp->skel->maps.xdrop_dir16), 0);
	if (m == MAP_FAILED)
		return -errno;
	dp->dir16 = m;
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
	dp->plens = NULL;
	dp->dir16 = NULL;
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
