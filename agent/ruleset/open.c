// SPDX-License-Identifier: MIT
/*
 * ruleset/open.c: opening and closing the set. Opening loads the state directory (journal.c)
 * into memory and then makes the data plane hold exactly the active part of it in one
 * switch: after an adoption of pinned maps that switch changes nothing, so filtering has
 * no gap across a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "model.h"

/* Makes the data plane hold exactly the active part of the loaded set, in one switch (a
 * no-op after an adoption), keeping the model the load built: an entry that expired
 * while the set was loaded leaves the key index and the expiry heap first. Lock held. */
static int sync_dataplane(struct ruleset *rs)
{
	struct dp_result res = {0};
	int64_t now = clock_wall_ns();
	struct rule_spec *specs;
	struct item *it;
	unsigned kinds = 0;
	size_t ns = 0, total = 0;
	int err;

	for (unsigned k = 0; k < RULESET_NKINDS; k++)
		total += rs->count[k];
	specs = calloc(total + 1, sizeof(*specs));
	if (!specs)
		return -ENOMEM;
	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		kinds |= 1u << ruleset_kinds[k]->dp_kind;
		for (size_t pos = 0; (it = rs_next(rs, k, &pos));) {
			char key[RS_KEY_LEN];

			if (it->active && !rs_item_active(it, now)) {
				it->active = false;
				rs_expiry_del(rs, it);
				rs_key_drop(rs, rs_item_key(it, key));
			}
			if (it->active)
				specs[ns++] = it->spec;
		}
	}
	err = dataplane_replace(rs->dp, kinds, specs, ns, &res);
	if (err)
		log_error("the data plane refused the saved set: %s",
			  res.err.reason ? res.err.reason : strerror(-err));
	free(specs);
	return err;
}

/* Whether the data plane holds the loaded set already: it is at the generation the
 * snapshot file was written at (or the one after, which adopting it flipped to), nothing
 * was replayed on top, and it holds as many entries of each kind as the set has active
 * (an entry that expired while the agent was down, or a data plane created afresh at the
 * same generation number, fails this). Lock held. */
static bool dataplane_holds_set(struct ruleset *rs)
{
	/* an adoption flips once, to a clean generation built from the pinned maps */
	uint64_t want = rs->snap_gen + (dataplane_adopted(rs->dp) ? 1 : 0);
	struct item *it;

	if (!rs->had_state || rs->journal_bytes || !rs->snap_gen || dataplane_gen(rs->dp) != want)
		return false;
	for (unsigned k = 0; k < RULESET_NKINDS; k++) {
		size_t active = 0;

		for (size_t pos = 0; (it = rs_next(rs, k, &pos));)
			active += it->active;
		if (active != dataplane_count(rs->dp, ruleset_kinds[k]->dp_kind))
			return false;
	}
	return true;
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
	rs_queue_init(rs);
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
	/* the data plane holds exactly the active part (a no-op after an adoption, skipped
	 * when the adopted data plane is still where the snapshot file left it) */
	pthread_mutex_lock(&rs->lock);
	rs->dp_as_saved = dataplane_holds_set(rs);
	if (rs->dp_as_saved)
		log_info("the data plane holds the saved set (written at its generation %llu): "
			 "no switch at start-up",
			 (unsigned long long)rs->snap_gen);
	else
		err = sync_dataplane(rs);
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
	rs_queue_destroy(rs);
	free(rs);
}
