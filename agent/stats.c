// SPDX-License-Identifier: MIT
/*
 * stats: the sampler thread; see stats.h.
 *
 * Per-rule figures: when the rule set's revision moved, the slot -> rule id map is rebuilt
 * and every counter slot read in bulk (as one consistent pair, see sample_all). Otherwise
 * each interval reads the next stripe of STATS_SLOTS_PER_TICK slots, round-robin, so an
 * idle agent with a million rules reads a bounded number of per-CPU slots per second
 * (the cost is the kernel's copy of each slot's per-CPU values) instead of all of them: a
 * slot's figures are then at most ceil(slots / STATS_SLOTS_PER_TICK) intervals old, and
 * its rates are taken over the time between its stripe's two reads. A set of up to
 * STATS_SLOTS_PER_TICK entries is read whole every interval, as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "stats.h"
#include "stats_figs.h"
#include "stats_ids.h"
#include "ticker.h"

struct hist {
	int64_t at;
	double dt; /* seconds since the previous sample (0: none) */
	uint64_t c[XDROP_NCOUNTERS];
};

/* The exclusive figures of Counters: verdicts, then each packet's one reason. */
enum view {
	V_RX,
	V_PASSED,
	V_DROPPED,
	V_RULE_DROPPED,
	V_RATE_LIMITED, /* with rate-limit drops without state */
	V_MALFORMED,
	V_RULE_PASSED,
	V_RL_PASSED,
	V_WHITELISTED,
	V_PROTECTED,
	V_NON_IP,
	V_DEFAULT, /* passed for no reason above: no match, nothing loaded, bridged */
	NV,
};

struct stats {
	struct dataplane *dp;
	struct ruleset *rs;
	uint64_t interval_ms;
	struct ticker *ticker;
	int64_t last_ns;    /* monotonic time of the last sample (0: none yet) */
	int64_t started_ns; /* monotonic time of stats_start */
	pthread_mutex_t lock;

	uint64_t c[XDROP_NCOUNTERS];
	uint64_t prev[XDROP_NCOUNTERS];
	double dt; /* the last window, seconds (0: no rates yet) */
	double cpu_percent;
	uint64_t mem_used, mem_total, uptime_s;
	double load1, load5, load15;
	uint64_t cpu_busy_prev, cpu_total_prev;

	/* Per slot, last sample (counters and rates, stats_figs.h), with the slot -> id map it
	 * was read under (the two are replaced together, so a slot's figures always belong to
	 * the id it maps to). */
	struct figs figs;
	size_t nslots;
	int64_t *chunk_mono; /* per stripe of slots: monotonic ns of its last read (0: none) */
	int64_t *chunk_wall; /* and wall ns, the figures' "at" */
	size_t nchunk_at;
	size_t next_chunk;		   /* the round-robin's next stripe */
	struct xdrop_slot_counters *chunk; /* one stripe's read buffer */
	struct idmap ids;		   /* slot <-> rule id (stats_ids.h) */
	uint64_t map_rev;		   /* the rule set's revision the map was built at */
	bool map_valid;

	struct hist hist[STATS_HISTORY];
	size_t hist_n, hist_head;
};

/* The exclusive packet and byte figures of raw counters c. */
static void view_of(const uint64_t *c, uint64_t pk[NV], uint64_t by[NV])
{
	static const int raw[NV][2] = {
	    [V_RX] = {XDROP_CNT_RX, XDROP_CNT_RX_BYTES},
	    [V_PASSED] = {XDROP_CNT_PASSED, XDROP_CNT_PASSED_BYTES},
	    [V_DROPPED] = {XDROP_CNT_DROPPED, XDROP_CNT_DROPPED_BYTES},
	    [V_RULE_DROPPED] = {XDROP_CNT_RULE_DROP, XDROP_CNT_RULE_DROP_BYTES},
	    [V_RATE_LIMITED] = {XDROP_CNT_RATE_LIMITED, XDROP_CNT_RATE_LIMITED_BYTES},
	    [V_MALFORMED] = {XDROP_CNT_MALFORMED, XDROP_CNT_MALFORMED_BYTES},
	    [V_RULE_PASSED] = {XDROP_CNT_RULE_PASS, XDROP_CNT_RULE_PASS_BYTES},
	    [V_RL_PASSED] = {XDROP_CNT_RL_PASSED, XDROP_CNT_RL_PASSED_BYTES},
	    [V_WHITELISTED] = {XDROP_CNT_WHITELISTED, XDROP_CNT_WHITELISTED_BYTES},
	    [V_PROTECTED] = {XDROP_CNT_PROTECTED, XDROP_CNT_PROTECTED_BYTES},
	    [V_NON_IP] = {XDROP_CNT_NON_IP, XDROP_CNT_NON_IP_BYTES},
	};
	uint64_t rp = 0, rb = 0;

	for (int v = 0; v < V_DEFAULT; v++) {
		pk[v] = c[raw[v][0]];
		by[v] = c[raw[v][1]];
	}
	pk[V_RATE_LIMITED] += c[XDROP_CNT_RL_NO_STATE];
	by[V_RATE_LIMITED] += c[XDROP_CNT_RL_NO_STATE_BYTES];
	for (int v = V_RULE_PASSED; v < V_DEFAULT; v++) {
		rp += pk[v];
		rb += by[v];
	}
	/* per-CPU sums are read while packets flow: never below zero */
	pk[V_DEFAULT] = pk[V_PASSED] > rp ? pk[V_PASSED] - rp : 0;
	by[V_DEFAULT] = by[V_PASSED] > rb ? by[V_PASSED] - rb : 0;
}

