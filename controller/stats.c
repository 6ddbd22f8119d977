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
#include "log.h"
#include "rpc.h"
#include "stats.h"
#include "ticker.h"

struct point {
	int64_t at;
	Xdrop__V1__Counters c;
	Xdrop__V1__Rates r;
};

struct ring {
	char id[XDROP_STORE_MAX_ID + 1]; /* "" = cluster */
	struct point *p;
	size_t head, count;
	int64_t touched; /* last sample that included it */
};

struct stats {
	struct nodes *nodes;
	unsigned cap;
	pthread_mutex_t lock;
	struct ring *rings; /* [0] is the cluster's */
	size_t nrings;
	bool full_logged;
	uint64_t agent_failures; /* RuleStats calls to agents that failed */
	struct ticker *sampler;	 /* one sample a second; NULL until started */
};

static void add_counters(Xdrop__V1__Counters *a, const Xdrop__V1__Counters *b)
{
	if (!b)
		return;
	a->rx += b->rx;
	a->passed += b->passed;
	a->dropped += b->dropped;
	a->whitelisted += b->whitelisted;
	a->rate_limited += b->rate_limited;
	a->malformed += b->malformed;
	a->rx_bytes += b->rx_bytes;
	a->dropped_bytes += b->dropped_bytes;
	a->protected_ += b->protected_;
}

static void add_rates(Xdrop__V1__Rates *a, const Xdrop__V1__Rates *b)
{
	if (!b)
		return;
	a->rx_pps += b->rx_pps;
	a->passed_pps += b->passed_pps;
	a->dropped_pps += b->dropped_pps;
	a->rate_limited_pps += b->rate_limited_pps;
}

struct sum_arg {
	Xdrop__V1__Counters *c;
	Xdrop__V1__Rates *r;
};

static void sum_cb(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct sum_arg *a = arg;

	add_counters(a->c, b->counters);
	add_rates(a->r, b->rates);
}

void stats_totals(struct stats *s, Xdrop__V1__Counters *totals, Xdrop__V1__Rates *rates)
{
	struct sum_arg a = {totals, rates};

	nodes_each_beacon(s->nodes, sum_cb, &a);
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

static void node_sample_cb(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct stats *s = arg;
	struct point p = {
	    .at = clock_wall_ns(), .c = XDROP__V1__COUNTERS__INIT, .r = XDROP__V1__RATES__INIT};
	struct ring *r;

	add_counters(&p.c, b->counters);
	add_rates(&p.r, b->rates);
	pthread_mutex_lock(&s->lock);
	r = ring_of(s, id);
	if (r)
		ring_push(s, r, &p);
	pthread_mutex_unlock(&s->lock);
}

void stats_sample(struct stats *s)
{
	struct point p = {
	    .at = clock_wall_ns(), .c = XDROP__V1__COUNTERS__INIT, .r = XDROP__V1__RATES__INIT};
	struct ring *r;

	stats_totals(s, &p.c, &p.r);
	nodes_each_beacon(s->nodes, node_sample_cb, s);
	pthread_mutex_lock(&s->lock);
	r = ring_of(s, "");
	if (r)
		ring_push(s, r, &p);
	pthread_mutex_unlock(&s->lock);
}

static void sample_tick(void *arg)
{
	stats_sample(arg);
}

int stats_open(struct stats **out, struct nodes *nodes, unsigned history_s)
{
	struct ticker_opts o = {.sz = sizeof(o),
				.name = "xdrop-stats",
				.period_ms = 1000,
				.first_now = true,
				.fn = sample_tick};
	struct stats *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->nodes = nodes;
	s->cap = history_s ? history_s : XDROP_HISTORY_DEFAULT_S;
	if (s->cap > XDROP_HISTORY_MAX_S)
		s->cap = XDROP_HISTORY_MAX_S;
	pthread_mutex_init(&s->lock, NULL);
	if (!ring_of(s, "")) {
		stats_close(s);
		return -ENOMEM;
	}
	o.arg = s;
	err = ticker_start(&s->sampler, &o);
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
	ticker_stop(s->sampler);
	for (size_t i = 0; i < s->nrings; i++)
		free(s->rings[i].p);
	free(s->rings);
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
		/* oldest of the window first; a point per step, the last of its step */
		size_t age = want - 1 - i; /* 0 = newest */
		size_t idx = (r->head + s->cap - 1 - age) % s->cap;
		Xdrop__V1__HistoryPoint *hp = &v[k++];
		struct point *p = &r->p[idx];

		xdrop__v1__history_point__init(hp);
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

struct sums {
	struct rule_sum *v;
	size_t n, cap;
	int err;
};

static void sums_add(struct sums *s, const char *id, uint64_t match, uint64_t drop, double pps)
{
	if (!id || !id[0] || strlen(id) > XDROP_STORE_MAX_ID)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct rule_sum *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv) {
			s->err = -ENOMEM;
			return;
		}
		s->v = nv;
		s->cap = cap;
	}
	snprintf(s->v[s->n].id, sizeof(s->v[s->n].id), "%s", id);
	s->v[s->n].match_count = match;
	s->v[s->n].drop_count = drop;
	s->v[s->n].pps = pps;
	s->n++;
}

