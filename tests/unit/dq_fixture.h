/* SPDX-License-Identifier: MIT */
/*
 * dq_fixture: a cluster of xdrop-dqlite-node processes (tests/tools/) for the cmocka
 * suites that need a real dqlite cluster: free loopback ports at a random high base,
 * nodes started with fork/exec (their output in DIR/nodeN.out) and awaited until they
 * print "ready", stopped by PID (and killed with the test through PR_SET_PDEATHSIG).
 */
#ifndef XDROP_TEST_DQ_FIXTURE_H
#define XDROP_TEST_DQ_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DQF_MAX_NODES 5
#define DQF_MAX_ARGS  12
#define DQF_START_MS  30000 /* a node serving (and joined) */

struct dqf_node {
	pid_t pid;
	uint64_t id;
	char addr[32];
	char dir[160];
	char out[176];
};

struct dqf {
	char dir[96];
	const char *bin;
	int n;
	struct dqf_node node[DQF_MAX_NODES];
	const char *addrs[DQF_MAX_NODES];
	const char *extra[DQF_MAX_ARGS]; /* arguments every node gets (--tls-...), NULL-ended */
};

/* Fills f for n nodes (ids 1..n, free ports, directories under a new scratch dir).
 * 0, or -1 when the node program or a scratch dir is missing. */
int dqf_init(struct dqf *f, int n, const char *name);

/*
 * Starts node i with join (NULL: none) and the extra arguments (f->extra, then more,
 * NULL-ended, may be NULL) and waits until it is ready; returns 0, or -1 when it exited
 * or was not ready within DQF_START_MS (its output says why).
 */
int dqf_start(struct dqf *f, int i, const char *join, const char *const *more);

/* Starts node 1 (bootstrap), then nodes 2..count, each joining through the ones before
 * it (count <= f->n: the others are left for the test). */
int dqf_start_all(struct dqf *f, int count);

/* kill -9 of node i (if running), reaped. */
void dqf_kill(struct dqf *f, int i);

/* Stops every node and removes the scratch directory. */
void dqf_fini(struct dqf *f);

/* The index of the node with address addr, or -1. */
int dqf_index(const struct dqf *f, const char *addr);

/* True when file path contains word. */
bool dqf_file_has(const char *path, const char *word);

#endif
