/* SPDX-License-Identifier: MIT */
/*
 * rules: what the controller does to a rule or whitelist entry before the store sees it:
 * ids and timestamps on create, partial updates through an update_mask, and the order of
 * rules by their counters (Top). Validation itself is lib/rulepb's, inside the store.
 */
#ifndef XDROP_CONTROLLER_RULES_H
#define XDROP_CONTROLLER_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "store.h"
#include "xdrop.pb-c.h"

#define XDROP_TOP_DEFAULT 10
#define XDROP_TOP_MAX	  1000

/*
 * For Create: *out becomes a shallow copy of *in (strings borrowed from in) with an id
 * (in's, or a new UUID written to id), created_at = updated_at = now, source "api" when
 * empty, and no stats.
 */
void rules_prepare(const Xdrop__V1__Rule *in, Xdrop__V1__Rule *out, char id[XDROP_UUID_LEN],
		   int64_t now);
void rules_prepare_wl(const Xdrop__V1__WhitelistEntry *in, Xdrop__V1__WhitelistEntry *out,
		      char id[XDROP_UUID_LEN], int64_t now);

/*
 * For Update: *out = cur with the fields named in mask taken from upd (all fields when
 * n_mask is 0), keeping id and created_at, updated_at = now. Strings are borrowed from cur
 * and upd. Returns 0, or -EINVAL with *bad naming a mask entry that is not a writable Rule
 * field.
 */
int rules_merge(const Xdrop__V1__Rule *cur, const Xdrop__V1__Rule *upd, char *const *mask,
		size_t n_mask, int64_t now, Xdrop__V1__Rule *out, const char **bad);

/* Sorts sums by `by` ("drop_rate" (drop_pps), "match_count", "drop_count"), highest first.
 * Returns 0 or -EINVAL for another `by`. */
int rules_rank(struct rule_sum *v, size_t n, const char *by);

/* ---- expiry ------------------------------------------------------------------------------ */

#define XDROP_SWEEP_MS 1000

struct sweeper;

/* Deletes expired rules every interval_ms (0 = XDROP_SWEEP_MS) on a ticker (lib/ticker, the
 * monotonic clock; the first sweep at once), each sweep one change. Stop joins the ticker. */
int rules_sweeper_start(struct sweeper **out, struct store *st, unsigned interval_ms);
void rules_sweeper_stop(struct sweeper *sw);

#endif
