/* SPDX-License-Identifier: MIT */
/*
 * ruleset: the agent's copy of the rule set: every Rule and WhitelistEntry by id, exactly
 * as the controller sent it (or as a standalone agent's API created it), its revision and
 * content hash (docs/sync.md), and what of it is in the data plane.
 *
 * A rule is in the data plane when it is enabled and not expired. Every change (a delta,
 * a snapshot, a local write, an expiry) goes to the data plane as one atomic switch, and
 * is persisted before the call returns: a snapshot file plus an append-only journal of
 * deltas in the state directory, replayed at start-up. So a restarted agent, with or
 * without a controller, comes back with the last applied set.
 *
 * Rules and whitelist entries are two kinds of one collection: each is described once by
 * a struct ruleset_kind (agent/ruleset/kind.c), and every function here that takes a kind
 * works the same for both. A new kind, or a new field of one, is an edit of that table.
 * The module's files are in agent/ruleset/ (model, journal, stage, local, query, kind).
 *
 * All functions lock internally and may be called from any thread.
 */
#ifndef XDROP_RULESET_H
#define XDROP_RULESET_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.h"
#include "rpc.h"
#include "rulehash.h"
#include "rulepb.h"
#include "xdrop.pb-c.h"

struct ruleset;

/* What a field of a kind's message takes part in (struct ruleset_field.flags). */
enum {
	RSF_WRITE = 1 << 0,  /* an update may set it (all of these when the mask is empty) */
	RSF_SEARCH = 1 << 1, /* a list's search text matches it (case-insensitive substring) */
	RSF_SORT = 1 << 2,   /* a list may sort by it */
	RSF_FILTER = 1 << 3, /* the list request's field of the same name filters by it */
};

/* One field of a kind's message, by its proto name, and what it takes part in. */
struct ruleset_field {
	const char *name;
	unsigned flags;
};

/*
 * A collection descriptor: everything about one kind of entry (rules, whitelist entries)
 * that differs between kinds. Field names are proto names, reached through lib/pbfield.
 */
struct ruleset_kind {
	unsigned index;			       /* position in ruleset_kinds[] */
	uint8_t dp_kind;		       /* enum xdrop_kind of its data-plane entries */
	const char *noun;		       /* in messages: "rule", "whitelist entry" */
	const ProtobufCMessageDescriptor *msg; /* Rule, WhitelistEntry */
	const struct ruleset_field *fields;
	size_t nfields;
	const char *default_sort; /* a RSF_SORT field: lists sort by it when asked for none */
	/* fields with a role in local writes (NULL: the kind has none) */
	const char *id_field;	   /* assigned (UUID v4) on create, kept on update */
	const char *created_field; /* set on create, kept on update */
	const char *updated_field; /* set on every write */
	const char *source_field;  /* "api" when a write leaves it empty */
	const char *stats_field;   /* read-only counters: cleared on write, filled by replies */
	/* where a kind sits in the wire messages */
	const char *item_field;	 /* Create*Request, *WriteReply: "rule", "entry" */
	const char *list_field;	 /* List*Response, BatchCreate*Request: "rules", "entries" */
	const char *chunk_field; /* SnapshotChunk: "rules", "whitelist" */
	const char *chunk_total; /* SnapshotChunk: "total_rules", "total_whitelist" */
	const char *upsert_op;	 /* DeltaOp: "upsert_rule", "upsert_whitelist" */
	const char *delete_op;	 /* DeltaOp: "delete_rule", "delete_whitelist" */
	size_t batch_max;	 /* entries per local batch */
	/* (conversions: rulepb_to_spec, rulepb_canon, rulehash_digest, which tell the kind
	 * by the message's descriptor) */
	/* an entry belongs in the data plane while it is enabled and not expired */
	const char *enabled_field; /* a bool (NULL: always enabled) */
	const char *expires_field; /* wall ns after which it leaves the data plane (NULL: none) */
};

#define RULESET_NKINDS 2
extern const struct ruleset_kind ruleset_rules;
extern const struct ruleset_kind ruleset_whitelist;
/* Every kind, by index. */
extern const struct ruleset_kind *const ruleset_kinds[RULESET_NKINDS];

/* Checks that every name in every kind resolves in its proto messages. Returns 0, or
 * -EINVAL after logging the first name that does not. ruleset_open calls it. */
int ruleset_kinds_check(void);

