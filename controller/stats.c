// SPDX-License-Identifier: MIT
/*
 * stats: aggregation of beacons and the history rings; see stats.h. A ring is a fixed
 * array of points written at `head`; rings are looked up by node id (a short linear list:
 * node counts are small).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fanout.h"
#include "nodes.h"
#include "log.h"
#include "rpc.h"
#include "stats.h"
#include "ticker.h"

struct point {
	int64_t at;
	bool data; /* false: a gap (no fresh beacon, or no sample that second) */
	Xdrop__V1__Counters c;
	Xdrop__V1__Rates r;
};

struct ring {
	char id[XDROP_STORE_MAX_ID + 1]; /* "" = cluster */
	struct point *p;
	size_t head, count;
	bool sampled; /* the current sample had data for it */
};

struct stats {
	struct nodes *nodes;
	struct store *store;
	unsigned cap;
	pthread_mutex_t lock;
	struct ring *rings; /* [0] is the cluster's */
	size_t nrings;
	bool full_logged;
	int64_t last_sample_ms;	 /* monotonic; 0 before the first */
	struct rulecounters *rc; /* per-(node, rule) counters from beacons */
	uint64_t seen_rev;	 /* the change log is read up to here for deletes */
	uint64_t agent_failures; /* RuleStats calls to agents that failed */
	struct ticker *sampler;	 /* one sample a second; NULL until started */
	struct ticker *seeder;	 /* reads new nodes' counters; NULL until started */
};

static void beacon_hook(void *arg, const char *id, const Xdrop__V1__Beacon *b);
static void forget_nodes(struct stats *s);

/* Adds every field of b to a's: Counters holds uint64 fields only, Rates doubles only, so
 * a field added to either is summed without a change here. */
static void add_fields(ProtobufCMessage *a, const ProtobufCMessage *b)
{
	const ProtobufCMessageDescriptor *d = a->descriptor;

	if (!b || b->descriptor != d)
		return;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *pa = (char *)a + f->offset;
		const char *pb = (const char *)b + f->offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		if (f->type == PROTOBUF_C_TYPE_UINT64)
			*(uint64_t *)pa += *(const uint64_t *)pb;
		else if (f->type == PROTOBUF_C_TYPE_DOUBLE)
			*(double *)pa += *(const double *)pb;
	}
}

struct sum_arg {
	Xdrop__V1__Counters *c;
	Xdrop__V1__Rates *r;
	size_t nodes;
};

static void sum_cb(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct sum_arg *a = arg;

	add_fields(&a->c->base, b->counters ? &b->counters->base : NULL);
	add_fields(&a->r->base, b->rates ? &b->rates->base : NULL);
	a->nodes++;
}

/* The sums over nodes with a fresh beacon; returns how many there were. */
static size_t totals(struct stats *s, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r)
{
	struct sum_arg a = {c, r, 0};

	nodes_each_beacon(s->nodes, sum_cb, &a);
	return a.nodes;
}

void stats_totals(struct stats *s, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r)
{
	totals(s, c, r);
}

/* Lock held: the ring of id, created when missing. NULL when out of memory or slots (the
 * cluster's ring is made first, by stats_open, so only nodes can run out of slots). */
static struct ring *ring_of(struct stats *s, const char *id)
{
	struct ring *nr;

	for (size_t i = 0; i < s->nrings; i++)
		if (strcmp(s->rings[i].id, id) == 0)
			return &s->rings[i];
	if (s->nrings > XDROP_HISTORY_MAX_NODES) {
		if (!s->full_logged)
			log_warn("stats: %d nodes have a history already; %s and later ones get "
				 "none",
				 XDROP_HISTORY_MAX_NODES, id);
		s->full_logged = true;
		return NULL;
	}
	nr = realloc(s->rings, (s->nrings + 1) * sizeof(*nr));
	if (!nr)
		return NULL;
	s->rings = nr;
	nr = &s->rings[s->nrings];
	memset(nr, 0, sizeof(*nr));
	snprintf(nr->id, sizeof(nr->id), "%s", id);
	nr->p = calloc(s->cap, sizeof(*nr->p));
	if (!nr->p)
		return NULL;
	s->nrings++;
	return nr;
}