static void counters_to_pb(const uint64_t *raw, Xdrop__V1__Counters *c)
{
	uint64_t pk[NV], by[NV];

	view_of(raw, pk, by);
	c->rx = pk[V_RX];
	c->rx_bytes = by[V_RX];
	c->passed = pk[V_PASSED];
	c->passed_bytes = by[V_PASSED];
	c->dropped = pk[V_DROPPED];
	c->dropped_bytes = by[V_DROPPED];
	c->rule_dropped = pk[V_RULE_DROPPED];
	c->rule_dropped_bytes = by[V_RULE_DROPPED];
	c->rate_limited = pk[V_RATE_LIMITED];
	c->rate_limited_bytes = by[V_RATE_LIMITED];
	c->malformed = pk[V_MALFORMED];
	c->malformed_bytes = by[V_MALFORMED];
	c->rule_passed = pk[V_RULE_PASSED];
	c->rule_passed_bytes = by[V_RULE_PASSED];
	c->rate_limit_passed = pk[V_RL_PASSED];
	c->rate_limit_passed_bytes = by[V_RL_PASSED];
	c->whitelisted = pk[V_WHITELISTED];
	c->whitelisted_bytes = by[V_WHITELISTED];
	c->protected_ = pk[V_PROTECTED];
	c->protected_bytes = by[V_PROTECTED];
	c->non_ip = pk[V_NON_IP];
	c->non_ip_bytes = by[V_NON_IP];
	c->default_passed = pk[V_DEFAULT];
	c->default_passed_bytes = by[V_DEFAULT];
	c->samples = raw[XDROP_CNT_SAMPLES];
	c->samples_lost = raw[XDROP_CNT_SAMPLES_LOST];
	c->anomaly_bad_fragment = raw[XDROP_CNT_ANOMALY_BAD_FRAG];
	c->anomaly_invalid = raw[XDROP_CNT_ANOMALY_INVALID];
}

/* Per second over dt; a counter that went back (a reset) gives 0. */
static double per_s(uint64_t now, uint64_t before, double dt, double scale)
{
	return dt > 0 && now >= before ? scale * (double)(now - before) / dt : 0;
}

static void rates_to_pb(const uint64_t *raw, const uint64_t *prev, double dt, Xdrop__V1__Rates *r)
{
	uint64_t pk[NV], by[NV], ppk[NV], pby[NV];
	double pps[NV], bps[NV];

	view_of(raw, pk, by);
	view_of(prev, ppk, pby);
	for (int v = 0; v < NV; v++) {
		pps[v] = per_s(pk[v], ppk[v], dt, 1);
		bps[v] = per_s(by[v], pby[v], dt, 8);
	}
	r->rx_pps = pps[V_RX];
	r->rx_bps = bps[V_RX];
	r->passed_pps = pps[V_PASSED];
	r->passed_bps = bps[V_PASSED];
	r->dropped_pps = pps[V_DROPPED];
	r->dropped_bps = bps[V_DROPPED];
	r->rate_limited_pps = pps[V_RATE_LIMITED];
	r->rate_limited_bps = bps[V_RATE_LIMITED];
	r->whitelisted_pps = pps[V_WHITELISTED];
	r->whitelisted_bps = bps[V_WHITELISTED];
	r->malformed_pps = pps[V_MALFORMED];
	r->malformed_bps = bps[V_MALFORMED];
	r->rule_dropped_pps = pps[V_RULE_DROPPED];
	r->rule_dropped_bps = bps[V_RULE_DROPPED];
	r->rule_passed_pps = pps[V_RULE_PASSED];
	r->rule_passed_bps = bps[V_RULE_PASSED];
	r->rate_limit_passed_pps = pps[V_RL_PASSED];
	r->rate_limit_passed_bps = bps[V_RL_PASSED];
	r->protected_pps = pps[V_PROTECTED];
	r->protected_bps = bps[V_PROTECTED];
	r->non_ip_pps = pps[V_NON_IP];
	r->non_ip_bps = bps[V_NON_IP];
	r->default_passed_pps = pps[V_DEFAULT];
	r->default_passed_bps = bps[V_DEFAULT];
}

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
		if (fscanf(f, "%lf %lf %lf", &s->load1, &s->load5, &s->load15) != 3)
			s->load1 = s->load5 = s->load15 = 0;
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

