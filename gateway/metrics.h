/* SPDX-License-Identifier: MIT */
/*
 * metrics: GET /metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Series: the gateway's own (requests by status class, body refusals, deadline cuts,
 * upstream calls by code, upstream refusals, open connections and streams); cluster
 * packet counters and rates; per node (label node): packet counters, rates, rules,
 * applied revision, up; per rule (label rule_id): match and drop counters and rate, for
 * at most metrics.max_rule_series rules, those with the most drops first
 * (xdrop_rule_series_omitted says how many were left out). Label values are escaped.
 */
#ifndef XDROP_GW_METRICS_H
#define XDROP_GW_METRICS_H

#include "http.h"

int metrics_serve(struct http_request *rq, struct http_reply *rp);

#endif
