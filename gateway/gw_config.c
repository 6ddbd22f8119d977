// SPDX-License-Identifier: MIT
/*
 * gw_config: reads gateway/config.example.yaml's keys (see gw_config.h). Unknown keys are
 * refused; every getter names the line of a bad value.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "limiter.h"
#include "webpass.h"

static const char *const known_keys[] = {
    "upstream.mode",
    "upstream.url",
    "upstream.token",
    "upstream.timeout",
    "upstream.max_concurrency",
    "upstream.queue_wait",
    "upstream.tls.ca_file",
    "upstream.tls.cert_file",
    "upstream.tls.key_file",
    "upstream.tls.server_name",
    "upstream.tls.verify_server_name",
    "listen",
    "https.cert_file",
    "https.key_file",
    "auth.enabled",
    "auth.session_ttl",
    "auth.login_attempts",
    "auth.login_window",
    "auth.limiter_slots",
    "auth.web_username",
    "auth.web_password_hash",
    "limits.body_bytes",
    "limits.batch_body_bytes",
    "limits.batch_max_items",
    "limits.header_bytes",
    "limits.max_connections",
    "limits.per_client_connections",
    "limits.request_deadline",
    "limits.idle_timeout",
    "ui.dir",
    "ui.csp",
    "events.max_clients",
    "events.interval",
    "metrics.max_rule_series",
    "cache.stats_ttl",
    "log_level",
    NULL,
};

/* ui.csp: one header value: printable, no control characters (a newline would split the
 * header), not empty, at most GW_UI_CSP_MAX bytes. */
static int check_csp(struct config *raw, const char *csp)
{
	size_t n = strlen(csp);

	if (!n || n > GW_UI_CSP_MAX)
		return config_fail(raw, "ui.csp", "1 to %d bytes", GW_UI_CSP_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)csp[i] < 0x20 || csp[i] == 0x7f)
			return config_fail(raw, "ui.csp", "a control character at byte %zu", i);
	return 0;
}

/* auth.web_username and auth.web_password_hash: both or neither, a well-formed hash, and
 * upstream.token (the key a password session acts with). */
static int check_web_login(struct config *raw, struct gw_config *c)
{
	int err;

	if ((err = config_get_str(raw, "auth.web_username", NULL, &c->web_username)) ||
	    (err = config_get_str(raw, "auth.web_password_hash", NULL, &c->web_password_hash)))
		return err;
	if (!c->web_username && !c->web_password_hash)
		return 0;
	if (!c->web_username || !*c->web_username || strlen(c->web_username) > 128)
		return config_fail(raw, "auth.web_username",
				   "1 to 128 bytes, with auth.web_password_hash");
	if (!c->web_password_hash || webpass_check(c->web_password_hash))
		return config_fail(raw, "auth.web_password_hash",
				   "the value xdrop-gateway --hash-password prints");
	if (!*c->upstream_token)
		return config_fail(raw, "auth.web_username",
				   "needs upstream.token: the key a password session acts with");
	return 0;
}

int gw_config_parse_listen(const char *s, char *host, size_t host_size, unsigned *port,
			   const char **why)
{
	const char *colon = strrchr(s, ':');
	const char *h = s;
	char buf[INET6_ADDRSTRLEN];
	unsigned char addr[sizeof(struct in6_addr)];
	bool v6 = false;
	size_t hl;
	char *end;
	unsigned long p;

	if (!colon) {
		*why = "expected host:port, [v6]:port or :port";
		return -EINVAL;
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end || errno || p > 65535) {
		*why = "expected a port from 0 to 65535 after the last ':'";
		return -EINVAL;
	}
	hl = (size_t)(colon - s);
	if (hl && s[0] == '[') {
		if (s[hl - 1] != ']') {
			*why = "expected [v6]:port";
			return -EINVAL;
		}
		h++;
		hl -= 2;
		v6 = true;
	}
	if (hl >= sizeof(buf)) {
		*why = "host too long";
		return -EINVAL;
	}
	memcpy(buf, h, hl);
	buf[hl] = 0;
	if (!hl && !v6) {
		snprintf(buf, sizeof(buf), "0.0.0.0");
	} else if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1) {
		*why = v6 ? "the host is not an IPv6 address"
			  : "the host is not an IPv4 address (write IPv6 as [v6]:port)";
		return -EINVAL;
	}
	if (strlen(buf) >= host_size) {
		*why = "host too long";
		return -EINVAL;
	}
	strcpy(host, buf);
	*port = (unsigned)p;
	return 0;
}

