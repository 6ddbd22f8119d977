// SPDX-License-Identifier: MIT
/*
 * test_dqlite_cluster: lib/dqlite against a real 3-node dqlite cluster.
 *
 * Three xdrop-dqlite-node processes (build/bin, or XDROP_DQLITE_NODE) on free loopback
 * ports: node 1 bootstraps, nodes 2 and 3 join through the client (dq_join: CLUSTER, ADD,
 * ASSIGN). The tests run in order on that one cluster: membership and node requests, SQL
 * through the leader (every value type, a transaction, prepared statements, a result set
 * in several messages, SQL errors mapped), a follower's refusals and the client finding
 * the leader from it, INTERRUPT, DUMP, kill -9 of the leader (the client finds the new one
 * and the data is there), REMOVE and re-ADD of a node (CLUSTER lists it again, TRANSFER
 * makes it leader and it serves the data), and nodes that refuse or never answer (calls
 * end at their timeout). Every wait polls for a state with a deadline; processes are
 * stopped by PID.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "dqlite/client.h"
#include "dqlite/session.h"
#include "dqcluster.h"

#define ROWS	     100
#define FAILOVER_MS  20000 /* a new leader found after a kill */
#define DB	     "xdrop.db"
#define COMMITS	     21
#define LONG_NAME_SZ 200 /* rows long enough that 100 of them need several ROWS messages */

static int setup(void **state)
{
	return dqcluster_start();
}

static int teardown(void **state)
{
	return dqcluster_stop();
}

static struct dq_conn *leader_conn(int64_t within_ms)
{
	struct dq_conn *c = NULL;
	char why[XDROP_DQ_MAX_WHY];
	int rc = dq_leader_connect(&c, cl.addrs, NODES, NULL, clock_mono_ms() + within_ms, why,
				   sizeof(why));

	if (rc)
		fail_msg("no leader: %s", why);
	return c;
}

static void expect_members(struct dq_conn *c, int n_want)
{
	struct dq_node_info *nodes;
	size_t n;

	assert_int_equal(dq_cluster(c, &nodes, &n), 0);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++) {
		int k = node_index(nodes[i].address);

		assert_true(k >= 0);
		assert_int_equal(nodes[i].id, cl.n[k].id);
		assert_int_equal(nodes[i].role, XDROP_DQ_VOTER);
	}
	free(nodes);
}

static void test_cluster_formed(void **state)
{
	struct dq_conn *c = leader_conn(START_MS);
	struct dq_node_info leader;
	uint64_t hb, fd, weight;

	expect_members(c, NODES);
	assert_int_equal(dq_leader(c, &leader), 0);
	assert_string_equal(leader.address, dq_conn_address(c));
	assert_int_equal(leader.id, cl.n[node_index(leader.address)].id);
	assert_int_equal(dq_hello(c, 42, &hb), 0);
	assert_true(hb > 0);
	assert_int_equal(dq_weight(c, 5), 0);
	assert_int_equal(dq_describe(c, &fd, &weight), 0);
	assert_int_equal(weight, 5);
	assert_int_equal(fd, 0);
	dq_conn_close(c);
}

static void long_name(char *buf, int i)
{
	snprintf(buf, LONG_NAME_SZ, "rule-%03d-", i);
	memset(buf + 9, 'x', LONG_NAME_SZ - 10);
	buf[LONG_NAME_SZ - 1] = '\0';
}

