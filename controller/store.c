// SPDX-License-Identifier: MIT
/*
 * store: SQLite persistence for the controller; see store.h for the contract.
 *
 * Connections: `w` is the one writer (guarded by wlock); readers come from a pool. Each
 * connection caches its prepared statements by the address of their static SQL text, so
 * every statement is prepared once per connection and only ever bound, never built.
 *
 * A rule-set change runs as: lock wlock, BEGIN IMMEDIATE, apply ops while collecting them
 * into a Delta and updating a copy of the content hash, then change_commit(): bump the
 * revision, append the Delta to the change log (pruning old rows), store revision and
 * hash, COMMIT, publish the new state to memory and call on_commit, unlock. Any failure
 * rolls back, leaving memory untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "nodekey.h"
#include "rulepb.h"
#include "store.h"
#include "store_secure.h"

#define MAX_STMTS    48
#define MATCH_KEY_SZ 160

/* ---- connections and statements ------------------------------------------------------ */

struct conn {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[MAX_STMTS];
	unsigned n;
};

struct store {
	char *path;
	int lock_fd; /* flock'ed "<path>.lock", -1 when not held */
	unsigned busy_ms, keep;
	struct conn w;
	pthread_mutex_t wlock;
	struct conn readers[XDROP_STORE_READERS];
	bool reader_busy[XDROP_STORE_READERS];
	pthread_mutex_t plock;
	pthread_cond_t pcond;
	pthread_mutex_t rlock; /* the fields below */
	uint64_t revision;
	struct rulehash hash;
	uint64_t nrules, nwl;
	store_commit_fn on_commit;
	void *commit_arg;
	store_txn_fn txn_hook;
	void *txn_arg;
};

/* True when the connection's last error means the file system is full. */
static bool disk_full(sqlite3 *db)
{
	int e = sqlite3_extended_errcode(db) & 0xff;

	return e == SQLITE_FULL || (e == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC);
}

/* Logs the connection's last error; -ENOSPC for a full disk, else -EIO. */
static int sql_err(struct conn *c, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(c->db));
	return disk_full(c->db) ? -ENOSPC : -EIO;
}

/* The statement for sql (a static string), reset and unbound. NULL on failure (logged). */
static sqlite3_stmt *stmt(struct conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;

	for (unsigned i = 0; i < c->n; i++) {
		if (c->cache[i].sql == sql) {
			st = c->cache[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (c->n == MAX_STMTS) {
		log_error("store: statement cache full");
		return NULL;
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		sql_err(c, "prepare");
		return NULL;
	}
	c->cache[c->n].sql = sql;
	c->cache[c->n].st = st;
	c->n++;
	return st;
}

static void conn_close(struct conn *c)
{
	for (unsigned i = 0; i < c->n; i++)
		sqlite3_finalize(c->cache[i].st);
	c->n = 0;
	if (c->db)
		sqlite3_close(c->db);
	c->db = NULL;
}

static int conn_open(struct conn *c, const char *path, unsigned busy_ms, bool writer)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
	int err = 0;

	memset(c, 0, sizeof(*c));
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		err = sql_err(c, path);
		goto out;
	}
	sqlite3_busy_timeout(c->db, (int)busy_ms);
	sqlite3_extended_result_codes(c->db, 1);
	if (writer && (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) ||
		       sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) ||
		       sqlite3_exec(c->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL))) {
		err = sql_err(c, "pragma");
		goto out;
	}
out:
	if (err)
		conn_close(c);
	return err;
}

static struct conn *reader_get(struct store *s)
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

static void reader_put(struct store *s, struct conn *c)
{
	pthread_mutex_lock(&s->plock);
	s->reader_busy[c - s->readers] = false;
	pthread_cond_signal(&s->pcond);
	pthread_mutex_unlock(&s->plock);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return strdup(t ? (const char *)t : "");
}

/* ---- schema ---------------------------------------------------------------------------- */

/*
 * Migration N takes a file at version N-1 to version N. Never edit one that shipped: add
 * the next. tests/unit/test_store.c builds a version-1 file by hand and opens it.
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
    /* 4: node keys become records, a verifier and the beacon key (store_secure.h) */
    "UPDATE nodes SET key = xdrop_node_record(key) WHERE key NOT LIKE 'nkv1:%';",
};

static const char SQL_VERSION_GET[] = "SELECT version FROM schema_version";
static const char SQL_VERSION_SET[] = "UPDATE schema_version SET version = ?1";

