// SPDX-License-Identifier: MIT
/*
 * dqlite/wire: request encoding (see wire.h; responses are decoded in wire_decode.c).
 *
 * A request is built in place: dq_begin() reserves the header, the fields are appended, and
 * dq_end() writes the body size in words once it is known. Every field is a whole number of
 * words, so the body size is always a multiple of 8.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dqlite/wire.h"

void dq_buf_free(struct dq_buf *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Makes room for n more bytes, zeroed; returns where they start or NULL. */
static uint8_t *grow(struct dq_buf *b, size_t n)
{
	uint8_t *at;

	if (n > XDROP_DQ_MAX_BODY || b->len + n > XDROP_DQ_MAX_BODY + XDROP_DQ_HEADER_SIZE)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return NULL;
		b->p = p;
		b->cap = cap;
	}
	at = b->p + b->len;
	memset(at, 0, n);
	b->len += n;
	return at;
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int put_u64(struct dq_buf *b, uint64_t v)
{
	uint8_t *p = grow(b, 8);

	if (!p)
		return -ENOMEM;
	le64(p, v);
	return 0;
}

static int put_u32_pair(struct dq_buf *b, uint32_t x, uint32_t y)
{
	uint8_t *p = grow(b, 8);

	if (!p)
		return -ENOMEM;
	le32(p, x);
	le32(p + 4, y);
	return 0;
}

/* Text: the bytes, a NUL, zeros up to the next word (grow() zeroes). */
static int put_text(struct dq_buf *b, const char *s)
{
	size_t n;
	uint8_t *p;

	if (!s)
		return -EINVAL;
	n = strlen(s);
	p = grow(b, pad8(n + 1));
	if (!p)
		return -ENOMEM;
	memcpy(p, s, n);
	return 0;
}

static int put_blob(struct dq_buf *b, const uint8_t *data, size_t n)
{
	uint8_t *p;

	if (!data && n)
		return -EINVAL;
	if (put_u64(b, n) < 0)
		return -ENOMEM;
	p = grow(b, pad8(n));
	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p, data, n);
	return 0;
}

static int dq_begin(struct dq_buf *b, uint8_t type, uint8_t schema)
{
	uint8_t *h;

	b->len = 0;
	h = grow(b, XDROP_DQ_HEADER_SIZE);
	if (!h)
		return -ENOMEM;
	h[4] = type;
	h[5] = schema;
	return 0;
}

/* Writes the body size of the message in b (rc passed through). */
static int dq_end(struct dq_buf *b, int rc)
{
	if (rc < 0)
		return rc;
	le32(b->p, (uint32_t)((b->len - XDROP_DQ_HEADER_SIZE) / 8));
	return 0;
}

int dq_wire_handshake(struct dq_buf *b)
{
	b->len = 0;
	return put_u64(b, XDROP_DQ_PROTOCOL_VERSION);
}

int dq_wire_u64_request(struct dq_buf *b, uint8_t type, uint64_t v)
{
	int rc = dq_begin(b, type, 0);

	if (rc == 0)
		rc = put_u64(b, v);
	return dq_end(b, rc);
}

/* OPEN: name, flags (unused: 0), vfs (unused: the node's own, ""). */
int dq_wire_open(struct dq_buf *b, const char *name)
{
	int rc = dq_begin(b, XDROP_DQ_REQ_OPEN, 0);

	if (rc == 0)
		rc = put_text(b, name);
	if (rc == 0)
		rc = put_u64(b, 0);
	if (rc == 0)
		rc = put_text(b, "");
	return dq_end(b, rc);
}

/* PREPARE (db id, SQL) and ADD (node id, address) share one shape. */
static int u64_text_request(struct dq_buf *b, uint8_t type, uint64_t v, const char *s)
{
	int rc = dq_begin(b, type, 0);

	if (rc == 0)
		rc = put_u64(b, v);
	if (rc == 0)
		rc = put_text(b, s);
	return dq_end(b, rc);
}

int dq_wire_prepare(struct dq_buf *b, uint32_t db, const char *sql)
{
	return u64_text_request(b, XDROP_DQ_REQ_PREPARE, db, sql);
}