/* Makes room for the read times of nch stripes (new ones never read). Lock held. */
static int stripes_grow(struct stats *s, size_t nch)
{
	int64_t *m, *w;

	if (nch <= s->nchunk_at)
		return 0;
	m = realloc(s->chunk_mono, nch * sizeof(*m));
	if (m)
		s->chunk_mono = m;
	w = realloc(s->chunk_wall, nch * sizeof(*w));
	if (w)
		s->chunk_wall = w;
	if (!m || !w)
		return -ENOMEM;
	for (size_t c = s->nchunk_at; c < nch; c++)
		m[c] = w[c] = 0;
	s->nchunk_at = nch;
	return 0;
}

static size_t stripes_of(size_t nslots)
{
	return (nslots + STATS_SLOTS_PER_TICK - 1) / STATS_SLOTS_PER_TICK;
}

/* The global counters of a sample. They are read after its slots and published with them,
 * under one hold of the lock: a packet a rule's figures count is in the totals a reader
 * sees beside them (read before the slots, or published apart, a reader could see the
 * rule's figures and totals without the packet). */
struct totals {
	uint64_t c[XDROP_NCOUNTERS];
	double dt;
	bool read, put;
};

static void totals_read(struct stats *s, struct totals *t)
{
	t->read = !dataplane_counters(s->dp, t->c);
}

/* Lock held. */
static void totals_put(struct stats *s, struct totals *t)
{
	struct hist *h = &s->hist[s->hist_head];

	if (!t->read || t->put)
		return;
	memcpy(s->prev, s->c, sizeof(t->c));
	memcpy(s->c, t->c, sizeof(t->c));
	s->dt = t->dt;
	h->at = clock_wall_ns();
	h->dt = t->dt;
	memcpy(h->c, t->c, sizeof(t->c));
	s->hist_head = (s->hist_head + 1) % STATS_HISTORY;
	if (s->hist_n < STATS_HISTORY)
		s->hist_n++;
	t->put = true;
}

/* Reads every slot, with the id map rebuilt when the rule set's revision moved. The map
 * is built before the slots are read, and the pair is kept only when the revision did not
 * move meanwhile (every change that gives a slot to another entry publishes a new
 * revision): a slot's figures then belong to the entry the map names, never to an entry
 * that took the slot over later. Otherwise the previous pair stays until the next sample. */
static void sample_all(struct stats *s, uint64_t rev, bool fresh, struct totals *t)
{
	double dt = t->dt;
	struct xdrop_slot_counters *sc = NULL;
	struct idmap b = {0};
	struct figs nf;
	int64_t mono, wall;
	size_t n = 0;

	if (fresh && idmap_build(&b, s->dp, s->rs))
		return;
	if (dataplane_read_slots(s->dp, &sc, &n) || ruleset_revision(s->rs) != rev) {
		free(sc);
		idmap_free(&b);
		return;
	}
	mono = clock_mono_ns();
	wall = clock_wall_ns();
	totals_read(s, t);
	pthread_mutex_lock(&s->lock);
	if (figs_build(&nf, &s->figs, sc, n, dt) || stripes_grow(s, stripes_of(n))) {
		totals_put(s, t);
		pthread_mutex_unlock(&s->lock);
		figs_free(&nf);
		free(sc);
		idmap_free(&b);
		return;
	}
	free(sc); /* the figures keep only the pages that read something */
	if (fresh) {
		idmap_free(&s->ids);
		s->ids = b;
		s->map_rev = rev;
		s->map_valid = true;
	}
	figs_free(&s->figs);
	s->figs = nf;
	s->nslots = n;
	for (size_t c = 0; c < stripes_of(n); c++) {
		s->chunk_mono[c] = mono;
		s->chunk_wall[c] = wall;
	}
	totals_put(s, t);
	pthread_mutex_unlock(&s->lock);
}

