// SPDX-License-Identifier: MIT
/*
 * service_stage: staged imports. A BatchCreate or ReplaceSource whose `stage` is set is a
 * chunk of a larger set: its items are validated as the store validates them and held
 * here (packed, by their offset in the set), nothing is written. The chunk with `commit`
 * hands the whole set to the ordinary handler, which stores it as ONE change (one
 * revision). A refused chunk drops its stage, so a later commit of it is refused too and
 * nothing of it is ever stored. Chunks may arrive in any order (a client sends several at
 * once); the commit needs every item of `total`.
 *
 * Bounds: XDROP_STAGES stages at once, XDROP_STAGE_MAX_ITEMS items each; a stage no call
 * touched for XDROP_STAGE_IDLE_MS is dropped when the next stage call comes.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "service_int.h"

struct stage {
	char name[XDROP_STAGE_NAME_MAX + 1];
	const char *method; /* "BatchCreate" or "ReplaceSource": a stage serves one */
	enum store_kind kind;
	ProtobufCBinaryData *items; /* by offset; data NULL until it arrived */
	size_t cap, received;
	int64_t touched_ms;
};

struct stages {
	pthread_mutex_t lock;
	struct stage *v[XDROP_STAGES];
};

static void stage_free(struct stage *g)
{
	for (size_t i = 0; g && i < g->cap; i++)
		free(g->items[i].data);
	if (g)
		free(g->items);
	free(g);
}

struct stages *stages_new(void)
{
	struct stages *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void stages_free(struct stages *t)
{
	if (!t)
		return;
	for (int i = 0; i < XDROP_STAGES; i++)
		stage_free(t->v[i]);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Lock held: the slot of name, or of a free (or idle, freed now) slot when make; NULL. */
static struct stage **slot_of(struct stages *t, const char *name, bool make)
{
	int64_t now = clock_mono_ms();
	struct stage **free_slot = NULL;

