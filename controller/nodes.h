/* SPDX-License-Identifier: MIT */
/*
 * nodes: what the controller knows about each registered node right now.
 *
 * It keeps, per node, the key (to verify beacons and build the node token), the last
 * verified beacon, and the node's state, derived from the beacons against the store's
 * revision and content hash (docs/sync.md, "Health"):
 *   online       the beacon's revision and hash equal the controller's
 *   syncing      its revision is behind
 *   out_of_sync  same revision and another hash, or ahead
 *   offline      no beacon for XDROP_NODE_OFFLINE_INTERVALS intervals
 *   unknown      never heard from since the controller started
 * Every change of status is logged, both ways, with the node's name and id ("node edge-1
 * (n1) back online after 12 s ...", "... offline: no beacon for 3 s ...").
 * A node that stays behind (does not reach the revision it was first seen behind, and its
 * revision has not moved for XDROP_NODE_REPAIR_INTERVALS intervals: a node that moves is
 * busy, not stuck, and so is one whose beacons name a snapshot it fetches or installs, for
 * up to XDROP_NODE_SNAPSHOT_MAX_MS) or out of sync for more than XDROP_NODE_REPAIR_INTERVALS
 * intervals is told to resync (AgentService.ForceSync over its RPC address with its node token: the
 * agent catches up from the change log when it covers the gap, else takes a snapshot), at
 * most once per XDROP_NODE_REPAIR_INTERVALS intervals, on a thread of its own so that a
 * dead node never slows the health loop.
 *
 * Every registered node is tracked: the table is rebuilt from the store's rows, as many as
 * there are, on each nodes_reload().
 *
 * The beacon collector (pubsub SUB, listening) runs on its own thread and the health loop
 * on a ticker (lib/ticker: four passes a beacon interval on the monotonic clock); every
 * public function is thread-safe.
 */
#ifndef XDROP_CONTROLLER_NODES_H
#define XDROP_CONTROLLER_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "tls.h"
#include "xdrop.pb-c.h"

#define XDROP_NODE_OFFLINE_INTERVALS 3
#define XDROP_NODE_REPAIR_INTERVALS  2
/* A node whose beacons say it fetches or installs a snapshot is not forced for this long */
#define XDROP_NODE_SNAPSHOT_MAX_MS  (10 * 60 * 1000)
#define XDROP_NODE_KEY_BYTES	    24 /* random bytes of a generated key (48 hex digits) */
#define XDROP_FORCE_SYNC_TIMEOUT_MS 2000

enum node_status {
	NODE_UNKNOWN,
	NODE_ONLINE,
	NODE_SYNCING,
	NODE_OUT_OF_SYNC,
	NODE_OFFLINE,
};

const char *node_status_name(enum node_status st);

struct nodes;

struct nodes_opts {
	size_t sz;		    /* sizeof(struct nodes_opts) */
	struct store *store;	    /* borrowed: node rows and the current revision */
	const char *health_url;	    /* SUB listen URL for beacons; NULL: none (tests feed) */
	const struct tls_opts *tls; /* for the health socket and calls to agents */
	unsigned interval_ms;	    /* beacon interval; 0 = 1000 */
	bool repair;		    /* force-sync nodes that stay behind (default on in main) */
};

/*
 * Checks a node's RPC address as registered through the API: a URL the controller can dial,
 * tcp:// tcp4:// tcp6:// tls+tcp:// tls+tcp4:// tls+tcp6:// (host:port, port 1-65535),
 * ipc:// (a path) or inproc:// (tests). Returns 0, or -EINVAL with *why set to a static
 * reason.
 */
int nodes_check_address(const char *url, const char **why);

/* Loads the nodes from the store and starts the collector and health loop. */
int nodes_open(struct nodes **out, const struct nodes_opts *opts);
void nodes_close(struct nodes *n);

/* Re-reads the node rows (after a create, update or delete); keeps the live state. */
int nodes_reload(struct nodes *n);

