// SPDX-License-Identifier: MIT
/*
 * db_copy: one database into another through the db layer (see db_copy.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_copy.h"

#define SCHEMA_MAX 256	 /* tables, indexes, triggers and views in one database */
#define IDENT_MAX  64	 /* a table's name */
#define SQL_MAX	   16384 /* an INSERT with one parameter per column */

struct entry {
	bool table;
	char name[IDENT_MAX];
	char *sql;
};

struct copy {
	struct db *from, *to;
	struct entry *schema;
	size_t n;
	struct db_copy_stats *st;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct copy *c, int code, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return code;
}

static bool ident_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= IDENT_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static const char SQL_SCHEMA[] = "SELECT type, name, sql FROM sqlite_master"
				 " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
				 " ORDER BY rowid";

/* The source's schema into c->schema (copied: a row lives until the next step). */
static int schema_read(struct copy *c)
{
	struct db_stmt *q = NULL;
	int rc, err = 0;

	c->schema = calloc(SCHEMA_MAX, sizeof(*c->schema));
	if (!c->schema)
		return fail(c, -ENOMEM, "out of memory");
	if (db_prepare(c->from, SQL_SCHEMA, false, &q) != SQLITE_OK)
		return fail(c, -EIO, "reading the schema: %s", db_errmsg(c->from));
	while ((rc = db_step(q)) == SQLITE_ROW && !err) {
		const char *type = (const char *)db_column_text(q, 0);
		const char *name = (const char *)db_column_text(q, 1);
		const char *sql = (const char *)db_column_text(q, 2);
		struct entry *e = &c->schema[c->n];

		if (c->n == SCHEMA_MAX) {
			err = fail(c, -E2BIG, "more than %d schema entries", SCHEMA_MAX);
			break;
		}
		e->table = type && !strcmp(type, "table");
		if (!name || !sql || (e->table && !ident_ok(name))) {
			err =
			    fail(c, -EINVAL, "table name %s: only letters, digits and _ are copied",
				 name ? name : "(null)");
			break;
		}
		snprintf(e->name, sizeof(e->name), "%s", name);
		if (!(e->sql = strdup(sql)))
			err = fail(c, -ENOMEM, "out of memory");
		c->n++;
	}
	if (!err && rc != SQLITE_DONE)
		err = fail(c, -EIO, "reading the schema: %s", db_errmsg(c->from));
	db_finalize(q);
	return err;
}

/* 0 when the target holds no schema entry at all. */
static int target_empty(struct copy *c)
{
	struct db_stmt *q = NULL;
	int64_t n = -1;

	if (db_prepare(c->to, "SELECT count(*) FROM sqlite_master", false, &q) == SQLITE_OK &&
	    db_step(q) == SQLITE_ROW)
		n = db_column_int64(q, 0);
	db_finalize(q);
	if (n < 0)
		return fail(c, -EIO, "reading the target's schema: %s", db_errmsg(c->to));
	return n ? fail(c, -EEXIST, "the target database is not empty (%lld schema entries)",
			(long long)n)
		 : 0;
}

/* Column i of the source row into parameter i of the insert (column 0 is the rowid): 0 or
 * -errno with the sentence in c->err. */
static int bind_col(struct copy *c, struct db_stmt *q, struct db_stmt *ins, int i,
		    const char *table)
{
	static const char empty[1];
	const void *v;
	int n, rc;

	switch (db_column_type(q, i)) {
	case SQLITE_INTEGER:
		rc = db_bind_int64(ins, i, db_column_int64(q, i));
		break;
	case SQLITE_TEXT:
		v = db_column_text(q, i);
		rc = db_bind_text(ins, i, v, db_column_bytes(q, i), SQLITE_TRANSIENT);
		break;
	case SQLITE_BLOB:
		v = db_column_blob(q, i);
		n = db_column_bytes(q, i);
		rc = db_bind_blob(ins, i, n ? v : empty, n, SQLITE_TRANSIENT);
		break;
	case SQLITE_NULL:
		rc = db_bind_null(ins, i);
		break;
	default:
		return fail(c, -EINVAL, "table %s holds a FLOAT value: not copied", table);
	}
	return rc == SQLITE_OK ? 0 : fail(c, -EIO, "table %s: %s", table, db_errmsg(c->to));
}

