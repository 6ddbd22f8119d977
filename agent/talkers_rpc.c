// SPDX-License-Identifier: MIT
/*
 * talkers_rpc: see talkers_rpc.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "talkers_rpc.h"

int talkers_rpc_check(const Xdrop__V1__TopTalkersRequest *req, struct talkers_query *q,
		      const char **field, const char **why)
{
	const char *by = req->by && *req->by ? req->by : "src";
	const char *verdict = req->verdict && *req->verdict ? req->verdict : "dropped";

	q->window_s = req->window_s ? req->window_s : 10;
	q->limit = req->limit ? req->limit : TALKERS_DEF_LIMIT;
	*field = *why = NULL;
	if (talkers_by_parse(by, &q->by)) {
		*field = "by";
		*why = "src, src_prefix, dst or dst_port";
	} else if (talkers_verdict_parse(verdict, &q->verdict)) {
		*field = "verdict";
		*why = "passed or dropped";
	} else if (q->window_s != 10 && q->window_s != 60 && q->window_s != 300) {
		*field = "window_s";
		*why = "10, 60 or 300 seconds";
	} else if (q->limit > TALKERS_MAX_LIMIT) {
		*field = "limit";
		*why = "1 to 100 talkers";
	}
	return *field ? -EINVAL : 0;
}

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
	const char *field, *why, *self = tr->node_id ? tr->node_id : "";
	enum rpc_code code;
	int err;

	if (talkers_rpc_check(q, &tq, &field, &why))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, field, "%s: %s", field, why);
	if (q->node_id && *q->node_id && strcmp(q->node_id, self))
		return rpc_call_error(call, RPC_NOT_FOUND, "node_id",
				      "node_id: this agent is node \"%s\", not \"%s\"", self,
				      q->node_id);
	r->by = (char *)talkers_by_name(tq.by);
	r->verdict = (char *)talkers_verdict_name(tq.verdict);
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
