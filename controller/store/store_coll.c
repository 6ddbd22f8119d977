// SPDX-License-Identifier: MIT
/*
 * store_coll: the rule set's two kinds, rules and whitelist entries, as one collection.
 * store_colls[] describes each kind (table, statements, columns, protobuf message, names);
 * one generic add, replace and delete work on either (store.h), and the expiry sweep
 * deletes rules through the same path. Validation is lib/rulepb's; the match key refuses
 * duplicates; every op is recorded in the change's Delta (store_changes.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pbfield.h"
#include "rulepb.h"
#include "store_int.h"

/* ---- the kinds ---------------------------------------------------------------------------- */

/* The columns a row's packed message is made of (store_row.c): the id, the kind's prefix
 * columns (its leading fields, in field order) and the rest of the message. */
#define RULE_PB_COLS                                                                               \
	"id, name, src_ip, dst_ip, src_cidr, dst_cidr, src_port, dst_port, protocol, action,"      \
	" rate_limit, rest"
#define WL_PB_COLS                                                                                 \
	"id, name, src_ip, dst_ip, src_cidr, dst_cidr, src_port, dst_port, protocol, rest"

static const char SQL_RULE_BY_KEY[] = "SELECT " RULE_PB_COLS " FROM rules WHERE mkh = ?1";
static const char SQL_WL_BY_KEY[] = "SELECT " WL_PB_COLS " FROM whitelist WHERE mkh = ?1";
static const char SQL_RULE_EXISTS[] = "SELECT " RULE_PB_COLS " FROM rules WHERE id = ?1";
static const char SQL_WL_EXISTS[] = "SELECT " WL_PB_COLS " FROM whitelist WHERE id = ?1";
static const char SQL_RULE_INSERT[] =
    "INSERT INTO rules(id, mkh, name, src_ip, dst_ip, src_cidr, dst_cidr, src_port, dst_port,"
    " protocol, action, rate_limit, enabled, expires_at, comment, source, created_at,"
    " updated_at, rest) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16, ?17, ?18, ?19)";
static const char SQL_RULE_UPDATE[] =
    "UPDATE rules SET mkh = ?2, name = ?3, src_ip = ?4, dst_ip = ?5, src_cidr = ?6,"
    " dst_cidr = ?7, src_port = ?8, dst_port = ?9, protocol = ?10, action = ?11,"
    " rate_limit = ?12, enabled = ?13, expires_at = ?14, comment = ?15, source = ?16,"
    " created_at = ?17, updated_at = ?18, rest = ?19 WHERE id = ?1";
static const char SQL_WL_INSERT[] =
    "INSERT INTO whitelist(id, mkh, name, src_ip, dst_ip, src_cidr, dst_cidr, src_port,"
    " dst_port, protocol, comment, created_at, rest) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
    " ?9, ?10, ?11, ?12, ?13)";
static const char SQL_RULE_DELETE[] = "DELETE FROM rules WHERE id = ?1";
static const char SQL_WL_DELETE[] = "DELETE FROM whitelist WHERE id = ?1";

/* The sort key: one CASE over the bound field name, so the statement stays static. */
#define RULE_SORT_EXPR                                                                             \
	"CASE ?5 WHEN 'id' THEN id WHEN 'name' THEN name WHEN 'action' THEN action"                \
	" WHEN 'enabled' THEN enabled WHEN 'expires_at' THEN expires_at"                           \
	" WHEN 'updated_at' THEN updated_at WHEN 'src_ip' THEN src_ip || src_cidr"                 \
	" WHEN 'src_cidr' THEN src_ip || src_cidr WHEN 'dst_ip' THEN dst_ip || dst_cidr"           \
	" WHEN 'dst_cidr' THEN dst_ip || dst_cidr WHEN 'src_port' THEN src_port"                   \
	" WHEN 'dst_port' THEN dst_port WHEN 'protocol' THEN protocol"                             \
	" WHEN 'rate_limit' THEN rate_limit WHEN 'comment' THEN comment"                           \
	" WHEN 'source' THEN source ELSE created_at END"
