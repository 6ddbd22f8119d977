// SPDX-License-Identifier: MIT
/*
 * ruleset/stage.c: snapshot staging. The controller's snapshot arrives in chunks (agent/
 * sync.c fetches them; ApplySnapshotChunk pushes them); each is made into items outside
 * the set's lock (ruleset_stage_prepare, on the fetcher's thread) and staged in order
 * (validated, its spec and content digest taken: the same compact form
 * the set keeps, so a staged million entries cost what the installed set does, not an
 * unpacked protobuf tree each), and once the last one is in they are checked (chunk count,
 * unique ids, content hash) and installed in one switch. A snapshot older than deltas
 * applied while it was fetched is dropped. (The memory the replaced set took goes back to
 * the system at the agent's next housekeeping tick, agent/main.c.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "pbfield.h"

void rs_stage_clear(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->stage.n; i++)
		rs_item_free(rs->stage.items[i]);
	free(rs->stage.items);
	memset(&rs->stage, 0, sizeof(rs->stage));
	atomic_store(&rs->staging, 0);
}

int ruleset_stage_begin(struct ruleset *rs, uint64_t revision, const char *hash,
			uint32_t chunk_count)
{
	pthread_mutex_lock(&rs->lock);
	rs_stage_clear(rs);
	rs->stage.on = true;
	rs->stage.revision = revision;
	rs->stage.base = rs->revision;
	snprintf(rs->stage.hash, sizeof(rs->stage.hash), "%s", hash ? hash : "");
	rs->stage.count = chunk_count;
	atomic_store(&rs->staging, revision ? revision : 1);
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

int ruleset_stage_next(struct ruleset *rs)
{
	int n;

	pthread_mutex_lock(&rs->lock);
	n = rs->stage.on ? (int)rs->stage.next : -1;
	pthread_mutex_unlock(&rs->lock);
	return n;
}

/* A chunk's entries made into items, with the chunk's place: what ruleset_stage_prepare
 * makes and ruleset_stage_batch stages. */
struct ruleset_batch {
	uint64_t revision;
	uint32_t index, count;
	struct item **items;
	size_t n;
};

void ruleset_batch_free(struct ruleset_batch *b)
{
	for (size_t i = 0; b && i < b->n; i++)
		rs_item_free(b->items[i]);
	if (b)
		free(b->items);
	free(b);
}

/* Whether b continues what is staged; st says why not. */
static bool batch_continues(struct ruleset *rs, const struct ruleset_batch *b,
			    struct rpc_status *st)
{
	if (rs->stage.on && b->revision == rs->stage.revision && b->index == rs->stage.next &&
	    b->count == rs->stage.count)
		return true;
	rs_status(st, RPC_FAILED_PRECONDITION, "chunk_index",
		  "chunk %u/%u of revision %llu does not continue the staged snapshot", b->index,
		  b->count, (unsigned long long)b->revision);
	return false;
}

int ruleset_stage_prepare(const Xdrop__V1__SnapshotChunk *c, struct ruleset_batch **out,
			  struct rpc_status *st)
{
	size_t total = 0, len[RULESET_NKINDS];
	ProtobufCMessage **v[RULESET_NKINDS];
	struct ruleset_batch *b = calloc(1, sizeof(*b));
	int err = 0;

	*out = NULL;
	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		v[k] = pbf_repeated(&c->base, ruleset_kinds[k]->chunk_field, &len[k]);
		total += len[k];
	}
	if (b)
		b->items = calloc(total + 1, sizeof(*b->items));
	if (!b || !b->items) {
		ruleset_batch_free(b);
		rs_status(st, RPC_RESOURCE_EXHAUSTED, "", "out of memory staging the snapshot");
		return -ENOMEM;
	}
	b->revision = c->revision;
	b->index = c->chunk_index;
	b->count = c->chunk_count;
	for (unsigned k = 0; k < RULESET_NKINDS && !err; k++)
		for (size_t i = 0; i < len[k] && !err; i++)
			if (!(err = rs_item_make(ruleset_kinds[k], v[k][i], &b->items[b->n], st)))
				b->n++;
	if (err) {
		if (err == -ENOMEM)
			rs_status(st, RPC_RESOURCE_EXHAUSTED, "",
				  "out of memory staging the snapshot");
		ruleset_batch_free(b);
		return err;
	}
	*out = b;
	return 0;
}

