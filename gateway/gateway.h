/* SPDX-License-Identifier: MIT */
/*
 * gateway: the state every part of xdrop-gateway shares, built by main.c in this order:
 * config, upstream (the RPC client), auth (sessions, login limiter), the stats cache
 * (cache.h), metrics counters, then the HTTP server (http.h), which hands each request to
 * the handler main.c gives it: routes.c's (route table, authentication, UI fallback).
 *
 * The gateway keeps no rule state of its own: every /api/v1 request becomes one or a few
 * RPC calls to the upstream (a controller, or one agent in node mode) carrying the
 * caller's API key, so the upstream is the one place where keys are checked (hashed and
 * in constant time on the controller; the agent compares its configured keys in constant
 * time). See auth.h for what the gateway itself checks. The one exception: GET
 * /api/v1/stats may be answered from a per-key cache for cache.stats_ttl (cache.h), so a
 * key revoked upstream may go on reading stats for at most that long.
 */
#ifndef XDROP_GATEWAY_H
#define XDROP_GATEWAY_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gw_config.h"
#include "xdrop_limits.h"

#define XDROP_GATEWAY_NAME    "xdrop-gateway"
#define XDROP_GATEWAY_VERSION XDROP_VERSION

struct upstream;
struct auth;
struct cache;

/* Counters for /metrics, updated lock-free by connection threads. */
struct gw_counters {
	atomic_uint_fast64_t http_status[6]; /* by class: [1]=1xx .. [5]=5xx */
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t body_too_large;
	atomic_uint_fast64_t deadline_cut;
	atomic_uint_fast64_t upstream_busy;
	atomic_uint_fast64_t login_failed;
	atomic_uint_fast64_t login_limited;
	/* GET /api/v1/stats answered from the cache */
	atomic_uint_fast64_t stats_cached;
	atomic_uint_fast64_t connections; /* open now */
	atomic_uint_fast64_t sse_clients; /* open now */
};

struct gateway {
	const struct gw_config *cfg;
	struct upstream *up;
	struct auth *auth;
	struct cache *stats_cache; /* GET /api/v1/stats bodies; NULL: cache.stats_ttl is 0 */
	struct gw_counters ctr;
	int64_t started_at; /* ns since the epoch */
	volatile sig_atomic_t stopping;
};

#endif