static int migrate(struct conn *c)
{
	sqlite3_stmt *st;
	int version = 0, err = 0;

	if (sqlite3_exec(c->db,
			 "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
			 "INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS"
			 " (SELECT 1 FROM schema_version)",
			 NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(c, "schema_version");
	st = stmt(c, SQL_VERSION_GET);
	if (!st || sqlite3_step(st) != SQLITE_ROW)
		return sql_err(c, "schema version");
	version = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (version > XDROP_STORE_SCHEMA_VERSION) {
		log_error("store: database schema %d is newer than this controller's (%d)", version,
			  XDROP_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	for (int v = version + 1; v <= XDROP_STORE_SCHEMA_VERSION; v++) {
		if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			return sql_err(c, "begin migration");
		if (sqlite3_exec(c->db, migrations[v - 1], NULL, NULL, NULL) != SQLITE_OK) {
			err = sql_err(c, "migration");
			goto fail;
		}
		st = stmt(c, SQL_VERSION_SET);
		if (!st) {
			err = -EIO;
			goto fail;
		}
		sqlite3_bind_int(st, 1, v);
		if (sqlite3_step(st) != SQLITE_DONE) {
			err = sql_err(c, "schema version");
			goto fail;
		}
		sqlite3_reset(st);
		if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			err = sql_err(c, "commit migration");
			goto fail;
		}
		log_info("store: migrated schema to version %d", v);
	}
	if (version < XDROP_STORE_SCHEMA_VERSION &&
	    sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		log_warn("store: checkpoint after the migration failed: %s", sqlite3_errmsg(c->db));
	return 0;
fail:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static const char SQL_REV_GET[] = "SELECT revision, content_hash FROM revision WHERE id = 1";
static const char SQL_RULE_DIGESTS[] = "SELECT digest FROM rules";
static const char SQL_WL_DIGESTS[] = "SELECT digest FROM whitelist";

/* Sums the stored digests of table sql into h; counts rows into *n. */
static int sum_digests(struct conn *c, const char *sql, struct rulehash *h, uint64_t *n)
{
	sqlite3_stmt *st = stmt(c, sql);
	int rc;

	if (!st)
		return -EIO;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != RULEHASH_LEN)
			return -EIO;
		rulehash_add(h, sqlite3_column_blob(st, 0));
		(*n)++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(c, "digests");
}

static int load_state(struct store *s)
{
	char hex[RULEHASH_HEX];
	sqlite3_stmt *st;
	int err;

	rulehash_init(&s->hash);
	err = sum_digests(&s->w, SQL_RULE_DIGESTS, &s->hash, &s->nrules);
	if (!err)
		err = sum_digests(&s->w, SQL_WL_DIGESTS, &s->hash, &s->nwl);
	if (err)
		return err;
	st = stmt(&s->w, SQL_REV_GET);
	if (!st || sqlite3_step(st) != SQLITE_ROW)
		return sql_err(&s->w, "revision");
	s->revision = (uint64_t)sqlite3_column_int64(st, 0);
	rulehash_hex(&s->hash, hex);
	if (strcmp(hex, (const char *)sqlite3_column_text(st, 1)) != 0)
		log_warn("store: stored content hash %s differs from the entries' %s; using the "
			 "entries'",
			 (const char *)sqlite3_column_text(st, 1), hex);
	sqlite3_reset(st);
	return 0;
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
	int err;

	*out = NULL;
	if (!opts || !opts->path || opts->sz < sizeof(*opts))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->plock, NULL);
	pthread_mutex_init(&s->rlock, NULL);
	pthread_cond_init(&s->pcond, NULL);
	s->busy_ms = opts->busy_ms ? opts->busy_ms : XDROP_STORE_BUSY_TIMEOUT_MS;
	s->keep = opts->keep ? opts->keep : XDROP_STORE_CHANGELOG_KEEP;
	s->on_commit = opts->on_commit;
	s->commit_arg = opts->commit_arg;
	s->lock_fd = -1;
	s->path = strdup(opts->path);
	if (!s->path) {
		err = -ENOMEM;
		goto out;
	}
	err = lock_take(s); /* before anything touches the file, migrations included */
	if (!err)
		err = store_files_private(s->path);
	if (!err)
		err = conn_open(&s->w, s->path, s->busy_ms, true);
	if (!err)
		err = store_creds_register(s->w.db);
	if (!err)
		err = migrate(&s->w);
	if (!err)
		err = load_state(s);
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
	pthread_mutex_destroy(&s->plock);
	pthread_mutex_destroy(&s->rlock);
	pthread_cond_destroy(&s->pcond);
	free(s->path);
	free(s);
}

void store_set_commit_hook(struct store *s, store_commit_fn fn, void *arg)
{
	pthread_mutex_lock(&s->wlock);
	s->on_commit = fn;
	s->commit_arg = arg;
	pthread_mutex_unlock(&s->wlock);
}

void store_set_txn_hook(struct store *s, store_txn_fn fn, void *arg)
{
	pthread_mutex_lock(&s->wlock);
	s->txn_hook = fn;
	s->txn_arg = arg;
	pthread_mutex_unlock(&s->wlock);
}

void store_uuid(char out[XDROP_UUID_LEN])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, XDROP_UUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void store_revision(struct store *s, struct store_rev *out)
{
	pthread_mutex_lock(&s->rlock);
	out->revision = s->revision;
	rulehash_hex(&s->hash, out->hash);
	out->rules = s->nrules;
	out->whitelist = s->nwl;
	pthread_mutex_unlock(&s->rlock);
}

/* ---- changes ------------------------------------------------------------------------------ */

struct change {
	struct store *s;
	struct rulehash hash;
	int64_t drules, dwl;
	Xdrop__V1__DeltaOp *ops;
	Xdrop__V1__DeltaOp **opp;
	size_t nops, cap;
	Xdrop__V1__Rule *rules; /* stats-less shallow copies the ops point at */
	Xdrop__V1__WhitelistEntry *wl;
	char **strs; /* ids copied from rows (expiry) */
	size_t nstrs;
};

static int set_err(struct store_error *err, enum rpc_code code, const char *prefix,
		   const char *field, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int set_err(struct store_error *err, enum rpc_code code, const char *prefix,
		   const char *field, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		if (prefix && field && field[0])
			snprintf(err->field, sizeof(err->field), "%s.%s", prefix, field);
		else
			snprintf(err->field, sizeof(err->field), "%s", prefix ? prefix : "");
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	switch (code) {
	case RPC_INVALID_ARGUMENT:
		return -EINVAL;
	case RPC_NOT_FOUND:
		return -ENOENT;
	case RPC_ALREADY_EXISTS:
		return -EEXIST;
	case RPC_RESOURCE_EXHAUSTED:
		return -E2BIG;
	default:
		return -EIO;
	}
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";

/*
 * BEGIN IMMEDIATE on the writer: 0, -EBUSY when another connection held the database's
 * write lock for all of busy_timeout (SQLITE_BUSY or SQLITE_LOCKED: another process, such
 * as an sqlite3 shell with an open transaction), -EIO for any other failure (logged).
 */
static int begin_write(struct store *s)
{
	sqlite3_stmt *st = stmt(&s->w, SQL_BEGIN);
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
		log_warn("store: %s: the database is locked by another connection (waited %u ms)",
			 s->path, s->busy_ms);
		return -EBUSY;
	}
	return sql_err(&s->w, SQL_BEGIN);
}

/*
 * Fills *err for a change that could not start (change_begin's rc) and returns rc:
 * UNAVAILABLE for a database locked elsewhere (worth a retry), RESOURCE_EXHAUSTED for
 * memory, INTERNAL otherwise.
 */
static int begin_fail(struct store *s, int rc, struct store_error *err)
{
	if (rc == -EBUSY)
		set_err(err, RPC_UNAVAILABLE, NULL, NULL,
			"the database is locked by another process (waited %u ms); try again",
			s->busy_ms);
	else if (rc == -ENOMEM)
		set_err(err, RPC_RESOURCE_EXHAUSTED, NULL, NULL,
			"out of memory for the transaction");
	else if (rc == -ENOSPC)
		set_err(err, RPC_RESOURCE_EXHAUSTED, NULL, NULL, "%s", STORE_DISK_FULL);
	else
		set_err(err, RPC_INTERNAL, NULL, NULL,
			"cannot start a transaction: database error (see the controller's log)");
	return rc;
}

/*
 * Takes the writer lock and opens the transaction. Returns 0, -ENOMEM, or begin_write's
 * -EBUSY / -EIO (the lock is not held then).
 */
static int change_begin(struct store *s, struct change *ch, size_t expect)
{
	int rc;

	memset(ch, 0, sizeof(*ch));
	ch->s = s;
	ch->cap = expect ? expect : 1;
	ch->ops = calloc(ch->cap, sizeof(*ch->ops));
	ch->opp = calloc(ch->cap, sizeof(*ch->opp));
	ch->rules = calloc(ch->cap, sizeof(*ch->rules));
	ch->wl = calloc(ch->cap, sizeof(*ch->wl));
	ch->strs = calloc(ch->cap, sizeof(*ch->strs));
	if (!ch->ops || !ch->opp || !ch->rules || !ch->wl || !ch->strs) {
		log_error("store: out of memory for a change of %zu ops", expect);
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&s->wlock);
	ch->hash = s->hash; /* only writers change it, and we are the writer */
	rc = begin_write(s);
	if (rc < 0) {
		pthread_mutex_unlock(&s->wlock);
		goto fail;
	}
	return 0;
fail:
	free(ch->ops);
	free(ch->opp);
	free(ch->rules);
	free(ch->wl);
	free(ch->strs);
	return rc;
}

static void change_free(struct change *ch)
{
	for (size_t i = 0; i < ch->nstrs; i++)
		free(ch->strs[i]);
	free(ch->strs);
	free(ch->ops);
	free(ch->opp);
	free(ch->rules);
	free(ch->wl);
}

static void change_abort(struct change *ch)
{
	if (sqlite3_exec(ch->s->w.db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		sql_err(&ch->s->w, "rollback");
	pthread_mutex_unlock(&ch->s->wlock);
	change_free(ch);
}

static Xdrop__V1__DeltaOp *change_op(struct change *ch)
{
	Xdrop__V1__DeltaOp *op = &ch->ops[ch->nops];

	xdrop__v1__delta_op__init(op);
	ch->opp[ch->nops++] = op;
	return op;
}

static const char SQL_CHANGE_ADD[] = "INSERT INTO changes(revision, created_at, delta)"
				     " VALUES(?1, ?2, ?3)";
static const char SQL_CHANGE_PRUNE[] = "DELETE FROM changes WHERE revision <= ?1";
static const char SQL_REV_SET[] = "UPDATE revision SET revision = ?1, content_hash = ?2"
				  " WHERE id = 1";

/* Records the change, commits, updates memory, runs the hook, unlocks. */
static int change_commit(struct change *ch, uint64_t *rev)
{
	struct store *s = ch->s;
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	char hex[RULEHASH_HEX];
	uint8_t *buf = NULL;
	sqlite3_stmt *st;
	size_t len;
	int err = 0;

	d.revision = s->revision + 1;
	d.base_revision = s->revision;
	d.content_hash = rulehash_hex(&ch->hash, hex);
	d.n_ops = ch->nops;
	d.ops = ch->opp;
	d.created_at = store_now_ns();
	len = xdrop__v1__delta__get_packed_size(&d);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	xdrop__v1__delta__pack(&d, buf);
	st = stmt(&s->w, SQL_CHANGE_ADD);
	if (!st) {
		err = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)d.revision);
	sqlite3_bind_int64(st, 2, d.created_at);
	sqlite3_bind_blob(st, 3, buf, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		err = sql_err(&s->w, "change log");
		goto fail;
	}
	sqlite3_reset(st);
	if (d.revision > s->keep) {
		st = stmt(&s->w, SQL_CHANGE_PRUNE);
		if (!st) {
			err = -EIO;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(d.revision - s->keep));
		if (sqlite3_step(st) != SQLITE_DONE) {
			err = sql_err(&s->w, "change log prune");
			goto fail;
		}
		sqlite3_reset(st);
	}
	st = stmt(&s->w, SQL_REV_SET);
	if (!st) {
		err = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)d.revision);
	bind_text(st, 2, hex);
	if (sqlite3_step(st) != SQLITE_DONE) {
		err = sql_err(&s->w, "revision");
		goto fail;
	}
	sqlite3_reset(st);
	if (s->txn_hook && (err = s->txn_hook(s->txn_arg, s->w.db, d.revision)) != 0)
		goto fail;
	if (sqlite3_exec(s->w.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		err = sql_err(&s->w, "commit");
		goto fail;
	}
	pthread_mutex_lock(&s->rlock);
	s->revision = d.revision;
	s->hash = ch->hash;
	s->nrules = (uint64_t)((int64_t)s->nrules + ch->drules);
	s->nwl = (uint64_t)((int64_t)s->nwl + ch->dwl);
	pthread_mutex_unlock(&s->rlock);
	if (s->on_commit)
		s->on_commit(s->commit_arg, &d);
	pthread_mutex_unlock(&s->wlock);
	if (rev)
		*rev = d.revision;
	free(buf);
	change_free(ch);
	return 0;
fail:
	free(buf);
	change_abort(ch);
	return err;
}

/* Fills *err for a change that failed on the database itself (write or commit). */
static void write_fail(struct store_error *err, int rc, const char *what)
{
	if (rc == -ENOSPC)
		set_err(err, RPC_RESOURCE_EXHAUSTED, NULL, NULL, "%s", STORE_DISK_FULL);
	else
		set_err(err, RPC_INTERNAL, NULL, NULL, "database %s failed", what);
}

/* ---- rules and whitelist: writes ---------------------------------------------------------- */

static const char SQL_RULE_BY_KEY[] = "SELECT id FROM rules WHERE match_key = ?1";
static const char SQL_WL_BY_KEY[] = "SELECT id FROM whitelist WHERE match_key = ?1";
static const char SQL_RULE_EXISTS[] = "SELECT digest FROM rules WHERE id = ?1";
static const char SQL_WL_EXISTS[] = "SELECT digest FROM whitelist WHERE id = ?1";
static const char SQL_RULE_INSERT[] =
    "INSERT INTO rules(id, match_key, name, action, enabled, expires_at, created_at,"
    " updated_at, src, dst, src_port, dst_port, protocol, rate_limit, comment, source,"
    " digest, pb) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
    " ?16, ?17, ?18)";
static const char SQL_RULE_UPDATE[] =
    "UPDATE rules SET match_key = ?2, name = ?3, action = ?4, enabled = ?5, expires_at = ?6,"
    " created_at = ?7, updated_at = ?8, src = ?9, dst = ?10, src_port = ?11, dst_port = ?12,"
    " protocol = ?13, rate_limit = ?14, comment = ?15, source = ?16, digest = ?17, pb = ?18"
    " WHERE id = ?1";
static const char SQL_WL_INSERT[] =
    "INSERT INTO whitelist(id, match_key, name, src, dst, src_port, dst_port, protocol,"
    " comment, created_at, digest, pb) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
    " ?12)";
static const char SQL_RULE_DELETE[] = "DELETE FROM rules WHERE id = ?1";
static const char SQL_WL_DELETE[] = "DELETE FROM whitelist WHERE id = ?1";

static bool text_ok(const char *t)
{
	return !t || strlen(t) <= XDROP_STORE_MAX_TEXT;
}

/* The id of the entry holding match key mk (in *dup, room for XDROP_STORE_MAX_ID + 1):
 * 1 when found, 0 when free, -EIO. */
static int find_dup(struct conn *c, const char *sql, const char *mk, const char *self, char *dup)
{
	sqlite3_stmt *st = stmt(c, sql);
	int rc;

	if (!st)
		return -EIO;
	bind_text(st, 1, mk);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(dup, XDROP_STORE_MAX_ID + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		return self && strcmp(dup, self) == 0 ? 0 : 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(c, "match key");
}

/* The stored digest of id from sql into d: 1 found, 0 absent, -EIO. */
static int find_digest(struct conn *c, const char *sql, const char *id, uint8_t *d)
{
	sqlite3_stmt *st = stmt(c, sql);
	int rc;

	if (!st)
		return -EIO;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (d && sqlite3_column_bytes(st, 0) == RULEHASH_LEN)
			memcpy(d, sqlite3_column_blob(st, 0), RULEHASH_LEN);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(c, "lookup");
}

static const char *addr_text(const char *ip, const char *cidr)
{
	return ip && ip[0] ? ip : (cidr ? cidr : "");
}

/*
 * Validates r (a shallow, stats-less copy) and writes its row with sql (insert or update).
 * self: the id being replaced (duplicates of itself are fine), NULL for inserts.
 */
static int put_rule(struct change *ch, Xdrop__V1__Rule *r, const char *sql, const char *self,
		    const char *prefix, struct store_error *err)
{
	struct conn *c = &ch->s->w;
	char mk[MATCH_KEY_SZ], dup[XDROP_STORE_MAX_ID + 1];
	uint8_t digest[RULEHASH_LEN], old[RULEHASH_LEN];
	struct rule_error rerr = {0};
	struct rule_spec spec;
	uint8_t *pb = NULL;
	sqlite3_stmt *st;
	size_t len;
	int rc;

	if (!rule_id_ok(r->id))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "id",
			       "id must be 1..%d characters of " XDROP_ID_CHARS, XDROP_ID_MAX);
	if (!text_ok(r->name))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "name", "longer than %u bytes",
			       XDROP_STORE_MAX_TEXT);
	if (!text_ok(r->comment))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "comment", "longer than %u bytes",
			       XDROP_STORE_MAX_TEXT);
	if (!text_ok(r->source))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "source", "longer than %u bytes",
			       XDROP_STORE_MAX_TEXT);
	if (r->expires_at < 0)
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "expires_at",
			       "must be 0 (never) or a time in ns since the epoch");
	if (rulepb_rule_to_spec(r, &spec, &rerr) < 0 || rule_refuse_match_all(&spec, &rerr) < 0)
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, rerr.field, "%s",
			       rerr.reason ? rerr.reason : "invalid");
	rulepb_match_key(&spec, mk, sizeof(mk));
	rc = find_dup(c, SQL_RULE_BY_KEY, mk, self, dup);
	if (rc < 0)
		return rc;
	if (rc)
		return set_err(err, RPC_ALREADY_EXISTS, prefix, NULL,
			       "a rule with the same match already exists: %s", dup);
	rc = find_digest(c, SQL_RULE_EXISTS, r->id, old);
	if (rc < 0)
		return rc;
	if (rc && !self)
		return set_err(err, RPC_ALREADY_EXISTS, prefix, "id", "rule %s already exists",
			       r->id);
	if (!rc && self)
		return set_err(err, RPC_NOT_FOUND, "id", NULL, "no rule %s", r->id);
	if (rulehash_rule_digest(r, digest) < 0)
		return -ENOMEM;
	len = xdrop__v1__rule__get_packed_size(r);
	pb = malloc(len ? len : 1);
	if (!pb)
		return -ENOMEM;
	xdrop__v1__rule__pack(r, pb);
	st = stmt(c, sql);
	if (!st) {
		free(pb);
		return -EIO;
	}
	bind_text(st, 1, r->id);
	bind_text(st, 2, mk);
	bind_text(st, 3, r->name);
	bind_text(st, 4, r->action);
	sqlite3_bind_int(st, 5, r->enabled);
	sqlite3_bind_int64(st, 6, r->expires_at);
	sqlite3_bind_int64(st, 7, r->created_at);
	sqlite3_bind_int64(st, 8, r->updated_at);
	bind_text(st, 9, addr_text(r->src_ip, r->src_cidr));
	bind_text(st, 10, addr_text(r->dst_ip, r->dst_cidr));
	sqlite3_bind_int(st, 11, (int)r->src_port);
	sqlite3_bind_int(st, 12, (int)r->dst_port);
	bind_text(st, 13, r->protocol);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)r->rate_limit);
	bind_text(st, 15, r->comment);
	bind_text(st, 16, r->source);
	sqlite3_bind_blob(st, 17, digest, RULEHASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 18, pb, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(pb);
	if (rc != SQLITE_DONE)
		return sql_err(c, "rule write");
	if (self)
		rulehash_sub(&ch->hash, old);
	else
		ch->drules++;
	rulehash_add(&ch->hash, digest);
	change_op(ch)->op_case = XDROP__V1__DELTA_OP__OP_UPSERT_RULE;
	ch->ops[ch->nops - 1].upsert_rule = r;
	return 0;
}

