/* SPDX-License-Identifier: MIT */
/*
 * authlimit: an RPC auth hook behind the failed-credential limiter (lib/limiter.h), for
 * every RPC listener that takes tokens (the controller's, the agents').
 *
 * A call that carries a token from a TCP source that has failed too often is answered
 * RESOURCE_EXHAUSTED without being checked; every UNAUTHENTICATED answer of the inner hook
 * counts against its source. Sources in `exempt` (the gateway's: it limits its own
 * clients and would otherwise be locked out for theirs) and non-IP transports (ipc://,
 * inproc://, guarded by file permissions) are not limited. HealthService, which needs no
 * token, is never refused.
 *
 * Config, under a prefix (e.g. "rpc.auth_limit"): attempts (failures per window and
 * source, default XDROP_LIMITER_ATTEMPTS), window (default XDROP_LIMITER_WINDOW_S), slots
 * (sources tracked, default XDROP_LIMITER_SLOTS), exempt (addresses or prefixes; default
 * 127.0.0.1 and ::1, `[]` for none).
 */
#ifndef XDROP_AUTHLIMIT_H
#define XDROP_AUTHLIMIT_H

#include <stddef.h>

#include "addr.h"
#include "config.h"
#include "limiter.h"
#include "rpc.h"

struct authlimit_cfg {
	unsigned attempts, window_s, slots;
	struct addr_prefix *exempt; /* owned; authlimit_cfg_free */
	size_t n_exempt;
};

/* Reads prefix.* from c into *out. Returns 0 or -EINVAL (config_error names the key),
 * -ENOMEM. Free with authlimit_cfg_free (also after an error). */
int authlimit_cfg_load(struct config *c, const char *prefix, struct authlimit_cfg *out);
void authlimit_cfg_free(struct authlimit_cfg *cfg);

struct authlimit;

/* A guard around inner(call, token, inner_arg) with cfg (copied). Returns 0 and *out
 * (authlimit_close), -EINVAL, -ENOMEM. */
int authlimit_open(struct authlimit **out, const struct authlimit_cfg *cfg, rpc_auth_fn inner,
		   void *inner_arg);
void authlimit_close(struct authlimit *g);

/* The rpc auth hook; arg is the struct authlimit. */
enum rpc_code authlimit_hook(struct rpc_call *call, const char *token, void *arg);

#endif