/* Merges stripe c's fresh counters v[0..n) into the sample, with rates over the time since
 * the stripe's last read. Lock held; the stripe is within the last full read's slots. */
static void stripe_merge(struct stats *s, size_t c, const struct xdrop_slot_counters *v, size_t n,
			 int64_t mono, int64_t wall)
{
	size_t base = c * STATS_SLOTS_PER_TICK;
	double dt = s->chunk_mono[c] ? (double)(mono - s->chunk_mono[c]) / 1e9 : 0;

	/* without memory for a page, its slots keep the figures of their last read */
	figs_merge(&s->figs, base, v, n, dt);
	s->chunk_mono[c] = mono;
	s->chunk_wall[c] = wall;
}

/* The round-robin: the next stripe of slots, while the map of the last full read still
 * holds (a revision that moved meanwhile leaves it to the next sample, which reads
 * everything under a new map). */
static void sample_some(struct stats *s, uint64_t rev, struct totals *t)
{
	size_t nch = stripes_of(s->nslots), c = s->next_chunk++ % nch, n;

	if (!s->chunk && !(s->chunk = calloc(STATS_SLOTS_PER_TICK, sizeof(*s->chunk))))
		return;
	if (dataplane_read_slot_range(s->dp, c * STATS_SLOTS_PER_TICK, STATS_SLOTS_PER_TICK,
				      s->chunk, &n))
		return;
	totals_read(s, t);
	pthread_mutex_lock(&s->lock);
	if (ruleset_revision(s->rs) == rev && c < s->nchunk_at)
		stripe_merge(s, c, s->chunk, n, clock_mono_ns(), clock_wall_ns());
	totals_put(s, t);
	pthread_mutex_unlock(&s->lock);
}

/* The slots' figures: everything when the rule set moved (or nothing was read yet) or
 * when the set fits in one stripe, else the round-robin's next stripe. */
static void sample_slots(struct stats *s, struct totals *t)
{
	uint64_t rev = ruleset_revision(s->rs);
	bool fresh = !s->map_valid || rev != s->map_rev;

	if (fresh || stripes_of(s->nslots) <= 1)
		sample_all(s, rev, fresh, t);
	else
		sample_some(s, rev, t);
}

