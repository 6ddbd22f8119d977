/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * xdrop.h: the one kernel/user ABI of the XDrop data plane.
 *
 * Included by the XDP program (bpf/xdrop.bpf.c) and by user space (agent/dataplane/,
 * lib/rule.c, the tests). Every struct that crosses the boundary is defined here, once,
 * with fixed-width types, explicit padding and a size assertion.
 *
 * The rule tables
 * ---------------
 * A rule or whitelist entry constrains a subset of five fields: source address, destination
 * address, source port, destination port, protocol. The subset is its *combo*, a 5-bit
 * mask (XDROP_F_*). Rules whose addresses are all exact (or absent) live in the exact table
 * `xdrop_exact`, keyed by the packet's field values masked to the combo. Rules with at
 * least one real prefix live in the CIDR table `xdrop_cidr`, keyed by prefix ids that the
 * per-direction, per-family LPM tries hand out; an exact address inside such a rule is a
 * full-length prefix. Whitelist entries use the same tables with kind = XDROP_KIND_WL.
 *
 * Candidate combos. For each (kind, table) the config holds the bitmap of combos that have
 * entries; the per-field presence maps give, for a packet's field value, the combos in
 * which that value occurs. Their AND is the set of combos a packet can match, so a packet
 * that matches nothing usually probes nothing. Bits are numbered in *precedence order*
 * (bit 0 = most specific exact combo) so the lowest set bit is the next combo to probe.
 *
 * Precedence (docs/matching.md has the full text). Among matching rules the one with the
 * highest rank wins; rank compares, in order:
 *   1. the number of constrained fields (more wins);
 *   2. the sum of the two address prefix lengths, counted in IPv4-mapped IPv6 bits, so an
 *      exact address (/128, or /32 for IPv4) beats any prefix and longer beats shorter;
 *   3. the destination prefix length (the destination is the more precise side on a tie);
 *   4. destination port, then source port, then protocol.
 * Two different rules cannot tie: equal ranks and a common matching packet imply equal
 * match keys, which validation refuses as duplicates.
 *
 * Atomic switches. Rather than two full copies of every table, each entry carries its own
 * two versions: `flip_gen` and flags say whether the entry is new, deleted or modified as
 * of generation flip_gen. The program reads the generation once per packet
 * (xdrop_gen[0], mmapped so user space flips it with one atomic store) and sees each entry
 * as of that generation; config (combo bitmaps) lives in a ring of XDROP_CFG_SLOTS slots
 * indexed by generation. After a flip, user space waits for an RCU grace period (an update
 * of a map-in-map slot) before it cleans up or reuses the slot, so no running program can
 * still hold the generation whose state goes; the grace periods of successive flips overlap.
 */
#ifndef XDROP_ABI_H
#define XDROP_ABI_H

#include <linux/types.h>
#include <linux/bpf.h>
#ifndef __BPF__
#include <assert.h>
#endif

/* ---- capacities (defaults; the agent may lower or raise them at start-up) ---- */
#define XDROP_DEF_MAX_EXACT    1048576 /* exact rules + exact whitelist entries */
#define XDROP_DEF_MAX_CIDR     262144  /* CIDR-table rules + whitelist entries */
#define XDROP_DEF_MAX_PREFIXES 100000  /* prefixes per trie (direction x family) */
#define XDROP_DEF_MAX_ADDRS    1048576 /* distinct exact addresses (presence map) */
#define XDROP_DEF_MAX_RATE     65536   /* rate_limit rules */
#define XDROP_SLOT_CHUNK_BITS  16
#define XDROP_SLOT_CHUNK       (1u << XDROP_SLOT_CHUNK_BITS) /* counter slots per chunk */
#define XDROP_MAX_SLOT_CHUNKS  64			     /* 4,194,304 slots */
#define XDROP_MAX_FF_PORTS     64			     /* interfaces in fast-forward pairs */
#define XDROP_CIDR_MAX_DEPTH   8 /* nested prefixes walked per direction */
#define XDROP_IPV6_MAX_EXT                                                                         \
	6 /* extension headers walked per packet (RFC 8200's longest recommended chain) */
