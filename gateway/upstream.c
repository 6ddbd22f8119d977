// SPDX-License-Identifier: MIT
/*
 * upstream: one shared rpc_client (each call has its own nng context) and a counting
 * semaphore for the concurrency bound (see upstream.h).
 */
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "upstream.h"

struct upstream {
	struct rpc_client *client;
	const struct gw_config *cfg;
	sem_t slots;
	bool sem_ok;
	atomic_uint in_flight;
	atomic_uint_fast64_t refused;
	atomic_uint_fast64_t codes[RPC_CODE_COUNT];
};

int upstream_open(struct upstream **out, const struct gw_config *c)
{
	struct rpc_client_opts o = {
	    .sz = sizeof(o),
	    .url = c->upstream_url,
	    .auth_token = c->upstream_token,
	    .timeout_ms = c->upstream_timeout_ms,
	    .tls = &c->upstream_tls,
	};
	struct upstream *u = calloc(1, sizeof(*u));
	int err;

	*out = NULL;
	if (!u)
		return -ENOMEM;
	u->cfg = c;
	if (sem_init(&u->slots, 0, c->upstream_concurrency)) {
		err = -errno;
		goto out;
	}
	u->sem_ok = true;
	err = rpc_client_open(&u->client, &o);
	if (err) {
		log_error("upstream %s: %s", c->upstream_url, strerror(-err));
		goto out;
	}
	*out = u;
	return 0;
out:
	upstream_close(u);
	return err;
}

void upstream_close(struct upstream *u)
{
	if (!u)
		return;
	rpc_client_close(u->client);
	if (u->sem_ok)
		sem_destroy(&u->slots);
	free(u);
}

static int take_slot(struct upstream *u)
{
	struct timespec ts;

	if (!sem_trywait(&u->slots))
		return 0;
	/* on the monotonic clock: a step of the wall clock neither stalls nor hurries it */
	ts = clock_mono_ts(clock_mono_ms() + (int64_t)u->cfg->upstream_queue_ms);
	while (sem_clockwait(&u->slots, CLOCK_MONOTONIC, &ts))
		if (errno != EINTR)
			return -EBUSY;
	return 0;
}

int upstream_call(struct upstream *u, const ProtobufCServiceDescriptor *svc, const char *method,
		  const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
		  const char *token, bool *busy)
{
	return upstream_call_id(u, svc, method, req, resp, st, token, NULL, busy);
}

int upstream_call_id(struct upstream *u, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
		     const char *token, const char *request_id, bool *busy)
{
	struct rpc_call_opts co = {.sz = sizeof(co),
				   .auth_token = token && *token ? token : NULL,
				   .request_id = request_id};
	int err;

	*resp = NULL;
	if (busy)
		*busy = false;
	if (take_slot(u)) {
		memset(st, 0, sizeof(*st));
		st->code = RPC_UNAVAILABLE;
		snprintf(st->message, sizeof(st->message), "upstream busy: %u calls in flight",
			 u->cfg->upstream_concurrency);
		atomic_fetch_add(&u->refused, 1);
		if (busy)
			*busy = true;
		return -EBUSY;
	}
	atomic_fetch_add(&u->in_flight, 1);
	err = rpc_client_call_opts(u->client, svc, method, req, resp, st, &co);
	atomic_fetch_sub(&u->in_flight, 1);
	sem_post(&u->slots);
	if ((unsigned)st->code < RPC_CODE_COUNT)
		atomic_fetch_add(&u->codes[st->code], 1);
	return err;
}

unsigned upstream_in_flight(const struct upstream *u)
{
	return atomic_load(&u->in_flight);
}

uint64_t upstream_refused(const struct upstream *u)
{
	return atomic_load(&u->refused);
}

uint64_t upstream_count(const struct upstream *u, enum rpc_code code)
{
	return (unsigned)code < RPC_CODE_COUNT ? atomic_load(&u->codes[code]) : 0;
}
