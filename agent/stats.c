// SPDX-License-Identifier: MIT
/*
 * stats: the sampler thread; see stats.h.
 *
 * Per-rule figures come from one bulk read of every counter slot per interval. The
 * slot -> rule id map is rebuilt only when the rule set's revision changes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uthash.h>

#include "clock.h"
#include "log.h"
#include "stats.h"
#include "ticker.h"

struct hist {
	int64_t at;
	uint64_t c[XDROP_NCOUNTERS];
	double rx, passed, dropped, limited;
};

struct idslot {
	UT_hash_handle hh;
	char *id;
	uint32_t slot;
};

struct stats {
	struct dataplane *dp;
	struct ruleset *rs;
	uint64_t interval_ms;
	struct ticker *ticker;
	int64_t last_ns; /* monotonic time of the last sample (0: none yet) */
	pthread_mutex_t lock;

	uint64_t c[XDROP_NCOUNTERS];
	double rx_pps, passed_pps, dropped_pps, limited_pps;
	double cpu_percent;
	uint64_t mem_used, mem_total, uptime_s;
	double load1;
	uint64_t cpu_busy_prev, cpu_total_prev;

	uint64_t *match, *drop;	      /* per slot, last sample */
	double *drop_pps, *match_pps; /* per slot, over the last window */
	size_t nslots;
	struct idslot *ids; /* rule id -> slot */
	char **slot_id;	    /* slot -> rule id (borrowed from ids) */
	size_t nslot_id;
	uint64_t ids_revision;
	bool ids_valid;

	struct hist hist[STATS_HISTORY];
	size_t hist_n, hist_head;
};

static void read_system(struct stats *s)
{
	unsigned long long v[10] = {0}, busy, total;
	char line[256];
	FILE *f = fopen("/proc/stat", "r");

	if (f) {
		if (fgets(line, sizeof(line), f) &&
		    sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4) {
			total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
			busy = total - v[3] - v[4];
			if (s->cpu_total_prev && total > s->cpu_total_prev)
				s->cpu_percent = 100.0 * (double)(busy - s->cpu_busy_prev) /
						 (double)(total - s->cpu_total_prev);
			s->cpu_busy_prev = busy;
			s->cpu_total_prev = total;
		}
		fclose(f);
	}
	f = fopen("/proc/meminfo", "r");
	if (f) {
		unsigned long long kb, total_kb = 0, avail_kb = 0;

		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
				total_kb = kb;
			else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
				avail_kb = kb;
		}
		fclose(f);
		s->mem_total = total_kb * 1024;
		s->mem_used = (total_kb - avail_kb) * 1024;
	}
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &s->load1) != 1)
			s->load1 = 0;
		fclose(f);
	}
	f = fopen("/proc/uptime", "r");
	if (f) {
		double up;

		if (fscanf(f, "%lf", &up) == 1)
			s->uptime_s = (uint64_t)up;
		fclose(f);
	}
}

static void ids_clear(struct stats *s)
{
	struct idslot *e, *tmp;

	HASH_ITER(hh, s->ids, e, tmp)
	{
		HASH_DEL(s->ids, e);
		free(e->id);
		free(e);
	}
	free(s->slot_id);
	s->slot_id = NULL;
	s->nslot_id = 0;
}

struct ids_build {
	struct stats *s;
	int err;
};

static void ids_add(void *arg, const Xdrop__V1__Rule *r, const struct rule_spec *spec, bool active)
{
	struct ids_build *b = arg;
	struct idslot *e;
	uint32_t slot;

	if (!active || dataplane_entry_slot(b->s->dp, spec, &slot))
		return;
	e = calloc(1, sizeof(*e));
	if (!e || !(e->id = strdup(r->id))) {
		free(e);
		b->err = -ENOMEM;
		return;
	}
	e->slot = slot;
	HASH_ADD_KEYPTR(hh, b->s->ids, e->id, strlen(e->id), e);
}

