// SPDX-License-Identifier: MIT
/*
 * ruleset/group.c: changes that do not wait for each other (docs/sync.md, "Coalesced
 * changes"). Every change (a local write, a controller delta) is queued; one caller at a
 * time leads: it takes the changes waiting at the queue's head and applies them in one
 * data-plane switch, so changes that arrive during a switch's grace period share the next
 * switch and its grace period instead of each waiting for one of their own.
 *
 * A group holds changes that touch disjoint ids and match keys (the entries they replace
 * included): planning each against the model before the group is then the same as
 * planning it after the ones before it, so each keeps the answer it would get alone. A
 * change the engine refuses is left out (it answers its error); a group the data plane
 * refuses as a whole (capacity, say) is applied again one change at a time. The published
 * revision moves once per group, to its last change's: packets see every change of the
 * group from the same instant, none of them half.
 *
 * A group's switch is retired, not finished: its grace period runs while the next group is
 * applied (the data plane's config ring, docs/dataplane.md), and its cleanup runs in a later
 * call (the next switch, or the housekeeping tick's ruleset_expire).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"

void rs_queue_init(struct ruleset *rs)
{
	pthread_mutex_init(&rs->qlock, NULL);
	pthread_cond_init(&rs->qcond, NULL);
	rs->qhead = NULL;
	rs->qtail = &rs->qhead;
}

void rs_queue_destroy(struct ruleset *rs)
{
	pthread_mutex_destroy(&rs->qlock);
	pthread_cond_destroy(&rs->qcond);
}

/* ---- forming a group: changes with disjoint ids and match keys ---- */

struct touch {
	UT_hash_handle hh;
	char key[]; /* 'i', the kind's index and the id; or 'k' and the match key */
};

static void touches_free(struct touch **set)
{
	struct touch *t, *tmp;

	HASH_ITER(hh, *set, t, tmp)
	{
		HASH_DEL(*set, t);
		free(t);
	}
}

/* Looks tag+a+b up in *set (add false: 1 when present, else 0) or adds it (add true: 0,
 * also when it was there, the change's own ops may share it). -ENOMEM either way. */
static int touch(struct touch **set, char tag, const char *a, const char *b, bool add)
{
	size_t la = strlen(a), lb = strlen(b);
	struct touch *t = malloc(sizeof(*t) + la + lb + 2);
	struct touch *old;

	if (!t)
		return -ENOMEM;
	t->key[0] = tag;
	memcpy(t->key + 1, a, la);
	memcpy(t->key + 1 + la, b, lb + 1);
	HASH_FIND_STR(*set, t->key, old);
	if (old || !add) {
		free(t);
		return add ? 0 : old != NULL;
	}
	HASH_ADD_STR(*set, key, t);
	return 0;
}

/* Checks (add false: 1 when any is in *set already) or records (add true) what change c
 * touches: its ids, the match keys of the entries they hold now and of the new ones. */
static int touches(struct ruleset *rs, const struct rs_change *c, struct touch **set, bool add)
{
	int r = 0;

	for (size_t i = 0; i < c->n && r == 0; i++) {
		const struct op *o = &c->ops[i];
		const char *id = o->del ? o->id : rs_id(o->item);
		char kind[2] = {(char)('0' + o->kind->index), 0}, key[RS_KEY_LEN];
		struct item *old = rs_find(rs, o->kind, id);

		r = touch(set, 'i', kind, id, add);
		if (r == 0 && old)
			r = touch(set, 'k', rs_item_key(old, key), "", add);
		if (r == 0 && !o->del)
			r = touch(set, 'k', rs_item_key(o->item, key), "", add);
	}
	return r;
}

/* Takes the group from the queue's head into g (room for rs->queued): the first change,
 * then the following ones while they touch nothing an earlier one does. A change that
 * rebuilds its ops under the lock is a group of its own. qlock and lock held. */