#define SEARCH_WHERE                                                                               \
	" WHERE (?1 = '' OR instr(lower(name || ' ' || comment || ' ' || src_ip || src_cidr"       \
	" || ' ' || dst_ip || dst_cidr || ' ' || id), lower(?1)) > 0)"
#define RULE_WHERE                                                                                 \
	SEARCH_WHERE " AND (?2 < 0 OR enabled = ?2)"                                               \
		     " AND (?3 = '' OR action = ?3) AND ?4 = ?4 AND (?8 = '' OR source = ?8)"
static const char SQL_RULE_LIST[] =
    "SELECT " RULE_PB_COLS " FROM rules" RULE_WHERE
    " ORDER BY CASE WHEN ?4 THEN NULL ELSE " RULE_SORT_EXPR
    " END ASC, CASE WHEN ?4 THEN " RULE_SORT_EXPR " END DESC, created_at, id LIMIT ?6 OFFSET ?7";
static const char SQL_RULE_COUNT[] = "SELECT count(*) FROM rules" RULE_WHERE " AND ?5 = ?5";

#define WL_SORT_EXPR                                                                               \
	"CASE ?5 WHEN 'id' THEN id WHEN 'name' THEN name WHEN 'src_ip' THEN src_ip || src_cidr"    \
	" WHEN 'src_cidr' THEN src_ip || src_cidr WHEN 'dst_ip' THEN dst_ip || dst_cidr"           \
	" WHEN 'dst_cidr' THEN dst_ip || dst_cidr"                                                 \
	" WHEN 'src_port' THEN src_port WHEN 'dst_port' THEN dst_port"                             \
	" WHEN 'protocol' THEN protocol WHEN 'comment' THEN comment ELSE created_at END"
#define WL_WHERE SEARCH_WHERE " AND ?2 = ?2 AND ?3 = ?3 AND ?4 = ?4 AND ?8 = ?8"
static const char SQL_WL_LIST[] =
    "SELECT " WL_PB_COLS " FROM whitelist" WL_WHERE
    " ORDER BY CASE WHEN ?4 THEN NULL ELSE " WL_SORT_EXPR
    " END ASC, CASE WHEN ?4 THEN " WL_SORT_EXPR " END DESC, created_at, id LIMIT ?6 OFFSET ?7";
static const char SQL_WL_COUNT[] = "SELECT count(*) FROM whitelist" WL_WHERE " AND ?5 = ?5";

static const char SQL_RULE_DIGESTS[] = "SELECT " RULE_PB_COLS " FROM rules";
static const char SQL_WL_DIGESTS[] = "SELECT " WL_PB_COLS " FROM whitelist";
static const char SQL_RULE_GET[] = "SELECT " RULE_PB_COLS " FROM rules WHERE id = ?1";
static const char SQL_WL_GET[] = "SELECT " WL_PB_COLS " FROM whitelist WHERE id = ?1";
static const char SQL_SNAP_RULES[] = "SELECT " RULE_PB_COLS " FROM rules ORDER BY id";
static const char SQL_SNAP_WL[] = "SELECT " WL_PB_COLS " FROM whitelist ORDER BY id";

static const char *const rule_sorts[] = {
    "id",	  "name",     "action",	    "enabled", "expires_at", "created_at",
    "updated_at", "src_ip",   "src_cidr",   "dst_ip",  "dst_cidr",   "src_port",
    "dst_port",	  "protocol", "rate_limit", "comment", "source",     NULL};
static const char *const wl_sorts[] = {"id",	   "name",     "created_at", "src_ip",
				       "src_cidr", "dst_ip",   "dst_cidr",   "src_port",
				       "dst_port", "protocol", "comment",    NULL};

