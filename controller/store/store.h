/* SPDX-License-Identifier: MIT */
/*
 * store: the controller's SQLite database, the source of truth for every node.
 *
 * One file in WAL mode with busy_timeout. Tables: rules, whitelist (each row keeps the
 * fields lists filter and sort on, the match key that refuses duplicates, the entry's
 * content-hash digest and its packed protobuf, byte for byte what nodes receive), nodes
 * (with a verifier of their key and the derived beacon key, never the key: lib/nodekey.h),
 * changes (the revision log: one serialized Delta per revision), api_keys (salted
 * SHA-256), settings, revision (one row: the rule set's revision and content hash) and
 * schema_version. The files are mode 0600 whatever the umask (store_secure.h).
 *
 * Writers: one connection behind one mutex. Every change to the rule set (one rule, a
 * batch, a whitelist change, an expiry) is ONE transaction that applies the ops, bumps the
 * revision, updates the content hash and appends the change-log row; the on_commit hook
 * then runs with the Delta, still under the writer mutex, so that deltas are published in
 * revision order. Readers take a connection from a small pool and never block the writer
 * (WAL). SQL is static text; every value is bound to a prepared statement.
 *
 * Migrations are numbered; store_open() applies the missing ones in one transaction each
 * and records the version, so older files are upgraded in place.
 *
 * Errors: 0 or a negative errno. Write functions also fill a struct store_error with the
 * store's own code (enum store_code), the field path (e.g. "rules[3].src_cidr") and a
 * message; the service layer maps the code to its RPC status and returns the rest as is.
 * The store knows nothing of RPC. A change that cannot start because another connection
 * held the database's write lock for all of busy_timeout fails with -EBUSY and STORE_BUSY
 * (worth a retry); a full disk (SQLITE_FULL, or an I/O error with ENOSPC) is -ENOSPC and
 * STORE_EXHAUSTED with STORE_DISK_FULL as the message (the transaction is rolled back,
 * nothing is changed, and the next write succeeds once space is back); other SQLite
 * failures are -EIO and STORE_INTERNAL. The store sets *err_index only when
 * one item of a batch was at fault. Messages returned through out-parameters belong to
 * the caller and are freed with protobuf_c_message_free_unpacked() (or the named helper).
 *
 * Rules and whitelist entries are the two kinds (enum store_kind) of one collection: the
 * same add, delete, get and list take the kind (controller/store/store_coll.c describes
 * each); store_rules_add and the like are typed shorthands for them.
 *
 * The SQL goes through db.h: SQLite by default, or a dqlite cluster's database (a path
 * "dqlite://..."; docs/dqlite.md): same schema, migrations and transactions.
 *
 * Files (controller/store/): db.c, db_dqlite.c (the SQL layer and its two backends),
 * store_open.c (lock, connections, migrations, in-memory state, catching up with a
 * cluster), store_db.c (connections and statements), store_changes.c (transactions, errors,
 * the change log), store_coll.c (the rule-set kinds and their writes), store_query.c
 * (reads, lists, snapshots), store_nodes.c, store_keys.c (API keys, settings),
 * store_secure.c (file modes, node key records).
 */
#ifndef XDROP_CONTROLLER_STORE_H
#define XDROP_CONTROLLER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule.h"
#include "rulehash.h"
#include "xdrop.pb-c.h"
#include "xdrop_limits.h"

#define XDROP_STORE_SCHEMA_VERSION  6
#define XDROP_STORE_BUSY_TIMEOUT_MS 10000
#define XDROP_STORE_READERS	    4	 /* pooled read connections */
#define XDROP_STORE_CHANGELOG_KEEP  1000 /* revisions kept in the change log */
/* A change whose Delta packs larger than this is logged without it (an empty row): no push
 * frame (lib/pubsub.h) nor RPC reply (lib/rpc.h) could carry it, so store_deltas ends at
 * it and a node behind it takes a snapshot. A 1M-rule import would otherwise keep ~120 MB
 * (as many bytes as the rules) in the change log. */
#define XDROP_STORE_DELTA_MAX	 (16u * 1024 * 1024)
#define XDROP_STORE_MAX_BATCH	 XDROP_BATCH_MAX
#define XDROP_STORE_MAX_TEXT	 (1024u * 1024) /* name, comment, source: bytes */
#define XDROP_STORE_MAX_ID	 XDROP_ID_MAX	/* ids of rules, entries, nodes (lib/rule.h) */
#define XDROP_STORE_LIST_DEFAULT XDROP_LIST_DEFAULT
#define XDROP_STORE_LIST_MAX	 XDROP_LIST_MAX
#define XDROP_UUID_LEN		 37 /* 36 characters and a NUL */

