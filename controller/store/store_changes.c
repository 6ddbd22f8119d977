// SPDX-License-Identifier: MIT
/*
 * store_changes: rule-set changes as transactions (begin, ops, commit with the revision
 * bump, the change-log row and the hooks), the store's errors, and reading the change log
 * back as deltas; see store_int.h for the order of a change.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store_int.h"

int set_err(struct store_error *err, enum store_code code, const char *prefix, const char *field,
	    const char *fmt, ...)
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
	case STORE_INVALID:
		return -EINVAL;
	case STORE_NOT_FOUND:
		return -ENOENT;
	case STORE_EXISTS:
		return -EEXIST;
	case STORE_EXHAUSTED:
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
	struct db_stmt *st = stmt(&s->w, SQL_BEGIN);
	int rc;

	if (!st)
		return -EIO;
	rc = db_step(st);
	db_reset(st);
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
int begin_fail(struct store *s, int rc, struct store_error *err)
{
	if (rc == -EBUSY)
		set_err(err, STORE_BUSY, NULL, NULL,
			"the database is locked by another process (waited %u ms); try again",
			s->busy_ms);
	else if (rc == -ENOMEM)
		set_err(err, STORE_EXHAUSTED, NULL, NULL, "out of memory for the transaction");
	else if (rc == -ENOSPC)
		set_err(err, STORE_EXHAUSTED, NULL, NULL, "%s", STORE_DISK_FULL);
	else if (rc == -ECONNRESET)
		set_err(err, STORE_BUSY, NULL, NULL,
			"no leader of the controllers' cluster is reachable from this controller "
			"(an election, or it is cut off from the majority); nothing was changed; "
			"try again or another controller");
	else
		set_err(err, STORE_INTERNAL, NULL, NULL,
			"cannot start a transaction: database error (see the controller's log)");
	return rc;
}

/*
 * The page cache of the writer for a change of n ops (writer lock held; embedded SQLite
 * only): a large change gets XDROP_STORE_BIG_CACHE_KIB, so that the pages it dirties stay
 * in memory until COMMIT instead of spilling to the WAL and being read back from it for
 * the next insert (a 1M-rule import spent about a third of its time there); with n = 0
 * the cache goes back to SQLite's default and its memory to the allocator.
 */
static void cache_for(struct store *s, size_t n)
{
	sqlite3 *db = db_sqlite(s->w.db);

	if (!db)
		return;
	if (n >= XDROP_STORE_BIG_CHANGE) {
		db_exec(s->w.db, "PRAGMA cache_size = -" XDROP_STR(XDROP_STORE_BIG_CACHE_KIB));
		s->big_cache = true;
	} else if (s->big_cache) {
		db_exec(s->w.db, "PRAGMA cache_size = -2000");
		sqlite3_db_release_memory(db);
		s->big_cache = false;
	}
}

/*
 * Group commit (dqlite). A change's COMMIT is a Raft round with disk writes on a majority
 * (4 to 40 ms on a loaded machine) against well under 1 ms for its statements, and dqlite
 * has one writer: changes one after the other spent their time committing. So a change
 * that finishes while another waits for the writer lock leaves the transaction open and
 * waits; the next one joins it under a savepoint (its failure rolls back only its own
 * statements) and the last, when nobody waits or the group is full, commits for all. Each
 * change still bumps the revision once, has its own change-log row, idempotency record
 * and push, and is answered only once the COMMIT that carries it succeeded; a COMMIT that
 * fails fails every change of its group. On SQLite (a COMMIT costs little) a group is one
 * change, so the statements are exactly as before.
 */
struct group_member {
	struct group_member *next;
	const Xdrop__V1__Delta *d;
	int rc;
	bool done;
};

static const char SQL_SP[] = "SAVEPOINT change";
static const char SQL_SP_RELEASE[] = "RELEASE change";
static const char SQL_SP_UNDO[] = "ROLLBACK TO change";

