// SPDX-License-Identifier: MIT
/*
 * store_row: a rule-set entry's row and its packed message (schema 6, store_open.c).
 *
 * A row keeps the message's leading fields as columns: the id (field 1) and the kind's
 * `prefix` columns after it (rules: name .. rate_limit, fields 2-11; whitelist entries:
 * name .. protocol, fields 2-9), and `rest`, the packed message without those leading
 * fields. protobuf-c writes the fields of a proto3 message in field-number order and leaves
 * out empty strings and zero numbers, so the leading bytes are written back from the
 * columns exactly as packed (row_pb): the message a node gets, and the content hash, are
 * the bytes that were stored. The match key is kept as a 64-bit hash (mkh, not unique):
 * a lookup by match key compares the keys of the rows with that hash (store_coll_by_key).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "log.h"
#include "store_int.h"

uint64_t store_mkh(const char *mk)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

	for (const unsigned char *p = (const unsigned char *)mk; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* Reads a varint at p (end: one past the buffer): its size, 0 when malformed. */
static size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	size_t n = 0;

	*v = 0;
	while (p + n < end && n < 10) {
		*v |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n++] & 0x80))
			return n;
	}
	return 0;
}

/* Writes field f from column i of st as protobuf-c packs it (nothing when empty or 0);
 * out NULL: only counts. Returns the bytes. */
static size_t put_col(uint8_t *out, const ProtobufCFieldDescriptor *f, struct db_stmt *st, int i)
{
	uint8_t tmp[24];
	size_t n;

	if (f->type == PROTOBUF_C_TYPE_STRING) {
		size_t len = (size_t)db_column_bytes(st, i);
		const unsigned char *t = db_column_text(st, i);

		if (!len)
			return 0;
		n = put_varint(tmp, (uint64_t)f->id << 3 | 2);
		n += put_varint(tmp + n, len);
		if (out) {
			memcpy(out, tmp, n);
			memcpy(out + n, t, len);
		}
		return n + len;
	}
	if (db_column_int64(st, i) == 0)
		return 0;
	n = put_varint(tmp, (uint64_t)f->id << 3);
	n += put_varint(tmp + n, (uint64_t)db_column_int64(st, i));
	if (out)
		memcpy(out, tmp, n);
	return n;
}

static const ProtobufCFieldDescriptor *lead[STORE_KINDS][STORE_COLL_COLS + 1];
static pthread_once_t lead_once = PTHREAD_ONCE_INIT;

static void lead_init(void)
{
	for (int k = 0; k < STORE_KINDS; k++) {
		const struct store_coll *c = &store_colls[k];

		lead[k][0] = protobuf_c_message_descriptor_get_field_by_name(c->desc, "id");
		for (unsigned i = 0; i < c->prefix; i++)
			lead[k][i + 1] = protobuf_c_message_descriptor_get_field_by_name(
			    c->desc, c->cols[i].field);
	}
}

/* The descriptors of the id and the prefix columns of kind k. */
static const ProtobufCFieldDescriptor *const *lead_fields(enum store_kind k)
{
	pthread_once(&lead_once, lead_init);
	return lead[k];
}

int pb_prefix_len(enum store_kind k, const uint8_t *pb, size_t len, size_t *plen)
{
	const uint8_t *p = pb, *end = pb + len;
	uint32_t last = lead_fields(k)[store_colls[k].prefix]->id;

	while (p < end) {
		uint64_t tag, v;
		size_t n = get_varint(p, end, &tag), m;

		if (!n || (tag >> 3) > last)
			break;
		if ((tag & 7) == 0)
			m = get_varint(p + n, end, &v);
		else if ((tag & 7) == 2 && (m = get_varint(p + n, end, &v)) &&
			 v <= (size_t)(end - p))
			m += (size_t)v;
		else
			return -EIO; /* no leading field is of another wire type */
		if (!m || p + n + m > end)
			return -EIO;
		p += n + m;
	}
	*plen = (size_t)(p - pb);
	return 0;
}

size_t row_pb_len(enum store_kind k, struct db_stmt *st, int col0)
{
	const ProtobufCFieldDescriptor *const *f = lead_fields(k);
	unsigned n = store_colls[k].prefix;
	size_t len = 0;

	for (unsigned i = 0; i <= n; i++)
		len += put_col(NULL, f[i], st, col0 + (int)i);
	return len + (size_t)db_column_bytes(st, col0 + (int)n + 1);
}

size_t row_pb_put(enum store_kind k, struct db_stmt *st, int col0, uint8_t *out)
{
	const ProtobufCFieldDescriptor *const *f = lead_fields(k);
	unsigned n = store_colls[k].prefix;
	size_t len = 0, rest = (size_t)db_column_bytes(st, col0 + (int)n + 1);

	for (unsigned i = 0; i <= n; i++)
		len += put_col(out + len, f[i], st, col0 + (int)i);
	if (rest)
		memcpy(out + len, db_column_blob(st, col0 + (int)n + 1), rest);
	return len + rest;
}

ProtobufCMessage *row_unpack(enum store_kind k, struct db_stmt *st, int col0)
{
	size_t len = row_pb_len(k, st, col0);
	uint8_t *b = malloc(len ? len : 1);
	ProtobufCMessage *m = NULL;

	if (b) {
		row_pb_put(k, st, col0, b);
		m = protobuf_c_message_unpack(store_colls[k].desc, NULL, len, b);
	}
	free(b);
	return m;
}

