// SPDX-License-Identifier: MIT
/*
 * backup: --backup and --restore of xdrop-controller (see backup.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "cluster.h"
#include "config.h"
#include "db_copy.h"
#include "log.h"
#include "store.h"

#define XDROP_BACKUP_OPEN_MS 30000 /* to find the cluster's leader (an election included) */

/* The copy's schema version, revision and content hash; 0 or -EINVAL when it is not an
 * XDrop controller database of a version this controller knows. */
static int describe(struct db *db, const char *what, int64_t *rev, char *hash, size_t len)
{
	struct db_stmt *q = NULL;
	int64_t version = -1;

	if (db_prepare(db, "SELECT version FROM schema_version", false, &q) == SQLITE_OK &&
	    db_step(q) == SQLITE_ROW)
		version = db_column_int64(q, 0);
	db_finalize(q);
	q = NULL;
	if (version > XDROP_STORE_SCHEMA_VERSION) {
		log_error("controller: %s has schema version %lld, newer than this controller's %d",
			  what, (long long)version, XDROP_STORE_SCHEMA_VERSION);
		return -EINVAL;
	}
	*rev = -1;
	if (version >= 1 &&
	    db_prepare(db, "SELECT revision, content_hash FROM revision", false, &q) == SQLITE_OK &&
	    db_step(q) == SQLITE_ROW) {
		*rev = db_column_int64(q, 0);
		snprintf(hash, len, "%s", (const char *)db_column_text(q, 1));
	}
	db_finalize(q);
	if (*rev < 0) {
		log_error("controller: %s is not an XDrop controller database (%s)", what,
			  db_errmsg(db));
		return -EINVAL;
	}
	return 0;
}

static int copy(struct db *from, struct db *to, const char *what)
{
	struct db_copy_stats st;
	char err[512];
	int rc = db_copy(from, to, &st, err, sizeof(err));

	if (rc)
		log_error("controller: %s: %s", what, err);
	else
		log_info("controller: %s: %u tables, %llu rows", what, st.tables,
			 (unsigned long long)st.rows);
	return rc;
}

/* Makes the file at path durable, then renames it to final (and makes that durable). */
static int commit_file(const char *path, const char *final)
{
	char dir[PATH_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) < 0 || rename(path, final) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	snprintf(dir, sizeof(dir), "%s", final);
	fd = rc ? -1 : open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	if (rc)
		log_error("controller: cannot write %s: %s", final, strerror(-rc));
	return rc;
}

/* A new private SQLite file beside final, opened in *db; its path in tmp. */
static int file_create(const char *final, char *tmp, size_t len, struct db **db)
{
	int fd;

	*db = NULL;
	if ((size_t)snprintf(tmp, len, "%s.tmp-%d", final, (int)getpid()) >= len)
		return -ENAMETOOLONG;
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = -errno;
		log_error("controller: cannot create %s: %s", tmp, strerror(-fd));
		*tmp = '\0'; /* not ours */
		return fd;
	}
	close(fd);
	if (db_open(tmp, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, 0) != SQLITE_OK) {
		log_error("controller: cannot open %s: %s", tmp, db_errmsg(*db));
		return -EIO;
	}
	return 0;
}

/* The config's database: the cluster's target (with its TLS dialer in *cl) or the file. */
static int source_open(const struct ctl_config *cfg, const char *database, struct cluster **cl,
		       struct db **db, char *where, size_t len)
{
	int rc;

	*db = NULL;
	if (cfg->cluster.id) {
		rc = cluster_client(cl, &cfg->cluster);
		rc = rc ?: cluster_target(&cfg->cluster, where, len);
		if (rc)
			return rc;
	} else {
		snprintf(where, len, "%s", database ? database : cfg->database);
	}
	if (db_open(where, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, XDROP_BACKUP_OPEN_MS) !=
	    SQLITE_OK) {
		log_error("controller: cannot open %s: %s", where, db_errmsg(*db));
		return -EIO;
	}
	return 0;
}

