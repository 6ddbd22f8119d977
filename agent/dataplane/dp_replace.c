// SPDX-License-Identifier: MIT
/*
 * dp_replace: dataplane_replace, a whole set of entries as one transaction. The new set is
 * compared with the model: specs whose entry exists with the same action are kept as they
 * are (with their counters), the others become PUTs, and entries of the replaced kinds
 * that the set does not name become DELs; dataplane_apply then switches to the result in
 * one flip.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_priv.h"

/* Diffs specs[0..n) against the model into ch (room for n + every entry), marking the
 * entries the set names TX_KEEP. Returns 0 or a refusal (-EINVAL, -EEXIST) with res set. */
static int replace_plan(struct dataplane *dp, unsigned kinds, const struct rule_spec *specs,
			size_t n, struct dp_change *ch, size_t *nch, struct dp_result *res)
{
	struct dp_entry *e;
	size_t tmp;

	for (size_t i = 0; i < n; i++) {
		struct xdrop_act a;

		if (!(kinds & (1u << specs[i].kind)))
			return dp_refuse(res, i, "kind", "entry kind not part of this replacement",
					 -EINVAL);
		if (rule_validate(&specs[i], &res->err)) {
			res->index = i;
			return -EINVAL;
		}
		e = dp_entry_find(dp, &specs[i]);
		if (e) {
			if (e->tx == TX_KEEP)
				return dp_refuse(res, i, "src_ip",
						 "the same match key appears twice", -EEXIST);
			e->tx = TX_KEEP;
			rule_act(&specs[i], e->act.slot, &a);
			if (memcmp(&a, &e->act, sizeof(a)) == 0)
				continue;
		}
		ch[*nch].op = DP_PUT;
		ch[(*nch)++].spec = specs[i];
	}
	DP_FOR_ENTRIES(dp, e, tmp)
	{
		if (e->tx == TX_KEEP) {
			e->tx = TX_NONE;
			/* a kept entry changed by a PUT above is matched again by apply */
			continue;
		}
		if (!(kinds & (1u << e->kind)))
			continue;
		ch[*nch].op = DP_DEL;
		dp_spec_of(e, &ch[(*nch)++].spec);
	}
	return 0;
}

int dataplane_replace(struct dataplane *dp, unsigned kinds, const struct rule_spec *specs, size_t n,
		      struct dp_result *res)
{
	struct dp_change *ch;
	struct dp_entry *e;
	size_t tmp;
	struct dp_result scratch;
	size_t nch = 0, cap = n + dp->nkind[0] + dp->nkind[1];
	int err;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	/* the diff is taken against a model without deleted entries still to clean up */
	dp_reap(dp, true);
	ch = calloc(cap ? cap : 1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	err = replace_plan(dp, kinds, specs, n, ch, &nch, res);
	if (err)
		goto out;
	err = dataplane_apply(dp, ch, nch, res);
	if (err && res->index < nch) {
		/* report the index in the caller's array where it is one of theirs */
		for (size_t i = 0; i < n; i++)
			if (memcmp(&specs[i], &ch[res->index].spec, sizeof(specs[i])) == 0)
				res->index = i;
	}
out:
	DP_FOR_ENTRIES(dp, e, tmp)
	{
		e->tx = TX_NONE;
	}
	free(ch);
	return err;
}
