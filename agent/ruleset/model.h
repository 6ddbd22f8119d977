/* SPDX-License-Identifier: MIT */
/*
 * ruleset/model.h: the rule set's in-memory model, shared by the files of agent/ruleset/
 * and by nothing else (the public interface is agent/ruleset.h).
 *
 * The set holds, per kind, a table of items by id: the stored message, its rule_spec, its
 * content digest and match key, and whether it is in the data plane. A key index maps
 * each match key in the data plane to the item holding it. Every change is a list of
 * struct op (upsert an item, delete an id) that rs_apply_ops turns into one data-plane
 * switch; only after the switch succeeds is the model updated. Functions named rs_* here
 * expect the caller to hold rs->lock unless they say otherwise.
 *
 *   model.c    items, lookups, the published revision and hash, counts
 *   change.c   the change engine: ops -> one switch -> the model; whole-set install
 *   group.c    changes submitted together or while one is applied: one switch per group
 *   expiry.c   the rules in force that will expire, in a heap by expires_at; expiry
 *   delta.c    the wire's Delta: the controller's applied, a local change's built
 *   journal.c  the state directory: snapshot file, journal, loading at start-up
 *   snapfile.c the snapshot file's packed form: written and read back without rebuilding
 *   stage.c    snapshot staging (chunks from the controller, verified, installed)
 *   local.c    local writes of a standalone agent: create, update, delete, batch
 *   query.c    get and list
 *   open.c     open and close
 *   kind.c     the collection descriptors of rules and whitelist entries
 */
#ifndef XDROP_RULESET_MODEL_H
#define XDROP_RULESET_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h> /* change.c and stage.c keep their own small maps in it */

#include "ptab.h"
#include "ruleset.h"

#define RS_KEY_LEN	   160
#define RS_ID_MAX	   299	/* bytes of an id, with its NUL, the engine accepts */
#define RS_JOURNAL_COMPACT 4096 /* deltas in the journal before it is folded in */
/* ... or bytes beyond half the snapshot's size (and this floor): a restart then replays at
 * most a third of the set, and the snapshots written cost at most 3 times what the changes
 * wrote to the journal */
#define RS_JOURNAL_MIN_BYTES (256 * 1024)
#define RS_MAX_OPS	     1000000 /* entries per local batch */
#define RS_SNAPSHOT_FILE     "state.snapshot"
#define RS_JOURNAL_FILE	     "state.journal"

/*
 * One stored entry. The message is kept packed (its protobuf wire bytes, which are the
 * smallest faithful form of it: about 150 bytes for a rule with a name, a comment and a
 * source, where the unpacked message took about 700 in a dozen allocations) and unpacked
 * only when it is read (rs_item_msg): get, list, the journal of a local change. What the
 * engine needs on every change, expiry and sample is kept beside it, decoded once: the
 * spec, the content digest, the times, whether it is enabled. The id lives at the end of
 * the same allocation, once: the packed bytes leave it out and rs_item_msg puts it back.
 * The match key is derived from the spec when needed (rs_item_key), not stored. No
 * pointers: the kind is its index in ruleset_kinds and the id is found after the packed
 * bytes (rs_kind, rs_id), 16 bytes a rule less with a million of them.
 */
struct item {
	struct rule_spec spec;
	uint8_t digest[RULEHASH_LEN];
	uint32_t xpos;	    /* 1 + its index in the expiry heap; 0: not in it */
	uint32_t pblen;	    /* bytes of the packed message at data */
	uint8_t kind;	    /* index in ruleset_kinds */
	bool enabled;	    /* the kind's enabled_field (true when it has none) */
	bool active;	    /* in the data plane */
	int64_t expires_at; /* wall ns; 0: never (and always for whitelist entries) */
	int64_t created_at, updated_at;
	uint8_t data[]; /* the packed message, then the id and its NUL */
};

static inline const struct ruleset_kind *rs_kind(const struct item *it)
{
	return ruleset_kinds[it->kind];
}

static inline const char *rs_id(const struct item *it)
{
	return (const char *)it->data + it->pblen;
}

