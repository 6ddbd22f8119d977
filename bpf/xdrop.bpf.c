// SPDX-License-Identifier: GPL-2.0
/*
 * xdrop.bpf.c: the XDrop XDP program. Every map is defined here, except those only the
 * prefix search reads (prefix.h); every struct comes from xdrop.h. The path of a frame, top
 * to bottom:
 *
 *   count rx -> fast-forward port? -> parse (malformed: drop, non-IP: pass/bridge;
 *   unclassified: only anomaly rules, else drop as malformed)
 *   -> read the generation once -> protected control flow? (pass)
 *   -> whitelist (any match passes)
 *   -> rules: best exact match and best CIDR match, higher rank wins
 *   -> action (drop / pass / rate_limit) -> per-slot and global counters
 *   -> pass becomes a redirect to the peer on fast-forward ports.
 *
 * Runtime options are const volatile globals the loader sets before load: the precedence
 * tables computed by lib/rule.c, and test switches (a settable clock for the rate limiter,
 * recording of the generation each packet used, a slow reader: config.h).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdrop.h"
#include "parse.h"

char LICENSE[] SEC("license") = "GPL";

/* Precedence tables (lib/rule.c rule_exact_order): bit k of an exact candidate set is the
 * k-th most specific combo, whose mask is order_mask[k] and rank order_rank[k];
 * order_need[f] holds the bits k whose combo contains field bit f. */
const volatile __u8 order_mask[XDROP_NCOMBOS] = {};
const volatile __u32 order_rank[XDROP_NCOMBOS] = {};
const volatile __u32 order_need[XDROP_NFIELDS] = {};
/* Test switches. */
const volatile __u8 test_clock = 0;	   /* take "now" from xdrop_clock instead of ktime */
const volatile __u8 record_gen = 0;	   /* store the generation each packet used in xdrop_seen */
const volatile __u32 test_reader_spin = 0; /* a slow reader (config.h) */

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdrop_gen);
} xdrop_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDROP_CFG_SLOTS);
	__type(key, __u32);
	__type(value, struct xdrop_config);
} xdrop_cfgring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_DEF_MAX_EXACT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_exact_key);
	__type(value, struct xdrop_entry);
} xdrop_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_DEF_MAX_EXACT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_exact_key);
	__type(value, struct xdrop_act);
} xdrop_exact_prev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_DEF_MAX_CIDR);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_cidr_key);
	__type(value, struct xdrop_entry);
} xdrop_cidr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_DEF_MAX_CIDR);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_cidr_key);
	__type(value, struct xdrop_act);
} xdrop_cidr_prev SEC(".maps");

struct addr_presence_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_DEF_MAX_ADDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_addr);
	__type(value, struct xdrop_addr_presence);
};
struct addr_presence_map xdrop_src_addr SEC(".maps");
struct addr_presence_map xdrop_dst_addr SEC(".maps");

struct port_presence_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDROP_NPORTS);
	__type(key, __u32);
	__type(value, struct xdrop_presence);
};
struct port_presence_map xdrop_sport SEC(".maps");
struct port_presence_map xdrop_dport SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDROP_NPROTOS);
	__type(key, __u32);
	__type(value, struct xdrop_presence);
} xdrop_proto SEC(".maps");

struct lpm4_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDROP_DEF_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_lpm4_key);
	__type(value, __u32);
};
struct lpm6_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDROP_DEF_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdrop_lpm6_key);
	__type(value, __u32);
};
struct lpm4_map xdrop_src4 SEC(".maps");
struct lpm4_map xdrop_dst4 SEC(".maps");
struct lpm6_map xdrop_src6 SEC(".maps");
struct lpm6_map xdrop_dst6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4 * XDROP_DEF_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xdrop_prefix_info);
} xdrop_prefix SEC(".maps");

struct slot_chunk {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDROP_SLOT_CHUNK);
	__type(key, __u32);
	__type(value, struct xdrop_slot_counters);
};

/* Per-rule counters in chunks of XDROP_SLOT_CHUNK slots, created as rules arrive so that
 * memory follows the rules loaded. Updating a slot of this map-in-map is also how user
 * space waits for an RCU grace period. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDROP_MAX_SLOT_CHUNKS);
	__type(key, __u32);
	__array(values, struct slot_chunk);
} xdrop_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_DEF_MAX_RATE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xdrop_rate_state);
} xdrop_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdrop_stats);
} xdrop_stats SEC(".maps");

/* Top-talker samples (struct xdrop_sample), read by the agent (agent/talkers.c). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XDROP_SAMPLES_RING);
} xdrop_samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_MAX_FF_PORTS);
	__type(key, __u32);
	__type(value, struct xdrop_port);
} xdrop_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XDROP_MAX_FF_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} xdrop_devmap SEC(".maps");

/* The agent's control flows, passed ahead of every rule (xdrop.h, struct xdrop_protect_key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDROP_MAX_PROTECT);
	__type(key, struct xdrop_protect_key);
	__type(value, struct xdrop_protect_val);
} xdrop_protect SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDROP_PROTECT_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} xdrop_protect_ports SEC(".maps");

/* Test support (used only when the switches above are set). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xdrop_clock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xdrop_seen SEC(".maps");

struct { /* record_gen: the generation of the config slot each packet read */
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xdrop_seen_cfg SEC(".maps");