/* Rebuilds id <-> slot maps when the rule set moved on. Lock held. */
static void ids_refresh(struct stats *s)
{
	uint64_t rev = ruleset_revision(s->rs);
	struct ids_build b = {.s = s};
	struct idslot *e, *tmp;
	size_t max = 0;

	if (s->ids_valid && rev == s->ids_revision)
		return;
	ids_clear(s);
	ruleset_foreach_rule(s->rs, ids_add, &b);
	HASH_ITER(hh, s->ids, e, tmp)
	{
		if (e->slot + 1 > max)
			max = e->slot + 1;
	}
	s->slot_id = calloc(max + 1, sizeof(*s->slot_id));
	if (s->slot_id) {
		HASH_ITER(hh, s->ids, e, tmp)
		{
			s->slot_id[e->slot] = e->id;
		}
		s->nslot_id = max;
	}
	s->ids_revision = rev;
	s->ids_valid = b.err == 0 && s->slot_id;
}

static void sample(struct stats *s, double dt)
{
	uint64_t c[XDROP_NCOUNTERS], *m = NULL, *d = NULL;
	size_t n = 0;
	struct hist *h;

	if (dataplane_counters(s->dp, c))
		return;
	dataplane_read_slots(s->dp, &m, &d, &n);
	pthread_mutex_lock(&s->lock);
	read_system(s);
	if (dt > 0) {
		s->rx_pps = (double)(c[XDROP_CNT_RX] - s->c[XDROP_CNT_RX]) / dt;
		s->passed_pps = (double)(c[XDROP_CNT_PASSED] - s->c[XDROP_CNT_PASSED]) / dt;
		s->dropped_pps = (double)(c[XDROP_CNT_DROPPED] - s->c[XDROP_CNT_DROPPED]) / dt;
		s->limited_pps =
		    (double)(c[XDROP_CNT_RATE_LIMITED] - s->c[XDROP_CNT_RATE_LIMITED]) / dt;
	}
	memcpy(s->c, c, sizeof(c));
	if (m && d) {
		double *dp = calloc(n + 1, sizeof(*dp)), *mp = calloc(n + 1, sizeof(*mp));

		for (size_t i = 0; dp && mp && i < n; i++) {
			/* a slot reused by another rule restarts from zero: no negative rate */
			uint64_t pm = i < s->nslots ? s->match[i] : 0,
				 pd = i < s->nslots ? s->drop[i] : 0;

			mp[i] = dt > 0 && m[i] >= pm ? (double)(m[i] - pm) / dt : 0;
			dp[i] = dt > 0 && d[i] >= pd ? (double)(d[i] - pd) / dt : 0;
		}
		free(s->match);
		free(s->drop);
		free(s->drop_pps);
		free(s->match_pps);
		s->match = m;
		s->drop = d;
		s->drop_pps = dp;
		s->match_pps = mp;
		s->nslots = n;
	}
	ids_refresh(s);
	h = &s->hist[s->hist_head];
	h->at = clock_wall_ns();
	memcpy(h->c, c, sizeof(c));
	h->rx = s->rx_pps;
	h->passed = s->passed_pps;
	h->dropped = s->dropped_pps;
	h->limited = s->limited_pps;
	s->hist_head = (s->hist_head + 1) % STATS_HISTORY;
	if (s->hist_n < STATS_HISTORY)
		s->hist_n++;
	pthread_mutex_unlock(&s->lock);
}

/* One tick: a sample over the window since the last one (the first has no rates). */
static void tick(void *arg)
{
	struct stats *s = arg;
	int64_t now = clock_mono_ns();

	sample(s, s->last_ns ? (double)(now - s->last_ns) / 1e9 : 0);
	s->last_ns = now;
}

int stats_start(struct stats **out, struct dataplane *dp, struct ruleset *rs, uint64_t interval_ms)
{
	struct stats *s = calloc(1, sizeof(*s));
	struct ticker_opts to = {.sz = sizeof(to), .name = "stats", .first_now = true, .fn = tick};
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->dp = dp;
	s->rs = rs;
	s->interval_ms = interval_ms ? interval_ms : 1000;
	pthread_mutex_init(&s->lock, NULL);
	to.period_ms = (unsigned)s->interval_ms;
	to.arg = s;
	err = ticker_start(&s->ticker, &to);
	if (err) {
		stats_stop(s);
		return err;
	}
	*out = s;
	return 0;
}

