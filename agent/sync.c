// SPDX-License-Identifier: MIT
/*
 * sync: see sync.h. The subscriber (lib/pubsub) orders deltas and detects gaps; this
 * module applies them to the rule set, catches up from the change log, and fetches
 * snapshots when the log does not cover a gap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pubsub.h"
#include "sync.h"
#include "xdrop_limits.h"

/* rules per snapshot chunk asked for (the controller may serve fewer) */
#define SYNC_CHUNK_ITEMS XDROP_SNAPSHOT_MAX_ITEMS
#define SYNC_ATTEMPTS	 3   /* restarts of a snapshot whose revision went away */
#define SYNC_DELTAS_PAGE 256 /* deltas asked for per GetDeltas call when catching up */
#define SYNC_DELTAS_MAX	 64  /* GetDeltas calls per catch-up before a snapshot is cheaper */
#define SYNC_WINDOW	 4   /* snapshot chunks fetched ahead of the one being staged */
#define SYNC_FETCHERS	 3   /* threads fetching them */

struct sync {
	struct ruleset *rs;
	struct rpc_client *rpc;
	struct pubsub_sub *sub;
	pthread_mutex_t fetch_lock; /* one snapshot fetch at a time */
	char *node_id;
	uint64_t snapshots, deltas, resyncs, catchups;
};

/* One GetSnapshot call: chunk idx of revision rev (0 = latest, chunk 0 only). */
static int get_chunk(struct sync *s, uint64_t rev, uint32_t idx, Xdrop__V1__SnapshotChunk **c,
		     struct rpc_status *st)
{
	Xdrop__V1__SnapshotRequest q = XDROP__V1__SNAPSHOT_REQUEST__INIT;
	int err;

	q.node_id = s->node_id;
	q.max_items = SYNC_CHUNK_ITEMS;
	q.revision = rev;
	q.chunk_index = idx;
	*c = NULL;
	err = rpc_client_call(s->rpc, &xdrop__v1__sync_service__descriptor, "GetSnapshot", &q.base,
			      (ProtobufCMessage **)c, st);
	if (!err && idx && ((*c)->revision != rev || (*c)->chunk_index != idx)) {
		st->code = RPC_FAILED_PRECONDITION;
		snprintf(st->message, sizeof(st->message),
			 "chunk %u of revision %llu answered as chunk %u of %llu", idx,
			 (unsigned long long)rev, (*c)->chunk_index,
			 (unsigned long long)(*c)->revision);
		xdrop__v1__snapshot_chunk__free_unpacked(*c, NULL);
		*c = NULL;
		err = -ESTALE;
	}
	return err;
}

/*
 * The chunks after chunk 0 of one snapshot, pipelined: SYNC_FETCHERS threads request
 * chunks in order, at most SYNC_WINDOW ahead of the one being staged, while the caller
 * stages them in order as they arrive (chunk i waits in slot i % SYNC_WINDOW). The
 * controller packs and sends chunk i+1.. while the agent stages chunk i. Each fetcher
 * makes its chunk's entries into items (ruleset_stage_prepare) before the chunk takes its
 * slot, so the stager only appends them, in order, and the per-entry work runs on all of
 * them at once.
 */
struct pipe {
	struct sync *s;
	uint64_t rev;
	uint32_t count;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t next;	/* next chunk to request */
	uint32_t taken; /* chunks the stager has taken out of their slots */
	int err;	/* the first failure (fetch or stage): everyone stops */
	struct rpc_status st;
	struct ruleset_batch *slot[SYNC_WINDOW];
};

static void *fetcher(void *arg)
{
	struct pipe *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		Xdrop__V1__SnapshotChunk *c;
		struct ruleset_batch *b = NULL;
		struct rpc_status st = {0};
		uint32_t idx;
		int err;

		while (!p->err && p->next < p->count && p->next >= p->taken + SYNC_WINDOW)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->err || p->next >= p->count)
			break;
		idx = p->next++;
		pthread_mutex_unlock(&p->lock);
		err = get_chunk(p->s, p->rev, idx, &c, &st);
		if (!err) {
			/* its entries made into items here, on this thread: the fetchers share
			 * the validation and hashing of a large snapshot */
			err = ruleset_stage_prepare(c, &b, &st);
			xdrop__v1__snapshot_chunk__free_unpacked(c, NULL);
		}
		pthread_mutex_lock(&p->lock);
		if (err && !p->err) {
			p->err = err;
			p->st = st;
		}
		if (!err)
			p->slot[idx % SYNC_WINDOW] = b;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Stages chunks 1..count-1 in order as the fetchers deliver them. */