/* Opens the set: loads state_dir's snapshot and journal (if any) and makes the data plane
 * hold exactly the active part of it (a no-op switch when it already does, as after an
 * adoption). state_dir NULL keeps nothing on disk. Returns 0 or a negative errno. */
int ruleset_open(struct ruleset **out, struct dataplane *dp, const char *state_dir);
/* Frees the set (NULL is fine); the data plane keeps what it holds. */
void ruleset_close(struct ruleset *rs);
/* At a clean stop: folds the journal into the snapshot file, with the data plane's
 * generation, when either changed since it was written, so that the next start reads one
 * file and, finding the adopted data plane at that generation, switches nothing. 0 or a
 * negative errno (the journal then stays, and is replayed). NULL is fine. */
int ruleset_save(struct ruleset *rs);

/* The published state: the revision (and content hash, 64 hex digits) that packets see.
 * It is published right after a change's data-plane switch, so these never wait for the
 * change's grace period and cleanup. ruleset_published reads both as one pair (hash may be
 * NULL). */
uint64_t ruleset_revision(struct ruleset *rs);
void ruleset_hash(struct ruleset *rs, char out[RULEHASH_HEX]);
void ruleset_published(struct ruleset *rs, uint64_t *revision, char hash[RULEHASH_HEX]);
/* How many rules and whitelist entries are stored (active or not). Never waits. */
void ruleset_counts(struct ruleset *rs, uint64_t *rules, uint64_t *whitelist);
/* The revision of the snapshot being staged or installed, 0 when none. Never waits. */
uint64_t ruleset_staging(struct ruleset *rs);

/* Applies a delta whose base_revision is the applied revision (else -ESTALE), in one
 * switch. Returns 0, -EBADMSG when the resulting content hash differs from the delta's
 * (the set is applied anyway; the caller resyncs), or a negative errno with *st filled
 * and nothing changed. */
int ruleset_apply_delta(struct ruleset *rs, const Xdrop__V1__Delta *d, struct rpc_status *st);
/* Applies consecutive deltas ds[0..n) (none a heartbeat), each on top of the one before,
 * each all or nothing with its own revision, sharing data-plane switches where they can
 * (docs/sync.md, "Coalesced changes"). *applied is how many of them, from the first, are
 * in force. Returns 0 or the first one's error as ruleset_apply_delta's. */
int ruleset_apply_deltas(struct ruleset *rs, Xdrop__V1__Delta *const *ds, size_t n,
			 struct rpc_status *st, size_t *applied);

/* The data plane's switches (its generation) and the grace periods waited for since it
 * opened: changes coalesced into one switch share them (AgentService.Info). */
void ruleset_switches(struct ruleset *rs, uint64_t *switches, uint64_t *grace_periods);

/* Test support: while held, changes queue up and none is applied; ruleset_queued is how
 * many wait. */
void ruleset_test_hold(struct ruleset *rs, bool hold);
size_t ruleset_queued(struct ruleset *rs);

/* Snapshot staging: begin (discarding any staged one), add chunks in order, commit. The
 * commit checks the chunk count and the content hash before the one switch. Each returns
 * 0 or a negative errno with *st filled; a failed commit changes nothing. */
int ruleset_stage_begin(struct ruleset *rs, uint64_t revision, const char *hash,
			uint32_t chunk_count);
int ruleset_stage_chunk(struct ruleset *rs, const Xdrop__V1__SnapshotChunk *c,
			struct rpc_status *st);
/* ruleset_stage_chunk in two steps, so that a chunk's entries can be made into items
 * (validated, hashed) on the thread that fetched it, outside the set's lock, while chunks
 * are staged in order elsewhere. ruleset_stage_prepare: *out holds chunk c's entries as
 * items with its place (revision, index, count); 0, or -EINVAL with *st naming the field,
 * or -ENOMEM. It touches no set. ruleset_stage_batch: stages b after the chunks staged so
 * far (as ruleset_stage_chunk, -ESTALE when it does not continue them); b is consumed
 * either way. ruleset_batch_free frees a batch not staged (NULL is fine). */
struct ruleset_batch;
int ruleset_stage_prepare(const Xdrop__V1__SnapshotChunk *c, struct ruleset_batch **out,
			  struct rpc_status *st);
int ruleset_stage_batch(struct ruleset *rs, struct ruleset_batch *b, struct rpc_status *st);
void ruleset_batch_free(struct ruleset_batch *b);
int ruleset_stage_commit(struct ruleset *rs, struct rpc_status *st);
/* The chunk index the staging expects next, or -1 when nothing is staged. */
int ruleset_stage_next(struct ruleset *rs);