static void prefix_of(char *buf, size_t len, const char *prefix, size_t i, size_t n)
{
	if (n == 1)
		snprintf(buf, len, "%s", prefix);
	else
		snprintf(buf, len, "%s[%zu]", prefix, i);
}

int store_rules_add(struct store *s, Xdrop__V1__Rule *const *rules, size_t n, const char *prefix,
		    uint64_t *rev, size_t *err_index, struct store_error *err)
{
	struct change ch;
	char pfx[64];
	int rc;

	if (n == 0 || n > XDROP_STORE_MAX_BATCH)
		return set_err(err, n ? RPC_RESOURCE_EXHAUSTED : RPC_INVALID_ARGUMENT, "rules",
			       NULL, "a batch holds 1..%d rules", XDROP_STORE_MAX_BATCH);
	rc = change_begin(s, &ch, n);
	if (rc < 0)
		return begin_fail(s, rc, err);
	for (size_t i = 0; i < n; i++) {
		ch.rules[i] = *rules[i];
		ch.rules[i].stats = NULL;
		prefix_of(pfx, sizeof(pfx), prefix, i, n);
		rc = put_rule(&ch, &ch.rules[i], SQL_RULE_INSERT, NULL, pfx, err);
		if (rc < 0) {
			if (err_index)
				*err_index = i;
			if (rc == -EIO || rc == -ENOMEM || rc == -ENOSPC)
				write_fail(err, rc, "write");
			change_abort(&ch);
			return rc;
		}
	}
	rc = change_commit(&ch, rev);
	if (rc < 0)
		write_fail(err, rc, "commit");
	return rc;
}