static int stage_rest(struct pipe *p)
{
	for (uint32_t i = 1; i < p->count; i++) {
		struct ruleset_batch *b;
		struct rpc_status st = {0};
		int err;

		pthread_mutex_lock(&p->lock);
		while (!p->err && !p->slot[i % SYNC_WINDOW])
			pthread_cond_wait(&p->cond, &p->lock);
		b = p->slot[i % SYNC_WINDOW];
		p->slot[i % SYNC_WINDOW] = NULL;
		p->taken = i + 1;
		err = p->err;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (!b)
			return err;
		err = ruleset_stage_batch(p->s->rs, b, &st);
		if (err) {
			pthread_mutex_lock(&p->lock);
			if (!p->err) {
				p->err = err;
				p->st = st;
			}
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			return err;
		}
	}
	return 0;
}

static int fetch_rest(struct sync *s, uint64_t rev, uint32_t count, struct rpc_status *st)
{
	struct pipe p = {.s = s, .rev = rev, .count = count, .next = 1, .taken = 1};
	pthread_t th[SYNC_FETCHERS];
	int started = 0, err;

	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (int i = 0; i < SYNC_FETCHERS && (uint32_t)i + 1 < count; i++)
		if (pthread_create(&th[started], NULL, fetcher, &p) == 0)
			started++;
	if (!started) { /* no thread: one chunk at a time, here */
		err = -EAGAIN;
		st->code = RPC_RESOURCE_EXHAUSTED;
		snprintf(st->message, sizeof(st->message), "cannot start snapshot fetchers");
		goto out;
	}
	err = stage_rest(&p);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < SYNC_WINDOW; i++)
		ruleset_batch_free(p.slot[i]);
	if (err || p.err) {
		*st = p.st;
		err = err ? err : p.err;
	}
out:
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return err;
}

static int fetch_once(struct sync *s, struct rpc_status *st)
{
	Xdrop__V1__SnapshotChunk *c = NULL;
	uint64_t rev;
	uint32_t count;
	int err = get_chunk(s, 0, 0, &c, st);

	if (err)
		return err;
	rev = c->revision;
	count = c->chunk_count ? c->chunk_count : 1;
	ruleset_stage_begin(s->rs, rev, c->content_hash, count);
	err = ruleset_stage_chunk(s->rs, c, st);
	xdrop__v1__snapshot_chunk__free_unpacked(c, NULL);
	if (!err && count > 1)
		err = fetch_rest(s, rev, count, st);
	return err ? err : ruleset_stage_commit(s->rs, st);
}

/* One page of deltas after the applied revision, applied together. 1 when it applied
 * some and more may follow, 0 when there were none (caught up), -EAGAIN when the change
 * log does not cover the gap (or the controller finds a snapshot cheaper), or an error. */
static int catch_up_page(struct sync *s, struct rpc_status *st, size_t *napplied)
{
	Xdrop__V1__DeltasRequest q = XDROP__V1__DELTAS_REQUEST__INIT;
	Xdrop__V1__DeltaList *l = NULL;
	size_t applied = 0;
	int err;

	q.from_revision = ruleset_revision(s->rs);
	q.max = SYNC_DELTAS_PAGE;
	err = rpc_client_call(s->rpc, &xdrop__v1__sync_service__descriptor, "GetDeltas", &q.base,
			      (ProtobufCMessage **)&l, st);
	if (err)
		return err;
	if (!l->complete)
		err = -EAGAIN;
	else if (l->n_deltas)
		err = ruleset_apply_deltas(s->rs, l->deltas, l->n_deltas, st, &applied);
	xdrop__v1__delta_list__free_unpacked(l, NULL);
	*napplied += applied;
	s->deltas += applied;
	return err ? err : applied > 0;
}

/* Catches up from the controller's change log, when it covers the gap: one switch per page
 * of deltas instead of a snapshot of the whole set. 0 when at least one delta was applied
 * and the log has no more; else the caller takes a snapshot. */
