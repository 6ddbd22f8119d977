// SPDX-License-Identifier: MIT
/*
 * store_source: replacing the rules of one source (a feed) by a set, as one change.
 *
 * A feed refresh must never be seen half applied and must cost what changed, not the
 * whole set: the diff is computed by match key inside the writer's transaction, so the
 * rules that stay keep their ids (their counters and history on the nodes follow them),
 * and the change's Delta holds only the deletes, updates and inserts. The deletes come
 * first in the Delta; the agent plans a whole Delta as one switch anyway.
 *
 * Three passes inside one transaction: classify every rule of the set against the stored
 * ones (validation, collisions with other sources, duplicates), delete the source's rules
 * not kept, then write the inserts and updates. A dry run does the same and rolls back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

static const char SQL_SOURCE_COUNT[] = "SELECT count(*) FROM rules WHERE source = ?1";
static const char SQL_SOURCE_RULES[] =
    "SELECT id, name, src_ip, dst_ip, src_cidr, dst_cidr, src_port, dst_port, protocol, action,"
    " rate_limit, rest FROM rules WHERE source = ?1 ORDER BY id"; /* store_row.c */

#define SOURCE_MAX 128 /* bytes of a source name */

void store_source_diff_free(struct store_source_diff *d)
{
	if (!d)
		return;
	store_free_items((void **)d->old, d->n_old);
	free(d->fate);
	free(d->kept);
	free(d->removed);
	memset(d, 0, sizeof(*d));
}

/* How many rules source has now (a reader's view: only sizes the change), or -EIO. */
static int count_source(struct store *s, const char *source)
{
	struct conn *c = reader_get(s);
	struct db_stmt *st = stmt(c, SQL_SOURCE_COUNT);
	int n = -EIO;

	if (st) {
		bind_text(st, 1, source);
		if (db_step(st) == SQLITE_ROW)
			n = db_column_int(st, 0);
		db_reset(st);
	}
	reader_put(s, c);
	return n;
}

/* Reads the source's stored rules (ordered by id) into d->old, on the writer. */
static int load_old(struct conn *c, const char *source, struct store_source_diff *d, size_t cap)
{
	struct db_stmt *st = stmt(c, SQL_SOURCE_RULES);
	int rc;

	if (!st)
		return -EIO;
	d->old = calloc(cap + 1, sizeof(*d->old));
	if (!d->old)
		return -ENOMEM;
	bind_text(st, 1, source);
	while ((rc = db_step(st)) == SQLITE_ROW) {
		if (d->n_old == cap) { /* grew since counted: the caller retries bigger */
			db_reset(st);
			return -EAGAIN;
		}
		d->old[d->n_old] = (Xdrop__V1__Rule *)row_unpack(STORE_RULES, st, 0);
		if (!d->old[d->n_old]) {
			db_reset(st);
			return -ENOMEM;
		}
		d->n_old++;
	}
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : sql_err(c, "source rules");
}

static int cmp_id(const void *key, const void *elem)
{
	return strcmp(key, (*(Xdrop__V1__Rule *const *)elem)->id);
}

/* The index in d->old of id, or -1. */
static long old_index(const struct store_source_diff *d, const char *id)
{
	Xdrop__V1__Rule **p =
	    d->n_old ? bsearch(id, d->old, d->n_old, sizeof(*d->old), cmp_id) : NULL;

	return p ? (long)(p - d->old) : -1;
}

/* True when a and b say the same apart from id, times and counters. */
static bool same_content(const Xdrop__V1__Rule *a, const Xdrop__V1__Rule *b)
{
	Xdrop__V1__Rule x = *a, y = *b;
	size_t lx, ly;
	uint8_t *bx, *by;
	bool same = false;

	x.id = y.id = (char *)"";
	x.created_at = y.created_at = x.updated_at = y.updated_at = 0;
	x.stats = y.stats = NULL;
	lx = xdrop__v1__rule__get_packed_size(&x);
	ly = xdrop__v1__rule__get_packed_size(&y);
	if (lx != ly)
		return false;
	bx = malloc(lx + 1);
	by = malloc(ly + 1);
	if (bx && by) {
		xdrop__v1__rule__pack(&x, bx);
		xdrop__v1__rule__pack(&y, by);
		same = memcmp(bx, by, lx) == 0;
	}
	free(bx);
	free(by);
	return same;
}

