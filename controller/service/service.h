/* SPDX-License-Identifier: MIT */
/*
 * service: the controller's RPC handlers, registered on an rpc_server for RuleService,
 * WhitelistService, NodeService, StatsService, KeyService, SyncService, HealthService and
 * ClusterService
 * (proto/xdrop.proto). Handlers translate between messages and the modules (store, nodes,
 * stats); they validate only what is theirs (paging, sort names, masks) and pass the
 * store's field-naming errors through. Every write replies with its SyncOutcome as known
 * at reply time, without waiting for any node. With deps->idem, every write method is
 * registered through idem_handler (controller/idempotency.h): a resend with the same
 * request id is answered with the first outcome. Write handlers fill their response before
 * the store commits (all but the SyncOutcome), because the record made at COMMIT holds it.
 *
 * Snapshots (SyncService.GetSnapshot, docs/sync.md): chunk 0 with revision 0 reads the
 * whole rule set once, in one read transaction, and caches it by revision (the last
 * XDROP_SNAPSHOT_CACHE of them); later chunks are served from the cache, so every chunk of
 * one snapshot carries the same revision and hash. A revision no longer cached is
 * FAILED_PRECONDITION. A chunk holds at most max_items entries (default
 * XDROP_SNAPSHOT_CHUNK_ITEMS) and at most XDROP_SNAPSHOT_CHUNK_BYTES of them. Chunks of
 * the agents' size (XDROP_SNAPSHOT_MAX_ITEMS) are serialized once and kept, the last
 * XDROP_SNAPSHOT_PACKED used: nodes that fetch the same snapshot together (a fleet after a
 * controller restart, new nodes) cost one serialization, not one each. The cache holds
 * the set's packed bytes (about 110 B a rule), so it is dropped once no node asked for a
 * chunk for XDROP_SNAPSHOT_IDLE_MS; a chunk of a revision that is still the store's is
 * then served from a snapshot read again, so only a fetch that paused while the set moved
 * on starts again from chunk 0.
 */
#ifndef XDROP_CONTROLLER_SERVICE_H
#define XDROP_CONTROLLER_SERVICE_H

#include "nodes.h"
#include "rpc.h"
#include "stats.h"
#include "store.h"
#include "xdrop_limits.h"

#define XDROP_SNAPSHOT_CHUNK_ITEMS 1000
#define XDROP_SNAPSHOT_CHUNK_BYTES (8u * 1024 * 1024)
#define XDROP_SNAPSHOT_CACHE	   2
#define XDROP_SNAPSHOT_PACKED	   4	/* packed chunks kept for nodes fetching the same one */
#define XDROP_SNAPSHOT_TRIM_MS	   1000 /* free memory returned at most this often */
#define XDROP_SNAPSHOT_IDLE_MS	   3000 /* cache kept this long after the last chunk asked */

struct service;

struct idem;

struct service_deps {
	struct store *store;
	struct nodes *nodes;
	struct stats *stats;
	struct idem *idem; /* NULL: request ids are not honoured (controller/idempotency.h) */
	/* ClusterService: the dqlite address of every controller (none: "not clustered");
	 * with TLS, lib/dqlite's default dialer (controller/cluster.c) serves it */
	const char *const *cluster_peers;
	size_t n_cluster_peers;
};

/* Registers every handler on srv (before rpc_server_start). Returns 0 and *out
 * (service_free, after the server is closed) or -errno. */
int service_register(struct service **out, struct rpc_server *srv, const struct service_deps *d);

void service_free(struct service *s);

#endif
