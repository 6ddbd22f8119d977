// SPDX-License-Identifier: MIT
/*
 * service_sync: SyncService (revision, snapshots in chunks from a small cache, deltas from
 * the change log; see service.h) and HealthService.Ping.
 */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#include "service_int.h"

static void free_deltas_v(void *v, size_t n)
{
	store_free_deltas(v, n);
}

/* ---- SyncService ------------------------------------------------------------------------------
 */

enum rpc_code sync_revision(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			    void *arg)
{
	RESP(Xdrop__V1__RevisionInfo, out);
	struct service *s = svc_of(arg);
	struct store_rev rev;

	store_revision(s->store, &rev);
	resp->revision = rev.revision;
	resp->content_hash = rpc_call_strdup(call, rev.hash);
	resp->rules = rev.rules;
	resp->whitelist = rev.whitelist;
	return RPC_OK;
}

/* Lock held: the cached snapshot of revision rev (0 = build the latest). A revision that
 * is no longer cached (dropped when idle, or pushed out) is built again while it is still
 * the store's: only a set that moved on makes a node start again from chunk 0. */
static int snap_find(struct service *s, uint64_t rev, struct store_snapshot **out)
{
	struct store_rev cur;
	struct store_snapshot *snap = NULL;
	bool latest = rev == 0;
	int err;

	*out = NULL;
	s->snap_used_ms = clock_mono_ms();
	store_revision(s->store, &cur);
	if (latest)
		rev = cur.revision;
	for (int i = 0; i < XDROP_SNAPSHOT_CACHE; i++)
		if (s->snaps[i] && s->snaps[i]->revision == rev)
			*out = s->snaps[i];
	if (*out)
		return 0;
	if (!latest && rev != cur.revision)
		return -ESTALE;
	err = store_snapshot(s->store, &snap);
	if (err)
		return err;
	store_snapshot_free(s->snaps[XDROP_SNAPSHOT_CACHE - 1]);
	memmove(&s->snaps[1], &s->snaps[0], (XDROP_SNAPSHOT_CACHE - 1) * sizeof(s->snaps[0]));
	s->snaps[0] = snap;
	if (!latest && snap->revision != rev)
		return -ESTALE; /* a write came between: kept as the newest */
	*out = snap;
	return 0;
}

static size_t item_len(const struct store_snapshot *snap, size_t i)
{
	return i < snap->nrules ? snap->rules[i].len : snap->wl[i - snap->nrules].len;
}

/* Chunk boundaries: at most max items and XDROP_SNAPSHOT_CHUNK_BYTES per chunk (one item
 * at least). Fills *count and, for chunk `want`, [*from, *to). */
static void chunk_bounds(const struct store_snapshot *snap, size_t max, uint32_t want,
			 uint32_t *count, size_t *from, size_t *to)
{
	size_t total = snap->nrules + snap->nwl, start = 0;
	uint32_t c = 0;

	*from = *to = 0;
	while (start < total || c == 0) {
		size_t end = start, bytes = 0;

		while (end < total && end - start < max &&
		       (end == start || bytes + item_len(snap, end) <= XDROP_SNAPSHOT_CHUNK_BYTES))
			bytes += item_len(snap, end++);
		if (c == want) {
			*from = start;
			*to = end;
		}
		c++;
		start = end;
		if (start >= total)
			break;
	}
	*count = c;
}

/* Items [from, to) of snap into resp (decoded from the store's bytes). */
static enum rpc_code fill_items(struct rpc_call *call, const struct store_snapshot *snap,
				size_t from, size_t to, Xdrop__V1__SnapshotChunk *resp)
{
	resp->rules = rpc_call_alloc(call, (to - from + 1) * sizeof(*resp->rules));
	resp->whitelist = rpc_call_alloc(call, (to - from + 1) * sizeof(*resp->whitelist));
	if (!resp->rules || !resp->whitelist)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = from; i < to; i++) {
		ProtobufCMessage *m;

		if (i < snap->nrules)
			m = protobuf_c_message_unpack(&xdrop__v1__rule__descriptor, NULL,
						      snap->rules[i].len, snap->rules[i].data);
		else
			m = protobuf_c_message_unpack(&xdrop__v1__whitelist_entry__descriptor, NULL,
						      snap->wl[i - snap->nrules].len,
						      snap->wl[i - snap->nrules].data);
		if (!m)
			return rpc_call_error(call, RPC_INTERNAL, NULL, "stored entry undecodable");
		rpc_call_defer(call, free_msg, m);
		if (i < snap->nrules)
			resp->rules[resp->n_rules++] = (Xdrop__V1__Rule *)m;
		else
			resp->whitelist[resp->n_whitelist++] = (Xdrop__V1__WhitelistEntry *)m;
	}
	return RPC_OK;
}

