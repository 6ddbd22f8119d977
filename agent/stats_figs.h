/* SPDX-License-Identifier: MIT */
/*
 * stats_figs: the sampler's per-slot figures (the counters of the last read and the rates
 * over the window before it), in pages of STATS_FIG_PAGE slots where a page whose slots
 * all read zero is not kept: a rule that never matched costs nothing here. A blocklist's
 * rules mostly never match; kept dense, the figures of a million slots took 48 MiB
 * (32 bytes of counters and 16 of rates each).
 */
#ifndef XDROP_STATS_FIGS_H
#define XDROP_STATS_FIGS_H

#include <stddef.h>
#include <stdint.h>

#include "xdrop.h"

#define STATS_FIG_PAGE 256

struct figs {
	struct figpage **pages; /* per page of slots: NULL when all its figures are zero */
	size_t n;		/* slots covered */
};

/* The counters of slot i (zero past n or on a page not kept). */
const struct xdrop_slot_counters *figs_sc(const struct figs *f, size_t i);
/* Its 4 rates: match pps, drop pps, match bps, drop bps (single precision: 7 digits are more
 * than a rate sampled once a second carries). */
const float *figs_rate(const struct figs *f, size_t i);

/* The figures of a full read sc[0..n), with rates over dt against prev. 0 or -ENOMEM (*out
 * then empty). */
int figs_build(struct figs *out, const struct figs *prev, const struct xdrop_slot_counters *sc,
	       size_t n, double dt);
/* Merges fresh counters v[0..n) of slots base.. (< f->n) into f, rates over dt. 0 or
 * -ENOMEM (a page that could not be kept keeps its previous figures). */
int figs_merge(struct figs *f, size_t base, const struct xdrop_slot_counters *v, size_t n,
	       double dt);
void figs_free(struct figs *f);

#endif
