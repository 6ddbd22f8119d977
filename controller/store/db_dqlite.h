/* SPDX-License-Identifier: MIT */
/*
 * db_dqlite: db.h's dqlite backend (see db.h for what is sent how). Called by db.c only;
 * the same contracts as the db_ calls of the same name. Every function takes NULL where
 * db.c may pass it (close, finalize, errmsg, errcode).
 */
#ifndef XDROP_CONTROLLER_DB_DQLITE_H
#define XDROP_CONTROLLER_DB_DQLITE_H

#include <stdbool.h>
#include <stdint.h>

struct dqdb;
struct dqdb_stmt;

/* target: "HOST:PORT,HOST:PORT,.../NAME" (db.h's target without its scheme). */
int dqdb_open(const char *target, struct dqdb **out, unsigned retry_ms);
void dqdb_close(struct dqdb *db);
int dqdb_exec(struct dqdb *db, const char *sql);
int dqdb_prepare(struct dqdb *db, const char *sql, struct dqdb_stmt **out);
int dqdb_step(struct dqdb_stmt *st);
int dqdb_reset(struct dqdb_stmt *st);
int dqdb_clear_bindings(struct dqdb_stmt *st);
void dqdb_finalize(struct dqdb_stmt *st);
int dqdb_bind_int64(struct dqdb_stmt *st, int i, int64_t v);
int dqdb_bind_null(struct dqdb_stmt *st, int i);
int dqdb_bind_text(struct dqdb_stmt *st, int i, const char *v, int n, bool copy);
int dqdb_bind_blob(struct dqdb_stmt *st, int i, const void *v, int n, bool copy);
int dqdb_column_count(struct dqdb_stmt *st);
int dqdb_column_type(struct dqdb_stmt *st, int i);
int64_t dqdb_column_int64(struct dqdb_stmt *st, int i);
const unsigned char *dqdb_column_text(struct dqdb_stmt *st, int i);
const void *dqdb_column_blob(struct dqdb_stmt *st, int i);
int dqdb_column_bytes(struct dqdb_stmt *st, int i);
int dqdb_changes(struct dqdb *db);
const char *dqdb_errmsg(struct dqdb *db);
int dqdb_errcode(struct dqdb *db);

#endif