int store_rule_replace(struct store *s, const Xdrop__V1__Rule *r, uint64_t *rev,
		       struct store_error *err)
{
	struct change ch;
	int rc;

	rc = change_begin(s, &ch, 1);
	if (rc < 0)
		return begin_fail(s, rc, err);
	ch.rules[0] = *r;
	ch.rules[0].stats = NULL;
	rc = put_rule(&ch, &ch.rules[0], SQL_RULE_UPDATE, r->id, "rule", err);
	if (rc < 0) {
		if (rc == -EIO || rc == -ENOMEM || rc == -ENOSPC)
			write_fail(err, rc, "write");
		change_abort(&ch);
		return rc;
	}
	rc = change_commit(&ch, rev);
	if (rc < 0)
		write_fail(err, rc, "commit");
	return rc;
}

/* Deletes id from the rules (wl false) or whitelist table within ch. */
static int del_entry(struct change *ch, bool wl, const char *id, const char *field,
		     struct store_error *err)
{
	uint8_t digest[RULEHASH_LEN];
	sqlite3_stmt *st;
	int rc;

	rc = find_digest(&ch->s->w, wl ? SQL_WL_EXISTS : SQL_RULE_EXISTS, id, digest);
	if (rc < 0)
		return rc;
	if (!rc)
		return set_err(err, RPC_NOT_FOUND, field, NULL, "no %s %.64s",
			       wl ? "whitelist entry" : "rule", id);
	st = stmt(&ch->s->w, wl ? SQL_WL_DELETE : SQL_RULE_DELETE);
	if (!st)
		return -EIO;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_err(&ch->s->w, "delete");
	rulehash_sub(&ch->hash, digest);
	if (wl) {
		ch->dwl--;
		change_op(ch)->op_case = XDROP__V1__DELTA_OP__OP_DELETE_WHITELIST;
		ch->ops[ch->nops - 1].delete_whitelist = (char *)id;
	} else {
		ch->drules--;
		change_op(ch)->op_case = XDROP__V1__DELTA_OP__OP_DELETE_RULE;
		ch->ops[ch->nops - 1].delete_rule = (char *)id;
	}
	return 0;
}

static int delete_many(struct store *s, bool wl, const char *const *ids, size_t n, uint64_t *rev,
		       size_t *err_index, struct store_error *err)
{
	struct change ch;
	char field[64];
	int rc;

	if (n == 0 || n > XDROP_STORE_MAX_BATCH)
		return set_err(err, n ? RPC_RESOURCE_EXHAUSTED : RPC_INVALID_ARGUMENT, "ids", NULL,
			       "a batch holds 1..%d ids", XDROP_STORE_MAX_BATCH);
	rc = change_begin(s, &ch, n);
	if (rc < 0)
		return begin_fail(s, rc, err);
	for (size_t i = 0; i < n; i++) {
		if (n == 1)
			snprintf(field, sizeof(field), "id");
		else
			snprintf(field, sizeof(field), "ids[%zu]", i);
		rc = del_entry(&ch, wl, ids[i], field, err);
		if (rc < 0) {
			if (err_index)
				*err_index = i;
			if (rc == -EIO || rc == -ENOSPC)
				write_fail(err, rc, "write");
			change_abort(&ch);
			return rc;
		}
	}
	rc = change_commit(&ch, rev);
	if (rc < 0)
		write_fail(err, rc, "commit");
	return rc;
}