/* ---- helpers ---- */

/* The outcome of a table search: the action that applies and its rank. */
struct match {
	struct xdrop_act act;
	__u32 rank;
	__u32 found;
};

/* One direction's chain of matching prefixes, longest first, then "absent". Combos are
 * kept for both kinds so the whitelist and the rules share one walk. */
struct chain {
	__u32 id[XDROP_CIDR_MAX_DEPTH + 1];
	__u32 plen[XDROP_CIDR_MAX_DEPTH + 1];
	__u32 combos[XDROP_NKINDS][XDROP_CIDR_MAX_DEPTH + 1];
	__u32 n;
};

/* One (source prefix, destination prefix) pair to probe, and the best match so far. */
struct probe {
	__u32 src_id;
	__u32 dst_id;
	__u32 splen;
	__u32 dplen;
	__u32 cand; /* combo masks to try */
	__u32 kind;
};

/* Per-CPU state of one packet's search: too big for the 512-byte stack, and the argument
 * of the global functions below, which the verifier checks once each. */
struct scratch {
	struct pkt p;
	struct xdrop_config cfg;
	__u64 gen;
	struct match m;
	struct chain src;
	struct chain dst;
	struct probe pr;
	struct xdrop_prefix_info
	    first[2];	   /* the longest source / destination prefix, when hashed */
	__u32 id0[2];	   /* the longest source / destination prefix */
	__u32 first_ok[2]; /* first[d] is valid */
	/* when first_ok[d]: bit k set when the entry of kind k whose only field is prefix
	 * id0[d] is visible and its conditions hold, with its action in solo_act[d][k] */
	__u32 solo_ok[2];
	struct xdrop_act solo_act[2][XDROP_NKINDS];
	__u32 pp[XDROP_NKINDS]; /* CIDR combos allowed by ports and protocol, per kind */
	__u32 countdown;	/* packets on this CPU until the next top-talker sample */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} xdrop_scratch SEC(".maps");

/* The entry as seen by a packet of generation gen, or NULL when it is not visible. */
static __always_inline const struct xdrop_act *entry_visible(struct xdrop_entry *e, __u64 gen,
							     void *prev_map, const void *key)
{
	if ((__s64)(gen - e->flip_gen) >= 0)
		return (e->vflags & XDROP_V_DEL) ? NULL : &e->act;
	if (e->vflags & XDROP_V_NEW)
		return NULL;
	if (e->vflags & XDROP_V_MOD)
		return bpf_map_lookup_elem(prev_map, key);
	return &e->act;
}

/* The conditions of an entry beyond its key: length bounds, TCP flags, anomalies. A rule
 * with an anomaly mask matches only packets carrying one of its anomalies; an unclassified
 * packet (anom_only) only rules whose mask holds INVALID. */
static __always_inline int act_filters_ok(const struct xdrop_act *a, const struct pkt *p)
{
	__u32 want = (a->flags >> XDROP_AF_ANOM_SHIFT) & XDROP_ANOM_ALL;
	__u32 has = p->anom_only ? XDROP_ANOM_INVALID : p->anomaly;

	if ((want | p->anom_only) && !(want & has))
		return 0;
	if (a->len_min && p->l3_len < a->len_min)
		return 0;
	if (a->len_max && p->l3_len > a->len_max)
		return 0;
	if (a->flags & XDROP_AF_TCP_FLAGS) {
		if (!p->has_tcp)
			return 0;
		if ((p->tcp_flags & a->tcp_mask) != a->tcp_value)
			return 0;
	}
	return 1;
}

/* Index of the single set bit of low: the population count of the bits below it. */
static __always_inline __u32 bit_index(__u32 low)
{
	__u32 x = low - 1;

	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (x * 0x01010101u) >> 24;
}

static __always_inline __u32 presence_bits(void *map, __u32 idx, __u32 kind, int cidr)
{
	struct xdrop_presence *pr = bpf_map_lookup_elem(map, &idx);

	if (!pr)
		return 0;
	return cidr ? pr->cidr[kind & 1] : pr->exact[kind & 1];
}

