// SPDX-License-Identifier: MIT
/*
 * store_query: reads of the rule set: one entry, a filtered and sorted page of a kind, and
 * a consistent snapshot of both kinds (store.h). Every statement is a kind's own, from
 * store_colls[] (store_coll.c); reads use a pooled reader and never block the writer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int store_get(struct store *s, enum store_kind k, const char *id, void **out)
{
	struct conn *c = reader_get(s);
	struct db_stmt *st = stmt(c, store_colls[k].sql_get);
	int rc, err = 0;

	*out = NULL;
	if (!st) {
		err = -EIO;
		goto out;
	}
	bind_text(st, 1, id);
	rc = db_step(st);
	if (rc == SQLITE_ROW) {
		*out = row_unpack(k, st, 0);
		if (!*out)
			err = -EIO;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "get");
	}
	db_reset(st);
out:
	reader_put(s, c);
	return err;
}

bool store_sort_field_ok(enum store_kind k, const char *field)
{
	const char *const *v = store_colls[k].sorts;

	if (!field || !field[0])
		return true;
	for (unsigned i = 0; v[i]; i++)
		if (strcmp(v[i], field) == 0)
			return true;
	return false;
}

static void bind_query(struct db_stmt *st, const struct store_query *q, bool with_page)
{
	uint32_t limit = q->limit ? q->limit : XDROP_STORE_LIST_DEFAULT;
	uint32_t page = q->page ? q->page : 1;

	if (limit > XDROP_STORE_LIST_MAX)
		limit = XDROP_STORE_LIST_MAX;
	bind_text(st, 1, q->search);
	db_bind_int(st, 2, q->enabled);
	bind_text(st, 3, q->action);
	db_bind_int(st, 4, q->desc);
	bind_text(st, 5, q->sort);
	bind_text(st, 8, q->source);
	if (with_page) {
		db_bind_int64(st, 6, limit);
		db_bind_int64(st, 7, (int64_t)(page - 1) * limit);
	}
}

int store_list(struct store *s, enum store_kind k, const struct store_query *q, void ***out,
	       size_t *n, uint64_t *total)
{
	struct conn *c = reader_get(s);
	ProtobufCMessage **v = NULL;
	size_t cap = 0;
	struct db_stmt *st;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (db_exec(c->db, "BEGIN") != SQLITE_OK) {
		err = sql_err(c, "begin read");
		goto out;
	}
	st = stmt(c, store_colls[k].sql_count);
	if (!st) {
		err = -EIO;
		goto end;
	}
	bind_query(st, q, false);
	if (db_step(st) != SQLITE_ROW) {
		err = sql_err(c, "count");
		goto end;
	}
	*total = (uint64_t)db_column_int64(st, 0);
	db_reset(st);
	st = stmt(c, store_colls[k].sql_list);
	if (!st) {
		err = -EIO;
		goto end;
	}
	bind_query(st, q, true);
	while ((rc = db_step(st)) == SQLITE_ROW) {
		ProtobufCMessage *m;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			ProtobufCMessage **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		m = row_unpack(k, st, 0);
		if (!m) {
			err = -EIO;
			break;
		}
		v[(*n)++] = m;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "list");
	db_reset(st);
end:
	db_exec(c->db, "COMMIT");
out:
	reader_put(s, c);
	if (err) {
		for (size_t i = 0; i < *n; i++)
			protobuf_c_message_free_unpacked(v[i], NULL);
		free(v);
		*n = 0;
		return err;
	}
	*out = (void **)v;
	return 0;
}

void store_free_items(void **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		protobuf_c_message_free_unpacked(v[i], NULL);
	free(v);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

/*
 * Every row of sql into one buffer (*buf): a million small messages cost their bytes and
 * 16 B each for the array, not a heap block each, and the buffer goes back to the system
 * whole when the snapshot is freed (above the mmap threshold set in controller/main.c).
 */
static int read_blobs(struct conn *c, enum store_kind k, ProtobufCBinaryData **out, size_t *n,
		      uint8_t **buf)
{
	struct db_stmt *st = stmt(c, store_colls[k].sql_snapshot);
	ProtobufCBinaryData *v = NULL;
	size_t cap = 0, used = 0, room = 0;
	uint8_t *b = NULL;
	int rc, err = 0;

	*n = 0;
	if (!st)
		return -EIO;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		size_t len = row_pb_len(k, st, 0);

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			ProtobufCBinaryData *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		if (used + len > room) {
			size_t nroom = room ? room * 2 : 64 * 1024;
			uint8_t *nb;

			while (nroom < used + len)
				nroom *= 2;
			nb = realloc(b, nroom);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			b = nb;
			room = nroom;
		}
		row_pb_put(k, st, 0, b + used);
		v[*n].data = (uint8_t *)(uintptr_t)used; /* an offset until b stops moving */
		v[*n].len = len;
		used += len;
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "snapshot");
	db_reset(st);
	if (!err && room > used) { /* give back the doubling's slack */
		uint8_t *nb = realloc(b, used ? used : 1);

		if (nb)
			b = nb;
	}
	for (size_t i = 0; i < *n; i++)
		v[i].data = b + (uintptr_t)v[i].data;
	*out = v;
	*buf = b;
	return err;
}

int store_snapshot(struct store *s, struct store_snapshot **out)
{
	struct store_snapshot *snap = calloc(1, sizeof(*snap));
	struct conn *c = reader_get(s);
	struct db_stmt *st;
	int err = 0;

	*out = NULL;
	if (!snap) {
		reader_put(s, c);
		return -ENOMEM;
	}
	if (db_exec(c->db, "BEGIN") != SQLITE_OK) {
		err = sql_err(c, "begin snapshot");
		goto out;
	}
	st = stmt(c, SQL_REV_GET);
	if (!st || db_step(st) != SQLITE_ROW) {
		err = sql_err(c, "snapshot revision");
		goto end;
	}
	snap->revision = (uint64_t)db_column_int64(st, 0);
	snprintf(snap->hash, sizeof(snap->hash), "%s", (const char *)db_column_text(st, 1));
	db_reset(st);
	err = read_blobs(c, STORE_RULES, &snap->rules, &snap->nrules, &snap->rules_buf);
	if (!err)
		err = read_blobs(c, STORE_WHITELIST, &snap->wl, &snap->nwl, &snap->wl_buf);
end:
	db_exec(c->db, "COMMIT");
out:
	reader_put(s, c);
	if (err) {
		store_snapshot_free(snap);
		return err;
	}
	*out = snap;
	return 0;
}

void store_snapshot_free(struct store_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->rules_buf);
	free(snap->wl_buf);
	free(snap->rules);
	free(snap->wl);
	free(snap);
}
