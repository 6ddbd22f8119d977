// SPDX-License-Identifier: MIT
/*
 * db_dqlite: db.h's dqlite backend. One lib/dqlite session (one connection to the leader)
 * per db; an in-memory SQLite "shadow" of the cluster's schema tells a query from a write
 * (sqlite3_stmt_readonly) and counts a statement's parameters; parameters are kept as
 * dqlite values until the step sends them; a query's rows arrive whole at the first step.
 * One loop (call) sends every statement and applies db.h's retry and transaction rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>

#include "clock.h"
#include "db.h"
#include "db_dqlite.h"
#include "dqlite/session.h"

/* Between two attempts of one statement: from 1 ms, doubled up to 20. dqlite refuses a
 * second writer at once, and a write transaction of the store ends within a few ms: a
 * fixed 20 ms made a write that met another one wait several commits' time. */
#define DQDB_PAUSE_MS	  20
#define DQDB_PAUSE_MIN_MS 1

struct dqdb {
	struct dq_session *s;
	sqlite3 *shadow; /* the cluster's schema, in memory */
	int retry_ms;
	bool in_txn;   /* between a BEGIN that succeeded and its COMMIT or ROLLBACK */
	bool txn_lost; /* the connection of that transaction was dropped */
	bool fresh;    /* the session may have a new connection: set it up (conn_setup) */
	int changes;
	int code;
	char msg[XDROP_DQ_MAX_WHY];
};

enum txn_kind { TXN_NONE, TXN_BEGIN, TXN_COMMIT, TXN_ROLLBACK };

struct dqdb_stmt {
	struct dqdb *db;
	char *sql;
	bool query; /* read-only with result columns: QUERY_SQL; else EXEC_SQL */
	enum txn_kind txn;
	int nparams;
	struct dq_value *params;
	void **owned; /* copies of SQLITE_TRANSIENT values, per parameter */
	struct dq_rows rows;
	bool ran;
	size_t row; /* the current row + 1 once stepped */
};

static int fail(struct dqdb *db, int code, const char *msg)
{
	db->code = code;
	snprintf(db->msg, sizeof(db->msg), "%s", msg);
	return code;
}

static enum txn_kind txn_kind(const char *sql)
{
	sql += strspn(sql, " \t\r\n");
	if (!strncasecmp(sql, "BEGIN", 5))
		return TXN_BEGIN;
	if (!strncasecmp(sql, "COMMIT", 6) || !strncasecmp(sql, "END", 3))
		return TXN_COMMIT;
	if (!strncasecmp(sql, "ROLLBACK", 8)) {
		const char *to = sql + 8 + strspn(sql + 8, " \t\r\n");

		/* ROLLBACK TO a savepoint: the transaction goes on */
		return strncasecmp(to, "TO", 2) ? TXN_ROLLBACK : TXN_NONE;
	}
	return TXN_NONE;
}

/* SQLite's code for a FAILURE: a constraint without its extended code gets it from the
 * message, as a local SQLite with extended codes would return it. */
static int failure_code(const struct dq_error *e)
{
	int code = (int)e->code;

	if (code == SQLITE_CONSTRAINT && strstr(e->msg, "UNIQUE constraint failed"))
		return SQLITE_CONSTRAINT_UNIQUE;
	if (code == SQLITE_CONSTRAINT && strstr(e->msg, "PRIMARY KEY"))
		return SQLITE_CONSTRAINT_PRIMARYKEY;
	return code;
}

/* Records the error rc of a call on c; returns SQLite's code for it. */
static int call_error(struct dqdb *db, struct dq_conn *c, int rc)
{
	const struct dq_error *e = dq_conn_error(c);

	dq_conn_why(c, rc, db->msg, sizeof(db->msg));
	db->code = e->code ? failure_code(e) : SQLITE_IOERR;
	return db->code;
}

/*
 * The connection's settings on the leader, sent once per connection. A page cache large
 * enough for the store's largest transaction (a 10,000-rule batch): libdqlite 1.11 fails
 * a transaction whose pages spill from the cache before COMMIT with "disk I/O error"
 * (SQLITE_IOERR_SHORT_READ; canonical/dqlite#432, fixed in a later release).
 */