#define XDROP_MAX_RATE_PPS	 100000000u
#define XDROP_TOKEN_SCALE	 1000000000ull /* one packet = 1e9 token units */
#define XDROP_MAX_PROTECT	 64	       /* protected control peers (address, protocol) */
#define XDROP_PROTECT_PORTS	 8	       /* ports per protected peer and direction */
#define XDROP_PROTECT_PORT_WORDS 2048	       /* xdrop_protect_ports: 32 ports per word */

/* ---- match fields ---- */
/* The five fields a rule or whitelist entry may constrain, by index. Field i is bit 1 << i
 * of a combo mask (XDROP_F_*), order_need[i] in the program's precedence tables and
 * presence field i in the agent's model. */
enum xdrop_field {
	XDROP_FIELD_SRC = 0,   /* source address (exact or prefix) */
	XDROP_FIELD_DST = 1,   /* destination address */
	XDROP_FIELD_SPORT = 2, /* source port */
	XDROP_FIELD_DPORT = 3, /* destination port */
	XDROP_FIELD_PROTO = 4, /* IP protocol (final next header for IPv6) */
	XDROP_NFIELDS = 5,
};

/* Combo mask bits: the fields a rule constrains. */
#define XDROP_F_SRC   (1 << XDROP_FIELD_SRC)
#define XDROP_F_DST   (1 << XDROP_FIELD_DST)
#define XDROP_F_SPORT (1 << XDROP_FIELD_SPORT)
#define XDROP_F_DPORT (1 << XDROP_FIELD_DPORT)
#define XDROP_F_PROTO (1 << XDROP_FIELD_PROTO)
#define XDROP_F_ALL   ((1 << XDROP_NFIELDS) - 1) /* 31: every field */
/* Combo masks: 1..XDROP_F_ALL are valid; 0 is "no field" and is refused. */
#define XDROP_NCOMBOS	    (1 << XDROP_NFIELDS)
#define XDROP_NVALID_COMBOS (XDROP_NCOMBOS - 1) /* 31: the exact table's candidate bits */
/* CIDR combos one (source prefix, destination prefix) pair can have: the pair fixes the two
 * address bits, the other three fields are free. */
#define XDROP_PAIR_COMBOS (1 << (XDROP_NFIELDS - 2)) /* 8 */
/* The program consults the address presence maps only when at least this many exact
 * candidates are left (fewer are cheaper to probe directly), so the agent maintains a
 * kind's address presence only while that many of its exact combos are active. */
#define XDROP_ADDR_PRES_MIN 3

/* Value ranges of the presence arrays xdrop_sport/xdrop_dport and xdrop_proto. */
#define XDROP_NPORTS  65536
#define XDROP_NPROTOS 256

enum xdrop_kind {
	XDROP_KIND_RULE = 0,
	XDROP_KIND_WL = 1,
	XDROP_NKINDS = 2,
};

enum xdrop_action {
	XDROP_ACT_DROP = 1,
	XDROP_ACT_PASS = 2,
	XDROP_ACT_RATE_LIMIT = 3,
	XDROP_ACT_WHITELIST = 4, /* whitelist entries */
};

/* Entry version flags (xdrop_entry.vflags), relative to flip_gen. */
enum xdrop_vflag {
	XDROP_V_NEW = 1 << 0, /* absent before flip_gen */
	XDROP_V_DEL = 1 << 1, /* absent from flip_gen on */
	XDROP_V_MOD = 1 << 2, /* before flip_gen, the old action is in xdrop_prev */
};

/* Packet anomalies (the same bits as v2.7's match_anomaly). A rule with an anomaly mask
 * matches only packets that carry one of its anomalies (docs/matching.md). */
enum xdrop_anomaly {
	XDROP_ANOM_BAD_FRAG = 1 << 0, /* impossible or hostile fragment geometry */
	XDROP_ANOM_INVALID = 1 << 1,  /* invalid IP or TCP header fields, impossible TCP flags */
	XDROP_ANOM_ALL = XDROP_ANOM_BAD_FRAG | XDROP_ANOM_INVALID,
};