const struct store_coll store_colls[STORE_KINDS] = {
    [STORE_RULES] =
	{
	    .noun = "rule",
	    .item = "rule",
	    .items = "rules",
	    .write_what = "rule write",
	    .desc = &xdrop__v1__rule__descriptor,
	    .op_upsert = "upsert_rule",
	    .op_delete = "delete_rule",
	    .sql_by_key = SQL_RULE_BY_KEY,
	    .sql_exists = SQL_RULE_EXISTS,
	    .sql_insert = SQL_RULE_INSERT,
	    .sql_update = SQL_RULE_UPDATE,
	    .sql_delete = SQL_RULE_DELETE,
	    .sql_get = SQL_RULE_GET,
	    .sql_list = SQL_RULE_LIST,
	    .sql_count = SQL_RULE_COUNT,
	    .sql_digests = SQL_RULE_DIGESTS,
	    .sql_snapshot = SQL_SNAP_RULES,
	    .sorts = rule_sorts,
	    .prefix = 10,
	    .cols = {{"name"},
		     {"src_ip"},
		     {"dst_ip"},
		     {"src_cidr"},
		     {"dst_cidr"},
		     {"src_port"},
		     {"dst_port"},
		     {"protocol"},
		     {"action"},
		     {"rate_limit"},
		     {"enabled"},
		     {"expires_at"},
		     {"comment"},
		     {"source"},
		     {"created_at"},
		     {"updated_at"}},
	},
    [STORE_WHITELIST] =
	{
	    .noun = "whitelist entry",
	    .item = "entry",
	    .items = "entries",
	    .write_what = "whitelist write",
	    .desc = &xdrop__v1__whitelist_entry__descriptor,
	    .op_upsert = "upsert_whitelist",
	    .op_delete = "delete_whitelist",
	    .sql_by_key = SQL_WL_BY_KEY,
	    .sql_exists = SQL_WL_EXISTS,
	    .sql_insert = SQL_WL_INSERT,
	    .sql_delete = SQL_WL_DELETE,
	    .sql_get = SQL_WL_GET,
	    .sql_list = SQL_WL_LIST,
	    .sql_count = SQL_WL_COUNT,
	    .sql_digests = SQL_WL_DIGESTS,
	    .sql_snapshot = SQL_SNAP_WL,
	    .sorts = wl_sorts,
	    .prefix = 8,
	    .cols = {{"name"},
		     {"src_ip"},
		     {"dst_ip"},
		     {"src_cidr"},
		     {"dst_cidr"},
		     {"src_port"},
		     {"dst_port"},
		     {"protocol"},
		     {"comment"},
		     {"created_at"}},
	},
};

size_t store_coll_max_size(void)
{
	size_t max = 0;

	for (int k = 0; k < STORE_KINDS; k++)
		if (store_colls[k].desc->sizeof_message > max)
			max = store_colls[k].desc->sizeof_message;
	return max;
}

int store_coll_sum(struct conn *c, enum store_kind k, struct rulehash *h, uint64_t *n)
{
	struct db_stmt *st = stmt(c, store_colls[k].sql_digests);
	int rc;

	if (!st)
		return -EIO;
	*n = 0;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		uint8_t d[RULEHASH_LEN];

		if (row_digest(k, st, 0, d) < 0) {
			db_reset(st);
			return -ENOMEM;
		}
		rulehash_add(h, d);
		(*n)++;
	}
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(c, "digests");
}

/* ---- fields of a message by name (protobuf-c reflection) ---------------------------------- */

/* The address of m's field name, NULL when the message has no such field. */
static void *field_at(const ProtobufCMessage *m, const char *name, ProtobufCType *type)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (!f)
		return NULL;
	if (type)
		*type = f->type;
	return (char *)m + f->offset;
}

/* The string field name of m ("" when empty), NULL when m has none. */
static const char *field_str(const ProtobufCMessage *m, const char *name)
{
	char **p = field_at(m, name, NULL);

	return p ? (*p ? *p : "") : NULL;
}