/* Appends b's items to the staged ones. 0 or -ENOMEM (nothing appended). */
static int stage_push(struct ruleset *rs, struct ruleset_batch *b)
{
	if (rs->stage.n + b->n > rs->stage.cap) {
		size_t nc = rs->stage.cap ? rs->stage.cap : 1024;
		struct item **v;

		while (nc < rs->stage.n + b->n)
			nc *= 2;
		v = realloc(rs->stage.items, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rs->stage.items = v;
		rs->stage.cap = nc;
	}
	memcpy(rs->stage.items + rs->stage.n, b->items, b->n * sizeof(*b->items));
	rs->stage.n += b->n;
	b->n = 0; /* staged: the set's now */
	return 0;
}

int ruleset_stage_batch(struct ruleset *rs, struct ruleset_batch *b, struct rpc_status *st)
{
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	if (!batch_continues(rs, b, st)) {
		err = -ESTALE;
	} else if (stage_push(rs, b)) {
		rs_status(st, RPC_RESOURCE_EXHAUSTED, "", "out of memory staging the snapshot");
		err = -ENOMEM;
	} else {
		rs->stage.next++;
	}
	pthread_mutex_unlock(&rs->lock);
	ruleset_batch_free(b);
	return err;
}

/*
 * The chunk's entries are made into items (the validation, the spec and the SHA-256 of
 * each) before lock is taken: on a snapshot of a million entries that is most of the
 * staging work, and it runs while changes and readers go on. The chunk's place in the
 * sequence is checked before (to spare the work for a chunk that does not belong) and
 * again under lock (a new staging may have begun meanwhile).
 */
int ruleset_stage_chunk(struct ruleset *rs, const Xdrop__V1__SnapshotChunk *c,
			struct rpc_status *st)
{
	struct ruleset_batch *b, head = {
				     .revision = c->revision,
				     .index = c->chunk_index,
				     .count = c->chunk_count,
				 };
	bool ok;
	int err;

	pthread_mutex_lock(&rs->lock);
	ok = batch_continues(rs, &head, st);
	pthread_mutex_unlock(&rs->lock);
	if (!ok)
		return -ESTALE;
	err = ruleset_stage_prepare(c, &b, st);
	return err ? err : ruleset_stage_batch(rs, b, st);
}

static bool item_is(const void *e, const void *key)
{
	const struct item *a = e, *b = key;

	return a->kind == b->kind && !strcmp(rs_id(a), rs_id(b));
}

/* Refuses an id that appears twice within a kind: the hash would lie about the set. One
 * table of item pointers (lib/ptab): nothing allocated per item. */
static int unique_ids(struct item *const *items, size_t n, struct rpc_status *st)
{
	struct ptab seen = {0};
	int err = ptab_reserve(&seen, n);

	for (size_t j = 0; j < n && !err; j++) {
		uint32_t h = ptab_hash_str(rs_id(items[j])) ^ rs_kind(items[j])->index;

		if (ptab_find(&seen, h, item_is, items[j])) {
			rs_status(st, RPC_INVALID_ARGUMENT, "id", "id %s appears twice",
				  rs_id(items[j]));
			err = -EINVAL;
		} else {
			err = ptab_add(&seen, h, items[j]);
		}
	}
	ptab_free(&seen);
	return err;
}

int rs_items_check(struct item *const *items, size_t n, const char *want_hash,
		   struct rpc_status *st)
{
	struct rulehash h;
	char hex[RULEHASH_HEX];
	int err;

	rulehash_init(&h);
	for (size_t i = 0; i < n; i++)
		rulehash_add(&h, items[i]->digest);
	err = unique_ids(items, n, st);
	if (!err && want_hash && *want_hash && strcmp(rulehash_hex(&h, hex), want_hash) != 0) {
		rs_status(st, RPC_DATA_LOSS, "content_hash",
			  "snapshot content hashes to %s, expected %s", hex, want_hash);
		err = -EBADMSG;
	}
	return err;
}

int ruleset_stage_commit(struct ruleset *rs, struct rpc_status *st)
{
	int err;

	pthread_mutex_lock(&rs->lock);
	if (!rs->stage.on || rs->stage.next != rs->stage.count) {
		rs_status(st, RPC_FAILED_PRECONDITION, "chunk_index",
			  "snapshot incomplete: %u of %u chunks", rs->stage.next, rs->stage.count);
		err = -EAGAIN;
		goto out;
	}
	if (rs->revision != rs->stage.base && rs->stage.revision < rs->revision) {
		/* deltas were applied while this snapshot was fetched (a large set takes
		 * seconds): it is older than what packets see now, and installing it would take
		 * those rules back out. (Without deltas in between, an older snapshot is the
		 * controller's truth, e.g. after its database was restored, and is installed.) */
		log_info("snapshot of revision %llu dropped: revision %llu was applied while it "
			 "was fetched",
			 (unsigned long long)rs->stage.revision, (unsigned long long)rs->revision);
		err = 0;
		goto out;
	}
	err = rs_items_check(rs->stage.items, rs->stage.n, rs->stage.hash, st);
	if (!err)
		err = rs_install(rs, rs->stage.items, rs->stage.n, rs->stage.revision, st);
	if (err)
		goto out;
	rs->stage.n = 0; /* installed: the items are the set's */
	rs_persist_snapshot(rs);
	log_info("snapshot installed: revision %llu, %zu rules, %zu whitelist entries",
		 (unsigned long long)rs->revision, rs->count[ruleset_rules.index],
		 rs->count[ruleset_whitelist.index]);
out:
	rs_stage_clear(rs);
	pthread_mutex_unlock(&rs->lock);
	return err;
}
