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
 * All functions lock internally and may be called from any thread.
 */
#ifndef XDROP_RULESET_H
#define XDROP_RULESET_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.h"
#include "rpc.h"
#include "rulehash.h"
#include "xdrop.pb-c.h"

struct ruleset;

/* Opens the set: loads state_dir's snapshot and journal (if any) and makes the data plane
 * hold exactly the active part of it (a no-op switch when it already does, as after an
 * adoption). state_dir NULL keeps nothing on disk. Returns 0 or a negative errno. */
int ruleset_open(struct ruleset **out, struct dataplane *dp, const char *state_dir);
void ruleset_close(struct ruleset *rs);

/* The published state: the revision (and content hash, 64 hex digits) that packets see.
 * It is published right after a change's data-plane switch, so these never wait for the
 * change's grace period and cleanup. ruleset_published reads both as one pair (hash may be
 * NULL). */
uint64_t ruleset_revision(struct ruleset *rs);
void ruleset_hash(struct ruleset *rs, char out[RULEHASH_HEX]);
void ruleset_published(struct ruleset *rs, uint64_t *revision, char hash[RULEHASH_HEX]);
void ruleset_counts(struct ruleset *rs, uint64_t *rules, uint64_t *whitelist);

/* Applies a delta whose base_revision is the applied revision (else -ESTALE), in one
 * switch. Returns 0, -EBADMSG when the resulting content hash differs from the delta's
 * (the set is applied anyway; the caller resyncs), or a negative errno with *st filled
 * and nothing changed. */
int ruleset_apply_delta(struct ruleset *rs, const Xdrop__V1__Delta *d, struct rpc_status *st);

/* Snapshot staging: begin (discarding any staged one), add chunks in order, commit. The
 * commit checks the chunk count, the totals and the content hash before the one switch.
 * Returns 0 or a negative errno with *st filled; a failed commit changes nothing. */
int ruleset_stage_begin(struct ruleset *rs, uint64_t revision, const char *hash,
			uint32_t chunk_count);
int ruleset_stage_chunk(struct ruleset *rs, const Xdrop__V1__SnapshotChunk *c,
			struct rpc_status *st);
int ruleset_stage_commit(struct ruleset *rs, struct rpc_status *st);
/* The chunk index the staging expects next, or -1 when nothing is staged. */
int ruleset_stage_next(struct ruleset *rs);

/* Local writes (standalone agents): each is one new revision. *out receives a copy of the
 * stored message (free with protobuf_c_message_free_unpacked). Errors: -EINVAL (field in
 * *st), -EEXIST (duplicate match key, the existing id in the message), -ENOENT, -ENOSPC. */
int ruleset_create_rule(struct ruleset *rs, const Xdrop__V1__Rule *r, Xdrop__V1__Rule **out,
			struct rpc_status *st);
int ruleset_update_rule(struct ruleset *rs, const char *id, const Xdrop__V1__Rule *r, char **mask,
			size_t nmask, Xdrop__V1__Rule **out, struct rpc_status *st);
int ruleset_create_wl(struct ruleset *rs, const Xdrop__V1__WhitelistEntry *w,
		      Xdrop__V1__WhitelistEntry **out, struct rpc_status *st);
/* Deletes rules (is_wl false) or whitelist entries by id in one revision. */
int ruleset_delete(struct ruleset *rs, bool is_wl, char **ids, size_t n, struct rpc_status *st);
/* Creates many in one revision (all or nothing). */
int ruleset_create_rules(struct ruleset *rs, Xdrop__V1__Rule **rules, size_t n, char ***ids_out,
			 struct rpc_status *st, size_t *bad_index);
int ruleset_create_wls(struct ruleset *rs, Xdrop__V1__WhitelistEntry **wl, size_t n,
		       char ***ids_out, struct rpc_status *st, size_t *bad_index);

/* Copies of stored messages; NULL when absent. */
Xdrop__V1__Rule *ruleset_get_rule(struct ruleset *rs, const char *id);
Xdrop__V1__WhitelistEntry *ruleset_get_wl(struct ruleset *rs, const char *id);

/* Lists (filtered, sorted, paged) into the response (copies owned by the response). */
int ruleset_list_rules(struct ruleset *rs, const Xdrop__V1__ListRulesRequest *q,
		       Xdrop__V1__ListRulesResponse *resp);
int ruleset_list_wl(struct ruleset *rs, const Xdrop__V1__ListWhitelistRequest *q,
		    Xdrop__V1__ListWhitelistResponse *resp);

/* Removes expired rules from the data plane (they stay stored). Returns how many. */
int ruleset_expire(struct ruleset *rs, int64_t now_ns);

/* Calls fn for each stored rule with its spec and whether it is in the data plane. */
void ruleset_foreach_rule(struct ruleset *rs,
			  void (*fn)(void *arg, const Xdrop__V1__Rule *r, const struct rule_spec *s,
				     bool active),
			  void *arg);

/* Frees what the list/get/create functions return. */
void ruleset_free_rule(Xdrop__V1__Rule *r);
void ruleset_free_wl(Xdrop__V1__WhitelistEntry *w);

#endif