/* The table and ROWS rows in one transaction, through a prepared INSERT. */
static void insert_rows(struct dq_conn *c, uint32_t db)
{
	static const uint8_t blob[] = {0xde, 0xad, 0xbe, 0xef, 0};
	struct dq_result res;
	uint64_t nparams;
	int64_t t0, t1;
	uint32_t st;

	assert_int_equal(
	    dq_exec_sql(c, db,
			"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, "
			"score REAL, data BLOB, flag BOOLEAN, at DATETIME, ts TIMESTAMP)",
			NULL, 0, NULL),
	    0);
	assert_int_equal(dq_exec_sql(c, db, "BEGIN", NULL, 0, NULL), 0);
	assert_int_equal(
	    dq_prepare(c, db, "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", &st, &nparams), 0);
	assert_int_equal(nparams, 7);
	t0 = clock_mono_ns();
	for (int i = 1; i <= ROWS; i++) {
		char name[LONG_NAME_SZ];
		struct dq_value p[7] = {
		    {.type = XDROP_DQ_INTEGER, .i = i},
		    {.type = XDROP_DQ_TEXT, .text = name},
		    {.type = XDROP_DQ_FLOAT, .f = i + 0.25},
		    {.type = XDROP_DQ_BLOB, .blob = blob, .len = sizeof(blob)},
		    {.type = XDROP_DQ_BOOLEAN, .i = i % 2},
		    {.type = XDROP_DQ_ISO8601, .text = "2026-12-07 16:00:00"},
		    {.type = XDROP_DQ_INTEGER, .i = 1700000000 + i},
		};

		long_name(name, i);
		assert_int_equal(dq_exec(c, db, st, p, 7, &res), 0);
		assert_int_equal(res.changes, 1);
		assert_int_equal(res.last_insert_id, i);
	}
	t1 = clock_mono_ns();
	assert_int_equal(dq_finalize(c, db, st), 0);
	assert_int_equal(dq_exec_sql(c, db, "COMMIT", NULL, 0, NULL), 0);
	printf("# %d EXECs in one transaction: %.3f ms each; COMMIT %.3f ms\n", ROWS,
	       (double)(t1 - t0) / ROWS / 1e6, (double)(clock_mono_ns() - t1) / 1e6);
}

/* Figures only (never asserted): autocommit INSERTs, each one Raft commit to a quorum. */
static void report_commit_latency(struct dq_conn *c, uint32_t db)
{
	int64_t ns[COMMITS];

	for (int i = 0; i < COMMITS; i++) {
		struct dq_value p = {.type = XDROP_DQ_INTEGER, .i = 100 + i};
		int64_t t0 = clock_mono_ns();

		assert_int_equal(dq_exec_sql(c, db, "INSERT INTO u VALUES (?)", &p, 1, NULL), 0);
		ns[i] = clock_mono_ns() - t0;
	}
	for (int i = 1; i < COMMITS; i++)
		for (int k = i; k > 0 && ns[k - 1] > ns[k]; k--) {
			int64_t t = ns[k];

			ns[k] = ns[k - 1];
			ns[k - 1] = t;
		}
	printf("# autocommit INSERT on the 3-node cluster: median %.3f ms, max %.3f ms (%d)\n",
	       (double)ns[COMMITS / 2] / 1e6, (double)ns[COMMITS - 1] / 1e6, COMMITS);
}

/* Checks row i (1-based) of SELECT * FROM t at index r. */
static void expect_row(const struct dq_rows *rows, size_t r, int i)
{
	char name[LONG_NAME_SZ];

	long_name(name, i);
	assert_int_equal(dq_rows_at(rows, r, 0)->i, i);
	assert_string_equal(dq_rows_at(rows, r, 1)->text, name);
	assert_true(dq_rows_at(rows, r, 2)->f == i + 0.25);
	assert_int_equal(dq_rows_at(rows, r, 3)->type, XDROP_DQ_BLOB);
	assert_int_equal(dq_rows_at(rows, r, 3)->len, 5);
	assert_memory_equal(dq_rows_at(rows, r, 3)->blob, "\xde\xad\xbe\xef\0", 5);
	assert_int_equal(dq_rows_at(rows, r, 4)->type, XDROP_DQ_BOOLEAN);
	assert_int_equal(dq_rows_at(rows, r, 4)->i, i % 2);
	assert_int_equal(dq_rows_at(rows, r, 5)->type, XDROP_DQ_ISO8601);
	assert_string_equal(dq_rows_at(rows, r, 5)->text, "2026-12-07 16:00:00");
	assert_int_equal(dq_rows_at(rows, r, 6)->type, XDROP_DQ_UNIXTIME);
	assert_int_equal(dq_rows_at(rows, r, 6)->i, 1700000000 + i);
}

/* Every row of t, with its values; the set came in several ROWS messages. */
static void expect_table(struct dq_conn *c, uint32_t db, int nrows)
{
	struct dq_rows rows;

	assert_int_equal(
	    dq_query_sql(c, db, "SELECT * FROM t WHERE id <= 100 ORDER BY id", NULL, 0, &rows), 0);
	assert_int_equal(rows.nrows, nrows);
	assert_int_equal(rows.ncols, 7);
	assert_string_equal(rows.names[5], "at");
	assert_true(rows.nbodies > 1);
	for (int i = 1; i <= nrows; i++)
		expect_row(&rows, (size_t)i - 1, i);
	dq_rows_free(&rows);
}