static void ring_push(struct stats *s, struct ring *r, const struct point *p)
{
	r->p[r->head] = *p;
	r->head = (r->head + 1) % s->cap;
	if (r->count < s->cap)
		r->count++;
}

/* Lock held: a gap point at `at` on every ring not sampled yet (a node that sent no
 * fresh beacon, or the cluster with no node to count). */
static void push_gaps(struct stats *s, int64_t at)
{
	struct point gap = {.at = at};

	for (size_t i = 0; i < s->nrings; i++) {
		if (!s->rings[i].sampled)
			ring_push(s, &s->rings[i], &gap);
		s->rings[i].sampled = false;
	}
}

struct node_sample_arg {
	struct stats *s;
	int64_t at;
};

static void node_sample_cb(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct node_sample_arg *a = arg;
	struct point p = {
	    .at = a->at, .data = true, .c = XDROP__V1__COUNTERS__INIT, .r = XDROP__V1__RATES__INIT};
	struct ring *r;

	add_fields(&p.c.base, b->counters ? &b->counters->base : NULL);
	add_fields(&p.r.base, b->rates ? &b->rates->base : NULL);
	pthread_mutex_lock(&a->s->lock);
	r = ring_of(a->s, id);
	if (r && !r->sampled) {
		ring_push(a->s, r, &p);
		r->sampled = true;
	}
	pthread_mutex_unlock(&a->s->lock);
}

/* Lock held: gap points for the seconds the sampler missed (a paused process, a late
 * tick), at most the ring's size, so that a reader sees the hole as one. */
static void push_missed(struct stats *s, int64_t now_ms, int64_t at)
{
	int64_t missed = s->last_sample_ms ? (now_ms - s->last_sample_ms) / 1000 - 1 : 0;

	if (missed > (int64_t)s->cap)
		missed = s->cap;
	for (int64_t k = missed; k > 0; k--) {
		for (size_t i = 0; i < s->nrings; i++)
			s->rings[i].sampled = false;
		push_gaps(s, at - k * 1000000000LL);
	}
}

void stats_sample(struct stats *s)
{
	struct point p = {
	    .at = clock_wall_ns(), .c = XDROP__V1__COUNTERS__INIT, .r = XDROP__V1__RATES__INIT};
	struct node_sample_arg na = {s, p.at};
	int64_t now_ms = clock_mono_ms();
	struct ring *r;

	stats_forget_deleted(s);
	forget_nodes(s);
	p.data = totals(s, &p.c, &p.r) > 0;
	pthread_mutex_lock(&s->lock);
	push_missed(s, now_ms, p.at);
	s->last_sample_ms = now_ms;
	pthread_mutex_unlock(&s->lock);
	nodes_each_beacon(s->nodes, node_sample_cb, &na);
	pthread_mutex_lock(&s->lock);
	r = ring_of(s, "");
	if (r && p.data) {
		ring_push(s, r, &p);
		r->sampled = true;
	}
	push_gaps(s, p.at);
	pthread_mutex_unlock(&s->lock);
}

static void sample_tick(void *arg)
{
	stats_sample(arg);
}

static void seed_tick(void *arg)
{
	stats_seed(arg);
}

