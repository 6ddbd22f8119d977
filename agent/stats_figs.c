// SPDX-License-Identifier: MIT
/*
 * stats_figs: the sampler's per-slot figures in pages (see stats_figs.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats_figs.h"

struct figpage {
	struct xdrop_slot_counters sc[STATS_FIG_PAGE];
	float rate[4 * STATS_FIG_PAGE];
};

static const struct xdrop_slot_counters zero_sc;
static const float zero_rate[4];

static size_t npages(size_t n)
{
	return (n + STATS_FIG_PAGE - 1) / STATS_FIG_PAGE;
}

static const struct figpage *page_of(const struct figs *f, size_t i)
{
	return i < f->n ? f->pages[i / STATS_FIG_PAGE] : NULL;
}

const struct xdrop_slot_counters *figs_sc(const struct figs *f, size_t i)
{
	const struct figpage *p = page_of(f, i);

	return p ? &p->sc[i % STATS_FIG_PAGE] : &zero_sc;
}

const float *figs_rate(const struct figs *f, size_t i)
{
	const struct figpage *p = page_of(f, i);

	return p ? &p->rate[4 * (i % STATS_FIG_PAGE)] : zero_rate;
}

/* Per second over dt; a counter that went back (a slot reused by another entry restarts
 * from zero) gives 0. */
static float per_s(uint64_t now, uint64_t before, double dt, double scale)
{
	return dt > 0 && now >= before ? (float)(scale * (double)(now - before) / dt) : 0;
}

/* Whether v[0..n) are all zero. */
static bool all_zero(const struct xdrop_slot_counters *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].match || v[i].drop || v[i].match_bytes || v[i].drop_bytes)
			return false;
	return true;
}

/* The page of slots base..base+n (n <= a page) from fresh counters v against the figures
 * before (prev; a slot it did not cover has no rate yet), into *out: NULL when all read
 * zero (the rates are then zero too: a counter can only fall back to zero, which gives no
 * rate). 0 or -ENOMEM. */
static int page_make(const struct figs *prev, size_t base, const struct xdrop_slot_counters *v,
		     size_t n, double dt, struct figpage **out)
{
	struct figpage *p;

	*out = NULL;
	if (all_zero(v, n))
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct xdrop_slot_counters *b = figs_sc(prev, base + i);
		float *r = &p->rate[4 * i];

		p->sc[i] = v[i];
		if (base + i >= prev->n)
			continue; /* not read before: no rate yet */
		r[0] = per_s(v[i].match, b->match, dt, 1);
		r[1] = per_s(v[i].drop, b->drop, dt, 1);
		r[2] = per_s(v[i].match_bytes, b->match_bytes, dt, 8);
		r[3] = per_s(v[i].drop_bytes, b->drop_bytes, dt, 8);
	}
	*out = p;
	return 0;
}

static size_t page_len(size_t n, size_t pg)
{
	size_t base = pg * STATS_FIG_PAGE;

	return n - base < STATS_FIG_PAGE ? n - base : STATS_FIG_PAGE;
}

int figs_build(struct figs *out, const struct figs *prev, const struct xdrop_slot_counters *sc,
	       size_t n, double dt)
{
	memset(out, 0, sizeof(*out));
	out->pages = calloc(npages(n) + 1, sizeof(*out->pages));
	if (!out->pages)
		return -ENOMEM;
	out->n = n;
	for (size_t pg = 0; pg < npages(n); pg++) {
		size_t base = pg * STATS_FIG_PAGE;

		if (page_make(prev, base, sc + base, page_len(n, pg), dt, &out->pages[pg])) {
			figs_free(out);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Slots base..base+n of page pg (within it) take the fresh counters v, rates over dt against
 * what they held; a page that then reads zero throughout is dropped. 0 or -ENOMEM. */
static int page_merge(struct figs *f, size_t pg, size_t base, const struct xdrop_slot_counters *v,
		      size_t n, double dt)
{
	struct figpage *p = f->pages[pg];
	size_t off = base % STATS_FIG_PAGE;

	if (!p && all_zero(v, n))
		return 0; /* zero before, zero now: no rate either */
	if (!p && !(p = f->pages[pg] = calloc(1, sizeof(*p))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct xdrop_slot_counters *b = &p->sc[off + i];
		float *r = &p->rate[4 * (off + i)];

		r[0] = per_s(v[i].match, b->match, dt, 1);
		r[1] = per_s(v[i].drop, b->drop, dt, 1);
		r[2] = per_s(v[i].match_bytes, b->match_bytes, dt, 8);
		r[3] = per_s(v[i].drop_bytes, b->drop_bytes, dt, 8);
		*b = v[i];
	}
	if (all_zero(p->sc, page_len(f->n, pg))) { /* zero counters have zero rates */
		free(p);
		f->pages[pg] = NULL;
	}
	return 0;
}

int figs_merge(struct figs *f, size_t base, const struct xdrop_slot_counters *v, size_t n,
	       double dt)
{
	int err = 0;

	if (base >= f->n)
		return 0;
	if (n > f->n - base)
		n = f->n - base;
	for (size_t i = 0; i < n && !err;) {
		size_t at = base + i, len = STATS_FIG_PAGE - at % STATS_FIG_PAGE;

		if (len > n - i)
			len = n - i;
		err = page_merge(f, at / STATS_FIG_PAGE, at, v + i, len, dt);
		i += len;
	}
	return err;
}

void figs_free(struct figs *f)
{
	for (size_t pg = 0; f->pages && pg < npages(f->n); pg++)
		free(f->pages[pg]);
	free(f->pages);
	memset(f, 0, sizeof(*f));
}