static int catch_up(struct sync *s, struct rpc_status *st)
{
	uint64_t from = ruleset_revision(s->rs);
	size_t applied = 0;
	int err = 1;

	if (from == 0)
		return -EAGAIN; /* an empty node takes the whole set as a snapshot */
	for (int i = 0; i < SYNC_DELTAS_MAX && err == 1; i++)
		err = catch_up_page(s, st, &applied);
	if (err == 0 && applied == 0)
		err = -ENODATA; /* nothing after the applied revision */
	if (err == 1)
		err = -E2BIG;
	if (err == -ENODATA)
		return err;
	if (err) {
		log_info("catching up from revision %llu with deltas: %s; a snapshot instead",
			 (unsigned long long)from,
			 err == -EAGAIN	  ? "the change log does not cover the gap"
			 : st->message[0] ? st->message
					  : strerror(-err));
		return err;
	}
	s->catchups++;
	log_info("caught up from revision %llu to %llu with %zu deltas (no snapshot)",
		 (unsigned long long)from, (unsigned long long)ruleset_revision(s->rs), applied);
	return 0;
}

/* Whether the controller's revision and content hash are the applied ones. */
static bool at_controller(struct sync *s)
{
	Xdrop__V1__Empty q = XDROP__V1__EMPTY__INIT;
	Xdrop__V1__RevisionInfo *ri = NULL;
	struct rpc_status st = {0};
	char hash[RULEHASH_HEX];
	uint64_t rev;
	bool same;

	if (rpc_client_call(s->rpc, &xdrop__v1__sync_service__descriptor, "GetRevision", &q.base,
			    (ProtobufCMessage **)&ri, &st))
		return false;
	ruleset_published(s->rs, &rev, hash);
	same = ri->revision == rev && ri->content_hash && strcmp(ri->content_hash, hash) == 0;
	xdrop__v1__revision_info__free_unpacked(ri, NULL);
	return same;
}

/* After a catch-up or a snapshot: the subscriber continues from the applied revision. */
static void resume(struct sync *s)
{
	char hash[RULEHASH_HEX];

	ruleset_hash(s->rs, hash);
	pubsub_sub_set_revision(s->sub, ruleset_revision(s->rs), hash);
}

/* What a fetch tries first: a snapshot only; deltas, then a snapshot unless at least one
 * delta was applied (a forced sync); deltas, and when there is none after the applied
 * revision nothing more if the node is at the controller's revision and hash (a resync,
 * say after a reconnection), else a snapshot (a controller restored from a backup is
 * behind its nodes: they take its set at once). */
enum fetch_mode { FETCH_SNAPSHOT, FETCH_DELTAS_FIRST, FETCH_DELTAS_OR_CURRENT };

/* One fetch at a time. wait = false (ForceSync over RPC): a fetch already running is not
 * followed by a second full one queued behind it, holding an RPC worker for as long
 * (seconds with a large set): the caller is told to try again. */
static int fetch(struct sync *s, struct rpc_status *st, bool wait, enum fetch_mode mode,
		 const char *why)
{
	int err = -EAGAIN;

	if (wait) {
		pthread_mutex_lock(&s->fetch_lock);
	} else if (pthread_mutex_trylock(&s->fetch_lock)) {
		st->code = RPC_UNAVAILABLE;
		snprintf(st->message, sizeof(st->message),
			 "a snapshot fetch is already running; try again");
		return -EBUSY;
	}
	/* deltas when the change log covers the gap; a snapshot is the last resort */
	if (mode != FETCH_SNAPSHOT) {
		err = catch_up(s, st);
		if (err == 0 ||
		    (err == -ENODATA && mode == FETCH_DELTAS_OR_CURRENT && at_controller(s))) {
			err = 0;
			goto done;
		}
		err = -EAGAIN;
	}
	memset(st, 0, sizeof(*st));
	log_info("fetching a snapshot (%s)", why);
	for (int a = 0; a < SYNC_ATTEMPTS && err; a++) {
		err = fetch_once(s, st);
		/* the controller moved on while we fetched: start over at its latest */
		if (err && st->code != RPC_FAILED_PRECONDITION)
			break;
	}
	if (!err)
		s->snapshots++;
done:
	if (!err)
		resume(s);
	pthread_mutex_unlock(&s->fetch_lock);
	if (err)
		log_warn("snapshot from the controller failed: %s (%s); keeping revision %llu",
			 st->message[0] ? st->message : strerror(-err), rpc_code_name(st->code),
			 (unsigned long long)ruleset_revision(s->rs));
	return err;
}