void stats_stop(struct stats *s)
{
	if (!s)
		return;
	ticker_stop(s->ticker);
	ids_clear(s);
	free(s->match);
	free(s->drop);
	free(s->drop_pps);
	free(s->match_pps);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void stats_fill(struct stats *s, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r,
		Xdrop__V1__SystemStats *sys)
{
	pthread_mutex_lock(&s->lock);
	if (c) {
		c->rx = s->c[XDROP_CNT_RX];
		c->passed = s->c[XDROP_CNT_PASSED];
		c->dropped = s->c[XDROP_CNT_DROPPED];
		c->whitelisted = s->c[XDROP_CNT_WHITELISTED];
		c->rate_limited = s->c[XDROP_CNT_RATE_LIMITED];
		c->malformed = s->c[XDROP_CNT_MALFORMED];
		c->protected_ = s->c[XDROP_CNT_PROTECTED];
	}
	if (r) {
		r->rx_pps = s->rx_pps;
		r->passed_pps = s->passed_pps;
		r->dropped_pps = s->dropped_pps;
		r->rate_limited_pps = s->limited_pps;
	}
	if (sys) {
		sys->cpu_percent = s->cpu_percent;
		sys->mem_used_bytes = s->mem_used;
		sys->mem_total_bytes = s->mem_total;
		sys->load1 = s->load1;
		sys->uptime_s = s->uptime_s;
	}
	pthread_mutex_unlock(&s->lock);
}

int stats_rule(struct stats *s, const char *id, uint64_t *match, uint64_t *drop, double *pps)
{
	struct idslot *e;
	int err = -ENOENT;

	pthread_mutex_lock(&s->lock);
	ids_refresh(s);
	HASH_FIND_STR(s->ids, id, e);
	if (e && e->slot < s->nslots) {
		*match = s->match[e->slot];
		*drop = s->drop[e->slot];
		*pps = s->drop_pps[e->slot] > 0 ? s->drop_pps[e->slot] : s->match_pps[e->slot];
		err = 0;
	} else if (e) {
		*match = *drop = 0;
		*pps = 0;
		err = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

size_t stats_top(struct stats *s, size_t n, char **ids, uint64_t *match, uint64_t *drop,
		 double *pps)
{
	size_t k = 0;

	pthread_mutex_lock(&s->lock);
	ids_refresh(s);
	/* n is small: keep an insertion-sorted list of the best slots */
	for (size_t i = 0; i < s->nslots && i < s->nslot_id; i++) {
		size_t j;

		if (!s->slot_id[i] || s->drop[i] == 0)
			continue;
		if (k == n && s->drop_pps[i] <= pps[k - 1])
			continue;
		j = k < n ? k++ : n - 1;
		while (j > 0 && pps[j - 1] < s->drop_pps[i]) {
			ids[j] = ids[j - 1];
			match[j] = match[j - 1];
			drop[j] = drop[j - 1];
			pps[j] = pps[j - 1];
			j--;
		}
		ids[j] = s->slot_id[i];
		match[j] = s->match[i];
		drop[j] = s->drop[i];
		pps[j] = s->drop_pps[i];
	}
	for (size_t i = 0; i < k; i++)
		ids[i] = strdup(ids[i]);
	pthread_mutex_unlock(&s->lock);
	return k;
}

size_t stats_history(struct stats *s, int64_t since_ns, struct stats_point **out)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	*out = calloc(s->hist_n + 1, sizeof(**out));
	for (size_t i = 0; *out && i < s->hist_n; i++) {
		size_t idx = (s->hist_head + STATS_HISTORY - s->hist_n + i) % STATS_HISTORY;
		const struct hist *h = &s->hist[idx];

		if (h->at < since_ns)
			continue;
		(*out)[n] = (struct stats_point){
		    .at = h->at,
		    .rx = h->c[XDROP_CNT_RX],
		    .passed = h->c[XDROP_CNT_PASSED],
		    .dropped = h->c[XDROP_CNT_DROPPED],
		    .whitelisted = h->c[XDROP_CNT_WHITELISTED],
		    .rate_limited = h->c[XDROP_CNT_RATE_LIMITED],
		    .rx_pps = h->rx,
		    .passed_pps = h->passed,
		    .dropped_pps = h->dropped,
		    .rate_limited_pps = h->limited,
		};
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}
