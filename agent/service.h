/* SPDX-License-Identifier: MIT */
/*
 * service: the agent's RPC handlers (node-level API) and their authentication hook.
 */
#ifndef XDROP_SERVICE_H
#define XDROP_SERVICE_H

#include "authlimit.h"
#include "agent_config.h"
#include "beacon.h"
#include "rpc.h"
#include "ruleset.h"
#include "stats.h"
#include "sync.h"
#include "talkers_rpc.h"

struct service {
	const struct agent_config *cfg;
	struct ruleset *rs;
	struct stats *stats;
	struct sync *sync; /* NULL when standalone */
	void (*attach_fill)(void *arg, Xdrop__V1__AttachState *a);
	void *attach_arg;
	char node_token[XDROP_RPC_MAX_TOKEN]; /* "" when the node has no key */
	char ctl_token[XDROP_RPC_MAX_TOKEN];  /* the controller's call token (lib/nodekey.h) */
	struct authlimit *guard; /* the limiter in front of the auth hook; NULL: none */
	int64_t started_at;
	char **protected_flows; /* as text (agent/protect.h), shown by Info */
	size_t n_protected_flows;
	struct talkers_rpc top; /* TopTalkers' argument (top.t NULL: sampling off) */
};

/* Sets sv's node token (node:<id>:<key>) and the controller's call token from sv->cfg
 * (both empty when the node has no key). */
void service_tokens(struct service *sv);

/* Opens the failed-key limiter (sv->guard) and the node RPC server on
 * sv->cfg->rpc_listen with every handler, and starts it. Returns 0 with *srv set, or a
 * negative errno (*srv NULL; the server's failure logged). sv must outlive the server. */
int service_start(struct service *sv, struct rpc_server **srv);

/* Closes the server and the limiter (either may be NULL). */
void service_stop(struct service *sv, struct rpc_server *srv);

/* Registers every handler with sv as their argument. Returns 0 or -errno. */
int service_register(struct service *sv, struct rpc_server *srv);

/* The authentication hook to put in rpc_server_opts (its argument is the service). */
rpc_auth_fn service_auth(void);

#endif