/* Rule flags (xdrop_act.flags). */
enum xdrop_act_flag {
	XDROP_AF_TCP_FLAGS = 1 << 0, /* tcp_mask/tcp_value apply (packet must be TCP) */
	/* The rule's anomaly mask, shifted: enum xdrop_anomaly << XDROP_AF_ANOM_SHIFT. */
	XDROP_AF_BAD_FRAG = XDROP_ANOM_BAD_FRAG << 1,
	XDROP_AF_INVALID = XDROP_ANOM_INVALID << 1,
};
#define XDROP_AF_ANOM_SHIFT 1

/* One verdict enum and one counter enum; user space prints names from the tables below. */
enum xdrop_counter {
	XDROP_CNT_RX = 0,	/* every frame the program saw */
	XDROP_CNT_PASSED,	/* XDP_PASS or redirected */
	XDROP_CNT_DROPPED,	/* XDP_DROP, any reason */
	XDROP_CNT_WHITELISTED,	/* passed by a whitelist entry */
	XDROP_CNT_RATE_LIMITED, /* dropped by a rate limiter */
	XDROP_CNT_RULE_DROP,	/* dropped by a drop rule */
	XDROP_CNT_RULE_PASS,	/* passed by a pass rule */
	XDROP_CNT_MALFORMED,	/* dropped: truncated or invalid L2/L3/L4 headers */
	XDROP_CNT_NON_IP,	/* not IPv4/IPv6: passed (or bridged) unfiltered */
	XDROP_CNT_FRAGMENT,	/* non-first fragments (matched without ports) */
	XDROP_CNT_REDIRECTED,	/* fast-forward: bridged to the peer interface */
	XDROP_CNT_RL_NO_STATE,	/* rate_limit rule without state: dropped (fail closed) */
	XDROP_CNT_PROTECTED,	/* passed ahead of every rule: the agent's control traffic */
	XDROP_CNT_RL_PASSED,	/* matched a rate_limit rule within its rate: passed */
	/* Bytes (frame length as XDP sees it: data_end - data) beside each packet count. */
	XDROP_CNT_RX_BYTES,
	XDROP_CNT_PASSED_BYTES,
	XDROP_CNT_DROPPED_BYTES,
	XDROP_CNT_WHITELISTED_BYTES,
	XDROP_CNT_RATE_LIMITED_BYTES,
	XDROP_CNT_RULE_DROP_BYTES,
	XDROP_CNT_RULE_PASS_BYTES,
	XDROP_CNT_MALFORMED_BYTES,
	XDROP_CNT_NON_IP_BYTES,
	XDROP_CNT_PROTECTED_BYTES,
	XDROP_CNT_RL_NO_STATE_BYTES,
	XDROP_CNT_RL_PASSED_BYTES,
	XDROP_CNT_SAMPLES,	/* top-talker samples written to xdrop_samples */
	XDROP_CNT_SAMPLES_LOST, /* samples not written: the ring was full */
	/* Packets seen with each anomaly (enum xdrop_anomaly): attributes, not reasons. */
	XDROP_CNT_ANOMALY_BAD_FRAG,
	XDROP_CNT_ANOMALY_INVALID,
	XDROP_NCOUNTERS,
};
/* Room in xdrop_stats: counters are appended within it, so adding one keeps the pinned
 * map's value size (an upgraded program adopts it). */
#define XDROP_STATS_ROOM 32

#define XDROP_COUNTER_NAMES                                                                        \
	{                                                                                          \
		"rx", "passed", "dropped", "whitelisted", "rate_limited", "rule_drop",             \
		    "rule_pass", "malformed", "non_ip", "fragment", "redirected", "rl_no_state",   \
		    "protected", "rl_passed", "rx_bytes", "passed_bytes", "dropped_bytes",         \
		    "whitelisted_bytes", "rate_limited_bytes", "rule_drop_bytes",                  \
		    "rule_pass_bytes", "malformed_bytes", "non_ip_bytes", "protected_bytes",       \
		    "rl_no_state_bytes", "rl_passed_bytes", "samples", "samples_lost",             \
		    "anomaly_bad_fragment", "anomaly_invalid",                                     \
	}

/* The per-CPU global counters: one value (xdrop_stats[0]) so a packet costs one lookup. */
struct xdrop_stats {
	__u64 c[XDROP_STATS_ROOM];
};

/* Addresses are IPv4-mapped IPv6 (::ffff:a.b.c.d) in every key. */
struct xdrop_addr {
	__u8 b[16];
};

