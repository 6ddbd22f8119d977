/* SPDX-License-Identifier: MIT */
/*
 * dataplane: the user-space side of the XDP program. Loads it through the skeleton, pins
 * and adopts its maps, and changes the rule set atomically.
 *
 * Every change, from one rule to a full replacement, is one transaction:
 *   1. validate every change and check capacities: a refused change writes nothing;
 *   2. stage: new prefixes, presence bits (supersets), rate state, and every entry written
 *      invisibly, tagged with the next generation (new / deleted / modified);
 *   3. write the next generation's config slot (a ring indexed by generation; a slot is
 *      reused once no program can still run with the generation that used it), then flip
 *      the generation with one atomic store: from this instant every packet sees the
 *      whole new set;
 *   4. after one RCU grace period (a map-in-map update, waited for by a helper thread, so
 *      the grace periods of successive switches overlap), clean up: deleted entries, old
 *      versions, unused presence bits and prefixes, freed slots.
 * A crash before step 3 leaves only invisible entries, which the next open rolls back; a
 * crash after it leaves the new set, whose cleanup the next open completes.
 *
 * The model kept here (entries by key, prefixes, presence reference counts, slots) can be
 * rebuilt from the pinned maps alone, which is how a restarted agent adopts the running
 * state without touching what the program sees.
 *
 * Implemented in agent/dataplane/, one file per responsibility (dp_priv.h lists them).
 */
#ifndef XDROP_DATAPLANE_H
#define XDROP_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule.h"
#include "xdrop.h"

struct dataplane;

/* The largest sampling interval: the program draws gaps up to 2N - 1 in 32 bits. */
#define XDROP_MAX_SAMPLE_EVERY (1u << 24)

struct dataplane_opts {
	size_t sz;	       /* sizeof(struct dataplane_opts) */
	const char *pin_dir;   /* bpffs directory for maps and links; NULL: nothing pinned */
	uint32_t max_exact;    /* exact-table entries (rules + whitelist); 0 = default */
	uint32_t max_cidr;     /* CIDR-table entries */
	uint32_t max_prefixes; /* prefixes per trie */
	uint32_t max_addrs;    /* distinct exact addresses per direction */
	uint32_t max_rate;     /* rate_limit rules */
	bool test_clock;       /* tests: the rate limiter reads dataplane_set_clock's time */
	bool record_gen;       /* tests: the program records the generation each packet used */
	bool unsafe_inplace;   /* tests only: write changes in place, without the atomic switch */
	uint32_t sample_every; /* top-talker sampling, 1 in N packets (at most
				  XDROP_MAX_SAMPLE_EVERY); 0 = XDROP_DEF_SAMPLE_EVERY */
	bool sample_off;       /* no sampling (sample_every is then ignored) */
	/* tests only: a slow reader (bpf_loop iterations between the program's read of the
	 * generation and of its config slot), and the injected fault of a switch that reuses
	 * a config slot without waiting for the grace period that frees it */
	uint32_t test_reader_spin;
	bool test_ring_early;
};

/* Opens the data plane: loads the program (reusing maps pinned under pin_dir, if any, and
 * rebuilding the model from them), pins the maps. Returns 0 and *out, or a negative errno;
 * on failure nothing is left behind except what was pinned before the call. */
int dataplane_open(struct dataplane **out, const struct dataplane_opts *opts);

/* Frees the handle. Pinned maps and links stay, so filtering continues. NULL-safe. */
void dataplane_close(struct dataplane *dp);

/* Removes every pin of this data plane (maps; links are removed by attach_detach).
 * Returns 0 or a negative errno. */
int dataplane_unpin(struct dataplane *dp);

/* Without a data plane: removes every pin in pin_dir (the agent's own directory) and the
 * directory. Returns 0 or a negative errno. */
int dataplane_unpin_dir(const char *pin_dir);

/* True when dataplane_open adopted pinned state rather than starting empty. */
bool dataplane_adopted(const struct dataplane *dp);

enum dp_op {
	DP_PUT = 1, /* add, or replace the entry with the same match key */
	DP_DEL = 2, /* remove the entry with this match key */
};

struct dp_change {
	enum dp_op op;
	struct rule_spec spec;
};

