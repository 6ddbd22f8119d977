/* SPDX-License-Identifier: MIT */
/*
 * dp_priv.h: the data-plane library's internals, shared by the files of agent/dataplane/
 * and by nothing else (the public API is agent/dataplane.h; the protocol is described
 * there and in bpf/xdrop.h).
 *
 * The model, all in user memory and rebuilt from the pinned maps on adoption:
 *   entries   by table and key: the active action, the prefixes a CIDR entry uses, and
 *             per-transaction scratch (what the running transaction does to the entry);
 *   prefixes  by trie and prefix: id, parent id, reference counts per kind and combo;
 *   presence  reference counts per (field, value, table, kind, bit); a count going 0 -> 1
 *             sets the bit in the kernel's presence value before the flip, 1 -> 0 clears
 *             it after the grace period, so the kernel always holds a superset;
 *   slots     counter and rate-state indices, reused only after a grace period.
 *
 * Files: dp_txn.c (the transaction: plan, stage, flip, finish), dp_replace.c (a whole set
 * as one transaction), dp_entries.c (entry keys, lookups and writes), dp_prefix.c (tries
 * and prefix ids), dp_plens.c (the prefix hashes, lengths and IPv4 blocks beside the
 * tries), dp_presence.c (presence counts and values), dp_slots.c (counter and rate
 * slots), dp_gen.c (generation, config ring, grace periods), dp_mapio.c (batched map
 * writes, key listing), dp_adopt.c (pinned state after a restart), dp_open.c (open, pins,
 * close), dp_counters.c (counters and kernel figures), dp_query.c (queries, accessors,
 * test support), dp_ports.c (fast-forward ports, protected flows, sampling rate),
 * dp_migrate.c (pinned maps of an older layout).
 *
 * Conventions: every function returns 0 or a negative errno unless its comment says
 * otherwise; arguments are borrowed. Internal functions shared between files carry the
 * dp_ prefix (the library is linked into the agent and the tests, beside their symbols).
 */
#ifndef XDROP_DP_PRIV_H
#define XDROP_DP_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>
#include <uthash.h>

#include "dataplane.h"
#include "ptab.h"
#include "xdrop.skel.h"

/* Two-level stringification: DP_STR(XDROP_CIDR_MAX_DEPTH) is "8". */
#define DP_STR_(x) #x
#define DP_STR(x)  DP_STR_(x)

/* The two rule tables: xdrop_exact and xdrop_cidr (with their _prev maps). */
enum { TBL_EXACT = 0, TBL_CIDR = 1, NTABLES = 2 };
/* The four LPM tries: direction x family. */
enum { TRIE_SRC4, TRIE_DST4, TRIE_SRC6, TRIE_DST6, NTRIES };

/* What the running transaction does to an entry. */
enum { TX_NONE = 0, TX_NEW, TX_MOD, TX_DEL, TX_KEEP };

/* ---- model ---- */

/* Key of an entry in the model: the table and that table's BPF key. */
struct ekey {
	uint8_t table;
	uint8_t pad[3];
	union {
		struct xdrop_exact_key e;
		struct xdrop_cidr_key c;
	} u;
};

struct dp_prefix;
struct dp_dir24;
struct dp_bloom6;

/* An entry of the model, in dp->entries (a ptab by key: no hash handle per entry, 56
 * bytes a rule less than uthash's with a million rules). What a transaction would make
 * of it is in its struct plan, not here; an exact entry is allocated without pfx
 * (dp_entry_new): about 80 bytes with its allocation's header, where it took 176. */
struct dp_entry {
	struct ekey key;
	struct xdrop_act act; /* active */
	uint8_t tx;
	uint8_t kind;
	uint8_t combo;
	bool gone; /* deleted by a switch whose cleanup is still to run: not in the set */
	bool pend; /* touched by a switch whose cleanup is still to run (dp->retired) */
	/* CIDR only (past the end of an exact entry): source and destination prefix (NULL =
	 * absent) */
	struct dp_prefix *pfx[2];
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
	bool in_hash;				    /* written to xdrop_pfx4/6 (dp_plens.c) */
	bool removing;				    /* no references left: removed at cleanup */
};