/* Key of xdrop_exact: field values masked to the combo; ports in network order. */
struct xdrop_exact_key {
	struct xdrop_addr src;
	struct xdrop_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 combo; /* XDROP_F_* mask */
	__u8 kind;  /* enum xdrop_kind */
	__u8 pad;
};

/* Key of xdrop_cidr: prefix ids (0 = field absent) instead of addresses. */
struct xdrop_cidr_key {
	__u32 src_id;
	__u32 dst_id;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 combo;
	__u8 kind;
	__u8 pad;
};

/* What a matching entry does. */
struct xdrop_act {
	__u8 action;	/* enum xdrop_action */
	__u8 flags;	/* enum xdrop_act_flag */
	__u8 tcp_mask;	/* TCP flag bits examined */
	__u8 tcp_value; /* required values of the examined bits */
	__u16 len_min;	/* L3 total length bounds, 0 = none */
	__u16 len_max;
	__u32 slot;  /* counter and rate-state index, stable for the rule's life */
	__u32 rate;  /* rate_limit: packets per second */
	__u32 burst; /* rate_limit: bucket depth in packets */
};

/* Value of xdrop_exact and xdrop_cidr. */
struct xdrop_entry {
	__u64 flip_gen;
	__u8 vflags; /* enum xdrop_vflag */
	__u8 pad[3];
	struct xdrop_act act;
};

/* Value of the trie maps: the prefix id. Value of xdrop_prefix (keyed by id). */
struct xdrop_prefix_info {
	__u32 parent; /* id of the nearest enclosing prefix in the same trie, 0 = none */
	__u8 plen;    /* prefix length in IPv4-mapped IPv6 bits */
	__u8 pad[3];
	__u32 combos[XDROP_NKINDS]; /* CIDR combos (mask bits) in which the prefix occurs */
};