static int on_delta(void *arg, const Xdrop__V1__Delta *d)
{
	struct sync *s = arg;
	struct rpc_status st = {0};
	int err = ruleset_apply_delta(s->rs, d, &st);

	if (!err && d->revision != d->base_revision)
		s->deltas++;
	if (err && err != -EBADMSG)
		log_warn("delta to revision %llu not applied: %s", (unsigned long long)d->revision,
			 st.message);
	return err;
}

/* Deltas that arrived together: applied in as few switches as they allow (ruleset). */
static int on_deltas(void *arg, Xdrop__V1__Delta *const *ds, size_t n, size_t *applied)
{
	struct sync *s = arg;
	struct rpc_status st = {0};
	int err = ruleset_apply_deltas(s->rs, ds, n, &st, applied);

	s->deltas += *applied;
	if (err && err != -EBADMSG && *applied < n)
		log_warn("delta to revision %llu not applied: %s",
			 (unsigned long long)ds[*applied]->revision, st.message);
	return err;
}

static void on_need_snapshot(void *arg, enum pubsub_resync_reason why, uint64_t applied,
			     uint64_t seen)
{
	struct sync *s = arg;
	struct rpc_status st = {0};
	enum fetch_mode mode = FETCH_DELTAS_OR_CURRENT;
	char text[96];

	s->resyncs++;
	snprintf(text, sizeof(text), "%s; applied %llu, seen %llu", pubsub_resync_reason_name(why),
		 (unsigned long long)applied, (unsigned long long)seen);
	/* a set that differs from the controller's is not repaired by deltas */
	if (why == PUBSUB_RESYNC_HASH || why == PUBSUB_RESYNC_APPLY_FAILED)
		mode = FETCH_SNAPSHOT;
	fetch(s, &st, true, mode, text);
}

int sync_start(struct sync **out, struct ruleset *rs, const struct sync_opts *o)
{
	struct sync *s = calloc(1, sizeof(*s));
	char token[XDROP_RPC_MAX_TOKEN], hash[RULEHASH_HEX];
	struct rpc_client_opts co = {.sz = sizeof(co),
				     .url = o->rpc_url,
				     .auth_token = token,
				     .timeout_ms = 10000,
				     .retries = 1,
				     .tls = o->tls};
	struct pubsub_opts po = {.sz = sizeof(po), .url = o->push_url, .tls = o->tls};
	struct pubsub_sub_ops ops = {
	    .apply = on_delta, .apply_batch = on_deltas, .need_snapshot = on_need_snapshot};
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->fetch_lock, NULL);
	s->rs = rs;
	s->node_id = strdup(o->node_id);
	snprintf(token, sizeof(token), "node:%s:%s", o->node_id, o->node_key);
	err = s->node_id ? rpc_client_open(&s->rpc, &co) : -ENOMEM;
	if (err) {
		log_error("controller rpc %s: %s", o->rpc_url, strerror(-err));
		goto fail;
	}
	ops.arg = s;
	ruleset_hash(rs, hash);
	err = pubsub_sub_open(&s->sub, &po, &ops, ruleset_revision(rs), hash);
	if (err) {
		log_error("controller push %s: %s", o->push_url, strerror(-err));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sync_stop(s);
	return err;
}

void sync_stop(struct sync *s)
{
	if (!s)
		return;
	pubsub_sub_close(s->sub);
	rpc_client_close(s->rpc);
	pthread_mutex_destroy(&s->fetch_lock);
	free(s->node_id);
	free(s);
}

int sync_now(struct sync *s, struct rpc_status *st)
{
	return fetch(s, st, false, FETCH_DELTAS_FIRST, "forced");
}

void sync_counts(struct sync *s, uint64_t *snapshots, uint64_t *deltas, uint64_t *resyncs)
{
	*snapshots = s->snapshots;
	*deltas = s->deltas;
	*resyncs = s->resyncs;
}
