/* SPDX-License-Identifier: MIT */
/*
 * db_copy: a whole database copied from one db (db.h) to another, whichever their backends:
 * the operator's backup of a controller's database (a cluster's or a SQLite file's) into a
 * SQLite file, and its restore into a new cluster or file (controller/backup.c). So a
 * backup is an ordinary single-controller database, and converting between a SQLite file
 * and a cluster is the same two commands.
 *
 * The source is read in one read transaction (BEGIN ... COMMIT on one connection: on
 * SQLite a WAL snapshot, on dqlite the leader's), so the copy is consistent while others
 * keep writing. Tables are created from the source's schema (sqlite_master's SQL, so every
 * column type, constraint and default is the source's), their rows copied by rowid in pages
 * of XDROP_DB_COPY_PAGE and written in transactions of that many rows, then the indexes and
 * triggers are created. The schema_version table travels like any other, so the controller
 * that opens the copy runs the migrations it lacks.
 */
#ifndef XDROP_CONTROLLER_DB_COPY_H
#define XDROP_CONTROLLER_DB_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define XDROP_DB_COPY_PAGE 2000 /* rows read per query and written per transaction */

struct db_copy_stats {
	unsigned tables;
	uint64_t rows;
};

/*
 * Copies every table (with its rows), index, trigger and view of from into to, which must
 * hold none (-EEXIST otherwise). Table names are identifiers of letters, digits and '_'
 * (anything else is refused: they are spliced into the copy's SQL); a FLOAT value is
 * refused (XDrop's schema has none; db.h binds no double). Returns 0 with *st filled, or
 * -errno with a sentence in err (to may then hold part of the copy: the caller discards
 * it). Both handles are borrowed.
 */
int db_copy(struct db *from, struct db *to, struct db_copy_stats *st, char *err, size_t errlen);

#endif