struct xdrop_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct xdrop_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* The prefix hashes (xdrop_pfx4, xdrop_pfx6) mirror the four LPM tries: key (trie, length in
 * the trie's units: 0..32 for IPv4, 0..128 for IPv6, the address masked to it), value the
 * prefix's id and a copy of its xdrop_prefix info. xdrop_plens[0] holds, per trie, the
 * lengths in use (bit 32 - len of len[t][0] for IPv4 tries; bit 128 - len of the 192-bit
 * len[t] for IPv6, so the lowest set bit is the longest length) and mode[t]: 1 when the
 * program may find the longest match by one hash probe per length, longest first (the
 * agent sets it while the trie uses at most XDROP_PFX_MAX_PROBES lengths), 0 for the LPM
 * trie. Both structures always hold the same prefixes, so either answers the same. */
#define XDROP_NTRIES 4 /* src4, dst4, src6, dst6 */
/* IPv4 tries (mode 2): xdrop_dir16[t * 65536 + the address's first 16 bits] holds the id of
 * the longest prefix of at most 16 bits that covers those 65,536 addresses (low word), and
 * which longer lengths have prefixes inside them (high word: bit 32 - len, so the lowest
 * set bit is the longest; XDROP_DIR16_TRIE: more than XDROP_PFX_MAX_PROBES of them, ask the
 * trie). So a packet whose block holds no longer prefix costs one array read. */
#define XDROP_DIR16_BLOCKS 65536
#define XDROP_DIR16_TRIE   (1u << 31)
/* A block with longer prefixes may also have a chunk of xdrop_dir24 (its index in bits 16..30
 * of the high word; 0 = none): 64 words of four 16-bit lanes, lane j % 4 of word j / 4 for
 * the block's j-th /24, each with the bits (as above) of the lengths 25..32 that have a
 * prefix inside that /24 and of the longest length 17..24 with a prefix covering it. The
 * program then probes only those: a /24 covered by one prefix costs one probe however many
 * lengths the block holds. Chunks are allocated while they last and reused only after a
 * grace period. */
#define XDROP_DIR16_CHUNK_SHIFT 16
#define XDROP_DIR16_CHUNK_MASK	0x7fffu
#define XDROP_DIR24_CHUNKS	8192 /* chunk 0 is never used: 8,191 blocks, 4 MiB */
#define XDROP_DIR24_WORDS	64   /* per chunk */
#define XDROP_DIR24_LENS	0xffffu
enum xdrop_pfx_mode {
	XDROP_PFX_TRIE = 0,  /* the LPM trie */
	XDROP_PFX_HASH = 1,  /* one hash probe per length in use, longest first */
	XDROP_PFX_DIR16 = 2, /* IPv4: xdrop_dir16, then hash probes of longer lengths */
};
#define XDROP_PFX_MAX_PROBES 6
/* IPv6 tries are hashed only while they use at most this many lengths: a miss probes every
 * length (about 25 ns each), the trie answers a miss in about the time of one probe and a
 * hit in about two or three (bench rows "10k /56 IPv6"). */
#define XDROP_PFX6_HASH_LENS 2
/* IPv6 hashed tries: a one-hash Bloom filter in front of the probes (xdrop_bloom6, per trie
 * XDROP_BLOOM6_WORDS words: word 0 the filter length L, 0 = off; then 2^20 bits). Every
 * hashed prefix of the trie, masked to L (the shortest length in use), sets bit
 * xdrop_bloom6_bit() of that address; a packet whose address masked to L finds its bit clear
 * matches no prefix and skips the probes (a miss costs two array reads instead of a hash
 * probe per length). A bit is set no later than its prefix is hashed and cleared after it
 * left; when L changes the filter is turned off, rebuilt and turned on again. */
#define XDROP_BLOOM6_BITS  20
#define XDROP_BLOOM6_WORDS (1 + (1u << XDROP_BLOOM6_BITS) / 64)
static inline __attribute__((always_inline)) __u32 xdrop_bloom6_bit(const __u32 *k)
{
	return ((k[0] ^ k[1] ^ k[2] ^ k[3]) * 0x9e3779b1u) >> (32 - XDROP_BLOOM6_BITS);
}

struct xdrop_pfx4_key {
	__u8 trie;
	__u8 plen;
	__u8 pad[2];
	__u32 addr; /* network order */
};

struct xdrop_pfx6_key {
	__u8 trie;
	__u8 plen;
	__u8 pad[2];
	__u32 addr[4]; /* the address bytes, in order */
};

/* solo: bit k (enum xdrop_kind) set when xdrop_cidr holds an entry of kind k whose only field
 * is this prefix (combo XDROP_F_SRC or XDROP_F_DST, the other id 0): solo_e[k] is a copy of
 * its value, written after every write of that entry, so a hit on the prefix is also the
 * entry's lookup. Both versions of the entry decide alike for every live generation (the
 * copy is rewritten in the same phase of a change as the entry), so either may be read. */
struct xdrop_pfx_val {
	__u32 id;
	struct xdrop_prefix_info info;
	__u32 solo;
	struct xdrop_entry solo_e[XDROP_NKINDS];
};

struct xdrop_plens {
	__u64 len[XDROP_NTRIES][3];
	__u32 mode[XDROP_NTRIES];
};

/* Presence of an exact address (xdrop_src_addr, xdrop_dst_addr): candidate bits, in
 * precedence order, of the exact combos in which the address occurs, per kind. */
struct xdrop_addr_presence {
	__u32 exact[XDROP_NKINDS];
};

/* Presence: per field value, the candidate bits (precedence order for the exact table,
 * mask bits for the CIDR table) of combos in which the value occurs. */
struct xdrop_presence {
	__u32 exact[XDROP_NKINDS];
	__u32 cidr[XDROP_NKINDS];
};

/* Per-CPU counters of one slot: packets and frame bytes that matched the entry, and of
 * those, the ones it dropped. */
struct xdrop_slot_counters {
	__u64 match;
	__u64 drop;
	__u64 match_bytes;
	__u64 drop_bytes;
};

/* Top-talker sampling. One packet in sample_every (xdrop_config.sample_every; 0 = off) is
 * written to the ring buffer xdrop_samples as this record, after its verdict; a per-CPU
 * countdown drawn at random with mean sample_every picks the packets, so every packet has
 * the same chance and periodic traffic does not alias. */
enum xdrop_sample_verdict {
	XDROP_SAMPLE_PASSED = 0,
	XDROP_SAMPLE_DROPPED = 1,
};

struct xdrop_sample {
	struct xdrop_addr src; /* IPv4-mapped for IPv4; zero for non-IP frames */
	struct xdrop_addr dst;
	__be16 sport; /* 0 when the packet has no ports (or is a later fragment) */
	__be16 dport;
	__u8 proto;
	__u8 verdict; /* enum xdrop_sample_verdict */
	__u8 reason;  /* the enum xdrop_counter that counted the verdict's reason */
	__u8 pad;
	__u32 len;   /* frame length */
	__u32 every; /* sample_every in effect: the packets this sample stands for */
};
#define XDROP_SAMPLES_RING     (4u << 20) /* bytes: ~75k samples (48 + an 8-byte header each) */
#define XDROP_DEF_SAMPLE_EVERY 64

/* Shared token bucket of a rate_limit slot (xdrop_rate, keyed by slot). */
struct xdrop_rate_state {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens; /* in XDROP_TOKEN_SCALE units */
	__u64 last_ns;
};

/* Config ring: generation gen reads xdrop_cfgring[gen % XDROP_CFG_SLOTS]. The slot of
 * generation g is rewritten for g + XDROP_CFG_SLOTS only after a grace period that began
 * after the flip to g + 1 (no program can still run with g), so the grace periods of up to
 * XDROP_CFG_SLOTS - 2 earlier flips may still be running when the agent flips again. A
 * power of two; 24 bytes a slot. */
#define XDROP_CFG_SLOTS 16

struct xdrop_config {
	__u32 exact_active[XDROP_NKINDS]; /* candidate bits (precedence order) with entries */
	__u32 cidr_active[XDROP_NKINDS];  /* combo masks with CIDR-table entries */
	__u32 flags;			  /* enum xdrop_cfg_flag */
	__u32 sample_every;		  /* top-talker sampling: 1 in N packets, 0 = off */
	__u64 gen; /* the generation this slot was written for (tests check what a packet read);
		    * the 24 bytes before it are the layout of the older two-buffer map */
};

enum xdrop_cfg_flag {
	XDROP_CFG_FF = 1 << 0,	    /* some interface is a fast-forward port */
	XDROP_CFG_PROTECT = 1 << 1, /* xdrop_protect holds entries */
};

/* Protected control flows (xdrop_protect): the agent's own traffic with its controllers,
 * passed before the whitelist and every rule so that no rule can cut a node off from its
 * management (docs/dataplane.md, "Protected control flows"). Keyed by the packet's source
 * address, the peer: a TCP/UDP packet from it passes when its source port is one of
 * peer_port (replies on connections the agent opened to the peer's listeners) or its
 * destination port is one of local_port (the peer dialling the agent's RPC listener).
 * Unused port slots are 0. In front of it, xdrop_protect_ports (array of __u64 indexed by
 * port / 32; bit 2 * (port % 32) = some peer listens on that port, bit + 1 = some local
 * port) lets a packet whose ports concern no protected flow skip the hash lookup. */
struct xdrop_protect_key {
	struct xdrop_addr peer; /* IPv4-mapped for IPv4 */
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];
};