/* The message of every write refused because the disk is full. */
#define STORE_DISK_FULL                                                                            \
	"disk full: the controller's database cannot grow; nothing was changed (free space "       \
	"on its file system and retry)"

struct store;

#define XDROP_STORE_ERR_FIELD	128 /* field path, bytes with NUL */
#define XDROP_STORE_ERR_MESSAGE 256 /* message, bytes with NUL */

/* What went wrong with a write, in the store's terms (the service maps them to RPC). */
enum store_code {
	STORE_OK = 0,
	STORE_INVALID,	 /* an item (field names which) or the request is invalid */
	STORE_NOT_FOUND, /* the id does not exist */
	STORE_EXISTS,	 /* the id or the match is taken */
	STORE_EXHAUSTED, /* the batch is too large, or memory or the disk is full */
	STORE_BUSY,	 /* the database is locked by another process: worth a retry */
	STORE_INTERNAL,	 /* the database failed */
};

struct store_error {
	enum store_code code;
	char field[XDROP_STORE_ERR_FIELD];
	char message[XDROP_STORE_ERR_MESSAGE];
};

typedef void (*store_commit_fn)(void *arg, const Xdrop__V1__Delta *d);

/*
 * Runs inside every rule-set change's transaction, on the writer connection, right before
 * COMMIT (revision: the change's); a non-zero return (negative errno) rolls the change
 * back and fails it. Used by controller/idempotency.c to record a write's outcome with it.
 */
struct db; /* db.h */
typedef int (*store_txn_fn)(void *arg, struct db *db, uint64_t revision);

struct store_opts {
	size_t sz;		   /* sizeof(struct store_opts) */
	const char *path;	   /* database file, or a dqlite target (db.h) */
	unsigned busy_ms;	   /* 0 = XDROP_STORE_BUSY_TIMEOUT_MS */
	unsigned keep;		   /* change-log revisions kept; 0 = XDROP_STORE_CHANGELOG_KEEP */
	store_commit_fn on_commit; /* after each committed rule-set change; may be NULL */
	void *commit_arg;
};

/*
 * Locks the database for this process (an exclusive flock on "<path>.lock", held until
 * store_close: one controller per database), opens (creating if needed) and migrates it,
 * recomputes the content hash from the stored entries and checks it against the stored
 * one. Returns 0 and *out (store_close), -EBUSY when another process holds the lock (its
 * PID logged), -EIO when SQLite fails, -EPROTO for a file from a newer schema.
 * A dqlite target (db.h: "dqlite://HOST:PORT,.../NAME") takes no lock: the cluster
 * serializes writers, and each change takes the replicated revision in its transaction.
 */
int store_open(struct store **out, const struct store_opts *opts);

/* Closes every connection and frees s. NULL is fine. */
void store_close(struct store *s);

/*
 * Reads the revision, content hash and counts again from the database (recomputing the
 * hash from the entries), for a controller that may have missed writes: one that gains
 * the leadership of a dqlite cluster. 0 or -errno.
 */
int store_reload(struct store *s);

/*
 * A store of a dqlite cluster, whose other controllers may write too. store_set_publishing
 * says whether this controller publishes (its commit hook runs: the leader) or not (a
 * follower: its writes run on the cluster's database all the same, and the leader
 * publishes them). store_catch_up takes the revision, hash and counts of writes made
 * elsewhere and, when publishing, first hands their deltas to the commit hook in revision
 * order (the change log's; a gap older than it is left to the nodes' resync). A store
 * publishes from store_open on. 0 or -errno.
 */
void store_set_publishing(struct store *s, bool on);
bool store_publishing(struct store *s);
int store_catch_up(struct store *s);

/* Sets the commit hook (before writes start). */
void store_set_commit_hook(struct store *s, store_commit_fn fn, void *arg);

/* Sets the transaction hook (before writes start; NULL to remove it). */
void store_set_txn_hook(struct store *s, store_txn_fn fn, void *arg);

/* A fresh UUID, lower-case, version 7 (RFC 9562): 48 bits of Unix time in ms, then 74
 * random bits (from getrandom, drawn a few KiB at a time), so ids made one after another
 * sort in the order they were made and append to the rules' id index instead of landing
 * on a random page of it. Thread-safe. */