int store_rules_delete(struct store *s, const char *const *ids, size_t n, uint64_t *rev,
		       size_t *err_index, struct store_error *err)
{
	return delete_many(s, false, ids, n, rev, err_index, err);
}

int store_wl_delete(struct store *s, const char *const *ids, size_t n, uint64_t *rev,
		    size_t *err_index, struct store_error *err)
{
	return delete_many(s, true, ids, n, rev, err_index, err);
}

static const char SQL_RULES_EXPIRED[] = "SELECT id FROM rules WHERE expires_at > 0 AND"
					" expires_at <= ?1 ORDER BY id LIMIT ?2";

static const char SQL_RULES_EXPIRED_COUNT[] = "SELECT count(*) FROM rules WHERE"
					      " expires_at > 0 AND expires_at <= ?1";

/* How many rules have expired (at most XDROP_STORE_MAX_BATCH), or -EIO. */
static int count_expired(struct store *s, int64_t now)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, SQL_RULES_EXPIRED_COUNT);
	int n = -EIO;

	if (st) {
		sqlite3_bind_int64(st, 1, now);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_reset(st);
	}
	reader_put(s, c);
	return n > XDROP_STORE_MAX_BATCH ? XDROP_STORE_MAX_BATCH : n;
}

int store_rules_expire(struct store *s, int64_t now, size_t *count, uint64_t *rev)
{
	struct change ch;
	sqlite3_stmt *st;
	int rc;

	*count = 0;
	rc = count_expired(s, now);
	if (rc <= 0)
		return rc;
	rc = change_begin(s, &ch, (size_t)rc);
	if (rc < 0)
		return rc;
	st = stmt(&s->w, SQL_RULES_EXPIRED);
	if (!st) {
		change_abort(&ch);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, XDROP_STORE_MAX_BATCH);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *id = col_strdup(st, 0);

		if (!id) {
			sqlite3_reset(st);
			change_abort(&ch);
			return -ENOMEM;
		}
		ch.strs[ch.nstrs++] = id;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || ch.nstrs == 0) {
		rc = rc != SQLITE_DONE ? sql_err(&s->w, "expiry") : 0;
		change_abort(&ch);
		return rc;
	}
	for (size_t i = 0; i < ch.nstrs; i++) {
		rc = del_entry(&ch, false, ch.strs[i], "id", NULL);
		if (rc < 0) {
			change_abort(&ch);
			return rc;
		}
	}
	*count = ch.nstrs;
	return change_commit(&ch, rev);
}

static int put_wl(struct change *ch, Xdrop__V1__WhitelistEntry *w, const char *prefix,
		  struct store_error *err)
{
	struct conn *c = &ch->s->w;
	char mk[MATCH_KEY_SZ], dup[XDROP_STORE_MAX_ID + 1];
	uint8_t digest[RULEHASH_LEN];
	struct rule_error rerr = {0};
	struct rule_spec spec;
	uint8_t *pb = NULL;
	sqlite3_stmt *st;
	size_t len;
	int rc;

	if (!rule_id_ok(w->id))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "id",
			       "id must be 1..%d characters of " XDROP_ID_CHARS, XDROP_ID_MAX);
	if (!text_ok(w->name))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "name", "longer than %u bytes",
			       XDROP_STORE_MAX_TEXT);
	if (!text_ok(w->comment))
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, "comment", "longer than %u bytes",
			       XDROP_STORE_MAX_TEXT);
	if (rulepb_wl_to_spec(w, &spec, &rerr) < 0 || rule_refuse_match_all(&spec, &rerr) < 0)
		return set_err(err, RPC_INVALID_ARGUMENT, prefix, rerr.field, "%s",
			       rerr.reason ? rerr.reason : "invalid");
	rulepb_match_key(&spec, mk, sizeof(mk));
	rc = find_dup(c, SQL_WL_BY_KEY, mk, NULL, dup);
	if (rc < 0)
		return rc;
	if (rc)
		return set_err(err, RPC_ALREADY_EXISTS, prefix, NULL,
			       "a whitelist entry with the same match already exists: %s", dup);
	rc = find_digest(c, SQL_WL_EXISTS, w->id, NULL);
	if (rc < 0)
		return rc;
	if (rc)
		return set_err(err, RPC_ALREADY_EXISTS, prefix, "id",
			       "whitelist entry %s already exists", w->id);
	if (rulehash_wl_digest(w, digest) < 0)
		return -ENOMEM;
	len = xdrop__v1__whitelist_entry__get_packed_size(w);
	pb = malloc(len ? len : 1);
	if (!pb)
		return -ENOMEM;
	xdrop__v1__whitelist_entry__pack(w, pb);
	st = stmt(c, SQL_WL_INSERT);
	if (!st) {
		free(pb);
		return -EIO;
	}
	bind_text(st, 1, w->id);
	bind_text(st, 2, mk);
	bind_text(st, 3, w->name);
	bind_text(st, 4, addr_text(w->src_ip, w->src_cidr));
	bind_text(st, 5, addr_text(w->dst_ip, w->dst_cidr));
	sqlite3_bind_int(st, 6, (int)w->src_port);
	sqlite3_bind_int(st, 7, (int)w->dst_port);
	bind_text(st, 8, w->protocol);
	bind_text(st, 9, w->comment);
	sqlite3_bind_int64(st, 10, w->created_at);
	sqlite3_bind_blob(st, 11, digest, RULEHASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 12, pb, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(pb);
	if (rc != SQLITE_DONE)
		return sql_err(c, "whitelist write");
	ch->dwl++;
	rulehash_add(&ch->hash, digest);
	change_op(ch)->op_case = XDROP__V1__DELTA_OP__OP_UPSERT_WHITELIST;
	ch->ops[ch->nops - 1].upsert_whitelist = w;
	return 0;
}

int store_wl_add(struct store *s, Xdrop__V1__WhitelistEntry *const *e, size_t n, const char *prefix,
		 uint64_t *rev, size_t *err_index, struct store_error *err)
{
	struct change ch;
	char pfx[64];
	int rc;

	if (n == 0 || n > XDROP_STORE_MAX_BATCH)
		return set_err(err, n ? RPC_RESOURCE_EXHAUSTED : RPC_INVALID_ARGUMENT, "entries",
			       NULL, "a batch holds 1..%d entries", XDROP_STORE_MAX_BATCH);
	rc = change_begin(s, &ch, n);
	if (rc < 0)
		return begin_fail(s, rc, err);
	for (size_t i = 0; i < n; i++) {
		ch.wl[i] = *e[i];
		prefix_of(pfx, sizeof(pfx), prefix, i, n);
		rc = put_wl(&ch, &ch.wl[i], pfx, err);
		if (rc < 0) {
			if (err_index)
				*err_index = i;
			if (rc == -EIO || rc == -ENOMEM || rc == -ENOSPC)
				write_fail(err, rc, "write");
			change_abort(&ch);
			return rc;
		}
	}
	rc = change_commit(&ch, rev);
	if (rc < 0)
		write_fail(err, rc, "commit");
	return rc;
}

/* ---- rules and whitelist: reads ----------------------------------------------------------- */

static const char SQL_RULE_GET[] = "SELECT pb FROM rules WHERE id = ?1";
static const char SQL_WL_GET[] = "SELECT pb FROM whitelist WHERE id = ?1";