struct ruleset {
	pthread_mutex_t lock;
	struct dataplane *dp;
	char *dir;
	/* items by id, per kind, and the key index: match key -> the item holding it in the
	 * data plane. Open-addressing tables of item pointers (lib/ptab.h): nothing is
	 * allocated per entry, the key index's slots hash the match key's text */
	struct ptab items[RULESET_NKINDS];
	_Atomic size_t count[RULESET_NKINDS]; /* atomic: read without lock (ruleset_counts) */
	struct ptab keys;
	/* the active items with an expiry time, a min-heap by expires_at (expiry.c) */
	struct item **xheap;
	size_t xn, xcap;
	uint64_t revision;
	struct rulehash hash;
	/* what packets see, for readers that must not wait on lock: set right after the
	 * data-plane switch of each change, before its grace period and cleanup */
	pthread_mutex_t pub_lock;
	uint64_t pub_revision;
	struct rulehash pub_hash;
	int journal_fd;
	unsigned journal_count;
	uint64_t journal_bytes;	 /* in the journal since the snapshot */
	uint64_t snapshot_bytes; /* the snapshot file's size */
	/* the data plane's generation the snapshot file was written at (0: unknown): at
	 * start-up, an adopted data plane still at it holds the saved set (open.c) */
	uint64_t snap_gen;
	bool dp_as_saved; /* ruleset_open found the data plane holding the set: no switch */
	/* rs_load_state at start-up: the snapshot and the journal rebuild the set in memory
	 * only; ruleset_open then switches the data plane once, to the final set */
	bool loading;
	bool had_state;		  /* rs_load_state found a snapshot or journal to start from */
	bool refused;		  /* ... but refused the snapshot (set aside): no saved state */
	_Atomic uint64_t staging; /* stage.revision while staging is on, else 0 */
	struct {
		bool on;
		uint64_t revision;
		uint64_t base; /* the applied revision when staging began */
		char hash[RULEHASH_HEX];
		uint32_t count, next;
		/* the staged entries, made into items as each chunk arrives (validated and
		 * hashed then, outside lock): the snapshot is held once, in its compact form */
		struct item **items;
		size_t n, cap;
	} stage;
	/* changes waiting for the switch that applies them (group.c); qlock is taken after
	 * lock, never before it */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct rs_change *qhead, **qtail;
	size_t queued;
	bool qleader, qhold;
};

/* One operation of a change: upsert item, or delete id (del). */
struct op {
	const struct ruleset_kind *kind;
	bool del;
	const char *id;	   /* delete: borrowed */
	struct item *item; /* upsert: the new item, owned by the op until committed */
};

/* ---- model.c ---- */