	for (int i = 0; i < XDROP_STAGES; i++) {
		if (t->v[i] && !strcmp(t->v[i]->name, name))
			return &t->v[i];
		if (t->v[i] && now - t->v[i]->touched_ms > XDROP_STAGE_IDLE_MS) {
			stage_free(t->v[i]);
			t->v[i] = NULL;
		}
		if (!t->v[i] && !free_slot)
			free_slot = &t->v[i];
	}
	return make ? free_slot : NULL;
}

/* Lock held: items[0..n) of the chunk at offset into g (validated first). */
static enum rpc_code hold(struct rpc_call *call, const struct svc_coll *c, struct stage *g,
			  size_t offset, ProtobufCMessage *const *in, size_t n)
{
	struct store_error e = {0};
	int64_t now = clock_wall_ns();
	char pfx[48];

	if (offset + n > XDROP_STAGE_MAX_ITEMS)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "stage.offset",
				      "a staged set holds at most %d %s", XDROP_STAGE_MAX_ITEMS,
				      c->items);
	for (size_t i = 0; i < n; i++) { /* checked as prepared (an id, times) for the store */
		char id[XDROP_UUID_LEN];
		union {
			Xdrop__V1__Rule r;
			Xdrop__V1__WhitelistEntry w;
		} tmp;

		snprintf(pfx, sizeof(pfx), "%s[%zu]", c->items, offset + i);
		c->prepare(in[i], &tmp.r.base, id, now);
		if (store_check_item(&tmp.r.base, pfx, &e) < 0)
			return store_fail(call, -EINVAL, &e);
	}
	if (offset + n > g->cap) {
		size_t nc = offset + n > 2 * g->cap ? offset + n : 2 * g->cap;
		ProtobufCBinaryData *v = realloc(g->items, nc * sizeof(*v));

		if (!v)
			return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		memset(v + g->cap, 0, (nc - g->cap) * sizeof(*v));
		g->items = v;
		g->cap = nc;
	}
	for (size_t i = 0; i < n; i++) {
		ProtobufCBinaryData *b = &g->items[offset + i];

		if (b->data)
			return rpc_call_error(call, RPC_INVALID_ARGUMENT, "stage.offset",
					      "%s[%zu] arrived twice", c->items, offset + i);
		b->len = protobuf_c_message_get_packed_size(in[i]);
		b->data = malloc(b->len + 1);
		if (!b->data)
			return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		protobuf_c_message_pack(in[i], b->data);
		g->received++;
	}
	return RPC_OK;
}

/* After a staged commit's reply (deferred first, so it runs after the set is freed): the
 * memory of a million small messages goes back to the system instead of staying in the
 * allocator's arenas (a 1M-rule import left the controller at 1 GiB without it). */
static void trim(void *unused)
{
	(void)unused;
	malloc_trim(0);
}

static void free_msgs(void *v, size_t n)
{
	ProtobufCMessage **m = v;

	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(m[i], NULL);
	free(m);
}

/* The whole set of g, unpacked (freed with the call); g's bytes are freed as it goes. */
static enum rpc_code unpack_all(struct rpc_call *call, const struct svc_coll *c, struct stage *g,
				size_t total, ProtobufCMessage ***all)
{
	const ProtobufCMessageDescriptor *d = c->kind == STORE_RULES
						  ? &xdrop__v1__rule__descriptor
						  : &xdrop__v1__whitelist_entry__descriptor;
	ProtobufCMessage **v = calloc(total + 1, sizeof(*v));

	if (!v || defer_arr(call, v, total, free_msgs) < 0)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	for (size_t i = 0; i < total; i++) {
		v[i] = protobuf_c_message_unpack(d, NULL, g->items[i].len, g->items[i].data);
		free(g->items[i].data);
		g->items[i].data = NULL;
		if (!v[i])
			return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	}
	*all = v;
	return RPC_OK;
}

enum rpc_code stage_take(struct rpc_call *call, struct service *s, const struct svc_coll *c,
			 const char *method, const Xdrop__V1__StagePart *p,
			 ProtobufCMessage *const *in, size_t n, struct stage_out *out)
{
	struct stages *t = s->stages;
	struct stage **sl, *g;
	enum rpc_code rc;

	memset(out, 0, sizeof(*out));
	if (!p->stage || !p->stage[0] || strlen(p->stage) > XDROP_STAGE_NAME_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "stage.stage",
				      "a stage is named by 1..%d bytes", XDROP_STAGE_NAME_MAX);
	pthread_mutex_lock(&t->lock);
	sl = slot_of(t, p->stage, p->offset == 0 || !p->commit);
	if (!sl && p->commit && p->offset)
		rc = rpc_call_error(call, RPC_FAILED_PRECONDITION, "stage.stage",
				    "no stage \"%.64s\" (refused, or idle for %d s): nothing was "
				    "stored",
				    p->stage, XDROP_STAGE_IDLE_MS / 1000);
	else if (!sl)
		rc = rpc_call_error(call, RPC_UNAVAILABLE, "stage.stage",
				    "%d staged imports are running; try again later", XDROP_STAGES);
	if (!sl)
		goto out;
	if (!*sl) {
		*sl = calloc(1, sizeof(**sl));
		if (!*sl) {
			rc = rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
			goto out;
		}
		snprintf((*sl)->name, sizeof((*sl)->name), "%s", p->stage);
		(*sl)->method = method;
		(*sl)->kind = c->kind;
	}
	g = *sl;
	g->touched_ms = clock_mono_ms();
	if (g->method != method || g->kind != c->kind)
		rc = rpc_call_error(call, RPC_INVALID_ARGUMENT, "stage.stage",
				    "stage \"%.64s\" holds a different request", p->stage);
	else
		rc = hold(call, c, g, p->offset, in, n);
	if (rc == RPC_OK && p->commit && (p->total != g->received || p->total > g->cap))
		rc = rpc_call_error(call, RPC_FAILED_PRECONDITION, "stage.total",
				    "%zu of %u %s staged: nothing was stored", g->received,
				    p->total, c->items);
	if (rc == RPC_OK && p->commit) {
		rpc_call_defer(call, trim, NULL); /* (run at once without memory: harmless) */
		rc = unpack_all(call, c, g, p->total, &out->all);
	}
	out->staged = g->received;
	out->n = p->total;
	if (rc != RPC_OK || p->commit) { /* refused, or handed over: the stage ends */
		stage_free(g);
		*sl = NULL;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}
