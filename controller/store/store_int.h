/* SPDX-License-Identifier: MIT */
/*
 * store_int: what the files of controller/store/ share and nobody else sees.
 *
 * Connections: `w` is the one writer (guarded by wlock); readers come from a pool. Each
 * connection caches its prepared statements by the address of their static SQL text, so
 * every statement is prepared once per connection and only ever bound, never built
 * (store_db.c).
 *
 * A rule-set change (store_changes.c) runs as: lock wlock, BEGIN IMMEDIATE, apply ops
 * while collecting them into a Delta and updating a copy of the content hash, then
 * change_commit(): bump the revision, append the Delta to the change log (pruning old
 * rows), store revision and hash, COMMIT, publish the new state to memory and call
 * on_commit, unlock. Any failure rolls back, leaving memory untouched. On dqlite several
 * such changes may share one transaction and its COMMIT (struct group).
 *
 * The two kinds of the rule set, rules and whitelist entries, are one collection described
 * by struct store_coll (store_coll.c): its table, statements, columns and protobuf
 * message. Every write, read and list of either kind goes through that descriptor.
 */
#ifndef XDROP_CONTROLLER_STORE_INT_H
#define XDROP_CONTROLLER_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "db.h"

#include "rule.h"
#include "store.h"

#define MAX_STMTS    48
#define MATCH_KEY_SZ 160
/* The most changes one dqlite transaction carries (store_changes.c: a group) */
#define XDROP_STORE_GROUP_MAX 64

struct conn {
	struct db *db;
	struct {
		const char *sql;
		struct db_stmt *st;
	} cache[MAX_STMTS];
	unsigned n;
};

/*
 * The rule-set changes that share the writer's open transaction (dqlite only: one COMMIT,
 * a Raft round with its disk writes, for all of them; see store_changes.c). Each change
 * keeps its own revision, change-log row, idempotency record and push; the transaction
 * stays open between them only while another change waits for the writer lock.
 */
struct group_member;
struct group {
	bool open;	   /* the writer's transaction is open (BEGIN ran) */
	unsigned n;	   /* changes in it so far */
	unsigned waiting;  /* threads in change_begin waiting for wlock (atomic) */
	uint64_t revision; /* the state after those changes: what the next one builds on */
	struct rulehash hash;
	int64_t dcount[STORE_KINDS];
	struct group_member *head, **tail;
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
	uint64_t count[STORE_KINDS]; /* entries of each kind */
	store_commit_fn on_commit;
	void *commit_arg;
	bool publishing; /* on_commit runs (false: a follower of a cluster) */
	store_txn_fn txn_hook;
	void *txn_arg;
	bool big_cache;	       /* the writer's page cache is enlarged for a large change */
	struct group g;	       /* the changes of the writer's open transaction (wlock) */
	pthread_mutex_t glock; /* the members' done flags */
	pthread_cond_t gdone;
};

/* A change of this many ops gets a page cache of XDROP_STORE_BIG_CACHE_KIB (store_changes.c) */
#define XDROP_STORE_BIG_CHANGE	  50000
#define XDROP_STORE_BIG_CACHE_KIB 262144
#define XDROP_STR_(x)		  #x
#define XDROP_STR(x)		  XDROP_STR_(x)

/* ---- store_db.c: connections, statements, one-statement writes -------------------------- */

/* Logs the connection's last error; -ENOSPC for a full disk, -ECONNRESET when a dqlite
 * cluster has no leader or lost it (db.h: SQLITE_IOERR), else -EIO. */
int sql_err(struct conn *c, const char *what);
/* The statement for sql (a static string), reset and unbound. NULL on failure (logged). */
struct db_stmt *stmt(struct conn *c, const char *sql);
/* Opens c on path, a file or a dqlite target (db.h; the writer creates the file and sets
 * WAL). 0 or -errno. */
int conn_open(struct conn *c, const char *path, unsigned busy_ms, bool writer);
/* Finalizes c's statements and closes it (a closed or half-open c is fine). */
void conn_close(struct conn *c);
/* A free reader connection (waits for one); give it back with reader_put. */
struct conn *reader_get(struct store *s);
void reader_put(struct store *s, struct conn *c);
/* Binds v (NULL as "") as text, static. */
void bind_text(struct db_stmt *st, int i, const char *v);
/* A malloc'd copy of column i's text ("" for NULL); NULL when out of memory. */
char *col_strdup(struct db_stmt *st, int i);
/* Steps st (bound by the caller, writer lock held): 0, -EEXIST on a key conflict,
 * -ENOENT when want_change and no row changed, or sql_err's code. */
