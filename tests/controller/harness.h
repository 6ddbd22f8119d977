/* SPDX-License-Identifier: MIT */
/*
 * harness: an in-process controller (store, publisher, node health, stats, sweeper, RPC
 * server on loopback TCP) and toy agents for the controller's suites.
 *
 * A toy agent is what docs/sync.md asks of a node, built on the same lib/pubsub the real
 * agent uses: a delta subscriber applying ops to a rule set it hashes with lib/rulehash,
 * snapshots fetched chunk by chunk over SyncService with its node token, signed beacons
 * every interval, and an AgentService.ForceSync server. Switches let a test take it
 * offline (no beacons, no subscriber), drop a chosen delta before the subscriber sees it
 * (manual mode: the harness owns the SUB socket and feeds frames), or report a wrong
 * hash until it is told to resync.
 */
#ifndef XDROP_TEST_HARNESS_H
#define XDROP_TEST_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "idempotency.h"
#include "nodes.h"
#include "publish.h"
#include "rpc.h"
#include "rules.h"
#include "service.h"
#include "stats.h"
#include "store.h"

#define TEST_ADMIN_KEY "test-admin-key-0123456789"

struct ctl {
	char dir[64], db[96], push_url[64], health_url[64], rpc_url[64];
	unsigned interval_ms;
	struct store *store;
	struct idem *idem; /* request ids, as in the daemon */
	struct publish *pub;
	struct nodes *nodes;
	struct stats *stats;
	struct sweeper *sweeper;
	struct rpc_server *srv;
	struct service *svc;
	struct rpc_client *admin;
};

/* Starts a controller with beacon/heartbeat interval_ms in a fresh temp dir. */
void ctl_start(struct ctl *c, unsigned interval_ms);
/* The same with the store's busy_timeout set to busy_ms (0 = the default). */
void ctl_start_busy(struct ctl *c, unsigned interval_ms, unsigned busy_ms);
void ctl_stop(struct ctl *c);

/* cmocka group fixtures for a suite whose tests share one controller: ctl_group names it
 * and its interval (before cmocka_run_group_tests); the setup sets the log level to warn
 * and starts it, the teardown stops it. */
void ctl_group(struct ctl *c, unsigned interval_ms);
int ctl_group_setup(void **state);
int ctl_group_teardown(void **state);

/* A client with token (NULL: none). */
struct rpc_client *ctl_client(struct ctl *c, const char *token);

/* Calls and returns the status code; *resp (may be NULL) as rpc_client_call. */
enum rpc_code ctl_call(struct rpc_client *cl, const ProtobufCServiceDescriptor *svc,
		       const char *method, const void *req, void *resp, struct rpc_status *st);

/* Registers a node over RPC; its key into key (65 bytes). */
void ctl_add_node(struct ctl *c, const char *id, const char *address, char *key);

/* Creates a rule dropping 10.a.b.c (i) over RPC; returns the revision it produced. */
uint64_t ctl_add_rule(struct ctl *c, unsigned i);

struct agent;

enum agent_mode { AGENT_SOCKET, AGENT_MANUAL };

struct agent *agent_start(struct ctl *c, const char *id, const char *key, const char *rpc_url,
			  enum agent_mode mode);
void agent_stop(struct agent *a);

/* Offline: no beacons and no subscriber; back online: both again (a fresh SUB). */
void agent_set_online(struct agent *a, bool online);
/* Manual mode: the delta with this revision is dropped once (0 = none). */
void agent_drop_revision(struct agent *a, uint64_t rev);
/* Beacons report an exact-table capacity of exact_max (its rules in use; 0 = none). */
void agent_set_capacity(struct agent *a, uint64_t exact_max);
/* Each delta takes ms to apply from now on (a node that is busy, behind but moving). */
void agent_set_apply_ms(struct agent *a, unsigned ms);
/* Each snapshot chunk takes ms to fetch from now on (a large set); beacons name the
 * snapshot while it is fetched. */
void agent_set_chunk_ms(struct agent *a, unsigned ms);
/* Beacons report a wrong content hash until a snapshot is installed. */
void agent_corrupt(struct agent *a);

uint64_t agent_revision(struct agent *a, char hash[RULEHASH_HEX]);
unsigned agent_snapshots(struct agent *a);
unsigned agent_force_syncs(struct agent *a);

/* Waits until every agent is at the controller's revision and hash; returns the ms it
 * took or -1 after timeout_ms. */
long agents_wait_converged(struct ctl *c, struct agent **v, unsigned n, unsigned timeout_ms);

/* Waits until nodes_status(id) == st; ms or -1. */
long wait_status(struct ctl *c, const char *id, enum node_status st, unsigned timeout_ms);

long now_ms(void);

#endif
