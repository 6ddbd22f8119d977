/* SPDX-License-Identifier: MIT */
/*
 * store_secure: what keeps the controller's database from being a credential store.
 *
 * - Files: the database, its -wal and -shm, and the lock file are the controller's only,
 *   mode 0600 whatever the umask. SQLite creates -wal and -shm with the database file's
 *   mode, so making the database 0600 before SQLite opens it (and repairing the mode of
 *   files left by an older version) is enough.
 * - Node keys: the nodes table keeps the record of lib/nodekey.h (a verifier and the
 *   derived beacon key), never the key. store_creds_migrate() is the one migration that
 *   converts older files (in C, so that it runs on dqlite too); a value that already is a
 *   record is left as is.
 * - API keys were stored as salted SHA-256 from the start (auth.c).
 *
 * Deleted and rewritten rows are zeroed in the file (PRAGMA secure_delete on the writer)
 * and the migration checkpoints the WAL, so the old plaintext does not linger in free
 * pages of a copy.
 */
#ifndef XDROP_CONTROLLER_STORE_SECURE_H
#define XDROP_CONTROLLER_STORE_SECURE_H

#include "db.h"

/* Creates path if absent and makes path, path-wal and path-shm (those present) 0600.
 * Returns 0 or -errno (logged). */
int store_files_private(const char *path);

/* Replaces every node key of db that is not a record by its record (in the caller's
 * transaction). Returns 0 or -EIO (logged). */
int store_creds_migrate(struct db *db);

#endif
