// SPDX-License-Identifier: MIT
/*
 * fuzz_dqlite: libFuzzer target for lib/dqlite's response decoders (tests/fuzz/dqlite.sh).
 *
 * The first input byte picks the decoder (its low nibble: a response type; bit 7 on ROWS:
 * the body is fed as two batches, split after a PART marker or near its middle), the rest is
 * the body, copied to a buffer of exactly its size so that ASan sees any read past it.
 * Decoded results are walked (every row value, every node address) to touch what the
 * decoder says is there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dqlite/rows.h"
#include "dqlite/wire.h"

static volatile size_t sink;

static void walk_rows(const struct dq_rows *r)
{
	for (size_t i = 0; i < r->ncols; i++)
		sink += strlen(r->names[i]);
	for (size_t row = 0; row < r->nrows; row++)
		for (unsigned col = 0; col < r->ncols; col++) {
			const struct dq_value *v = dq_rows_at(r, row, col);

			if (v->type == XDROP_DQ_TEXT || v->type == XDROP_DQ_ISO8601)
				sink += strlen(v->text);
			else if (v->type == XDROP_DQ_BLOB && v->len)
				sink += v->blob[v->len - 1];
		}
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	if (b && n)
		memcpy(b, p, n);
	return b;
}

/* Where a second batch starts: after the first PART marker at a word boundary, else at
 * the word nearest the middle. */
static size_t split_at(const uint8_t *body, size_t len)
{
	static const uint8_t part[8] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};

	for (size_t off = 0; off + 8 <= len; off += 8)
		if (!memcmp(body + off, part, 8))
			return off + 8;
	return (len / 2) & ~(size_t)7;
}

static void rows(const uint8_t *body, size_t len, int split)
{
	struct dq_rows r = {0};
	size_t half = split ? split_at(body, len) : len;
	bool done = false;

	if (dq_rows_add(&r, dup_bytes(body, half), half, &done) == 0 && split && !done)
		dq_rows_add(&r, dup_bytes(body + half, len - half), len - half, &done);
	walk_rows(&r);
	dq_rows_free(&r);
}

static void other(uint8_t type, const uint8_t *body, size_t len)
{
	struct dq_file files[XDROP_DQ_MAX_FILES];
	struct dq_node node, *nodes = NULL;
	uint64_t u, v;
	uint32_t a, b;
	const char *s;
	size_t n = 0;

	switch (type) {
	case XDROP_DQ_RES_FAILURE:
		if (dq_wire_failure(body, len, &u, &s) == 0)
			sink += strlen(s);
		break;
	case XDROP_DQ_RES_SERVER:
		if (dq_wire_server(body, len, &node) == 0)
			sink += strlen(node.address);
		break;
	case XDROP_DQ_RES_SERVERS:
	case XDROP_DQ_RES_METADATA + 1: /* SERVERS in format 0 */
		if (dq_wire_servers(body, len, type == XDROP_DQ_RES_SERVERS, &nodes, &n) == 0)
			for (size_t i = 0; i < n; i++)
				sink += strlen(nodes[i].address);
		free(nodes);
		break;
	case XDROP_DQ_RES_FILES:
		if (dq_wire_files(body, len, files, &n) == 0)
			for (size_t i = 0; i < n; i++)
				sink +=
				    strlen(files[i].name) + (files[i].size ? files[i].data[0] : 0);
		break;
	default:
		sink += (size_t)dq_wire_welcome(body, len, &u) + (size_t)dq_wire_db(body, len, &a) +
			(size_t)dq_wire_stmt_info(body, len, &a, &b, &u) +
			(size_t)dq_wire_result(body, len, &u, &v) +
			(size_t)dq_wire_empty(body, len) +
			(size_t)dq_wire_metadata(body, len, &u, &v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dq_header h;
	uint8_t *body;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	body = dup_bytes(data + 1, len);
	if (!body)
		return 0;
	if (len >= XDROP_DQ_HEADER_SIZE)
		sink += (size_t)dq_wire_header(body, &h);
	if ((data[0] & 0x0f) == XDROP_DQ_RES_ROWS)
		rows(body, len, data[0] & 0x80);
	else
		other(data[0] & 0x0f, body, len);
	free(body);
	return 0;
}