/* Outcome of a transaction. */
struct dp_result {
	size_t index;	       /* the change that was refused (valid when an error returns) */
	struct rule_error err; /* why (field and reason), for -EINVAL, -EEXIST, -ENOENT, -ENOSPC */
	uint64_t gen;	       /* generation now active */
	size_t added, updated, deleted;
	double stage_ms, flip_ms, cleanup_ms; /* time to stage, to flip, to clean up */
};

/* Applies changes atomically: all of them become visible with one switch, or none is
 * applied. A DP_PUT whose key exists replaces the entry (its counters are kept); a DP_DEL
 * whose key does not exist is -ENOENT; two changes with the same key are -EEXIST.
 * Returns 0, -EINVAL (validation), -ENOENT, -EEXIST, -ENOSPC (a capacity would be
 * exceeded; nothing was switched) or another negative errno from the kernel, after which
 * the staged writes are rolled back and the active set is unchanged. */
int dataplane_apply(struct dataplane *dp, const struct dp_change *changes, size_t n,
		    struct dp_result *res);

/* dataplane_apply in two steps, for a caller that wants to act between the switch and the
 * cleanup (the agent publishes the new revision there). begin: everything up to and
 * including the switch (same results and errors); on 0 the new set is what every packet
 * sees. It first cleans up the earlier switches whose grace period has passed, and waits
 * only when the config slot it needs or an entry it touches is still held by a switch
 * whose grace period has not (docs/dataplane.md, "Atomic switches"). finish: the RCU grace
 * period and the cleanup, waited for, completing res (counts, cleanup_ms), which must stay
 * valid until then; it must be called before any other call on dp. retire instead of
 * finish: completes res's counts, asks for the grace period and returns at once; the
 * cleanup runs in a later call on dp (begin, settle, replace, close). */
int dataplane_apply_begin(struct dataplane *dp, const struct dp_change *changes, size_t n,
			  struct dp_result *res);
void dataplane_apply_finish(struct dataplane *dp);
void dataplane_apply_retire(struct dataplane *dp);
/* Cleans up the retired switches whose grace period has passed (wait: all of them, waiting
 * for their grace periods). For a periodic tick, so that cleanup does not wait for the next
 * change. */
void dataplane_settle(struct dataplane *dp, bool wait);

/* Makes the set of entries of the given kinds exactly specs[0..n) in one switch (entries
 * whose key and action are unchanged keep their counters). kinds: bit 1 << XDROP_KIND_*.
 * Same errors as dataplane_apply; duplicate keys in specs are -EEXIST. */
int dataplane_replace(struct dataplane *dp, unsigned kinds, const struct rule_spec *specs, size_t n,
		      struct dp_result *res);

/* Number of entries of a kind. */
size_t dataplane_count(const struct dataplane *dp, enum xdrop_kind kind);

/* Calls fn for every entry (order unspecified); stops early when fn returns non-zero and
 * returns that value. */
int dataplane_foreach(const struct dataplane *dp,
		      int (*fn)(const struct rule_spec *spec, void *arg), void *arg);

/* Sums the per-CPU global counters into out[XDROP_NCOUNTERS]. Returns 0 or -errno. */
int dataplane_counters(const struct dataplane *dp, uint64_t out[XDROP_NCOUNTERS]);

/* Match and drop counts and bytes of the entry with this key, summed over CPUs. -ENOENT if
 * absent. */
int dataplane_entry_counters(const struct dataplane *dp, const struct rule_spec *spec,
			     struct xdrop_slot_counters *out);

/* The counter slot of the entry with this key; -ENOENT if absent. */
int dataplane_entry_slot(const struct dataplane *dp, const struct rule_spec *spec, uint32_t *slot);

/* Reads every slot's counters (summed over CPUs) in bulk: *n slots in *out, indexed by slot,
 * owned by the caller (free). Returns 0 or a negative errno. */
int dataplane_read_slots(const struct dataplane *dp, struct xdrop_slot_counters **out, size_t *n);

/* How many slots have been handed out (slots are below this); chunk c holds slots
 * c * XDROP_SLOT_CHUNK and up. */
size_t dataplane_slot_count(const struct dataplane *dp);

/* Reads the counters (summed over CPUs) of at most max slots from slot first on, within
 * first's chunk of XDROP_SLOT_CHUNK slots and below dataplane_slot_count (one batch
 * lookup): *n slots (0 past the last) into out[0..*n), out[0] being slot first. Returns 0
 * or a negative errno. */