/*
 * Ends the open group (wlock held): COMMIT unless rc (an error: ROLLBACK); once committed,
 * memory takes the group's state and on_commit each delta in order. Every member gets the
 * outcome, which is returned.
 */
static int group_end(struct store *s, int rc)
{
	struct group *g = &s->g;
	struct group_member *m, *next;

	if (rc == 0 && db_exec(s->w.db, "COMMIT") != SQLITE_OK)
		rc = sql_err(&s->w, "commit");
	if (rc && db_exec(s->w.db, "ROLLBACK") != SQLITE_OK)
		sql_err(&s->w, "rollback");
	if (rc == 0) {
		pthread_mutex_lock(&s->rlock);
		s->revision = g->revision;
		s->hash = g->hash;
		for (int k = 0; k < STORE_KINDS; k++)
			s->count[k] = (uint64_t)((int64_t)s->count[k] + g->dcount[k]);
		pthread_mutex_unlock(&s->rlock);
		for (m = g->head; m && s->on_commit && s->publishing; m = m->next)
			s->on_commit(s->commit_arg, m->d);
	}
	pthread_mutex_lock(&s->glock);
	for (m = g->head; m; m = next) {
		next = m->next; /* m is gone once done */
		m->rc = rc;
		m->done = true;
	}
	pthread_cond_broadcast(&s->gdone);
	pthread_mutex_unlock(&s->glock);
	g->open = false;
	g->n = 0;
	g->head = NULL;
	g->tail = &g->head;
	return rc;
}

void writer_lock(struct store *s)
{
	pthread_mutex_lock(&s->wlock);
	if (s->g.open)
		group_end(s, 0);
}

/* After a change (wlock held): leaves the group open for a change waiting to join, or
 * ends it; unlocks. For member m, waits for its group's outcome and returns it. */
static int group_finish(struct store *s, struct group_member *m)
{
	unsigned max = db_sqlite(s->w.db) ? 1 : XDROP_STORE_GROUP_MAX;

	if (s->g.open && (s->g.n >= max || !__atomic_load_n(&s->g.waiting, __ATOMIC_ACQUIRE)))
		group_end(s, 0);
	cache_for(s, 0);
	pthread_mutex_unlock(&s->wlock);
	if (!m)
		return 0;
	pthread_mutex_lock(&s->glock);
	while (!m->done)
		pthread_cond_wait(&s->gdone, &s->glock);
	pthread_mutex_unlock(&s->glock);
	return m->rc;
}

/* Opens the writer's transaction for a change, or joins the open group (wlock held). */
static int group_join(struct store *s, struct change *ch)
{
	struct group *g = &s->g;
	int rc;

	if (g->open) {
		if (db_exec(s->w.db, SQL_SP) != SQLITE_OK)
			return group_end(s, sql_err(&s->w, "savepoint"));
		ch->joined = true;
		return 0;
	}
	rc = begin_write(s);
	/* On dqlite another controller may have written since: take the replicated revision
	 * (this transaction holds the cluster's write lock, so the bumps below are unique). */
	if (rc == 0 && !db_sqlite(s->w.db) && (rc = state_catch_up(s)) != 0)
		db_exec(s->w.db, "ROLLBACK");
	if (rc < 0)
		return rc;
	g->open = true;
	g->revision = s->revision;
	g->hash = s->hash;
	memset(g->dcount, 0, sizeof(g->dcount));
	return 0;
}

/*
 * Takes the writer lock and opens the transaction (or joins the open group). Returns 0,
 * -ENOMEM, or begin_write's -EBUSY / -EIO (the lock is not held then).
 */
