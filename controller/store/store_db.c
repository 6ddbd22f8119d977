// SPDX-License-Identifier: MIT
/*
 * store_db: the store's SQLite connections (one writer, a pool of readers), their cached
 * statements and the one-statement reads and writes the row kinds share; see store_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/* True when the connection's last error means the file system is full. */
static bool disk_full(struct db *db)
{
	int e = db_extended_errcode(db) & 0xff;

	return e == SQLITE_FULL || (e == SQLITE_IOERR && db_system_errno(db) == ENOSPC);
}

int sql_err(struct conn *c, const char *what)
{
	log_error("store: %s: %s", what, db_errmsg(c->db));
	if (!db_sqlite(c->db) && (db_extended_errcode(c->db) & 0xff) == SQLITE_IOERR)
		return -ECONNRESET; /* dqlite: no leader, or it changed (db.h) */
	return disk_full(c->db) ? -ENOSPC : -EIO;
}

struct db_stmt *stmt(struct conn *c, const char *sql)
{
	struct db_stmt *st = NULL;

	for (unsigned i = 0; i < c->n; i++) {
		if (c->cache[i].sql == sql) {
			st = c->cache[i].st;
			db_reset(st);
			db_clear_bindings(st);
			return st;
		}
	}
	if (c->n == MAX_STMTS) {
		log_error("store: statement cache full");
		return NULL;
	}
	if (db_prepare(c->db, sql, true, &st) != SQLITE_OK) {
		sql_err(c, "prepare");
		return NULL;
	}
	c->cache[c->n].sql = sql;
	c->cache[c->n].st = st;
	c->n++;
	return st;
}

void conn_close(struct conn *c)
{
	for (unsigned i = 0; i < c->n; i++)
		db_finalize(c->cache[i].st);
	c->n = 0;
	db_close(c->db);
	c->db = NULL;
}

int conn_open(struct conn *c, const char *path, unsigned busy_ms, bool writer)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
	int err = 0;

	memset(c, 0, sizeof(*c));
	if (db_open(path, &c->db, flags, busy_ms) != SQLITE_OK) {
		err = c->db ? sql_err(c, path) : -ENOMEM;
		goto out;
	}
	if (writer && db_sqlite(c->db) &&
	    (db_exec(c->db, "PRAGMA journal_mode=WAL") ||
	     db_exec(c->db, "PRAGMA synchronous=NORMAL") ||
	     db_exec(c->db, "PRAGMA secure_delete=ON"))) {
		err = sql_err(c, "pragma");
		goto out;
	}
out:
	if (err)
		conn_close(c);
	return err;
}

struct conn *reader_get(struct store *s)
{
	struct conn *c = NULL;

	pthread_mutex_lock(&s->plock);
	while (!c) {
		for (unsigned i = 0; i < XDROP_STORE_READERS && !c; i++) {
			if (!s->reader_busy[i]) {
				s->reader_busy[i] = true;
				c = &s->readers[i];
			}
		}
		if (!c)
			pthread_cond_wait(&s->pcond, &s->plock);
	}
	pthread_mutex_unlock(&s->plock);
	return c;
}

void reader_put(struct store *s, struct conn *c)
{
	pthread_mutex_lock(&s->plock);
	s->reader_busy[c - s->readers] = false;
	pthread_cond_signal(&s->pcond);
	pthread_mutex_unlock(&s->plock);
}

void bind_text(struct db_stmt *st, int i, const char *v)
{
	db_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

char *col_strdup(struct db_stmt *st, int i)
{
	const unsigned char *t = db_column_text(st, i);

	return strdup(t ? (const char *)t : "");
}

int write1(struct store *s, struct db_stmt *st, bool want_change)
{
	int rc = db_step(st);
	int changes = db_changes(s->w.db);

	db_reset(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return sql_err(&s->w, "write");
	return want_change && changes == 0 ? -ENOENT : 0;
}

int delete_by_id(struct store *s, const char *sql, const char *id)
{
	struct db_stmt *st;
	int err;

	writer_lock(s);
	st = stmt(&s->w, sql);
	if (!st) {
		err = -EIO;
	} else {
		bind_text(st, 1, id);
		err = write1(s, st, true);
	}
	pthread_mutex_unlock(&s->wlock);
	return err;
}

int read_one(struct store *s, const char *sql, const char *id, store_row_fn row, void *out)
{
	struct conn *c = reader_get(s);
	struct db_stmt *st = stmt(c, sql);
	int rc, err;

	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	bind_text(st, 1, id);
	rc = db_step(st);
	if (rc == SQLITE_ROW)
		err = row(st, out);
	else
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "row");
	db_reset(st);
	reader_put(s, c);
	return err;
}

int read_all(struct store *s, const char *sql, store_row_fn row, size_t size,
	     void (*free_all)(void *v, size_t n), void **out, size_t *n)
{
	struct conn *c = reader_get(s);
	struct db_stmt *st = stmt(c, sql);
	char *v = NULL;
	size_t cap = 0;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	while ((rc = db_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char *nv = realloc(v, ncap * size);

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		err = row(st, v + *n * size);
		if (err)
			break;
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "rows");
	db_reset(st);
	reader_put(s, c);
	if (err) {
		free_all(v, *n);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

int store_integrity_check(const char *path)
{
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	int err = -EIO;

	if (db_open(path, &db, SQLITE_OPEN_READWRITE, XDROP_STORE_BUSY_TIMEOUT_MS) != SQLITE_OK)
		goto out;
	if (db_prepare(db, "PRAGMA integrity_check", false, &st) != SQLITE_OK)
		goto out;
	if (db_step(st) == SQLITE_ROW && strcmp((const char *)db_column_text(st, 0), "ok") == 0)
		err = 0;
	else
		log_error("store: integrity_check of %s: %s", path,
			  (const char *)db_column_text(st, 0));
out:
	db_finalize(st);
	db_close(db);
	return err;
}
