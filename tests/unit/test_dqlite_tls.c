// SPDX-License-Identifier: MIT
/*
 * test_dqlite_tls: dqlite traffic over mutual TLS (lib/dqtls) on a real 3-node cluster.
 *
 * tests/dqlite/tls.sh generates a CA, a node certificate (server and client, 127.0.0.1 as
 * a DNS name) and one from another CA into $XDROP_TEST_CERTS, then runs this. Three
 * xdrop-dqlite-node processes with --tls-* (libdqlite behind an abstract socket, a TLS
 * listener on each address, Raft dialed with TLS) form the cluster: nodes 2 and 3 join
 * through it, rows written on the leader are read on another node after TRANSFER (Raft
 * replicated them over TLS). Refused: a client with a certificate from another CA, one
 * without a certificate, one that trusts another CA, a node with a certificate from
 * another CA trying to join, and a plaintext client on the TLS port. Every wait polls for a state
 * with a deadline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "dqcluster.h"
#include "dqlite/client.h"
#include "dqtls.h"

#define ROWS	   50
#define LEADER_MS  20000
#define REFUSAL_MS 3000
#define DB	   "tls.db"

static char ca[256], cert[256], key[256], rogue_ca[256], rogue_cert[256], rogue_key[256];
static struct dqtls *good;

static void cert_path(char *buf, const char *dir, const char *name)
{
	snprintf(buf, 256, "%s/%s", dir, name);
}

static int setup(void **state)
{
	const char *dir = getenv("XDROP_TEST_CERTS");
	struct tls_opts o;

	if (!dir) {
		fprintf(stderr, "XDROP_TEST_CERTS is not set: run tests/dqlite/tls.sh\n");
		return -1;
	}
	cert_path(ca, dir, "ca.crt");
	cert_path(cert, dir, "node.crt");
	cert_path(key, dir, "node.key");
	cert_path(rogue_ca, dir, "rogue-ca.crt");
	cert_path(rogue_cert, dir, "rogue.crt");
	cert_path(rogue_key, dir, "rogue.key");
	o = (struct tls_opts){.ca_file = ca, .cert_file = cert, .key_file = key};
	if (dqtls_open(&good, &o) < 0 || dqcluster_init(NODES + 1, "xdrop-dqtls") < 0)
		return -1;
	cl.extra[0] = "--tls-ca";
	cl.extra[1] = ca;
	cl.extra[2] = "--tls-cert";
	cl.extra[3] = cert;
	cl.extra[4] = "--tls-key";
	cl.extra[5] = key;
	return dqcluster_start_all(NODES); /* the last one is the rogue node's */
}

static int teardown(void **state)
{
	dqcluster_stop();
	dqtls_close(good);
	return 0;
}

static struct dq_conn_opts tls_opts(struct dqtls *t)
{
	return (struct dq_conn_opts){.sz = sizeof(struct dq_conn_opts),
				     .call_timeout_ms = REFUSAL_MS,
				     .dial = dqtls_conn_dial,
				     .dial_arg = t};
}

static struct dq_conn *leader_conn(void)
{
	struct dq_conn_opts o = tls_opts(good);
	struct dq_conn *c = NULL;
	char why[XDROP_DQ_MAX_WHY];

	if (dq_leader_connect(&c, cl.addrs, NODES, &o, clock_mono_ms() + LEADER_MS, why,
			      sizeof(why)))
		fail_msg("no leader over TLS: %s", why);
	return c;
}

static void test_cluster_over_tls(void **state)
{
	struct dq_conn *c = leader_conn();
	struct dq_node_info *nodes;
	size_t n;

	assert_int_equal(dq_cluster(c, &nodes, &n), 0);
	assert_int_equal(n, NODES);
	for (size_t i = 0; i < n; i++) {
		int k = node_index(nodes[i].address);

		assert_true(k >= 0);
		assert_int_equal(nodes[i].id, cl.n[k].id);
		assert_int_equal(nodes[i].role, XDROP_DQ_VOTER);
	}
	free(nodes);
	dq_conn_close(c);
}

static int64_t count_rows(struct dq_conn *c, uint32_t db)
{
	struct dq_rows rows = {0};
	int64_t v;

	assert_int_equal(dq_query_sql(c, db, "SELECT count(*), sum(v) FROM t", NULL, 0, &rows), 0);
	assert_int_equal(rows.nrows, 1);
	v = dq_rows_at(&rows, 0, 0)->i;
	assert_int_equal(dq_rows_at(&rows, 0, 1)->i, ROWS * (ROWS + 1) / 2);
	dq_rows_free(&rows);
	return v;
}

/* Rows written on the leader are served by another node once it leads: Raft carried
 * them over the TLS connections between the nodes. */
