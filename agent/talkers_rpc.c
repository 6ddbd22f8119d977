// SPDX-License-Identifier: MIT
/*
 * talkers_rpc: see talkers_rpc.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "talkers_rpc.h"

/* The engine's answer into the reply; its strings are allocated with the call. */
static enum rpc_code fill_reply(struct rpc_call *call, const struct talkers_result *res,
				Xdrop__V1__TopTalkersReply *r)
{
	r->span_s = res->span_s;
	r->samples = res->samples;
	r->total_packets = res->total_packets;
	r->total_bytes = res->total_bytes;
	r->talkers = rpc_call_alloc(call, (res->n + 1) * sizeof(*r->talkers));
	if (!r->talkers)
		return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
	for (size_t i = 0; i < res->n; i++) {
		const struct talker *k = &res->talkers[i];
		Xdrop__V1__Talker *m = rpc_call_alloc(call, sizeof(*m));

		if (!m)
			return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
		xdrop__v1__talker__init(m);
		m->key = rpc_call_strdup(call, k->key);
		if (!m->key)
			return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
		m->packets = k->packets;
		m->bytes = k->bytes;
		m->pps = k->pps;
		m->bps = k->bps;
		m->share = k->share;
		m->error_packets = k->error_packets;
		r->talkers[r->n_talkers++] = m;
	}
	return RPC_OK;
}

enum rpc_code talkers_rpc_top(struct rpc_call *call, const ProtobufCMessage *req,
			      ProtobufCMessage *resp, void *arg)
{
	const struct talkers_rpc *tr = arg;
	const Xdrop__V1__TopTalkersRequest *q = (const void *)req;
	Xdrop__V1__TopTalkersReply *r = (void *)resp;
	struct talkers_query tq = {0};
	struct talkers_result *res;
	struct talkreq ck;
	const char *field, *self = tr->node_id ? tr->node_id : "";
	char why[160];
	enum rpc_code code;
	int err;

	if (talkreq_check(q, &ck, &field, why, sizeof(why)))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, field, "%s", why);
	tq.by = (enum talkers_by)ck.by;
	tq.verdict = (enum talkers_verdict)ck.verdict;
	tq.window_s = ck.window_s;
	tq.limit = ck.limit;
	if (q->node_id && *q->node_id && strcmp(q->node_id, self))
		return rpc_call_error(call, RPC_NOT_FOUND, "node_id",
				      "node_id: this agent is node \"%s\", not \"%s\"", self,
				      q->node_id);
	r->by = (char *)talkers_by_name(tq.by);
	r->verdict = (char *)talkreq_verdict_names[ck.verdict];
	r->window_s = tq.window_s;
	r->at = clock_wall_ns();
	if (!tr->t || !talkers_rate(tr->t))
		return RPC_OK; /* sampling off: sample_rate 0 and no figures say so */
	r->sample_rate = talkers_rate(tr->t);
	res = malloc(sizeof(*res)); /* ~9 KiB: not on a worker's stack */
	if (!res)
		return rpc_call_error(call, RPC_INTERNAL, NULL, "out of memory");
	tq.now_ms = clock_mono_ms();
	err = talkers_query(tr->t, &tq, res);
	code = err ? rpc_call_error(call, RPC_INTERNAL, NULL, "top talkers: %s", strerror(-err))
		   : fill_reply(call, res, r);
	free(res);
	return code;
}