int backup_run(const struct ctl_config *cfg, const char *database, const char *out)
{
	char where[XDROP_CLUSTER_TARGET_MAX], tmp[PATH_MAX] = "", hash[80] = "";
	struct cluster *cl = NULL;
	struct db *from = NULL, *to = NULL;
	int64_t rev = -1;
	int rc;

	rc = source_open(cfg, database, &cl, &from, where, sizeof(where));
	rc = rc ?: file_create(out, tmp, sizeof(tmp), &to);
	if (rc)
		goto out;
	rc = copy(from, to, where);
	rc = rc ?: describe(to, out, &rev, hash, sizeof(hash));
	db_close(to);
	to = NULL;
	rc = rc ?: commit_file(tmp, out);
	if (rc && *tmp)
		unlink(tmp);
	else
		printf("backup: %s: revision %lld, content hash %s\n", out, (long long)rev, hash);
out:
	db_close(to);
	db_close(from);
	cluster_stop(cl);
	return rc;
}

/* 0 when dir is absent or empty. */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n ? -ENOTEMPTY : 0;
}

/* The new cluster's database: node 1 started alone (bootstrap) in *cl, the target in *db. */
static int cluster_new(const struct ctl_config *cfg, struct cluster **cl, struct db **db)
{
	struct ctl_cluster_cfg one = cfg->cluster;
	char target[XDROP_CLUSTER_TARGET_MAX];
	int rc;

	if (one.id != 1) {
		log_error("controller: a restore bootstraps a new cluster: run it with the config "
			  "of the controller with cluster.id 1 (this one has %llu)",
			  (unsigned long long)one.id);
		return -EINVAL;
	}
	if ((rc = dir_empty(one.dir)) != 0) {
		log_error("controller: cluster.dir %s: %s: a restore makes a new cluster (move the "
			  "directory away first)",
			  one.dir, strerror(-rc));
		return rc;
	}
	one.n_peers = 0; /* alone until the others join */
	rc = cluster_start(cl, &one, NULL, NULL);
	rc = rc ?: cluster_target(&one, target, sizeof(target));
	if (rc)
		return rc;
	if (db_open(target, db, 0, XDROP_BACKUP_OPEN_MS) != SQLITE_OK) {
		log_error("controller: cannot open %s: %s", target, db_errmsg(*db));
		return -EIO;
	}
	return 0;
}

int restore_run(const struct ctl_config *cfg, const char *database, const char *in)
{
	const char *path = database ? database : cfg->database;
	char tmp[PATH_MAX] = "", hash[80] = "";
	struct cluster *cl = NULL;
	struct db *from = NULL, *to = NULL;
	struct stat sb;
	int64_t rev = -1;
	int rc = 0;

	if (db_open(in, &from, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, 0) != SQLITE_OK) {
		log_error("controller: cannot open %s: %s", in, db_errmsg(from));
		rc = -EIO;
		goto out;
	}
	if ((rc = describe(from, in, &rev, hash, sizeof(hash))) != 0)
		goto out;
	if (cfg->cluster.id) {
		rc = cluster_new(cfg, &cl, &to);
		rc = rc ?: copy(from, to, in);
		if (!rc)
			printf(
			    "restore: %s into a new cluster (node 1 at %s): revision %lld, content "
			    "hash %s\n",
			    in, cfg->cluster.address, (long long)rev, hash);
		goto out;
	}
	if (stat(path, &sb) == 0) {
		log_error("controller: %s exists: a restore writes a new database (move it and "
			  "its -wal and -shm files away first)",
			  path);
		rc = -EEXIST;
		goto out;
	}
	rc = file_create(path, tmp, sizeof(tmp), &to);
	rc = rc ?: copy(from, to, in);
	db_close(to);
	to = NULL;
	rc = rc ?: commit_file(tmp, path);
	if (rc && *tmp)
		unlink(tmp);
	else
		printf("restore: %s into %s: revision %lld, content hash %s\n", in, path,
		       (long long)rev, hash);
out:
	db_close(to);
	db_close(from);
	cluster_stop(cl);
	return rc;
}