static int get_pb(struct store *s, const char *sql, const char *id,
		  const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, sql);
	int rc, err = 0;

	*out = NULL;
	if (!st) {
		err = -EIO;
		goto out;
	}
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = protobuf_c_message_unpack(desc, NULL, (size_t)sqlite3_column_bytes(st, 0),
						 sqlite3_column_blob(st, 0));
		if (!*out)
			err = -EIO;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "get");
	}
	sqlite3_reset(st);
out:
	reader_put(s, c);
	return err;
}

int store_rule_get(struct store *s, const char *id, Xdrop__V1__Rule **out)
{
	return get_pb(s, SQL_RULE_GET, id, &xdrop__v1__rule__descriptor, (ProtobufCMessage **)out);
}

int store_wl_get(struct store *s, const char *id, Xdrop__V1__WhitelistEntry **out)
{
	return get_pb(s, SQL_WL_GET, id, &xdrop__v1__whitelist_entry__descriptor,
		      (ProtobufCMessage **)out);
}

static const char *const rule_sorts[] = {
    "id",	  "name",     "action",	    "enabled", "expires_at", "created_at",
    "updated_at", "src_ip",   "src_cidr",   "dst_ip",  "dst_cidr",   "src_port",
    "dst_port",	  "protocol", "rate_limit", "comment", "source",     NULL};
static const char *const wl_sorts[] = {"id",	   "name",     "created_at", "src_ip",
				       "src_cidr", "dst_ip",   "dst_cidr",   "src_port",
				       "dst_port", "protocol", "comment",    NULL};

bool store_sort_field_ok(const char *field, bool wl)
{
	const char *const *v = wl ? wl_sorts : rule_sorts;

	if (!field || !field[0])
		return true;
	for (unsigned i = 0; v[i]; i++)
		if (strcmp(v[i], field) == 0)
			return true;
	return false;
}

/* The sort key: one CASE over the bound field name, so the statement stays static. */
#define RULE_SORT_EXPR                                                                             \
	"CASE ?5 WHEN 'id' THEN id WHEN 'name' THEN name WHEN 'action' THEN action"                \
	" WHEN 'enabled' THEN enabled WHEN 'expires_at' THEN expires_at"                           \
	" WHEN 'updated_at' THEN updated_at WHEN 'src_ip' THEN src WHEN 'src_cidr' THEN src"       \
	" WHEN 'dst_ip' THEN dst WHEN 'dst_cidr' THEN dst WHEN 'src_port' THEN src_port"           \
	" WHEN 'dst_port' THEN dst_port WHEN 'protocol' THEN protocol"                             \
	" WHEN 'rate_limit' THEN rate_limit WHEN 'comment' THEN comment"                           \
	" WHEN 'source' THEN source ELSE created_at END"
#define RULE_WHERE                                                                                 \
	" WHERE (?1 = '' OR instr(lower(name || ' ' || comment || ' ' || src || ' ' || dst"        \
	" || ' ' || id), lower(?1)) > 0) AND (?2 < 0 OR enabled = ?2)"                             \
	" AND (?3 = '' OR action = ?3) AND ?4 = ?4"
static const char SQL_RULE_LIST[] =
    "SELECT pb FROM rules" RULE_WHERE " ORDER BY CASE WHEN ?4 THEN NULL ELSE " RULE_SORT_EXPR
    " END ASC, CASE WHEN ?4 THEN " RULE_SORT_EXPR " END DESC, created_at, id LIMIT ?6 OFFSET ?7";
static const char SQL_RULE_COUNT[] = "SELECT count(*) FROM rules" RULE_WHERE " AND ?5 = ?5";

#define WL_SORT_EXPR                                                                               \
	"CASE ?5 WHEN 'id' THEN id WHEN 'name' THEN name WHEN 'src_ip' THEN src"                   \
	" WHEN 'src_cidr' THEN src WHEN 'dst_ip' THEN dst WHEN 'dst_cidr' THEN dst"                \
	" WHEN 'src_port' THEN src_port WHEN 'dst_port' THEN dst_port"                             \
	" WHEN 'protocol' THEN protocol WHEN 'comment' THEN comment ELSE created_at END"
#define WL_WHERE                                                                                   \
	" WHERE (?1 = '' OR instr(lower(name || ' ' || comment || ' ' || src || ' ' || dst"        \
	" || ' ' || id), lower(?1)) > 0) AND ?2 = ?2 AND ?3 = ?3 AND ?4 = ?4"
static const char SQL_WL_LIST[] =
    "SELECT pb FROM whitelist" WL_WHERE " ORDER BY CASE WHEN ?4 THEN NULL ELSE " WL_SORT_EXPR
    " END ASC, CASE WHEN ?4 THEN " WL_SORT_EXPR " END DESC, created_at, id LIMIT ?6 OFFSET ?7";
static const char SQL_WL_COUNT[] = "SELECT count(*) FROM whitelist" WL_WHERE " AND ?5 = ?5";

static void bind_query(sqlite3_stmt *st, const struct store_query *q, bool with_page)
{
	uint32_t limit = q->limit ? q->limit : XDROP_STORE_LIST_DEFAULT;
	uint32_t page = q->page ? q->page : 1;

	if (limit > XDROP_STORE_LIST_MAX)
		limit = XDROP_STORE_LIST_MAX;
	bind_text(st, 1, q->search);
	sqlite3_bind_int(st, 2, q->enabled);
	bind_text(st, 3, q->action);
	sqlite3_bind_int(st, 4, q->desc);
	bind_text(st, 5, q->sort);
	if (with_page) {
		sqlite3_bind_int64(st, 6, limit);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)(page - 1) * limit);
	}
}

static int list_pb(struct store *s, const char *list_sql, const char *count_sql,
		   const struct store_query *q, const ProtobufCMessageDescriptor *desc,
		   ProtobufCMessage ***out, size_t *n, uint64_t *total)
{
	struct conn *c = reader_get(s);
	ProtobufCMessage **v = NULL;
	size_t cap = 0;
	sqlite3_stmt *st;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		err = sql_err(c, "begin read");
		goto out;
	}
	st = stmt(c, count_sql);
	if (!st) {
		err = -EIO;
		goto end;
	}
	bind_query(st, q, false);
	if (sqlite3_step(st) != SQLITE_ROW) {
		err = sql_err(c, "count");
		goto end;
	}
	*total = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = stmt(c, list_sql);
	if (!st) {
		err = -EIO;
		goto end;
	}
	bind_query(st, q, true);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ProtobufCMessage *m;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			ProtobufCMessage **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		m = protobuf_c_message_unpack(desc, NULL, (size_t)sqlite3_column_bytes(st, 0),
					      sqlite3_column_blob(st, 0));
		if (!m) {
			err = -EIO;
			break;
		}
		v[(*n)++] = m;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "list");
	sqlite3_reset(st);
