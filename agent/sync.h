/* SPDX-License-Identifier: MIT */
/*
 * sync: keeps the agent's rule set at the controller's (docs/sync.md). Deltas arrive on a
 * SUB socket and are applied in order (those that arrive together in one switch); a gap, a
 * reconnect or start-up catches up from the controller's change log (GetDeltas) when it
 * covers the gap, else (and on a hash mismatch) fetches a snapshot over RPC, chunk by
 * chunk, staged and verified before one switch.
 * While the controller is unreachable the last applied set stays in force.
 */
#ifndef XDROP_SYNC_H
#define XDROP_SYNC_H

#include <stdbool.h>

#include "rpc.h"
#include "ruleset.h"
#include "tls.h"

struct sync;

struct sync_opts {
	const char *node_id;
	const char *node_key;
	const char *rpc_url;  /* controller SyncService */
	const char *push_url; /* controller PUB */
	const struct tls_opts *tls;
};

int sync_start(struct sync **out, struct ruleset *rs, const struct sync_opts *o);
void sync_stop(struct sync *s);

/* Force sync: catches up from the change log when it covers the gap (at least one delta
 * applied), else fetches and installs a snapshot. Returns 0 or -errno with *st filled;
 * -EBUSY (UNAVAILABLE) at once when a fetch is already running. */
int sync_now(struct sync *s, struct rpc_status *st);

/* Snapshots installed, deltas applied, resyncs asked for. */
void sync_counts(struct sync *s, uint64_t *snapshots, uint64_t *deltas, uint64_t *resyncs);

#endif