/* Pass 1 for rule i: validation and what becomes of it. owner[j] is the index of the
 * rule of the set keeping old rule j (or SIZE_MAX). */
static int classify(struct change *ch, const char *source, Xdrop__V1__Rule *r, size_t i,
		    struct store_source_diff *d, size_t *owner, struct store_error *err)
{
	char pfx[32], mk[MATCH_KEY_SZ];
	Xdrop__V1__Rule *owned = NULL;
	long j = -1;
	int rc;

	snprintf(pfx, sizeof(pfx), "rules[%zu]", i);
	if (strcmp(r->source ? r->source : "", source) != 0)
		return set_err(err, STORE_INVALID, pfx, "source",
			       "differs from the source replaced (%.64s)", source);
	rc = store_coll_key(&r->base, pfx, mk, err);
	if (rc < 0)
		return rc;
	rc = store_coll_by_key(&ch->s->w, STORE_RULES, mk, NULL, (ProtobufCMessage **)&owned);
	if (rc < 0)
		return rc;
	if (rc) {
		const char *src = owned->source ? owned->source : "";

		if (strcmp(src, source) != 0)
			rc = set_err(err, STORE_EXISTS, pfx, NULL,
				     "the same match belongs to rule %.64s of source \"%.64s\"",
				     owned->id, src);
		else
			j = old_index(d, owned->id);
		xdrop__v1__rule__free_unpacked(owned, NULL);
		if (rc < 0)
			return rc;
	}
	if (j < 0) {
		d->fate[i] = STORE_FATE_ADD;
		return 0;
	}
	if (owner[j] != SIZE_MAX)
		return set_err(err, STORE_EXISTS, pfx, NULL,
			       "the same match as rules[%zu] (a set holds each match once)",
			       owner[j]);
	owner[j] = i;
	d->kept[i] = d->old[j];
	d->fate[i] = same_content(r, d->old[j]) ? STORE_FATE_UNCHANGED : STORE_FATE_UPDATE;
	/* it keeps the stored rule's identity */
	r->id = d->old[j]->id;
	r->created_at = d->old[j]->created_at;
	return 0;
}

/* Passes 2 and 3: the deletes, then the inserts and updates. */
static int apply(struct change *ch, Xdrop__V1__Rule *const *rules, struct store_source_diff *d,
		 const size_t *owner, size_t *bad, struct store_error *err)
{
	const struct store_coll *k = &store_colls[STORE_RULES];
	char pfx[32];
	int rc;

	for (size_t j = 0; j < d->n_old; j++) {
		if (owner[j] != SIZE_MAX)
			continue;
		d->removed[d->n_removed++] = d->old[j];
		rc = store_coll_del(ch, STORE_RULES, d->old[j]->id, "id", err);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < d->n; i++) {
		ProtobufCMessage *m;

		if (d->fate[i] == STORE_FATE_UNCHANGED) {
			d->unchanged++;
			continue;
		}
		*bad = i;
		snprintf(pfx, sizeof(pfx), "rules[%zu]", i);
		m = store_coll_copy(ch, i, &rules[i]->base);
		if (d->fate[i] == STORE_FATE_ADD)
			rc = store_coll_put(ch, STORE_RULES, m, k->sql_insert, NULL, pfx, err);
		else
			rc = store_coll_put(ch, STORE_RULES, m, k->sql_update, rules[i]->id, pfx,
					    err);
		if (rc < 0)
			return rc;
		if (d->fate[i] == STORE_FATE_ADD)
			d->added++;
		else
			d->updated++;
	}
	return 0;
}