/* All ones when bit is set in mask, else zero: lets a key be masked without branches,
 * which keeps the verifier from walking 2^fields paths per probe. */
static __always_inline __u64 ones_if(__u32 mask, __u32 bit)
{
	return -(__u64)((mask & bit) != 0);
}

static __always_inline void exact_key(struct xdrop_exact_key *key, const struct pkt *p, __u32 mask,
				      __u32 kind)
{
	const __u64 *s = (const __u64 *)p->src.b, *d = (const __u64 *)p->dst.b;
	__u64 *ks = (__u64 *)key->src.b, *kd = (__u64 *)key->dst.b;
	__u64 ms = ones_if(mask, XDROP_F_SRC), md = ones_if(mask, XDROP_F_DST);

	ks[0] = s[0] & ms;
	ks[1] = s[1] & ms;
	kd[0] = d[0] & md;
	kd[1] = d[1] & md;
	key->sport = p->sport & (__be16)ones_if(mask, XDROP_F_SPORT);
	key->dport = p->dport & (__be16)ones_if(mask, XDROP_F_DPORT);
	key->proto = p->proto & (__u8)ones_if(mask, XDROP_F_PROTO);
	key->combo = (__u8)mask;
	key->kind = (__u8)kind;
	key->pad = 0;
}

/* Exact table: probes the candidate combos in precedence order; the first hit is the
 * best exact match. Returns 1 when sx->m holds it. */
__noinline int match_exact(struct scratch *sx, __u32 kind)
{
	struct xdrop_addr_presence *ap;
	struct xdrop_exact_key key;
	struct xdrop_entry *e;
	const struct xdrop_act *a;
	const struct pkt *p;
	__u32 cand, low, k, i, two;
	__u8 mask;

	if (!sx)
		return 0;
	p = &sx->p;
	kind &= 1;
	cand = sx->cfg.exact_active[kind];
	if (!cand)
		return 0;
	/* cheap array lookups first (ports, protocol) */
	if (p->has_ports) {
		if (cand & order_need[XDROP_FIELD_SPORT])
			cand &= presence_bits(&xdrop_sport, bpf_ntohs(p->sport), kind, 0) |
				~order_need[XDROP_FIELD_SPORT];
		if (cand & order_need[XDROP_FIELD_DPORT])
			cand &= presence_bits(&xdrop_dport, bpf_ntohs(p->dport), kind, 0) |
				~order_need[XDROP_FIELD_DPORT];
	} else {
		cand &= ~(order_need[XDROP_FIELD_SPORT] | order_need[XDROP_FIELD_DPORT]);
	}
	if (cand & order_need[XDROP_FIELD_PROTO])
		cand &=
		    presence_bits(&xdrop_proto, p->proto, kind, 0) | ~order_need[XDROP_FIELD_PROTO];
	/* the address hashes only pay off when they can spare more than one probe: with at
	 * most two candidates left, probing them directly is cheaper (XDROP_ADDR_PRES_MIN) */
	two = cand & (cand - 1); /* cand without its lowest bit */
	if (two & (two - 1)) {	 /* three or more candidates */
		if (cand & order_need[XDROP_FIELD_SRC]) {
			ap = bpf_map_lookup_elem(&xdrop_src_addr, &p->src);
			cand &= (ap ? ap->exact[kind] : 0) | ~order_need[XDROP_FIELD_SRC];
		}
		if (cand & order_need[XDROP_FIELD_DST]) {
			ap = bpf_map_lookup_elem(&xdrop_dst_addr, &p->dst);
			cand &= (ap ? ap->exact[kind] : 0) | ~order_need[XDROP_FIELD_DST];
		}
	}

	for (i = 0; i < XDROP_NVALID_COMBOS && cand; i++) {
		low = cand & -cand;
		cand &= cand - 1;
		k = bit_index(low) & (XDROP_NCOMBOS - 1);
		mask = order_mask[k];
		exact_key(&key, p, mask, kind);
		e = bpf_map_lookup_elem(&xdrop_exact, &key);
		if (!e)
			continue;
		a = entry_visible(e, sx->gen, &xdrop_exact_prev, &key);
		if (!a || !act_filters_ok(a, p))
			continue;
		sx->m.act = *a;
		sx->m.rank = order_rank[k];
		sx->m.found = 1;
		return 1;
	}
	return 0;
}

/* first: the info of prefix id when the lookup already has it (hashed prefixes). At most
 * max prefixes are walked; returns 1 when the chain was cut short there (a parent is left). */
