/* SPDX-License-Identifier: MIT */
/*
 * gw_config: the gateway's YAML configuration (gateway/config.example.yaml documents every
 * key), loaded once at start-up through lib/config, with every limit's default and bounds
 * as named constants. A bad file is refused with one error naming the file, line and key.
 */
#ifndef XDROP_GW_CONFIG_H
#define XDROP_GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "xdrop_limits.h"

/* Defaults of the limits (config keys under limits.* override them). */
#define GW_BODY_MAX		(1u << 20)  /* request body, bytes */
#define GW_BATCH_BODY_MAX	(8u << 20)  /* request body of the batch endpoints */
#define GW_BODY_LIMIT		(15u << 20) /* largest body_bytes, batch_body_bytes */
#define GW_BATCH_MAX_ITEMS	XDROP_BATCH_MAX
#define GW_HEADER_MAX		(16u << 10) /* request line and headers, bytes */
#define GW_MAX_CONNECTIONS	512	    /* open connections, all clients */
#define GW_PER_CLIENT_CONNS	32	    /* open connections per client address */
#define GW_REQUEST_DEADLINE_MS	10000	    /* to receive a whole request, headers and body */
#define GW_IDLE_TIMEOUT_S	30	    /* a connection idle longer is closed */
#define GW_UPSTREAM_TIMEOUT_MS	5000	    /* per upstream call */
#define GW_UPSTREAM_CONCURRENCY 32	    /* upstream calls in flight */
#define GW_UPSTREAM_QUEUE_MS	200	    /* wait for a free slot before answering 503 */
#define GW_SESSION_TTL_S	(12 * 3600) /* UI session lifetime */
#define GW_MAX_SESSIONS		1024
#define GW_LOGIN_ATTEMPTS	10 /* failed credentials per client address ... */
#define GW_LOGIN_WINDOW_S	60 /* ... per this many seconds (lib/limiter.h) */
#define GW_SSE_MAX_CLIENTS	64
#define GW_SSE_INTERVAL_MS	1000
#define GW_METRICS_RULE_SERIES	500  /* rules exported with per-rule series */
#define GW_LIST_MAX_LIMIT	1000 /* largest `limit` of a list request */
/* The UI's Content-Security-Policy unless ui.csp names another (one header line). */
#define GW_UI_CSP                                                                                  \
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                \
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
#define GW_UI_CSP_MAX	4096   /* bytes of ui.csp */
#define GW_LIST_ALL_MAX 100000 /* most items of a list without page and limit */
/* Largest `seconds` of GET /stats/history: the controller's StatsService.History refuses
 * more (XDROP_HISTORY_WINDOW_MAX_S in controller/stats.h, a controller-internal header),
 * so the gateway answers 400 itself; the two must be the same number. */
#define GW_HISTORY_MAX_S XDROP_HISTORY_MAX_S
/* GET /api/v1/stats answered from a per-credential cache (cache.h): how long a reply is
 * served (cache.stats_ttl; 0 turns the cache off), the longest the config accepts (the
 * longest beacon_interval there is: the TTL is meant to stay at or below the one in use,
 * since the counters change once per beacon), how many credentials are cached at once,
 * and the largest body cached. */
#define GW_STATS_CACHE_TTL_MS	  250
#define GW_STATS_CACHE_TTL_MAX_MS 60000
#define GW_STATS_CACHE_ENTRIES	  64
#define GW_STATS_CACHE_BODY_MAX	  (1u << 20)

struct gw_config {
	struct config *raw; /* owns every string below */
	bool node_mode;	    /* upstream.mode: "node" (one agent) or "controller" */
	const char *upstream_url;
	const char *upstream_token;
	unsigned upstream_timeout_ms;
	unsigned upstream_concurrency;
	unsigned upstream_queue_ms;
	struct tls_opts upstream_tls;
	char listen_host[64];
	unsigned listen_port;
	const char *https_cert, *https_key; /* both set: HTTPS */
	bool auth_enabled;
	unsigned session_ttl_s;
	unsigned login_attempts, login_window_s;
	unsigned limiter_slots; /* client addresses the limiter tracks (auth.limiter_slots) */
	size_t body_max, batch_body_max, header_max;
	unsigned batch_max_items;
	unsigned max_connections, per_client_connections;
	unsigned request_deadline_ms, idle_timeout_s;
	const char *ui_dir; /* "" disables the UI */
	/* v2.7's password login (auth.web_username, auth.web_password_hash): NULL when off; a
	 * session it opens acts upstream with upstream.token (required then) */
	const char *web_username, *web_password_hash;
	const char *ui_csp; /* the UI's Content-Security-Policy (ui.csp; default GW_UI_CSP) */
	unsigned sse_max_clients, sse_interval_ms;
	unsigned metrics_rule_series;
	unsigned stats_cache_ttl_ms; /* 0: GET /api/v1/stats is not cached */
	enum log_level log_level;
};

/* Loads path into *c (free with gw_config_free). Returns 0, or -EINVAL/-errno after logging
 * one clear error, with nothing left to free. */
int gw_config_load(struct gw_config *c, const char *path);
void gw_config_free(struct gw_config *c);

/*
 * Parses a listen address, for the `listen` key and the --listen flag alike: "host:port"
 * with an IPv4 host, "[v6]:port", or ":port" (every IPv4 address); the port is 0..65535
 * (0: any free port). On success writes the host without brackets ("0.0.0.0" for ":port")
 * into host (host_size bytes, NUL-terminated) and the port into *port, and returns 0.
 * Otherwise returns -EINVAL, leaves host and *port untouched and points *why at a static
 * reason for the caller's message.
 */
int gw_config_parse_listen(const char *s, char *host, size_t host_size, unsigned *port,
			   const char **why);

#endif
