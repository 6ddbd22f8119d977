/* SPDX-License-Identifier: MIT */
/*
 * upstream: the gateway's one RPC client to its upstream (controller or agent), with a
 * bound on calls in flight. A request that finds every slot taken waits at most
 * upstream.queue_wait, then is answered UNAVAILABLE ("upstream busy"), which the REST
 * layer turns into 503 with Retry-After; the upstream is never queued without bound.
 */
#ifndef XDROP_GW_UPSTREAM_H
#define XDROP_GW_UPSTREAM_H

#include <stdbool.h>

#include "gw_config.h"
#include "rpc.h"

struct upstream;

/* Opens the client (dialing is asynchronous). Returns 0 and *out, or a negative errno. */
int upstream_open(struct upstream **out, const struct gw_config *c);

/* Closes u once no call is in flight. NULL is fine. */
void upstream_close(struct upstream *u);

/*
 * Calls svc.method with token (NULL or "": the configured upstream.token). Same contract
 * as rpc_client_call; *st is always filled. When no slot frees up in time the call is not
 * made: st->code is RPC_UNAVAILABLE, *busy (if not NULL) is set, and -EBUSY is returned.
 */
int upstream_call(struct upstream *u, const ProtobufCServiceDescriptor *svc, const char *method,
		  const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
		  const char *token, bool *busy);

/* Like upstream_call with a request id (NULL or "": none) that makes the write idempotent
 * on a controller (st->replayed tells a replayed outcome). */
int upstream_call_id(struct upstream *u, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
		     const char *token, const char *request_id, bool *busy);

/* Calls in flight now, and the number refused for want of a slot since open. */
unsigned upstream_in_flight(const struct upstream *u);
uint64_t upstream_refused(const struct upstream *u);
/* Calls made since open that ended with code (for /metrics). */
uint64_t upstream_count(const struct upstream *u, enum rpc_code code);

#endif