static __always_inline int chain_build(struct chain *ch, __u32 id,
				       const struct xdrop_prefix_info *first, __u32 field,
				       __u32 max)
{
	const struct xdrop_prefix_info *info;
	__u32 n = 0, d;

	for (d = 0; d < XDROP_CIDR_MAX_DEPTH && d < max && id; d++) {
		info = d == 0 && first ? first : bpf_map_lookup_elem(&xdrop_prefix, &id);
		if (!info) {
			id = 0;
			break;
		}
		ch->id[d] = id;
		ch->plen[d] = info->plen;
		ch->combos[0][d] = info->combos[0];
		ch->combos[1][d] = info->combos[1];
		n = d + 1;
		id = info->parent;
	}
	if (n > XDROP_CIDR_MAX_DEPTH)
		n = XDROP_CIDR_MAX_DEPTH;
	ch->id[n] = 0;
	ch->plen[n] = 0;
	ch->combos[0][n] = ~XDROP_MASKS_WITH(field);
	ch->combos[1][n] = ~XDROP_MASKS_WITH(field);
	ch->n = n + 1;
	return id && n < XDROP_CIDR_MAX_DEPTH;
}

/* Both chains from their longest prefixes (sx->id0), the longest prefix only (full = 0)
 * or all of it. Returns 1 when a chain was cut short. */
__noinline int build_chains(struct scratch *sx, __u32 full)
{
	__u32 max = full ? XDROP_CIDR_MAX_DEPTH : 1;
	int cut;

	if (!sx)
		return 0;
	cut = chain_build(&sx->src, sx->id0[0], sx->first_ok[0] ? &sx->first[0] : NULL, XDROP_F_SRC,
			  max);
	cut |= chain_build(&sx->dst, sx->id0[1], sx->first_ok[1] ? &sx->first[1] : NULL,
			   XDROP_F_DST, max);
	return cut;
}

/* Probes the candidate combos of the pair in sx->pr, keeping the best match in sx->m. */
__noinline int cidr_probe(struct scratch *sx)
{
	struct xdrop_cidr_key key;
	struct xdrop_entry *e;
	const struct xdrop_act *a;
	__u32 cand, low, mask, rank, i, d, kind;

	if (!sx)
		return 0;
	cand = sx->pr.cand;
	kind = sx->pr.kind & 1;
	for (i = 0; i < XDROP_PAIR_COMBOS && cand; i++) {
		low = cand & -cand;
		cand &= cand - 1;
		mask = bit_index(low);
		rank = xdrop_rank(mask, sx->pr.splen, sx->pr.dplen);
		if (sx->m.found && rank <= sx->m.rank)
			continue;
		/* the entry whose only field is the longest prefix came with its hash probe */
		d = mask == XDROP_F_DST;
		if ((mask == XDROP_F_SRC || d) && sx->first_ok[d] &&
		    (d ? sx->pr.dst_id : sx->pr.src_id) == sx->id0[d]) {
			if (!(sx->solo_ok[d] & (1u << kind)))
				continue;
			sx->m.act = sx->solo_act[d][kind];
			sx->m.rank = rank;
			sx->m.found = 1;
			continue;
		}
		key.src_id = sx->pr.src_id;
		key.dst_id = sx->pr.dst_id;
		key.sport = sx->p.sport & (__be16)ones_if(mask, XDROP_F_SPORT);
		key.dport = sx->p.dport & (__be16)ones_if(mask, XDROP_F_DPORT);
		key.proto = sx->p.proto & (__u8)ones_if(mask, XDROP_F_PROTO);
		key.combo = mask;
		key.kind = kind;
		key.pad = 0;
		e = bpf_map_lookup_elem(&xdrop_cidr, &key);
		if (!e)
			continue;
		a = entry_visible(e, sx->gen, &xdrop_cidr_prev, &key);
		if (!a || !act_filters_ok(a, &sx->p))
			continue;
		sx->m.act = *a;
		sx->m.rank = rank;
		sx->m.found = 1;
	}
	return 0;
}

#include "prefix.h"
#include "config.h"

/* The candidate CIDR-table combos of a packet for one kind: active, and allowed by its
 * ports and protocol. */
static __always_inline __u32 cidr_candidates(const struct pkt *p, __u32 kind,
					     const struct xdrop_config *cfg)
{
	__u32 pp = cfg->cidr_active[kind & 1];

	if (!pp)
		return 0;
	if (p->has_ports) {
		pp &= presence_bits(&xdrop_sport, bpf_ntohs(p->sport), kind, 1) |
		      ~XDROP_MASKS_WITH(XDROP_F_SPORT);
		pp &= presence_bits(&xdrop_dport, bpf_ntohs(p->dport), kind, 1) |
		      ~XDROP_MASKS_WITH(XDROP_F_DPORT);
	} else {
		pp &= ~(XDROP_MASKS_WITH(XDROP_F_SPORT) | XDROP_MASKS_WITH(XDROP_F_DPORT));
	}
	return pp &
	       (presence_bits(&xdrop_proto, p->proto, kind, 1) | ~XDROP_MASKS_WITH(XDROP_F_PROTO));
}