static void sample(struct stats *s, double dt)
{
	struct totals t = {.dt = dt};

	sample_slots(s, &t);
	if (!t.read) /* the slots' read did not get as far */
		totals_read(s, &t);
	pthread_mutex_lock(&s->lock);
	read_system(s);
	totals_put(s, &t);
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
	s->started_ns = clock_mono_ns();
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
	idmap_free(&s->ids);
	figs_free(&s->figs);
	free(s->chunk_mono);
	free(s->chunk_wall);
	free(s->chunk);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

uint64_t stats_agent_uptime_s(struct stats *s)
{
	return (uint64_t)((clock_mono_ns() - s->started_ns) / 1000000000);
}

void stats_capacity(struct stats *s, Xdrop__V1__Capacity *c)
{
	struct dataplane_capacity cap;

	dataplane_capacity(s->dp, &cap);
	c->exact_used = cap.exact_used;
	c->exact_max = cap.exact_max;
	c->cidr_used = cap.cidr_used;
	c->cidr_max = cap.cidr_max;
	c->rate_used = cap.rate_used;
	c->rate_max = cap.rate_max;
}

void stats_fill(struct stats *s, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r,
		Xdrop__V1__SystemStats *sys)
{
	pthread_mutex_lock(&s->lock);
	if (c)
		counters_to_pb(s->c, c);
	if (r)
		rates_to_pb(s->c, s->prev, s->dt, r);
	if (sys) {
		sys->cpu_percent = s->cpu_percent;
		sys->mem_used_bytes = s->mem_used;
		sys->mem_total_bytes = s->mem_total;
		sys->load1 = s->load1;
		sys->load5 = s->load5;
		sys->load15 = s->load15;
		sys->uptime_s = s->uptime_s;
	}
	pthread_mutex_unlock(&s->lock);
}

double stats_rule_pps(const struct stats_rule *r)
{
	return r->drop_pps > 0 ? r->drop_pps : r->match_pps;
}

void stats_rule_to_pb(const struct stats_rule *r, Xdrop__V1__RuleStats *rs)
{
	rs->match_count = r->match;
	rs->drop_count = r->drop;
	rs->match_bytes = r->match_bytes;
	rs->drop_bytes = r->drop_bytes;
	rs->match_pps = r->match_pps;
	rs->drop_pps = r->drop_pps;
	rs->match_bps = r->match_bps;
	rs->drop_bps = r->drop_bps;
	rs->pps = stats_rule_pps(r);
	rs->at = r->at;
}

void stats_rule_to_counter(const struct stats_rule *r, Xdrop__V1__RuleCounter *rc)
{
	rc->match_count = r->match;
	rc->drop_count = r->drop;
	rc->match_bytes = r->match_bytes;
	rc->drop_bytes = r->drop_bytes;
	rc->match_pps = r->match_pps;
	rc->drop_pps = r->drop_pps;
	rc->match_bps = r->match_bps;
	rc->drop_bps = r->drop_bps;
	rc->pps = stats_rule_pps(r);
	rc->kind = r->whitelist ? "whitelist" : "rule";
}

/* The figures of slot i of the last sample. Lock held. */
static void slot_rule(const struct stats *s, size_t i, bool whitelist, struct stats_rule *out)
{
	const struct xdrop_slot_counters *sc;
	const float *r;

	memset(out, 0, sizeof(*out));
	out->whitelist = whitelist;
	if (i >= s->nslots)
		return; /* a slot created after the last read: nothing counted yet */
	out->at = s->chunk_wall[i / STATS_SLOTS_PER_TICK];
	sc = figs_sc(&s->figs, i);
	r = figs_rate(&s->figs, i);
	out->match = sc->match;
	out->drop = sc->drop;
	out->match_bytes = sc->match_bytes;
	out->drop_bytes = sc->drop_bytes;
	out->match_pps = r[0];
	out->drop_pps = r[1];
	out->match_bps = r[2];
	out->drop_bps = r[3];
}

int stats_rule(struct stats *s, const char *id, struct stats_rule *out)
{
	uint32_t slots[RULESET_NKINDS];
	size_t n = ruleset_entry_slots(s->rs, id, slots); /* before s->lock: it waits on rs's */
	int err = -ENOENT;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n && err; i++)
		if (idmap_is(&s->ids, slots[i], id)) {
			slot_rule(s, slots[i], idmap_wl(&s->ids, slots[i]), out);
			err = 0;
		}
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* The sort key of slot i: its drop rate (only rules that dropped) or, with all, its match
 * rate (every entry that matched); < 0 when the slot is not listed. Lock held. */
static double top_key(const struct stats *s, size_t i, bool all)
{
	if (!idmap_id(&s->ids, i))
		return -1;
	if (all)
		return figs_sc(&s->figs, i)->match ? figs_rate(&s->figs, i)[0] : -1;
	return !idmap_wl(&s->ids, i) && figs_sc(&s->figs, i)->drop ? figs_rate(&s->figs, i)[1] : -1;
}

static size_t top_by(struct stats *s, size_t n, bool all, char **ids, struct stats_rule *out)
{
	double *key = calloc(n + 1, sizeof(*key));
	size_t k = 0;

	if (!n || !key) {
		free(key);
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	/* n is small: keep an insertion-sorted list of the best slots */
	for (size_t i = 0; i < s->nslots && i < s->ids.n; i++) {
		double v = top_key(s, i, all);
		size_t j;

		if (v < 0 || (k == n && v <= key[k - 1]))
			continue;
		j = k < n ? k++ : n - 1;
		while (j > 0 && key[j - 1] < v) {
			ids[j] = ids[j - 1];
			out[j] = out[j - 1];
			key[j] = key[j - 1];
			j--;
		}
		ids[j] = (char *)idmap_id(&s->ids, i); /* copied below, before the unlock */
		key[j] = v;
		slot_rule(s, i, idmap_wl(&s->ids, i), &out[j]);
	}
	for (size_t i = 0; i < k; i++)
		ids[i] = strdup(ids[i]);
	pthread_mutex_unlock(&s->lock);
	free(key);
	return k;
}

size_t stats_top(struct stats *s, size_t n, char **ids, struct stats_rule *out)
{
	return top_by(s, n, false, ids, out);
}

size_t stats_busiest(struct stats *s, size_t n, char **ids, struct stats_rule *out)
{
	return top_by(s, n, true, ids, out);
}

/* What was last given to one receiver for slot i: the owner's id and its counters. */
struct sent_slot {
	char *id; /* NULL: nothing sent */
	struct xdrop_slot_counters c;
};

struct stats_sent {
	struct sent_slot *v;
	size_t n;
	size_t cursor; /* next slot of the round-robin refresh */
};

struct stats_sent *stats_sent_new(void)
{
	return calloc(1, sizeof(struct stats_sent));
}

void stats_sent_free(struct stats_sent *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].id);
	free(t->v);
	free(t);
}