/* Lock held: the packed chunk idx of revision rev, or the slot to pack it into (evicted,
 * its bytes freed, *hit false). */
static struct packed_chunk *packed_slot(struct service *s, uint64_t rev, uint32_t idx, bool *hit)
{
	struct packed_chunk *p, *lru = &s->packed[0];

	for (int i = 0; i < XDROP_SNAPSHOT_PACKED; i++) {
		p = &s->packed[i];
		if (p->bytes.data && p->revision == rev && p->index == idx) {
			*hit = true;
			p->used = ++s->packed_uses;
			return p;
		}
		if (p->used < lru->used)
			lru = p;
	}
	*hit = false;
	free(lru->bytes.data);
	memset(lru, 0, sizeof(*lru));
	return lru;
}

/* Lock held: resp filled as chunk idx (items [from, to)) of snap; in the agents' chunk
 * size, served from (and the first time packed into) s->packed. */
static enum rpc_code fill_chunk(struct rpc_call *call, struct service *s,
				const struct store_snapshot *snap, size_t max, uint32_t idx,
				size_t from, size_t to, Xdrop__V1__SnapshotChunk *resp)
{
	struct packed_chunk *p;
	enum rpc_code rc;
	bool hit;

	if (max != XDROP_SNAPSHOT_MAX_ITEMS)
		return fill_items(call, snap, from, to, resp);
	p = packed_slot(s, snap->revision, idx, &hit);
	if (!hit) {
		rc = fill_items(call, snap, from, to, resp);
		if (rc != RPC_OK)
			return rc;
		p->bytes.len = protobuf_c_message_get_packed_size(&resp->base);
		p->bytes.data = malloc(p->bytes.len ? p->bytes.len : 1);
		if (!p->bytes.data)
			return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		protobuf_c_message_pack(&resp->base, p->bytes.data);
		p->revision = snap->revision;
		p->index = idx;
		p->used = ++s->packed_uses;
	}
	if (rpc_call_set_packed(call, p->bytes.data, p->bytes.len))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	return RPC_OK;
}

/* A node fetched the last chunk of a snapshot: hand the memory its replies took back to
 * the system, at most once a second. Without it the reply buffers of a fleet fetching at
 * once stay in glibc's per-thread arenas: a controller that served 1,000 nodes kept its
 * peak (~1 GiB, bench/fleet.sh) long after. */
static void trim_after_snapshot(void)
{
	static _Atomic int64_t last_ms;
	int64_t now = clock_mono_ms(), prev = atomic_load(&last_ms);

	if (now - prev < XDROP_SNAPSHOT_TRIM_MS ||
	    !atomic_compare_exchange_strong(&last_ms, &prev, now))
		return;
	malloc_trim(0);
}

/* A tick: the cache and the packed chunks are freed once no node asked for a chunk in
 * XDROP_SNAPSHOT_IDLE_MS (a million rules keep ~130 MiB there), and the memory trimmed. */
static void snap_idle(void *arg)
{
	struct service *s = arg;
	bool freed = false;

	pthread_mutex_lock(&s->snap_lock);
	if (clock_mono_ms() - s->snap_used_ms > XDROP_SNAPSHOT_IDLE_MS) {
		for (int i = 0; i < XDROP_SNAPSHOT_CACHE; i++) {
			freed |= s->snaps[i] != NULL;
			store_snapshot_free(s->snaps[i]);
			s->snaps[i] = NULL;
		}
		for (int i = 0; i < XDROP_SNAPSHOT_PACKED; i++) {
			freed |= s->packed[i].bytes.data != NULL;
			free(s->packed[i].bytes.data);
			memset(&s->packed[i], 0, sizeof(s->packed[i]));
		}
	}
	pthread_mutex_unlock(&s->snap_lock);
	if (freed)
		malloc_trim(0);
}

int snap_idle_start(struct service *s)
{
	struct ticker_opts o = {.sz = sizeof(o),
				.name = "snapidle",
				.period_ms = XDROP_SNAPSHOT_IDLE_MS / 4,
				.fn = snap_idle,
				.arg = s};

	return ticker_start(&s->snap_idle, &o);
}