struct xdrop_protect_val {
	__be16 peer_port[XDROP_PROTECT_PORTS];
	__be16 local_port[XDROP_PROTECT_PORTS];
};

/* Fast-forward port config (xdrop_ports, keyed by ingress ifindex). */
struct xdrop_port {
	__u32 peer_ifindex; /* where passed frames go */
	__u32 flags;	    /* enum xdrop_port_flag */
};

enum xdrop_port_flag {
	XDROP_PORT_FILTER = 1 << 0, /* filter frames arriving here; otherwise bridge them as is */
};

/* The generation word (xdrop_gen[0]); user space maps it and stores with release order. */
struct xdrop_gen {
	__u64 gen;
};

/* Combos (bit m = mask m) that contain field bit f: the CIDR-table "need" masks. */
#define XDROP_MASKS_WITH(f)                                                                        \
	((f) == XDROP_F_SRC	? 0xAAAAAAAAu                                                      \
	 : (f) == XDROP_F_DST	? 0xCCCCCCCCu                                                      \
	 : (f) == XDROP_F_SPORT ? 0xF0F0F0F0u                                                      \
	 : (f) == XDROP_F_DPORT ? 0xFF00FF00u                                                      \
				: 0xFFFF0000u)

/* Precedence rank of a combo whose address prefixes have the given lengths (IPv4-mapped
 * bits, 0 = field absent), as one number: higher wins, in the order described at the top.
 * The one definition, for the program (CIDR probes) and lib/rule.c (the exact table's
 * precomputed order, rule_rank). */
