// SPDX-License-Identifier: MIT
/*
 * xdrop-dqlite-transfer: hands the leadership of a dqlite cluster to one node, for tests
 * that must read what a given node holds (a restarted follower leads, then answers from
 * its own copy).
 *
 *   xdrop-dqlite-transfer ID ADDR...
 *   xdrop-dqlite-transfer --who ADDR
 *
 * Finds the leader among ADDR (as the nodes were configured, within 10 s) and sends it
 * TRANSFER to node ID. Exits 0 once the leader accepted it, 1 with a message on stderr.
 * --who asks the node at ADDR alone who leads and prints that id (0: it knows none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dqlite/client.h"
#include "dqlite/conn.h"

/* Prints the id of the leader the node at address knows (0: none). */
static int who(const char *address)
{
	struct dq_conn_opts o = {
	    .sz = sizeof(o), .connect_timeout_ms = 1000, .call_timeout_ms = 1000};
	struct dq_node_info n = {0};
	struct dq_conn *c = NULL;
	char why[XDROP_DQ_MAX_WHY];
	int rc = dq_conn_open(&c, address, &o, why, sizeof(why));

	if (rc == 0 && (rc = dq_leader(c, &n)) != 0)
		dq_conn_why(c, rc, why, sizeof(why));
	dq_conn_close(c);
	if (rc) {
		fprintf(stderr, "xdrop-dqlite-transfer: %s\n", why);
		return 1;
	}
	printf("%llu\n", (unsigned long long)n.id);
	return 0;
}

int main(int argc, char **argv)
{
	struct dq_conn *c = NULL;
	char why[XDROP_DQ_MAX_WHY];
	unsigned long long id;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--who") == 0)
		return who(argv[2]);
	if (argc < 3 || !(id = strtoull(argv[1], NULL, 10))) {
		fprintf(stderr, "usage: xdrop-dqlite-transfer ID ADDR...\n");
		return 1;
	}
	rc = dq_leader_connect(&c, (const char *const *)argv + 2, (size_t)argc - 2, NULL,
			       clock_mono_ms() + 10000, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "xdrop-dqlite-transfer: no leader: %s\n", why);
		return 1;
	}
	rc = dq_transfer(c, id);
	if (rc)
		fprintf(stderr, "xdrop-dqlite-transfer: %s\n",
			dq_conn_why(c, rc, why, sizeof(why)));
	dq_conn_close(c);
	return rc ? 1 : 0;
}