static int get_uint(struct config *raw, const char *key, uint64_t def, uint64_t min, uint64_t max,
		    unsigned *out)
{
	uint64_t v;
	int err = config_get_u64(raw, key, def, min, max, &v);

	if (!err)
		*out = (unsigned)v;
	return err;
}

static int get_ms(struct config *raw, const char *key, uint64_t def, uint64_t min, uint64_t max,
		  unsigned *out)
{
	uint64_t v;
	int err = config_get_duration_ms(raw, key, def, min, max, &v);

	if (!err)
		*out = (unsigned)v;
	return err;
}

static int load(struct gw_config *c)
{
	struct config *raw = c->raw;
	const char *mode, *listen, *level, *why = NULL;
	unsigned v = 0;
	uint64_t u;
	bool verify_name = true;
	int err;

	if ((err = config_check_keys(raw, known_keys)) ||
	    (err = config_get_str(raw, "upstream.mode", "controller", &mode)))
		return err;
	if (strcmp(mode, "controller") && strcmp(mode, "node"))
		return config_fail(raw, "upstream.mode", "expected controller or node");
	c->node_mode = !strcmp(mode, "node");
	if ((err = config_get_addrs(raw, "upstream.url", &c->upstream_url)))
		return err;
	if (!c->upstream_url) /* several controllers: a list, or joined by commas */
		c->upstream_url = c->node_mode ? "tcp://127.0.0.1:7600" : "tcp://127.0.0.1:7700";
	if ((err = config_get_str(raw, "upstream.token", "", &c->upstream_token)) ||
	    (err = get_ms(raw, "upstream.timeout", GW_UPSTREAM_TIMEOUT_MS, 100, 600000,
			  &c->upstream_timeout_ms)) ||
	    (err = get_uint(raw, "upstream.max_concurrency", GW_UPSTREAM_CONCURRENCY, 1, 1024,
			    &c->upstream_concurrency)) ||
	    (err = get_ms(raw, "upstream.queue_wait", GW_UPSTREAM_QUEUE_MS, 0, 60000,
			  &c->upstream_queue_ms)) ||
	    (err = config_get_str(raw, "upstream.tls.ca_file", NULL, &c->upstream_tls.ca_file)) ||
	    (err =
		 config_get_str(raw, "upstream.tls.cert_file", NULL, &c->upstream_tls.cert_file)) ||
	    (err = config_get_str(raw, "upstream.tls.key_file", NULL, &c->upstream_tls.key_file)) ||
	    (err = config_get_str(raw, "upstream.tls.server_name", NULL,
				  &c->upstream_tls.server_name)) ||
	    (err = config_get_bool(raw, "upstream.tls.verify_server_name", true, &verify_name)))
		return err;
	c->upstream_tls.skip_name_check = !verify_name;
	if (strlen(c->upstream_token) > 512)
		return config_fail(raw, "upstream.token", "at most 512 characters");
	if ((err = config_get_str(raw, "listen", "127.0.0.1:8000", &listen)))
		return err;
	if (gw_config_parse_listen(listen, c->listen_host, sizeof(c->listen_host), &c->listen_port,
				   &why))
		return config_fail(raw, "listen", "\"%.64s\": %s", listen, why);
	if ((err = config_get_str(raw, "https.cert_file", NULL, &c->https_cert)) ||
	    (err = config_get_str(raw, "https.key_file", NULL, &c->https_key)))
		return err;
	if (!c->https_cert != !c->https_key)
		return config_fail(raw, c->https_cert ? "https.key_file" : "https.cert_file",
				   "https needs both cert_file and key_file");
	if ((err = config_get_bool(raw, "auth.enabled", true, &c->auth_enabled)) ||
	    (err = get_ms(raw, "auth.session_ttl", GW_SESSION_TTL_S * 1000ull, 60000,
			  30ull * 86400 * 1000, &v)))
		return err;
	c->session_ttl_s = v / 1000;
	if ((err = get_uint(raw, "auth.login_attempts", GW_LOGIN_ATTEMPTS, 1, 1000,
			    &c->login_attempts)) ||
	    (err =
		 get_ms(raw, "auth.login_window", GW_LOGIN_WINDOW_S * 1000ull, 1000, 86400000, &v)))
		return err;
	c->login_window_s = v / 1000;
	if ((err = get_uint(raw, "auth.limiter_slots", XDROP_LIMITER_SLOTS, 1, 1u << 20,
			    &c->limiter_slots)))
		return err;
	if ((err = config_get_u64(raw, "limits.body_bytes", GW_BODY_MAX, 1024, GW_BODY_LIMIT, &u)))
		return err;
	c->body_max = u;
	if ((err = config_get_u64(raw, "limits.batch_body_bytes", GW_BATCH_BODY_MAX, 1024,
				  GW_BODY_LIMIT, &u)))
		return err;
	c->batch_body_max = u;
	/* a batch route takes any body a plain one does; name the key the file sets */
	if (c->batch_body_max < c->body_max) {
		if (config_has(raw, "limits.batch_body_bytes"))
			return config_fail(raw, "limits.batch_body_bytes",
					   "%zu is below limits.body_bytes (%zu)",
					   c->batch_body_max, c->body_max);
		return config_fail(
		    raw, "limits.body_bytes",
		    "%zu is above limits.batch_body_bytes (default %zu); raise that too",
		    c->body_max, c->batch_body_max);
	}
	if ((err = config_get_u64(raw, "limits.header_bytes", GW_HEADER_MAX, 4096, 1u << 20, &u)))
		return err;
	c->header_max = u;
	if ((err = get_uint(raw, "limits.batch_max_items", GW_BATCH_MAX_ITEMS, 1, 1000000,
			    &c->batch_max_items)) ||
	    (err = get_uint(raw, "limits.max_connections", GW_MAX_CONNECTIONS, 4, 100000,
			    &c->max_connections)) ||
	    (err = get_uint(raw, "limits.per_client_connections", GW_PER_CLIENT_CONNS, 1, 100000,
			    &c->per_client_connections)) ||
	    (err = get_ms(raw, "limits.request_deadline", GW_REQUEST_DEADLINE_MS, 100, 600000,
			  &c->request_deadline_ms)) ||
	    (err = get_ms(raw, "limits.idle_timeout", GW_IDLE_TIMEOUT_S * 1000ull, 1000, 3600000,
			  &v)))
		return err;
	c->idle_timeout_s = v / 1000;
	if ((err = config_get_str(raw, "ui.dir", "webui/dist", &c->ui_dir)) ||
	    (err = config_get_str(raw, "ui.csp", GW_UI_CSP, &c->ui_csp)) ||
	    (err = get_uint(raw, "events.max_clients", GW_SSE_MAX_CLIENTS, 1, 10000,
			    &c->sse_max_clients)) ||
	    (err = get_ms(raw, "events.interval", GW_SSE_INTERVAL_MS, 100, 60000,
			  &c->sse_interval_ms)) ||
	    (err = get_uint(raw, "metrics.max_rule_series", GW_METRICS_RULE_SERIES, 0, 100000,
			    &c->metrics_rule_series)) ||
	    (err = get_ms(raw, "cache.stats_ttl", GW_STATS_CACHE_TTL_MS, 0,
			  GW_STATS_CACHE_TTL_MAX_MS, &c->stats_cache_ttl_ms)) ||
	    (err = config_get_str(raw, "log_level", "info", &level)))
		return err;
	if ((err = check_web_login(raw, c)))
		return err;
	if ((err = check_csp(raw, c->ui_csp)))
		return err;
	if (log_level_parse(level, &c->log_level))
		return config_fail(raw, "log_level", "expected error, warn, info or debug");
	return 0;
}

int gw_config_load(struct gw_config *c, const char *path)
{
	int err;

	memset(c, 0, sizeof(*c));
	err = config_load(&c->raw, path);
	if (!err)
		err = load(c);
	if (err) {
		log_error("%s",
			  c->raw && *config_error(c->raw) ? config_error(c->raw) : strerror(-err));
		gw_config_free(c);
	}
	return err;
}

void gw_config_free(struct gw_config *c)
{
	config_free(c->raw);
	memset(c, 0, sizeof(*c));
}