int stats_open(struct stats **out, struct nodes *nodes, unsigned history_s)
{
	struct ticker_opts o = {.sz = sizeof(o),
				.name = "xdrop-stats",
				.period_ms = 1000,
				.first_now = true,
				.fn = sample_tick};
	struct stats *s = calloc(1, sizeof(*s));
	struct store_rev rev;
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->nodes = nodes;
	s->store = nodes_store(nodes);
	s->cap = history_s ? history_s : XDROP_HISTORY_DEFAULT_S;
	if (s->cap > XDROP_HISTORY_MAX_S)
		s->cap = XDROP_HISTORY_MAX_S;
	pthread_mutex_init(&s->lock, NULL);
	err = rc_open(&s->rc, 0);
	if (err || !ring_of(s, "")) {
		stats_close(s);
		return -ENOMEM;
	}
	/* a rule deleted before this start may still be on a node that is behind: only
	 * beacons at the current revision or later bring new counters (rulecounters.h) */
	store_revision(s->store, &rev);
	s->seen_rev = rev.revision;
	rc_set_min_revision(s->rc, rev.revision);
	nodes_set_beacon_hook(nodes, beacon_hook, s);
	o.arg = s;
	err = ticker_start(&s->sampler, &o);
	if (!err) {
		/* on a thread of its own: a slow agent must not delay the history's samples */
		o.name = "xdrop-seed";
		o.period_ms = XDROP_STATS_SEED_MS;
		o.first_now = false;
		o.fn = seed_tick;
		err = ticker_start(&s->seeder, &o);
	}
	if (err) {
		stats_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void stats_close(struct stats *s)
{
	if (!s)
		return;
	ticker_stop(s->seeder);
	ticker_stop(s->sampler);
	nodes_set_beacon_hook(s->nodes, NULL, NULL);
	for (size_t i = 0; i < s->nrings; i++)
		free(s->rings[i].p);
	free(s->rings);
	rc_close(s->rc);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int stats_history(struct stats *s, const char *node_id, uint32_t seconds, uint32_t step,
		  Xdrop__V1__HistoryPoint **out, size_t *n)
{
	Xdrop__V1__HistoryPoint *v = NULL;
	struct ring *r = NULL;
	size_t want, k = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!step)
		step = 1;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nrings; i++)
		if (strcmp(s->rings[i].id, node_id ? node_id : "") == 0)
			r = &s->rings[i];
	if (!r) {
		err = node_id && node_id[0] ? -ENOENT : 0;
		goto out;
	}
	want = seconds && seconds < r->count ? seconds : r->count;
	v = calloc(want / step + 1, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < want; i += step) {
		/* oldest of the window first; a point per step: the newest of its step with
		 * data, else a gap (at of the step's last) */
		Xdrop__V1__HistoryPoint *hp = &v[k++];
		struct point *p = NULL, *last = NULL;

		for (size_t j = i; j < i + step && j < want; j++) {
			size_t age = want - 1 - j; /* 0 = newest */
			struct point *q = &r->p[(r->head + s->cap - 1 - age) % s->cap];

			last = q;
			if (q->data)
				p = q;
		}
		xdrop__v1__history_point__init(hp);
		hp->at = last->at;
		if (!p)
			continue; /* a gap: no rates, no counters */
		hp->at = p->at;
		hp->counters = malloc(sizeof(*hp->counters));
		hp->rates = malloc(sizeof(*hp->rates));
		if (!hp->counters || !hp->rates) {
			err = -ENOMEM;
			break;
		}
		*hp->counters = p->c;
		*hp->rates = p->r;
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (err) {
		stats_free_points(v, k);
		return err;
	}
	*out = v;
	*n = k;
	return 0;
}

void stats_free_points(Xdrop__V1__HistoryPoint *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].counters);
		free(v[i].rates);
	}
	free(v);
}

/* ---- per-rule counters ---------------------------------------------------------------- */

static void beacon_hook(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct stats *s = arg;

	pthread_mutex_lock(&s->lock);
	rc_beacon(s->rc, id, b, clock_mono_ms());
	pthread_mutex_unlock(&s->lock);
}

/* Lock held: forgets the counters of what the delta deleted; true when it deleted any. */
static bool forget_delta(struct stats *s, const Xdrop__V1__Delta *d)
{
	bool any = false;

	for (size_t i = 0; i < d->n_ops; i++) {
		const Xdrop__V1__DeltaOp *op = d->ops[i];

		if (op->op_case == XDROP__V1__DELTA_OP__OP_DELETE_RULE) {
			rc_forget(s->rc, STORE_RULES, op->delete_rule);
			any = true;
		} else if (op->op_case == XDROP__V1__DELTA_OP__OP_DELETE_WHITELIST) {
			rc_forget(s->rc, STORE_WHITELIST, op->delete_whitelist);
			any = true;
		}
	}
	if (any)
		rc_set_min_revision(s->rc, d->revision);
	return any;
}