end:
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
out:
	reader_put(s, c);
	if (err) {
		for (size_t i = 0; i < *n; i++)
			protobuf_c_message_free_unpacked(v[i], NULL);
		free(v);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

int store_rule_list(struct store *s, const struct store_query *q, Xdrop__V1__Rule ***out, size_t *n,
		    uint64_t *total)
{
	return list_pb(s, SQL_RULE_LIST, SQL_RULE_COUNT, q, &xdrop__v1__rule__descriptor,
		       (ProtobufCMessage ***)out, n, total);
}

int store_wl_list(struct store *s, const struct store_query *q, Xdrop__V1__WhitelistEntry ***out,
		  size_t *n, uint64_t *total)
{
	return list_pb(s, SQL_WL_LIST, SQL_WL_COUNT, q, &xdrop__v1__whitelist_entry__descriptor,
		       (ProtobufCMessage ***)out, n, total);
}

void store_free_rules(Xdrop__V1__Rule **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		xdrop__v1__rule__free_unpacked(v[i], NULL);
	free(v);
}

void store_free_wl(Xdrop__V1__WhitelistEntry **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		xdrop__v1__whitelist_entry__free_unpacked(v[i], NULL);
	free(v);
}

/* ---- sync ------------------------------------------------------------------------------------ */

static const char SQL_SNAP_RULES[] = "SELECT pb FROM rules ORDER BY id";
static const char SQL_SNAP_WL[] = "SELECT pb FROM whitelist ORDER BY id";

static int read_blobs(struct conn *c, const char *sql, ProtobufCBinaryData **out, size_t *n)
{
	sqlite3_stmt *st = stmt(c, sql);
	ProtobufCBinaryData *v = NULL;
	size_t cap = 0;
	int rc, err = 0;

	*n = 0;
	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			ProtobufCBinaryData *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[*n].data = malloc(len ? len : 1);
		if (!v[*n].data) {
			err = -ENOMEM;
			break;
		}
		memcpy(v[*n].data, sqlite3_column_blob(st, 0), len);
		v[*n].len = len;
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "snapshot");
	sqlite3_reset(st);
	*out = v;
	return err;
}

int store_snapshot(struct store *s, struct store_snapshot **out)
{
	struct store_snapshot *snap = calloc(1, sizeof(*snap));
	struct conn *c = reader_get(s);
	sqlite3_stmt *st;
	int err = 0;

	*out = NULL;
	if (!snap) {
		reader_put(s, c);
		return -ENOMEM;
	}
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		err = sql_err(c, "begin snapshot");
		goto out;
	}
	st = stmt(c, SQL_REV_GET);
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		err = sql_err(c, "snapshot revision");
		goto end;
	}
	snap->revision = (uint64_t)sqlite3_column_int64(st, 0);
	snprintf(snap->hash, sizeof(snap->hash), "%s", (const char *)sqlite3_column_text(st, 1));
	sqlite3_reset(st);
	err = read_blobs(c, SQL_SNAP_RULES, &snap->rules, &snap->nrules);
	if (!err)
		err = read_blobs(c, SQL_SNAP_WL, &snap->wl, &snap->nwl);
end:
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
out:
	reader_put(s, c);
	if (err) {
		store_snapshot_free(snap);
		return err;
	}
	*out = snap;
	return 0;
}

void store_snapshot_free(struct store_snapshot *snap)
{
	if (!snap)
		return;
	for (size_t i = 0; snap->rules && i < snap->nrules; i++)
		free(snap->rules[i].data);
	for (size_t i = 0; snap->wl && i < snap->nwl; i++)
		free(snap->wl[i].data);
	free(snap->rules);
	free(snap->wl);
	free(snap);
}

static const char SQL_CHANGES_MIN[] = "SELECT min(revision) FROM changes";
static const char SQL_CHANGES_FROM[] = "SELECT delta FROM changes WHERE revision > ?1"
				       " ORDER BY revision LIMIT ?2";