static inline __attribute__((always_inline)) __u32 xdrop_rank(__u32 combo, __u32 src_plen,
							      __u32 dst_plen)
{
	__u32 nfields = (combo >> XDROP_FIELD_SRC & 1) + (combo >> XDROP_FIELD_DST & 1) +
			(combo >> XDROP_FIELD_SPORT & 1) + (combo >> XDROP_FIELD_DPORT & 1) +
			(combo >> XDROP_FIELD_PROTO & 1);

	return nfields << 28 | (src_plen + dst_plen) << 16 | dst_plen << 8 |
	       ((combo & XDROP_F_DPORT) ? 4 : 0) | ((combo & XDROP_F_SPORT) ? 2 : 0) |
	       ((combo & XDROP_F_PROTO) ? 1 : 0);
}

/* xdrop_protect_ports (see struct xdrop_protect_key): the word of a port (host order), and
 * the bit in it that says some peer listens on the port (local = 0) or some local port is
 * it (local = 1). */
#define XDROP_PROTECT_PORTS_PER_WORD 32
static inline __attribute__((always_inline)) __u32 xdrop_protect_word(__u32 port)
{
	return port / XDROP_PROTECT_PORTS_PER_WORD;
}

static inline __attribute__((always_inline)) __u32 xdrop_protect_bit(__u32 port, __u32 local)
{
	return (port % XDROP_PROTECT_PORTS_PER_WORD) * 2 + local;
}

#ifndef __BPF__
static_assert(sizeof(struct xdrop_addr) == 16, "addr");
static_assert(sizeof(struct xdrop_exact_key) == 40, "exact key");
static_assert(sizeof(struct xdrop_cidr_key) == 16, "cidr key");
static_assert(sizeof(struct xdrop_act) == 20, "act");
static_assert(sizeof(struct xdrop_entry) == 32, "entry");
static_assert(sizeof(struct xdrop_addr_presence) == 8, "addr presence");
static_assert(sizeof(struct xdrop_prefix_info) == 16, "prefix info");
static_assert(sizeof(struct xdrop_lpm4_key) == 8, "lpm4");
static_assert(sizeof(struct xdrop_lpm6_key) == 20, "lpm6");
static_assert(sizeof(struct xdrop_pfx4_key) == 8, "pfx4 key");
static_assert(sizeof(struct xdrop_pfx6_key) == 20, "pfx6 key");
static_assert(sizeof(struct xdrop_pfx_val) == 88, "pfx val");
static_assert(sizeof(struct xdrop_plens) == 112, "plens");
static_assert(sizeof(struct xdrop_presence) == 16, "presence");
static_assert(sizeof(struct xdrop_slot_counters) == 32, "counters");
static_assert(sizeof(struct xdrop_sample) == 48, "sample");
static_assert(sizeof(struct xdrop_rate_state) == 24, "rate");
static_assert(sizeof(struct xdrop_config) == 32, "config");
static_assert((XDROP_CFG_SLOTS & (XDROP_CFG_SLOTS - 1)) == 0 && XDROP_CFG_SLOTS >= 2, "ring");
static_assert(sizeof(struct xdrop_gen) == 8, "gen");
static_assert(sizeof(struct xdrop_stats) == 8 * XDROP_STATS_ROOM, "stats");
static_assert(XDROP_NCOUNTERS <= XDROP_STATS_ROOM, "stats room");
static_assert(sizeof(struct xdrop_protect_key) == 20, "protect key");
static_assert(sizeof(struct xdrop_protect_val) == 4 * XDROP_PROTECT_PORTS, "protect val");
static_assert(sizeof(struct xdrop_port) == 8, "port");
static_assert(XDROP_PROTECT_PORT_WORDS * XDROP_PROTECT_PORTS_PER_WORD == XDROP_NPORTS,
	      "protect port words");
#endif

#endif