static int sent_grow(struct stats_sent *t, size_t n)
{
	struct sent_slot *v;

	if (n <= t->n)
		return 0;
	v = realloc(t->v, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + t->n, 0, (n - t->n) * sizeof(*v));
	t->v = v;
	t->n = n;
	return 0;
}

/* Records slot i as given to t; false when out of memory (then it is not given). */
static bool sent_mark(struct stats_sent *t, size_t i, const char *id,
		      const struct xdrop_slot_counters *c)
{
	if (!t->v[i].id || strcmp(t->v[i].id, id)) {
		char *dup = strdup(id);

		if (!dup)
			return false;
		free(t->v[i].id);
		t->v[i].id = dup;
	}
	t->v[i].c = *c;
	return true;
}

/* Slot i's entry has figures t did not get: other counters than last sent for this entry,
 * or, for an entry t never got (a new one, or a new owner of the slot), any non-zero
 * counter (a receiver takes an entry it never heard of as all zero, so zeros are not
 * sent: a million idle rules cost nothing). */
static bool sent_differs(const struct stats_sent *t, size_t i, const char *id,
			 const struct xdrop_slot_counters *c)
{
	static const struct xdrop_slot_counters zero;

	if (t->v[i].id && !strcmp(t->v[i].id, id))
		return memcmp(&t->v[i].c, c, sizeof(*c)) != 0;
	return memcmp(&zero, c, sizeof(*c)) != 0;
}

static size_t give(struct stats *s, struct stats_sent *t, size_t i, char **ids,
		   struct stats_rule *out, size_t k)
{
	const char *id = idmap_id(&s->ids, i);

	if (!sent_mark(t, i, id, figs_sc(&s->figs, i)) || !(ids[k] = strdup(id)))
		return k;
	slot_rule(s, i, idmap_wl(&s->ids, i), &out[k]);
	return k + 1;
}

size_t stats_changed(struct stats *s, struct stats_sent *t, size_t max, size_t refresh, char **ids,
		     struct stats_rule *out)
{
	size_t k = 0, n, r = 0;

	pthread_mutex_lock(&s->lock);
	n = s->nslots < s->ids.n ? s->nslots : s->ids.n;
	if (sent_grow(t, n)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	/* first the refresh: unchanged entries that counted something, a few per call (before
	 * the changed ones, which it would otherwise see as unchanged and give twice) */
	for (size_t step = 0; step < n && r < refresh; step++) {
		size_t i = (t->cursor + step) % n;
		const char *id = idmap_id(&s->ids, i);
		const struct xdrop_slot_counters *sc = figs_sc(&s->figs, i);

		if (!id || sent_differs(t, i, id, sc) || (!sc->match && !sc->drop))
			continue;
		k = give(s, t, i, ids, out, k);
		if (++r == refresh)
			t->cursor = (i + 1) % n;
	}
	for (size_t i = 0, c = 0; i < n && c < max; i++) {
		const char *id = idmap_id(&s->ids, i);

		if (id && sent_differs(t, i, id, figs_sc(&s->figs, i))) {
			k = give(s, t, i, ids, out, k);
			c++;
		}
	}
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
		struct stats_point *p = &(*out)[n];

		if (h->at < since_ns)
			continue;
		p->at = h->at;
		memcpy(p->c, h->c, sizeof(p->c));
		/* rates against the sample before, when the ring still holds it */
		if (i > 0 && h->dt > 0) {
			p->dt = h->dt;
			memcpy(p->prev, s->hist[(idx + STATS_HISTORY - 1) % STATS_HISTORY].c,
			       sizeof(p->prev));
		}
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

void stats_point_fill(const struct stats_point *p, Xdrop__V1__Counters *c, Xdrop__V1__Rates *r)
{
	if (c)
		counters_to_pb(p->c, c);
	if (r)
		rates_to_pb(p->c, p->prev, p->dt, r);
}