/* A second writer while a transaction is open is refused at once with SQLITE_BUSY: the
 * store will have to queue its writes (or retry them). */
static void expect_busy(struct dq_conn *c, uint32_t db)
{
	struct dq_conn *b = leader_conn(START_MS);
	char why[XDROP_DQ_MAX_WHY];
	uint32_t bdb;

	assert_int_equal(dq_open(b, DB, &bdb), 0);
	assert_int_equal(
	    dq_exec_sql(c, db, "CREATE TABLE u (id INTEGER PRIMARY KEY)", NULL, 0, NULL), 0);
	assert_int_equal(dq_exec_sql(c, db, "BEGIN; INSERT INTO u VALUES (1)", NULL, 0, NULL), 0);
	assert_int_equal(dq_exec_sql(b, bdb, "INSERT INTO u VALUES (2)", NULL, 0, NULL), -EBUSY);
	assert_int_equal(dq_conn_error(b)->code, 5);
	dq_conn_why(b, -EBUSY, why, sizeof(why));
	assert_non_null(strstr(why, dq_conn_address(b)));
	assert_non_null(strstr(why, "database is locked"));
	assert_int_equal(dq_exec_sql(c, db, "COMMIT", NULL, 0, NULL), 0);
	assert_int_equal(dq_exec_sql(b, bdb, "INSERT INTO u VALUES (2)", NULL, 0, NULL), 0);
	dq_conn_close(b);
}

static void test_sql(void **state)
{
	struct dq_conn *c = leader_conn(START_MS);
	struct dq_value key = {.type = XDROP_DQ_INTEGER, .i = 42};
	struct dq_rows rows;
	uint32_t db, st;

	assert_int_equal(dq_open(c, DB, &db), 0);
	insert_rows(c, db);
	expect_table(c, db, ROWS);
	/* A prepared query with a parameter. */
	assert_int_equal(dq_prepare(c, db, "SELECT * FROM t WHERE id = ?", &st, NULL), 0);
	assert_int_equal(dq_query(c, db, st, &key, 1, &rows), 0);
	assert_int_equal(rows.nrows, 1);
	expect_row(&rows, 0, 42);
	dq_rows_free(&rows);
	assert_int_equal(dq_finalize(c, db, st), 0);
	/* SQL errors come back with SQLite's code and message; the connection stays usable. */
	assert_int_equal(dq_exec_sql(c, db, "INSERT INTO t (id) VALUES (1)", NULL, 0, NULL), -EIO);
	assert_int_equal(dq_conn_error(c)->code, 1555); /* SQLITE_CONSTRAINT_PRIMARYKEY */
	assert_non_null(strstr(dq_conn_error(c)->msg, "UNIQUE constraint failed"));
	assert_int_equal(dq_exec_sql(c, db, "SELEC 1", NULL, 0, NULL), -EIO);
	assert_non_null(strstr(dq_conn_error(c)->msg, "syntax error"));
	assert_int_equal(dq_finalize(c, db, 999), -EIO);
	assert_false(dq_conn_broken(c));
	expect_busy(c, db);
	report_commit_latency(c, db);
	assert_int_equal(dq_query_sql(c, db, "SELECT count(*) FROM t", NULL, 0, &rows), 0);
	assert_int_equal(dq_rows_at(&rows, 0, 0)->i, ROWS);
	dq_rows_free(&rows);
	dq_conn_close(c);
}

/* A follower refuses queries and membership changes with not-leader (nothing is broken),
 * and names the leader; the client started from the follower alone reads the rows. */
