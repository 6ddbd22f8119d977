// SPDX-License-Identifier: MIT
/*
 * xdrop-dqlite-node: one libdqlite node for tests, so that a test can run a real cluster
 * of separate processes on loopback ports and kill any of them.
 *
 *   xdrop-dqlite-node --id N --address HOST:PORT --dir DIR [--join ADDR[,ADDR...]]
 *                     [--latency-ms MS]
 *
 * The node stores its Raft log and snapshots in DIR (made if missing) and serves clients
 * and its peers on ADDRESS. Node 1 with an empty DIR bootstraps a new cluster of itself
 * (libdqlite does this for id 1). Any other node, given --join, makes itself a voter of
 * the cluster reached through those addresses with the project's client (dq_join: ADD then
 * ASSIGN on the leader); a node that is already a member (a restart) changes nothing.
 * --latency-ms sets dqlite's network latency (heartbeat 1.5x, election timeout 15x it;
 * default 50: heartbeats every 75 ms, an election after 750 ms without them; the lower
 * figures a loopback cluster could use make spurious elections likely on a loaded machine).
 *
 * Prints "ready" once serving (and, with --join, once a voter) and runs until SIGTERM or
 * SIGINT, then stops the node cleanly. Exits 1 with a message on stderr on any failure.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dqlite.h>

#include "clock.h"
#include "dqlite/client.h"

#define XDROP_DQNODE_MAX_JOIN 16

struct node_args {
	unsigned long long id;
	const char *address;
	const char *dir;
	char *join;
	unsigned latency_ms;
};

static int parse_args(int argc, char **argv, struct node_args *a)
{
	static const struct option opts[] = {
	    {"id", required_argument, NULL, 'i'},	  {"address", required_argument, NULL, 'a'},
	    {"dir", required_argument, NULL, 'd'},	  {"join", required_argument, NULL, 'j'},
	    {"latency-ms", required_argument, NULL, 'l'}, {NULL, 0, NULL, 0}};
	int o;

	*a = (struct node_args){.latency_ms = 50};
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			a->id = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			a->address = optarg;
			break;
		case 'd':
			a->dir = optarg;
			break;
		case 'j':
			a->join = optarg;
			break;
		case 'l':
			a->latency_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return -EINVAL;
		}
	}
	if (!a->id || !a->address || !a->dir || !a->latency_ms) {
		fprintf(stderr, "usage: xdrop-dqlite-node --id N --address HOST:PORT --dir DIR "
				"[--join ADDR,...] [--latency-ms MS]\n");
		return -EINVAL;
	}
	return 0;
}

static int start_node(const struct node_args *a, dqlite_node **out)
{
	dqlite_node *n = NULL;
	int rc;

	if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "xdrop-dqlite-node: mkdir %s: %s\n", a->dir, strerror(errno));
		return -1;
	}
	rc = dqlite_node_create(a->id, a->address, a->dir, &n);
	if (rc == 0)
		rc = dqlite_node_set_bind_address(n, a->address);
	if (rc == 0)
		rc = dqlite_node_set_network_latency_ms(n, a->latency_ms);
	if (rc == 0)
		rc = dqlite_node_start(n);
	if (rc) {
		fprintf(stderr, "xdrop-dqlite-node %llu at %s: %s (%d)\n", a->id, a->address,
			n ? dqlite_node_errmsg(n) : "cannot create the node", rc);
		if (n)
			dqlite_node_destroy(n);
		return -1;
	}
	*out = n;
	return 0;
}

static int join(const struct node_args *a)
{
	const char *addrs[XDROP_DQNODE_MAX_JOIN];
	char why[512];
	size_t n = 0;
	int rc;

	for (char *save = NULL, *s = strtok_r(a->join, ",", &save); s && n < XDROP_DQNODE_MAX_JOIN;
	     s = strtok_r(NULL, ",", &save))
		addrs[n++] = s;
	rc = dq_join(addrs, n, NULL, a->id, a->address, XDROP_DQ_VOTER,
		     clock_mono_ms() + XDROP_DQ_JOIN_TIMEOUT_MS, why, sizeof(why));
	if (rc)
		fprintf(stderr, "xdrop-dqlite-node %llu: join failed: %s\n", a->id, why);
	return rc;
}

int main(int argc, char **argv)
{
	struct node_args a;
	dqlite_node *node = NULL;
	sigset_t set;
	int sig, rc = 1;

	if (parse_args(argc, argv, &a) < 0)
		return 2;
	/* The signals are waited for, not handled: block them before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start_node(&a, &node) < 0)
		return 1;
	if (a.join && join(&a) < 0)
		goto out;
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	rc = 0;
out:
	dqlite_node_stop(node);
	dqlite_node_destroy(node);
	return rc;
}
