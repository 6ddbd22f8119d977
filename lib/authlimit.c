// SPDX-License-Identifier: MIT
/*
 * authlimit: the limiter in front of an RPC auth hook (see authlimit.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authlimit.h"

struct authlimit {
	struct limiter *limiter;
	struct addr_prefix *exempt;
	size_t n_exempt;
	rpc_auth_fn inner;
	void *inner_arg;
};

int authlimit_cfg_load(struct config *c, const char *prefix, struct authlimit_cfg *out)
{
	static const char *const loopback[] = {"127.0.0.1", "::1", NULL};
	const char *const *list = loopback;
	size_t n = 2;
	uint64_t u, ms;
	char k[128];
	int err;

	memset(out, 0, sizeof(*out));
	snprintf(k, sizeof(k), "%s.attempts", prefix);
	err = config_get_u64(c, k, XDROP_LIMITER_ATTEMPTS, 1, 100000, &u);
	out->attempts = (unsigned)u;
	snprintf(k, sizeof(k), "%s.window", prefix);
	err = err
		  ?: config_get_duration_ms(c, k, XDROP_LIMITER_WINDOW_S * 1000ull, 1000, 86400000,
					    &ms);
	out->window_s = (unsigned)(ms / 1000);
	snprintf(k, sizeof(k), "%s.slots", prefix);
	err = err ?: config_get_u64(c, k, XDROP_LIMITER_SLOTS, 1, 1u << 20, &u);
	out->slots = (unsigned)u;
	snprintf(k, sizeof(k), "%s.exempt", prefix);
	if (!err && config_has(c, k))
		err = config_get_strlist(c, k, &list, &n);
	if (err)
		return err;
	out->exempt = calloc(n + 1, sizeof(*out->exempt));
	if (!out->exempt)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;

		if (addr_parse_prefix(list[i], &out->exempt[i], &why))
			return config_fail(c, k, "%s: %s", list[i], why);
	}
	out->n_exempt = n;
	return 0;
}

void authlimit_cfg_free(struct authlimit_cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->exempt);
	cfg->exempt = NULL;
	cfg->n_exempt = 0;
}

int authlimit_open(struct authlimit **out, const struct authlimit_cfg *cfg, rpc_auth_fn inner,
		   void *inner_arg)
{
	struct authlimit *g;
	int err;

	*out = NULL;
	if (!cfg || !inner)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->inner = inner;
	g->inner_arg = inner_arg;
	g->exempt = calloc(cfg->n_exempt + 1, sizeof(*g->exempt));
	err = g->exempt ? limiter_open(&g->limiter, cfg->slots, cfg->attempts, cfg->window_s)
			: -ENOMEM;
	if (err) {
		authlimit_close(g);
		return err;
	}
	if (cfg->n_exempt)
		memcpy(g->exempt, cfg->exempt, cfg->n_exempt * sizeof(*g->exempt));
	g->n_exempt = cfg->n_exempt;
	*out = g;
	return 0;
}

void authlimit_close(struct authlimit *g)
{
	if (!g)
		return;
	limiter_close(g->limiter);
	free(g->exempt);
	free(g);
}

/* The limiter's source of call, or false when it is not limited (exempt, not IP). */
static bool limited_source(const struct authlimit *g, struct rpc_call *call,
			   struct limiter_src *src)
{
	const struct sockaddr *sa = rpc_call_peer(call);
	struct xdrop_addr a;

	if (!sa || limiter_src_from_sockaddr(sa, src))
		return false;
	memcpy(&a, src->b, sizeof(a)); /* IPv4-mapped IPv6, as addr.h holds addresses */
	if (sa->sa_family == AF_INET6) /* the exempt list is checked on the full address */
		memcpy(&a, &((const struct sockaddr_in6 *)sa)->sin6_addr, sizeof(a));
	for (size_t i = 0; i < g->n_exempt; i++)
		if (addr_prefix_contains(&g->exempt[i], &a))
			return false;
	return true;
}

enum rpc_code authlimit_hook(struct rpc_call *call, const char *token, void *arg)
{
	struct authlimit *g = arg;
	struct limiter_src src;
	unsigned retry = 0;
	bool limited = token && token[0] && limited_source(g, call, &src);
	enum rpc_code rc;

	if (limited && strcmp(rpc_call_service(call), "xdrop.v1.HealthService") != 0 &&
	    limiter_check(g->limiter, &src, &retry) == -EAGAIN)
		return rpc_call_error(
		    call, RPC_RESOURCE_EXHAUSTED, NULL,
		    "too many failed credentials from this address; retry in %u s", retry);
	rc = g->inner(call, token, g->inner_arg);
	if (rc == RPC_UNAUTHENTICATED && limited)
		limiter_fail(g->limiter, &src);
	return rc;
}
