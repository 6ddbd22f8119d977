// SPDX-License-Identifier: MIT
/*
 * test_dqlite_wire: lib/dqlite's encoders and decoders on hand-built frames.
 *
 * Requests are compared byte for byte with frames written out by hand from dqlite's
 * protocol description; responses are decoded from hand-written frames and their fields
 * checked. Then every response frame is cut short at every length and decoded from a heap
 * copy of exactly that size (ASan turns any read past it into a failure), hostile length
 * fields are fed in, and a bounded number of random mutations of the valid frames are
 * decoded (seed printed, XDROP_DQ_FUZZ_SEED to replay).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dqlite/rows.h"
#include "dqlite/wire.h"

#define FUZZ_ROUNDS 20000

/* Bytes from hex ("01 00 ..."; spaces ignored) into a malloc'd buffer of exactly *len. */
static uint8_t *unhex(const char *hex, size_t *len)
{
	uint8_t *out = malloc(strlen(hex) / 2 + 1);
	size_t n = 0;
	unsigned v;

	assert_non_null(out);
	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	*len = n;
	return out;
}

static void expect_bytes(const struct dq_buf *b, const char *hex)
{
	size_t n;
	uint8_t *want = unhex(hex, &n);

	if (b->len != n || memcmp(b->p, want, n) != 0) {
		printf("# got ");
		for (size_t i = 0; i < b->len; i++)
			printf("%s%02x", i % 8 ? "" : " ", b->p[i]);
		printf("\n# want %s\n", hex);
	}
	assert_int_equal(b->len, n);
	assert_memory_equal(b->p, want, n);
	free(want);
}