static void test_follower(void **state)
{
	struct dq_conn *lc = leader_conn(START_MS), *f = NULL, *c = NULL;
	int li = node_index(dq_conn_address(lc)), fi = (li + 1) % NODES;
	const char *only[1] = {cl.n[fi].addr};
	struct dq_node_info leader;
	struct dq_rows rows;
	char why[XDROP_DQ_MAX_WHY];
	uint64_t fdom, weight;
	uint32_t db;

	assert_int_equal(dq_conn_open(&f, cl.n[fi].addr, NULL, why, sizeof(why)), 0);
	assert_int_equal(dq_leader(f, &leader), 0);
	assert_string_equal(leader.address, cl.n[li].addr);
	assert_int_equal(dq_open(f, DB, &db), 0);
	assert_int_equal(dq_query_sql(f, db, "SELECT count(*) FROM t", NULL, 0, &rows), -EREMCHG);
	assert_int_equal(dq_conn_error(f)->code, XDROP_DQ_SQLITE_NOT_LEADER);
	assert_int_equal(dq_exec_sql(f, db, "DELETE FROM t", NULL, 0, NULL), -EREMCHG);
	assert_int_equal(dq_add(f, 9, "127.0.0.1:1"), -EREMCHG);
	assert_false(dq_conn_broken(f));
	/* What a follower does answer: the configuration and its own metadata. */
	expect_members(f, NODES);
	assert_int_equal(dq_describe(f, &fdom, &weight), 0);
	assert_int_equal(
	    dq_leader_connect(&c, only, 1, NULL, clock_mono_ms() + START_MS, why, sizeof(why)), 0);
	assert_string_equal(dq_conn_address(c), cl.n[li].addr);
	assert_int_equal(dq_open(c, DB, &db), 0);
	expect_table(c, db, ROWS);
	dq_conn_close(c);
	dq_conn_close(f);
	dq_conn_close(lc);
}

/* A query abandoned after its first message: INTERRUPT, then the connection serves on. */
static void test_interrupt(void **state)
{
	struct dq_conn *c = leader_conn(START_MS);
	struct dq_rows rows;
	uint32_t db;
	bool done;

	assert_int_equal(dq_open(c, DB, &db), 0);
	assert_int_equal(dq_query_sql_first(c, db, "SELECT * FROM t", NULL, 0, &rows, &done), 0);
	assert_false(done);
	assert_true(rows.nrows > 0 && rows.nrows < ROWS);
	dq_rows_free(&rows);
	assert_int_equal(dq_interrupt(c, db), 0);
	assert_int_equal(dq_query_sql(c, db, "SELECT count(*) FROM t", NULL, 0, &rows), 0);
	assert_int_equal(dq_rows_at(&rows, 0, 0)->i, ROWS);
	dq_rows_free(&rows);
	dq_conn_close(c);
}

static void test_dump(void **state)
{
	struct dq_conn *c = leader_conn(START_MS);
	struct dq_dump d;

	assert_int_equal(dq_dump(c, DB, &d), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.files[0].name, DB);
	assert_true(d.files[0].size >= 4096);
	assert_memory_equal(d.files[0].data, "SQLite format 3", 16);
	assert_string_equal(d.files[1].name, DB "-wal");
	dq_dump_free(&d);
	dq_conn_close(c);
}

/* A session on DB over the three nodes, retrying for as long as a failover may take. */
static struct dq_session *session_open(void)
{
	struct dq_session_opts so = {.sz = sizeof(so),
				     .addrs = cl.addrs,
				     .naddrs = NODES,
				     .database = DB,
				     .retry_ms = FAILOVER_MS};
	struct dq_session *s = NULL;

	if (dq_session_open(&s, &so))
		fail_msg("session: no leader");
	return s;
}

static int64_t session_count(struct dq_session *s)
{
	struct dq_rows rows;
	int64_t n;

	if (dq_session_query_sql(s, "SELECT count(*) FROM t", NULL, 0, &rows))
		fail_msg("session query: %s", dq_session_why(s));
	n = dq_rows_at(&rows, 0, 0)->i;
	dq_rows_free(&rows);
	return n;
}

/* dq_session_cut_all (the controller's lease lapsing): a session cut while idle connects
 * again for its next call, through which a statement runs once (the shut-down socket is
 * not used: a statement failing on it would have an unknown outcome). */
static void test_session_cut(void **state)
{
	struct dq_session *s = session_open();
	struct dq_result res = {0};
	struct dq_rows rows;

	assert_int_equal(dq_session_exec_sql(s, "CREATE TABLE cut (id INTEGER)", NULL, 0, NULL), 0);
	dq_session_cut_all();
	dq_session_cut_all(); /* again before the session noticed: nothing more */
	assert_int_equal(dq_session_exec_sql(s, "INSERT INTO cut (id) VALUES (1)", NULL, 0, &res),
			 0);
	assert_int_equal(res.changes, 1);
	dq_session_cut_all();
	assert_int_equal(dq_session_query_sql(s, "SELECT count(*) FROM cut", NULL, 0, &rows), 0);
	assert_int_equal(dq_rows_at(&rows, 0, 0)->i, 1);
	dq_rows_free(&rows);
	dq_session_close(s);
}

