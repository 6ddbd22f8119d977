// SPDX-License-Identifier: MIT
/*
 * xdrop-dqlite-node: one libdqlite node for tests, so that a test can run a real cluster
 * of separate processes on loopback ports and kill any of them.
 *
 *   xdrop-dqlite-node --id N --address HOST:PORT --dir DIR [--join ADDR[,ADDR...]]
 *                     [--latency-ms MS] [--join-ms MS]
 *                     [--tls-ca PEM --tls-cert PEM --tls-key PEM [--tls-name NAME]]
 *
 * The node stores its Raft log and snapshots in DIR (made if missing) and serves clients
 * and its peers on ADDRESS. Node 1 with an empty DIR bootstraps a new cluster of itself
 * (libdqlite does this for id 1). Any other node, given --join, makes itself a voter of
 * the cluster reached through those addresses with the project's client (dq_join: ADD then
 * ASSIGN on the leader); a node that is already a member (a restart) changes nothing.
 * --latency-ms sets dqlite's network latency (heartbeat 1.5x, election timeout 15x it;
 * default 50: heartbeats every 75 ms, an election after 750 ms without them; the lower
 * figures a loopback cluster could use make spurious elections likely on a loaded machine).
 * --join-ms bounds the join (default XDROP_DQ_JOIN_TIMEOUT_MS).
 *
 * Prints "ready" once serving (and, with --join, once a voter) and runs until SIGTERM or
 * SIGINT, then stops the node cleanly. Exits 1 with a message on stderr on any failure.
 *
 * With --tls-*, every connection is mutual TLS (lib/dqtls): libdqlite binds an abstract
 * Unix socket of this process only, a TLS listener on ADDRESS requires a certificate from
 * the CA and forwards to it, and the node's Raft connections and the join dial their
 * peers with TLS, presenting the same certificate. --tls-name sets the name a peer's
 * certificate must carry (default: the host of the peer's address).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include <dqlite.h>

#include "clock.h"
#include "dqlite/client.h"
#include "dqtls.h"

#define XDROP_DQNODE_MAX_JOIN 16

struct node_args {
	unsigned long long id;
	const char *address;
	const char *dir;
	char *join;
	unsigned latency_ms;
	unsigned join_ms;    /* how long the join is retried */
	struct tls_opts tls; /* ca_file set: TLS */
};

static int parse_args(int argc, char **argv, struct node_args *a)
{
	static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
					     {"address", required_argument, NULL, 'a'},
					     {"dir", required_argument, NULL, 'd'},
					     {"join", required_argument, NULL, 'j'},
					     {"latency-ms", required_argument, NULL, 'l'},
					     {"tls-ca", required_argument, NULL, 'C'},
					     {"tls-cert", required_argument, NULL, 'c'},
					     {"tls-key", required_argument, NULL, 'k'},
					     {"tls-name", required_argument, NULL, 'n'},
					     {"join-ms", required_argument, NULL, 'J'},
					     {NULL, 0, NULL, 0}};
	int o;

	*a = (struct node_args){.latency_ms = 50, .join_ms = XDROP_DQ_JOIN_TIMEOUT_MS};
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
		case 'C':
			a->tls.ca_file = optarg;
			break;
		case 'c':
			a->tls.cert_file = optarg;
			break;
		case 'k':
			a->tls.key_file = optarg;
			break;
		case 'n':
			a->tls.server_name = optarg;
			break;
		case 'J':
			a->join_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return -EINVAL;
		}
	}
	a->tls.require_client_cert = true;
	if (!a->id || !a->address || !a->dir || !a->latency_ms ||
	    !a->tls.ca_file != !a->tls.cert_file || !a->tls.ca_file != !a->tls.key_file) {
		fprintf(stderr, "usage: xdrop-dqlite-node --id N --address HOST:PORT --dir DIR "
				"[--join ADDR,...] [--latency-ms MS] [--join-ms MS] [--tls-ca PEM "
				"--tls-cert PEM "
				"--tls-key PEM [--tls-name NAME]]\n");
		return -EINVAL;
	}
	return 0;
}

/* With TLS: libdqlite behind an abstract socket of this process, the TLS listener in
 * front of it, Raft connections dialed with TLS. */
static int setup_tls(const struct node_args *a, dqlite_node *n, struct dqtls *tls)
{
	char local[64];
	int rc;

	snprintf(local, sizeof(local), "@xdrop-dqlite-%d-%llu", (int)getpid(), a->id);
	rc = dqlite_node_set_bind_address(n, local);
	if (rc == 0)
		rc = dqlite_node_set_connect_func(n, dqtls_connect_func, tls);
	if (rc == 0 && dqtls_listen(tls, a->address, local) < 0) {
		fprintf(stderr, "xdrop-dqlite-node %llu: cannot listen with TLS on %s\n", a->id,
			a->address);
		rc = -1;
	}
	return rc;
}

static int start_node(const struct node_args *a, struct dqtls *tls, dqlite_node **out)
{
	dqlite_node *n = NULL;
	int rc;

	if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "xdrop-dqlite-node: mkdir %s: %s\n", a->dir, strerror(errno));
		return -1;
	}
	rc = dqlite_node_create(a->id, a->address, a->dir, &n);
	if (rc == 0)
		rc = tls ? setup_tls(a, n, tls) : dqlite_node_set_bind_address(n, a->address);
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

static int join(const struct node_args *a, struct dqtls *tls)
{
	struct dq_conn_opts o = {
	    .sz = sizeof(o), .dial = tls ? dqtls_conn_dial : NULL, .dial_arg = tls};
	const char *addrs[XDROP_DQNODE_MAX_JOIN];
	char why[512];
	size_t n = 0;
	int rc;

	for (char *save = NULL, *s = strtok_r(a->join, ",", &save); s && n < XDROP_DQNODE_MAX_JOIN;
	     s = strtok_r(NULL, ",", &save))
		addrs[n++] = s;
	rc = dq_join(addrs, n, &o, a->id, a->address, XDROP_DQ_VOTER, clock_mono_ms() + a->join_ms,
		     why, sizeof(why));
	if (rc)
		fprintf(stderr, "xdrop-dqlite-node %llu: join failed: %s\n", a->id, why);
	return rc;
}

int main(int argc, char **argv)
{
	struct node_args a;
	struct dqtls *tls = NULL;
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
	if (a.tls.ca_file && dqtls_open(&tls, &a.tls) < 0)
		return 1;
	if (start_node(&a, tls, &node) < 0) {
		dqtls_close(tls);
		return 1;
	}
	if (a.join && join(&a, tls) < 0)
		goto out;
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	rc = 0;
out:
	dqlite_node_stop(node);
	dqlite_node_destroy(node);
	dqtls_close(tls);
	return rc;
}