int change_begin(struct store *s, struct change *ch, size_t expect)
{
	int rc;

	memset(ch, 0, sizeof(*ch));
	ch->s = s;
	ch->cap = expect ? expect : 1;
	ch->ops = calloc(ch->cap, sizeof(*ch->ops));
	ch->opp = calloc(ch->cap, sizeof(*ch->opp));
	ch->items = calloc(ch->cap, store_coll_max_size());
	ch->strs = calloc(ch->cap, sizeof(*ch->strs));
	if (!ch->ops || !ch->opp || !ch->items || !ch->strs) {
		log_error("store: out of memory for a change of %zu ops", expect);
		rc = -ENOMEM;
		goto fail;
	}
	__atomic_add_fetch(&s->g.waiting, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&s->wlock);
	__atomic_sub_fetch(&s->g.waiting, 1, __ATOMIC_ACQ_REL);
	cache_for(s, expect);
	rc = group_join(s, ch);
	if (rc < 0) {
		cache_for(s, 0);
		pthread_mutex_unlock(&s->wlock);
		goto fail;
	}
	ch->hash = s->g.hash; /* only writers change it, and we are the writer */
	return 0;
fail:
	free(ch->ops);
	free(ch->opp);
	free(ch->items);
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
	free(ch->items);
}

void change_abort(struct change *ch)
{
	struct store *s = ch->s;

	if (!ch->joined) { /* the transaction holds this change alone */
		if (db_exec(s->w.db, "ROLLBACK") != SQLITE_OK)
			sql_err(&s->w, "rollback");
		s->g.open = false;
	} else if (db_exec(s->w.db, SQL_SP_UNDO) != SQLITE_OK ||
		   db_exec(s->w.db, SQL_SP_RELEASE) != SQLITE_OK) {
		group_end(s, sql_err(&s->w, "rollback")); /* the transaction is lost */
	}
	group_finish(s, NULL);
	change_free(ch);
}

Xdrop__V1__DeltaOp *change_op(struct change *ch)
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

/* Adds ch (its delta d) to the group, then group_finish: its outcome. */
static int group_add(struct change *ch, const Xdrop__V1__Delta *d)
{
	struct store *s = ch->s;
	struct group_member m = {.d = d};

	s->g.revision = d->revision;
	s->g.hash = ch->hash;
	for (int k = 0; k < STORE_KINDS; k++)
		s->g.dcount[k] += ch->dcount[k];
	*s->g.tail = &m;
	s->g.tail = &m.next;
	s->g.n++;
	return group_finish(s, &m);
}

/* Records the change and commits it with its group: memory, the hook, unlock (above). */
int change_commit(struct change *ch, uint64_t *rev)
{
	struct store *s = ch->s;
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	char hex[RULEHASH_HEX];
	uint8_t *buf = NULL;
	struct db_stmt *st;
	size_t len;
	int err = 0;

	d.revision = s->g.revision + 1;
	d.base_revision = s->g.revision;
	d.content_hash = rulehash_hex(&ch->hash, hex);
	d.n_ops = ch->nops;
	d.ops = ch->opp;
	d.created_at = clock_wall_ns();
	len = xdrop__v1__delta__get_packed_size(&d);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	xdrop__v1__delta__pack(&d, buf);
	if (len > XDROP_STORE_DELTA_MAX)
		len = 0; /* the marker of a change too large to serve as a delta (store.h) */
	st = stmt(&s->w, SQL_CHANGE_ADD);
	if (!st) {
		err = -EIO;
		goto fail;
	}
	db_bind_int64(st, 1, (int64_t)d.revision);
	db_bind_int64(st, 2, d.created_at);
	db_bind_blob(st, 3, buf, (int)len, SQLITE_STATIC);
	if (db_step(st) != SQLITE_DONE) {
		err = sql_err(&s->w, "change log");
		goto fail;
	}
	db_reset(st);
	if (d.revision > s->keep) {
		st = stmt(&s->w, SQL_CHANGE_PRUNE);
		if (!st) {
			err = -EIO;
			goto fail;
		}
		db_bind_int64(st, 1, (int64_t)(d.revision - s->keep));
		if (db_step(st) != SQLITE_DONE) {
			err = sql_err(&s->w, "change log prune");
			goto fail;
		}
		db_reset(st);
	}
	st = stmt(&s->w, SQL_REV_SET);
	if (!st) {
		err = -EIO;
		goto fail;
	}
	db_bind_int64(st, 1, (int64_t)d.revision);
	bind_text(st, 2, hex);
	if (db_step(st) != SQLITE_DONE) {
		err = sql_err(&s->w, "revision");
		goto fail;
	}
	db_reset(st);
	if (s->txn_hook && (err = s->txn_hook(s->txn_arg, s->w.db, d.revision)) != 0)
		goto fail;
	if (ch->joined && db_exec(s->w.db, SQL_SP_RELEASE) != SQLITE_OK) {
		err = sql_err(&s->w, "commit");
		goto fail;
	}
	err = group_add(ch, &d);
	if (rev && !err)
		*rev = d.revision;
	free(buf);
	change_free(ch);
	return err;
fail:
	free(buf);
	change_abort(ch);
	return err;
}

