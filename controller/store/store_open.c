// SPDX-License-Identifier: MIT
/*
 * store_open: opening a database (the one-controller lock, private files, connections),
 * its numbered migrations, and the state kept in memory (revision, content hash, counts);
 * see store.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "store_int.h"
#include "store_secure.h"

/* ---- schema ---------------------------------------------------------------------------- */

/*
 * Migration N takes a file at version N-1 to version N. Never edit one that shipped: add
 * the next. tests/unit/test_store_durability.c builds a version-1 file by hand and opens it.
 */
static const char *const migrations[XDROP_STORE_SCHEMA_VERSION] = {
    /* 1: the initial schema */
    "CREATE TABLE rules(id TEXT PRIMARY KEY, match_key TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, action TEXT NOT NULL, enabled INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " src TEXT NOT NULL, dst TEXT NOT NULL, src_port INTEGER NOT NULL,"
    " dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, rate_limit INTEGER NOT NULL,"
    " comment TEXT NOT NULL, source TEXT NOT NULL, digest BLOB NOT NULL, pb BLOB NOT NULL);"
    "CREATE TABLE whitelist(id TEXT PRIMARY KEY, match_key TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, src_port INTEGER NOT NULL,"
    " dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, comment TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, digest BLOB NOT NULL, pb BLOB NOT NULL);"
    "CREATE TABLE nodes(id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,"
    " comment TEXT NOT NULL, key TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE changes(revision INTEGER PRIMARY KEY, created_at INTEGER NOT NULL,"
    " delta BLOB NOT NULL);"
    "CREATE TABLE api_keys(id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
    " salt BLOB NOT NULL, hash BLOB NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE revision(id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL);"
    "INSERT INTO revision VALUES(1, 0,"
    " '0000000000000000000000000000000000000000000000000000000000000000');",
    /* 2: API keys remember their last use; indexes for expiry sweeps and default order */
    "ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX rules_expires ON rules(expires_at) WHERE expires_at > 0;"
    "CREATE INDEX rules_created ON rules(created_at, id);"
    "CREATE INDEX whitelist_created ON whitelist(created_at, id);",
    /* 3: outcomes of writes by (credential, request id): controller/idempotency.h */
    "CREATE TABLE idempotency(principal TEXT NOT NULL, request_id TEXT NOT NULL,"
    " method TEXT NOT NULL, request_hash BLOB NOT NULL, code INTEGER NOT NULL,"
    " message TEXT NOT NULL, field TEXT NOT NULL, response BLOB NOT NULL,"
    " revision INTEGER NOT NULL, complete INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " PRIMARY KEY(principal, request_id));"
    "CREATE INDEX idempotency_created ON idempotency(created_at);",
    /* 4: node keys become records, a verifier and the beacon key: migration_steps[3] */
    "",
    /* 5: no query uses the creation-order indexes (lists sort by a CASE over the bound
     * field: a scan and a sort whatever the order asked), and they cost about 60 B a rule */
    "DROP INDEX IF EXISTS rules_created;"
    "DROP INDEX IF EXISTS whitelist_created;",
    /* 6: compact rows (issue 15; store_row.c): the message's leading fields are columns and
     * `rest` holds the other bytes of it, once; the match key is a 64-bit hash (mkh, checked
     * against the real key on a hit); no stored digest (recomputed from the row). The
     * tables keep rowids (appended) and index id and mkh: 533 -> ~200 B a rule.
     * migration_steps[5] copies the rows and builds the indexes. */
    "ALTER TABLE rules RENAME TO rules_v5;"
    "ALTER TABLE whitelist RENAME TO whitelist_v5;"
    "DROP INDEX IF EXISTS rules_expires;"
    "CREATE TABLE rules(id TEXT NOT NULL, mkh INTEGER NOT NULL, name TEXT NOT NULL,"
    " src_ip TEXT NOT NULL, dst_ip TEXT NOT NULL, src_cidr TEXT NOT NULL,"
    " dst_cidr TEXT NOT NULL, src_port INTEGER NOT NULL, dst_port INTEGER NOT NULL,"
    " protocol TEXT NOT NULL, action TEXT NOT NULL, rate_limit INTEGER NOT NULL,"
    " enabled INTEGER NOT NULL, expires_at INTEGER NOT NULL, comment TEXT NOT NULL,"
    " source TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " rest BLOB NOT NULL);"
    "CREATE TABLE whitelist(id TEXT NOT NULL, mkh INTEGER NOT NULL, name TEXT NOT NULL,"
    " src_ip TEXT NOT NULL, dst_ip TEXT NOT NULL, src_cidr TEXT NOT NULL,"
    " dst_cidr TEXT NOT NULL, src_port INTEGER NOT NULL, dst_port INTEGER NOT NULL,"
    " protocol TEXT NOT NULL, comment TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " rest BLOB NOT NULL);",
};