/* Key of the prefix hashes xdrop_pfx4 / xdrop_pfx6. */
union dp_pfx_key {
	struct xdrop_pfx4_key k4;
	struct xdrop_pfx6_key k6;
};

struct preskey {
	uint8_t field; /* enum xdrop_field */
	uint8_t table;
	uint8_t kind;
	uint8_t bit; /* exact: precedence position; CIDR: combo mask */
	struct xdrop_addr val;
};

/* Reference count of one presence bit. */
struct dp_pres {
	UT_hash_handle hh;
	struct preskey key;
	uint32_t count;
};

/* Key of a kernel presence value: a field and its value as presence key bytes. */
struct pvkey {
	uint8_t field; /* enum xdrop_field */
	uint8_t pad[3];
	struct xdrop_addr val;
};

/* Pending kernel presence values of one transaction, per (field, value). */
struct pagg {
	UT_hash_handle hh;
	struct pvkey key;
	struct xdrop_presence v;
};

/* The kernel's presence value per (field, value), mirrored so that changes need no reads. */
struct pval {
	UT_hash_handle hh;
	struct pvkey key;
	struct xdrop_presence v;
};

/* One change of a transaction: the entry and what happens to it. */
struct plan {
	struct dp_entry *e;
	struct xdrop_act act; /* TX_NEW / TX_MOD: the entry's new action */
	struct xdrop_act old; /* TX_MOD, once switched: the previous action, for the cleanup */
	uint8_t op;	      /* TX_* */
	bool staged;	      /* references, counts (and for TX_NEW the slot) taken */
};

/*
 * One transaction, from plan to finish. It lives in dp->tx; between dataplane_apply_begin
 * and dataplane_apply_finish (active) it holds what the cleanup needs.
 */
struct txn {
	bool active;  /* switched; the cleanup is still to run */
	bool inplace; /* opts.unsafe_inplace: entries are written live, no switch */
	struct plan *pl;
	size_t n;
	uint64_t next;		       /* the generation this transaction flips to */
	struct pagg *aggs;	       /* pending kernel presence values */
	uint32_t new_per_trie[NTRIES]; /* prefixes this transaction creates */
	bool pfx_changed[NTRIES];      /* tries in which some prefix's combos change */
	size_t new_exact, new_cidr;    /* entries added per table */
	long rate_delta;	       /* change in the number of rate_limit entries */
	int64_t t0_ns;		       /* start, for the stage time */
	struct dp_result *res;
};

/*
 * The switches waiting for their grace periods (dp_txn.c): up to DP_RETIRED transactions,
 * oldest first, each cleaned up once a grace period begun after its flip has passed. An
 * entry touched by one of them (dp_entry.pend) is not touched again before that cleanup:
 * each entry holds one previous version, which a program of the generation before may still
 * read. Sized beyond the ring so that a test build that reuses slots too early
 * (opts.test_ring_early) really does reuse them.
 */
#define DP_RETIRED (2 * XDROP_CFG_SLOTS)

/* The asynchronous grace periods (dp_gen.c). done: no program runs with a generation before
 * it; requested: the latest generation a grace period was asked for. */
struct dp_grace {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool inited, started, stop;
	uint64_t requested, done;
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
	struct txn tx;
	struct txn retired[DP_RETIRED]; /* oldest at retired_head */
	size_t retired_head, nretired;
	struct dp_grace grace;
	int legacy_cfg; /* the two-buffer config map of an older program still running, or -1 */
	struct dp_result res_scratch; /* the transaction's result when the caller passes none */