int store_deltas(struct store *s, uint64_t from, uint32_t max, Xdrop__V1__Delta ***out, size_t *n,
		 bool *complete)
{
	struct conn *c = reader_get(s);
	Xdrop__V1__Delta **v = NULL;
	sqlite3_stmt *st;
	uint64_t oldest = 0;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	*complete = false;
	if (max == 0 || max > XDROP_STORE_CHANGELOG_KEEP)
		max = XDROP_STORE_CHANGELOG_KEEP;
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		err = sql_err(c, "begin deltas");
		goto out;
	}
	st = stmt(c, SQL_CHANGES_MIN);
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		err = sql_err(c, "change log");
		goto end;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_NULL)
		oldest = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = stmt(c, SQL_CHANGES_FROM);
	if (!st) {
		err = -EIO;
		goto end;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
	sqlite3_bind_int64(st, 2, max);
	v = calloc(max, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto end;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v[*n] = xdrop__v1__delta__unpack(NULL, (size_t)sqlite3_column_bytes(st, 0),
						 sqlite3_column_blob(st, 0));
		if (!v[*n]) {
			err = -EIO;
			break;
		}
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "deltas");
	sqlite3_reset(st);
	/* complete: the first delta returned follows from directly (or there is nothing) */
	*complete = *n ? v[0]->base_revision == from : (oldest == 0 || oldest <= from + 1);
	if (*n == 0 && oldest == 0) {
		uint64_t cur;

		pthread_mutex_lock(&s->rlock);
		cur = s->revision;
		pthread_mutex_unlock(&s->rlock);
		*complete = from >= cur;
	}
end:
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
out:
	reader_put(s, c);
	if (err) {
		store_free_deltas(v, *n);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

void store_free_deltas(Xdrop__V1__Delta **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		xdrop__v1__delta__free_unpacked(v[i], NULL);
	free(v);
}

/* ---- nodes ------------------------------------------------------------------------------ */

static const char SQL_NODE_ADD[] = "INSERT INTO nodes(id, name, address, comment, key,"
				   " created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_NODE_PUT[] = "INSERT OR REPLACE INTO nodes(id, name, address, comment,"
				   " key, created_at, updated_at)"
				   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_NODE_UPDATE[] = "UPDATE nodes SET name = ?2, address = ?3, comment = ?4,"
				      " updated_at = ?5 WHERE id = ?1";
static const char SQL_NODE_DELETE[] = "DELETE FROM nodes WHERE id = ?1";
static const char SQL_NODE_GET[] = "SELECT id, name, address, comment, key, created_at,"
				   " updated_at FROM nodes WHERE id = ?1";
static const char SQL_NODE_LIST[] = "SELECT id, name, address, comment, key, created_at,"
				    " updated_at FROM nodes ORDER BY created_at, id";

/* Runs a one-statement write on the writer connection. st is bound by the caller. */
static int write1(struct store *s, sqlite3_stmt *st, bool want_change)
{
	int rc = sqlite3_step(st);
	int changes = sqlite3_changes(s->w.db);

	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return sql_err(&s->w, "write");
	return want_change && changes == 0 ? -ENOENT : 0;
}

static int node_write(struct store *s, const char *sql, const Xdrop__V1__Node *n, const char *key)
{
	char rec[XDROP_NODEKEY_RECORD_MAX];
	sqlite3_stmt *st;
	int err;

	if (key)
		nodekey_record(key, rec); /* the key itself is never stored */
	pthread_mutex_lock(&s->wlock);
	st = stmt(&s->w, sql);
	if (!st) {
		err = -EIO;
		goto out;
	}
	bind_text(st, 1, n->id);
	bind_text(st, 2, n->name);
	bind_text(st, 3, n->address);
	bind_text(st, 4, n->comment);
	if (key) {
		bind_text(st, 5, rec);
		sqlite3_bind_int64(st, 6, n->created_at);
		sqlite3_bind_int64(st, 7, n->updated_at);
	} else {
		sqlite3_bind_int64(st, 5, n->updated_at);
	}
	err = write1(s, st, key == NULL);
out:
	pthread_mutex_unlock(&s->wlock);
	return err;
}

int store_node_add(struct store *s, const Xdrop__V1__Node *node, const char *key)
{
	return node_write(s, SQL_NODE_ADD, node, key);
}

int store_node_put(struct store *s, const Xdrop__V1__Node *node, const char *key)
{
	return node_write(s, SQL_NODE_PUT, node, key);
}

int store_node_update(struct store *s, const Xdrop__V1__Node *node)
{
	return node_write(s, SQL_NODE_UPDATE, node, NULL);
}

static int delete_by_id(struct store *s, const char *sql, const char *id)
{
	sqlite3_stmt *st;
	int err;

	pthread_mutex_lock(&s->wlock);
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

int store_node_delete(struct store *s, const char *id)
{
	return delete_by_id(s, SQL_NODE_DELETE, id);
}

static int node_row(sqlite3_stmt *st, struct store_node *out)
{
	Xdrop__V1__Node *n = calloc(1, sizeof(*n));

	memset(out, 0, sizeof(*out));
	if (!n)
		return -ENOMEM;
	xdrop__v1__node__init(n);
	out->node = n;
	n->id = col_strdup(st, 0);
	n->name = col_strdup(st, 1);
	n->address = col_strdup(st, 2);
	n->comment = col_strdup(st, 3);
	out->cred = col_strdup(st, 4);
	n->created_at = sqlite3_column_int64(st, 5);
	n->updated_at = sqlite3_column_int64(st, 6);
	n->status = strdup("unknown");
	n->content_hash = strdup("");
	n->version = strdup("");
	if (!n->id || !n->name || !n->address || !n->comment || !out->cred || !n->status ||
	    !n->content_hash || !n->version) {
		store_node_free(out);
		return -ENOMEM;
	}
	return 0;
}

void store_node_free(struct store_node *n)
{
	if (!n)
		return;
	if (n->node)
		xdrop__v1__node__free_unpacked(n->node,
					       NULL); /* malloc'd fields, default allocator */
	free(n->cred);
	n->node = NULL;
	n->cred = NULL;
}

int store_node_get(struct store *s, const char *id, struct store_node *out)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, SQL_NODE_GET);
	int rc, err;

	memset(out, 0, sizeof(*out));
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = node_row(st, out);
	else
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "node");
	sqlite3_reset(st);
	reader_put(s, c);
	return err;
}

int store_node_list(struct store *s, struct store_node **out, size_t *n)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, SQL_NODE_LIST);
	struct store_node *v = NULL;
	size_t cap = 0;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_node *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		err = node_row(st, &v[*n]);
		if (err)
			break;
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "nodes");
	sqlite3_reset(st);
	reader_put(s, c);
	if (err) {
		store_free_nodes(v, *n);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

void store_free_nodes(struct store_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		store_node_free(&v[i]);
	free(v);
}

/* ---- API keys ---------------------------------------------------------------------------- */

static const char SQL_KEY_ADD[] = "INSERT INTO api_keys(id, name, scope, salt, hash,"
				  " created_at, last_used_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_KEY_PUT[] = "INSERT OR REPLACE INTO api_keys(id, name, scope, salt, hash,"
				  " created_at, last_used_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_KEY_GET[] = "SELECT id, name, scope, salt, hash, created_at,"
				  " last_used_at FROM api_keys WHERE id = ?1";
static const char SQL_KEY_LIST[] = "SELECT id, name, scope, salt, hash, created_at,"
				   " last_used_at FROM api_keys ORDER BY created_at, id";
static const char SQL_KEY_DELETE[] = "DELETE FROM api_keys WHERE id = ?1";
static const char SQL_KEY_TOUCH[] = "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1";

int store_key_put(struct store *s, const struct store_key *k, bool replace)
{
	sqlite3_stmt *st;
	int err;

	pthread_mutex_lock(&s->wlock);
	st = stmt(&s->w, replace ? SQL_KEY_PUT : SQL_KEY_ADD);
	if (!st) {
		err = -EIO;
		goto out;
	}
	bind_text(st, 1, k->id);
	bind_text(st, 2, k->name);
	bind_text(st, 3, k->scope);
	sqlite3_bind_blob(st, 4, k->salt, XDROP_KEY_SALT_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, k->hash, XDROP_KEY_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, k->created_at);
	sqlite3_bind_int64(st, 7, k->last_used_at);
	err = write1(s, st, false);
out:
	pthread_mutex_unlock(&s->wlock);
	return err;
}

static int key_row(sqlite3_stmt *st, struct store_key *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", (const char *)sqlite3_column_text(st, 0));
	k->name = col_strdup(st, 1);
	snprintf(k->scope, sizeof(k->scope), "%s", (const char *)sqlite3_column_text(st, 2));
	if (sqlite3_column_bytes(st, 3) == XDROP_KEY_SALT_LEN)
		memcpy(k->salt, sqlite3_column_blob(st, 3), XDROP_KEY_SALT_LEN);
	if (sqlite3_column_bytes(st, 4) == XDROP_KEY_HASH_LEN)
		memcpy(k->hash, sqlite3_column_blob(st, 4), XDROP_KEY_HASH_LEN);
	k->created_at = sqlite3_column_int64(st, 5);
	k->last_used_at = sqlite3_column_int64(st, 6);
	return k->name ? 0 : -ENOMEM;
}

int store_key_get(struct store *s, const char *id, struct store_key *out)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, SQL_KEY_GET);
	int rc, err;

	memset(out, 0, sizeof(*out));
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = key_row(st, out);
	else
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "key");
	sqlite3_reset(st);
	reader_put(s, c);
	return err;
}

int store_key_list(struct store *s, struct store_key **out, size_t *n)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, SQL_KEY_LIST);
	struct store_key *v = NULL;
	size_t cap = 0;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_key *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		err = key_row(st, &v[*n]);
		(*n)++;
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "keys");
	sqlite3_reset(st);
	reader_put(s, c);
	if (err) {
		store_free_keys(v, *n);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

void store_free_keys(struct store_key *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int store_key_delete(struct store *s, const char *id)
{
	return delete_by_id(s, SQL_KEY_DELETE, id);
}

int store_key_touch(struct store *s, const char *id, int64_t at)
{
	sqlite3_stmt *st;
	int err;

	pthread_mutex_lock(&s->wlock);
	st = stmt(&s->w, SQL_KEY_TOUCH);
	if (!st) {
		err = -EIO;
	} else {
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, at);
		err = write1(s, st, true);
	}
	pthread_mutex_unlock(&s->wlock);
	return err;
}

/* ---- settings ---------------------------------------------------------------------------- */

static const char SQL_SETTING_GET[] = "SELECT value FROM settings WHERE key = ?1";
static const char SQL_SETTING_SET[] = "INSERT OR REPLACE INTO settings(key, value)"
				      " VALUES(?1, ?2)";

int store_setting_get(struct store *s, const char *key, char **out)
{
	struct conn *c = reader_get(s);
	sqlite3_stmt *st = stmt(c, SQL_SETTING_GET);
	int rc, err = 0;

	*out = NULL;
	if (!st) {
		reader_put(s, c);
		return -EIO;
	}
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = col_strdup(st, 0);
		err = *out ? 0 : -ENOMEM;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : sql_err(c, "setting");
	}
	sqlite3_reset(st);
	reader_put(s, c);
	return err;
}

int store_setting_set(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int err;

	pthread_mutex_lock(&s->wlock);
	st = stmt(&s->w, SQL_SETTING_SET);
	if (!st) {
		err = -EIO;
	} else {
		bind_text(st, 1, key);
		bind_text(st, 2, value);
		err = write1(s, st, false);
	}
	pthread_mutex_unlock(&s->wlock);
	return err;
}

int store_integrity_check(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int err = -EIO;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, XDROP_STORE_BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0)
		err = 0;
	else
		log_error("store: integrity_check of %s: %s", path,
			  (const char *)sqlite3_column_text(st, 0));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return err;
}