int write1(struct store *s, struct db_stmt *st, bool want_change);
/* Deletes the row of id with sql under the writer lock: 0, -ENOENT, -EIO. */
int delete_by_id(struct store *s, const char *sql, const char *id);

/* Fills *out from the current row of st: 0, or -ENOMEM with *out left freeable. */
typedef int (*store_row_fn)(struct db_stmt *st, void *out);
/* The row of id (sql binds it as ?1) through row into out: 0, -ENOENT, -EIO, -ENOMEM. */
int read_one(struct store *s, const char *sql, const char *id, store_row_fn row, void *out);
/* Every row of sql through row into a malloc'd array of *n elements of size bytes (*out,
 * freed with free_all). 0 or -errno (nothing returned). */
int read_all(struct store *s, const char *sql, store_row_fn row, size_t size,
	     void (*free_all)(void *v, size_t n), void **out, size_t *n);

/* ---- store_changes.c: errors, rule-set changes, the change log --------------------------- */

/* One change being built: the ops of its Delta and the items they point at. */
struct change {
	struct store *s;
	struct rulehash hash;
	int64_t dcount[STORE_KINDS];
	Xdrop__V1__DeltaOp *ops;
	Xdrop__V1__DeltaOp **opp;
	size_t nops, cap;
	void *items; /* shallow, stats-less copies the ops point at (cap messages of at most
		      * store_coll_max_size() bytes) */
	char **strs; /* ids copied from rows (expiry) */
	size_t nstrs;
	bool joined; /* ch joined an open group: its ops are under a savepoint */
};

/*
 * Fills *err (may be NULL) with code, the field path prefix.field (or prefix alone) and
 * the message; returns the negative errno of code (-EINVAL, -ENOENT, -EEXIST, -E2BIG,
 * else -EIO).
 */