void pb_digest(enum store_kind k, const uint8_t *pb, size_t len, uint8_t d[RULEHASH_LEN])
{
	const uint8_t kind = k == STORE_RULES ? 'R' : 'W'; /* lib/rulehash.h */
	mbedtls_sha256_context ctx;

	mbedtls_sha256_init(&ctx);
	mbedtls_sha256_starts_ret(&ctx, 0);
	mbedtls_sha256_update_ret(&ctx, &kind, 1);
	mbedtls_sha256_update_ret(&ctx, pb, len);
	mbedtls_sha256_finish_ret(&ctx, d);
	mbedtls_sha256_free(&ctx);
}

int row_digest(enum store_kind k, struct db_stmt *st, int col0, uint8_t d[RULEHASH_LEN])
{
	uint8_t small[512], *b = small;
	size_t len = row_pb_len(k, st, col0);

	if (len > sizeof(small) && !(b = malloc(len)))
		return -ENOMEM;
	row_pb_put(k, st, col0, b);
	pb_digest(k, b, len, d);
	if (b != small)
		free(b);
	return 0;
}

/* A shallow message of kind k in m (room for either kind) holding only the row's id and
 * prefix columns, whose strings point into st's current row: all a match key is made of. */
static ProtobufCMessage *row_lead(enum store_kind k, struct db_stmt *st, void *m)
{
	const ProtobufCFieldDescriptor *const *f = lead_fields(k);

	store_colls[k].desc->message_init(m);
	for (unsigned i = 0; i <= store_colls[k].prefix; i++) {
		void *p = (char *)m + f[i]->offset;

		if (f[i]->type == PROTOBUF_C_TYPE_STRING)
			*(const char **)p = (const char *)db_column_text(st, (int)i);
		else if (f[i]->type == PROTOBUF_C_TYPE_UINT64 ||
			 f[i]->type == PROTOBUF_C_TYPE_INT64)
			*(int64_t *)p = db_column_int64(st, (int)i);
		else
			*(int32_t *)p = db_column_int(st, (int)i);
	}
	return m;
}

int store_coll_by_key(struct conn *c, enum store_kind k, const char *mk, const char *self,
		      ProtobufCMessage **out)
{
	struct db_stmt *st = stmt(c, store_colls[k].sql_by_key);
	int rc, found = 0;

	*out = NULL;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, (int64_t)store_mkh(mk));
	while (!found && (rc = db_step(st)) == SQLITE_ROW) {
		union {
			Xdrop__V1__Rule r;
			Xdrop__V1__WhitelistEntry w;
		} shallow;
		char key[MATCH_KEY_SZ];

		if (self && !strcmp((const char *)db_column_text(st, 0), self))
			continue; /* an entry never collides with itself */
		if (store_coll_key(row_lead(k, st, &shallow), NULL, key, NULL) != 0 ||
		    strcmp(key, mk))
			continue; /* another key with the same hash */
		*out = row_unpack(k, st, 0);
		if (!*out) {
			db_reset(st);
			return -ENOMEM;
		}
		found = 1;
	}
	if (!found && rc != SQLITE_DONE)
		return sql_err(c, "match key");
	db_reset(st);
	return found;
}

/* ---- migration 6: rows of this layout from schema 5's (pb, digest and match key) ------------ */

static const char *const v5_tables[STORE_KINDS] = {"SELECT pb FROM rules_v5",
						   "SELECT pb FROM whitelist_v5"};

/* Copies the entries of kind k from its schema-5 table into the new one. 0 or -errno. */
static int migrate_kind(struct db *db, enum store_kind k)
{
	const struct store_coll *c = &store_colls[k];
	struct db_stmt *rd = NULL, *wr = NULL;
	int rc, err = 0;

	if (db_prepare(db, v5_tables[k], false, &rd) != SQLITE_OK ||
	    db_prepare(db, c->sql_insert, false, &wr) != SQLITE_OK) {
		log_error("store: migration 6: %s", db_errmsg(db));
		err = -EIO;
		goto out;
	}
	while (!err && (rc = db_step(rd)) == SQLITE_ROW) {
		const uint8_t *pb = db_column_blob(rd, 0);
		size_t len = (size_t)db_column_bytes(rd, 0);
		ProtobufCMessage *m = protobuf_c_message_unpack(c->desc, NULL, len, pb);
		char mk[MATCH_KEY_SZ];

		if (!m || store_coll_key(m, NULL, mk, NULL) < 0) {
			log_error("store: migration 6: a stored %s does not decode or validate",
				  c->noun);
			err = -EIO;
		} else if ((err = store_coll_bind(wr, k, m, mk, pb, len)) == 0 &&
			   db_step(wr) != SQLITE_DONE) {
			log_error("store: migration 6: %s", db_errmsg(db));
			err = -EIO;
		}
		db_reset(wr);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
	}
	if (!err && rc != SQLITE_DONE) {
		log_error("store: migration 6: %s", db_errmsg(db));
		err = -EIO;
	}
out:
	db_finalize(rd);
	db_finalize(wr);
	return err;
}

int store_rows_migrate(struct db *db)
{
	int err = 0;

	for (int k = 0; k < STORE_KINDS && !err; k++)
		err = migrate_kind(db, (enum store_kind)k);
	if (!err &&
	    db_exec(db, "DROP TABLE rules_v5; DROP TABLE whitelist_v5;"
			"CREATE UNIQUE INDEX rules_id ON rules(id);"
			"CREATE INDEX rules_mkh ON rules(mkh);"
			"CREATE INDEX rules_expires ON rules(expires_at) WHERE expires_at > 0;"
			"CREATE UNIQUE INDEX whitelist_id ON whitelist(id);"
			"CREATE INDEX whitelist_mkh ON whitelist(mkh);") != SQLITE_OK) {
		log_error("store: migration 6: %s", db_errmsg(db));
		err = -EIO;
	}
	return err;
}
