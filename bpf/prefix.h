/* SPDX-License-Identifier: GPL-2.0 */
/*
 * prefix.h: the longest matching prefix of a packet's address, per direction, for the CIDR
 * search of xdrop.bpf.c (included there, after the rule maps and struct scratch), and the
 * maps only it reads. Three ways, chosen per trie by the agent (xdrop.h, struct
 * xdrop_plens): the LPM trie; for IPv6, a Bloom filter (xdrop_bloom6), then one hash probe
 * per prefix length in use, longest first; for IPv4, the address's /16 block in xdrop_dir16
 * (and its /24 in the block's xdrop_dir24 chunk), then a hash probe per longer length
 * present there. The agent keeps the trie and the hashes equal, so all three give the same
 * prefix. A hash hit also carries the verdict of the entry whose only field is that prefix
 * (first_found), which settles the common single-field CIDR rule without a lookup of
 * xdrop_cidr (cidr_probe, solo_settles).
 */
#ifndef XDROP_BPF_PREFIX_H
#define XDROP_BPF_PREFIX_H

/* ---- maps (read only here) ---- */

/* The tries' prefixes as hashes, one probe per length in use (xdrop.h, struct xdrop_plens). */
#define PFX_HASH(key_type)                                                                         \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_HASH);                                                   \
		__uint(max_entries, 2 * XDROP_DEF_MAX_PREFIXES);                                   \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                              \
		__type(key, key_type);                                                             \
		__type(value, struct xdrop_pfx_val);                                               \
	}
PFX_HASH(struct xdrop_pfx4_key) xdrop_pfx4 SEC(".maps");
PFX_HASH(struct xdrop_pfx6_key) xdrop_pfx6 SEC(".maps");

/* Arrays the agent writes through mmap (dp_plens.c, dp_bloom6.c). */
#define MMAP_ARRAY(n, value_type)                                                                  \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(max_entries, n);                                                            \
		__uint(map_flags, BPF_F_MMAPABLE);                                                 \
		__type(key, __u32);                                                                \
		__type(value, value_type);                                                         \
	}
MMAP_ARRAY(1, struct xdrop_plens) xdrop_plens SEC(".maps");
MMAP_ARRAY(2 * XDROP_DIR16_BLOCKS, __u64) xdrop_dir16 SEC(".maps");
MMAP_ARRAY(XDROP_DIR24_CHUNKS *XDROP_DIR24_WORDS, __u64) xdrop_dir24 SEC(".maps");
MMAP_ARRAY(2 * XDROP_BLOOM6_WORDS, __u64) xdrop_bloom6 SEC(".maps");

/* ---- lookups ---- */

/* The LPM trie's longest match: the prefix id, 0 when none. */
static __always_inline __u32 trie_lookup(const struct pkt *p, int dst)
{
	__u32 *id;

	if (p->is_v6) {
		struct xdrop_lpm6_key k6 = {.prefixlen = 128};

		__builtin_memcpy(k6.addr, dst ? p->dst.b : p->src.b, 16);
		id = bpf_map_lookup_elem(dst ? (void *)&xdrop_dst6 : (void *)&xdrop_src6, &k6);
	} else {
		struct xdrop_lpm4_key k4 = {.prefixlen = 32};

		__builtin_memcpy(k4.addr, (dst ? p->dst.b : p->src.b) + 12, 4);
		id = bpf_map_lookup_elem(dst ? (void *)&xdrop_dst4 : (void *)&xdrop_src4, &k4);
	}
	return id ? *id : 0;
}

/* Index of the lowest set bit of a 64-bit word (0 when none). */
static __always_inline __u32 bit_index64(__u64 low)
{
	__u32 lo = (__u32)low;

	return lo ? bit_index(lo) : 32 + bit_index((__u32)(low >> 32));
}

/* The IPv6 address a masked to its first plen bits, into a key's four words. */
static __always_inline void mask6(__u32 *k, const __u64 *a, __u32 plen)
{
	__u64 hi = plen >= 64 ? ~0ull : plen ? ~0ull << (64 - plen) : 0;
	__u64 lo = plen >= 128 ? ~0ull : plen > 64 ? ~0ull << (128 - plen) : 0;
	__u64 h = a[0] & bpf_cpu_to_be64(hi), l = a[1] & bpf_cpu_to_be64(lo);

	k[0] = (__u32)h;
	k[1] = (__u32)(h >> 32);
	k[2] = (__u32)l;
	k[3] = (__u32)(l >> 32);
}