/* One attempt with room for cap stored rules of the source; -EAGAIN when more appeared. */
struct attempt_args {
	bool dry_run;
	store_diff_fn on_diff;
	void *arg;
};

static int attempt(struct store *s, const char *source, Xdrop__V1__Rule *const *rules, size_t n,
		   const struct attempt_args *a, size_t cap, struct store_source_diff *d,
		   uint64_t *rev, size_t *err_index, struct store_error *err)
{
	struct change ch;
	size_t *owner = NULL, bad = SIZE_MAX;
	int rc;

	d->n = n;
	d->fate = calloc(n + 1, sizeof(*d->fate));
	d->kept = calloc(n + 1, sizeof(*d->kept));
	d->removed = calloc(cap + 1, sizeof(*d->removed));
	owner = malloc((cap + 1) * sizeof(*owner));
	if (!d->fate || !d->kept || !d->removed || !owner) {
		free(owner);
		return set_err(err, STORE_EXHAUSTED, NULL, NULL, "out of memory");
	}
	rc = change_begin(s, &ch, n + cap);
	if (rc < 0) {
		free(owner);
		return begin_fail(s, rc, err);
	}
	rc = load_old(&s->w, source, d, cap);
	for (size_t j = 0; j < cap + 1; j++)
		owner[j] = SIZE_MAX;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bad = i;
		rc = classify(&ch, source, rules[i], i, d, owner, err);
	}
	if (rc == 0)
		rc = apply(&ch, rules, d, owner, &bad, err);
	free(owner);
	if (rc == -EAGAIN) {
		change_abort(&ch);
		return rc;
	}
	if (rc < 0)
		return store_coll_fail(&ch, rc, bad, err_index, err);
	if (a->on_diff && (rc = a->on_diff(a->arg, d, err)) < 0) { /* refused by the caller */
		change_abort(&ch);
		return rc;
	}
	if (a->dry_run || ch.nops == 0) { /* nothing to write: no revision either */
		if (rev)		  /* written only under the writer lock, which ch holds */
			*rev = s->revision;
		change_abort(&ch);
		return 0;
	}
	return store_coll_commit(&ch, rev, err);
}

int store_check_item(const ProtobufCMessage *m, const char *prefix, struct store_error *err)
{
	char mk[MATCH_KEY_SZ];

	return store_coll_key(m, prefix, mk, err);
}

int store_rules_replace_source(struct store *s, const char *source, Xdrop__V1__Rule *const *rules,
			       size_t n, bool dry_run, struct store_source_diff *diff,
			       store_diff_fn on_diff, void *arg, uint64_t *rev, size_t *err_index,
			       struct store_error *err)
{
	const struct attempt_args a = {.dry_run = dry_run, .on_diff = on_diff, .arg = arg};
	int rc = -EAGAIN;

	memset(diff, 0, sizeof(*diff));
	if (!source || !source[0] || strlen(source) > SOURCE_MAX)
		return set_err(err, STORE_INVALID, "source", NULL, "source must be 1..%d bytes",
			       SOURCE_MAX);
	if (n > XDROP_STAGE_MAX_ITEMS)
		return set_err(err, STORE_EXHAUSTED, "rules", NULL, "a set holds at most %d rules",
			       XDROP_STAGE_MAX_ITEMS);
	for (int tries = 0; rc == -EAGAIN && tries < 3; tries++) {
		int cnt = count_source(s, source);

		if (cnt < 0)
			return set_err(
			    err, STORE_INTERNAL, NULL, NULL,
			    "cannot count the source's rules (see the controller's log)");
		store_source_diff_free(diff);
		/* room for some written meanwhile; more and the attempt is retried */
		rc = attempt(s, source, rules, n, &a, (size_t)cnt + 64, diff, rev, err_index, err);
	}
	if (rc == -EAGAIN)
		rc = set_err(err, STORE_BUSY, NULL, NULL,
			     "the source kept growing during the replace; try again");
	if (rc < 0)
		store_source_diff_free(diff);
	return rc;
}
