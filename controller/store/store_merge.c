// SPDX-License-Identifier: MIT
/*
 * store_merge: XDrop v2.7's anomaly merge on rule create (store.h, store_rule_add_merge).
 *
 * v2.7 answers a second anomaly rule on the match of an existing anomaly rule with the same
 * action by ORing the new match_anomaly bits into the existing rule, not with a conflict:
 * `decoder: bad_fragment` and then `decoder: invalid` on one address give one rule that
 * matches both. v2.7 looks the tuple up and then writes, two steps that a concurrent writer
 * can come between. Here the lookup by match key and the write (the update of the existing
 * rule, or the insert) are ONE change under the writer lock, so two merges at once both
 * land (in either order) and a merge never races an insert or a delete of the same match.
 */
#include <errno.h>
#include <string.h>

#include "store_int.h"

static const char SQL_RULE_PB_BY_KEY[] = "SELECT pb FROM rules WHERE match_key = ?1";

/* The rule holding match key mk, unpacked into *out (NULL when none). 0 or -errno. */
static int rule_by_key(struct conn *c, const char *mk, Xdrop__V1__Rule **out)
{
	struct db_stmt *st = stmt(c, SQL_RULE_PB_BY_KEY);
	int rc, err = 0;

	*out = NULL;
	if (!st)
		return -EIO;
	bind_text(st, 1, mk);
	rc = db_step(st);
	if (rc == SQLITE_ROW) {
		*out = (Xdrop__V1__Rule *)protobuf_c_message_unpack(
		    &xdrop__v1__rule__descriptor, NULL, (size_t)db_column_bytes(st, 0),
		    db_column_blob(st, 0));
		if (!*out)
			err = -EIO;
	} else if (rc != SQLITE_DONE) {
		err = sql_err(c, "match key");
	}
	db_reset(st);
	return err;
}

/* True when r merges into cur: both anomaly rules, the same action. */
static bool merges(const Xdrop__V1__Rule *cur, const Xdrop__V1__Rule *r)
{
	return cur && cur->match_anomaly && r->match_anomaly && !strcmp(cur->action, r->action);
}

int store_rule_add_merge(struct store *s, Xdrop__V1__Rule *r, Xdrop__V1__Rule **held,
			 protobuf_c_boolean *merged, uint64_t *rev, struct store_error *err)
{
	const struct store_coll *k = &store_colls[STORE_RULES];
	Xdrop__V1__Rule *cur = NULL;
	char mk[MATCH_KEY_SZ];
	struct change ch;
	int rc;

	*held = NULL;
	*merged = false;
	rc = change_begin(s, &ch, 1);
	if (rc < 0)
		return begin_fail(s, rc, err);
	/* an invalid rule is refused by store_coll_put below, with its field */
	if (r->match_anomaly && store_coll_key(&r->base, k->item, mk, NULL) == 0) {
		rc = rule_by_key(&s->w, mk, &cur);
		if (rc < 0)
			return store_coll_fail(&ch, rc, 0, NULL, err);
	}
	if (merges(cur, r)) {
		cur->match_anomaly |= r->match_anomaly;
		cur->updated_at = r->updated_at;
		*r = *cur; /* shallow: the caller's reply shows the merged rule at COMMIT */
		*held = cur;
		*merged = true;
		rc = store_coll_put(&ch, STORE_RULES, store_coll_copy(&ch, 0, &r->base),
				    k->sql_update, r->id, k->item, err);
	} else {
		if (cur)
			protobuf_c_message_free_unpacked(&cur->base, NULL);
		rc = store_coll_put(&ch, STORE_RULES, store_coll_copy(&ch, 0, &r->base),
				    k->sql_insert, NULL, k->item, err);
	}
	if (rc < 0)
		return store_coll_fail(&ch, rc, 0, NULL, err);
	return store_coll_commit(&ch, rev, err);
}