int set_err(struct store_error *err, enum store_code code, const char *prefix, const char *field,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Fills *err for a change that could not start (change_begin's rc) and returns rc. */
int begin_fail(struct store *s, int rc, struct store_error *err);
/* Fills *err for a change that failed on the database itself (write or commit). */
void write_fail(struct store_error *err, int rc, const char *what);
/* Takes the writer lock for anything but a rule-set change: commits an open group first. */
void writer_lock(struct store *s);
/* Takes the writer lock and opens the transaction for about expect ops. Returns 0,
 * -ENOMEM, -EBUSY (locked elsewhere) or -EIO; the lock is not held on failure. */
int change_begin(struct store *s, struct change *ch, size_t expect);
/* Rolls ch back, unlocks and frees it. */
void change_abort(struct change *ch);
/* The next op of ch, initialised. */
Xdrop__V1__DeltaOp *change_op(struct change *ch);
/* Records the change, commits, updates memory, runs the hook, unlocks, frees ch. Returns
 * 0 with *rev (may be NULL) or -errno (rolled back). */
int change_commit(struct change *ch, uint64_t *rev);

/* ---- store_coll.c: the rule-set collection ----------------------------------------------- */

/* A column of a kind's table, bound from the message field of that name. */
struct store_col {
	const char *field;
};

#define STORE_COLL_COLS 18

/*
 * One kind of the rule set: what differs between rules and whitelist entries, and all of
 * it. Insert and update bind ?1 id, ?2 the match key's hash, ?3.. the columns in cols
 * order, then the rest of the packed message (store_row.c): the first `prefix` columns are
 * the message's fields 2.. in field order, the leading bytes the row does not keep twice.
 * A new field lands in `rest` without a migration; a new kind is one more entry.
 */
struct store_coll {
	const char *noun;	/* "rule": messages ("no rule x", "rule x already exists") */
	const char *item;	/* "rule": the field path of a single write */
	const char *items;	/* "rules": the field path of a batch and its noun */
	const char *write_what; /* the log's name of a failed row write */
	const ProtobufCMessageDescriptor *desc;
	const char *op_upsert, *op_delete; /* the DeltaOp fields of an upsert and a delete */
	const char *sql_by_key, *sql_exists, *sql_insert, *sql_update /* NULL: not updatable */,
	    *sql_delete, *sql_get, *sql_list, *sql_count, *sql_digests, *sql_snapshot;
	const char *const *sorts; /* the fields lists sort by, NULL-terminated */
	unsigned prefix;	  /* cols[0..prefix) are fields 2.. of the message, in order */
	struct store_col cols[STORE_COLL_COLS];
};

extern const struct store_coll store_colls[STORE_KINDS];

/* The largest message size of the kinds (room for one item in struct change). */
size_t store_coll_max_size(void);
/* Sums the stored digests of kind k into h and counts them into *n. 0 or -EIO. */
int store_coll_sum(struct conn *c, enum store_kind k, struct rulehash *h, uint64_t *n);

/* The generic writes of store_coll.c, shared with store_source.c (same contracts there). */
/* Checks m as every write does (store limits, lib/rulepb, not match-all) and writes its
 * match key into mk. 0, or -errno with *err naming prefix.field. */
int store_coll_key(const ProtobufCMessage *m, const char *prefix, char mk[MATCH_KEY_SZ],
		   struct store_error *err);
/* Validates m (a copy from store_coll_copy) and writes its row with sql (insert or
 * update; self: the id updated, NULL for inserts), recording the upsert in ch. */
int store_coll_put(struct change *ch, enum store_kind kind, ProtobufCMessage *m, const char *sql,
		   const char *self, const char *prefix, struct store_error *err);
/* Item i of ch's copies: a shallow copy of m without its counters. */
ProtobufCMessage *store_coll_copy(struct change *ch, size_t i, const ProtobufCMessage *m);
/* Deletes id within ch (STORE_NOT_FOUND naming field when absent). */
int store_coll_del(struct change *ch, enum store_kind kind, const char *id, const char *field,
		   struct store_error *err);
/* Aborts ch after op i failed with rc (database failures become the generic error). */
int store_coll_fail(struct change *ch, int rc, size_t i, size_t *err_index,
		    struct store_error *err);
/* Commits ch (a failed commit becomes the generic commit error). */
int store_coll_commit(struct change *ch, uint64_t *rev, struct store_error *err);

/* Binds the row of m (packed: pb, len; match key mk) to an insert or update of its kind
 * (the parameters above). 0, or -EIO when pb is not laid out as a row expects. */
int store_coll_bind(struct db_stmt *st, enum store_kind k, const ProtobufCMessage *m,
		    const char *mk, const uint8_t *pb, size_t len);

/* ---- store_row.c: a row and its packed message ------------------------------------------ */

/* The 64-bit hash of a match key kept in a row (FNV-1a). */
uint64_t store_mkh(const char *mk);
/* The length of the leading bytes of packed pb that a row of kind k keeps as columns. 0,
 * or -EIO when pb is malformed there. */
int pb_prefix_len(enum store_kind k, const uint8_t *pb, size_t len, size_t *plen);
/* The packed message of the current row of st, whose kind's message columns (id first, then
 * the prefix columns and rest) start at column col0: its length, and written to out. */
size_t row_pb_len(enum store_kind k, struct db_stmt *st, int col0);
size_t row_pb_put(enum store_kind k, struct db_stmt *st, int col0, uint8_t *out);
/* The same, unpacked (NULL when out of memory or undecodable). */
ProtobufCMessage *row_unpack(enum store_kind k, struct db_stmt *st, int col0);
/* The content-hash digest of an entry of kind k from its packed bytes (lib/rulehash.h). */
void pb_digest(enum store_kind k, const uint8_t *pb, size_t len, uint8_t d[RULEHASH_LEN]);
/* The digest of the current row's entry (its columns from col0). 0 or -ENOMEM. */
int row_digest(enum store_kind k, struct db_stmt *st, int col0, uint8_t d[RULEHASH_LEN]);
/* The stored entry of kind k other than self (NULL: any) whose match key is mk: 1 and
 * *out (unpacked, the caller frees it), 0 when none, or -errno. */
int store_coll_by_key(struct conn *c, enum store_kind k, const char *mk, const char *self,
		      ProtobufCMessage **out);

/* Migration 6's copy of schema 5's rows into the tables of this layout (store_open.c). */
int store_rows_migrate(struct db *db);

/* ---- store_open.c ------------------------------------------------------------------------- */

extern const char SQL_REV_GET[];

/* Compares the stored revision and content hash with memory (writer lock held); when they
 * differ or full is set, recomputes hash and counts from the entries and takes the stored
 * revision. 0 or -errno. */
int state_sync(struct store *s, bool full);
/* state_sync after another controller's writes (writer lock held): when s publishes,
 * first hands the deltas it missed to on_commit, in revision order. 0 or -errno. */
int state_catch_up(struct store *s);

#endif