enum rpc_code sync_snapshot(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			    void *arg)
{
	REQ(Xdrop__V1__SnapshotRequest, r);
	RESP(Xdrop__V1__SnapshotChunk, out);
	struct service *s = svc_of(arg);
	struct store_snapshot *snap;
	size_t max = req->max_items ? req->max_items : XDROP_SNAPSHOT_CHUNK_ITEMS, from, to;
	uint32_t count = 0;
	enum rpc_code rc = RPC_OK;
	int err;

	/* max_items is the caller's preference: larger asks get the largest chunk served */
	if (max > XDROP_SNAPSHOT_MAX_ITEMS)
		max = XDROP_SNAPSHOT_MAX_ITEMS;
	if (req->revision == 0 && req->chunk_index != 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "revision",
				      "chunks after 0 name the revision chunk 0 returned");
	pthread_mutex_lock(&s->snap_lock);
	err = snap_find(s, req->revision, &snap);
	if (err == -ESTALE) {
		rc = rpc_call_error(call, RPC_FAILED_PRECONDITION, "revision",
				    "snapshot of revision %llu is gone; start again from chunk 0",
				    (unsigned long long)req->revision);
		goto out;
	}
	if (err) {
		rc = store_fail(call, err, NULL);
		goto out;
	}
	chunk_bounds(snap, max, req->chunk_index, &count, &from, &to);
	if (req->chunk_index >= count) {
		rc = rpc_call_error(call, RPC_INVALID_ARGUMENT, "chunk_index", "chunk %u of %u",
				    req->chunk_index, count);
		goto out;
	}
	resp->revision = snap->revision;
	resp->content_hash = rpc_call_strdup(call, snap->hash);
	resp->chunk_index = req->chunk_index;
	resp->chunk_count = count;
	resp->total_rules = snap->nrules;
	resp->total_whitelist = snap->nwl;
	rc = fill_chunk(call, s, snap, max, req->chunk_index, from, to, resp);
out:
	pthread_mutex_unlock(&s->snap_lock);
	if (rc == RPC_OK && req->chunk_index + 1 == count)
		trim_after_snapshot();
	return rc;
}

/* Deltas below this many bytes are served whatever the set's size: a snapshot would cost
 * a round trip too. */
#define DELTAS_MIN_BYTES (16 * 1024)

/* Whether deltas v[0..n) are more bytes than a snapshot of the whole set (estimated as its
 * entries at the mean size of the entries the deltas upsert) and DELTAS_MIN_BYTES: the
 * node is then better off with the snapshot, so GetDeltas says complete = false. */
static bool deltas_cost_more(struct service *s, Xdrop__V1__Delta *const *v, size_t n)
{
	uint64_t bytes = 0, upserts = 0, upsert_bytes = 0, per_entry;
	struct store_rev rev;

	for (size_t i = 0; i < n; i++) {
		bytes += xdrop__v1__delta__get_packed_size(v[i]);
		for (size_t j = 0; j < v[i]->n_ops; j++) {
			const Xdrop__V1__DeltaOp *o = v[i]->ops[j];

			if (o->op_case == XDROP__V1__DELTA_OP__OP_UPSERT_RULE ||
			    o->op_case == XDROP__V1__DELTA_OP__OP_UPSERT_WHITELIST) {
				upserts++;
				upsert_bytes += xdrop__v1__delta_op__get_packed_size(o);
			}
		}
	}
	store_revision(s->store, &rev);
	per_entry = upserts ? upsert_bytes / upserts : 64;
	return bytes > DELTAS_MIN_BYTES && bytes > (rev.rules + rev.whitelist) * per_entry;
}

enum rpc_code sync_deltas(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__DeltasRequest, r);
	RESP(Xdrop__V1__DeltaList, out);
	struct service *s = svc_of(arg);
	Xdrop__V1__Delta **v = NULL;
	size_t n = 0;
	bool complete = false;
	int err = store_deltas(s->store, req->from_revision, req->max, &v, &n, &complete);

	if (err)
		return store_fail(call, err, NULL);
	if (complete && n && deltas_cost_more(s, v, n)) {
		store_free_deltas(v, n);
		v = NULL;
		n = 0;
		complete = false;
	}
	defer_arr(call, v, n, free_deltas_v);
	resp->deltas = v;
	resp->n_deltas = n;
	resp->complete = complete;
	return RPC_OK;
}

/* ---- HealthService --------------------------------------------------------------------------- */

enum rpc_code health_ping(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__PingRequest, r);
	RESP(Xdrop__V1__PingReply, out);

	resp->data = req->data;
	resp->at = clock_wall_ns();
	resp->server = rpc_call_strdup(call, "xdrop-controller");
	return RPC_OK;
}

/* The methods registered through idem_handler: every write with a lasting outcome. */