/*
 * Local writes (standalone agents), each one new revision. m is a message of k->msg
 * (borrowed); ids, creation and update times are assigned here, the rest canonicalised
 * (lib/rulepb.h). *out, when not NULL, receives a copy of the stored message (free with
 * ruleset_free). Errors, with *st filled and nothing changed: -EINVAL (the field named in
 * st->field), -EEXIST (the same match exists: its id in the message), -ENOENT (no such
 * id), -ENOSPC (too many, or the data plane is full), -ENOMEM.
 */
int ruleset_create(struct ruleset *rs, const struct ruleset_kind *k, const ProtobufCMessage *m,
		   ProtobufCMessage **out, struct rpc_status *st);
/* As ruleset_create, with XDrop v2.7's anomaly merge (rules): when m has a match_anomaly
 * and an anomaly rule with its match and action is in force, m's bits are ORed into that
 * rule instead (its id, creation time and other fields kept), under the set's lock in one
 * change; *merged says which happened. */
int ruleset_create_merge(struct ruleset *rs, const struct ruleset_kind *k,
			 const ProtobufCMessage *m, ProtobufCMessage **out, bool *merged,
			 struct rpc_status *st);
/* Replaces the fields named in mask[0..nmask) (every RSF_WRITE field when nmask is 0) of
 * entry id with m's; -EINVAL names "update_mask" for a name that is not RSF_WRITE. */
int ruleset_update(struct ruleset *rs, const struct ruleset_kind *k, const char *id,
		   const ProtobufCMessage *m, char **mask, size_t nmask, ProtobufCMessage **out,
		   struct rpc_status *st);
/* Deletes entries by id in one revision; all must exist. */
int ruleset_delete(struct ruleset *rs, const struct ruleset_kind *k, char **ids, size_t n,
		   struct rpc_status *st);
/* Likewise; on failure *bad_index is the id refused. */
int ruleset_delete_many(struct ruleset *rs, const struct ruleset_kind *k, char **ids, size_t n,
			struct rpc_status *st, size_t *bad_index);
/* Creates msgs[0..n) in one revision, all or nothing; on failure *bad_index is the one
 * refused. On success *ids_out (when not NULL) is a malloc'ed array of n malloc'ed ids and
 * a NULL (free each, then the array). */
int ruleset_create_many(struct ruleset *rs, const struct ruleset_kind *k,
			ProtobufCMessage *const *msgs, size_t n, char ***ids_out,
			struct rpc_status *st, size_t *bad_index);

/* A copy of the stored entry id (free with ruleset_free); NULL when absent. */
ProtobufCMessage *ruleset_get(struct ruleset *rs, const struct ruleset_kind *k, const char *id);

/* Lists k's entries filtered, sorted and paged as req (a List*Request) asks, into resp
 * (the matching List*Response: its k->list_field, count and pagination). The entries are
 * copies and, with the array and the pagination, are the caller's: free each with
 * ruleset_free, the array and the pagination with free(). Returns 0 or -ENOMEM. */
int ruleset_list(struct ruleset *rs, const struct ruleset_kind *k, const ProtobufCMessage *req,
		 ProtobufCMessage *resp);

/* Removes rules expired at now_ns (wall time) from the data plane; they stay stored.
 * Returns how many, or a negative errno. */
int ruleset_expire(struct ruleset *rs, int64_t now_ns);

/* Calls fn for each stored rule and whitelist entry with its id, its spec (spec->kind says
 * which) and whether it is in the data plane (the set's lock is held: fn must not call
 * back into the set). */
void ruleset_foreach_entry(struct ruleset *rs,
			   void (*fn)(void *arg, const char *id, const struct rule_spec *s,
				      bool active),
			   void *arg);

/* The data-plane slots of the entries in force with this id (a rule and a whitelist entry
 * may share one): up to RULESET_NKINDS into slots; returns how many. Takes the set's lock
 * (the sampler's per-entry figures look their slot up here instead of keeping a table of
 * every id). */
size_t ruleset_entry_slots(struct ruleset *rs, const char *id, uint32_t slots[RULESET_NKINDS]);

/* Frees a message the functions above returned (NULL is fine). */
void ruleset_free(ProtobufCMessage *m);

#endif
