// SPDX-License-Identifier: MIT
/*
 * rulecounters: the per-(node, rule) counter table; see rulecounters.h. A chained hash
 * table keyed by (node slot, kind, id); nodes are slots of a small array (node counts are
 * small) holding each node's latest beacon number, time and arrival.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rulecounters.h"

struct rc_node {
	char id[XDROP_STORE_MAX_ID + 1]; /* "" = a free slot */
	uint64_t beacon_no;		 /* beacons taken from it */
	int64_t at_ns;			 /* its latest beacon's sent_at */
	int64_t seen_ms;		 /* when that beacon arrived (monotonic) */
	uint64_t revision;		 /* its latest beacon's revision */
	bool seeded;			 /* its full counters were read once (rc_seed) */
	int64_t seed_next_ms;		 /* no attempt before (monotonic) */
	int64_t seed_backoff_ms;	 /* the wait after the next failure */
};

#define RC_SEED_RETRY_MS     2000	     /* a node that did not answer: asked again after */
#define RC_SEED_RETRY_MAX_MS (5 * 60 * 1000) /* ... doubling up to this */

struct rc_entry {
	struct rc_entry *next;
	uint32_t node;
	enum store_kind kind;
	uint64_t beacon_no; /* the node's beacon that last carried it */
	uint64_t match_count, drop_count, match_bytes, drop_bytes;
	double pps, match_pps, drop_pps, match_bps, drop_bps;
	char id[XDROP_STORE_MAX_ID + 1];
};

struct rulecounters {
	struct rc_entry **b;
	size_t nb, count, max;
	struct rc_node *nodes;
	size_t nnodes;
	uint64_t min_rev, refused;
};

