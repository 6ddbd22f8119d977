/* SPDX-License-Identifier: MIT */
/*
 * metrics_int: what the parts of /metrics share (metrics.c writes the gateway's own
 * families and runs a scrape, metrics_fleet.c the nodes' and their traffic,
 * metrics_rules.c the per-rule and per-whitelist-entry series): the exposition writers,
 * so that every sample line is escaped and formatted in one place, and what one scrape
 * fetched from the upstream.
 */
#ifndef XDROP_GW_METRICS_INT_H
#define XDROP_GW_METRICS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "http.h"
#include "xdrop.pb-c.h"

/* One label of a sample; a list of them ends with a NULL name. */
struct mx_label {
	const char *name, *value;
};

/* The HELP and TYPE lines of a family: written once, before its samples. */
void mx_family(FILE *f, const char *name, const char *type, const char *help);

/* One sample `name{labels} value`; l may be NULL (no labels). Label values are escaped as
 * the exposition format asks (\\, \", \n). */
void mx_u64(FILE *f, const char *name, const struct mx_label *l, uint64_t v);
void mx_f64(FILE *f, const char *name, const struct mx_label *l, double v);

/* What one scrape fetched; every pointer is borrowed and may be NULL when that call
 * failed (stats NULL: the upstream did not answer). */
struct mx_scrape {
	const Xdrop__V1__StatsReply *stats;
	const Xdrop__V1__ListNodesResponse *nodes; /* controller mode */
	const Xdrop__V1__InfoReply *info;	   /* the upstream's StatsService.Info */
	bool node_mode;
	const char *upstream_url;
};

/* The node families and the traffic counters per node (metrics_fleet.c). */
void metrics_fleet(FILE *f, const struct mx_scrape *s);

/* The per-rule and per-whitelist-entry families, at most cap series per kind (the rest
 * counted in xdrop_{rule,whitelist}_series_omitted); fetches what it needs through rq's
 * credentials (metrics_rules.c). */
void metrics_rules(FILE *f, struct http_request *rq, unsigned cap);

#endif