void store_uuid(char out[XDROP_UUID_LEN]);

/* ---- the rule set ---------------------------------------------------------------------- */

struct store_rev {
	uint64_t revision;
	char hash[RULEHASH_HEX];
	uint64_t rules;
	uint64_t whitelist;
};

/* The current revision, hash and entry counts (from memory, consistent with each other). */
void store_revision(struct store *s, struct store_rev *out);

/* The kinds of the rule set, one collection (store_coll.c). */
enum store_kind {
	STORE_RULES,	 /* Xdrop__V1__Rule */
	STORE_WHITELIST, /* Xdrop__V1__WhitelistEntry */
	STORE_KINDS
};

/*
 * Inserts n items of kind k (messages of its type; n <= XDROP_STAGE_MAX_ITEMS) as one
 * change: all or nothing. Each item must be complete (id, timestamps set by the caller;
 * rule stats are ignored). Validation (lib/rulepb) and duplicates (within the batch and
 * against the store: STORE_EXISTS naming the existing id) are reported through *err with
 * the field prefixed by prefix[i] ("rule" or "rules[3]"). *err_index is the failing item.
 * Returns 0 and *rev, or -errno.
 */
int store_add(struct store *s, enum store_kind k, void *const *items, size_t n, const char *prefix,
	      uint64_t *rev, size_t *err_index, struct store_error *err);

/* Replaces the item of kind k with item's id (which must exist) with item, one change.
 * Returns 0, -ENOENT, -EINVAL (also for a kind that is not updatable), -EEXIST (duplicate
 * match key) with *err filled. */
int store_replace(struct store *s, enum store_kind k, const void *item, uint64_t *rev,
		  struct store_error *err);

/*
 * Adds rule r (complete, as for store_add) as one change, or, when r has a match_anomaly
 * and an anomaly rule with the same match and action exists, ORs r's bits into that rule
 * in the same change (v2.7's merge; store_merge.c). On a merge *r becomes a shallow copy
 * of the merged rule (id, created_at and every other field the existing rule's, updated_at
 * r's) whose strings belong to *held, and *merged is true; *r changes before the commit,
 * so a commit hook sees it (*merged too: pass the reply's field). The caller frees *held
 * (protobuf_c_message_free_unpacked, NULL when nothing merged) once it is done with *r, whatever
 * the outcome. Errors as store_add (STORE_EXISTS for a match held by a rule that does not merge),
 * with the field prefixed "rule". Returns 0 and *rev, or -errno.
 */
int store_rule_add_merge(struct store *s, Xdrop__V1__Rule *r, Xdrop__V1__Rule **held,
			 protobuf_c_boolean *merged, uint64_t *rev, struct store_error *err);

/* Deletes n items of kind k (all must exist) as one change. */
int store_delete(struct store *s, enum store_kind k, const char *const *ids, size_t n,
		 uint64_t *rev, size_t *err_index, struct store_error *err);

/* Checks item m (a Rule or WhitelistEntry) as every write does, without writing: 0, or
 * -EINVAL with *err naming prefix.field (a staged import's chunks, service_stage.c). */
int store_check_item(const ProtobufCMessage *m, const char *prefix, struct store_error *err);

/* What a source replace does to each rule of the set (store_rules_replace_source). */
enum store_fate {
	STORE_FATE_ADD,	      /* new: inserted with its own id */
	STORE_FATE_UPDATE,    /* same match as one of the source's, other content: updated */
	STORE_FATE_UNCHANGED, /* same match and content as one of the source's: untouched */
};

/* The diff of a source replace; free with store_source_diff_free. */
struct store_source_diff {
	enum store_fate *fate; /* per rule of the set (n) */
	Xdrop__V1__Rule *
	    *kept; /* per rule: the stored rule it keeps (UPDATE, UNCHANGED), or NULL */
	Xdrop__V1__Rule **removed; /* the source's rules not in the set, as stored */
	size_t n, n_removed;
	size_t added, updated, unchanged;
	Xdrop__V1__Rule **old; /* every stored rule of the source (owns kept and removed) */
	size_t n_old;
};

