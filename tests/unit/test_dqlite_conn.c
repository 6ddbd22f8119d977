// SPDX-License-Identifier: MIT
/*
 * test_dqlite_conn: lib/dqlite's connection against a scripted fake node.
 *
 * A thread plays the node on a loopback port: it reads the protocol version word, then for
 * each request it reads (header and body, kept for the test to compare) it writes the next
 * scripted reply, which may hold several messages, a cut message, or nothing (the node
 * then stays silent until the client closes). The connection's handling of what a real
 * node rarely sends is checked this way: each FAILURE code mapped to its errno with the
 * stream still in step, a header over the size limit, a response of the wrong type, a body
 * that does not decode, a body cut by a close or by silence, ROWS in several messages, a
 * FAILURE in the middle of a result set, and INTERRUPT reading what was still in flight.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "dqlite/client.h"

#define MAX_STEPS 8
#define SILENT	  "" /* a reply that never comes */

struct fake {
	int lfd;
	char addr[32];
	const char *replies[MAX_STEPS]; /* hex, one per request */
	pthread_t thread;
	uint8_t handshake[8];
	uint8_t last_req[256];
	size_t last_len;
	int requests;
};

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	for (; *hex; hex++) {
		if (*hex == ' ')
			continue;
		if (n == cap || sscanf(hex, "%2x", &v) != 1)
			return 0;
		out[n++] = (uint8_t)v;
		hex++;
	}
	return n;
}

static bool read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);

		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	uint8_t hdr[8], reply[1024];
	char text[2048];

	if (fd < 0 || !read_full(fd, f->handshake, 8))
		goto out;
	for (int i = 0; i < MAX_STEPS && f->replies[i]; i++) {
		size_t body, n;

		if (!read_full(fd, hdr, 8))
			goto out;
		body = (size_t)(hdr[0] | hdr[1] << 8) * 8;
		if (body + 8 > sizeof(f->last_req) || !read_full(fd, f->last_req + 8, body))
			goto out;
		memcpy(f->last_req, hdr, 8);
		f->last_len = body + 8;
		f->requests++;
		if (!*f->replies[i])
			break; /* silent: wait for the client to go */
		/* "... CLOSE": write what comes before, then close the connection. */
		snprintf(text, sizeof(text), "%s", f->replies[i]);
		if (strstr(text, "CLOSE"))
			*strstr(text, "CLOSE") = '\0';
		n = unhex(text, reply, sizeof(reply));
		if (n && write(fd, reply, n) != (ssize_t)n)
			goto out;
		if (strstr(f->replies[i], "CLOSE"))
			goto out;
	}
	while (read(fd, hdr, sizeof(hdr)) > 0)
		;
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Starts a fake node that answers the given replies in order (NULL-terminated). */
static struct fake *fake_start(const char *const *replies)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	for (int i = 0; i < MAX_STEPS && replies[i]; i++)
		f->replies[i] = replies[i];
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
	return f;
}

/* Closes the client first (a silent fake waits for that), then joins the fake. */
static void fake_stop(struct fake *f, struct dq_conn *c)
{
	dq_conn_close(c);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	free(f);
}

static struct dq_conn *fake_conn(struct fake *f, int call_timeout_ms)
{
	struct dq_conn_opts o = {.sz = sizeof(o), .call_timeout_ms = call_timeout_ms};
	struct dq_conn *c = NULL;
	char why[256];

	assert_int_equal(dq_conn_open(&c, f->addr, &o, why, sizeof(why)), 0);
	return c;
}

/* Replies, as hex: header (words, type) then body. */
#define SERVER_2   "0300000001000000 0200000000000000 3132372e302e302e 313a393030310000"
#define FAILURE(c) "0200000000000000 " c " 6f6f707300000000" /* message "oops" */
#define ROWS_ONE(v, marker)                                                                        \
	"0500000007000000 0100000000000000 6e00000000000000 0100000000000000 " v " " marker
#define PART	  "eeeeeeeeeeeeeeee"
#define DONE	  "ffffffffffffffff"
#define ONE	  "0100000000000000"
#define TWO	  "0200000000000000"
#define EMPTY_MSG "0100000008000000 0000000000000000"

