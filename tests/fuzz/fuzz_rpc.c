// SPDX-License-Identifier: MIT
/*
 * fuzz_rpc: libFuzzer target for every decoder that takes frames from the network in
 * lib/rpc.c and lib/pubsub.c. The first input byte picks the decoder, the rest is the frame:
 *   0: rpc_server_process (RpcRequest -> auth -> dispatch -> payload decode -> handler ->
 *      RpcReply), with real handlers of proto/xdrop.proto services registered;
 *   1: pubsub_sub_feed (delta frames, the in-order state machine and its buffer);
 *   2: pubsub_collector_feed (signed beacons).
 * Besides "no crash, no leak, no UB" it checks the reply invariants: every frame gets a
 * reply that decodes, carries a known code, and has a payload only on OK.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pubsub.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

static struct rpc_server *srv;
static struct pubsub_sub *sub;
static struct pubsub_collector *col;

static enum rpc_code auth(struct rpc_call *call, const char *token, void *arg)
{
	if (strcmp(rpc_call_service(call), "xdrop.v1.HealthService") == 0)
		return RPC_OK;
	if (strcmp(token, "admin") == 0)
		return RPC_OK;
	return token[0] ? RPC_PERMISSION_DENIED : RPC_UNAUTHENTICATED;
}

static enum rpc_code ping(struct rpc_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__PingRequest *r = (const void *)req;
	Xdrop__V1__PingReply *rep = (void *)resp;

	rep->data = r->data;
	rep->server = rpc_call_strdup(call, "fuzz");
	return RPC_OK;
}

/* Echoes the rule back through the arena, the way a store-backed handler would. */
static enum rpc_code rule_create(struct rpc_call *call, const ProtobufCMessage *req,
				 ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__CreateRuleRequest *r = (const void *)req;
	Xdrop__V1__RuleWriteReply *rep = (void *)resp;

	if (!r->rule)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule", "rule is required");
	if (strlen(r->rule->name) > 64)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule.name", "name %s too long",
				      r->rule->name);
	rep->rule = rpc_call_alloc(call, sizeof(*rep->rule));
	if (!rep->rule)
		return RPC_RESOURCE_EXHAUSTED;
	xdrop__v1__rule__init(rep->rule);
	rep->rule->name = rpc_call_strdup(call, r->rule->name);
	rep->rule->src_cidr = rpc_call_strdup(call, r->rule->src_cidr);
	rep->rule->dst_port = r->rule->dst_port;
	return RPC_OK;
}

static enum rpc_code rule_batch(struct rpc_call *call, const ProtobufCMessage *req,
				ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__BatchCreateRulesRequest *r = (const void *)req;
	Xdrop__V1__BatchReply *rep = (void *)resp;

	rep->added = (uint32_t)r->n_rules;
	if (r->n_rules > 1000)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "rules", "%zu rules",
				      r->n_rules);
	return RPC_OK;
}

static int apply(void *arg, const Xdrop__V1__Delta *d)
{
	return d->n_ops > 8 ? -EINVAL : 0;
}

static void need_snapshot(void *arg, enum pubsub_resync_reason why, uint64_t applied, uint64_t seen)
{
	/* jump to what was seen, as if a snapshot there had been installed */
	pubsub_sub_set_revision(sub, seen / 2, NULL);
}

static int key(void *arg, const char *node_id, uint8_t *k, size_t *len)
{
	if (strcmp(node_id, "n1") != 0)
		return -ENOENT;
	memcpy(k, "key", 3);
	*len = 3;
	return 0;
}

static void beacon(void *arg, const Xdrop__V1__Beacon *b)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rpc_server_opts o = {.sz = sizeof(o), .auth = auth, .max_msg = 64 * 1024};
	struct pubsub_opts po = {.sz = sizeof(po), .max_msg = 64 * 1024};
	struct pubsub_sub_ops so = {.apply = apply, .need_snapshot = need_snapshot};
	struct pubsub_collector_ops co = {.key = key, .beacon = beacon};

	log_set_level(LOG_LEVEL_ERROR);
	if (rpc_server_open(&srv, &o) ||
	    rpc_server_register(srv, &xdrop__v1__health_service__descriptor, "Ping", ping, NULL) ||
	    rpc_server_register(srv, &xdrop__v1__rule_service__descriptor, "Create", rule_create,
				NULL) ||
	    rpc_server_register(srv, &xdrop__v1__rule_service__descriptor, "BatchCreate",
				rule_batch, NULL) ||
	    pubsub_sub_open(&sub, &po, &so, 0, NULL) || pubsub_collector_open(&col, &po, &co))
		abort();
	return 0;
}

static void check_reply(const uint8_t *out, size_t len)
{
	Xdrop__V1__RpcReply *rp = xdrop__v1__rpc_reply__unpack(NULL, len, out);

	if (!rp || (unsigned)rp->code >= RPC_CODE_COUNT ||
	    (rp->code != XDROP__V1__CODE__OK && rp->payload.len) ||
	    (rp->code != XDROP__V1__CODE__OK && !rp->message[0]))
		abort();
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t out_len = 0;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (rpc_server_process(srv, data + 1, size - 1, &out, &out_len))
			abort();
		check_reply(out, out_len);
		free(out);
		break;
	case 1:
		pubsub_sub_feed(sub, data + 1, size - 1);
		break;
	case 2:
		pubsub_collector_feed(col, data + 1, size - 1);
		break;
	}
	return 0;
}