int rc_open(struct rulecounters **out, size_t max)
{
	struct rulecounters *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->max = max ? max : XDROP_RULE_COUNTERS_MAX;
	t->nb = 1024;
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void rc_close(struct rulecounters *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (struct rc_entry *e = t->b[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(t->b);
	free(t->nodes);
	free(t);
}

static size_t hash(uint32_t node, enum store_kind kind, const char *id)
{
	uint64_t h = 1469598103934665603ULL ^ ((uint64_t)node << 8 | (uint64_t)kind);

	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

/* The node's slot, made when missing; -1 when out of memory. */
static long node_slot(struct rulecounters *t, const char *id)
{
	long free_slot = -1;
	struct rc_node *nv;

	for (size_t i = 0; i < t->nnodes; i++) {
		if (!strcmp(t->nodes[i].id, id))
			return (long)i;
		if (!t->nodes[i].id[0] && free_slot < 0)
			free_slot = (long)i;
	}
	if (free_slot < 0) {
		nv = realloc(t->nodes, (t->nnodes + 1) * sizeof(*nv));
		if (!nv)
			return -1;
		t->nodes = nv;
		free_slot = (long)t->nnodes++;
	}
	memset(&t->nodes[free_slot], 0, sizeof(t->nodes[free_slot]));
	snprintf(t->nodes[free_slot].id, sizeof(t->nodes[free_slot].id), "%s", id);
	return free_slot;
}

/* Doubles the buckets when the table holds more entries than buckets (best effort). */
static void grow(struct rulecounters *t)
{
	size_t nb = t->nb * 2;
	struct rc_entry **b;

	if (t->count < t->nb || t->nb >= t->max)
		return;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (struct rc_entry *e = t->b[i], *nx; e; e = nx) {
			size_t h = hash(e->node, e->kind, e->id) & (nb - 1);

			nx = e->next;
			e->next = b[h];
			b[h] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static struct rc_entry *lookup(struct rulecounters *t, uint32_t node, enum store_kind kind,
			       const char *id, bool create)
{
	size_t h = hash(node, kind, id) & (t->nb - 1);
	struct rc_entry *e;

	for (e = t->b[h]; e; e = e->next)
		if (e->node == node && e->kind == kind && !strcmp(e->id, id))
			return e;
	if (!create)
		return NULL;
	if (t->count >= t->max) {
		/* the 1st, 2nd, 4th, 8th... refusal is logged */
		if (!(t->refused & (t->refused + 1)))
			log_warn("stats: per-rule counters of %zu (node, rule) pairs kept already; "
				 "%s and others are not counted (%llu refused so far)",
				 t->max, id, (unsigned long long)t->refused + 1);
		t->refused++;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->node = node;
	e->kind = kind;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->next = t->b[h];
	t->b[h] = e;
	t->count++;
	grow(t);
	return e;
}

static void take(struct rc_entry *e, const Xdrop__V1__RuleCounter *c, uint64_t beacon_no)
{
	e->beacon_no = beacon_no;
	e->match_count = c->match_count;
	e->drop_count = c->drop_count;
	e->match_bytes = c->match_bytes;
	e->drop_bytes = c->drop_bytes;
	e->pps = c->pps;
	e->match_pps = c->match_pps;
	e->drop_pps = c->drop_pps;
	e->match_bps = c->match_bps;
	e->drop_bps = c->drop_bps;
	/* an agent before per-rule rates sent only pps, its drop rate */
	if (c->pps > 0 && c->match_pps == 0 && c->drop_pps == 0)
		e->drop_pps = c->pps;
}

static enum store_kind kind_of(const char *kind)
{
	return kind && !strcmp(kind, "whitelist") ? STORE_WHITELIST : STORE_RULES;
}

void rc_beacon(struct rulecounters *t, const char *node, const Xdrop__V1__Beacon *b, int64_t now_ms)
{
	long slot = node_slot(t, node);
	bool create = b->revision >= t->min_rev;
	struct rc_node *nd;

	if (slot < 0)
		return;
	nd = &t->nodes[slot];
	nd->beacon_no++;
	nd->at_ns = b->sent_at;
	nd->seen_ms = now_ms;
	nd->revision = b->revision;
	for (size_t pass = 0; pass < 2; pass++) {
		Xdrop__V1__RuleCounter **v = pass ? b->rule_counters : b->top_rules;
		size_t n = pass ? b->n_rule_counters : b->n_top_rules;

		for (size_t i = 0; i < n; i++) {
			struct rc_entry *e;

			if (!v[i]->id || !v[i]->id[0] || strlen(v[i]->id) > XDROP_STORE_MAX_ID)
				continue;
			e = lookup(t, (uint32_t)slot, kind_of(v[i]->kind), v[i]->id, create);
			if (e)
				take(e, v[i], nd->beacon_no);
		}
	}
}

/* The slot of a node heard from, or -1. */
static long known_slot(const struct rulecounters *t, const char *node)
{
	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].id[0] && !strcmp(t->nodes[i].id, node))
			return (long)i;
	return -1;
}

bool rc_seed_due(const struct rulecounters *t, const char *node, int64_t now_ms)
{
	long slot = known_slot(t, node);

	return slot >= 0 && !t->nodes[slot].seeded && now_ms >= t->nodes[slot].seed_next_ms;
}

void rc_seed_failed(struct rulecounters *t, const char *node, int64_t now_ms)
{
	long slot = known_slot(t, node);
	struct rc_node *nd;

	if (slot < 0)
		return;
	nd = &t->nodes[slot];
	nd->seed_backoff_ms = nd->seed_backoff_ms ? nd->seed_backoff_ms * 2 : RC_SEED_RETRY_MS;
	if (nd->seed_backoff_ms > RC_SEED_RETRY_MAX_MS)
		nd->seed_backoff_ms = RC_SEED_RETRY_MAX_MS;
	nd->seed_next_ms = now_ms + nd->seed_backoff_ms;
}

void rc_seed(struct rulecounters *t, const char *node, const Xdrop__V1__RuleCounter *const *v,
	     size_t n)
{
	long slot = known_slot(t, node);
	struct rc_node *nd;

	if (slot < 0)
		return;
	nd = &t->nodes[slot];
	nd->seeded = true;
	for (size_t i = 0; i < n; i++) {
		struct rc_entry *e;

		if (!v[i]->id || !v[i]->id[0] || strlen(v[i]->id) > XDROP_STORE_MAX_ID)
			continue;
		e = lookup(t, (uint32_t)slot, kind_of(v[i]->kind), v[i]->id,
			   nd->revision >= t->min_rev);
		if (e)
			take(e, v[i], nd->beacon_no);
	}
}

void rc_set_min_revision(struct rulecounters *t, uint64_t rev)
{
	if (rev > t->min_rev)
		t->min_rev = rev;
}

/* Unlinks and frees every entry for which match(e) holds. */
static void remove_if(struct rulecounters *t, bool (*match)(const struct rc_entry *e, void *arg),
		      void *arg)
{
	for (size_t i = 0; i < t->nb; i++) {
		struct rc_entry **pp = &t->b[i];

		while (*pp) {
			struct rc_entry *e = *pp;

			if (match(e, arg)) {
				*pp = e->next;
				free(e);
				t->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

struct forget_arg {
	enum store_kind kind;
	const char *id;
};

static bool is_id(const struct rc_entry *e, void *arg)
{
	const struct forget_arg *a = arg;

	return e->kind == a->kind && !strcmp(e->id, a->id);
}

void rc_forget(struct rulecounters *t, enum store_kind kind, const char *id)
{
	struct forget_arg a = {kind, id};

	/* one lookup per node slot rather than a scan of the table */
	for (size_t i = 0; i < t->nnodes; i++) {
		size_t h = hash((uint32_t)i, kind, id) & (t->nb - 1);
		struct rc_entry **pp = &t->b[h];

		while (*pp) {
			struct rc_entry *e = *pp;

			if (e->node == i && is_id(e, &a)) {
				*pp = e->next;
				free(e);
				t->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

struct keep_arg {
	bool (*keep)(void *arg, enum store_kind kind, const char *id);
	void *arg;
};

static bool not_kept(const struct rc_entry *e, void *arg)
{
	const struct keep_arg *k = arg;

	return !k->keep(k->arg, e->kind, e->id);
}

void rc_forget_if(struct rulecounters *t,
		  bool (*keep)(void *arg, enum store_kind kind, const char *id), void *arg)
{
	struct keep_arg k = {keep, arg};

	remove_if(t, not_kept, &k);
}

static bool on_free_node(const struct rc_entry *e, void *arg)
{
	const struct rulecounters *t = arg;

	return !t->nodes[e->node].id[0];
}

void rc_forget_nodes(struct rulecounters *t, bool (*keep)(void *arg, const char *node_id),
		     void *arg)
{
	bool any = false;

	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].id[0] && !keep(arg, t->nodes[i].id)) {
			t->nodes[i].id[0] = '\0';
			any = true;
		}
	if (any)
		remove_if(t, on_free_node, t);
}

size_t rc_count(const struct rulecounters *t, uint64_t *refused)
{
	if (refused)
		*refused = t->refused;
	return t->count;
}

static struct rule_sum *append(struct rule_sum **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct rule_sum *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		*v = nv;
		*cap = nc;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	return &(*v)[(*n)++];
}

/* One node's part of e's sum: counts always, rates only while it moves (see above). */
static void entry_sum(const struct rulecounters *t, const struct rc_entry *e, int64_t now_ms,
		      int64_t stale_ms, struct rule_sum *s)
{
	const struct rc_node *nd = &t->nodes[e->node];
	bool stale = now_ms - nd->seen_ms > stale_ms;
	/* not in the latest beacon: unchanged since, so not moving */
	bool moving = !stale && e->beacon_no == nd->beacon_no;

	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", e->id);
	s->kind = e->kind;
	s->match_count = e->match_count;
	s->drop_count = e->drop_count;
	s->match_bytes = e->match_bytes;
	s->drop_bytes = e->drop_bytes;
	if (moving) {
		s->pps = e->pps;
		s->match_pps = e->match_pps;
		s->drop_pps = e->drop_pps;
		s->match_bps = e->match_bps;
		s->drop_bps = e->drop_bps;
	}
	s->at = nd->at_ns;
	s->stale = stale;
}

/* Adds v to the sum d of the same rule: counts and rates summed, the oldest at, any
 * stale. */
static void sum_add(struct rule_sum *d, const struct rule_sum *v)
{
	d->match_count += v->match_count;
	d->drop_count += v->drop_count;
	d->match_bytes += v->match_bytes;
	d->drop_bytes += v->drop_bytes;
	d->pps += v->pps;
	d->match_pps += v->match_pps;
	d->drop_pps += v->drop_pps;
	d->match_bps += v->match_bps;
	d->drop_bps += v->drop_bps;
	if (v->at && (!d->at || v->at < d->at))
		d->at = v->at;
	d->stale = d->stale || v->stale;
}

int rc_collect(struct rulecounters *t, int64_t now_ms, int64_t stale_ms,
	       bool (*skip)(void *arg, const char *node), void *arg, struct rule_sum **v, size_t *n,
	       size_t *cap)
{
	for (size_t i = 0; i < t->nb; i++)
		for (struct rc_entry *e = t->b[i]; e; e = e->next) {
			struct rule_sum *s;

			if (skip && skip(arg, t->nodes[e->node].id))
				continue;
			s = append(v, n, cap);
			if (!s)
				return -ENOMEM;
			entry_sum(t, e, now_ms, stale_ms, s);
		}
	return 0;
}

void rc_sum_ids(struct rulecounters *t, int64_t now_ms, int64_t stale_ms, enum store_kind kind,
		const char *const *ids, size_t n, struct rule_sum *out)
{
	for (size_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].kind = kind;
		if (!ids[i] || strlen(ids[i]) > XDROP_STORE_MAX_ID)
			continue;
		snprintf(out[i].id, sizeof(out[i].id), "%s", ids[i]);
		for (size_t k = 0; k < t->nnodes; k++) { /* one lookup per node */
			const struct rc_entry *e =
			    t->nodes[k].id[0] ? lookup(t, (uint32_t)k, kind, ids[i], false) : NULL;
			struct rule_sum one;

			if (!e)
				continue;
			entry_sum(t, e, now_ms, stale_ms, &one);
			sum_add(&out[i], &one);
		}
	}
}

int rc_sum_append(const Xdrop__V1__RuleCounter *c, int64_t at, struct rule_sum **v, size_t *n,
		  size_t *cap)
{
	struct rc_entry e = {0};
	struct rule_sum *s;

	if (!c->id || !c->id[0] || strlen(c->id) > XDROP_STORE_MAX_ID)
		return 0;
	s = append(v, n, cap);
	if (!s)
		return -ENOMEM;
	take(&e, c, 0);
	snprintf(s->id, sizeof(s->id), "%s", c->id);
	s->kind = kind_of(c->kind);
	s->match_count = e.match_count;
	s->drop_count = e.drop_count;
	s->match_bytes = e.match_bytes;
	s->drop_bytes = e.drop_bytes;
	s->pps = e.pps;
	s->match_pps = e.match_pps;
	s->drop_pps = e.drop_pps;
	s->match_bps = e.match_bps;
	s->drop_bps = e.drop_bps;
	s->at = at;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct rule_sum *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->id, y->id);
}

void rc_merge(struct rule_sum *v, size_t *n)
{
	size_t k = 0;

	if (*n)
		qsort(v, *n, sizeof(*v), cmp_key);
	for (size_t i = 0; i < *n; i++) {
		struct rule_sum *d = k ? &v[k - 1] : NULL;

		if (!d || cmp_key(d, &v[i])) {
			v[k++] = v[i];
			continue;
		}
		sum_add(d, &v[i]);
	}
	*n = k;
}
