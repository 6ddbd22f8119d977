/* SPDX-License-Identifier: MIT */
/*
 * talkers_rpc: the agent's TopTalkers RPC (AgentService.TopTalkers, and
 * StatsService.TopTalkers for the gateway in node mode, which asks the agent the
 * StatsService questions it would ask a controller): the request checked by lib/talkreq,
 * the engine (agent/talkers.h) queried, its answer put into a TopTalkersReply.
 */
#ifndef XDROP_TALKERS_RPC_H
#define XDROP_TALKERS_RPC_H

#include "rpc.h"
#include "talkers.h"
#include "xdrop.pb-c.h"

/* The handler's argument. t NULL: sampling is off (an empty reply with sample_rate 0).
 * node_id: this agent's id (NULL or "": none); a request naming another node is refused. */
struct talkers_rpc {
	struct talkers *t;
	const char *node_id;
};

/* The rpc_handler_fn of TopTalkers; arg is a struct talkers_rpc. */
enum rpc_code talkers_rpc_top(struct rpc_call *call, const ProtobufCMessage *req,
			      ProtobufCMessage *resp, void *arg);

#endif