static void test_handshake_and_failures(void **state)
{
	static const char *const script[] = {FAILURE("0500000000000000"),
					     FAILURE("0a28000000000000"),
					     FAILURE("2a28000000000000"),
					     FAILURE("0a29000000000000"),
					     FAILURE("1306000000000000"),
					     SERVER_2,
					     NULL};
	struct fake *f = fake_start(script);
	struct dq_conn *c = fake_conn(f, 2000);
	struct dq_node_info leader;
	struct dq_buf b = {0};
	char why[256];

	/* SQLITE_BUSY; the handshake and the request as sent. */
	assert_int_equal(dq_leader(c, &leader), -EBUSY);
	assert_memory_equal(f->handshake, "\x01\0\0\0\0\0\0\0", 8);
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_LEADER, 0), 0);
	assert_int_equal(f->last_len, b.len);
	assert_memory_equal(f->last_req, b.p, b.len);
	assert_int_equal(dq_conn_error(c)->code, 5);
	assert_string_equal(dq_conn_error(c)->msg, "oops");
	dq_conn_why(c, -EBUSY, why, sizeof(why));
	assert_non_null(strstr(why, f->addr));
	assert_non_null(strstr(why, "(5: oops)"));
	/* 0x280a = 10250, SQLITE_IOERR_NOT_LEADER; 0x282a = 10282, no code of ours. */
	assert_int_equal(dq_leader(c, &leader), -EREMCHG);
	assert_int_equal(dq_leader(c, &leader), -EIO);
	/* 0x290a = 10506, SQLITE_IOERR_LEADERSHIP_LOST. */
	assert_int_equal(dq_leader(c, &leader), -ECONNABORTED);
	/* 0x613 = 1555, SQLITE_CONSTRAINT_PRIMARYKEY. */
	assert_int_equal(dq_leader(c, &leader), -EIO);
	assert_int_equal(dq_conn_error(c)->code, 1555);
	/* After all those failures the stream is in step: the next answer is read whole. */
	assert_false(dq_conn_broken(c));
	assert_int_equal(dq_leader(c, &leader), 0);
	assert_int_equal(leader.id, 2);
	assert_string_equal(leader.address, "127.0.0.1:9001");
	dq_buf_free(&b);
	fake_stop(f, c);
}