/* Fills *err for a change that failed on the database itself (write or commit). */
void write_fail(struct store_error *err, int rc, const char *what)
{
	if (rc == -ENOSPC)
		set_err(err, STORE_EXHAUSTED, NULL, NULL, "%s", STORE_DISK_FULL);
	else if (rc == -ECONNRESET)
		set_err(err, STORE_BUSY, NULL, NULL,
			"the controllers' cluster lost its leader (or this controller lost contact "
			"with its majority) during the %s: the write may or may not be applied; "
			"retry it with the same request id",
			what);
	else
		set_err(err, STORE_INTERNAL, NULL, NULL, "database %s failed", what);
}

/* ---- the change log ------------------------------------------------------------------- */

static const char SQL_CHANGES_MIN[] = "SELECT min(revision) FROM changes";
static const char SQL_CHANGES_FROM[] = "SELECT delta FROM changes WHERE revision > ?1"
				       " ORDER BY revision LIMIT ?2";

int store_deltas(struct store *s, uint64_t from, uint32_t max, Xdrop__V1__Delta ***out, size_t *n,
		 bool *complete)
{
	struct conn *c = reader_get(s);
	Xdrop__V1__Delta **v = NULL;
	struct db_stmt *st;
	uint64_t oldest = 0;
	bool too_large = false;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	*complete = false;
	if (max == 0 || max > XDROP_STORE_CHANGELOG_KEEP)
		max = XDROP_STORE_CHANGELOG_KEEP;
	if (db_exec(c->db, "BEGIN") != SQLITE_OK) {
		err = sql_err(c, "begin deltas");
		goto out;
	}
	st = stmt(c, SQL_CHANGES_MIN);
	if (!st || db_step(st) != SQLITE_ROW) {
		err = sql_err(c, "change log");
		goto end;
	}
	if (db_column_type(st, 0) != SQLITE_NULL)
		oldest = (uint64_t)db_column_int64(st, 0);
	db_reset(st);
	st = stmt(c, SQL_CHANGES_FROM);
	if (!st) {
		err = -EIO;
		goto end;
	}
	db_bind_int64(st, 1, (int64_t)from);
	db_bind_int64(st, 2, max);
	v = calloc(max, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto end;
	}
	while ((rc = db_step(st)) == SQLITE_ROW) {
		if (db_column_bytes(st, 0) == 0) { /* too large to keep: the deltas end here */
			too_large = true;
			rc = SQLITE_DONE;
			break;
		}
		v[*n] = xdrop__v1__delta__unpack(NULL, (size_t)db_column_bytes(st, 0),
						 db_column_blob(st, 0));
		if (!v[*n]) {
			err = -EIO;
			break;
		}
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_err(c, "deltas");
	db_reset(st);
	/* complete: the first delta returned follows from directly (or there is nothing) */
	*complete = *n ? v[0]->base_revision == from : (oldest == 0 || oldest <= from + 1);
	if (*n == 0 && too_large)
		*complete = false;
	else if (*n == 0 && oldest == 0) {
		uint64_t cur;

		pthread_mutex_lock(&s->rlock);
		cur = s->revision;
		pthread_mutex_unlock(&s->rlock);
		*complete = from >= cur;
	}
end:
	db_exec(c->db, "COMMIT");
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
