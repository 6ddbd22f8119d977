// SPDX-License-Identifier: MIT
/*
 * dp_bloom6: the filter in front of the IPv6 prefix hashes (xdrop_bloom6; xdrop.h says what
 * the program does with it). Per IPv6 trie: the filter length L (the shortest length hashed
 * when the filter was last built), the number of hashed prefixes per bit, and the bits. A
 * prefix's bit is set before the prefix enters the hash and cleared after it left, so the
 * bits always cover every hashed prefix; a prefix shorter than L turns the filter off,
 * rebuilds it with its length and turns it on again (one atomic store each way). A count
 * that would overflow turns the trie's filter off until its last prefix is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dp_priv.h"

#define BLOOM6_BYTES ((size_t)2 * XDROP_BLOOM6_WORDS * sizeof(uint64_t))

struct dp_bloom6 {
	uint16_t *cnt[2]; /* per bit */
	unsigned len[2];  /* filter length, 0 = off */
	bool broken[2];	  /* a count overflowed */
	uint64_t total[2];
};

static uint64_t *words(struct dataplane *dp, int d)
{
	return dp->bloom6 + (size_t)d * XDROP_BLOOM6_WORDS;
}

/* The bit of prefix p (of trie 2 + d) masked to len. */
static uint32_t bit_of(const struct dp_prefix *p, unsigned len)
{
	uint8_t b[16];
	uint32_t k[4];

	memcpy(b, p->key.addr.b, 16);
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;

		b[i] &= (uint8_t)(0xff00u >> keep);
	}
	memcpy(k, b, 16);
	return xdrop_bloom6_bit(k);
}

static void bit_set(struct dataplane *dp, int d, uint32_t bit, bool on)
{
	uint64_t *w = &words(dp, d)[1 + bit / 64], v = __atomic_load_n(w, __ATOMIC_RELAXED);

	v = on ? v | 1ull << (bit % 64) : v & ~(1ull << (bit % 64));
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

static void count(struct dataplane *dp, int d, const struct dp_prefix *p, int delta)
{
	struct dp_bloom6 *f = dp->b6;
	uint32_t bit = bit_of(p, f->len[d]);

	if (delta > 0 && f->cnt[d][bit] == UINT16_MAX) {
		f->broken[d] = true;
		__atomic_store_n(&words(dp, d)[0], 0, __ATOMIC_RELEASE);
		return;
	}
	f->cnt[d][bit] = (uint16_t)(f->cnt[d][bit] + delta);
	if (f->cnt[d][bit] == (delta > 0 ? 1 : 0))
		bit_set(dp, d, bit, delta > 0);
}

/* Off, every bit from the hashed prefixes of the trie (and p, about to be hashed) at len, on. */
static void rebuild(struct dataplane *dp, int d, const struct dp_prefix *p, unsigned len)
{
	struct dp_bloom6 *f = dp->b6;
	struct dp_prefix *q, *tmp;

	__atomic_store_n(&words(dp, d)[0], 0, __ATOMIC_RELEASE);
	memset(&words(dp, d)[1], 0, (XDROP_BLOOM6_WORDS - 1) * sizeof(uint64_t));
	memset(f->cnt[d], 0, sizeof(uint16_t) << XDROP_BLOOM6_BITS);
	f->len[d] = len;
	HASH_ITER(hh, dp->prefixes, q, tmp)
	{
		if (q->key.trie == TRIE_SRC6 + d && (q->in_hash || q == p))
			count(dp, d, q, +1);
	}
	if (!f->broken[d])
		__atomic_store_n(&words(dp, d)[0], len, __ATOMIC_RELEASE);
}

void dp_bloom6_update(struct dataplane *dp, const struct dp_prefix *p, int delta)
{
	struct dp_bloom6 *f = dp->b6;
	int d = p->key.trie == TRIE_DST6;

	if (!f || (p->key.trie != TRIE_SRC6 && p->key.trie != TRIE_DST6))
		return;
	f->total[d] = (uint64_t)((int64_t)f->total[d] + delta);
	if (delta > 0 && (!f->len[d] || p->key.plen < f->len[d]))
		rebuild(dp, d, p, p->key.plen);
	else if (f->total[d] == 0) {
		/* the last prefix left: off, and built anew by the next one */
		__atomic_store_n(&words(dp, d)[0], 0, __ATOMIC_RELEASE);
		f->len[d] = 0;
		f->broken[d] = false;
	} else if (f->len[d]) {
		count(dp, d, p, delta);
	}
}

int dp_bloom6_open(struct dataplane *dp)
{
	void *m;
	int err = dp_map_mmap(dp->skel->maps.xdrop_bloom6, BLOOM6_BYTES, &m);

	if (err)
		return err;
	dp->bloom6 = m;
	if (!(dp->b6 = calloc(1, sizeof(*dp->b6))))
		return -ENOMEM;
	for (int d = 0; d < 2; d++)
		if (!(dp->b6->cnt[d] = calloc((size_t)1 << XDROP_BLOOM6_BITS, sizeof(uint16_t))))
			return -ENOMEM;
	dp_bloom6_reset(dp);
	return 0;
}

void dp_bloom6_reset(struct dataplane *dp)
{
	for (int d = 0; d < 2 && dp->b6; d++) {
		__atomic_store_n(&words(dp, d)[0], 0, __ATOMIC_RELEASE);
		dp->b6->len[d] = 0;
		dp->b6->total[d] = 0;
		dp->b6->broken[d] = false;
	}
}

void dp_bloom6_close(struct dataplane *dp)
{
	if (dp->bloom6)
		munmap(dp->bloom6, BLOOM6_BYTES);
	dp->bloom6 = NULL;
	if (dp->b6)
		for (int d = 0; d < 2; d++)
			free(dp->b6->cnt[d]);
	free(dp->b6);
	dp->b6 = NULL;
}