/* Outcome of revision `rev` right now: nodes, applied, pending, failed, and with alloc
 * (NULL: none) one error per failed node, allocated with alloc(ctx, size) (strings too;
 * freed with ctx's memory, e.g. an RPC call's). */
void nodes_outcome(struct nodes *n, uint64_t rev, Xdrop__V1__SyncOutcome *out,
		   void *(*alloc)(void *ctx, size_t size), void *ctx);

/*
 * Fills node's live fields (status, filtering, status_since, applied_revision,
 * content_hash, last_seen, version, stats) from the state of node->id. filtering is
 * "active" (reachable: online, syncing or out of sync, and its program attached),
 * "inactive" (reachable, not attached), "presumed" (offline, attached at its last report:
 * a pinned program filters on without its agent) or "unknown". stats are the last
 * reported figures with at = the beacon's sent_at, and stale when the beacon is older
 * than the health timeout (an offline node's figures are kept, never shown as current). String
 * fields and stats are allocated with rpc_call_alloc-style allocator alloc(ctx, size) so they live
 * as long as node.
 */
void nodes_fill(struct nodes *n, Xdrop__V1__Node *node, void *(*alloc)(void *ctx, size_t size),
		void *ctx);

/* The status of a node (NODE_UNKNOWN for unknown ids too). */
enum node_status nodes_status(struct nodes *n, const char *id);

/*
 * Calls AgentService.ForceSync on the node now (blocking, bounded by
 * XDROP_FORCE_SYNC_TIMEOUT_MS) unless it is offline. *out gets nodes = 1 and one of
 * applied (its reply's revision is current), pending, failed. Returns 0, -ENOENT.
 */
int nodes_force_sync(struct nodes *n, const char *id, Xdrop__V1__SyncOutcome *out);

/* Feeds one beacon frame (topic included) as if received; for tests. */
int nodes_feed(struct nodes *n, const void *frame, size_t len);

/*
 * Visits the latest beacon of every node that is not offline or unknown, under the lock:
 * fn must not call nodes_* functions. b is borrowed.
 */
void nodes_each_beacon(struct nodes *n,
		       void (*fn)(void *arg, const char *id, const Xdrop__V1__Beacon *b),
		       void *arg);

/* A node to call (AgentService): its id, name, RPC address and node token. */
struct node_target {
	char *id, *name, *addr, *token; /* addr may be NULL for nodes_targets(only) */
	enum node_status status;
	int64_t silent_ms; /* since its last beacon; -1 = never heard from */
};

/*
 * The nodes to call for a fan-out: with only NULL, every node that is online, syncing or
 * out of sync and has an address; with only, that node whatever its status (the caller
 * checks it). *out is an array of *count (nodes_free_targets). Returns 0, -ENOENT (only
 * names no node) or -ENOMEM.
 */
int nodes_targets(struct nodes *n, const char *only, struct node_target **out, size_t *count);
void nodes_free_targets(struct node_target *v, size_t n);

/* The ids of every registered node (each and the array freed with free()). 0 or -ENOMEM. */
int nodes_ids(struct nodes *n, char ***out, size_t *count);

/*
 * Calls fn(arg, node id, beacon) with every accepted beacon (b borrowed for the call),
 * under the nodes' lock: fn must not call nodes_* functions. NULL removes it.
 */
void nodes_set_beacon_hook(struct nodes *n,
			   void (*fn)(void *arg, const char *id, const Xdrop__V1__Beacon *b),
			   void *arg);

/* The store the nodes were opened on (nodes_opts.store). */
struct store *nodes_store(struct nodes *n);

/* The health timeout: a node silent this long is offline and its figures stale. */
int64_t nodes_health_timeout_ms(const struct nodes *n);

/* The TLS settings for calls to nodes (nodes_opts.tls, copied at open), or NULL: what
 * every caller of an agent's RPC address passes as rpc_client_opts.tls. */
const struct tls_opts *nodes_tls(struct nodes *n);

/* Counters for tests and stats: force syncs attempted and succeeded. */
uint64_t nodes_force_syncs(struct nodes *n, uint64_t *ok);

#endif