	struct ptab entries; /* struct dp_entry by key (DP_FOR_ENTRIES) */
	struct dp_prefix *prefixes;
	struct dp_prefix **by_id; /* id -> prefix */
	uint32_t id_cap, next_id;
	uint32_t *free_ids;
	size_t nfree_ids;
	uint32_t ntrie[NTRIES];
	struct xdrop_plens *plens;	  /* mmapped xdrop_plens[0] (dp_plens.c) */
	uint32_t plen_count[NTRIES][129]; /* hashed prefixes per trie and length */
	uint64_t *dir16;		  /* mmapped xdrop_dir16 */
	uint32_t *dir16_cnt[2]; /* IPv4 tries: hashed prefixes per /16 block and length 17..32 */
	uint64_t *dir24;	/* mmapped xdrop_dir24: per-/24 lengths of blocks with a chunk */
	struct dp_dir24 *d24;	/* its chunks (dp_plens.c) */
	uint64_t *bloom6;	/* mmapped xdrop_bloom6 (dp_bloom6.c) */
	struct dp_bloom6 *b6;
	struct dp_pres *pres;
	struct pval *pvals;
	/* Address presence is maintained for a kind only while XDROP_ADDR_PRES_MIN or more
	 * exact combos of that kind are active: the program consults it only then (with
	 * fewer candidates it probes directly), and a one- or two-shape set of a million rules
	 * is spared a million presence entries. */
	bool addr_pres[XDROP_NKINDS];

	uint32_t next_slot, *free_slots;
	size_t nfree_slots, cap_free_slots;
	int chunk_fd[XDROP_MAX_SLOT_CHUNKS];
	uint32_t nchunks;

	uint64_t count[NTABLES][XDROP_NKINDS][XDROP_NCOMBOS]; /* entries per table, kind, bit */
	size_t nkind[XDROP_NKINDS];
	size_t ntable[NTABLES];
	size_t ngone[NTABLES]; /* deleted entries still in the kernel table (dp_entry.gone) */
	size_t nrate;
	uint32_t sample_every;	/* top-talker sampling written into every config slot */
	uint64_t grace_periods; /* needed since open: one per switch (dp_grace_request) and per
				 * synchronous wait (dp_grace_period) */
	uint64_t grace_waits;	/* a switch or cleanup blocked on one (dp_grace_wait) */
	uint64_t grace_syncs;	/* waited for in the kernel (one may cover several switches) */
};

/* Empties a uthash table (linked by hh) whose elements were malloc'd, freeing them. */
#define DP_HASH_FREE(head)                                                                         \
	do {                                                                                       \
		__typeof__(head) el_, tmp_;                                                        \
		HASH_ITER(hh, head, el_, tmp_)                                                     \
		{                                                                                  \
			HASH_DEL(head, el_);                                                       \
			free(el_);                                                                 \
		}                                                                                  \
	} while (0)

static inline int fd_of(const struct bpf_map *m)
{
	return bpf_map__fd(m);
}

/* ---- dp_mapio.c: batched map writes, key listing ---- */

/* Collects key/value pairs for one map and writes them with BPF_MAP_UPDATE_BATCH: one
 * system call per DP_WB_MAX elements instead of one per element. */
struct wbatch {
	int fd;
	size_t ksz, vsz, n, cap;
	uint8_t *keys, *vals;
};

void dp_wb_init(struct wbatch *b, int fd, size_t ksz, size_t vsz);
/* Copies k and v into the batch (flushing it when full). */
int dp_wb_add(struct wbatch *b, const void *k, const void *v);
/* Writes what the batch holds. */
int dp_wb_flush(struct wbatch *b);
void dp_wb_free(struct wbatch *b);
/* Every key of a map, *n of ksz bytes in *out (the caller frees it). */
int dp_map_keys(int fd, size_t ksz, uint8_t **out, size_t *n);
/* Every key and value of hash map fd, by batch lookups (a few calls for a million
 * entries): *n keys of ksz bytes and values of vsz bytes, both malloc'ed. 0 or -errno
 * (the map cannot be read in batches: the caller falls back to dp_map_keys). */
int dp_map_entries(int fd, size_t ksz, size_t vsz, uint8_t **keys, uint8_t **vals, size_t *n);

