// SPDX-License-Identifier: MIT
/*
 * ruleset/stage.c: snapshot staging. The controller's snapshot arrives in chunks (agent/
 * sync.c fetches them; ApplySnapshotChunk pushes them); they are copied aside in order and,
 * once the last one is in, checked (chunk count, unique ids, content hash) and installed
 * in one switch. A snapshot older than deltas applied while it was fetched is dropped.
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
		protobuf_c_message_free_unpacked(rs->stage.msgs[i], NULL);
	free(rs->stage.msgs);
	free(rs->stage.kinds);
	memset(&rs->stage, 0, sizeof(rs->stage));
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

static int stage_push(struct ruleset *rs, const ProtobufCMessage *m, const struct ruleset_kind *k)
{
	if (rs->stage.n == rs->stage.cap) {
		size_t nc = rs->stage.cap ? rs->stage.cap * 2 : 1024;
		ProtobufCMessage **m2 = realloc(rs->stage.msgs, nc * sizeof(*m2));
		const struct ruleset_kind **k2;

		if (!m2)
			return -ENOMEM;
		rs->stage.msgs = m2;
		k2 = realloc(rs->stage.kinds, nc * sizeof(*k2));
		if (!k2)
			return -ENOMEM;
		rs->stage.kinds = k2;
		rs->stage.cap = nc;
	}
	rs->stage.msgs[rs->stage.n] = rs_msg_copy(m);
	if (!rs->stage.msgs[rs->stage.n])
		return -ENOMEM;
	rs->stage.kinds[rs->stage.n++] = k;
	return 0;
}

int ruleset_stage_chunk(struct ruleset *rs, const Xdrop__V1__SnapshotChunk *c,
			struct rpc_status *st)
{
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	if (!rs->stage.on || c->revision != rs->stage.revision ||
	    c->chunk_index != rs->stage.next || c->chunk_count != rs->stage.count) {
		rs_status(st, RPC_FAILED_PRECONDITION, "chunk_index",
			  "chunk %u/%u of revision %llu does not continue the staged snapshot",
			  c->chunk_index, c->chunk_count, (unsigned long long)c->revision);
		err = -ESTALE;
		goto out;
	}
	for (unsigned k = 0; k < RULESET_NKINDS && !err; k++) {
		size_t n;
		ProtobufCMessage **v = pbf_repeated(&c->base, ruleset_kinds[k]->chunk_field, &n);

		for (size_t i = 0; i < n && !err; i++)
			err = stage_push(rs, v[i], ruleset_kinds[k]);
	}
	if (err)
		rs_status(st, RPC_RESOURCE_EXHAUSTED, "", "out of memory staging the snapshot");
	else
		rs->stage.next++;
out:
	pthread_mutex_unlock(&rs->lock);
	return err;
}

struct seen {
	UT_hash_handle hh;
	char key[]; /* the kind's index as a character, then the id */
};

/* Refuses an id that appears twice within a kind: the hash would lie about the set. */
static int unique_ids(struct item *const *items, size_t n, struct rpc_status *st)
{
	struct seen *seen = NULL, *e, *tmp;
	int err = 0;

	for (size_t j = 0; j < n && !err; j++) {
		char k[RS_ID_MAX + 1];

		snprintf(k, sizeof(k), "%c%s", '0' + items[j]->kind->index, items[j]->id);
		HASH_FIND_STR(seen, k, e);
		if (e) {
			rs_status(st, RPC_INVALID_ARGUMENT, "id", "id %s appears twice",
				  items[j]->id);
			err = -EINVAL;
			break;
		}
		e = malloc(sizeof(*e) + strlen(k) + 1);
		if (!e) {
			err = -ENOMEM;
			break;
		}
		strcpy(e->key, k);
		HASH_ADD_STR(seen, key, e);
	}
	HASH_ITER(hh, seen, e, tmp)
	{
		HASH_DEL(seen, e);
		free(e);
	}
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

int rs_items_from(ProtobufCMessage *const *msgs, const struct ruleset_kind *const *kinds, size_t n,
		  const char *want_hash, struct item ***out, struct rpc_status *st)
{
	struct item **items = calloc(n + 1, sizeof(*items));
	int err = 0;

	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = rs_item_make(kinds[i], msgs[i], &items[i], st);
	if (!err)
		err = rs_items_check(items, n, want_hash, st);
	if (err) {
		for (size_t j = 0; j < n; j++)
			rs_item_free(items[j]);
		free(items);
		return err;
	}
	*out = items;
	return 0;
}

int ruleset_stage_commit(struct ruleset *rs, struct rpc_status *st)
{
	struct item **items = NULL;
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
	err =
	    rs_items_from(rs->stage.msgs, rs->stage.kinds, rs->stage.n, rs->stage.hash, &items, st);
	if (err)
		goto out;
	err = rs_install(rs, items, rs->stage.n, rs->stage.revision, st);
	if (err) {
		for (size_t i = 0; i < rs->stage.n; i++)
			rs_item_free(items[i]);
		goto out;
	}
	rs_persist_snapshot(rs);
	log_info("snapshot installed: revision %llu, %zu rules, %zu whitelist entries",
		 (unsigned long long)rs->revision, rs->count[ruleset_rules.index],
		 rs->count[ruleset_whitelist.index]);
out:
	free(items);
	rs_stage_clear(rs);
	pthread_mutex_unlock(&rs->lock);
	return err;
}
