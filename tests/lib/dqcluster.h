/* SPDX-License-Identifier: MIT */
/*
 * dqcluster: a real dqlite cluster for a test, made of xdrop-dqlite-node processes
 * (build/bin, or XDROP_DQLITE_NODE) on free random loopback ports, in a scratch directory:
 * node 1 bootstraps, the others join through the project's client. Processes are stopped
 * by PID (and die with the test: PR_SET_PDEATHSIG). Used by test_dqlite_cluster, the store
 * suites on dqlite (test_store_dqlite) and test_dqlite_tls. Include after <cmocka.h>.
 *
 *   dqcluster_start()          3 nodes (NODES), all started; dqcluster_stop() ends them
 *   dqcluster_init(n, name)    n nodes (up to DQC_MAX_NODES) made ready to start; set
 *                              cl.extra (arguments every node gets, e.g. --tls-*), then
 *   dqcluster_start_all(k)     nodes 1..k, each joining through the ones before it
 *   node_try_start(i, join, more)  node i with more arguments: 0, or -1 when it exited or
 *                              was not ready (node_start(i, join) asserts it started)
 */
#ifndef XDROP_TESTS_DQCLUSTER_H
#define XDROP_TESTS_DQCLUSTER_H

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "tmpdir.h"

#define NODES	      3
#define DQC_MAX_NODES 5
#define DQC_MAX_ARGS  12
#define START_MS      30000 /* a node serving (and joined) */

struct node {
	pid_t pid;
	uint64_t id;
	char addr[32];
	char dir[160];
	char out[176];
};

static struct cluster {
	char dir[96];
	const char *bin;
	int count; /* nodes made by dqcluster_init */
	struct node n[DQC_MAX_NODES];
	const char *addrs[DQC_MAX_NODES];
	const char *extra[DQC_MAX_ARGS]; /* arguments every node gets, NULL-ended */
} cl;

static inline bool port_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* A run of n free ports at a random high base (other suites run beside this one). */
static inline int pick_base_port(int n)
{
	srand((unsigned)(getpid() ^ clock_mono_ns()));
	for (int tries = 0; tries < 200; tries++) {
		int base = 20000 + rand() % 40000, k;

		for (k = 0; k < n && port_free(base + k); k++)
			;
		if (k == n)
			return base;
	}
	return -1;
}

static inline bool file_has(const char *path, const char *word)
{
	char buf[4096] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, word) != NULL;
}

/* In the child: node n's program with its arguments, its output in n->out. */
static inline void node_exec(const struct node *n, const char *join, const char *const *more)
{
	const char *argv[16 + 2 * DQC_MAX_ARGS];
	char id[24];
	int k = 0, fd = open(n->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	/* A test that dies (a suite timeout) takes its nodes with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(fd, 1);
	dup2(fd, 2);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)n->id);
	argv[k++] = cl.bin;
	argv[k++] = "--id";
	argv[k++] = id;
	argv[k++] = "--address";
	argv[k++] = n->addr;
	argv[k++] = "--dir";
	argv[k++] = n->dir;
	if (join) {
		argv[k++] = "--join";
		argv[k++] = join;
	}
	for (int a = 0; a < DQC_MAX_ARGS && cl.extra[a]; a++)
		argv[k++] = cl.extra[a];
	for (int a = 0; more && a < DQC_MAX_ARGS && more[a]; a++)
		argv[k++] = more[a];
	argv[k] = NULL;
	execv(cl.bin, (char *const *)argv);
	_exit(127);
}

/* Starts node i with join (NULL: none) and more arguments (NULL-ended, may be NULL), and
 * waits until it prints "ready": 0, or -1 (said on stderr) when it exited or timed out. */
static inline int node_try_start(int i, const char *join, const char *const *more)
{
	struct node *n = &cl.n[i];
	int64_t deadline = clock_mono_ms() + START_MS;

	unlink(n->out);
	n->pid = fork();
	if (n->pid < 0)
		return -1;
	if (n->pid == 0)
		node_exec(n, join, more);
	while (!file_has(n->out, "ready")) {
		int st;

		if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
			n->pid = 0;
			fprintf(stderr, "# node %d exited before it was ready (see %s)\n", i + 1,
				n->out);
			return -1;
		}
		if (clock_mono_ms() > deadline) {
			fprintf(stderr, "# node %d not ready within %d ms (see %s)\n", i + 1,
				START_MS, n->out);
			return -1;
		}
		usleep(20000);
	}
	return 0;
}

/* Starts node i (its output in n->out) with join (NULL: none); fails the test if it does
 * not become ready. */
static inline void node_start(int i, const char *join)
{
	if (node_try_start(i, join, NULL) < 0)
		fail_msg("node %d did not start (see %s)", i + 1, cl.n[i].out);
}

static inline void node_kill(int i)
{
	if (cl.n[i].pid > 0) {
		kill(cl.n[i].pid, SIGKILL);
		waitpid(cl.n[i].pid, NULL, 0);
	}
	cl.n[i].pid = 0;
}

static inline int node_index(const char *addr)
{
	for (int i = 0; i < cl.count; i++)
		if (!strcmp(cl.n[i].addr, addr))
			return i;
	return -1;
}

/* Makes n nodes ready to start (ids 1..n, free ports, directories under a new scratch
 * directory named after name): 0, or -1 when the node program, ports or a scratch directory
 * are missing. */
static inline int dqcluster_init(int n, const char *name)
{
	int base;

	memset(&cl, 0, sizeof(cl));
	signal(SIGPIPE, SIG_IGN);
	cl.bin = getenv("XDROP_DQLITE_NODE") ? getenv("XDROP_DQLITE_NODE")
					     : "build/bin/xdrop-dqlite-node";
	if (n < 1 || n > DQC_MAX_NODES || access(cl.bin, X_OK) != 0)
		return -1;
	base = pick_base_port(n);
	if (base < 0 || tmpdir_make(cl.dir, sizeof(cl.dir), name) < 0)
		return -1;
	cl.count = n;
	for (int i = 0; i < n; i++) {
		struct node *d = &cl.n[i];

		d->id = (uint64_t)i + 1;
		snprintf(d->addr, sizeof(d->addr), "127.0.0.1:%d", base + i);
		snprintf(d->dir, sizeof(d->dir), "%s/node%d", cl.dir, i + 1);
		snprintf(d->out, sizeof(d->out), "%s/node%d.out", cl.dir, i + 1);
		cl.addrs[i] = d->addr;
	}
	return 0;
}

/* Starts nodes 1..k (node 1 bootstraps, each other joins through the ones before it):
 * 0, or -1 when one did not start. */
static inline int dqcluster_start_all(int k)
{
	char join[DQC_MAX_NODES * 32] = "";

	for (int i = 0; i < k && i < cl.count; i++) {
		if (node_try_start(i, i ? join : NULL, NULL) < 0)
			return -1;
		snprintf(join + strlen(join), sizeof(join) - strlen(join), "%s%s", i ? "," : "",
			 cl.n[i].addr);
	}
	return 0;
}

/* Starts the 3-node cluster: 0, or -1 when it cannot. */
static inline int dqcluster_start(void)
{
	if (dqcluster_init(NODES, "xdrop-dq") < 0)
		return -1;
	return dqcluster_start_all(NODES);
}

/* Kills every node and removes the scratch directory. */
static inline int dqcluster_stop(void)
{
	for (int i = 0; i < cl.count; i++)
		node_kill(i);
	if (cl.dir[0])
		tmpdir_remove(cl.dir);
	return 0;
}

#endif