/* The insert for a row of ncols columns (the rowid first, not inserted). */
static int insert_prepare(struct copy *c, const char *table, int ncols, struct db_stmt **ins)
{
	char sql[SQL_MAX];
	size_t len;

	len = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" VALUES(", table);
	for (int i = 1; i < ncols && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, i > 1 ? ",?" : "?");
	if (ncols < 2 || len + 2 > sizeof(sql))
		return fail(c, -EINVAL, "table %s: %d columns", table, ncols - 1);
	memcpy(sql + len, ")", 2);
	if (db_prepare(c->to, sql, true, ins) != SQLITE_OK)
		return fail(c, -EIO, "table %s: %s", table, db_errmsg(c->to));
	return 0;
}

/* One page of rows after rowid *last, written in one transaction; *more when it was full. */
static int copy_page(struct copy *c, const char *table, struct db_stmt *q, struct db_stmt **ins,
		     int64_t *last, bool *more)
{
	unsigned rows = 0;
	int rc, err = 0;

	db_reset(q);
	db_bind_int64(q, 1, *last);
	if (db_exec(c->to, "BEGIN") != SQLITE_OK)
		return fail(c, -EIO, "writing %s: %s", table, db_errmsg(c->to));
	while (!err && (rc = db_step(q)) == SQLITE_ROW) {
		int ncols = db_column_count(q);

		if (!*ins)
			err = insert_prepare(c, table, ncols, ins);
		for (int i = 1; !err && i < ncols; i++)
			err = bind_col(c, q, *ins, i, table);
		if (!err && db_step(*ins) != SQLITE_DONE)
			err = fail(c, -EIO, "writing %s: %s", table, db_errmsg(c->to));
		if (!err)
			db_reset(*ins);
		*last = db_column_int64(q, 0);
		rows++;
	}
	if (!err && rc != SQLITE_DONE)
		err = fail(c, -EIO, "reading %s: %s", table, db_errmsg(c->from));
	if (!err && db_exec(c->to, "COMMIT") != SQLITE_OK)
		err = fail(c, -EIO, "writing %s: %s", table, db_errmsg(c->to));
	if (err)
		db_exec(c->to, "ROLLBACK");
	c->st->rows += rows;
	*more = rows == XDROP_DB_COPY_PAGE;
	return err;
}

static int copy_rows(struct copy *c, const char *table)
{
	char sql[256];
	struct db_stmt *q = NULL, *ins = NULL;
	int64_t last = INT64_MIN;
	bool more = true;
	int err = 0;

	snprintf(sql, sizeof(sql),
		 "SELECT rowid, * FROM \"%s\" WHERE rowid > ?1 ORDER BY rowid LIMIT %d", table,
		 XDROP_DB_COPY_PAGE);
	if (db_prepare(c->from, sql, true, &q) != SQLITE_OK)
		return fail(c, -EIO, "reading %s: %s", table, db_errmsg(c->from));
	while (more && !err)
		err = copy_page(c, table, q, &ins, &last, &more);
	db_finalize(ins);
	db_finalize(q);
	return err;
}

/* The entries of one kind (tables, or the rest) created in the target. */
static int schema_write(struct copy *c, bool tables)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->schema[i].table != tables)
			continue;
		if (db_exec(c->to, c->schema[i].sql) != SQLITE_OK)
			return fail(c, -EIO, "creating %s: %s", c->schema[i].name,
				    db_errmsg(c->to));
		if (tables)
			c->st->tables++;
	}
	return 0;
}

int db_copy(struct db *from, struct db *to, struct db_copy_stats *st, char *err, size_t errlen)
{
	struct copy c = {.from = from, .to = to, .st = st, .err = err, .errlen = errlen};
	int rc;

	memset(st, 0, sizeof(*st));
	rc = target_empty(&c);
	if (rc)
		return rc;
	if (db_exec(from, "BEGIN") != SQLITE_OK)
		return fail(&c, -EIO, "reading the source: %s", db_errmsg(from));
	rc = schema_read(&c) ?: schema_write(&c, true);
	for (size_t i = 0; !rc && i < c.n; i++)
		if (c.schema[i].table)
			rc = copy_rows(&c, c.schema[i].name);
	rc = rc ?: schema_write(&c, false);
	if (db_exec(from, rc ? "ROLLBACK" : "COMMIT") != SQLITE_OK && !rc)
		rc = fail(&c, -EIO, "reading the source: %s", db_errmsg(from));
	for (size_t i = 0; c.schema && i < c.n; i++)
		free(c.schema[i].sql);
	free(c.schema);
	return rc;
}