/* A hashed prefix found as the longest of direction dst: its info, and the verdict of each
 * kind's entry whose only field is this prefix (xdrop.h, struct xdrop_pfx_val), so that
 * cidr_probe needs no lookup for that entry. */
static __always_inline void first_found(struct scratch *sx, __u32 dst, struct xdrop_pfx_val *v)
{
	struct xdrop_cidr_key key = {};
	const struct xdrop_act *a;
	__u32 k, ok = 0;

	dst &= 1;
	sx->first[dst] = v->info;
	sx->first_ok[dst] = 1;
	if (dst)
		key.dst_id = v->id;
	else
		key.src_id = v->id;
	key.combo = dst ? XDROP_F_DST : XDROP_F_SRC;
	for (k = 0; k < XDROP_NKINDS; k++) {
		if (!(v->solo & (1u << k)))
			continue;
		key.kind = (__u8)k;
		a = entry_visible(&v->solo_e[k], sx->gen, &xdrop_cidr_prev, &key);
		if (!a || !act_filters_ok(a, &sx->p))
			continue;
		sx->solo_act[dst][k] = *a;
		ok |= 1u << k;
	}
	sx->solo_ok[dst] = ok;
}

/* Longest match among the hashed prefixes of an IPv6 trie: one probe per length in use,
 * longest first. Fills sx->first[dst] and returns the id, 0 when no prefix matches. */
__noinline int hash_lookup6(struct scratch *sx, const struct xdrop_plens *pl, __u32 dst)
{
	struct xdrop_pfx_val *v = NULL;
	__u64 w0, w1, w2, low, *fw;
	__u32 i, r, plen, t, idx, bit;

	if (!sx || !pl)
		return 0;
	dst &= 1;
	t = 2 + dst;
	/* the filter: an address whose bit is clear matches no prefix of the trie */
	idx = dst * XDROP_BLOOM6_WORDS;
	fw = bpf_map_lookup_elem(&xdrop_bloom6, &idx);
	if (fw && *fw) {
		__u32 k[4];

		mask6(k, (const __u64 *)(dst ? sx->p.dst.b : sx->p.src.b), (__u32)*fw & 0xff);
		bit = xdrop_bloom6_bit(k);
		idx = dst * XDROP_BLOOM6_WORDS + 1 + bit / 64;
		fw = bpf_map_lookup_elem(&xdrop_bloom6, &idx);
		if (fw && !((*fw >> (bit % 64)) & 1))
			return 0;
	}
	w0 = pl->len[t][0];
	w1 = pl->len[t][1];
	w2 = pl->len[t][2];
	for (i = 0; i < XDROP_PFX_MAX_PROBES; i++) {
		struct xdrop_pfx6_key k6 = {.trie = (__u8)t};

		if (w0) {
			low = w0 & -w0;
			w0 &= w0 - 1;
			r = bit_index64(low);
		} else if (w1) {
			low = w1 & -w1;
			w1 &= w1 - 1;
			r = 64 + bit_index64(low);
		} else if (w2) {
			low = w2 & -w2;
			w2 &= w2 - 1;
			r = 128 + bit_index64(low);
		} else {
			return 0;
		}
		plen = r > 128 ? 0 : 128 - r;
		k6.plen = (__u8)plen;
		mask6(k6.addr, (const __u64 *)(dst ? sx->p.dst.b : sx->p.src.b), plen);
		v = bpf_map_lookup_elem(&xdrop_pfx6, &k6);
		if (v)
			break;
	}
	if (!v)
		return 0;
	first_found(sx, dst, v);
	return v->id;
}

/* Longest match of an IPv4 address: its /16 block in xdrop_dir16 (and its /24 in the block's
 * xdrop_dir24 chunk, when it has one), then a hash probe per longer length present there,
 * longest first (the trie when the block holds too many).
 * Fills sx->first[dst] when a probe finds the prefix. */
