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
		rc = store_coll_by_key(&s->w, STORE_RULES, mk, NULL, (ProtobufCMessage **)&cur);
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
