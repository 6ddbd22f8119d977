// SPDX-License-Identifier: MIT
/*
 * dqlite/wire: response decoding (see wire.h). Every field is read through a dq_cur that
 * knows how many bytes are left; a field that does not fit is -EPROTO and consumes nothing.
 * Bodies may carry more words than this client knows (a newer schema adds fields at the
 * end), so decoders do not insist on having consumed the whole body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dqlite/wire.h"

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int dq_wire_header(const uint8_t hdr[XDROP_DQ_HEADER_SIZE], struct dq_header *h)
{
	h->words = rd32(hdr);
	h->type = hdr[4];
	h->schema = hdr[5];
	if ((uint64_t)h->words * 8 > XDROP_DQ_MAX_BODY)
		return -EMSGSIZE;
	return 0;
}

int dq_cur_u64(struct dq_cur *c, uint64_t *v)
{
	if (c->left < 8)
		return -EPROTO;
	*v = rd64(c->p);
	c->p += 8;
	c->left -= 8;
	return 0;
}

int dq_cur_u32_pair(struct dq_cur *c, uint32_t *a, uint32_t *b)
{
	if (c->left < 8)
		return -EPROTO;
	*a = rd32(c->p);
	*b = rd32(c->p + 4);
	c->p += 8;
	c->left -= 8;
	return 0;
}

int dq_cur_text(struct dq_cur *c, const char **s, size_t *len)
{
	const uint8_t *nul = c->left ? memchr(c->p, 0, c->left) : NULL;
	size_t n, padded;

	if (!nul)
		return -EPROTO;
	n = (size_t)(nul - c->p);
	padded = (n + 1 + 7) & ~(size_t)7;
	if (padded > c->left)
		return -EPROTO;
	*s = (const char *)c->p;
	if (len)
		*len = n;
	c->p += padded;
	c->left -= padded;
	return 0;
}

int dq_cur_blob(struct dq_cur *c, const uint8_t **p, size_t *len)
{
	uint64_t n;
	size_t padded;

	if (c->left < 8)
		return -EPROTO;
	n = rd64(c->p);
	if (n > c->left - 8)
		return -EPROTO;
	padded = ((size_t)n + 7) & ~(size_t)7;
	if (padded > c->left - 8)
		return -EPROTO;
	*p = c->p + 8;
	*len = (size_t)n;
	c->p += 8 + padded;
	c->left -= 8 + padded;
	return 0;
}

static struct dq_cur cur(const uint8_t *body, size_t len)
{
	return (struct dq_cur){.p = body, .left = body ? len : 0};
}

int dq_wire_failure(const uint8_t *body, size_t len, uint64_t *code, const char **msg)
{
	struct dq_cur c = cur(body, len);
	int rc = dq_cur_u64(&c, code);

	return rc ? rc : dq_cur_text(&c, msg, NULL);
}

int dq_wire_server(const uint8_t *body, size_t len, struct dq_node *node)
{
	struct dq_cur c = cur(body, len);
	int rc = dq_cur_u64(&c, &node->id);

	node->role = XDROP_DQ_VOTER;
	return rc ? rc : dq_cur_text(&c, &node->address, NULL);
}

int dq_wire_welcome(const uint8_t *body, size_t len, uint64_t *heartbeat_ms)
{
	struct dq_cur c = cur(body, len);

	return dq_cur_u64(&c, heartbeat_ms);
}

int dq_wire_db(const uint8_t *body, size_t len, uint32_t *db)
{
	struct dq_cur c = cur(body, len);
	uint32_t pad;

	return dq_cur_u32_pair(&c, db, &pad);
}

int dq_wire_stmt_info(const uint8_t *body, size_t len, uint32_t *db, uint32_t *stmt,
		      uint64_t *nparams)
{
	struct dq_cur c = cur(body, len);
	int rc = dq_cur_u32_pair(&c, db, stmt);

	return rc ? rc : dq_cur_u64(&c, nparams);
}

int dq_wire_result(const uint8_t *body, size_t len, uint64_t *last_id, uint64_t *changes)
{
	struct dq_cur c = cur(body, len);
	int rc = dq_cur_u64(&c, last_id);

	return rc ? rc : dq_cur_u64(&c, changes);
}

int dq_wire_empty(const uint8_t *body, size_t len)
{
	struct dq_cur c = cur(body, len);
	uint64_t unused;

	return dq_cur_u64(&c, &unused);
}

int dq_wire_metadata(const uint8_t *body, size_t len, uint64_t *failure_domain, uint64_t *weight)
{
	struct dq_cur c = cur(body, len);
	int rc = dq_cur_u64(&c, failure_domain);

	return rc ? rc : dq_cur_u64(&c, weight);
}

int dq_wire_servers(const uint8_t *body, size_t len, int format, struct dq_node **nodes, size_t *n)
{
	struct dq_cur c = cur(body, len);
	struct dq_node *v = NULL;
	uint64_t count;
	int rc;

	*nodes = NULL;
	*n = 0;
	rc = dq_cur_u64(&c, &count);
	if (rc)
		return rc;
	/* Each node takes at least two words (id, address): a count that cannot fit in what
	 * is left is refused before anything is allocated. */
	if (count > XDROP_DQ_MAX_NODES || count > c.left / 16)
		return -EPROTO;
	if (count == 0)
		return 0;
	v = calloc((size_t)count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < count && rc == 0; i++) {
		rc = dq_cur_u64(&c, &v[i].id);
		if (rc == 0)
			rc = dq_cur_text(&c, &v[i].address, NULL);
		if (rc == 0 && format == XDROP_DQ_CLUSTER_V1)
			rc = dq_cur_u64(&c, &v[i].role);
	}
	if (rc) {
		free(v);
		return rc;
	}
	*nodes = v;
	*n = (size_t)count;
	return 0;
}

int dq_wire_files(const uint8_t *body, size_t len, struct dq_file *files, size_t *n)
{
	struct dq_cur c = cur(body, len);
	uint64_t count;
	int rc;

	*n = 0;
	rc = dq_cur_u64(&c, &count);
	if (rc)
		return rc;
	if (count > XDROP_DQ_MAX_FILES)
		return -EPROTO;
	for (size_t i = 0; i < count; i++) {
		struct dq_file *f = &files[i];
		size_t padded;

		rc = dq_cur_text(&c, &f->name, NULL);
		if (rc == 0)
			rc = dq_cur_u64(&c, &f->size);
		if (rc)
			return rc;
		/* The content follows the size, raw, padded to a word. */
		if (f->size > c.left)
			return -EPROTO;
		padded = ((size_t)f->size + 7) & ~(size_t)7;
		if (padded > c.left)
			return -EPROTO;
		f->data = c.p;
		c.p += padded;
		c.left -= padded;
	}
	*n = (size_t)count;
	return 0;
}