/* Fills *st (NULL is fine) with code, field and a formatted message. */
void rs_status(struct rpc_status *st, enum rpc_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Builds an item of kind k from m (packed into it) and validates it: 0, or -EINVAL with *st
 * naming the field, or -ENOMEM. *out is the caller's (rs_item_free). */
int rs_item_make(const struct ruleset_kind *k, const ProtobufCMessage *m, struct item **out,
		 struct rpc_status *st);
void rs_item_free(struct item *it);
/* The item's message, unpacked: the caller's (ruleset_free), or NULL without memory. */
ProtobufCMessage *rs_item_msg(const struct item *it);
/* Whether it belongs in the data plane at now (wall ns): enabled and not expired. */
bool rs_item_active(const struct item *it, int64_t now);
/* The match key text of it's spec into buf (RS_KEY_LEN); returns buf. */
char *rs_item_key(const struct item *it, char *buf);

/* The stored item of kind k with id, or NULL. */
struct item *rs_find(struct ruleset *rs, const struct ruleset_kind *k, const char *id);
/* The item of kind index k after position *pos of its table (start with *pos 0), or NULL
 * at the end: for (pos = 0; (it = rs_next(rs, k, &pos));). No adds or removes meanwhile. */
struct item *rs_next(struct ruleset *rs, unsigned k, size_t *pos);
/* Makes room for n items of kind index k and n keys in all (a bulk load). 0 or -ENOMEM. */
int rs_model_reserve(struct ruleset *rs, unsigned k, size_t n);
/* Likewise for items[0..n) (of any kinds), as one install adds them; a failure is left to
 * the adds that follow. */
void rs_model_reserve_for(struct ruleset *rs, struct item *const *items, size_t n);

/* Adds it to / removes it from its kind's table, the counts and the content hash. */
void rs_model_add(struct ruleset *rs, struct item *it);
void rs_model_remove(struct ruleset *rs, struct item *it);

/* The item holding match key in the data plane, or NULL. */
struct item *rs_key_find(struct ruleset *rs, const char *key);
/* Points the key index's entry for key (it's match key) at it (0 or -ENOMEM); drops key. */
int rs_key_set(struct ruleset *rs, const char *key, struct item *it);
void rs_key_drop(struct ruleset *rs, const char *key);

/* Frees every stored item and the key index. */
void rs_model_clear(struct ruleset *rs);

/* Publishes the revision and hash readers see (rs->lock held). */
void rs_publish(struct ruleset *rs);

/* Frees ops[0..n) with the items they still own, and the array. */
void rs_ops_free(struct op *ops, size_t n);

/* ---- change.c ---- */

/* A change planned against the model: its ops, which of them count (last), the touched
 * match keys and the data-plane changes that make them so (ch). */
struct kchange;
struct rs_plan {
	struct ruleset *rs;
	struct op *ops;
	size_t n;
	bool local;
	bool *last;
	struct kchange *keys;
	struct dp_change *ch;
	size_t nch;
	struct rpc_status *st;
	size_t *bad;
};

/* Plans ops[0..n) against the model (local as for rs_apply_ops): 0, or an error with *st
 * and *bad_index filled. Nothing is changed; rs_plan_free frees *p either way. */
int rs_plan_make(struct rs_plan *p, struct ruleset *rs, struct op *ops, size_t n, bool local,
		 struct rpc_status *st, size_t *bad_index);
/* After the switch that carried p->ch: the model takes the change at new_revision
 * (published for readers when publish). 0, or -ENOMEM (the key index lags). */
int rs_plan_commit(struct rs_plan *p, uint64_t new_revision, bool publish);
/* Fills the plan's status with the data plane's refusal err, res. */
void rs_plan_refused(struct rs_plan *p, int err, const struct dp_result *res);
void rs_plan_free(struct rs_plan *p);

/*
 * Applies ops[0..n) in one data-plane switch and commits them at new_revision. local:
 * refuse deletions of absent ids and matches held by entries the change does not touch
 * (standalone writes); the controller's deltas are trusted to be consistent. On failure
 * *st and *bad_index (the op refused) are filled and nothing changed. On success the
 * ops' items are owned by the set (their pointers in ops are cleared).
 */
int rs_apply_ops(struct ruleset *rs, struct op *ops, size_t n, uint64_t new_revision, bool local,
		 struct rpc_status *st, size_t *bad_index);

/* Replaces the whole set with items[0..n) at revision in one switch. On success the items
 * are the set's; on failure (*st filled, nothing changed) they stay the caller's. */
int rs_install(struct ruleset *rs, struct item **items, size_t n, uint64_t revision,
	       struct rpc_status *st);

/* ---- group.c ---- */

/*
 * One caller's change, submitted with rs_submit (rs->lock NOT held). Changes queued
 * while a switch is in progress are applied together by one leader in one data-plane
 * switch (one grace period): a group holds changes from the queue's head on while they
 * touch disjoint ids and match keys, so that planning each against the model before the
 * group is planning it after the ones before it. Each change is still all or nothing
 * with its own revision and answer: one refused by the engine is left out of the group;
 * a group the data plane refuses as a whole is applied again one change at a time.
 */
struct rs_change {
	struct rs_change *next;
	struct op *ops;
	size_t n;
	const Xdrop__V1__Delta *delta; /* the controller's: revision, base, hash; else local */
	bool create;		       /* local: its ids must be new */
	/* local, optional: rebuilds ops under the lock against the model (a group of its
	 * own); 0 or an error with st filled */
	int (*build)(struct ruleset *rs, struct rs_change *c);
	void *arg;
	/* local, optional: a copy of the entry of this kind and id after the change */
	const struct ruleset_kind *out_kind;
	const char *out_id;
	ProtobufCMessage **out;
	/* results */
	struct rpc_status *st;
	size_t bad;
	int err;
	uint64_t revision;
	bool done;
};

/* Queues cs[0..n) (in this order, consecutive) and returns once all are applied or
 * refused (each one's err). 0, or the first error. */
int rs_submit(struct ruleset *rs, struct rs_change *const *cs, size_t n);
void rs_queue_init(struct ruleset *rs);
void rs_queue_destroy(struct ruleset *rs);

/* ---- local.c ---- */

/* Creates (ops without del) whose ids are new: none stored already, none given twice.
 * 0, or -EEXIST with *st naming the id and *bad the op. rs->lock held. */
int rs_ids_fresh(struct ruleset *rs, struct op *ops, size_t n, struct rpc_status *st, size_t *bad);

/* ---- expiry.c ---- */

/* Puts it in the expiry heap when it is active and has an expiry time (a no-op
 * otherwise, or when it is there already). 0 or -ENOMEM. */
int rs_expiry_add(struct ruleset *rs, struct item *it);
/* Takes it out of the heap (a no-op when it is not in it). */
void rs_expiry_del(struct ruleset *rs, struct item *it);
/* Takes out and returns the item that expires first when it is due at now, else NULL. */
struct item *rs_expiry_due(struct ruleset *rs, int64_t now);
/* Empties the heap (its array stays allocated). */
void rs_expiry_clear(struct ruleset *rs);

/* ---- delta.c ---- */

/* Builds ops from a delta (items copied); *out is the caller's (rs_ops_free). */
int rs_ops_from_delta(const Xdrop__V1__Delta *d, struct op **out, struct rpc_status *st,
		      size_t *bad);

/* The delta of local ops[0..n) as the next revision (rs->revision + 1), packed into *buf
 * (malloc'ed); before the engine takes the items. */
int rs_pack_local(struct ruleset *rs, const struct op *ops, size_t n, uint8_t **buf, size_t *len);
/* Journals a local change packed by rs_pack_local. */
void rs_journal_local(struct ruleset *rs, const uint8_t *buf, size_t len);

/* ---- journal.c ---- */

/* Writes the whole set as the state snapshot and empties the journal. 0 or -errno. */
int rs_persist_snapshot(struct ruleset *rs);

/* Appends a delta to the journal (or writes a snapshot when the journal is long or the
 * append failed). 0 or -errno. */
int rs_journal_append(struct ruleset *rs, const Xdrop__V1__Delta *d);

/* Loads the state snapshot and replays the journal into the model (rs->loading set: the
 * data plane is not touched). 0 or -errno (the journal cannot be opened). */
int rs_load_state(struct ruleset *rs);

/* ---- snapfile.c ---- */

/* The whole set in the snapshot file's packed form, with the data plane's generation
 * dp_gen, into *buf (malloc'ed). 0 or -ENOMEM. */
int rs_snap_pack(struct ruleset *rs, uint64_t dp_gen, uint8_t **buf, size_t *len);
/* The same written to fd through a small buffer (the set is not held twice); *len gets the
 * file's size. 0, -ENOMEM or -errno of a write. */
int rs_snap_write(struct ruleset *rs, uint64_t dp_gen, int fd, size_t *len);
/* Installs (rs_install) the set of a snapshot file buf[0..len) in that form. 0; -ENOTSUP
 * when the file is in another form (nothing said); or -EBADMSG (cut short, damaged, not
 * consistent), -ENOMEM, with *st saying why, and nothing installed. */
int rs_snap_load(struct ruleset *rs, const uint8_t *buf, size_t len, struct rpc_status *st);
/* The file's checksum of n bytes at p, 8 at a time (not cryptographic: it catches torn and
 * damaged files); exposed for tests that write a file of an older version. */
uint64_t rs_snap_checksum(const uint8_t *p, size_t n);

/* ---- stage.c ---- */

/* Checks items[0..n): ids unique per kind and, when want_hash is not empty, the content
 * hash. 0, -EINVAL or -EBADMSG with *st filled, or -ENOMEM. */
int rs_items_check(struct item *const *items, size_t n, const char *want_hash,
		   struct rpc_status *st);

/* Frees what is staged and turns staging off. */
void rs_stage_clear(struct ruleset *rs);

#endif
