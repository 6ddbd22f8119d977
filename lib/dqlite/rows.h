/* SPDX-License-Identifier: MIT */
/*
 * dqlite/rows: a result set, assembled from the ROWS messages of one query.
 *
 * Each message repeats the column count and names, then carries rows and ends with a
 * marker: PART (more messages follow) or DONE. The set keeps every message body it was
 * given and its values point into them, so nothing is copied; names point into the first.
 * A batch whose column count differs from the first one's, a row with an unknown type code
 * or a value that does not fit, or a missing marker is -EPROTO and leaves the set as it was
 * before that batch.
 */
#ifndef XDROP_DQLITE_ROWS_H
#define XDROP_DQLITE_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dqlite/wire.h"

struct dq_rows {
	unsigned ncols;
	const char **names; /* ncols column names */
	size_t nrows;
	struct dq_value *values; /* nrows * ncols, row after row */
	size_t cap;		 /* values allocated */
	uint8_t **bodies;	 /* the message bodies, owned */
	size_t nbodies;
};

/*
 * Adds one ROWS body (len bytes) to r (zeroed before the first batch). Takes ownership of
 * body in every case (it is freed on failure). *done is true after the DONE marker.
 * Returns 0, -EPROTO (see above) or -ENOMEM.
 */
int dq_rows_add(struct dq_rows *r, uint8_t *body, size_t len, bool *done);

/* The value at (row, col), or NULL when out of range. Borrowed from r. */
const struct dq_value *dq_rows_at(const struct dq_rows *r, size_t row, unsigned col);

/* Frees everything r holds and zeroes it (NULL-tolerant). */
void dq_rows_free(struct dq_rows *r);

#endif