/* 1 when x is not zero, without a branch (the verifier walks no extra paths). */
static __always_inline __u32 nonzero(__u32 x)
{
	return (x | -x) >> 31;
}

/* The fields constrained by any of the combos in a set of combo bits. */
static __always_inline __u32 fields_of(__u32 combos)
{
	return nonzero(combos & XDROP_MASKS_WITH(XDROP_F_SRC)) << XDROP_FIELD_SRC |
	       nonzero(combos & XDROP_MASKS_WITH(XDROP_F_DST)) << XDROP_FIELD_DST |
	       nonzero(combos & XDROP_MASKS_WITH(XDROP_F_SPORT)) << XDROP_FIELD_SPORT |
	       nonzero(combos & XDROP_MASKS_WITH(XDROP_F_DPORT)) << XDROP_FIELD_DPORT |
	       nonzero(combos & XDROP_MASKS_WITH(XDROP_F_PROTO)) << XDROP_FIELD_PROTO;
}

/* CIDR table: every (source prefix, destination prefix) pair on the two chains, keeping
 * the highest rank above the exact table's best (already in sx->m). */
__noinline int match_cidr(struct scratch *sx, __u32 kind)
{
	__u32 si, di, sc, pp;

	if (!sx)
		return 0;
	kind &= 1;
	pp = sx->pp[kind];
	if (!pp)
		return 0;
	sx->pr.kind = kind;
	for (si = 0; si <= XDROP_CIDR_MAX_DEPTH && si < sx->src.n; si++) {
		sc = pp & sx->src.combos[kind][si];
		if (!sc)
			continue;
		for (di = 0; di <= XDROP_CIDR_MAX_DEPTH && di < sx->dst.n; di++) {
			sx->pr.cand = sc & sx->dst.combos[kind][di];
			if (!sx->pr.cand)
				continue;
			/* no combo of this pair can beat what was found: skip the call (the
			 * union of its candidate combos ranks at least as high as each) */
			if (sx->m.found && xdrop_rank(fields_of(sx->pr.cand), sx->src.plen[si],
						      sx->dst.plen[di]) <= sx->m.rank)
				continue;
			sx->pr.src_id = sx->src.id[si];
			sx->pr.dst_id = sx->dst.id[di];
			sx->pr.splen = sx->src.plen[si];
			sx->pr.dplen = sx->dst.plen[di];
			cidr_probe(sx);
		}
	}
	return sx->m.found;
}

/* Whitelist, then rules. Returns 0 (no match), 1 (whitelisted) or 2 (a rule in sx->m).
 * An unclassified packet skips the whitelist: only anomaly rules may judge it. */
__noinline int match_packet(struct scratch *sx)
{
	__u32 wl, cut = 0, pp, chains = 0;

	if (!sx)
		return 0;
	__builtin_memset(&sx->m, 0, sizeof(sx->m));
	wl = !sx->p.anom_only;
	sx->pp[XDROP_KIND_WL] = wl ? cidr_candidates(&sx->p, XDROP_KIND_WL, &sx->cfg) : 0;
	sx->pp[XDROP_KIND_RULE] = cidr_candidates(&sx->p, XDROP_KIND_RULE, &sx->cfg);
	pp = sx->pp[XDROP_KIND_WL] | sx->pp[XDROP_KIND_RULE];
	if (pp) {
		const struct xdrop_prefix_info *first;

		/* a trie is only walked when some candidate combo constrains its direction;
		 * the chains start with the longest prefixes only, parents are walked when a
		 * pair with one could still beat what the longest ones found */
		sx->first_ok[0] = sx->first_ok[1] = 0;
		sx->id0[0] = pp & XDROP_MASKS_WITH(XDROP_F_SRC) ? longest(sx, 0, &first) : 0;
		sx->id0[1] = pp & XDROP_MASKS_WITH(XDROP_F_DST) ? longest(sx, 1, &first) : 0;
	}
	if (sx->pp[XDROP_KIND_WL]) {
		cut = build_chains(sx, 0);
		chains = 1;
	}
	if (wl && sx->cfg.exact_active[XDROP_KIND_WL] && match_exact(sx, XDROP_KIND_WL))
		return 1;
	if (sx->pp[XDROP_KIND_WL] && match_cidr(sx, XDROP_KIND_WL))
		return 1;
	if (sx->pp[XDROP_KIND_WL] && cut) {
		cut = build_chains(sx, 1);
		if (match_cidr(sx, XDROP_KIND_WL))
			return 1;
	}
	if (sx->cfg.exact_active[XDROP_KIND_RULE])
		match_exact(sx, XDROP_KIND_RULE);
	if (sx->pp[XDROP_KIND_RULE]) {
		if (!chains && solo_settles(sx, XDROP_KIND_RULE))
			return 2;
		if (!chains)
			cut = build_chains(sx, 0);
		match_cidr(sx, XDROP_KIND_RULE);
		/* a pair with a parent has shorter prefixes and at most the fields of the
		 * candidate combos: walk the parents only if that could still win */
		if (cut &&
		    (!sx->m.found || xdrop_rank(fields_of(sx->pp[XDROP_KIND_RULE]), sx->src.plen[0],
						sx->dst.plen[0]) > sx->m.rank)) {
			build_chains(sx, 1);
			match_cidr(sx, XDROP_KIND_RULE);
		}
	}
	return sx->m.found ? 2 : 0;
}

