/* SPDX-License-Identifier: MIT */
/*
 * fanout: one AgentService call to many nodes at once, bounded in time whatever the node
 * count: at most XDROP_FANOUT_THREADS calls run together (the caller's thread is one of
 * them), each gets at most per_call_ms and none starts after total_ms. Used for the
 * cluster's top talkers (controller/talkers.c) and exact rule counters (controller/stats.c).
 */
#ifndef XDROP_CONTROLLER_FANOUT_H
#define XDROP_CONTROLLER_FANOUT_H

#include <stddef.h>

#include "nodes.h"
#include "rpc.h"

#define XDROP_FANOUT_THREADS 16

/* One node's call: its target (borrowed), the reply (NULL: no answer; then st says why). */
struct fanout_job {
	const struct node_target *t;
	ProtobufCMessage *rep; /* protobuf_c_message_free_unpacked, or fanout_free */
	struct rpc_status st;
};

/*
 * Calls AgentService.method with req on every jobs[i].t (address, node token, the nodes'
 * TLS settings), filling jobs[i].rep and .st; returns when all are done.
 */
void fanout_call(struct nodes *nodes, const char *method, const ProtobufCMessage *req,
		 struct fanout_job *jobs, size_t n, unsigned per_call_ms, unsigned total_ms);

/* Frees the replies of jobs[0..n) (not the array). */
void fanout_free(struct fanout_job *jobs, size_t n);

#endif