/* Maps len bytes of mmapable map m shared, read-write, into *out. */
int dp_map_mmap(const struct bpf_map *m, size_t len, void **out);

/* ---- dp_migrate.c: pinned maps of an older layout ---- */

/* The pinned per-rule counters at path when their chunks have another slot-counter size:
 * its fd (the caller closes it), else -1. */
int dp_counters_stale_fd(const char *path);
/* After load: copies the stale counters into chunks of the new outer map, same slots, and
 * pins it at path in place of the old one. */
int dp_counters_migrate(struct dataplane *dp, int old_outer, const char *path);
/* Before adoption: takes the two-buffer config map pinned by an older build (its program
 * may still run until the link is updated): copies its active buffer into every slot of
 * the ring and keeps it (dp->legacy_cfg) so that switches write both. */
int dp_cfg_legacy_open(struct dataplane *dp);
/* Once no loaded program uses the older map: one grace period, then it is unpinned and
 * released. Cheap to call while none is held. */
void dp_cfg_legacy_poll(struct dataplane *dp);

/* ---- dp_slots.c: counter and rate slots ---- */

/* Creates counter chunk idx and inserts it into xdrop_counters. */
int dp_chunk_create(struct dataplane *dp, uint32_t idx);
/* A free slot (reused or new; a new chunk is created when needed); -ENOSPC when none. */
int dp_slot_alloc(struct dataplane *dp, uint32_t *slot);
/* Puts a slot on the free list. Returns 0 or -ENOMEM (the slot then stays unused). */
int dp_free_slot_push(struct dataplane *dp, uint32_t slot);
/* Zeroes the slot's counters (no program uses the slot any more) and frees it. */
void dp_slot_free(struct dataplane *dp, uint32_t slot);
/* Creates the full token bucket of a rate_limit action's slot (kept if it exists). */
int dp_rate_create(struct dataplane *dp, const struct xdrop_act *a);
void dp_rate_delete(struct dataplane *dp, uint32_t slot);

/* ---- dp_gen.c: generation, config ring, grace periods ---- */

/* The bits (exact: precedence positions; CIDR: combo masks) with entries of a kind. */
uint32_t dp_active_bits(const struct dataplane *dp, int table, int kind);
/* Writes the config slot of generation gen from the model (flags carried over from the
 * active slot; mirrored into the older two-buffer map while one is held). */
int dp_config_write(struct dataplane *dp, uint64_t gen);
/* Rewrites every config slot (and the older map's) with edit applied (flags, sampling). */
int dp_config_edit(struct dataplane *dp, void (*edit)(struct xdrop_config *, void *), void *arg);
/* The one atomic flip: the program uses generation gen from its next packet on. */
void dp_gen_store(struct dataplane *dp, uint64_t gen);
/* Returns once no program can still see what it saw before the call (one RCU grace
 * period, waited for here). */
int dp_grace_period(struct dataplane *dp);
void dp_grace_init(struct dataplane *dp);
/* Stops the grace-period thread (NULL-safe on a half-built handle). */
void dp_grace_stop(struct dataplane *dp);
/* Asks for a grace period after the flip to gen, without waiting (starts the thread). */
int dp_grace_request(struct dataplane *dp, uint64_t gen);
/* Whether no program can still run with a generation before gen. */
bool dp_grace_elapsed(struct dataplane *dp, uint64_t gen);
/* Waits until dp_grace_elapsed(gen). */
int dp_grace_wait(struct dataplane *dp, uint64_t gen);
/* Before the flip to next: waits until the config slot next reuses is free. */
int dp_slot_wait(struct dataplane *dp, uint64_t next);

/* ---- dp_entries.c: entry keys, lookups and writes ---- */

int dp_entry_fd(struct dataplane *dp, int table, bool prev);
/* The BPF key of an entry (exact or CIDR key). */
const void *dp_ekey_bytes(const struct dp_entry *e);
/* Writes the entry's value in its table. */
int dp_entry_write(struct dataplane *dp, const struct dp_entry *e, uint64_t flip_gen,
		   uint8_t vflags, const struct xdrop_act *act);
