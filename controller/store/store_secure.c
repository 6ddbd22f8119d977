// SPDX-License-Identifier: MIT
/*
 * store_secure: file modes and node-key records of the database (see store_secure.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "nodekey.h"
#include "store_secure.h"

/* Makes file 0600 (created when create is set). A missing file is fine without create. */
static int make_private(const char *file, bool create)
{
	int fd = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	int err = 0;

	if (fd < 0) {
		if (errno == ENOENT && !create)
			return 0;
		err = -errno;
		log_error("store: cannot open %s: %s", file, strerror(errno));
		return err;
	}
	if (fchmod(fd, 0600) < 0) { /* the umask may have taken bits off, never added */
		err = -errno;
		log_error("store: cannot make %s private (0600): %s", file, strerror(errno));
	}
	close(fd);
	return err;
}

int store_files_private(const char *path)
{
	static const char *const sidecars[] = {"-wal", "-shm", "-journal"};
	char f[4096];
	int err = make_private(path, true);

	for (size_t i = 0; !err && i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
		if (snprintf(f, sizeof(f), "%s%s", path, sidecars[i]) >= (int)sizeof(f))
			return -ENAMETOOLONG;
		err = make_private(f, false);
	}
	return err;
}

static const char SQL_OLD_KEYS[] = "SELECT id, key FROM nodes WHERE key NOT LIKE 'nkv1:%'";
static const char SQL_KEY_SET[] = "UPDATE nodes SET key = ?2 WHERE id = ?1";

/* Rewrites the key of row id (st's current row) as its record. */
static int node_record_put(struct db *db, struct db_stmt *st)
{
	const char *id = (const char *)db_column_text(st, 0);
	const char *key = (const char *)db_column_text(st, 1);
	char rec[XDROP_NODEKEY_RECORD_MAX];
	struct db_stmt *up = NULL;
	int err = 0;

	if (!id || !key || nodekey_is_record(key))
		return 0;
	nodekey_record(key, rec);
	if (db_prepare(db, SQL_KEY_SET, false, &up) != SQLITE_OK)
		err = -EIO;
	if (!err) {
		db_bind_text(up, 1, id, -1, SQLITE_STATIC);
		db_bind_text(up, 2, rec, -1, SQLITE_STATIC);
		if (db_step(up) != SQLITE_DONE)
			err = -EIO;
	}
	db_finalize(up);
	explicit_bzero(rec, sizeof(rec));
	return err;
}

int store_creds_migrate(struct db *db)
{
	struct db_stmt *st = NULL;
	int rc, err = 0;

	if (db_prepare(db, SQL_OLD_KEYS, false, &st) != SQLITE_OK) {
		log_error("store: node keys: %s", db_errmsg(db));
		return -EIO;
	}
	while (!err && (rc = db_step(st)) == SQLITE_ROW)
		err = node_record_put(db, st);
	if (!err && rc != SQLITE_DONE)
		err = -EIO;
	if (err)
		log_error("store: node keys into records: %s", db_errmsg(db));
	db_finalize(st);
	return err;
}