/* Migrations done in C after their SQL (same transaction): what SQL alone cannot do on
 * both backends. Migration 4 called an SQL function of this process until dqlite (whose
 * nodes would not have it); store_creds_migrate does the same in C. */
static int (*const migration_steps[XDROP_STORE_SCHEMA_VERSION])(struct db *db) = {
    [3] = store_creds_migrate,
    [5] = store_rows_migrate,
};

static const char SQL_VERSION_GET[] = "SELECT version FROM schema_version";
static const char SQL_VERSION_SET[] = "UPDATE schema_version SET version = ?1";

static int read_version(struct conn *c, int *version)
{
	struct db_stmt *st = stmt(c, SQL_VERSION_GET);

	if (!st || db_step(st) != SQLITE_ROW)
		return sql_err(c, "schema version");
	*version = db_column_int(st, 0);
	db_reset(st);
	return 0;
}

/* Migration v in its own transaction, unless another controller of the cluster did it
 * first (the version is read again inside the transaction). */
static int migrate_one(struct conn *c, int v)
{
	struct db_stmt *st;
	int cur = 0, err;

	if (db_exec(c->db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return sql_err(c, "begin migration");
	err = read_version(c, &cur);
	if (err || cur >= v)
		goto fail;
	if (migrations[v - 1][0] && db_exec(c->db, migrations[v - 1]) != SQLITE_OK) {
		err = sql_err(c, "migration");
		goto fail;
	}
	if (migration_steps[v - 1] && (err = migration_steps[v - 1](c->db)) != 0)
		goto fail;
	st = stmt(c, SQL_VERSION_SET);
	if (!st) {
		err = -EIO;
		goto fail;
	}
	db_bind_int(st, 1, v);
	if (db_step(st) != SQLITE_DONE) {
		err = sql_err(c, "schema version");
		goto fail;
	}
	db_reset(st);
	if (db_exec(c->db, "COMMIT") != SQLITE_OK) {
		err = sql_err(c, "commit migration");
		goto fail;
	}
	log_info("store: migrated schema to version %d", v);
	return 0;
fail:
	db_exec(c->db, "ROLLBACK");
	return err;
}

static int migrate(struct conn *c)
{
	int version = 0, err = 0;

	if (db_exec(c->db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
			   "INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS"
			   " (SELECT 1 FROM schema_version)") != SQLITE_OK)
		return sql_err(c, "schema_version");
	err = read_version(c, &version);
	if (err)
		return err;
	if (version > XDROP_STORE_SCHEMA_VERSION) {
		log_error("store: database schema %d is newer than this controller's (%d)", version,
			  XDROP_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	for (int v = version + 1; v <= XDROP_STORE_SCHEMA_VERSION && !err; v++)
		err = migrate_one(c, v);
	if (!err && version < XDROP_STORE_SCHEMA_VERSION && db_sqlite(c->db) &&
	    db_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)") != SQLITE_OK)
		log_warn("store: checkpoint after the migration failed: %s", db_errmsg(c->db));
	return err;
}

const char SQL_REV_GET[] = "SELECT revision, content_hash FROM revision WHERE id = 1";

/*
 * The stored revision and content hash against memory. Unless they agree (and full is
 * false), recomputes the hash and counts from the entries and takes the stored revision.
 */
int state_sync(struct store *s, bool full)
{
	char hex[RULEHASH_HEX], stored[RULEHASH_HEX];
	uint64_t rev, count[STORE_KINDS] = {0};
	struct rulehash h;
	struct db_stmt *st = stmt(&s->w, SQL_REV_GET);
	int err = 0;

	if (!st || db_step(st) != SQLITE_ROW)
		return sql_err(&s->w, "revision");
	rev = (uint64_t)db_column_int64(st, 0);
	snprintf(stored, sizeof(stored), "%s", (const char *)db_column_text(st, 1));
	db_reset(st);
	pthread_mutex_lock(&s->rlock);
	if (!full && rev == s->revision && !strcmp(stored, rulehash_hex(&s->hash, hex))) {
		pthread_mutex_unlock(&s->rlock);
		return 0;
	}
	pthread_mutex_unlock(&s->rlock);
	rulehash_init(&h);
	for (int k = 0; k < STORE_KINDS && !err; k++)
		err = store_coll_sum(&s->w, k, &h, &count[k]);
	if (err)
		return err;
	rulehash_hex(&h, hex);
	if (strcmp(hex, stored) != 0)
		log_warn("store: stored content hash %s differs from the entries' %s; using the "
			 "entries'",
			 stored, hex);
	pthread_mutex_lock(&s->rlock);
	s->revision = rev;
	s->hash = h;
	memcpy(s->count, count, sizeof(count));
	pthread_mutex_unlock(&s->rlock);
	return 0;
}

/* Hands the deltas after revision from (up to to) to on_commit, in order. */
static void publish_missed(struct store *s, uint64_t from, uint64_t to)
{
	while (from < to) {
		Xdrop__V1__Delta **v = NULL;
		bool complete = false;
		size_t n = 0;

		if (store_deltas(s, from, 0, &v, &n, &complete) != 0 || !n || !complete) {
			log_warn("store: deltas after revision %llu not in the change log; nodes "
				 "resync",
				 (unsigned long long)from);
			store_free_deltas(v, n);
			return;
		}
		for (size_t i = 0; i < n && v[i]->base_revision == from; i++) {
			s->on_commit(s->commit_arg, v[i]);
			from = v[i]->revision;
		}
		store_free_deltas(v, n);
	}
}

int state_catch_up(struct store *s)
{
	struct db_stmt *st = stmt(&s->w, SQL_REV_GET);
	uint64_t rev, mem;

	if (!st || db_step(st) != SQLITE_ROW)
		return sql_err(&s->w, "revision");
	rev = (uint64_t)db_column_int64(st, 0);
	db_reset(st);
	pthread_mutex_lock(&s->rlock);
	mem = s->revision;
	pthread_mutex_unlock(&s->rlock);
	if (rev == mem)
		return 0;
	if (rev > mem && s->publishing && s->on_commit)
		publish_missed(s, mem, rev);
	return state_sync(s, true);
}

void store_set_publishing(struct store *s, bool on)
{
	writer_lock(s);
	__atomic_store_n(&s->publishing, on, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->wlock);
}

/* Without wlock, which a long write holds: the publisher's heartbeat asks. */
bool store_publishing(struct store *s)
{
	return __atomic_load_n(&s->publishing, __ATOMIC_ACQUIRE);
}

int store_catch_up(struct store *s)
{
	int err;

	writer_lock(s);
	err = state_catch_up(s);
	pthread_mutex_unlock(&s->wlock);
	return err;
}

int store_reload(struct store *s)
{
	int err;

	writer_lock(s);
	err = state_sync(s, true);
	pthread_mutex_unlock(&s->wlock);
	return err;
}

/*
 * One controller per database: the revision and content hash live in memory, so a second
 * writer would make both serve and push a wrong view. store_open takes an exclusive
 * flock() on "<database>.lock" without waiting and holds it until store_close; the kernel
 * drops it when the process dies, even by kill -9, so no stale lock survives a crash.
 *
 * A file of its own rather than the database: SQLite locks the database with POSIX
 * (fcntl) locks, which a process loses when it closes *any* descriptor of that file, so a
 * descriptor of ours on it would put SQLite's locks at the mercy of our close(); on NFS,
 * flock() is emulated with fcntl locks and would collide with SQLite's own. The lock file
 * can also be taken before the database exists. It is never deleted (a process could
 * otherwise lock a fresh file while another holds the old one) and holds the holder's PID
 * for the error message.
 */
static int lock_take(struct store *s)
{
	char *lp = NULL, pid[32] = "";
	ssize_t got;
	int fd = -1, err = 0;

	if (asprintf(&lp, "%s.lock", s->path) < 0)
		return -ENOMEM;
	fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		log_error("store: cannot open the lock file %s: %s", lp, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err != -EBUSY) {
			log_error("store: cannot lock %s: %s", lp, strerror(errno));
			goto out;
		}
		got = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[got > 0 ? got : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_error("store: the database %s is in use by another controller (%s%s holds "
			  "the lock %s); run one controller per database",
			  s->path, pid[0] ? "PID " : "a process", pid, lp);
		goto out;
	}
	if (fchmod(fd, 0600) < 0)
		log_warn("store: cannot make %s private (0600): %s", lp, strerror(errno));
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("store: cannot write the PID to %s: %s", lp, strerror(errno));
	s->lock_fd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(lp);
	return err;
}

int store_open(struct store **out, const struct store_opts *opts)
{
	struct store *s;
	int err = 0;

	*out = NULL;
	if (!opts || !opts->path || opts->sz < sizeof(*opts))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->glock, NULL);
	pthread_cond_init(&s->gdone, NULL);
	s->g.tail = &s->g.head;
	pthread_mutex_init(&s->plock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_cond_init(&s->pcond, NULL);
	s->busy_ms = opts->busy_ms ? opts->busy_ms : XDROP_STORE_BUSY_TIMEOUT_MS;
	s->keep = opts->keep ? opts->keep : XDROP_STORE_CHANGELOG_KEEP;
	s->on_commit = opts->on_commit;
	s->commit_arg = opts->commit_arg;
	s->publishing = true;
	s->lock_fd = -1;
	s->path = strdup(opts->path);
	if (!s->path) {
		err = -ENOMEM;
		goto out;
	}
	if (!db_is_dqlite(s->path)) {
		err = lock_take(s); /* before anything touches the file, migrations included */
		if (!err)
			err = store_files_private(s->path);
	}
	if (!err)
		err = conn_open(&s->w, s->path, s->busy_ms, true);
	if (!err)
		err = migrate(&s->w);
	if (!err)
		err = state_sync(s, true);
	for (unsigned i = 0; !err && i < XDROP_STORE_READERS; i++)
		err = conn_open(&s->readers[i], s->path, s->busy_ms, false);
out:
	if (err) {
		store_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < XDROP_STORE_READERS; i++)
		conn_close(&s->readers[i]);
	conn_close(&s->w);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* after SQLite let go of the file: releases the flock */
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->glock);
	pthread_cond_destroy(&s->gdone);
	pthread_mutex_destroy(&s->plock);
	pthread_mutex_destroy(&s->rlock);
	pthread_cond_destroy(&s->pcond);
	free(s->path);
	free(s);
}

void store_set_commit_hook(struct store *s, store_commit_fn fn, void *arg)
{
	writer_lock(s);
	s->on_commit = fn;
	s->commit_arg = arg;
	pthread_mutex_unlock(&s->wlock);
}

void store_set_txn_hook(struct store *s, store_txn_fn fn, void *arg)
{
	writer_lock(s);
	s->txn_hook = fn;
	s->txn_arg = arg;
	pthread_mutex_unlock(&s->wlock);
}

/* Random bytes for ids, refilled from getrandom a pool at a time; the time and sequence of
 * the last id made. */
static struct {
	pthread_mutex_t lock;
	uint8_t b[4096];
	size_t used;
	uint64_t ms;
	unsigned seq;
} rnd = {PTHREAD_MUTEX_INITIALIZER, {0}, sizeof(rnd.b), 0, 0};

/* Lock held: n random bytes into out. */
static void rnd_take(uint8_t *out, size_t n)
{
	if (rnd.used + n > sizeof(rnd.b)) {
		size_t got = 0;

		while (got < sizeof(rnd.b)) {
			ssize_t r = getrandom(rnd.b + got, sizeof(rnd.b) - got, 0);

			if (r > 0)
				got += (size_t)r;
		}
		rnd.used = 0;
	}
	memcpy(out, rnd.b + rnd.used, n);
	memset(rnd.b + rnd.used, 0, n); /* an id's bytes are not kept */
	rnd.used += n;
}

void store_uuid(char out[XDROP_UUID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t ms = (uint64_t)(clock_wall_ns() / 1000000);
	uint8_t b[16];
	char *p = out;

	/* RFC 9562 method 1: the 12 bits after the version count ids within one ms (from a
	 * random start below 2048), so ids made by this process increase strictly */
	pthread_mutex_lock(&rnd.lock);
	rnd_take(b + 6, 10);
	if (ms > rnd.ms) {
		rnd.ms = ms;
		rnd.seq = ((unsigned)b[6] << 8 | b[7]) & 0x7ff;
	} else if (++rnd.seq > 0xfff) { /* 4096 ids in one ms: borrow the next ms */
		rnd.ms++;
		rnd.seq = 0;
	}
	ms = rnd.ms;
	b[6] = (uint8_t)(rnd.seq >> 8);
	b[7] = (uint8_t)rnd.seq;
	pthread_mutex_unlock(&rnd.lock);
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x70); /* version 7 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
}

void store_revision(struct store *s, struct store_rev *out)
{
	pthread_mutex_lock(&s->rlock);
	out->revision = s->revision;
	rulehash_hex(&s->hash, out->hash);
	out->rules = s->count[STORE_RULES];
	out->whitelist = s->count[STORE_WHITELIST];
	pthread_mutex_unlock(&s->rlock);
}