/*
 * Makes the rules of source equal to rules[0..n) (n <= XDROP_STAGE_MAX_ITEMS; 0 removes
 * them all) as ONE change: the source's rules not in the set are deleted, rules of the set
 * whose match equals one of the source's keep its id (and created_at: the caller's rules
 * are modified to say so: id and created_at), the others are inserted. Each rule must be
 * prepared as for store_add and carry source. Errors name "rules[i]" (the set's index): a
 * rule invalid, a match given twice, or a match held by a rule of another source
 * (STORE_EXISTS naming it). dry_run: the same checks and diff, then a rollback (no
 * revision). on_diff (may be NULL) sees the diff before the commit. Returns 0 with *diff (the
 * caller's) and *rev (unchanged on a dry run), or -errno with *err and *err_index.
 */
/* Called with the complete diff right before the change commits (or is rolled back on a dry
 * run): a reply recorded with the change (controller/idempotency.c) must be whole then. A
 * negative return refuses the change (rolled back) with *err as the caller filled it. */
typedef int (*store_diff_fn)(void *arg, const struct store_source_diff *d, struct store_error *err);
int store_rules_replace_source(struct store *s, const char *source, Xdrop__V1__Rule *const *rules,
			       size_t n, bool dry_run, struct store_source_diff *diff,
			       store_diff_fn on_diff, void *arg, uint64_t *rev, size_t *err_index,
			       struct store_error *err);
void store_source_diff_free(struct store_source_diff *d);

/* Deletes the rules whose 0 < expires_at <= now as one change. *count (may be 0) and *rev.
 * Returns 0, -EBUSY (the database is locked elsewhere), -EIO or -ENOMEM. */
int store_rules_expire(struct store *s, int64_t now, size_t *count, uint64_t *rev);

/* The item id of kind k into *out (the caller's, protobuf_c_message_free_unpacked), or
 * -ENOENT when absent, -EIO. */
int store_get(struct store *s, enum store_kind k, const char *id, void **out);

struct store_query {
	uint32_t page;	    /* 1-based; 0 = 1 */
	uint32_t limit;	    /* 0 = XDROP_STORE_LIST_DEFAULT; <= XDROP_STORE_LIST_MAX */
	const char *search; /* substring (case-insensitive) of names, comments, addresses */
	const char *sort;   /* a name from store_sort_field_ok(); NULL/"" = created_at */
	bool desc;
	int enabled;	    /* -1 any, 0, 1 (rules only) */
	const char *action; /* NULL/"" = any (rules only) */
	const char *source; /* NULL/"" = any, else exactly this source (rules only) */
};

/* True when items of kind k can be sorted by field (NULL and "" are the default). */
bool store_sort_field_ok(enum store_kind k, const char *field);

/*
 * One page of items of kind k matching q, and the total number matching. *out is an
 * array of *n messages; free with store_free_items.
 */
int store_list(struct store *s, enum store_kind k, const struct store_query *q, void ***out,
	       size_t *n, uint64_t *total);
void store_free_items(void **v, size_t n);

/* Typed shorthands of the above for each kind. */
static inline int store_rules_add(struct store *s, Xdrop__V1__Rule *const *rules, size_t n,
				  const char *prefix, uint64_t *rev, size_t *err_index,
				  struct store_error *err)
{
	return store_add(s, STORE_RULES, (void *const *)rules, n, prefix, rev, err_index, err);
}

static inline int store_wl_add(struct store *s, Xdrop__V1__WhitelistEntry *const *e, size_t n,
			       const char *prefix, uint64_t *rev, size_t *err_index,
			       struct store_error *err)
{
	return store_add(s, STORE_WHITELIST, (void *const *)e, n, prefix, rev, err_index, err);
}

static inline int store_rule_replace(struct store *s, const Xdrop__V1__Rule *r, uint64_t *rev,
				     struct store_error *err)
{
	return store_replace(s, STORE_RULES, r, rev, err);
}

static inline int store_rules_delete(struct store *s, const char *const *ids, size_t n,
				     uint64_t *rev, size_t *err_index, struct store_error *err)
{
	return store_delete(s, STORE_RULES, ids, n, rev, err_index, err);
}

static inline int store_wl_delete(struct store *s, const char *const *ids, size_t n, uint64_t *rev,
				  size_t *err_index, struct store_error *err)
{
	return store_delete(s, STORE_WHITELIST, ids, n, rev, err_index, err);
}

static inline int store_rule_get(struct store *s, const char *id, Xdrop__V1__Rule **out)
{
	return store_get(s, STORE_RULES, id, (void **)out);
}

static inline int store_wl_get(struct store *s, const char *id, Xdrop__V1__WhitelistEntry **out)
{
	return store_get(s, STORE_WHITELIST, id, (void **)out);
}

