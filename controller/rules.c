// SPDX-License-Identifier: MIT
/*
 * rules: create/update preparation and ranking; see rules.h. Masks are resolved through
 * the Rule message's protobuf-c descriptor, so a new field in the .proto is updatable
 * without touching this file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pbfield.h"
#include "ticker.h"

#include "rules.h"

void rules_prepare(const Xdrop__V1__Rule *in, Xdrop__V1__Rule *out, char id[XDROP_UUID_LEN],
		   int64_t now)
{
	*out = *in;
	if (!in->id || !in->id[0]) {
		store_uuid(id);
		out->id = id;
	}
	out->created_at = out->updated_at = now;
	if (!in->source || !in->source[0])
		out->source = "api";
	out->stats = NULL;
}

void rules_prepare_wl(const Xdrop__V1__WhitelistEntry *in, Xdrop__V1__WhitelistEntry *out,
		      char id[XDROP_UUID_LEN], int64_t now)
{
	*out = *in;
	if (!in->id || !in->id[0]) {
		store_uuid(id);
		out->id = id;
	}
	out->created_at = now;
}

int rules_merge(const Xdrop__V1__Rule *cur, const Xdrop__V1__Rule *upd, char *const *mask,
		size_t n_mask, int64_t now, Xdrop__V1__Rule *out, const char **bad)
{
	static const char *const fixed[] = {"id", "created_at", "updated_at", "stats"};

	if (n_mask == 0) {
		*out = *upd;
	} else {
		*out = *cur;
		for (size_t i = 0; i < n_mask; i++) {
			bool settable = true;

			for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
				if (strcmp(mask[i], fixed[k]) == 0)
					settable = false;
			/* pbf_copy refuses a name the message lacks and a repeated field */
			if (!settable || pbf_copy(&out->base, &upd->base, mask[i])) {
				*bad = mask[i];
				return -EINVAL;
			}
		}
	}
	out->id = cur->id;
	out->created_at = cur->created_at;
	out->updated_at = now;
	out->stats = NULL;
	if (!out->source || !out->source[0])
		out->source = cur->source;
	return 0;
}

static int by_pps(const void *a, const void *b)
{
	double x = ((const struct rule_sum *)a)->drop_pps,
	       y = ((const struct rule_sum *)b)->drop_pps;

	return x < y   ? 1
	       : x > y ? -1
		       : strcmp(((const struct rule_sum *)a)->id, ((const struct rule_sum *)b)->id);
}

static int by_match(const void *a, const void *b)
{
	uint64_t x = ((const struct rule_sum *)a)->match_count;
	uint64_t y = ((const struct rule_sum *)b)->match_count;

	return x < y   ? 1
	       : x > y ? -1
		       : strcmp(((const struct rule_sum *)a)->id, ((const struct rule_sum *)b)->id);
}

static int by_drop(const void *a, const void *b)
{
	uint64_t x = ((const struct rule_sum *)a)->drop_count;
	uint64_t y = ((const struct rule_sum *)b)->drop_count;

	return x < y   ? 1
	       : x > y ? -1
		       : strcmp(((const struct rule_sum *)a)->id, ((const struct rule_sum *)b)->id);
}

int rules_rank(struct rule_sum *v, size_t n, const char *by)
{
	int (*cmp)(const void *, const void *);

	if (!by || !by[0] || strcmp(by, "drop_rate") == 0)
		cmp = by_pps;
	else if (strcmp(by, "match_count") == 0)
		cmp = by_match;
	else if (strcmp(by, "drop_count") == 0)
		cmp = by_drop;
	else
		return -EINVAL;
	if (n)
		qsort(v, n, sizeof(*v), cmp);
	return 0;
}

/* ---- expiry ------------------------------------------------------------------------------ */

struct sweeper {
	struct store *st;
	unsigned interval_ms;
	struct ticker *ticker;
};

/* One sweep (a ticker call): the rules expired by now, deleted as one change. */
static void sweep(void *arg)
{
	struct sweeper *sw = arg;
	size_t count = 0;
	uint64_t rev = 0;
	int err;

	err = store_rules_expire(sw->st, clock_wall_ns(), &count, &rev);
	if (err == -EBUSY)
		log_warn("rules: expiry sweep skipped: the database is locked by another "
			 "process; trying again in %u ms",
			 sw->interval_ms);
	else if (err)
		log_warn("rules: expiry sweep failed: %s", strerror(-err));
	else if (count)
		log_info("rules: %zu expired rules deleted (revision %llu)", count,
			 (unsigned long long)rev);
}

int rules_sweeper_start(struct sweeper **out, struct store *st, unsigned interval_ms)
{
	struct sweeper *sw = calloc(1, sizeof(*sw));
	struct ticker_opts o = {
	    .sz = sizeof(o), .name = "xdrop-expiry", .first_now = true, .fn = sweep};
	int err;

	*out = NULL;
	if (!sw)
		return -ENOMEM;
	sw->st = st;
	sw->interval_ms = interval_ms ? interval_ms : XDROP_SWEEP_MS;
	o.period_ms = sw->interval_ms;
	o.arg = sw;
	err = ticker_start(&sw->ticker, &o);
	if (err) {
		free(sw);
		return err;
	}
	*out = sw;
	return 0;
}

void rules_sweeper_stop(struct sweeper *sw)
{
	if (!sw)
		return;
	ticker_stop(sw->ticker);
	free(sw);
}
