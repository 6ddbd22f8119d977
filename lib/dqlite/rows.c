// SPDX-License-Identifier: MIT
/*
 * dqlite/rows: result set decoding (see rows.h). A row is a header of ncols 4-bit type
 * codes (the first column in the low nibble of the first byte), padded to a word, then
 * the values. A row header never equals a marker word: 0xe and 0xf are not type codes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dqlite/rows.h"

static int read_value(struct dq_cur *c, unsigned type, struct dq_value *v)
{
	uint64_t u;
	int rc;

	v->type = (enum dq_type)type;
	v->len = 0;
	switch (type) {
	case XDROP_DQ_INTEGER:
	case XDROP_DQ_UNIXTIME:
	case XDROP_DQ_BOOLEAN:
	case XDROP_DQ_NULL:
		rc = dq_cur_u64(c, &u);
		v->i = (int64_t)u;
		return rc;
	case XDROP_DQ_FLOAT:
		rc = dq_cur_u64(c, &u);
		memcpy(&v->f, &u, sizeof(u));
		return rc;
	case XDROP_DQ_TEXT:
	case XDROP_DQ_ISO8601:
		return dq_cur_text(c, &v->text, &v->len);
	case XDROP_DQ_BLOB:
		return dq_cur_blob(c, &v->blob, &v->len);
	default:
		return -EPROTO;
	}
}

/* Makes room for one more row of values. */
static int reserve_row(struct dq_rows *r)
{
	size_t need = (r->nrows + 1) * r->ncols, cap;
	struct dq_value *v;

	if (need <= r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : (size_t)r->ncols * 16;
	while (cap < need)
		cap *= 2;
	if (cap > SIZE_MAX / sizeof(*v))
		return -ENOMEM;
	v = realloc(r->values, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->values = v;
	r->cap = cap;
	return 0;
}

static int read_row(struct dq_rows *r, struct dq_cur *c)
{
	size_t hdr = (((size_t)r->ncols + 1) / 2 + 7) & ~(size_t)7;
	const uint8_t *types = c->p;
	struct dq_value *row;
	int rc;

	if (hdr > c->left)
		return -EPROTO;
	rc = reserve_row(r);
	if (rc)
		return rc;
	c->p += hdr;
	c->left -= hdr;
	row = &r->values[r->nrows * r->ncols];
	for (unsigned i = 0; i < r->ncols; i++) {
		unsigned t = (types[i / 2] >> (4 * (i % 2))) & 0xf;

		rc = read_value(c, t, &row[i]);
		if (rc)
			return rc;
	}
	r->nrows++;
	return 0;
}

/* The column count and names that open every batch; the first batch sets them. */
static int read_columns(struct dq_rows *r, struct dq_cur *c, const char ***names)
{
	uint64_t n;
	int rc = dq_cur_u64(c, &n);

	if (rc)
		return rc;
	/* At least one column (dqlite sends no ROWS for a statement without any), each name
	 * at least a word. */
	if (n == 0 || n > XDROP_DQ_MAX_COLUMNS || n > c->left / 8)
		return -EPROTO;
	if (r->ncols && n != r->ncols)
		return -EPROTO;
	*names = calloc((size_t)n, sizeof(**names));
	if (!*names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		rc = dq_cur_text(c, &(*names)[i], NULL);
		if (rc)
			return rc;
	}
	return (int)n;
}

static int keep_body(struct dq_rows *r, uint8_t *body)
{
	uint8_t **b = realloc(r->bodies, (r->nbodies + 1) * sizeof(*b));

	if (!b)
		return -ENOMEM;
	r->bodies = b;
	r->bodies[r->nbodies++] = body;
	return 0;
}

/* Rows up to the marker; 0 with *done set, or an error. */
static int read_rows(struct dq_rows *r, struct dq_cur *c, bool *done)
{
	for (;;) {
		uint64_t w;
		int rc;

		if (c->left < 8)
			return -EPROTO; /* no marker */
		memcpy(&w, c->p, 8);	/* a marker reads the same in either byte order */
		if (w == XDROP_DQ_ROWS_DONE || w == XDROP_DQ_ROWS_PART) {
			*done = w == XDROP_DQ_ROWS_DONE;
			return 0;
		}
		rc = read_row(r, c);
		if (rc)
			return rc;
	}
}

int dq_rows_add(struct dq_rows *r, uint8_t *body, size_t len, bool *done)
{
	struct dq_cur c = {.p = body, .left = body ? len : 0};
	const char **names = NULL;
	size_t nrows = r->nrows;
	unsigned ncols = r->ncols;
	int rc;

	*done = false;
	rc = read_columns(r, &c, &names);
	if (rc < 0)
		goto fail;
	r->ncols = (unsigned)rc;
	rc = read_rows(r, &c, done);
	if (rc == 0)
		rc = keep_body(r, body);
	if (rc)
		goto fail;
	if (!r->names)
		r->names = names;
	else
		free(names);
	return 0;
fail:
	free(names);
	free(body);
	r->nrows = nrows;
	r->ncols = ncols;
	*done = false;
	return rc;
}

const struct dq_value *dq_rows_at(const struct dq_rows *r, size_t row, unsigned col)
{
	if (!r || row >= r->nrows || col >= r->ncols)
		return NULL;
	return &r->values[row * r->ncols + col];
}

void dq_rows_free(struct dq_rows *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nbodies; i++)
		free(r->bodies[i]);
	free(r->bodies);
	free(r->names);
	free(r->values);
	memset(r, 0, sizeof(*r));
}