struct beacon_rules_arg {
	struct sums *sums;
	char **skip; /* node ids answered by their agent */
};

static void beacon_rules_cb(void *arg, const char *id, const Xdrop__V1__Beacon *b)
{
	struct beacon_rules_arg *a = arg;

	for (size_t i = 0; a->skip && a->skip[i]; i++)
		if (strcmp(a->skip[i], id) == 0)
			return;
	for (size_t i = 0; i < b->n_top_rules; i++)
		sums_add(a->sums, b->top_rules[i]->id, b->top_rules[i]->match_count,
			 b->top_rules[i]->drop_count, b->top_rules[i]->pps);
}

static int cmp_sum(const void *a, const void *b)
{
	return strcmp(((const struct rule_sum *)a)->id, ((const struct rule_sum *)b)->id);
}

/* A node that does not answer RuleStats is counted with its beacon's top rules instead;
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
			 "beacon's top rules",
			 url, (unsigned long long)k + 1, rpc_code_name(rs->code), rs->message);
}

/* Asks every reachable agent; returns the node ids (from the tokens) that answered. */
static char **ask_agents(struct stats *st, struct sums *sums)
{
	Xdrop__V1__RuleStatsRequest req = XDROP__V1__RULE_STATS_REQUEST__INIT;
	char **addrs = NULL, **tokens = NULL, **answered;
	int n = nodes_reachable(st->nodes, &addrs, &tokens);
	size_t k = 0;

	if (n < 0)
		return NULL;
	answered = calloc((size_t)n + 1, sizeof(*answered));
	for (int i = 0; i < n; i++) {
		/* the same TLS settings as every other call to a node (nodes.c) */
		struct rpc_client_opts o = {.sz = sizeof(o),
					    .url = addrs[i],
					    .auth_token = tokens[i],
					    .timeout_ms = XDROP_STATS_AGENT_TIMEOUT_MS,
					    .tls = nodes_tls(st->nodes)};
		Xdrop__V1__RuleStatsReply *rep = NULL;
		struct rpc_client *c = NULL;
		struct rpc_status rs = {.code = RPC_UNAVAILABLE};
		int err;

		err = rpc_client_open(&c, &o);
		if (!err)
			err = rpc_client_call(c, &xdrop__v1__agent_service__descriptor, "RuleStats",
					      &req.base, (ProtobufCMessage **)&rep, &rs);
		else
			snprintf(rs.message, sizeof(rs.message), "%s", strerror(-err));
		if (err) {
			agent_failed(st, addrs[i], &rs);
		} else {
			for (size_t j = 0; j < rep->n_rules; j++)
				sums_add(sums, rep->rules[j]->id, rep->rules[j]->match_count,
					 rep->rules[j]->drop_count, rep->rules[j]->pps);
			xdrop__v1__rule_stats_reply__free_unpacked(rep, NULL);
			if (answered) {
				/* token = "ctl:<id>:<mac>" (lib/nodekey.h) */
				const char *p = strchr(tokens[i], ':');
				char *id = p ? strdup(p + 1) : NULL,
				     *colon = id ? strchr(id, ':') : NULL;

				if (colon) {
					*colon = '\0';
					answered[k++] = id;
				} else {
					free(id);
				}
			}
		}
		rpc_client_close(c);
		free(addrs[i]);
		free(tokens[i]);
	}
	free(addrs);
	free(tokens);
	return answered;
}

int stats_rule_counters(struct stats *s, bool ask, struct rule_sum **out, size_t *n)
{
	struct sums sums = {0};
	struct beacon_rules_arg a = {.sums = &sums};
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (ask)
		a.skip = ask_agents(s, &sums);
	nodes_each_beacon(s->nodes, beacon_rules_cb, &a);
	for (size_t i = 0; a.skip && a.skip[i]; i++)
		free(a.skip[i]);
	free(a.skip);
	if (sums.err) {
		free(sums.v);
		return sums.err;
	}
	if (sums.n)
		qsort(sums.v, sums.n, sizeof(*sums.v), cmp_sum);
	for (size_t i = 0; i < sums.n; i++) { /* merge equal ids: sum across nodes */
		if (k && strcmp(sums.v[k - 1].id, sums.v[i].id) == 0) {
			sums.v[k - 1].match_count += sums.v[i].match_count;
			sums.v[k - 1].drop_count += sums.v[i].drop_count;
			sums.v[k - 1].pps += sums.v[i].pps;
		} else {
			sums.v[k++] = sums.v[i];
		}
	}
	*out = sums.v;
	*n = k;
	return 0;
}

const struct rule_sum *stats_rule_find(const struct rule_sum *v, size_t n, const char *id)
{
	struct rule_sum key;

	if (!v || !n || !id || strlen(id) > XDROP_STORE_MAX_ID)
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, v, n, sizeof(*v), cmp_sum);
}