__noinline int dir16_lookup(struct scratch *sx, __u32 dst)
{
	struct xdrop_pfx4_key k4 = {};
	struct xdrop_pfx_val *v = NULL;
	__u32 a, host, idx, lens, low, i, plen, chunk;
	__u64 *w, *l24;

	if (!sx)
		return 0;
	dst &= 1;
	a = *(const __u32 *)((dst ? sx->p.dst.b : sx->p.src.b) + 12);
	host = bpf_ntohl(a);
	idx = dst * XDROP_DIR16_BLOCKS + (host >> 16);
	w = bpf_map_lookup_elem(&xdrop_dir16, &idx);
	if (!w)
		return 0;
	lens = (__u32)(*w >> 32);
	if (lens & XDROP_DIR16_TRIE)
		return trie_lookup(&sx->p, (int)dst);
	chunk = (lens >> XDROP_DIR16_CHUNK_SHIFT) & XDROP_DIR16_CHUNK_MASK;
	if (chunk) {
		/* the lengths that concern the address's /24 only */
		idx = chunk * XDROP_DIR24_WORDS + ((host >> 10) & (XDROP_DIR24_WORDS - 1));
		l24 = bpf_map_lookup_elem(&xdrop_dir24, &idx);
		if (!l24)
			return trie_lookup(&sx->p, (int)dst);
		lens = (__u32)(*l24 >> ((host >> 4) & 0x30));
	}
	lens &= XDROP_DIR24_LENS;
	k4.trie = (__u8)dst;
	for (i = 0; i < XDROP_PFX_MAX_PROBES && lens; i++) {
		low = lens & -lens;
		lens &= lens - 1;
		plen = 32 - bit_index(low);
		k4.plen = (__u8)plen;
		k4.addr = a & bpf_htonl(~0u << ((32 - plen) & 31));
		v = bpf_map_lookup_elem(&xdrop_pfx4, &k4);
		if (v)
			break;
	}
	if (!v)
		return (__u32)*w;
	first_found(sx, dst, v);
	return v->id;
}

/* The first (longest) prefix of one direction's chain: its id, and in *first its info
 * when a probe found it (otherwise NULL: chain_build looks it up). */
static __always_inline __u32 longest(struct scratch *sx, __u32 dst,
				     const struct xdrop_prefix_info **first)
{
	__u32 zero = 0, t = (sx->p.is_v6 ? 2 : 0) + (dst & 1), id, mode;
	const struct xdrop_plens *pl = bpf_map_lookup_elem(&xdrop_plens, &zero);

	*first = NULL;
	sx->first_ok[dst & 1] = 0;
	sx->solo_ok[dst & 1] = 0;
	mode = pl ? pl->mode[t & 3] : XDROP_PFX_TRIE;
	if (mode == XDROP_PFX_DIR16 && !sx->p.is_v6)
		id = dir16_lookup(sx, dst);
	else if (mode == XDROP_PFX_HASH && sx->p.is_v6)
		id = hash_lookup6(sx, pl, dst);
	else
		return trie_lookup(&sx->p, (int)dst);
	if (sx->first_ok[dst & 1])
		*first = &sx->first[dst & 1];
	return id;
}

/* When a kind's only candidate CIDR combo is a single-field source (or destination) prefix
 * and the longest prefix's own entry matched (it came with the hash probe), that entry beats
 * every other CIDR candidate (they are shorter prefixes of the same combo): it is kept if it
 * ranks above the exact table's best. Returns 1 when that settles the CIDR table. */
static __always_inline int solo_settles(struct scratch *sx, __u32 kind)
{
	__u32 d, rank;

	kind &= 1;
	if (sx->pp[kind] == 1u << XDROP_F_SRC)
		d = 0;
	else if (sx->pp[kind] == 1u << XDROP_F_DST)
		d = 1;
	else
		return 0;
	if (!sx->first_ok[d] || !(sx->solo_ok[d] & (1u << kind)))
		return 0;
	rank = xdrop_rank(d ? XDROP_F_DST : XDROP_F_SRC, d ? 0 : sx->first[0].plen,
			  d ? sx->first[1].plen : 0);
	if (!sx->m.found || rank > sx->m.rank) {
		sx->m.act = sx->solo_act[d][kind];
		sx->m.rank = rank;
		sx->m.found = 1;
	}
	return 1;
}

#endif