/* Adds delta (+1, -1) to the entry counts of the entry's table, kind and bit. */
void dp_model_count(struct dataplane *dp, const struct dp_entry *e, int delta);
/* Builds the model key of a spec; CIDR specs get their prefixes, created (and counted in
 * new_per_trie) where missing. -ENOSPC when a trie is full, -ENOMEM. */
int dp_resolve_key(struct dataplane *dp, const struct rule_spec *s, struct ekey *k,
		   struct dp_prefix **pfx, uint32_t *new_per_trie);
/* The model entry with key k (gone or not), or NULL. */
struct dp_entry *dp_entry_get(const struct dataplane *dp, const struct ekey *k);
/* A zeroed entry for table (TBL_EXACT: without pfx), or NULL without memory. */
struct dp_entry *dp_entry_new(int table);
/* Puts e (its key not in the model yet) in the model. 0 or -ENOMEM. */
int dp_entry_put(struct dataplane *dp, struct dp_entry *e);
/* Takes e out of the model and frees it. */
void dp_entry_drop(struct dataplane *dp, struct dp_entry *e);
/* Every model entry e (declare size_t i_ and struct dp_entry *e); no puts or drops in
 * the body. */
#define DP_FOR_ENTRIES(dp, e, i_)                                                                  \
	for ((i_) = 0; (i_) < (dp)->entries.cap; (i_)++)                                           \
		if (((e) = (dp)->entries.v[(i_)]))
/* The entry with the spec's match key, or NULL; creates nothing. */
struct dp_entry *dp_entry_find(struct dataplane *dp, const struct rule_spec *s);
/* The spec of a model entry (its active action). */
void dp_spec_of(const struct dp_entry *e, struct rule_spec *s);

/* ---- dp_prefix.c: tries and prefix ids ---- */

int dp_trie_of(const struct addr_prefix *p, int dst);
int dp_trie_fd(struct dataplane *dp, int trie);
struct dp_prefix *dp_prefix_find(struct dataplane *dp, int trie, const struct addr_prefix *a);
/* Adds a prefix with this id to the model (the id's slot must exist); NULL: no memory. */
struct dp_prefix *dp_prefix_new(struct dataplane *dp, int trie, const struct addr_prefix *a,
				uint32_t id);
int dp_prefix_info_write(struct dataplane *dp, const struct dp_prefix *p);
/* The kernel info of a prefix (parent, length, combos per kind). */
void dp_prefix_info(const struct dp_prefix *p, struct xdrop_prefix_info *info);
/* Makes id a valid prefix id (growing the id arrays) and next_id larger than it. */
int dp_ensure_id(struct dataplane *dp, uint32_t id);
/* The prefix of a spec's address in its trie, created (is_new, counted in new_per_trie)
 * when missing. */
int dp_resolve_prefix(struct dataplane *dp, const struct addr_prefix *a, int dst,
		      struct dp_prefix **out, uint32_t *new_per_trie);
/* Recomputes the parents of one trie (see the definition); the deepest nesting goes to
 * *depth. */
int dp_trie_relink(struct dataplane *dp, int trie, bool skip_removing, bool dry_run,
		   unsigned *depth);
/* Adds delta to the references of the entry's prefixes; marks the tries whose prefix
 * combos change in changed[NTRIES]. */
void dp_prefix_refs(struct dp_entry *e, int delta, bool *changed);
/* Stage: writes new prefixes (info, then trie) and the grown combos of changed tries. */
int dp_prefixes_stage(struct dataplane *dp, const bool *changed);
/* Rollback: unlinks the new prefixes no entry uses from the tries and the info map. */
void dp_prefixes_unstage(struct dataplane *dp);
/* Cleanup: the prefixes are no longer new; rewrites the (shrunk) combos of changed tries. */
int dp_prefixes_finish(struct dataplane *dp, const bool *changed);
/* Drops from the model the new prefixes no entry uses (nothing was written for them). */
void dp_forget_new_prefixes(struct dataplane *dp);
/* Removes the prefixes no entry uses any more, from the kernel and the model. */
int dp_prefixes_collect(struct dataplane *dp);

