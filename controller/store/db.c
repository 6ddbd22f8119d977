// SPDX-License-Identifier: MIT
/*
 * db: the backend switch of the SQL layer (see db.h). A SQLite handle or statement is
 * called directly; a dqlite one goes to db_dqlite.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_dqlite.h"

struct db {
	sqlite3 *lite;	 /* the SQLite backend, or NULL */
	struct dqdb *dq; /* the dqlite backend, or NULL */
};

struct db_stmt {
	sqlite3_stmt *lite;
	struct dqdb_stmt *dq;
};

bool db_is_dqlite(const char *where)
{
	return where && !strncmp(where, XDROP_DB_DQLITE_SCHEME, strlen(XDROP_DB_DQLITE_SCHEME));
}

int db_open(const char *where, struct db **out, int flags, unsigned busy_ms)
{
	struct db *db = calloc(1, sizeof(*db));
	int rc;

	*out = db;
	if (!db)
		return SQLITE_NOMEM;
	if (db_is_dqlite(where))
		return dqdb_open(where + strlen(XDROP_DB_DQLITE_SCHEME), &db->dq, busy_ms);
	rc = sqlite3_open_v2(where, &db->lite, flags, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db->lite, (int)busy_ms);
		sqlite3_extended_result_codes(db->lite, 1);
	}
	return rc;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->lite)
		sqlite3_close(db->lite);
	dqdb_close(db->dq);
	free(db);
}

int db_exec(struct db *db, const char *sql)
{
	return db->lite ? sqlite3_exec(db->lite, sql, NULL, NULL, NULL) : dqdb_exec(db->dq, sql);
}

int db_prepare(struct db *db, const char *sql, bool persistent, struct db_stmt **out)
{
	struct db_stmt *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (!st)
		return SQLITE_NOMEM;
	if (db->lite)
		rc = sqlite3_prepare_v3(
		    db->lite, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st->lite, NULL);
	else
		rc = dqdb_prepare(db->dq, sql, &st->dq);
	if (rc != SQLITE_OK || (!st->lite && !st->dq)) {
		db_finalize(st);
		return rc != SQLITE_OK ? rc : SQLITE_MISUSE; /* empty SQL */
	}
	*out = st;
	return SQLITE_OK;
}

int db_step(struct db_stmt *st)
{
	return st->lite ? sqlite3_step(st->lite) : dqdb_step(st->dq);
}

int db_reset(struct db_stmt *st)
{
	return st->lite ? sqlite3_reset(st->lite) : dqdb_reset(st->dq);
}

int db_clear_bindings(struct db_stmt *st)
{
	return st->lite ? sqlite3_clear_bindings(st->lite) : dqdb_clear_bindings(st->dq);
}

void db_finalize(struct db_stmt *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->lite);
	dqdb_finalize(st->dq);
	free(st);
}

int db_bind_int(struct db_stmt *st, int i, int v)
{
	return st->lite ? sqlite3_bind_int(st->lite, i, v) : dqdb_bind_int64(st->dq, i, v);
}

int db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	return st->lite ? sqlite3_bind_int64(st->lite, i, v) : dqdb_bind_int64(st->dq, i, v);
}

int db_bind_null(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_bind_null(st->lite, i) : dqdb_bind_null(st->dq, i);
}

int db_bind_text(struct db_stmt *st, int i, const char *v, int n, void (*destroy)(void *))
{
	return st->lite ? sqlite3_bind_text(st->lite, i, v, n, destroy)
			: dqdb_bind_text(st->dq, i, v, n, destroy == SQLITE_TRANSIENT);
}

int db_bind_blob(struct db_stmt *st, int i, const void *v, int n, void (*destroy)(void *))
{
	return st->lite ? sqlite3_bind_blob(st->lite, i, v, n, destroy)
			: dqdb_bind_blob(st->dq, i, v, n, destroy == SQLITE_TRANSIENT);
}

int db_column_count(struct db_stmt *st)
{
	return st->lite ? sqlite3_column_count(st->lite) : dqdb_column_count(st->dq);
}

int db_column_type(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_type(st->lite, i) : dqdb_column_type(st->dq, i);
}

int db_column_int(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_int(st->lite, i) : (int)dqdb_column_int64(st->dq, i);
}

int64_t db_column_int64(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_int64(st->lite, i) : dqdb_column_int64(st->dq, i);
}

const unsigned char *db_column_text(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_text(st->lite, i) : dqdb_column_text(st->dq, i);
}

const void *db_column_blob(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_blob(st->lite, i) : dqdb_column_blob(st->dq, i);
}

int db_column_bytes(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_bytes(st->lite, i) : dqdb_column_bytes(st->dq, i);
}

int db_changes(struct db *db)
{
	return db->lite ? sqlite3_changes(db->lite) : dqdb_changes(db->dq);
}

const char *db_errmsg(struct db *db)
{
	if (!db)
		return "out of memory";
	if (db->lite)
		return sqlite3_errmsg(db->lite);
	return db->dq ? dqdb_errmsg(db->dq) : "cannot open the dqlite database";
}

int db_extended_errcode(struct db *db)
{
	return db->lite ? sqlite3_extended_errcode(db->lite) : dqdb_errcode(db->dq);
}

int db_system_errno(struct db *db)
{
	return db->lite ? sqlite3_system_errno(db->lite) : 0;
}

sqlite3 *db_sqlite(struct db *db)
{
	return db->lite;
}
