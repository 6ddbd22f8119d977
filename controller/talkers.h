/* SPDX-License-Identifier: MIT */
/*
 * talkers: StatsService.TopTalkers, the heaviest sources, prefixes, destinations or ports
 * of the cluster's sampled traffic, from AgentService.TopTalkers on the nodes.
 *
 * A request is checked as the agent checks it (talkers_check, by lib/talkreq). For the whole
 * cluster (node_id ""), every reachable node (online, syncing or out of sync) is asked in parallel
 * (controller/fanout.h: each call bounded by XDROP_STATS_AGENT_TIMEOUT_MS and all by
 * XDROP_TALKERS_DEADLINE_MS) for talkers_node_limit(limit) keys, so that a key heavy on the cluster
 * but lighter on each node still makes the merged list. Replies are merged by key: packets, bytes,
 * pps, bps and error_packets summed; share = merged packets / the sum of the nodes' total_packets.
 * nodes lists the nodes whose figures are included, missing_nodes those asked that did
 * not answer (offline nodes are not asked; see the node list). A key may be missing from a
 * node's shorter list: the merged figure is then a lower bound, by at most that node's
 * smallest listed figure.
 */
#ifndef XDROP_CONTROLLER_TALKERS_H
#define XDROP_CONTROLLER_TALKERS_H

#include <stddef.h>
#include <stdint.h>

#include "nodes.h"
#include "rpc.h"
#include "talkreq.h"
#include "xdrop.pb-c.h"

#define XDROP_TALKERS_DEADLINE_MS 3000

/* A checked request: the defaults filled in. */
struct talkers_req {
	const char *by;	     /* "src" | "src_prefix" | "dst" | "dst_port" */
	const char *verdict; /* "dropped" | "passed" */
	uint32_t window_s;   /* 10 | 60 | 300 */
	uint32_t limit;	     /* 1..100 */
	const char *node_id; /* "" = the cluster */
};

/* An error for the caller to send: its code, the field at fault (or NULL), a message. */
struct talkers_err {
	enum rpc_code code;
	const char *field;
	char msg[256];
};

/* Checks req (as the agent does) into *q (strings borrowed from req or static). Returns
 * 0, or -EINVAL with *e naming the field. */
int talkers_check(const Xdrop__V1__TopTalkersRequest *req, struct talkers_req *q,
		  struct talkers_err *e);

/* How many keys each node is asked for when the cluster's limit is limit (4x, at most
 * TALKREQ_LIMIT_MAX). */
uint32_t talkers_node_limit(uint32_t limit);

/*
 * Answers q from the nodes: *out (xdrop__v1__top_talkers_reply__free_unpacked). Returns 0,
 * or a negative errno with *e set: NOT_FOUND (no node q->node_id), UNAVAILABLE (that node
 * is offline or did not answer; the message names it), or the node's own error.
 */
int talkers_query(struct nodes *nodes, const struct talkers_req *q,
		  Xdrop__V1__TopTalkersReply **out, struct talkers_err *e);

#endif
