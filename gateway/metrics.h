/* SPDX-License-Identifier: MIT */
/*
 * metrics: GET /metrics in the Prometheus text exposition format (version 0.0.4), by
 * Prometheus's naming conventions: one HELP and TYPE per family, counters *_total, units
 * in names, label values escaped.
 *
 * Families (docs/operations.md#metrics has every name, label and meaning): the gateway's
 * own (requests, refusals, limiter, upstream calls, ...); xdrop_build_info; per node
 * (label node = its name): info, up, one-hot status and filtering, last seen, revision,
 * rules, table use, figure age, and the traffic counters xdrop_packets_total and
 * xdrop_bytes_total by exclusive verdict and reason beside xdrop_received_*_total (no
 * cluster series: a cluster figure is a sum() in PromQL); per rule (label rule_id) and
 * per whitelist entry (entry_id): matched and dropped packets and bytes and an _info
 * series with the name, for at most metrics.max_rule_series of each kind, the busiest
 * first (xdrop_{rule,whitelist}_series_omitted counts the rest).
 */
#ifndef XDROP_GW_METRICS_H
#define XDROP_GW_METRICS_H

#include "http.h"

int metrics_serve(struct http_request *rq, struct http_reply *rp);

#endif
