/* SPDX-License-Identifier: MIT */
/*
 * protect: the agent's protected control flows. An agent must never drop its own control
 * traffic: one broad drop rule on a node whose management crosses the filtered interface
 * would otherwise cut it off from its controller for good (the deletion could never
 * arrive). From the agent config this module derives the flows between the agent and its
 * controller, and writes them to the data plane's xdrop_protect map, which the XDP program
 * checks before the whitelist and every rule.
 *
 * The flows, all TCP (every nng stream transport runs over TCP):
 *   - from each controller address, source port = the port of controller.rpc, .push or
 *     .health: replies on the connections the agent opens to those listeners;
 *   - from each controller address to the port of rpc.listen: the controller dialling the
 *     agent (force sync, per-rule stats).
 * Narrow by design: an address and a port together, never a whole host. Controller host
 * names are resolved once, at start-up (every address they resolve to is protected);
 * ipc:// and inproc:// need no entry. The agent config key protect_control (default true)
 * turns it off. docs/dataplane.md, "Protected control flows", has the full text.
 */
#ifndef XDROP_PROTECT_H
#define XDROP_PROTECT_H

#include <stddef.h>

#include "agent_config.h"
#include "dataplane.h"
#include "xdrop.h"

#define PROTECT_TEXT_LEN 96 /* one flow as text */

struct protect_set {
	struct xdrop_protect_key keys[XDROP_MAX_PROTECT];
	struct xdrop_protect_val vals[XDROP_MAX_PROTECT];
	size_t n; /* keys/vals in use */
	/* the flows as text, e.g. "tcp 192.0.2.10:7700 -> agent (controller.rpc)" */
	char text[XDROP_MAX_PROTECT * 4][PROTECT_TEXT_LEN];
	char *textp[XDROP_MAX_PROTECT * 4]; /* pointers into text, for protobuf */
	size_t ntext;
};

/* Derives the protected flows from the config into *out (empty when protect_control is
 * false or no controller is configured). Returns 0; -EINVAL after logging an error naming
 * the config key (a URL that cannot be parsed, too many addresses); or -EAGAIN after a
 * warning when a controller host name does not resolve now (the caller then leaves the
 * data plane's protected flows as they are). */
int protect_build(const struct agent_config *c, struct protect_set *out);

/* Writes the set to the data plane (an empty set turns protection off there). Returns 0
 * or a negative errno. */
int protect_apply(struct dataplane *dp, const struct protect_set *ps);

#endif