/* ---- dp_plens.c: the prefix hashes beside the tries, and their lengths ---- */

/* Maps xdrop_plens and sets every trie to be searched as a trie until the hashes are built. */
int dp_plens_open(struct dataplane *dp);
void dp_plens_close(struct dataplane *dp);
/* Writes (or, del, deletes) a prefix in its hash and updates its trie's lengths. */
int dp_pfx_hash_write(struct dataplane *dp, struct dp_prefix *p, bool del);
/* Rewrites the info copy of a hashed prefix. */
void dp_pfx_hash_info(struct dataplane *dp, const struct dp_prefix *p,
		      const struct xdrop_prefix_info *info);
/* After a write of a CIDR entry whose only field is a prefix (combo XDROP_F_SRC or
 * XDROP_F_DST): rewrites that prefix's hash value, which carries a copy of the entry. */
void dp_pfx_hash_solo(struct dataplane *dp, const struct dp_entry *e);
/* The hashes made equal to the model's prefixes (after an adoption), lengths and modes. */
int dp_plens_rebuild(struct dataplane *dp);

/* ---- dp_bloom6.c: the filter in front of the IPv6 prefix hashes ---- */

/* Maps xdrop_bloom6, filters off. */
int dp_bloom6_open(struct dataplane *dp);
void dp_bloom6_close(struct dataplane *dp);
/* Every filter off and empty (before the hashes are rebuilt). */
void dp_bloom6_reset(struct dataplane *dp);
/* A prefix of an IPv6 trie is about to enter its hash (delta 1) or has left it (-1). */
void dp_bloom6_update(struct dataplane *dp, const struct dp_prefix *p, int delta);

/* ---- dp_presence.c: presence counts and values ---- */

/* Adds delta (+1, -1) to the presence counts of every field of the entry; bits whose count
 * leaves or reaches zero are set or cleared in *aggs (pending kernel values). */
int dp_pres_adjust(struct dataplane *dp, struct pagg **aggs, const struct dp_entry *e, int delta);
/* Writes the pending presence values, updates the mirror and frees them. */
int dp_pagg_flush(struct dataplane *dp, struct pagg **aggs);
/* Frees pending presence values without writing them. */
void dp_pagg_drop(struct pagg **aggs);
/* The presence array of a port or protocol field. */
int dp_pres_array_fd(struct dataplane *dp, int field);
/* Stage: turns address presence on for every kind whose active exact combos, with the
 * transaction's new entries, reach XDROP_ADDR_PRES_MIN. */
int dp_addr_pres_grow(struct dataplane *dp, struct pagg **aggs, const struct plan *pl, size_t n);
/* Cleanup (after the grace period): turns it off for kinds below XDROP_ADDR_PRES_MIN. */
void dp_addr_pres_shrink(struct dataplane *dp, struct pagg **aggs);
/* Exact table: the precedence position of the entry's combo; CIDR table: the combo. */
uint8_t dp_entry_bit(const struct dataplane *dp, const struct dp_entry *e);

/* ---- dp_txn.c ---- */

/* Records a refused change (index, field, reason) in res and returns err. */
int dp_refuse(struct dp_result *res, size_t i, const char *field, const char *reason, int err);
/* Cleans up the retired switches whose grace period has passed, oldest first; with wait,
 * waits for and cleans up every one of them. */
void dp_reap(struct dataplane *dp, bool wait);
/* Frees the retired switches without cleaning up (close; the next open repairs). */
void dp_retired_free(struct dataplane *dp);

/* ---- dp_adopt.c ---- */

/* Rebuilds the model from the pinned maps and completes or rolls back an interrupted
 * transaction, leaving one clean generation. */
int dp_adopt(struct dataplane *dp);

#endif