int dataplane_read_slot_range(const struct dataplane *dp, size_t first, size_t max,
			      struct xdrop_slot_counters *out, size_t *n);

/* Entries held against capacity, for NodeStats.capacity. */
struct dataplane_capacity {
	uint64_t exact_used, exact_max; /* exact-table entries (rules + whitelist) */
	uint64_t cidr_used, cidr_max;	/* CIDR-table entries */
	uint64_t rate_used, rate_max;	/* rate_limit rules */
};
void dataplane_capacity(const struct dataplane *dp, struct dataplane_capacity *out);

/* Top-talker sampling: 1 in every packets (0 = off), stored at once in every config slot
 * (not part of the rule set: no switch). Like every call on dp, not concurrently with
 * another call that writes (a transaction writes the rate into its config slot too).
 * Returns 0, -EINVAL (every above XDROP_MAX_SAMPLE_EVERY) or a negative errno. */
int dataplane_set_sample_every(struct dataplane *dp, uint32_t every);
/* The sampling rate in effect (0 = off). */
uint32_t dataplane_sample_every(const struct dataplane *dp);
/* The fd of the ring buffer xdrop_samples (struct xdrop_sample records), for
 * ring_buffer__new. Owned by dp. The program wakes a reader blocked in ring_buffer__poll
 * only once a quarter of the ring is waiting (a wake-up per sample would cost more than
 * the sample), so a reader must also consume on its own timer: ring_buffer__poll(rb, 100)
 * then ring_buffer__consume(rb), in a loop. */
int dataplane_samples_fd(const struct dataplane *dp);

/* The generation the program currently uses (it moves by one per switch). */
uint64_t dataplane_gen(const struct dataplane *dp);
/* RCU grace periods needed since open (one per switch; changes coalesced into one switch
 * share it). */
uint64_t dataplane_grace_periods(const struct dataplane *dp);
/* Since open: waits, the times a switch or cleanup blocked on a grace period; syncs, the
 * grace periods waited for in the kernel (one covers every switch before it began). */
void dataplane_grace_stats(const struct dataplane *dp, uint64_t *waits, uint64_t *syncs);

/* Test support: sets the rate limiter's clock (opts.test_clock) and reads the generation
 * recorded by the last packet on this CPU (opts.record_gen). */
int dataplane_set_clock(struct dataplane *dp, uint64_t ns);
int dataplane_seen_gen(const struct dataplane *dp, int cpu, uint64_t *gen);
/* The generation the config slot read by the last packet on this CPU was written for. */
int dataplane_seen_cfg_gen(const struct dataplane *dp, int cpu, uint64_t *gen);

/* How the program finds the longest prefix of an address (enum xdrop_pfx_mode) of one family
 * and direction; for IPv4, of an address in the /16 block v4_block (host order, address >>
 * 16): XDROP_PFX_TRIE when that block sends packets to the trie. For tests. */
int dataplane_prefix_mode(const struct dataplane *dp, bool v6, bool dst, uint32_t v4_block);

/* Accessors for attach.c and tests. */
int dataplane_prog_fd(const struct dataplane *dp);
const char *dataplane_pin_dir(const struct dataplane *dp);

/* Fast-forward port table: frames arriving on ifindex go to peer when they pass; filter
 * says whether frames arriving here are filtered. peer 0 removes the port. */
int dataplane_set_port(struct dataplane *dp, uint32_t ifindex, uint32_t peer, bool filter);

/* Protected control flows (xdrop.h, struct xdrop_protect_key): makes xdrop_protect hold
 * exactly keys/vals[0..n) and sets the program's flag when n > 0 (n = 0 turns protection
 * off). Not part of the rule set: no switch, effective at once. Returns 0, -E2BIG (more
 * than XDROP_MAX_PROTECT) or a negative errno. */
int dataplane_set_protect(struct dataplane *dp, const struct xdrop_protect_key *keys,
			  const struct xdrop_protect_val *vals, size_t n);

/* Kernel memory of the program's maps, summed from their fdinfo memlock. */
int dataplane_memlock(const struct dataplane *dp, uint64_t *bytes);

/* Processed-instruction count the verifier reported for the program. */
int dataplane_verified_insns(const struct dataplane *dp, uint32_t *insns);

#endif