/* kill -9 of the leader: the client finds the new one and the data is there. Two sessions
 * opened before show the retry rules: a query on the dead leader's connection runs again
 * on the new leader; a write there fails (its outcome unknown to the session) and is not
 * sent again. */
static void test_leader_killed(void **state)
{
	struct dq_value p = {.type = XDROP_DQ_INTEGER, .i = ROWS + 1};
	struct dq_session *reader = NULL, *writer = NULL;
	struct dq_conn *c = leader_conn(START_MS);
	int old = node_index(dq_conn_address(c));
	int64_t t0;
	uint32_t db;
	int rc;

	reader = session_open();
	writer = session_open();
	assert_int_equal(session_count(reader), ROWS);
	assert_int_equal(session_count(writer), ROWS);
	dq_conn_close(c);
	t0 = clock_mono_ms();
	node_kill(old);
	assert_int_equal(session_count(reader), ROWS);
	printf("# leader %s killed; a session's query answered by the new leader in %lld ms\n",
	       cl.n[old].addr, (long long)(clock_mono_ms() - t0));
	rc = dq_session_exec_sql(writer, "INSERT INTO t (id) VALUES (?)", &p, 1, NULL);
	printf("# a write on the killed leader's connection: %s\n", dq_session_why(writer));
	assert_true(rc < 0 && rc != -EREMCHG);
	c = leader_conn(FAILOVER_MS);
	assert_int_not_equal(node_index(dq_conn_address(c)), old);
	assert_int_equal(dq_open(c, DB, &db), 0);
	expect_table(c, db, ROWS);
	assert_int_equal(dq_session_exec_sql(writer, "INSERT INTO t (id) VALUES (?)", &p, 1, NULL),
			 0);
	assert_int_equal(session_count(reader), ROWS + 1);
	dq_session_close(reader);
	dq_session_close(writer);
	dq_conn_close(c);
	/* The killed node comes back with its data dir; joining again changes nothing. */
	node_start(old, cl.n[(old + 1) % NODES].addr);
	c = leader_conn(START_MS);
	expect_members(c, NODES);
	dq_conn_close(c);
}

/* Whether the leader's CLUSTER lists node i as a voter. */
static bool listed_voter(struct dq_conn *c, int i)
{
	struct dq_node_info *nodes;
	bool found = false;
	size_t n;

	if (dq_cluster(c, &nodes, &n) != 0)
		return false;
	for (size_t k = 0; k < n; k++)
		found |= nodes[k].id == cl.n[i].id && nodes[k].role == XDROP_DQ_VOTER;
	free(nodes);
	return found;
}

/* REMOVE and re-ADD through the client's helpers, which run CLUSTER, REMOVE, ADD and ASSIGN
 * on whichever node leads (a leader change in between is retried, as an operator's tool
 * must); then TRANSFER makes the new member leader and it serves every row. */