/* Keeps the full definition of the chunk value in BTF: the inner map template reaches it
 * only through pointers, which clang would otherwise emit as a forward declaration. */
const volatile struct xdrop_slot_counters slot_counters_btf_anchor = {};

static __always_inline void slot_count(__u32 slot, int dropped, __u64 len)
{
	__u32 chunk = slot >> XDROP_SLOT_CHUNK_BITS, idx = slot & (XDROP_SLOT_CHUNK - 1);
	struct xdrop_slot_counters *c;
	void *inner;

	inner = bpf_map_lookup_elem(&xdrop_counters, &chunk);
	if (!inner)
		return;
	c = bpf_map_lookup_elem(inner, &idx);
	if (!c)
		return;
	c->match++;
	c->match_bytes += len;
	if (dropped) {
		c->drop++;
		c->drop_bytes += len;
	}
}

static __always_inline __u64 now_ns(void)
{
	if (test_clock) {
		__u32 zero = 0;
		__u64 *t = bpf_map_lookup_elem(&xdrop_clock, &zero);

		return t ? *t : 0;
	}
	return bpf_ktime_get_ns();
}

/* Token bucket shared by every CPU; returns 1 when the packet may pass. */
static __always_inline int rate_admit(const struct xdrop_act *a, int *no_state)
{
	struct xdrop_rate_state *rs;
	__u32 slot = a->slot;
	__u64 now, elapsed, max, full_ns;
	int ok = 0;

	rs = bpf_map_lookup_elem(&xdrop_rate, &slot);
	if (!rs) {
		*no_state = 1;
		return 0;
	}
	if (!a->rate)
		return 0;
	now = now_ns();
	max = (__u64)a->burst * XDROP_TOKEN_SCALE;
	/* time to fill an empty bucket; beyond it the bucket is full, and the product below
	 * cannot overflow: elapsed * rate <= burst * 1e9 < 2^63 */
	full_ns = max / a->rate;
	bpf_spin_lock(&rs->lock);
	elapsed = now > rs->last_ns ? now - rs->last_ns : 0;
	if (elapsed >= full_ns)
		rs->tokens = max;
	else if (rs->tokens + elapsed * a->rate >= max)
		rs->tokens = max;
	else
		rs->tokens += elapsed * a->rate;
	rs->last_ns = now > rs->last_ns ? now : rs->last_ns;
	if (rs->tokens > max)
		rs->tokens = max;
	if (rs->tokens >= XDROP_TOKEN_SCALE) {
		rs->tokens -= XDROP_TOKEN_SCALE;
		ok = 1;
	}
	bpf_spin_unlock(&rs->lock);
	return ok;
}

/* Bit "local" of a port in xdrop_protect_ports: an array lookup, which the verifier inlines. */
static __always_inline int port_flag(__be16 port, __u32 local)
{
	__u32 p = bpf_ntohs(port), idx = xdrop_protect_word(p);
	__u64 *w = bpf_map_lookup_elem(&xdrop_protect_ports, &idx);

	return w && ((*w >> xdrop_protect_bit(p, local)) & 1);
}

/* True when the packet belongs to one of the agent's control flows: from a protected peer,
 * from one of its listening ports or to one of the agent's. */
static __always_inline int is_protected(const struct pkt *p)
{
	struct xdrop_protect_key key = {.proto = p->proto};
	struct xdrop_protect_val *v;
	int i;

	if (!p->has_ports)
		return 0;
	/* most packets stop here: neither port is one of a protected flow */
	if (!port_flag(p->sport, 0) && !port_flag(p->dport, 1))
		return 0;
	__builtin_memcpy(key.peer.b, p->src.b, 16);
	v = bpf_map_lookup_elem(&xdrop_protect, &key);
	if (!v)
		return 0;
#pragma unroll
	for (i = 0; i < XDROP_PROTECT_PORTS; i++) {
		if ((v->peer_port[i] && v->peer_port[i] == p->sport) ||
		    (v->local_port[i] && v->local_port[i] == p->dport))
			return 1;
	}
	return 0;
}