static bool item_exists(void *arg, enum store_kind kind, const char *id)
{
	void *got = NULL;
	int err = store_get(arg, kind, id, &got);

	if (got)
		protobuf_c_message_free_unpacked(got, NULL);
	return err != -ENOENT;
}

/* Lock held: the change log no longer reaches back to what was read: every entry is
 * checked against the store instead (rare: only after a long stall). */
static void forget_missing(struct stats *s, uint64_t rev)
{
	log_warn("stats: the change log was trimmed past revision %llu; checking every rule "
		 "counter against the database",
		 (unsigned long long)s->seen_rev);
	rc_forget_if(s->rc, item_exists, s->store);
	rc_set_min_revision(s->rc, rev);
}

void stats_forget_deleted(struct stats *s)
{
	struct store_rev rev;

	store_revision(s->store, &rev);
	pthread_mutex_lock(&s->lock);
	while (s->seen_rev < rev.revision) {
		Xdrop__V1__Delta **v = NULL;
		size_t n = 0;
		bool complete = false;

		if (store_deltas(s->store, s->seen_rev, 64, &v, &n, &complete) < 0)
			break; /* tried again at the next sample */
		if (!complete || !n) {
			store_free_deltas(v, n);
			forget_missing(s, rev.revision);
			s->seen_rev = rev.revision;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			forget_delta(s, v[i]);
			s->seen_rev = v[i]->revision;
		}
		store_free_deltas(v, n);
	}
	pthread_mutex_unlock(&s->lock);
}

struct id_list {
	char **v;
	size_t n;
};

static bool in_list(void *arg, const char *id)
{
	const struct id_list *l = arg;

	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], id))
			return true;
	return false;
}

/* Forgets the counters of nodes deleted since (the node list is read before the lock:
 * nodes calls into stats with its own lock held). */
static void forget_nodes(struct stats *s)
{
	struct id_list l = {0};

	if (nodes_ids(s->nodes, &l.v, &l.n) < 0)
		return;
	pthread_mutex_lock(&s->lock);
	rc_forget_nodes(s->rc, in_list, &l);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
}

struct collect_arg {
	char **skip; /* node ids answered by their agent */
};

static bool skip_node(void *arg, const char *id)
{
	const struct collect_arg *a = arg;

	for (size_t i = 0; a->skip && a->skip[i]; i++)
		if (strcmp(a->skip[i], id) == 0)
			return true;
	return false;
}

/* A node that does not answer RuleStats is counted with its beacons' counters instead;
 * the 1st, 2nd, 4th, 8th... such failure is logged, so a wrong address or TLS setting
 * shows without a line per scrape. */
static void agent_failed(struct stats *st, const char *url, const struct rpc_status *rs)
{
	uint64_t k;

	pthread_mutex_lock(&st->lock);
	k = st->agent_failures++;
	pthread_mutex_unlock(&st->lock);
	if (!(k & (k + 1)))
		log_warn("stats: RuleStats on %s failed (%llu so far): %s %s; using its "
			 "beacons' counters",
			 url, (unsigned long long)k + 1, rpc_code_name(rs->code), rs->message);
}

struct sums {
	struct rule_sum *v;
	size_t n, cap;
};

/* Asks every reachable agent at once (controller/fanout.h); appends the counters of those
 * that answered to sums (measured now) and returns their ids (NULL-ended). */
