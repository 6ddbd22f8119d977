/* SPDX-License-Identifier: MIT */
/*
 * cluster: the controller's own dqlite node, when its config has a cluster section
 * (issue 18; docs/dqlite.md). Without one the controller keeps its embedded SQLite file
 * and nothing here runs.
 *
 * Config (cluster_cfg.c): cluster.id (this controller's Raft id, never reused), cluster.address
 * (HOST:PORT the node serves its peers and the store on, spelled the same everywhere),
 * cluster.dir (its Raft log and snapshots) and cluster.peers (the other controllers'
 * cluster addresses). Id 1 with an empty dir bootstraps a new cluster of itself; any other
 * controller joins through the peers as a voter (idempotent: a restart changes nothing).
 *
 * cluster_start runs the node (libdqlite's threads) and returns once it serves and is a
 * member; the store then opens cluster_target()'s database through the cluster's leader.
 * A watcher thread asks the node who leads every XDROP_CLUSTER_WATCH_MS, keeps the answer
 * and logs a change at once; another thread calls on_role after each tick with it (true:
 * this controller leads; a node that does not answer is not leading), so that the
 * controller publishes only while it leads and takes in what the others wrote
 * (store_set_publishing, store_catch_up) without a slow store delaying the next look.
 * While the node knows no leader (an election, or this side of a partition has no
 * quorum), or leads without its lease (controller/lease.h: a majority of the voters has not
 * named it leader for XDROP_LEASE_MS), the store's dqlite sessions are gated shut
 * (dq_session_set_gate): every store call fails at once with "no leader" instead of
 * searching for one, and a lapse cuts the calls waiting in dqlite (dq_session_cut_all),
 * so a leader cut off from the majority answers UNAVAILABLE within XDROP_LEASE_MS of the
 * cut (before libraft steps down, one to two election timeouts after it).
 */
#ifndef XDROP_CONTROLLER_CLUSTER_H
#define XDROP_CONTROLLER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XDROP_CLUSTER_DB	 "controller.db" /* the database's name on the cluster */
#define XDROP_CLUSTER_DIR	 "/var/lib/xdrop/cluster"
#define XDROP_CLUSTER_MAX_PEERS	 15
#define XDROP_CLUSTER_WATCH_MS	 100
#define XDROP_CLUSTER_LATENCY_MS 50 /* heartbeat 75 ms, election timeout 750 ms */
#define XDROP_CLUSTER_TARGET_MAX 4096
#define XDROP_CLUSTER_SETTLE_MS	 30000 /* the writes at start, retried across leader changes */

struct config;
struct tls_opts;

struct ctl_cluster_cfg {
	uint64_t id; /* 0: no cluster (the default) */
	const char *address, *dir;
	const char *const *peers; /* owned by the config */
	size_t n_peers;
	/* the controller's tls settings when they name a CA and a certificate: every dqlite
	 * connection is then mutual TLS (lib/dqtls); NULL: plain TCP */
	const struct tls_opts *tls;
};

/* Reads the cluster.* keys of c into *out: 0, or -EINVAL with the error recorded at the
 * key (config_fail). No key at all is fine: id 0. */
int ctl_cluster_cfg_load(struct config *c, struct ctl_cluster_cfg *out);

/* Writes the store's target ("dqlite://ADDRESS,PEER,.../controller.db") into buf. 0, or
 * -ENAMETOOLONG. */
int cluster_target(const struct ctl_cluster_cfg *cfg, char *buf, size_t len);

struct cluster;
typedef void (*cluster_role_fn)(void *arg, bool leader);

/* Starts the node and joins (within XDROP_DQ_JOIN_TIMEOUT_MS), then the watcher. 0 and *out,
 * or -errno (logged). */
int cluster_start(struct cluster **out, const struct ctl_cluster_cfg *cfg, cluster_role_fn on_role,
		  void *arg);

/* For a process that only talks to the cluster (backup.h): no node, no watcher; with
 * cfg->tls every lib/dqlite connection of the process dials with mutual TLS. 0 and *out
 * (end it with cluster_stop), or -errno (logged). */
int cluster_client(struct cluster **out, const struct ctl_cluster_cfg *cfg);

/* True while this controller's node leads (as the watcher last saw it). */
bool cluster_is_leader(const struct cluster *c);

/* The id of the leader this controller's node knows (as the watcher last saw it); 0 for
 * none (and for NULL). */
uint64_t cluster_leader_id(const struct cluster *c);

/* Stops the watcher: on_role is not called after it returns (NULL-tolerant, idempotent). */
void cluster_unwatch(struct cluster *c);

/* Stops the watcher and the node (NULL-tolerant). */
void cluster_stop(struct cluster *c);

#endif