/* Header parsing as one global function: verified once, and the many shapes of packet it
 * walks do not multiply the states of the code after it. */
__noinline int parse(struct xdp_md *ctx, struct scratch *sx)
{
	if (!ctx || !sx)
		return PARSE_MALFORMED;
	__builtin_memset(&sx->p, 0, sizeof(sx->p));
	return parse_packet(ctx, &sx->p);
}

/* The outcome of one packet: its verdict and the counter of its reason (XDROP_CNT_PASSED
 * for a pass without one: no match, nothing loaded, an unfiltered bridge port). */
struct outcome {
	__u32 reason;
	__u32 reason_bytes;
	int drop;
};

#define REASON(o, r, d)                                                                            \
	do {                                                                                       \
		(o)->reason = XDROP_CNT_##r;                                                       \
		(o)->reason_bytes = XDROP_CNT_##r##_BYTES;                                         \
		(o)->drop = (d);                                                                   \
	} while (0)

/* Wakes the reader when this sample makes the waiting data cross a quarter of the ring. */
static __always_inline __u64 wake_flag(void)
{
	__u64 avail = bpf_ringbuf_query(&xdrop_samples, BPF_RB_AVAIL_DATA);

	return avail < XDROP_SAMPLES_RING / 4 &&
		       avail + 2 * sizeof(struct xdrop_sample) >= XDROP_SAMPLES_RING / 4
		   ? BPF_RB_FORCE_WAKEUP
		   : BPF_RB_NO_WAKEUP;
}

/* Writes one sample of the packet when this CPU's countdown runs out, then draws the next
 * gap uniformly in [1, 2N-1] (mean N). ip: the summary in sx->p is valid (otherwise the
 * record carries zero addresses and ports). */
static __always_inline void sample_maybe(struct scratch *sx, struct xdrop_stats *st, __u32 every,
					 int ip, const struct outcome *o, __u64 len)
{
	struct xdrop_sample rec;

	/* a countdown drawn for a larger N is cut short so a lower rate applies at once */
	if (sx->countdown > 1 && sx->countdown < 2 * every) {
		sx->countdown--;
		return;
	}
	sx->countdown = every > 1 ? bpf_get_prandom_u32() % (2 * every - 1) + 1 : 1;
	__builtin_memset(&rec, 0, sizeof(rec));
	if (ip) {
		rec.src = sx->p.src;
		rec.dst = sx->p.dst;
		rec.sport = sx->p.sport;
		rec.dport = sx->p.dport;
		rec.proto = sx->p.proto;
	}
	rec.verdict = o->drop ? XDROP_SAMPLE_DROPPED : XDROP_SAMPLE_PASSED;
	rec.reason = (__u8)o->reason;
	rec.len = (__u32)len;
	rec.every = every;
	/* A wake-up per sample costs more than the rest of the sample (an irq_work each):
	 * the reader is woken only when a quarter of the ring comes to wait, and otherwise
	 * reads on its own timer (dataplane_samples_fd). */
	if (bpf_ringbuf_output(&xdrop_samples, &rec, sizeof(rec), wake_flag()))
		st->c[XDROP_CNT_SAMPLES_LOST]++;
	else
		st->c[XDROP_CNT_SAMPLES]++;
}

/* Whitelist and rules for a parsed IP packet: the outcome, and the per-slot counts. */
static __always_inline void filter(struct scratch *sx, const struct xdrop_config *cfg, __u64 gen,
				   __u64 len, struct outcome *o)
{
	struct xdrop_act act;
	int no_state = 0, r;

	sx->cfg = *cfg;
	sx->gen = gen;
	r = match_packet(sx);
	if (r == 0)
		return;
	act = sx->m.act;
	if (r == 1) {
		slot_count(act.slot, 0, len);
		REASON(o, WHITELISTED, 0);
		return;
	}
	switch (act.action) {
	case XDROP_ACT_PASS:
		slot_count(act.slot, 0, len);
		REASON(o, RULE_PASS, 0);
		return;
	case XDROP_ACT_RATE_LIMIT:
		if (rate_admit(&act, &no_state)) {
			slot_count(act.slot, 0, len);
			REASON(o, RL_PASSED, 0);
			return;
		}
		slot_count(act.slot, 1, len);
		if (no_state)
			REASON(o, RL_NO_STATE, 1);
		else
			REASON(o, RATE_LIMITED, 1);
		return;
	default:
		slot_count(act.slot, 1, len);
		REASON(o, RULE_DROP, 1);
		return;
	}
}