static void test_remove_readd(void **state)
{
	struct dq_conn *c = leader_conn(START_MS);
	int li = node_index(dq_conn_address(c)), fi = (li + 1) % NODES;
	struct dq_value p = {.type = XDROP_DQ_INTEGER, .i = ROWS + 2};
	char cmd[256], why[XDROP_DQ_MAX_WHY];
	struct dq_session *s = NULL;
	int64_t deadline;
	struct dq_rows rows;
	uint32_t db;
	int rc;

	dq_conn_close(c);
	if (dq_leave(cl.addrs, NODES, NULL, cl.n[fi].id, clock_mono_ms() + START_MS, why,
		     sizeof(why)))
		fail_msg("remove: %s", why);
	c = leader_conn(START_MS);
	expect_members(c, NODES - 1);
	assert_false(listed_voter(c, fi));
	dq_conn_close(c);
	/* The removed node comes back as a new machine: empty data dir, a new id (Raft ids are
	 * never reused; and libdqlite bootstraps a cluster of its own for an id 1 that has no
	 * data), added by the client. */
	node_kill(fi);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", cl.n[fi].dir);
	assert_int_equal(system(cmd), 0);
	cl.n[fi].id += 10;
	node_start(fi, NULL);
	if (dq_join(cl.addrs, NODES, NULL, cl.n[fi].id, cl.n[fi].addr, XDROP_DQ_VOTER,
		    clock_mono_ms() + START_MS, why, sizeof(why)))
		fail_msg("re-add: %s", why);
	c = leader_conn(START_MS);
	expect_members(c, NODES);
	dq_conn_close(c);
	/* Leadership handed to the new member (again if an election intervened). A session on
	 * the old leader then hears not-leader, and its write runs on the new one. */
	s = session_open();
	deadline = clock_mono_ms() + FAILOVER_MS;
	for (c = leader_conn(FAILOVER_MS); strcmp(dq_conn_address(c), cl.n[fi].addr) != 0;
	     c = leader_conn(FAILOVER_MS)) {
		assert_true(clock_mono_ms() < deadline);
		dq_transfer(c, cl.n[fi].id);
		dq_conn_close(c);
	}
	assert_int_equal(dq_open(c, DB, &db), 0);
	expect_table(c, db, ROWS);
	rc = dq_session_exec_sql(s, "INSERT INTO t (id) VALUES (?)", &p, 1, NULL);
	if (rc)
		fail_msg("session write after a transfer: %s", dq_session_why(s));
	assert_int_equal(dq_query_sql(c, db, "SELECT count(*) FROM t", NULL, 0, &rows), 0);
	assert_int_equal(dq_rows_at(&rows, 0, 0)->i, ROWS + 2);
	dq_rows_free(&rows);
	dq_session_close(s);
	dq_conn_close(c);
}

/* A listener that accepts connections (the kernel does) but never answers. */
static int silent_listener(char *addr, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}

static void test_dead_nodes(void **state)
{
	struct dq_conn_opts o = {
	    .sz = sizeof(o), .connect_timeout_ms = 300, .call_timeout_ms = 300};
	char silent[32], refused[32], why[XDROP_DQ_MAX_WHY];
	const char *addrs[2 + NODES] = {silent, refused};
	struct dq_node_info leader;
	struct dq_conn *c = NULL;
	int lfd = silent_listener(silent, sizeof(silent));
	int64_t t0;

	/* A port nobody listens on (a listener closed at once). */
	close(silent_listener(refused, sizeof(refused)));
	assert_int_equal(dq_conn_open(&c, refused, &o, why, sizeof(why)), -ECONNREFUSED);
	assert_non_null(strstr(why, refused));
	/* The silent node: the call ends at its timeout, and the connection is then broken. */
	assert_int_equal(dq_conn_open(&c, silent, &o, why, sizeof(why)), 0);
	t0 = clock_mono_ms();
	assert_int_equal(dq_leader(c, &leader), -ETIMEDOUT);
	assert_true(clock_mono_ms() - t0 >= 300 && clock_mono_ms() - t0 < 5000);
	assert_true(dq_conn_broken(c));
	assert_int_equal(dq_leader(c, &leader), -ENOTCONN);
	dq_conn_close(c);
	/* Discovery over only dead nodes gives up at its deadline and says why. */
	assert_int_equal(
	    dq_leader_connect(&c, addrs, 2, &o, clock_mono_ms() + 1000, why, sizeof(why)),
	    -ETIMEDOUT);
	assert_non_null(strstr(why, "no dqlite leader among 2 node(s)"));
	/* Dead nodes first in the list only delay discovery by the connect timeout (300 ms),
	 * not by the call timeout (10 s), which the returned connection has. */
	o.call_timeout_ms = 10000;
	for (int i = 0; i < NODES; i++)
		addrs[2 + i] = cl.n[i].addr;
	t0 = clock_mono_ms();
	assert_int_equal(dq_leader_connect(&c, addrs, 2 + NODES, &o, clock_mono_ms() + START_MS,
					   why, sizeof(why)),
			 0);
	assert_true(clock_mono_ms() - t0 < 5000);
	assert_true(node_index(dq_conn_address(c)) >= 0);
	assert_int_equal(dq_leader(c, &leader), 0);
	dq_conn_close(c);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cluster_formed), cmocka_unit_test(test_sql),
	    cmocka_unit_test(test_follower),	   cmocka_unit_test(test_interrupt),
	    cmocka_unit_test(test_dump),	   cmocka_unit_test(test_session_cut),
	    cmocka_unit_test(test_leader_killed),  cmocka_unit_test(test_remove_readd),
	    cmocka_unit_test(test_dead_nodes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
