/* SPDX-License-Identifier: MIT */
/*
 * dqcluster: a real 3-node dqlite cluster for a test, made of xdrop-dqlite-node processes
 * (build/bin, or XDROP_DQLITE_NODE) on free random loopback ports, in a scratch directory:
 * node 1 bootstraps, nodes 2 and 3 join through the project's client. Processes are
 * stopped by PID (and die with the test: PR_SET_PDEATHSIG). Used by test_dqlite_cluster
 * and the store suites on dqlite (test_store_dqlite). Include after <cmocka.h>.
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

#define NODES	 3
#define START_MS 30000 /* a node serving (and joined) */

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
	struct node n[NODES];
	const char *addrs[NODES];
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

/* A run of NODES free ports at a random high base (other suites run beside this one). */
static inline int pick_base_port(void)
{
	srand((unsigned)(getpid() ^ clock_mono_ns()));
	for (int tries = 0; tries < 200; tries++) {
		int base = 20000 + rand() % 40000, k;

		for (k = 0; k < NODES && port_free(base + k); k++)
			;
		if (k == NODES)
			return base;
	}
	fail_msg("no free ports");
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

/* Starts node i (its output in n->out) with join (NULL: none) and waits for "ready". */
static inline void node_start(int i, const char *join)
{
	struct node *n = &cl.n[i];
	int64_t deadline = clock_mono_ms() + START_MS;
	char id[24];

	snprintf(id, sizeof(id), "%llu", (unsigned long long)n->id);
	unlink(n->out);
	n->pid = fork();
	assert_true(n->pid >= 0);
	if (n->pid == 0) {
		int fd = open(n->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* A test that dies (a suite timeout) takes its nodes with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		if (join)
			execl(cl.bin, cl.bin, "--id", id, "--address", n->addr, "--dir", n->dir,
			      "--join", join, (char *)NULL);
		else
			execl(cl.bin, cl.bin, "--id", id, "--address", n->addr, "--dir", n->dir,
			      (char *)NULL);
		_exit(127);
	}
	while (!file_has(n->out, "ready")) {
		int st;

		if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
			n->pid = 0;
			fail_msg("node %d exited before it was ready (see %s)", i + 1, n->out);
		}
		if (clock_mono_ms() > deadline)
			fail_msg("node %d not ready within %d ms (see %s)", i + 1, START_MS,
				 n->out);
		usleep(20000);
	}
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
	for (int i = 0; i < NODES; i++)
		if (!strcmp(cl.n[i].addr, addr))
			return i;
	return -1;
}

/* Starts the cluster: 0, or -1 when the node program or a scratch directory is missing. */
static inline int dqcluster_start(void)
{
	char join[80];
	int base;

	memset(&cl, 0, sizeof(cl));
	signal(SIGPIPE, SIG_IGN);
	cl.bin = getenv("XDROP_DQLITE_NODE") ? getenv("XDROP_DQLITE_NODE")
					     : "build/bin/xdrop-dqlite-node";
	if (access(cl.bin, X_OK) != 0 || tmpdir_make(cl.dir, sizeof(cl.dir), "xdrop-dq") < 0)
		return -1;
	base = pick_base_port();
	for (int i = 0; i < NODES; i++) {
		struct node *n = &cl.n[i];

		n->id = (uint64_t)i + 1;
		snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", base + i);
		snprintf(n->dir, sizeof(n->dir), "%s/node%d", cl.dir, i + 1);
		snprintf(n->out, sizeof(n->out), "%s/node%d.out", cl.dir, i + 1);
		cl.addrs[i] = n->addr;
	}
	node_start(0, NULL);
	node_start(1, cl.n[0].addr);
	snprintf(join, sizeof(join), "%s,%s", cl.n[0].addr, cl.n[1].addr);
	node_start(2, join);
	return 0;
}

/* Kills every node and removes the scratch directory. */
static inline int dqcluster_stop(void)
{
	for (int i = 0; i < NODES; i++)
		node_kill(i);
	tmpdir_remove(cl.dir);
	return 0;
}

#endif