static void test_error_errno(void **state)
{
	static const struct {
		uint64_t code;
		int want;
	} table[] = {
	    {10 | (40 << 8), -EREMCHG},
	    {10 | (41 << 8), -ECONNABORTED},
	    {5, -EBUSY},
	    {5 | (1 << 8), -EBUSY}, /* SQLITE_BUSY_RECOVERY */
	    {6, -EBUSY},
	    {1, -EIO},
	    {19, -EIO},
	    {10, -EIO},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_int_equal(dq_error_errno(table[i].code), table[i].want);
}

/* Each of these replies breaks the connection: the next call is -ENOTCONN. */
static void expect_broken(const char *reply, int want, int timeout_ms)
{
	const char *script[] = {reply, NULL};
	struct fake *f = fake_start(script);
	struct dq_conn *c = fake_conn(f, timeout_ms);
	struct dq_node_info leader;
	int64_t t0 = clock_mono_ms();

	assert_int_equal(dq_leader(c, &leader), want);
	if (want == -ETIMEDOUT)
		assert_true(clock_mono_ms() - t0 >= timeout_ms);
	assert_true(dq_conn_broken(c));
	assert_int_equal(dq_leader(c, &leader), -ENOTCONN);
	fake_stop(f, c);
}

static void test_broken_streams(void **state)
{
	/* A header announcing 2^32-1 words. */
	expect_broken("ffffffff01000000", -EMSGSIZE, 2000);
	/* A DB response to LEADER. */
	expect_broken("0100000004000000 0000000000000000", -EPROTO, 2000);
	/* A SERVER whose address has no NUL in the body. */
	expect_broken("0200000001000000 0200000000000000 4141414141414141", -EPROTO, 2000);
	/* A FAILURE that does not decode. */
	expect_broken("0100000000000000 0500000000000000", -EPROTO, 2000);
	/* The node closes without a reply; or announces two words, sends one and closes, or
	 * sends one and stalls. */
	expect_broken("CLOSE", -ECONNRESET, 2000);
	expect_broken("0200000001000000 0200000000000000 CLOSE", -ECONNRESET, 2000);
	expect_broken("0200000001000000 0200000000000000", -ETIMEDOUT, 200);
	/* No answer at all. */
	expect_broken(SILENT, -ETIMEDOUT, 200);
}

static void test_rows_in_parts(void **state)
{
	static const char *const script[] = {
	    ROWS_ONE(ONE, PART) " " ROWS_ONE(TWO, PART) " " ROWS_ONE("0300000000000000", DONE),
	    ROWS_ONE(ONE, PART) " " FAILURE("0100000000000000"), SERVER_2, NULL};
	struct fake *f = fake_start(script);
	struct dq_conn *c = fake_conn(f, 2000);
	struct dq_node_info leader;
	struct dq_rows rows;

	assert_int_equal(dq_query_sql(c, 0, "SELECT n", NULL, 0, &rows), 0);
	assert_int_equal(rows.nrows, 3);
	assert_int_equal(rows.nbodies, 3);
	assert_string_equal(rows.names[0], "n");
	assert_int_equal(dq_rows_at(&rows, 2, 0)->i, 3);
	dq_rows_free(&rows);
	/* A FAILURE after the first part: the error, nothing kept, the stream in step. */
	assert_int_equal(dq_query_sql(c, 0, "SELECT n", NULL, 0, &rows), -EIO);
	assert_int_equal(rows.nrows, 0);
	assert_null(rows.bodies);
	assert_false(dq_conn_broken(c));
	assert_int_equal(dq_leader(c, &leader), 0);
	fake_stop(f, c);
}

static void test_interrupt_drains(void **state)
{
	static const char *const script[] = {
	    ROWS_ONE(ONE, PART), ROWS_ONE(TWO, PART) " " ROWS_ONE(TWO, DONE) " " EMPTY_MSG,
	    SERVER_2, NULL};
	struct fake *f = fake_start(script);
	struct dq_conn *c = fake_conn(f, 2000);
	struct dq_node_info leader;
	struct dq_rows rows;
	bool done;

	assert_int_equal(dq_query_sql_first(c, 0, "SELECT n", NULL, 0, &rows, &done), 0);
	assert_false(done);
	assert_int_equal(rows.nrows, 1);
	dq_rows_free(&rows);
	/* The two ROWS still in flight are read and dropped up to the EMPTY. */
	assert_int_equal(dq_interrupt(c, 0), 0);
	assert_int_equal(f->last_req[4], XDROP_DQ_REQ_INTERRUPT);
	assert_int_equal(dq_leader(c, &leader), 0);
	assert_int_equal(leader.id, 2);
	fake_stop(f, c);
}

static void test_addresses(void **state)
{
	static const char *const bad[] = {"nocolon", "127.0.0.1:", ":9001", "[::1:9001", "[]:1"};
	char why[256], longer[XDROP_DQ_MAX_ADDRESS + 8];
	struct dq_conn *c = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dq_conn_open(&c, bad[i], NULL, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "not a host:port address"));
		assert_null(c);
	}
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(dq_conn_open(&c, longer, NULL, why, sizeof(why)), -EINVAL);
	/* A bracketed IPv6 address parses: what fails is connecting to port 1. */
	assert_int_not_equal(dq_conn_open(&c, "[::1]:1", NULL, why, sizeof(why)), -EINVAL);
	assert_int_equal(dq_conn_open(&c, "host.invalid:1", NULL, why, sizeof(why)),
			 -EADDRNOTAVAIL);
	assert_non_null(strstr(why, "cannot resolve the host"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_failures), cmocka_unit_test(test_error_errno),
	    cmocka_unit_test(test_broken_streams),	   cmocka_unit_test(test_rows_in_parts),
	    cmocka_unit_test(test_interrupt_drains),	   cmocka_unit_test(test_addresses),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