static bool param_type_ok(enum dq_type t)
{
	switch (t) {
	case XDROP_DQ_INTEGER:
	case XDROP_DQ_FLOAT:
	case XDROP_DQ_TEXT:
	case XDROP_DQ_BLOB:
	case XDROP_DQ_NULL:
	case XDROP_DQ_ISO8601:
	case XDROP_DQ_BOOLEAN:
		return true;
	default:
		return false;
	}
}

static int put_value(struct dq_buf *b, const struct dq_value *v)
{
	uint64_t bits;

	switch (v->type) {
	case XDROP_DQ_INTEGER:
		return put_u64(b, (uint64_t)v->i);
	case XDROP_DQ_BOOLEAN:
		return put_u64(b, v->i != 0);
	case XDROP_DQ_FLOAT:
		memcpy(&bits, &v->f, sizeof(bits));
		return put_u64(b, bits);
	case XDROP_DQ_TEXT:
	case XDROP_DQ_ISO8601:
		return put_text(b, v->text);
	case XDROP_DQ_BLOB:
		return put_blob(b, v->blob, v->len);
	case XDROP_DQ_NULL:
		return put_u64(b, 0);
	default:
		return -EINVAL;
	}
}

int dq_wire_params(struct dq_buf *b, const struct dq_value *params, unsigned n)
{
	uint8_t *h;
	int rc;

	if (n == 0)
		return 0;
	if (n > XDROP_DQ_MAX_PARAMS || !params)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!param_type_ok(params[i].type))
			return -EINVAL;
	h = grow(b, pad8(1 + n));
	if (!h)
		return -ENOMEM;
	h[0] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++)
		h[1 + i] = (uint8_t)params[i].type;
	for (unsigned i = 0; i < n; i++) {
		rc = put_value(b, &params[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dq_wire_stmt(struct dq_buf *b, uint8_t type, uint32_t db, uint32_t stmt,
		 const struct dq_value *params, unsigned n)
{
	int rc;

	if (type != XDROP_DQ_REQ_EXEC && type != XDROP_DQ_REQ_QUERY)
		return -EINVAL;
	rc = dq_begin(b, type, 0);
	if (rc == 0)
		rc = put_u32_pair(b, db, stmt);
	if (rc == 0)
		rc = dq_wire_params(b, params, n);
	return dq_end(b, rc);
}

int dq_wire_finalize(struct dq_buf *b, uint32_t db, uint32_t stmt)
{
	int rc = dq_begin(b, XDROP_DQ_REQ_FINALIZE, 0);

	if (rc == 0)
		rc = put_u32_pair(b, db, stmt);
	return dq_end(b, rc);
}

int dq_wire_sql(struct dq_buf *b, uint8_t type, uint32_t db, const char *sql,
		const struct dq_value *params, unsigned n)
{
	int rc;

	if (type != XDROP_DQ_REQ_EXEC_SQL && type != XDROP_DQ_REQ_QUERY_SQL)
		return -EINVAL;
	rc = dq_begin(b, type, 0);
	if (rc == 0)
		rc = put_u64(b, db);
	if (rc == 0)
		rc = put_text(b, sql);
	if (rc == 0)
		rc = dq_wire_params(b, params, n);
	return dq_end(b, rc);
}

int dq_wire_add(struct dq_buf *b, uint64_t id, const char *address)
{
	return u64_text_request(b, XDROP_DQ_REQ_ADD, id, address);
}

/* ASSIGN with a role (the role word is what tells it from the older PROMOTE). */
int dq_wire_assign(struct dq_buf *b, uint64_t id, enum dq_role role)
{
	int rc;

	if (role != XDROP_DQ_VOTER && role != XDROP_DQ_STANDBY && role != XDROP_DQ_SPARE)
		return -EINVAL;
	rc = dq_begin(b, XDROP_DQ_REQ_ASSIGN, 0);
	if (rc == 0)
		rc = put_u64(b, id);
	if (rc == 0)
		rc = put_u64(b, (uint64_t)role);
	return dq_end(b, rc);
}

int dq_wire_dump(struct dq_buf *b, const char *name)
{
	int rc = dq_begin(b, XDROP_DQ_REQ_DUMP, 0);

	if (rc == 0)
		rc = put_text(b, name);
	return dq_end(b, rc);
}
