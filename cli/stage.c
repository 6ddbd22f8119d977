// SPDX-License-Identifier: MIT
/*
 * stage: a set larger than one batch sent to the controller as ONE change (a staged
 * import, docs/api.md "Import and export"): chunks of --batch-size items name one stage
 * and their offset, CTL_STAGE_INFLIGHT of them in flight at once (the controller checks
 * and holds one while the next arrives), and the last chunk commits the whole set. A
 * refused chunk ends the import: the controller drops the stage, nothing is stored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct run {
	struct ctl *c;
	const struct ctl_stage *g;
	char name[48];
	size_t chunks, next, sent;
	pthread_mutex_t lock;
	int rc; /* the first failure's exit code */
	struct rpc_status st;
};

/* One call with chunk i of the set (the commit when i is the last). */
static int send_chunk(struct run *r, size_t i, ProtobufCMessage **resp, struct rpc_status *st)
{
	const struct ctl_stage *g = r->g;
	Xdrop__V1__StagePart part = XDROP__V1__STAGE_PART__INIT;
	Xdrop__V1__BatchCreateRulesRequest rq = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	Xdrop__V1__BatchCreateWhitelistRequest wq = XDROP__V1__BATCH_CREATE_WHITELIST_REQUEST__INIT;
	Xdrop__V1__ReplaceSourceRequest sq = XDROP__V1__REPLACE_SOURCE_REQUEST__INIT;
	size_t at = i * r->c->batch, m = g->n - at < r->c->batch ? g->n - at : r->c->batch;
	ProtobufCMessage *req;

	part.stage = r->name;
	part.offset = (uint32_t)at;
	part.commit = i + 1 == r->chunks;
	part.total = part.commit ? (uint32_t)g->n : 0;
	if (g->source) {
		sq.source = (char *)g->source;
		sq.rules = (Xdrop__V1__Rule **)g->msgs + at;
		sq.n_rules = m;
		sq.dry_run = g->dry_run;
		sq.stage = &part;
		req = &sq.base;
	} else if (g->kind == &kind_rules) {
		rq.rules = (Xdrop__V1__Rule **)g->msgs + at;
		rq.n_rules = m;
		rq.atomic = true;
		rq.stage = &part;
		req = &rq.base;
	} else {
		wq.entries = (Xdrop__V1__WhitelistEntry **)g->msgs + at;
		wq.n_entries = m;
		wq.atomic = true;
		wq.stage = &part;
		req = &wq.base;
	}
	return ctl_call_st(r->c, g->kind->svc, g->source ? "ReplaceSource" : "BatchCreate", req,
			   resp, CTL_BATCH_TIMEOUT_MS, st);
}

/* Records the first failure; true while there is none. */
static bool note(struct run *r, int rc, const struct rpc_status *st)
{
	bool ok;

	pthread_mutex_lock(&r->lock);
	if (rc && !r->rc) {
		r->rc = rc;
		r->st = *st;
	}
	ok = !r->rc;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

/* A sender thread: the chunks before the last, each once, until one fails. */
static void *sender(void *arg)
{
	struct run *r = arg;

	for (;;) {
		struct rpc_status st = {0};
		ProtobufCMessage *resp = NULL;
		size_t i;
		int rc;

		pthread_mutex_lock(&r->lock);
		i = r->next++;
		pthread_mutex_unlock(&r->lock);
		if (i + 1 >= r->chunks)
			break;
		rc = send_chunk(r, i, &resp, &st);
		ctl_msg_free(resp);
		if (!note(r, rc, &st))
			break;
		pthread_mutex_lock(&r->lock);
		r->sent++;
		if (r->c->progress > 0)
			ctl_progress(r->c, "sending", r->sent * r->c->batch, r->g->n);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

int ctl_stage_send(struct ctl *c, const struct ctl_stage *g, ProtobufCMessage **out,
		   bool *unsupported)
{
	struct run r = {.c = c, .g = g, .chunks = (g->n + c->batch - 1) / c->batch};
	pthread_t th[CTL_STAGE_INFLIGHT];
	int started = 0, rc;

	*out = NULL;
	*unsupported = false;
	pthread_mutex_init(&r.lock, NULL);
	ctl_request_id_new(r.name, sizeof(r.name));
	/* the first chunk alone: a server without staged imports (an agent) refuses it */
	rc = send_chunk(&r, 0, out, &r.st);
	if (rc && r.st.code == RPC_UNIMPLEMENTED) {
		*unsupported = true;
		goto done;
	}
	ctl_msg_free(*out);
	*out = NULL;
	r.next = 1;
	if (note(&r, rc, &r.st)) {
		for (int i = 0; i < CTL_STAGE_INFLIGHT; i++)
			if (pthread_create(&th[started], NULL, sender, &r) == 0)
				started++;
		if (!started)
			sender(&r);
		for (int i = 0; i < started; i++)
			pthread_join(th[i], NULL);
	}
	if (!r.rc && r.chunks > 1) { /* every chunk held: the commit */
		struct rpc_status st = {0};

		note(&r, send_chunk(&r, r.chunks - 1, out, &st), &st);
	}
	rc = r.rc;
	if (rc) {
		ctl_rpc_fail(&r.st);
		fprintf(stderr, "xdropctl: the import is refused as a whole: nothing was stored\n");
		ctl_msg_free(*out);
		*out = NULL;
	}
done:
	pthread_mutex_destroy(&r.lock);
	return rc;
}
