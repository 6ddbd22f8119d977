/* SPDX-License-Identifier: MIT */
/*
 * bench_cmp: the per-packet rows of issue 16 beside the trivial program and xdp-filter
 * (bench/bench_cmp.c). Rows go to stdout in bench_dp's format with two more columns, the
 * two xdp-filter figures.
 */
#ifndef XDROP_BENCH_CMP_H
#define XDROP_BENCH_CMP_H

#include <stdint.h>

#include "dataplane.h"

struct cmp_opts {
	uint32_t repeat;
	int runs;
	uint32_t nrules; /* the single-field source set */
	uint32_t trials; /* random rule sets searched */
	int trivial_fd;
	int xf_all_fd; /* xdp-filter, all features (-1: not measured) */
	int xf_ip_fd;  /* xdp-filter -f ipv4,ipv6 (-1: not measured) */
};

/* Replaces the data plane's rules set by set; returns 0 or -errno. */
int cmp_run(struct dataplane *dp, const struct cmp_opts *o);

#endif