static char **ask_agents(struct stats *st, struct sums *sums)
{
	Xdrop__V1__RuleStatsRequest req = XDROP__V1__RULE_STATS_REQUEST__INIT;
	struct node_target *t = NULL;
	struct fanout_job *jobs = NULL;
	size_t n = 0, k = 0;
	char **answered = NULL;
	int64_t at = clock_wall_ns();

	if (nodes_targets(st->nodes, NULL, &t, &n) < 0)
		return NULL;
	jobs = calloc(n + 1, sizeof(*jobs));
	answered = calloc(n + 1, sizeof(*answered));
	if (!jobs || !answered)
		goto out;
	for (size_t i = 0; i < n; i++)
		jobs[i].t = &t[i];
	fanout_call(st->nodes, "RuleStats", &req.base, jobs, n, XDROP_STATS_AGENT_TIMEOUT_MS,
		    XDROP_STATS_AGENTS_DEADLINE_MS);
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__RuleStatsReply *rep = (const void *)jobs[i].rep;

		if (!rep) {
			agent_failed(st, t[i].addr, &jobs[i].st);
			continue;
		}
		for (size_t j = 0; j < rep->n_rules; j++)
			rc_sum_append(rep->rules[j], at, &sums->v, &sums->n, &sums->cap);
		answered[k] = strdup(t[i].id);
		if (answered[k])
			k++;
	}
out:
	fanout_free(jobs, n);
	free(jobs);
	nodes_free_targets(t, n);
	return answered;
}

void stats_seed(struct stats *s)
{
	Xdrop__V1__RuleStatsRequest req = XDROP__V1__RULE_STATS_REQUEST__INIT;
	struct node_target *t = NULL;
	struct fanout_job *jobs = NULL;
	size_t n = 0, k = 0;

	if (nodes_targets(s->nodes, NULL, &t, &n) < 0)
		return;
	jobs = calloc(n + 1, sizeof(*jobs));
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; jobs && i < n; i++)
		if (rc_seed_due(s->rc, t[i].id, clock_mono_ms()))
			jobs[k++].t = &t[i];
	pthread_mutex_unlock(&s->lock);
	if (k)
		fanout_call(s->nodes, "RuleStats", &req.base, jobs, k, XDROP_STATS_AGENT_TIMEOUT_MS,
			    XDROP_STATS_AGENTS_DEADLINE_MS);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < k; i++) {
		const Xdrop__V1__RuleStatsReply *rep = (const void *)jobs[i].rep;

		if (rep)
			rc_seed(s->rc, jobs[i].t->id,
				(const Xdrop__V1__RuleCounter *const *)rep->rules, rep->n_rules);
		else
			rc_seed_failed(s->rc, jobs[i].t->id, clock_mono_ms());
	}
	pthread_mutex_unlock(&s->lock);
	fanout_free(jobs, k);
	free(jobs);
	nodes_free_targets(t, n);
}

int stats_rule_counters(struct stats *s, bool ask, struct rule_sum **out, size_t *n)
{
	struct sums sums = {0};
	struct collect_arg a = {0};
	int err;

	*out = NULL;
	*n = 0;
	stats_forget_deleted(s); /* a rule deleted a moment ago shows no counters */
	forget_nodes(s);
	if (ask)
		a.skip = ask_agents(s, &sums);
	pthread_mutex_lock(&s->lock);
	err = rc_collect(s->rc, clock_mono_ms(), nodes_health_timeout_ms(s->nodes), skip_node, &a,
			 &sums.v, &sums.n, &sums.cap);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; a.skip && a.skip[i]; i++)
		free(a.skip[i]);
	free(a.skip);
	if (err) {
		free(sums.v);
		return err;
	}
	rc_merge(sums.v, &sums.n);
	*out = sums.v;
	*n = sums.n;
	return 0;
}

void stats_rule_sums(struct stats *s, enum store_kind kind, const char *const *ids, size_t n,
		     struct rule_sum *out)
{
	stats_forget_deleted(s);
	forget_nodes(s);
	pthread_mutex_lock(&s->lock);
	rc_sum_ids(s->rc, clock_mono_ms(), nodes_health_timeout_ms(s->nodes), kind, ids, n, out);
	pthread_mutex_unlock(&s->lock);
}

const struct rule_sum *stats_rule_find(const struct rule_sum *v, size_t n, enum store_kind kind,
				       const char *id)
{
	size_t lo = 0, hi = n;

	if (!v || !id)
		return NULL;
	while (lo < hi) { /* v is sorted by (kind, id): rc_merge */
		size_t mid = lo + (hi - lo) / 2;
		int c = v[mid].kind != kind ? (v[mid].kind < kind ? -1 : 1) : strcmp(v[mid].id, id);

		if (!c)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