static int conn_setup(struct dqdb *db, struct dq_conn *c, uint32_t id)
{
	int rc = dq_exec_sql(c, id, "PRAGMA cache_size = -262144", NULL, 0, NULL);

	if (rc == 0)
		db->fresh = false;
	return rc;
}

static void pause_ms(int ms)
{
	struct timespec ts = {.tv_nsec = ms * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Sends sql with params as a query (rows) or a statement (res) on the leader, by db.h's
 * rules: inside a transaction once, on its connection; outside, again after not-leader or
 * busy (nothing ran: the busy timeout of SQLite), and an idempotent request (a query, a
 * BEGIN: a transaction dies with its connection) also after a lost connection, until the
 * retry time is spent.
 */
static int call(struct dqdb *db, const char *sql, const struct dq_value *params, unsigned n,
		bool idempotent, struct dq_rows *rows, struct dq_result *res)
{
	int64_t deadline = clock_mono_ms() + db->retry_ms;
	int pause = DQDB_PAUSE_MIN_MS;

	if (db->in_txn && db->txn_lost)
		return fail(db, SQLITE_IOERR,
			    "the transaction was lost with its connection to the leader");
	for (;;) {
		struct dq_conn *c;
		uint32_t id;
		bool broken, again;
		int code, rc = dq_session_conn(db->s, &c, &id);

		if (rc) {
			db->fresh = true; /* the session may have dropped its connection */
			db->txn_lost = db->in_txn;
			return fail(db, SQLITE_IOERR, dq_session_why(db->s));
		}
		if (db->fresh)
			rc = conn_setup(db, c, id);
		if (rc == 0)
			rc = rows ? dq_query_sql(c, id, sql, params, n, rows)
				  : dq_exec_sql(c, id, sql, params, n, res);
		if (rc == 0)
			return SQLITE_OK;
		code = call_error(db, c, rc);
		broken = dq_conn_broken(c);
		dq_session_drop(db->s, rc);
		if (rc != -EBUSY || broken) /* busy keeps the connection and its settings */
			db->fresh = true;
		if (rc == -EREMCHG || rc == -ECONNABORTED || broken) {
			if (db->in_txn) {
				db->txn_lost = true;
				return code;
			}
		}
		/* not the leader, or busy (another writer's transaction): nothing ran */
		again = rc == -EREMCHG || rc == -EBUSY ||
			(idempotent && (rc == -ECONNABORTED || broken));
		if (db->in_txn || !again || clock_mono_ms() + pause >= deadline)
			return code;
		pause_ms(pause);
		pause = pause * 2 < DQDB_PAUSE_MS ? pause * 2 : DQDB_PAUSE_MS;
	}
}

/* A statement of kind k ran with result code: the transaction state follows it. */
static void txn_track(struct dqdb *db, enum txn_kind k, int code)
{
	if (k == TXN_BEGIN && code == SQLITE_OK) {
		db->in_txn = true;
		db->txn_lost = false;
	} else if (k == TXN_ROLLBACK || (k == TXN_COMMIT && code == SQLITE_OK)) {
		db->in_txn = false;
		db->txn_lost = false;
	}
}

/* Runs one statement of kind k (with params) that returns no rows. */
static int exec_one(struct dqdb *db, enum txn_kind k, const char *sql,
		    const struct dq_value *params, unsigned n)
{
	struct dq_result res = {0};
	int code;

	if (k != TXN_NONE && db->in_txn && db->txn_lost) {
		/* The node dropped the transaction with its connection: a ROLLBACK has nothing
		 * left to do, a COMMIT fails, a BEGIN starts afresh. Either way the transaction
		 * is over here too (a COMMIT that kept it would fail every later statement). */
		db->in_txn = false;
		db->txn_lost = false;
		if (k == TXN_ROLLBACK)
			return SQLITE_OK;
		if (k == TXN_COMMIT)
			return fail(db, SQLITE_IOERR,
				    "the transaction was lost with its connection to the leader");
	}
	code = call(db, sql, params, n, k == TXN_BEGIN, NULL, &res);
	db->changes = code == SQLITE_OK ? (int)res.changes : 0;
	txn_track(db, k, code);
	return code;
}

int dqdb_exec(struct dqdb *db, const char *sql)
{
	return exec_one(db, txn_kind(sql), sql, NULL, 0);
}

/* Copies the cluster's schema into a fresh shadow. */
static int shadow_sync(struct dqdb *db)
{
	static const char sql[] = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND"
				  " name NOT LIKE 'sqlite_%' ORDER BY rowid";
	struct dq_rows rows = {0};
	int code;

	if (db->shadow)
		sqlite3_close(db->shadow);
	db->shadow = NULL;
	if (sqlite3_open_v2(":memory:", &db->shadow, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return fail(db, SQLITE_NOMEM, "cannot open the in-memory schema");
	code = call(db, sql, NULL, 0, true, &rows, NULL);
	for (size_t r = 0; code == SQLITE_OK && r < rows.nrows; r++) {
		const struct dq_value *v = dq_rows_at(&rows, r, 0);

		if (v && v->type == XDROP_DQ_TEXT &&
		    sqlite3_exec(db->shadow, v->text, NULL, NULL, NULL) != SQLITE_OK)
			code = fail(db, SQLITE_ERROR, sqlite3_errmsg(db->shadow));
	}
	dq_rows_free(&rows);
	return code;
}

/* Parses "A,B,.../NAME" into addrs (pointing into buf) and the name. */
static int parse_target(char *buf, const char **addrs, size_t *n, const char **name)
{
	char *slash = strrchr(buf, '/'), *save = NULL;

	*n = 0;
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = '\0';
	*name = slash + 1;
	for (char *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (*n == XDROP_DB_MAX_NODES)
			return -E2BIG;
		addrs[(*n)++] = a;
	}
	return *n ? 0 : -EINVAL;
}

int dqdb_open(const char *target, struct dqdb **out, unsigned retry_ms)
{
	const char *addrs[XDROP_DB_MAX_NODES], *name;
	struct dq_session_opts o = {.sz = sizeof(o)};
	struct dqdb *db = calloc(1, sizeof(*db));
	char *buf = strdup(target);
	size_t n;
	int rc;

	*out = db;
	if (!db || !buf) {
		free(buf);
		return SQLITE_NOMEM;
	}
	db->retry_ms = retry_ms ? (int)retry_ms : XDROP_DQ_RETRY_MS;
	db->fresh = true;
	if (parse_target(buf, addrs, &n, &name) < 0) {
		free(buf);
		return fail(db, SQLITE_CANTOPEN, "a dqlite target is dqlite://HOST:PORT,.../NAME");
	}
	o.addrs = addrs;
	o.naddrs = n;
	o.database = name;
	o.retry_ms = db->retry_ms;
	rc = dq_session_open(&db->s, &o);
	free(buf);
	if (rc) {
		snprintf(db->msg, sizeof(db->msg), "no dqlite leader reached: %s", strerror(-rc));
		db->code = SQLITE_CANTOPEN;
		return db->code;
	}
	return shadow_sync(db);
}

void dqdb_close(struct dqdb *db)
{
	if (!db)
		return;
	dq_session_close(db->s);
	if (db->shadow)
		sqlite3_close(db->shadow);
	free(db);
}

/* Prepares sql on the shadow, copying the schema again when the shadow lacks a table. */
static int shadow_prepare(struct dqdb *db, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v2(db->shadow, sql, -1, out, NULL);

	if (rc != SQLITE_OK && shadow_sync(db) == SQLITE_OK)
		rc = sqlite3_prepare_v2(db->shadow, sql, -1, out, NULL);
	if (rc != SQLITE_OK)
		fail(db, rc, db->shadow ? sqlite3_errmsg(db->shadow) : "no schema");
	return rc;
}

int dqdb_prepare(struct dqdb *db, const char *sql, struct dqdb_stmt **out)
{
	struct dqdb_stmt *st = calloc(1, sizeof(*st));
	sqlite3_stmt *sh = NULL;
	int rc;

	*out = NULL;
	if (!st)
		return fail(db, SQLITE_NOMEM, "out of memory");
	rc = shadow_prepare(db, sql, &sh);
	if (rc != SQLITE_OK) {
		free(st);
		return rc;
	}
	if (!sqlite3_stmt_readonly(sh) && sqlite3_column_count(sh) > 0) {
		/* QUERY would run it outside Raft; libdqlite 1.11's EXEC fails on its rows */
		sqlite3_finalize(sh);
		free(st);
		return fail(db, SQLITE_ERROR,
			    "a write with result columns (RETURNING) cannot be "
			    "sent to dqlite");
	}
	st->db = db;
	st->sql = strdup(sql);
	st->txn = txn_kind(sql);
	st->query = sqlite3_stmt_readonly(sh) && sqlite3_column_count(sh) > 0;
	st->nparams = sqlite3_bind_parameter_count(sh);
	sqlite3_finalize(sh);
	st->params = calloc((size_t)st->nparams + 1, sizeof(*st->params));
	st->owned = calloc((size_t)st->nparams + 1, sizeof(*st->owned));
	if (!st->sql || !st->params || !st->owned) {
		dqdb_finalize(st);
		return fail(db, SQLITE_NOMEM, "out of memory");
	}
	if (st->nparams > XDROP_DQ_MAX_PARAMS) {
		dqdb_finalize(st);
		return fail(db, SQLITE_RANGE, "more parameters than dqlite sends");
	}
	dqdb_clear_bindings(st);
	*out = st;
	return SQLITE_OK;
}

int dqdb_step(struct dqdb_stmt *st)
{
	int code;

	if (st->ran) {
		if (!st->query || st->row >= st->rows.nrows)
			return SQLITE_DONE;
		st->row++;
		return st->row <= st->rows.nrows ? SQLITE_ROW : SQLITE_DONE;
	}
	st->ran = true;
	if (!st->query)
		return exec_one(st->db, st->txn, st->sql, st->params, (unsigned)st->nparams) ==
			       SQLITE_OK
			   ? SQLITE_DONE
			   : st->db->code;
	code = call(st->db, st->sql, st->params, (unsigned)st->nparams, true, &st->rows, NULL);
	if (code != SQLITE_OK)
		return code;
	st->row = st->rows.nrows ? 1 : 0;
	return st->row ? SQLITE_ROW : SQLITE_DONE;
}

int dqdb_reset(struct dqdb_stmt *st)
{
	dq_rows_free(&st->rows);
	st->ran = false;
	st->row = 0;
	return SQLITE_OK;
}

static void unbind(struct dqdb_stmt *st, int i)
{
	free(st->owned[i]);
	st->owned[i] = NULL;
	st->params[i] = (struct dq_value){.type = XDROP_DQ_NULL};
}

int dqdb_clear_bindings(struct dqdb_stmt *st)
{
	for (int i = 0; i < st->nparams; i++)
		unbind(st, i);
	return SQLITE_OK;
}

void dqdb_finalize(struct dqdb_stmt *st)
{
	if (!st)
		return;
	if (st->owned)
		for (int i = 0; i < st->nparams; i++)
			free(st->owned[i]);
	dq_rows_free(&st->rows);
	free(st->owned);
	free(st->params);
	free(st->sql);
	free(st);
}

/* The slot of parameter i (from 1), emptied; NULL when out of range. */
static struct dq_value *slot(struct dqdb_stmt *st, int i)
{
	if (i < 1 || i > st->nparams)
		return NULL;
	unbind(st, i - 1);
	return &st->params[i - 1];
}

int dqdb_bind_int64(struct dqdb_stmt *st, int i, int64_t v)
{
	struct dq_value *p = slot(st, i);

	if (!p)
		return SQLITE_RANGE;
	*p = (struct dq_value){.type = XDROP_DQ_INTEGER, .i = v};
	return SQLITE_OK;
}

int dqdb_bind_null(struct dqdb_stmt *st, int i)
{
	return slot(st, i) ? SQLITE_OK : SQLITE_RANGE;
}

/* v (len bytes) into slot p of parameter i, copied (with a NUL) when asked. */
static const void *keep(struct dqdb_stmt *st, int i, const void *v, size_t len, bool copy)
{
	char *c;

	if (!copy)
		return v;
	c = malloc(len + 1);
	if (!c)
		return NULL;
	memcpy(c, v, len);
	c[len] = '\0';
	st->owned[i - 1] = c;
	return c;
}

int dqdb_bind_text(struct dqdb_stmt *st, int i, const char *v, int n, bool copy)
{
	struct dq_value *p = slot(st, i);
	size_t len;

	if (!p)
		return SQLITE_RANGE;
	if (!v)
		return SQLITE_OK;
	len = n < 0 ? strlen(v) : (size_t)n;
	if (n >= 0 && memchr(v, '\0', len) == NULL)
		copy = true; /* dqlite sends NUL-terminated text */
	p->text = keep(st, i, v, len, copy);
	if (!p->text)
		return SQLITE_NOMEM;
	p->type = XDROP_DQ_TEXT;
	return SQLITE_OK;
}

int dqdb_bind_blob(struct dqdb_stmt *st, int i, const void *v, int n, bool copy)
{
	struct dq_value *p = slot(st, i);

	if (!p)
		return SQLITE_RANGE;
	if (!v)
		return SQLITE_OK;
	p->blob = keep(st, i, v, (size_t)n, copy);
	if (!p->blob)
		return SQLITE_NOMEM;
	p->type = XDROP_DQ_BLOB;
	p->len = (size_t)n;
	return SQLITE_OK;
}

/* Column i of the current row, or NULL. */
static const struct dq_value *col(struct dqdb_stmt *st, int i)
{
	if (!st->row || i < 0)
		return NULL;
	return dq_rows_at(&st->rows, st->row - 1, (unsigned)i);
}

int dqdb_column_count(struct dqdb_stmt *st)
{
	return st->row ? (int)st->rows.ncols : 0;
}

int dqdb_column_type(struct dqdb_stmt *st, int i)
{
	const struct dq_value *v = col(st, i);

	if (!v)
		return SQLITE_NULL;
	switch (v->type) {
	case XDROP_DQ_INTEGER:
	case XDROP_DQ_BOOLEAN:
	case XDROP_DQ_UNIXTIME:
		return SQLITE_INTEGER;
	case XDROP_DQ_FLOAT:
		return SQLITE_FLOAT;
	case XDROP_DQ_TEXT:
	case XDROP_DQ_ISO8601:
		return SQLITE_TEXT;
	case XDROP_DQ_BLOB:
		return SQLITE_BLOB;
	default:
		return SQLITE_NULL;
	}
}

int64_t dqdb_column_int64(struct dqdb_stmt *st, int i)
{
	const struct dq_value *v = col(st, i);

	if (!v)
		return 0;
	switch (dqdb_column_type(st, i)) {
	case SQLITE_INTEGER:
		return v->i;
	case SQLITE_FLOAT:
		return (int64_t)v->f;
	case SQLITE_TEXT:
		return strtoll(v->text, NULL, 10);
	default:
		return 0;
	}
}

const unsigned char *dqdb_column_text(struct dqdb_stmt *st, int i)
{
	const struct dq_value *v = col(st, i);

	if (!v || dqdb_column_type(st, i) != SQLITE_TEXT)
		return NULL; /* SQLite would convert: nothing here reads another type as text */
	return (const unsigned char *)v->text;
}

const void *dqdb_column_blob(struct dqdb_stmt *st, int i)
{
	const struct dq_value *v = col(st, i);

	if (!v)
		return NULL;
	if (v->type == XDROP_DQ_BLOB)
		return v->len ? v->blob : NULL;
	return dqdb_column_text(st, i); /* text read as a blob: its bytes, as SQLite */
}

int dqdb_column_bytes(struct dqdb_stmt *st, int i)
{
	const struct dq_value *v = col(st, i);

	if (!v)
		return 0;
	if (v->type == XDROP_DQ_BLOB)
		return (int)v->len;
	return dqdb_column_type(st, i) == SQLITE_TEXT ? (int)strlen(v->text) : 0;
}

int dqdb_changes(struct dqdb *db)
{
	return db->changes;
}

const char *dqdb_errmsg(struct dqdb *db)
{
	return db ? db->msg : "out of memory";
}

int dqdb_errcode(struct dqdb *db)
{
	return db ? db->code : SQLITE_NOMEM;
}
