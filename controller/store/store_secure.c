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

static void node_record_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *key = (const char *)sqlite3_value_text(argv[0]);
	char rec[XDROP_NODEKEY_RECORD_MAX];

	(void)argc;
	if (!key) {
		sqlite3_result_null(ctx);
		return;
	}
	if (nodekey_is_record(key)) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	nodekey_record(key, rec);
	sqlite3_result_text(ctx, rec, -1, SQLITE_TRANSIENT);
}

int store_creds_register(sqlite3 *db)
{
	if (sqlite3_create_function(db, "xdrop_node_record", 1,
				    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
				    node_record_fn, NULL, NULL) != SQLITE_OK) {
		log_error("store: cannot register xdrop_node_record: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}
