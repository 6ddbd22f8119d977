/* SPDX-License-Identifier: MIT */
/*
 * sse: GET /api/v1/events, a Server-Sent Events stream (text/event-stream).
 *
 * Each stream polls the upstream with its caller's credentials every events.interval and
 * sends:
 *   event: stats    data: the /api/v1/stats JSON, every tick
 *   event: rules    data: {"revision", "content_hash", "rules", "whitelist"} when the rule
 *                   set changed (revision or hash moved)
 *   event: nodes    data: {"nodes": [{"id", "name", "status", "applied_revision"}]} when a
 *                   node's status or revision changed (controller mode)
 *   event: error    data: {"error", "code"} when the upstream call fails (the stream stays
 *                   open and retries at the next tick; 401/403 end it)
 * Every event has an id (a counter); a comment line keeps idle proxies from closing the
 * stream. At most events.max_clients streams at once (503 beyond).
 */
#ifndef XDROP_GW_SSE_H
#define XDROP_GW_SSE_H

#include "http.h"

int sse_events(struct http_request *rq, struct http_reply *rp);

#endif