/* Counts the verdict, its reason and their bytes; samples; returns the XDP action (a pass
 * becomes a redirect to the peer on fast-forward ports). */
static __always_inline int finish(struct xdp_md *ctx, const struct xdrop_port *port,
				  struct xdrop_stats *st, struct scratch *sx, __u32 every, int ip,
				  const struct outcome *o, __u64 len)
{
	int ret = XDP_DROP;

	if (o->reason != XDROP_CNT_PASSED) {
		st->c[o->reason & (XDROP_STATS_ROOM - 1)]++;
		st->c[o->reason_bytes & (XDROP_STATS_ROOM - 1)] += len;
	}
	if (o->drop) {
		st->c[XDROP_CNT_DROPPED]++;
		st->c[XDROP_CNT_DROPPED_BYTES] += len;
	} else {
		st->c[XDROP_CNT_PASSED]++;
		st->c[XDROP_CNT_PASSED_BYTES] += len;
		ret = XDP_PASS;
		if (port) {
			st->c[XDROP_CNT_REDIRECTED]++;
			ret = bpf_redirect_map(&xdrop_devmap, ctx->ingress_ifindex, XDP_PASS);
		}
	}
	if (every)
		sample_maybe(sx, st, every, ip, o, len);
	return ret;
}

SEC("xdp")
int xdrop_main(struct xdp_md *ctx)
{
	const struct xdrop_port *port = NULL;
	struct outcome o = {.reason = XDROP_CNT_PASSED};
	struct xdrop_config *cfg;
	struct xdrop_stats *st;
	struct scratch *sx;
	struct xdrop_gen *g;
	__u32 zero = 0, ifindex;
	/* every counter's bytes: the frame as XDP sees it, computed once */
	__u64 len = (__u64)(ctx->data_end - ctx->data);
	__u64 gen;
	int err;

	st = bpf_map_lookup_elem(&xdrop_stats, &zero);
	g = bpf_map_lookup_elem(&xdrop_gen, &zero);
	sx = bpf_map_lookup_elem(&xdrop_scratch, &zero);
	if (!st || !g || !sx)
		return XDP_PASS; /* cannot happen: arrays always hold index 0 */
	st->c[XDROP_CNT_RX]++;
	st->c[XDROP_CNT_RX_BYTES] += len;
	/* The one read of the generation: everything below uses this value only. */
	gen = *(volatile __u64 *)&g->gen;
	cfg = config_of(gen);
	if (!cfg)
		return XDP_PASS;
	if (cfg->flags & XDROP_CFG_FF) {
		ifindex = ctx->ingress_ifindex;
		port = bpf_map_lookup_elem(&xdrop_ports, &ifindex);
	}

	err = parse(ctx, sx);
	if (err == PARSE_NOT_IP) {
		REASON(&o, NON_IP, 0);
		return finish(ctx, port, st, sx, cfg->sample_every, 0, &o, len);
	}
	if (port && !(port->flags & XDROP_PORT_FILTER))
		return finish(ctx, port, st, sx, cfg->sample_every, err != PARSE_MALFORMED, &o,
			      len);
	if (err == PARSE_MALFORMED) {
		REASON(&o, MALFORMED, 1);
		return finish(ctx, port, st, sx, cfg->sample_every, 0, &o, len);
	}
	if (sx->p.fragment)
		st->c[XDROP_CNT_FRAGMENT]++;
	if (sx->p.anomaly & XDROP_ANOM_BAD_FRAG)
		st->c[XDROP_CNT_ANOMALY_BAD_FRAG]++;
	if (sx->p.anomaly & XDROP_ANOM_INVALID)
		st->c[XDROP_CNT_ANOMALY_INVALID]++;
	/* the agent's own control traffic is never subject to a rule (an unclassified
	 * packet has no ports, so it is never protected) */
	if ((cfg->flags & XDROP_CFG_PROTECT) && is_protected(&sx->p))
		REASON(&o, PROTECTED, 0);
	/* nothing loaded at all: no search */
	else if (cfg->exact_active[0] | cfg->exact_active[1] | cfg->cidr_active[0] |
		 cfg->cidr_active[1])
		filter(sx, cfg, gen, len, &o);
	/* unclassified and no anomaly rule took it: malformed, as without rules (fail closed) */
	if (err == PARSE_UNCLASSIFIED && o.reason == XDROP_CNT_PASSED)
		REASON(&o, MALFORMED, 1);
	return finish(ctx, port, st, sx, cfg->sample_every, 1, &o, len);
}