static inline int store_rule_list(struct store *s, const struct store_query *q,
				  Xdrop__V1__Rule ***out, size_t *n, uint64_t *total)
{
	return store_list(s, STORE_RULES, q, (void ***)out, n, total);
}

static inline int store_wl_list(struct store *s, const struct store_query *q,
				Xdrop__V1__WhitelistEntry ***out, size_t *n, uint64_t *total)
{
	return store_list(s, STORE_WHITELIST, q, (void ***)out, n, total);
}

static inline void store_free_rules(Xdrop__V1__Rule **v, size_t n)
{
	store_free_items((void **)v, n);
}

static inline void store_free_wl(Xdrop__V1__WhitelistEntry **v, size_t n)
{
	store_free_items((void **)v, n);
}

/* ---- sync ------------------------------------------------------------------------------ */

/* The whole rule set at one revision: packed messages as stored, each kind's bytes in one
 * buffer (rules[i].data points into rules_buf). */
struct store_snapshot {
	uint64_t revision;
	char hash[RULEHASH_HEX];
	size_t nrules, nwl;
	ProtobufCBinaryData *rules;
	ProtobufCBinaryData *wl;
	uint8_t *rules_buf, *wl_buf;
};

/* Reads a consistent snapshot (one read transaction). Free with store_snapshot_free. */
int store_snapshot(struct store *s, struct store_snapshot **out);
void store_snapshot_free(struct store_snapshot *snap);

/*
 * Deltas with revision > from, at most max, in order, up to the first change logged
 * without its Delta (XDROP_STORE_DELTA_MAX). *complete is false when the change log no
 * longer reaches back to from + 1, or the change after from was too large to log. Free
 * with store_free_deltas.
 */
int store_deltas(struct store *s, uint64_t from, uint32_t max, Xdrop__V1__Delta ***out, size_t *n,
		 bool *complete);
void store_free_deltas(Xdrop__V1__Delta **v, size_t n);

/* ---- nodes ----------------------------------------------------------------------------- */

/* A node row: its Node message (id, name, address, comment, times) and the stored record
 * of its key (lib/nodekey.h: verifier and beacon key), never the key itself. */
struct store_node {
	Xdrop__V1__Node *node;
	char *cred;
};

/* Inserts node (id set by the caller) with key (stored as its record only). -EEXIST when
 * the id exists. */
int store_node_add(struct store *s, const Xdrop__V1__Node *node, const char *key);
/* Inserts or replaces node (for nodes listed in the config). */
int store_node_put(struct store *s, const Xdrop__V1__Node *node, const char *key);
/* Updates name, address, comment, updated_at of node->id. -ENOENT when absent. */
int store_node_update(struct store *s, const Xdrop__V1__Node *node);
int store_node_delete(struct store *s, const char *id);
int store_node_get(struct store *s, const char *id, struct store_node *out);
/* Every node, in creation order. Free with store_free_nodes. */
int store_node_list(struct store *s, struct store_node **out, size_t *n);
void store_node_free(struct store_node *n);
void store_free_nodes(struct store_node *v, size_t n);

/* ---- API keys ---------------------------------------------------------------------------- */

#define XDROP_KEY_SALT_LEN 16
#define XDROP_KEY_HASH_LEN 32

struct store_key {
	char id[XDROP_STORE_MAX_ID + 1];
	char *name;
	char scope[16];
	uint8_t salt[XDROP_KEY_SALT_LEN];
	uint8_t hash[XDROP_KEY_HASH_LEN];
	int64_t created_at;
	int64_t last_used_at;
};

/* Inserts (or with replace, replaces) a key row. -EEXIST when the id exists. */
int store_key_put(struct store *s, const struct store_key *k, bool replace);
int store_key_get(struct store *s, const char *id, struct store_key *out); /* free name */
int store_key_list(struct store *s, struct store_key **out, size_t *n);
void store_free_keys(struct store_key *v, size_t n);
int store_key_delete(struct store *s, const char *id);
int store_key_touch(struct store *s, const char *id, int64_t at);

/* ---- settings ---------------------------------------------------------------------------- */

/* *out (free()) or -ENOENT. */
int store_setting_get(struct store *s, const char *key, char **out);
int store_setting_set(struct store *s, const char *key, const char *value);

/* PRAGMA integrity_check on a fresh connection to path: 0 when "ok", -EIO otherwise. */
int store_integrity_check(const char *path);

#endif