static void test_replication_over_tls(void **state)
{
	struct dq_conn *c = leader_conn();
	struct dq_node_info old, now;
	uint32_t db;
	int next;

	assert_int_equal(dq_leader(c, &old), 0);
	assert_int_equal(dq_open(c, DB, &db), 0);
	assert_int_equal(dq_exec_sql(c, db, "CREATE TABLE t (v INTEGER)", NULL, 0, NULL), 0);
	for (int i = 1; i <= ROWS; i++) {
		struct dq_value p = {.type = XDROP_DQ_INTEGER, .i = i};

		assert_int_equal(dq_exec_sql(c, db, "INSERT INTO t VALUES (?)", &p, 1, NULL), 0);
	}
	assert_int_equal(count_rows(c, db), ROWS);
	next = (node_index(old.address) + 1) % NODES;
	assert_int_equal(dq_transfer(c, cl.n[next].id), 0);
	dq_conn_close(c);

	c = leader_conn();
	assert_int_equal(dq_leader(c, &now), 0);
	assert_int_equal(now.id, cl.n[next].id);
	assert_string_equal(dq_conn_address(c), cl.n[next].addr);
	assert_int_equal(dq_open(c, DB, &db), 0);
	assert_int_equal(count_rows(c, db), ROWS);
	dq_conn_close(c);
}

/* A client t reaches no node: the connection is closed during the handshake. */
static void expect_refused(const struct tls_opts *o, const char *what)
{
	struct dqtls *t;
	struct dq_conn_opts co;
	struct dq_conn *c = NULL;
	struct dq_node_info leader;
	int rc;

	assert_int_equal(dqtls_open(&t, o), 0);
	co = tls_opts(t);
	for (int i = 0; i < NODES; i++) {
		rc = dq_conn_open(&c, cl.addrs[i], &co, NULL, 0);
		if (rc == 0)
			rc = dq_leader(c, &leader);
		if (rc == 0)
			fail_msg("%s: node %d answered", what, i + 1);
		assert_true(rc < 0);
		dq_conn_close(c);
		c = NULL;
	}
	dqtls_close(t);
}

static void test_refused_certificates(void **state)
{
	struct tls_opts rogue = {.ca_file = ca, .cert_file = rogue_cert, .key_file = rogue_key};
	struct tls_opts none = {.ca_file = ca};
	struct tls_opts distrust = {.ca_file = rogue_ca, .cert_file = cert, .key_file = key};

	expect_refused(&rogue, "a certificate from another CA");
	expect_refused(&none, "no client certificate");
	expect_refused(&distrust, "a client that trusts another CA");
	/* and the cluster still serves the good client */
	dq_conn_close(leader_conn());
}

/* A node whose certificate is from another CA cannot join: every node it dials closes the
 * connection in the handshake, and the cluster does not change. */
static void test_rogue_node_refused(void **state)
{
	const char *rogue[] = {"--tls-cert", rogue_cert, "--tls-key", rogue_key,
			       "--join-ms",  "3000",	 NULL};
	struct dq_conn *c;
	struct dq_node_info *nodes;
	char join[160];
	size_t n;

	snprintf(join, sizeof(join), "%s,%s,%s", cl.addrs[0], cl.addrs[1], cl.addrs[2]);
	assert_int_equal(node_try_start(NODES, join, rogue), -1);
	assert_true(file_has(cl.n[NODES].out, "join failed"));
	c = leader_conn();
	assert_int_equal(dq_cluster(c, &nodes, &n), 0);
	assert_int_equal(n, NODES);
	free(nodes);
	dq_conn_close(c);
}

static void test_plaintext_refused(void **state)
{
	struct dq_conn_opts o = {.sz = sizeof(o), .call_timeout_ms = REFUSAL_MS};

	for (int i = 0; i < NODES; i++) {
		struct dq_conn *c = NULL;
		struct dq_node_info leader;
		int rc = dq_conn_open(&c, cl.addrs[i], &o, NULL, 0);

		if (rc == 0)
			rc = dq_leader(c, &leader);
		assert_true(rc < 0);
		assert_int_not_equal(rc, -EREMCHG); /* no dqlite answer of any kind */
		dq_conn_close(c);
	}
}

/* The client's pumps end with their connections. */
static void test_pumps_end(void **state)
{
	int64_t deadline = clock_mono_ms() + 5000;

	while (dqtls_active(good) && clock_mono_ms() < deadline)
		usleep(10000);
	assert_int_equal(dqtls_active(good), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cluster_over_tls),
	    cmocka_unit_test(test_replication_over_tls),
	    cmocka_unit_test(test_refused_certificates),
	    cmocka_unit_test(test_rogue_node_refused),
	    cmocka_unit_test(test_plaintext_refused),
	    cmocka_unit_test(test_pumps_end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