static void test_simple_requests(void **state)
{
	struct dq_buf b = {0};

	assert_int_equal(dq_wire_handshake(&b), 0);
	expect_bytes(&b, "0100000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_LEADER, 0), 0);
	expect_bytes(&b, "0100000000000000 0000000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_CLIENT, 7), 0);
	expect_bytes(&b, "0100000001000000 0700000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_CLUSTER, XDROP_DQ_CLUSTER_V1), 0);
	expect_bytes(&b, "0100000010000000 0100000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_REMOVE, 0x0102030405060708ull), 0);
	expect_bytes(&b, "010000000e000000 0807060504030201");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_TRANSFER, 3), 0);
	expect_bytes(&b, "0100000011000000 0300000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_INTERRUPT, 0), 0);
	expect_bytes(&b, "010000000a000000 0000000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_DESCRIBE, 0), 0);
	expect_bytes(&b, "0100000012000000 0000000000000000");
	assert_int_equal(dq_wire_u64_request(&b, XDROP_DQ_REQ_WEIGHT, 9), 0);
	expect_bytes(&b, "0100000013000000 0900000000000000");
	dq_buf_free(&b);
}

static void test_text_requests(void **state)
{
	struct dq_buf b = {0};

	/* "test.db" + NUL fills one word exactly; the unused vfs "" is one zero word. */
	assert_int_equal(dq_wire_open(&b, "test.db"), 0);
	expect_bytes(&b, "0300000003000000 746573742e646200 0000000000000000 0000000000000000");
	/* "SELECT 1" + NUL is 9 bytes: two words. */
	assert_int_equal(dq_wire_prepare(&b, 0, "SELECT 1"), 0);
	expect_bytes(&b, "0300000004000000 0000000000000000 53454c4543542031 0000000000000000");
	assert_int_equal(dq_wire_finalize(&b, 0, 2), 0);
	expect_bytes(&b, "0100000007000000 0000000002000000");
	assert_int_equal(dq_wire_add(&b, 2, "127.0.0.1:9001"), 0);
	expect_bytes(&b, "030000000c000000 0200000000000000 3132372e302e302e 313a393030310000");
	assert_int_equal(dq_wire_assign(&b, 2, XDROP_DQ_STANDBY), 0);
	expect_bytes(&b, "020000000d000000 0200000000000000 0100000000000000");
	assert_int_equal(dq_wire_dump(&b, "a"), 0);
	expect_bytes(&b, "010000000f000000 6100000000000000");
	/* No parameters: no tuple at all. */
	assert_int_equal(dq_wire_sql(&b, XDROP_DQ_REQ_EXEC_SQL, 0, "BEGIN", NULL, 0), 0);
	expect_bytes(&b, "0200000008000000 0000000000000000 424547494e000000");
	dq_buf_free(&b);
}

static void test_params(void **state)
{
	static const uint8_t blob[] = {1, 2, 3};
	const struct dq_value p[] = {
	    {.type = XDROP_DQ_INTEGER, .i = 5},
	    {.type = XDROP_DQ_TEXT, .text = "ab"},
	    {.type = XDROP_DQ_NULL},
	    {.type = XDROP_DQ_FLOAT, .f = 1.5},
	    {.type = XDROP_DQ_BLOB, .blob = blob, .len = 3},
	    {.type = XDROP_DQ_BOOLEAN, .i = 42},
	    {.type = XDROP_DQ_ISO8601, .text = "2026"},
	};
	struct dq_value eight[8];
	struct dq_buf b = {0};

	assert_int_equal(dq_wire_stmt(&b, XDROP_DQ_REQ_EXEC, 0, 2, p, 7), 0);
	expect_bytes(&b, "0a00000005000000 0000000002000000 070103050204 0b0a"
			 " 0500000000000000 6162000000000000 0000000000000000 000000000000f83f"
			 " 0300000000000000 0102030000000000 0100000000000000 3230323600000000");
	/* Eight parameters: the count and eight type bytes take two words. */
	for (int i = 0; i < 8; i++)
		eight[i] = (struct dq_value){.type = XDROP_DQ_INTEGER, .i = i};
	assert_int_equal(dq_wire_sql(&b, XDROP_DQ_REQ_QUERY_SQL, 0, "q", eight, 8), 0);
	expect_bytes(&b, "0c00000009000000 0000000000000000 7100000000000000"
			 " 0801010101010101 0100000000000000"
			 " 0000000000000000 0100000000000000 0200000000000000 0300000000000000"
			 " 0400000000000000 0500000000000000 0600000000000000 0700000000000000");
	dq_buf_free(&b);
}

static void test_request_refusals(void **state)
{
	struct dq_value many[XDROP_DQ_MAX_PARAMS + 1];
	struct dq_buf b = {0};

	for (size_t i = 0; i < XDROP_DQ_MAX_PARAMS + 1; i++)
		many[i] = (struct dq_value){.type = XDROP_DQ_NULL};
	assert_int_equal(dq_wire_sql(&b, XDROP_DQ_REQ_EXEC_SQL, 0, "x", many, 256), -EINVAL);
	assert_int_equal(dq_wire_sql(&b, XDROP_DQ_REQ_EXEC_SQL, 0, "x", many, 255), 0);
	assert_int_equal(dq_wire_sql(&b, XDROP_DQ_REQ_EXEC_SQL, 0, NULL, NULL, 0), -EINVAL);
	assert_int_equal(dq_wire_sql(&b, XDROP_DQ_REQ_EXEC, 0, "x", NULL, 0), -EINVAL);
	assert_int_equal(dq_wire_stmt(&b, XDROP_DQ_REQ_QUERY_SQL, 0, 1, NULL, 0), -EINVAL);
	assert_int_equal(dq_wire_assign(&b, 2, (enum dq_role)7), -EINVAL);
	many[3] = (struct dq_value){.type = XDROP_DQ_UNIXTIME, .i = 1};
	assert_int_equal(dq_wire_stmt(&b, XDROP_DQ_REQ_EXEC, 0, 1, many, 4), -EINVAL);
	many[3] = (struct dq_value){.type = XDROP_DQ_TEXT, .text = NULL};
	assert_int_equal(dq_wire_stmt(&b, XDROP_DQ_REQ_EXEC, 0, 1, many, 4), -EINVAL);
	assert_int_equal(dq_wire_open(&b, NULL), -EINVAL);
	dq_buf_free(&b);
}

/* The response frames of the decode tests: a type and a body. */
struct frame {
	const char *name;
	uint8_t type;
	const char *body;
};

static const struct frame frames[] = {
    {"failure", XDROP_DQ_RES_FAILURE, "0a28000000000000 6e6f74206c656164 6572000000000000"},
    {"server", XDROP_DQ_RES_SERVER, "0100000000000000 3132372e302e302e 313a393030310000"},
    {"welcome", XDROP_DQ_RES_WELCOME, "e803000000000000"},
    {"servers", XDROP_DQ_RES_SERVERS,
     "0200000000000000 0100000000000000 613a310000000000 0000000000000000"
     " 0200000000000000 623a320000000000 0200000000000000"},
    {"db", XDROP_DQ_RES_DB, "0300000000000000"},
    {"stmt", XDROP_DQ_RES_STMT, "0000000004000000 0200000000000000"},
    {"result", XDROP_DQ_RES_RESULT, "0700000000000000 0300000000000000"},
    {"empty", XDROP_DQ_RES_EMPTY, "0000000000000000"},
    {"metadata", XDROP_DQ_RES_METADATA, "0500000000000000 0600000000000000"},
    {"files", XDROP_DQ_RES_FILES,
     "0200000000000000 612e646200000000 0800000000000000 53514c6974652066"
     " 612e64622d77616c 0000000000000000 0000000000000000"},
    /* 2 columns "id", "name"; rows (1, "a") and (2, NULL); DONE. */
    {"rows", XDROP_DQ_RES_ROWS,
     "0200000000000000 6964000000000000 6e616d6500000000"
     " 3100000000000000 0100000000000000 6100000000000000"
     " 5100000000000000 0200000000000000 0000000000000000"
     " ffffffffffffffff"},
    /* 8 columns, one of each type: int, float, text, blob, null, unixtime, iso, bool. */
    {"rows-types", XDROP_DQ_RES_ROWS,
     "0800000000000000 6100000000000000 6200000000000000 6300000000000000"
     " 6400000000000000 6500000000000000 6600000000000000 6700000000000000"
     " 6800000000000000 214395ba00000000 f9ffffffffffffff 000000000000f83f"
     " 7878000000000000 0200000000000000 abcd000000000000 0000000000000000"
     " 0094357700000000 3230323600000000 0100000000000000 eeeeeeeeeeeeeeee"},
};

static uint8_t *frame_body(const struct frame *f, size_t *len)
{
	return unhex(f->body, len);
}

/* An exact-size heap copy (NULL for none), for the decoders that take ownership. */
static uint8_t *dup_bytes(const uint8_t *p, size_t len)
{
	uint8_t *copy;

	if (!len)
		return NULL;
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, p, len);
	return copy;
}

/* Decodes body as a response of the given type with the matching decoder: 0 or < 0. */
static int decode(uint8_t type, uint8_t *body, size_t len)
{
	struct dq_file files[XDROP_DQ_MAX_FILES];
	struct dq_node node, *nodes = NULL;
	struct dq_rows rows = {0};
	uint64_t u, v, w;
	uint32_t a, b;
	const char *s;
	size_t n;
	bool done;
	int rc;

	switch (type) {
	case XDROP_DQ_RES_FAILURE:
		return dq_wire_failure(body, len, &u, &s);
	case XDROP_DQ_RES_SERVER:
		return dq_wire_server(body, len, &node);
	case XDROP_DQ_RES_WELCOME:
		return dq_wire_welcome(body, len, &u);
	case XDROP_DQ_RES_SERVERS:
		rc = dq_wire_servers(body, len, XDROP_DQ_CLUSTER_V1, &nodes, &n);
		free(nodes);
		return rc;
	case XDROP_DQ_RES_DB:
		return dq_wire_db(body, len, &a);
	case XDROP_DQ_RES_STMT:
		return dq_wire_stmt_info(body, len, &a, &b, &u);
	case XDROP_DQ_RES_RESULT:
		return dq_wire_result(body, len, &u, &v);
	case XDROP_DQ_RES_EMPTY:
		return dq_wire_empty(body, len);
	case XDROP_DQ_RES_METADATA:
		return dq_wire_metadata(body, len, &v, &w);
	case XDROP_DQ_RES_FILES:
		return dq_wire_files(body, len, files, &n);
	case XDROP_DQ_RES_ROWS:
		/* dq_rows_add owns (and frees) the body: give it a copy. */
		rc = dq_rows_add(&rows, dup_bytes(body, len), len, &done);
		dq_rows_free(&rows);
		return rc;
	default:
		return -EINVAL;
	}
}

static void test_decode_fields(void **state)
{
	struct dq_node node, *nodes = NULL;
	struct dq_file files[XDROP_DQ_MAX_FILES];
	uint64_t code, x, y;
	uint32_t db, stmt;
	const char *msg;
	uint8_t *body;
	size_t len, n;

	body = frame_body(&frames[0], &len);
	assert_int_equal(dq_wire_failure(body, len, &code, &msg), 0);
	assert_int_equal(code, 10250);
	assert_string_equal(msg, "not leader");
	free(body);
	body = frame_body(&frames[1], &len);
	assert_int_equal(dq_wire_server(body, len, &node), 0);
	assert_int_equal(node.id, 1);
	assert_string_equal(node.address, "127.0.0.1:9001");
	free(body);
	body = frame_body(&frames[3], &len);
	assert_int_equal(dq_wire_servers(body, len, XDROP_DQ_CLUSTER_V1, &nodes, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(nodes[1].id, 2);
	assert_string_equal(nodes[1].address, "b:2");
	assert_int_equal(nodes[1].role, XDROP_DQ_SPARE);
	free(nodes);
	free(body);
	body = frame_body(&frames[5], &len);
	assert_int_equal(dq_wire_stmt_info(body, len, &db, &stmt, &x), 0);
	assert_int_equal(stmt, 4);
	assert_int_equal(x, 2);
	free(body);
	body = frame_body(&frames[6], &len);
	assert_int_equal(dq_wire_result(body, len, &x, &y), 0);
	assert_int_equal(x, 7);
	assert_int_equal(y, 3);
	free(body);
	body = frame_body(&frames[9], &len);
	assert_int_equal(dq_wire_files(body, len, files, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(files[0].name, "a.db");
	assert_int_equal(files[0].size, 8);
	assert_memory_equal(files[0].data, "SQLite f", 8);
	assert_string_equal(files[1].name, "a.db-wal");
	assert_int_equal(files[1].size, 0);
	free(body);
}

static void test_decode_rows(void **state)
{
	struct dq_rows r = {0};
	size_t len;
	uint8_t *body = frame_body(&frames[10], &len);
	bool done;

	assert_int_equal(dq_rows_add(&r, body, len, &done), 0);
	assert_true(done);
	assert_int_equal(r.ncols, 2);
	assert_string_equal(r.names[1], "name");
	assert_int_equal(r.nrows, 2);
	assert_int_equal(dq_rows_at(&r, 0, 0)->i, 1);
	assert_string_equal(dq_rows_at(&r, 0, 1)->text, "a");
	assert_int_equal(dq_rows_at(&r, 1, 1)->type, XDROP_DQ_NULL);
	assert_null(dq_rows_at(&r, 2, 0));
	/* The same set arriving in two messages: the first ends PART. */
	body = frame_body(&frames[11], &len);
	dq_rows_free(&r);
	assert_int_equal(dq_rows_add(&r, body, len, &done), 0);
	assert_false(done);
	assert_int_equal(r.ncols, 8);
	assert_int_equal(dq_rows_at(&r, 0, 0)->i, -7);
	assert_true(dq_rows_at(&r, 0, 1)->f == 1.5);
	assert_string_equal(dq_rows_at(&r, 0, 2)->text, "xx");
	assert_int_equal(dq_rows_at(&r, 0, 3)->len, 2);
	assert_memory_equal(dq_rows_at(&r, 0, 3)->blob, "\xab\xcd", 2);
	assert_int_equal(dq_rows_at(&r, 0, 4)->type, XDROP_DQ_NULL);
	assert_int_equal(dq_rows_at(&r, 0, 5)->type, XDROP_DQ_UNIXTIME);
	assert_int_equal(dq_rows_at(&r, 0, 5)->i, 2000000000);
	assert_string_equal(dq_rows_at(&r, 0, 6)->text, "2026");
	assert_int_equal(dq_rows_at(&r, 0, 7)->i, 1);
	/* A second batch with another column count is refused; the set stays as it was. */
	body = frame_body(&frames[10], &len);
	assert_int_equal(dq_rows_add(&r, body, len, &done), -EPROTO);
	assert_int_equal(r.nrows, 1);
	assert_int_equal(r.ncols, 8);
	dq_rows_free(&r);
}

/* 17 columns: the row header takes two words. */
static void test_rows_wide_header(void **state)
{
	char hex[4096];
	size_t off = 0, len;
	struct dq_rows r = {0};
	uint8_t *body;
	bool done;

	off += (size_t)snprintf(hex + off, sizeof(hex) - off, "1100000000000000");
	for (int i = 0; i < 17; i++)
		off +=
		    (size_t)snprintf(hex + off, sizeof(hex) - off, " %02x00000000000000", 'a' + i);
	off += (size_t)snprintf(hex + off, sizeof(hex) - off, " 1111111111111111 0100000000000000");
	for (int i = 0; i < 17; i++)
		off += (size_t)snprintf(hex + off, sizeof(hex) - off, " %02x00000000000000", i);
	snprintf(hex + off, sizeof(hex) - off, " ffffffffffffffff");
	body = unhex(hex, &len);
	assert_int_equal(dq_rows_add(&r, body, len, &done), 0);
	assert_int_equal(r.nrows, 1);
	assert_int_equal(dq_rows_at(&r, 0, 16)->i, 16);
	assert_string_equal(r.names[16], "q");
	dq_rows_free(&r);
}

/* Every frame, cut at every length, from an exact-size heap copy: an error, no overread. */
static void test_truncated(void **state)
{
	for (size_t f = 0; f < sizeof(frames) / sizeof(frames[0]); f++) {
		size_t len;
		uint8_t *full = frame_body(&frames[f], &len);

		assert_int_equal(decode(frames[f].type, full, len), 0);
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *part = malloc(cut ? cut : 1);
			int rc;

			memcpy(part, full, cut);
			rc = decode(frames[f].type, cut ? part : NULL, cut);
			if (rc != -EPROTO)
				printf("# %s cut at %zu: %d\n", frames[f].name, cut, rc);
			assert_int_equal(rc, -EPROTO);
			free(part);
		}
		free(full);
	}
}

static void expect_hostile(uint8_t type, const char *hex)
{
	size_t len;
	uint8_t *body = unhex(hex, &len);

	assert_int_equal(decode(type, body, len), -EPROTO);
	free(body);
}

static void test_hostile(void **state)
{
	uint8_t hdr[8] = {0xff, 0xff, 0xff, 0xff, XDROP_DQ_RES_ROWS, 0, 0, 0};
	struct dq_header h;

	/* A text with no NUL in the body. */
	expect_hostile(XDROP_DQ_RES_FAILURE, "0100000000000000 4141414141414141");
	/* Blob lengths past the body, one byte past, and near 2^64 (padding overflow). */
	expect_hostile(XDROP_DQ_RES_ROWS, "0100000000000000 6100000000000000 0400000000000000"
					  " 0000000000000080 ffffffffffffffff");
	expect_hostile(XDROP_DQ_RES_ROWS, "0100000000000000 6100000000000000 0400000000000000"
					  " 0900000000000000 0000000000000000 ffffffffffffffff");
	expect_hostile(XDROP_DQ_RES_ROWS, "0100000000000000 6100000000000000 0400000000000000"
					  " fdffffffffffffff 0000000000000000 ffffffffffffffff");
	/* Column counts: none, more than the body could name, more than the limit. */
	expect_hostile(XDROP_DQ_RES_ROWS, "0000000000000000 ffffffffffffffff");
	expect_hostile(XDROP_DQ_RES_ROWS, "0300000000000000 6100000000000000 ffffffffffffffff");
	expect_hostile(XDROP_DQ_RES_ROWS, "ffffffff00000000 6100000000000000 ffffffffffffffff");
	/* An unknown type code (6), and type 0 in a used slot. */
	expect_hostile(XDROP_DQ_RES_ROWS, "0100000000000000 6100000000000000 0600000000000000"
					  " 0000000000000000 ffffffffffffffff");
	expect_hostile(XDROP_DQ_RES_ROWS, "0100000000000000 6100000000000000 0000000000000000"
					  " 0000000000000000 ffffffffffffffff");
	/* Node and file counts beyond the body or the limit; a file larger than the body. */
	expect_hostile(XDROP_DQ_RES_SERVERS, "0000000001000000 0100000000000000 6100000000000000");
	expect_hostile(XDROP_DQ_RES_FILES, "0900000000000000");
	expect_hostile(XDROP_DQ_RES_FILES, "0100000000000000 6100000000000000 1000000000000000"
					   " 0000000000000000");
	expect_hostile(XDROP_DQ_RES_FILES, "0100000000000000 6100000000000000 ffffffffffffffff"
					   " 0000000000000000");
	/* A header announcing more than XDROP_DQ_MAX_BODY. */
	assert_int_equal(dq_wire_header(hdr, &h), -EMSGSIZE);
	hdr[0] = 1, hdr[1] = hdr[2] = hdr[3] = 0;
	assert_int_equal(dq_wire_header(hdr, &h), 0);
	assert_int_equal(h.words, 1);
	assert_int_equal(h.type, XDROP_DQ_RES_ROWS);
}

/* Random mutations of the valid frames, decoded as every type: no crash, no overread. */
static void test_random_mutations(void **state)
{
	const char *env = getenv("XDROP_DQ_FUZZ_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	size_t nframes = sizeof(frames) / sizeof(frames[0]), ok = 0;

	printf("# seed %u (XDROP_DQ_FUZZ_SEED=%u to replay)\n", seed, seed);
	srand(seed);
	for (int round = 0; round < FUZZ_ROUNDS; round++) {
		size_t len, cut;
		uint8_t *body = frame_body(&frames[(size_t)rand() % nframes], &len), *short_body;
		int flips = 1 + rand() % 4;

		for (int i = 0; i < flips; i++)
			body[(size_t)rand() % len] = (uint8_t)rand();
		cut = rand() % 3 == 0 ? (size_t)rand() % (len + 1) : len;
		short_body = dup_bytes(body, cut);
		free(body);
		body = short_body;
		for (uint8_t type = 0; type <= XDROP_DQ_RES_METADATA; type++)
			ok += decode(type, body, cut) == 0;
		free(body);
	}
	/* Most mutations still decode as something: the decoders were really exercised. */
	printf("# %zu of %d decodes accepted\n", ok, FUZZ_ROUNDS * (XDROP_DQ_RES_METADATA + 1));
	assert_true(ok > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_requests),  cmocka_unit_test(test_text_requests),
	    cmocka_unit_test(test_params),	     cmocka_unit_test(test_request_refusals),
	    cmocka_unit_test(test_decode_fields),    cmocka_unit_test(test_decode_rows),
	    cmocka_unit_test(test_rows_wide_header), cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_hostile),	     cmocka_unit_test(test_random_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
