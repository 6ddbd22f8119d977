/* SPDX-License-Identifier: MIT */
/*
 * xdrop_limits: the limits and defaults that more than one program must agree on, defined
 * once: the version every daemon reports, the largest batch, the list page sizes, the
 * history window, the default RPC addresses. A module that keeps an older name for one of
 * them defines it as this one (controller/store.h: XDROP_STORE_MAX_BATCH, ...), so that a
 * change here reaches the controller, the agent, the gateway and xdropctl alike. Limits
 * that only one module knows stay in that module's header.
 *
 * (Not "limits.h": with -Ilib that name would hide the C library's <limits.h>.)
 */
#ifndef XDROP_LIMITS_H
#define XDROP_LIMITS_H

/* What the agent, the controller and the gateway report as their version. */
#define XDROP_VERSION "0.1.0"

/* Rules, whitelist entries or ids in one batch: the controller's store refuses more, the
 * gateway's limits.batch_max_items defaults to it, xdropctl's --batch-size too. */
#define XDROP_BATCH_MAX 10000

/* Items in one staged import (chunks of at most XDROP_BATCH_MAX stored as one change by
 * the controller, docs/api.md "Import and export"): the controller's store takes a change
 * this large; xdropctl stages a file larger than one batch. */
#define XDROP_STAGE_MAX_ITEMS 4000000

/* Items in one List reply (rules, whitelist entries): the default when a request asks for
 * none, and the most a controller or an agent serves; xdropctl exports in pages of the
 * most. */
#define XDROP_LIST_DEFAULT 50
#define XDROP_LIST_MAX	   10000

/* Nodes in one NodeService.List reply: the controller serves at most this many, xdropctl's
 * `nodes list` asks for them all. */
#define XDROP_NODE_LIST_MAX 1000

/* Rules and entries in one snapshot chunk: the most a controller serves (and what an
 * agent asks for). */
#define XDROP_SNAPSHOT_MAX_ITEMS 10000

/* The longest statistics history, seconds: what a controller keeps at most, the longest
 * window StatsService.History serves and the gateway's /stats/history accepts. */
#define XDROP_HISTORY_MAX_S (24 * 3600)

/* Default RPC addresses: a controller's rpc.listen (xdropctl's --url, the gateway's
 * upstream), and an agent's. */
#define XDROP_CONTROLLER_RPC_URL "tcp://127.0.0.1:7700"
#define XDROP_AGENT_RPC_URL	 "tcp://127.0.0.1:7600"

#endif