static size_t take_group(struct ruleset *rs, struct rs_change **g)
{
	struct touch *set = NULL;
	size_t n = 0;

	while (rs->qhead) {
		struct rs_change *c = rs->qhead;

		if (n && (c->build || g[0]->build || touches(rs, c, &set, false)))
			break;
		if (!c->build && touches(rs, c, &set, true) < 0 && n)
			break; /* out of memory: the rest waits for the next group */
		g[n++] = c;
		rs->qhead = c->next;
		rs->queued--;
	}
	if (!rs->qhead)
		rs->qtail = &rs->qhead;
	touches_free(&set);
	return n;
}

/* ---- applying a group ---- */

/* The checks of c at the revision before it (rev), then its plan. 0 or c's error. */
static int prepare(struct ruleset *rs, struct rs_change *c, uint64_t rev, struct rs_plan *p)
{
	int err = 0;

	if (c->delta && c->delta->base_revision != rev) {
		rs_status(c->st, RPC_FAILED_PRECONDITION, "base_revision",
			  "delta base %llu, applied revision %llu",
			  (unsigned long long)c->delta->base_revision, (unsigned long long)rev);
		return -ESTALE;
	}
	if (c->build)
		err = c->build(rs, c);
	if (!err && c->create)
		err = rs_ids_fresh(rs, c->ops, c->n, c->st, &c->bad);
	if (!err)
		err = rs_plan_make(p, rs, c->ops, c->n, !c->delta, c->st, &c->bad);
	return err;
}

/* After the switch that carried c: the model, the journal, the caller's copy. */
static void commit_one(struct ruleset *rs, struct rs_change *c, struct rs_plan *p, bool publish)
{
	char hex[RULEHASH_HEX];
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!c->delta && rs_pack_local(rs, c->ops, c->n, &buf, &len))
		log_error("local change of revision %llu not journaled: out of memory",
			  (unsigned long long)rs->revision + 1);
	c->revision = c->delta ? c->delta->revision : rs->revision + 1;
	c->err = rs_plan_commit(p, c->revision, publish);
	if (c->delta) {
		rs_journal_append(rs, c->delta);
		if (c->delta->content_hash && *c->delta->content_hash &&
		    strcmp(c->delta->content_hash, rulehash_hex(&rs->hash, hex)) != 0) {
			log_warn(
			    "after revision %llu the content hash is %s, the controller says %s",
			    (unsigned long long)rs->revision, hex, c->delta->content_hash);
			c->err = -EBADMSG;
		}
	} else if (buf) {
		rs_journal_local(rs, buf, len);
	}
	free(buf);
	if (c->out) {
		struct item *it = rs_find(rs, c->out_kind, c->out_id);

		*c->out = it ? rs_item_msg(it) : NULL;
	}
}

/* One change in one switch (a group of one, or the group's fallback). */
static void apply_alone(struct ruleset *rs, struct rs_change *c, struct rs_plan *p)
{
	struct dp_result res = {0};
	int err;

	if (c->delta && c->delta->base_revision != rs->revision) {
		c->err = prepare(rs, c, rs->revision, p); /* names the stale base */
		return;
	}
	err = dataplane_apply_begin(rs->dp, p->ch, p->nch, &res);
	if (err) {
		rs_plan_refused(p, err, &res);
		c->err = err;
	} else {
		commit_one(rs, c, p, true);
	}
	dataplane_apply_retire(rs->dp);
}

/* The data-plane changes of the planned changes, in one array (malloc'ed). */
static struct dp_change *concat(struct rs_change **g, struct rs_plan *pl, size_t n, size_t *nall)
{
	struct dp_change *all;
	size_t k = 0;

	*nall = 0;
	for (size_t i = 0; i < n; i++)
		if (!g[i]->err)
			*nall += pl[i].nch;
	all = calloc(*nall + 1, sizeof(*all));
	for (size_t i = 0; all && i < n; i++) {
		if (g[i]->err || !pl[i].nch)
			continue;
		memcpy(&all[k], pl[i].ch, pl[i].nch * sizeof(*all));
		k += pl[i].nch;
	}
	return all;
}

