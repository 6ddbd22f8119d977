/* SPDX-License-Identifier: MIT */
/*
 * db: the SQL layer under the store and the idempotency records, with two backends.
 *
 * - Embedded SQLite (the default): a database file. Every call is the sqlite3_ call of the
 *   same name (db_step is sqlite3_step, ...), so behaviour and cost are SQLite's.
 * - dqlite (issue 18): a database on a Raft-replicated cluster of controllers, reached
 *   through lib/dqlite's session (whichever node leads). Named by a target of the form
 *   "dqlite://HOST:PORT,HOST:PORT,.../NAME" (the nodes' addresses as they were configured,
 *   and the database name).
 *
 * The calls mirror SQLite's one for one (names, arguments, result codes SQLITE_ROW,
 * SQLITE_DONE, SQLITE_CONSTRAINT_UNIQUE, ...; bind destructors SQLITE_STATIC or
 * SQLITE_TRANSIENT) so that code written against sqlite3_ moves onto this layer by a
 * rename, and a merge of such code is the same rename.
 *
 * dqlite, how a statement is sent: db_prepare prepares the SQL locally against an
 * in-memory copy of the cluster's schema (copied again when a prepare finds a table it
 * does not know). A statement that sqlite3_stmt_readonly() calls read-only and that has
 * result columns is sent as QUERY_SQL (its rows arrive whole at the first db_step and are
 * walked by the next ones); every other statement (writes, DDL, BEGIN, COMMIT, ROLLBACK)
 * is sent as EXEC_SQL. A write is never sent as a query; a write with result columns
 * (RETURNING) is refused at prepare (libdqlite 1.11's EXEC fails on its rows). Outside a
 * transaction a read is retried across leader changes, a write only after "not the leader" or
 * SQLITE_BUSY (nothing ran; dqlite refuses a second writer at once, this waits as busy_timeout
 * does) and a BEGIN also after a lost connection (so a change waits out an election); inside one
 * (from BEGIN to COMMIT or ROLLBACK, on one connection) nothing is retried: a leader change loses
 * the transaction, every later statement of it fails with SQLITE_IOERR and the caller's ROLLBACK
 * ends it. A FAILURE keeps SQLite's code (a UNIQUE or PRIMARY KEY conflict is
 * SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, as locally); a connection failure is SQLITE_IOERR;
 * db_errmsg has the sentence.
 *
 * A db and its statements are used by one thread at a time (SQLite's NOMUTEX rule).
 */
#ifndef XDROP_CONTROLLER_DB_H
#define XDROP_CONTROLLER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define XDROP_DB_DQLITE_SCHEME "dqlite://"
#define XDROP_DB_MAX_NODES     16 /* addresses in one dqlite target */

struct db;
struct db_stmt;

/* True when where names a dqlite database (XDROP_DB_DQLITE_SCHEME). */
bool db_is_dqlite(const char *where);

/*
 * Opens where (a file with SQLite's flags, or a dqlite target: flags ignored, the
 * database created on first use) within busy_ms (SQLite's busy timeout; for dqlite the
 * time to find a leader and retry). Returns SQLITE_OK, or an error code with *out set when
 * there is a handle to read db_errmsg from (close it with db_close either way).
 */
int db_open(const char *where, struct db **out, int flags, unsigned busy_ms);
void db_close(struct db *db); /* NULL-tolerant; finalize its statements first */

/* Runs sql (one or more statements, no rows wanted). SQLITE_OK or an error code. */
int db_exec(struct db *db, const char *sql);

/* Prepares one statement (persistent: kept for reuse). SQLITE_OK and *st, or a code. */
int db_prepare(struct db *db, const char *sql, bool persistent, struct db_stmt **st);
int db_step(struct db_stmt *st); /* SQLITE_ROW, SQLITE_DONE or an error code */
int db_reset(struct db_stmt *st);
int db_clear_bindings(struct db_stmt *st);
void db_finalize(struct db_stmt *st); /* NULL-tolerant */

/* Parameters, numbered from 1; destroy: SQLITE_STATIC or SQLITE_TRANSIENT. */
int db_bind_int(struct db_stmt *st, int i, int v);
int db_bind_int64(struct db_stmt *st, int i, int64_t v);
int db_bind_null(struct db_stmt *st, int i);
int db_bind_text(struct db_stmt *st, int i, const char *v, int n, void (*destroy)(void *));
int db_bind_blob(struct db_stmt *st, int i, const void *v, int n, void (*destroy)(void *));

/* The current row's columns, numbered from 0 (valid until the next step or reset);
 * db_column_count once a step has returned SQLITE_ROW. */
int db_column_count(struct db_stmt *st);
int db_column_type(struct db_stmt *st, int i);
int db_column_int(struct db_stmt *st, int i);
int64_t db_column_int64(struct db_stmt *st, int i);
const unsigned char *db_column_text(struct db_stmt *st, int i);
const void *db_column_blob(struct db_stmt *st, int i);
int db_column_bytes(struct db_stmt *st, int i);

/* Rows changed by the last write; the last error's sentence, extended code, errno. */
int db_changes(struct db *db);
const char *db_errmsg(struct db *db);
int db_extended_errcode(struct db *db);
int db_system_errno(struct db *db);

/* SQLite's handle, or NULL for dqlite (pragmas and functions of a local file only). */
sqlite3 *db_sqlite(struct db *db);

#endif
