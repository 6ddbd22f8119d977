// SPDX-License-Identifier: MIT
/*
 * ruleset/open.c: opening and closing the set. Opening loads the state directory (journal.c)
 * into memory and then makes the data plane hold exactly the active part of it in one
 * switch: after an adoption of pinned maps that switch changes nothing, so filtering has
 * no gap across a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "model.h"

/* Moves every stored item into one array and installs them again (lock held). */
static int reinstall(struct ruleset *rs)
{
	struct item **all, *it, *tmp;
	size_t n = 0, total = 0;
	int err;

	for (unsigned k = 0; k < RULESET_NKINDS; k++)
		total += rs->count[k];
	all = calloc(total + 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		HASH_ITER(hh, rs->items[k], it, tmp)
		{
			HASH_DEL(rs->items[k], it);
			all[n++] = it;
		}
	}
	err = rs_install(rs, all, n, rs->revision, NULL);
	if (err)
		for (size_t i = 0; i < n; i++)
			rs_item_free(all[i]);
	free(all);
	return err;
}

int ruleset_open(struct ruleset **out, struct dataplane *dp, const char *state_dir)
{
	struct ruleset *rs;
	size_t held_rules, held_wl;
	int err = ruleset_kinds_check();

	*out = NULL;
	if (err)
		return err;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_mutex_init(&rs->pub_lock, NULL);
	rs->dp = dp;
	rs->journal_fd = -1;
	rulehash_init(&rs->hash);
	if (state_dir) {
		rs->dir = strdup(state_dir);
		if (!rs->dir || (mkdir(state_dir, 0700) && errno != EEXIST)) {
			err = -errno ? -errno : -ENOMEM;
			goto fail;
		}
		pthread_mutex_lock(&rs->lock);
		rs->loading = true;
		err = rs_load_state(rs);
		rs->loading = false;
		pthread_mutex_unlock(&rs->lock);
		if (err)
			goto fail;
	}
	/* No saved set at all, yet the adopted data plane holds entries (the state directory
	 * was lost or moved): keep filtering with them rather than wipe them at start-up; the
	 * controller's snapshot, or a local write, takes over from there. */
	held_rules = dataplane_count(dp, ruleset_rules.dp_kind);
	held_wl = dataplane_count(dp, ruleset_whitelist.dp_kind);
	if (!rs->had_state && held_rules + held_wl) {
		log_warn("no saved rule set in %s, but the data plane holds %zu rules and %zu "
			 "whitelist entries: keeping them in force until a snapshot replaces them",
			 state_dir ? state_dir : "(none)", held_rules, held_wl);
		*out = rs;
		return 0;
	}
	/* the data plane holds exactly the active part (a no-op after an adoption) */
	pthread_mutex_lock(&rs->lock);
	err = reinstall(rs);
	pthread_mutex_unlock(&rs->lock);
	if (err)
		goto fail;
	*out = rs;
	return 0;
fail:
	ruleset_close(rs);
	return err;
}

void ruleset_close(struct ruleset *rs)
{
	if (!rs)
		return;
	rs_model_clear(rs);
	rs_stage_clear(rs);
	free(rs->xheap);
	if (rs->journal_fd >= 0)
		close(rs->journal_fd);
	free(rs->dir);
	pthread_mutex_destroy(&rs->lock);
	pthread_mutex_destroy(&rs->pub_lock);
	free(rs);
}