/* Binds column i from m's field (strings as text, integers and booleans as integers). */
static void bind_col(struct db_stmt *st, int i, const ProtobufCMessage *m,
		     const struct store_col *c)
{
	ProtobufCType t = PROTOBUF_C_TYPE_BYTES;
	const void *p = field_at(m, c->field, &t);

	switch (t) {
	case PROTOBUF_C_TYPE_STRING: {
		bind_text(st, i, *(char *const *)p);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		db_bind_int(st, i, *(const protobuf_c_boolean *)p);
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
		db_bind_int(st, i, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		db_bind_int64(st, i, *(const int64_t *)p);
		break;
	default: /* a column table naming a missing or unsupported field: a bug */
		log_error("store: cannot bind field %s", c->field);
		db_bind_null(st, i);
	}
}

/* ---- writes ------------------------------------------------------------------------------- */

static bool text_ok(const char *t)
{
	return !t || strlen(t) <= XDROP_STORE_MAX_TEXT;
}

/* The id of the entry of kind k holding match key mk, other than self (in *dup, room for
 * XDROP_STORE_MAX_ID + 1): 1 when found, 0 when free, -errno. */
static int find_dup(struct conn *c, enum store_kind k, const char *mk, const char *self, char *dup)
{
	ProtobufCMessage *m;
	int rc = store_coll_by_key(c, k, mk, self, &m);

	if (rc == 1) {
		snprintf(dup, XDROP_STORE_MAX_ID + 1, "%s", field_str(m, "id"));
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return rc;
}

/* The digest of the stored entry id (sql: the kind's sql_exists) into d: 1 found, 0
 * absent, -errno. */
static int find_digest(struct conn *c, enum store_kind k, const char *sql, const char *id,
		       uint8_t *d)
{
	struct db_stmt *st = stmt(c, sql);
	int rc;

	if (!st)
		return -EIO;
	bind_text(st, 1, id);
	rc = db_step(st);
	if (rc == SQLITE_ROW) {
		rc = row_digest(k, st, 0, d) < 0 ? -ENOMEM : 1;
		db_reset(st);
		return rc;
	}
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(c, "lookup");
}

/* Checks what the store itself limits: the id, text lengths, expires_at. */
static int check_item(const ProtobufCMessage *m, const char *prefix, struct store_error *err)
{
	static const char *const texts[] = {"name", "comment", "source"};
	const int64_t *expires = field_at(m, "expires_at", NULL);

	if (!rule_id_ok(field_str(m, "id")))
		return set_err(err, STORE_INVALID, prefix, "id",
			       "id must be 1..%d characters of " XDROP_ID_CHARS, XDROP_ID_MAX);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!text_ok(field_str(m, texts[i])))
			return set_err(err, STORE_INVALID, prefix, texts[i], "longer than %u bytes",
				       XDROP_STORE_MAX_TEXT);
	if (expires && *expires < 0)
		return set_err(err, STORE_INVALID, prefix, "expires_at",
			       "must be 0 (never) or a time in ns since the epoch");
	return 0;
}

int store_coll_key(const ProtobufCMessage *m, const char *prefix, char mk[MATCH_KEY_SZ],
		   struct store_error *err)
{
	struct rule_error rerr = {0};
	struct rule_spec spec;
	int rc = check_item(m, prefix, err);

	if (rc < 0)
		return rc;
	if (rulepb_to_spec(m, &spec, &rerr) < 0 || rule_refuse_match_all(&spec, &rerr) < 0)
		return set_err(err, STORE_INVALID, prefix, rerr.field, "%s",
			       rerr.reason ? rerr.reason : "invalid");
	rulepb_match_key(&spec, mk, MATCH_KEY_SZ);
	return 0;
}

int store_coll_bind(struct db_stmt *st, enum store_kind k, const ProtobufCMessage *m,
		    const char *mk, const uint8_t *pb, size_t len)
{
	const struct store_coll *kc = &store_colls[k];
	size_t plen;
	int i = 3;

	if (pb_prefix_len(k, pb, len, &plen) < 0) {
		log_error("store: a packed %s is not laid out as expected", kc->noun);
		return -EIO;
	}
	bind_text(st, 1, field_str(m, "id"));
	db_bind_int64(st, 2, (int64_t)store_mkh(mk));
	for (const struct store_col *col = kc->cols; col->field; col++)
		bind_col(st, i++, m, col);
	db_bind_blob(st, i, pb + plen, (int)(len - plen), SQLITE_STATIC);
	return 0;
}

/* Writes m's row (packed: pb) with sql (insert or update). */
static int write_row(struct conn *c, enum store_kind k, const char *sql, const ProtobufCMessage *m,
		     const char *mk, const uint8_t *pb, size_t len)
{
	struct db_stmt *st = stmt(c, sql);
	int rc;

	if (!st)
		return -EIO;
	rc = store_coll_bind(st, k, m, mk, pb, len);
	if (rc < 0)
		return rc;
	rc = db_step(st);
	db_reset(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return -EEXIST; /* the only unique index is the id's */
	return rc == SQLITE_DONE ? 0 : sql_err(c, store_colls[k].write_what);
}

/*
 * Validates m (a shallow, stats-less copy of kind kind that lives as long as ch) and
 * writes its row with sql (insert or update), recording the upsert in ch. self: the id
 * being replaced (duplicates of itself are fine), NULL for inserts.
 */
int store_coll_put(struct change *ch, enum store_kind kind, ProtobufCMessage *m, const char *sql,
		   const char *self, const char *prefix, struct store_error *err)
{
	const struct store_coll *k = &store_colls[kind];
	struct conn *c = &ch->s->w;
	char mk[MATCH_KEY_SZ], dup[XDROP_STORE_MAX_ID + 1];
	uint8_t digest[RULEHASH_LEN], old[RULEHASH_LEN], small[1024], *pb;
	const char *id = field_str(m, "id");
	size_t len;
	int rc;

	rc = store_coll_key(m, prefix, mk, err);
	if (rc < 0)
		return rc;
	rc = find_dup(c, kind, mk, self, dup);
	if (rc < 0)
		return rc;
	if (rc)
		return set_err(err, STORE_EXISTS, prefix, NULL,
			       "a %s with the same match already exists: %s", k->noun, dup);
	/* an insert finds a taken id by the id index's conflict (one probe less per item) */
	rc = self ? find_digest(c, kind, k->sql_exists, id, old) : 0;
	if (rc < 0)
		return rc;
	if (!rc && self)
		return set_err(err, STORE_NOT_FOUND, "id", NULL, "no %s %s", k->noun, id);
	len = protobuf_c_message_get_packed_size(m);
	pb = len <= sizeof(small) ? small : malloc(len);
	if (!pb)
		return -ENOMEM;
	protobuf_c_message_pack(m, pb);
	pb_digest(kind, pb, len, digest);
	rc = write_row(c, kind, sql, m, mk, pb, len);
	if (pb != small)
		free(pb);
	if (rc == -EEXIST)
		return set_err(err, STORE_EXISTS, prefix, "id", "%s %s already exists", k->noun,
			       id);
	if (rc < 0)
		return rc;
	if (self)
		rulehash_sub(&ch->hash, old);
	else
		ch->dcount[kind]++;
	rulehash_add(&ch->hash, digest);
	pbf_set_ptr(&change_op(ch)->base, k->op_upsert, m);
	return 0;
}

static void prefix_of(char *buf, size_t len, const char *prefix, size_t i, size_t n)
{
	if (n == 1)
		snprintf(buf, len, "%s", prefix);
	else
		snprintf(buf, len, "%s[%zu]", prefix, i);
}

/* Item i of ch's copies: a shallow copy of m without its counters (never stored). */
ProtobufCMessage *store_coll_copy(struct change *ch, size_t i, const ProtobufCMessage *m)
{
	size_t size = m->descriptor->sizeof_message;
	ProtobufCMessage *c = (ProtobufCMessage *)((char *)ch->items + i * size);
	void **stats;

	memcpy(c, m, size);
	stats = field_at(c, "stats", NULL);
	if (stats)
		*stats = NULL;
	return c;
}

/* A failed op: the database's own failures become the generic write error. */
int store_coll_fail(struct change *ch, int rc, size_t i, size_t *err_index, struct store_error *err)
{
	if (err_index)
		*err_index = i;
	if (rc == -EIO || rc == -ENOMEM || rc == -ENOSPC || rc == -ECONNRESET)
		write_fail(err, rc, "write");
	change_abort(ch);
	return rc;
}

/* Commits ch; a failed commit becomes the generic commit error. */
int store_coll_commit(struct change *ch, uint64_t *rev, struct store_error *err)
{
	int rc = change_commit(ch, rev);

	if (rc < 0)
		write_fail(err, rc, "commit");
	return rc;
}

int store_add(struct store *s, enum store_kind kind, void *const *items, size_t n,
	      const char *prefix, uint64_t *rev, size_t *err_index, struct store_error *err)
{
	const struct store_coll *k = &store_colls[kind];
	struct change ch;
	char pfx[64];
	int rc;

	if (n == 0 || n > XDROP_STAGE_MAX_ITEMS) /* the service caps unstaged batches lower */
		return set_err(err, n ? STORE_EXHAUSTED : STORE_INVALID, k->items, NULL,
			       "a batch holds 1..%d %s", XDROP_STAGE_MAX_ITEMS, k->items);
	rc = change_begin(s, &ch, n);
	if (rc < 0)
		return begin_fail(s, rc, err);
	for (size_t i = 0; i < n; i++) {
		prefix_of(pfx, sizeof(pfx), prefix, i, n);
		rc = store_coll_put(&ch, kind, store_coll_copy(&ch, i, items[i]), k->sql_insert,
				    NULL, pfx, err);
		if (rc < 0)
			return store_coll_fail(&ch, rc, i, err_index, err);
	}
	return store_coll_commit(&ch, rev, err);
}

int store_replace(struct store *s, enum store_kind kind, const void *item, uint64_t *rev,
		  struct store_error *err)
{
	const struct store_coll *k = &store_colls[kind];
	const ProtobufCMessage *m = item;
	struct change ch;
	int rc;

	if (!k->sql_update)
		return set_err(err, STORE_INVALID, k->item, NULL, "a %s cannot be replaced",
			       k->noun);
	rc = change_begin(s, &ch, 1);
	if (rc < 0)
		return begin_fail(s, rc, err);
	rc = store_coll_put(&ch, kind, store_coll_copy(&ch, 0, m), k->sql_update,
			    field_str(m, "id"), k->item, err);
	if (rc < 0)
		return store_coll_fail(&ch, rc, 0, NULL, err);
	return store_coll_commit(&ch, rev, err);
}

/* Deletes id of kind kind within ch. */
int store_coll_del(struct change *ch, enum store_kind kind, const char *id, const char *field,
		   struct store_error *err)
{
	const struct store_coll *k = &store_colls[kind];
	uint8_t digest[RULEHASH_LEN];
	struct db_stmt *st;
	int rc;

	rc = find_digest(&ch->s->w, kind, k->sql_exists, id, digest);
	if (rc < 0)
		return rc;
	if (!rc)
		return set_err(err, STORE_NOT_FOUND, field, NULL, "no %s %.64s", k->noun, id);
	st = stmt(&ch->s->w, k->sql_delete);
	if (!st)
		return -EIO;
	bind_text(st, 1, id);
	rc = db_step(st);
	db_reset(st);
	if (rc != SQLITE_DONE)
		return sql_err(&ch->s->w, "delete");
	rulehash_sub(&ch->hash, digest);
	ch->dcount[kind]--;
	pbf_set_ptr(&change_op(ch)->base, k->op_delete, id);
	return 0;
}

int store_delete(struct store *s, enum store_kind kind, const char *const *ids, size_t n,
		 uint64_t *rev, size_t *err_index, struct store_error *err)
{
	struct change ch;
	char field[64];
	int rc;

	if (n == 0 || n > XDROP_STORE_MAX_BATCH)
		return set_err(err, n ? STORE_EXHAUSTED : STORE_INVALID, "ids", NULL,
			       "a batch holds 1..%d ids", XDROP_STORE_MAX_BATCH);
	rc = change_begin(s, &ch, n);
	if (rc < 0)
		return begin_fail(s, rc, err);
	for (size_t i = 0; i < n; i++) {
		if (n == 1)
			snprintf(field, sizeof(field), "id");
		else
			snprintf(field, sizeof(field), "ids[%zu]", i);
		rc = store_coll_del(&ch, kind, ids[i], field, err);
		if (rc < 0)
			return store_coll_fail(&ch, rc, i, err_index, err);
	}
	return store_coll_commit(&ch, rev, err);
}

/* ---- expiry ------------------------------------------------------------------------------- */

static const char SQL_RULES_EXPIRED[] = "SELECT id FROM rules WHERE expires_at > 0 AND"
					" expires_at <= ?1 ORDER BY id LIMIT ?2";

static const char SQL_RULES_EXPIRED_COUNT[] = "SELECT count(*) FROM rules WHERE"
					      " expires_at > 0 AND expires_at <= ?1";

/* How many rules have expired (at most XDROP_STORE_MAX_BATCH), or -EIO. */
static int count_expired(struct store *s, int64_t now)
{
	struct conn *c = reader_get(s);
	struct db_stmt *st = stmt(c, SQL_RULES_EXPIRED_COUNT);
	int n = -EIO;

	if (st) {
		db_bind_int64(st, 1, now);
		if (db_step(st) == SQLITE_ROW)
			n = db_column_int(st, 0);
		db_reset(st);
	}
	reader_put(s, c);
	return n > XDROP_STORE_MAX_BATCH ? XDROP_STORE_MAX_BATCH : n;
}

int store_rules_expire(struct store *s, int64_t now, size_t *count, uint64_t *rev)
{
	struct change ch;
	struct db_stmt *st;
	int rc;

	*count = 0;
	rc = count_expired(s, now);
	if (rc <= 0)
		return rc;
	rc = change_begin(s, &ch, (size_t)rc);
	if (rc < 0)
		return rc;
	st = stmt(&s->w, SQL_RULES_EXPIRED);
	if (!st) {
		change_abort(&ch);
		return -EIO;
	}
	db_bind_int64(st, 1, now);
	db_bind_int(st, 2, XDROP_STORE_MAX_BATCH);
	while ((rc = db_step(st)) == SQLITE_ROW) {
		char *id = col_strdup(st, 0);

		if (!id) {
			db_reset(st);
			change_abort(&ch);
			return -ENOMEM;
		}
		ch.strs[ch.nstrs++] = id;
	}
	db_reset(st);
	if (rc != SQLITE_DONE || ch.nstrs == 0) {
		rc = rc != SQLITE_DONE ? sql_err(&s->w, "expiry") : 0;
		change_abort(&ch);
		return rc;
	}
	for (size_t i = 0; i < ch.nstrs; i++) {
		rc = store_coll_del(&ch, STORE_RULES, ch.strs[i], "id", NULL);
		if (rc < 0) {
			change_abort(&ch);
			return rc;
		}
	}
	*count = ch.nstrs;
	return change_commit(&ch, rev);
}