static void apply_group(struct ruleset *rs, struct rs_change **g, size_t n)
{
	struct rs_plan *pl = calloc(n, sizeof(*pl));
	struct dp_result res = {0};
	struct dp_change *all = NULL;
	uint64_t rev = rs->revision;
	size_t nok = 0, nall, last = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		g[i]->err = pl ? prepare(rs, g[i], rev, &pl[i]) : -ENOMEM;
		if (g[i]->err)
			continue;
		rev = g[i]->delta ? g[i]->delta->revision : rev + 1;
		nok++;
		last = i;
	}
	if (nok == 1) {
		apply_alone(rs, g[last], &pl[last]);
	} else if (nok > 1) {
		all = concat(g, pl, n, &nall);
		err = all ? dataplane_apply_begin(rs->dp, all, nall, &res) : -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			if (g[i]->err)
				continue;
			if (err) /* refused as a whole: each one alone, with its own answer */
				apply_alone(rs, g[i], &pl[i]);
			else
				commit_one(rs, g[i], &pl[i], false);
		}
		if (!err) {
			rs_publish(rs);
			dataplane_apply_retire(rs->dp);
		}
	}
	for (size_t i = 0; pl && i < n; i++)
		rs_plan_free(&pl[i]);
	free(all);
	free(pl);
}

/* Takes and applies one group from the queue's head. */
static void lead(struct ruleset *rs)
{
	struct rs_change **g;
	size_t n;

	pthread_mutex_lock(&rs->lock);
	pthread_mutex_lock(&rs->qlock);
	g = calloc(rs->queued + 1, sizeof(*g));
	n = g ? take_group(rs, g) : 0;
	pthread_mutex_unlock(&rs->qlock);
	if (n)
		apply_group(rs, g, n);
	pthread_mutex_unlock(&rs->lock);
	pthread_mutex_lock(&rs->qlock);
	for (size_t i = 0; i < n; i++)
		g[i]->done = true;
	pthread_mutex_unlock(&rs->qlock);
	free(g);
}

int rs_submit(struct ruleset *rs, struct rs_change *const *cs, size_t n)
{
	int err = 0;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&rs->qlock);
	for (size_t i = 0; i < n; i++) {
		cs[i]->next = NULL;
		cs[i]->done = false;
		*rs->qtail = cs[i];
		rs->qtail = &cs[i]->next;
		rs->queued++;
	}
	/* groups leave the queue from its head, in order: the last one done is all done */
	while (!cs[n - 1]->done) {
		if (!rs->qleader && !rs->qhold) {
			rs->qleader = true;
			pthread_mutex_unlock(&rs->qlock);
			lead(rs);
			pthread_mutex_lock(&rs->qlock);
			rs->qleader = false;
			pthread_cond_broadcast(&rs->qcond);
		} else {
			pthread_cond_wait(&rs->qcond, &rs->qlock);
		}
	}
	pthread_mutex_unlock(&rs->qlock);
	for (size_t i = 0; i < n && !err; i++)
		err = cs[i]->err;
	return err;
}

void ruleset_switches(struct ruleset *rs, uint64_t *switches, uint64_t *grace_periods)
{
	*switches = rs->dp ? dataplane_gen(rs->dp) : 0;
	*grace_periods = rs->dp ? dataplane_grace_periods(rs->dp) : 0;
}

void ruleset_test_hold(struct ruleset *rs, bool hold)
{
	pthread_mutex_lock(&rs->qlock);
	rs->qhold = hold;
	pthread_cond_broadcast(&rs->qcond);
	pthread_mutex_unlock(&rs->qlock);
}

size_t ruleset_queued(struct ruleset *rs)
{
	size_t n;

	pthread_mutex_lock(&rs->qlock);
	n = rs->queued;
	pthread_mutex_unlock(&rs->qlock);
	return n;
}
