// SPDX-License-Identifier: MIT
/* rpc_fixture: the test services and helpers of test_rpc (see rpc_fixture.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "log.h"
#include "rpc_fixture.h"
atomic_int fx_creates, fx_deletes, fx_lists;

/* ---- handlers ---------------------------------------------------------------------- */

enum rpc_code fx_h_ping(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp,
			void *arg)
{
	const Xdrop__V1__PingRequest *r = (const void *)req;
	Xdrop__V1__PingReply *rep = (void *)resp;

	rep->data.data = rpc_call_alloc(call, r->data.len + 1);
	if (!rep->data.data)
		return RPC_RESOURCE_EXHAUSTED;
	if (r->data.len)
		memcpy(rep->data.data, r->data.data, r->data.len);
	rep->data.len = r->data.len;
	rep->server = "test_rpc";
	return RPC_OK;
}

enum rpc_code fx_h_rule_get(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__GetRuleRequest *r = (const void *)req;
	Xdrop__V1__Rule *rule = (void *)resp;

	if (!r->id[0])
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "id", "id is required");
	if (strcmp(r->id, "r1") != 0)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no rule %s", r->id);
	rule->id = rpc_call_strdup(call, r->id);
	rule->name = "block-ssh";
	rule->dst_port = 22;
	rule->protocol = "tcp";
	rule->action = "drop";
	rule->enabled = true;
	rule->stats = rpc_call_alloc(call, sizeof(*rule->stats));
	if (!rule->stats)
		return RPC_RESOURCE_EXHAUSTED;
	xdrop__v1__rule_stats__init(rule->stats);
	rule->stats->drop_count = 42;
	return RPC_OK;
}

static enum rpc_code h_rule_create(struct rpc_call *call, const ProtobufCMessage *req,
				   ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__CreateRuleRequest *r = (const void *)req;
	Xdrop__V1__RuleWriteReply *rep = (void *)resp;

	if (!r->rule)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule", "rule is required");
	if (strstr(r->rule->src_cidr, "/33"))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "rule.src_cidr",
				      "prefix length 33 exceeds 32");
	if (strcmp(r->rule->name, "dup") == 0)
		return rpc_call_error(call, RPC_ALREADY_EXISTS, "rule",
				      "same match as rule existing-7");
	atomic_fetch_add(&fx_creates, 1);
	rep->rule = rpc_call_alloc(call, sizeof(*rep->rule));
	rep->sync = rpc_call_alloc(call, sizeof(*rep->sync));
	if (!rep->rule || !rep->sync)
		return RPC_RESOURCE_EXHAUSTED;
	xdrop__v1__rule__init(rep->rule);
	xdrop__v1__sync_outcome__init(rep->sync);
	rep->rule->id = "new-1";
	rep->rule->name = rpc_call_strdup(call, r->rule->name);
	rep->sync->nodes = 2;
	rep->sync->applied = 2;
	return RPC_OK;
}

static enum rpc_code h_rule_delete(struct rpc_call *call, const ProtobufCMessage *req,
				   ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__DeleteRequest *r = (const void *)req;
	Xdrop__V1__DeleteReply *rep = (void *)resp;
	enum rpc_code code;

	if (rpc_code_parse(r->id, &code))
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no rule %s", r->id);
	if (code != RPC_OK)
		return rpc_call_error(call, code, "id", "forced %s", rpc_code_name(code));
	atomic_fetch_add(&fx_deletes, 1);
	rep->message = "deleted";
	return RPC_OK;
}

enum rpc_code fx_h_rule_list(struct rpc_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__ListRulesRequest *r = (const void *)req;
	Xdrop__V1__ListRulesResponse *rep = (void *)resp;
	int64_t until = clock_mono_ms() + r->limit;

	atomic_fetch_add(&fx_lists, 1);
	while (clock_mono_ms() < until) {
		if (rpc_call_expired(call))
			return rpc_call_error(call, RPC_DEADLINE_EXCEEDED, NULL, "handler gave up");
		usleep(2000);
	}
	rep->count = r->limit;
	return RPC_OK;
}

/* Handler bugs the framework must turn into INTERNAL rather than a bad frame. */
static enum rpc_code h_stats_info(struct rpc_call *call, const ProtobufCMessage *req,
				  ProtobufCMessage *resp, void *arg)
{
	return (enum rpc_code)77; /* not a status code */
}

static enum rpc_code h_stats_rule_stats(struct rpc_call *call, const ProtobufCMessage *req,
					ProtobufCMessage *resp, void *arg)
{
	Xdrop__V1__RuleStatsReply *rep = (void *)resp;

	rep->n_rules = 2; /* an array that is not there */
	return RPC_OK;
}

static enum rpc_code auth_hook(struct rpc_call *call, const char *token, void *arg)
{
	const char *m = rpc_call_method(call);

	if (strcmp(rpc_call_service(call), "xdrop.v1.HealthService") == 0)
		return RPC_OK;
	if (strcmp(token, "slow-auth") == 0) {
		usleep(60000);
		return RPC_OK;
	}
	if (strcmp(token, "admin") == 0)
		return RPC_OK;
	if (strcmp(token, "reader") == 0)
		return strcmp(m, "Get") == 0 || strcmp(m, "List") == 0 ? RPC_OK
								       : RPC_PERMISSION_DENIED;
	return RPC_UNAUTHENTICATED;
}

/* ---- fixtures ---------------------------------------------------------------------- */

int fx_start_server(struct rpc_server **out, const char *url, size_t max_msg)
{
	struct rpc_server_opts o = {
	    .sz = sizeof(o),
	    .url = url,
	    .workers = 8,
	    .max_msg = max_msg,
	    .auth = auth_hook,
	    .name = "test",
	};
	struct rpc_server *s = NULL;
	int err;

	err = rpc_server_open(&s, &o);
	if (err)
		return err;
	err =
	    rpc_server_register(s, &xdrop__v1__health_service__descriptor, "Ping", fx_h_ping, NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Get",
					 fx_h_rule_get, NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Create",
					 h_rule_create, NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Delete",
					 h_rule_delete, NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "List",
					 fx_h_rule_list, NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__stats_service__descriptor, "Info",
					 h_stats_info, NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__stats_service__descriptor, "RuleStats",
					 h_stats_rule_stats, NULL);
	if (!err && url)
		err = rpc_server_start(s);
	if (err) {
		rpc_server_close(s);
		return err;
	}
	*out = s;
	return 0;
}

struct rpc_client *fx_open_client(const char *url, const char *token, unsigned timeout_ms)
{
	struct rpc_client_opts o = {
	    .sz = sizeof(o),
	    .url = url,
	    .auth_token = token,
	    .timeout_ms = timeout_ms,
	};
	struct rpc_client *c = NULL;

	assert_int_equal(rpc_client_open(&c, &o), 0);
	return c;
}

/* Sends a raw frame with a plain REQ socket; returns the decoded reply or NULL. */
Xdrop__V1__RpcReply *fx_raw_call(const char *url, const void *frame, size_t len,
				 unsigned timeout_ms)
{
	Xdrop__V1__RpcReply *rp = NULL;
	nng_socket s;
	char *buf = NULL;
	size_t blen = 0;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, 60000), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	assert_int_equal(nng_send(s, (void *)frame, len, 0), 0);
	if (nng_recv(s, &buf, &blen, NNG_FLAG_ALLOC) == 0) {
		rp = xdrop__v1__rpc_reply__unpack(NULL, blen, (uint8_t *)buf);
		nng_free(buf, blen);
	}
	nng_close(s);
	return rp;
}

/* Packs an RpcRequest around payload. The frame is freed with free(). */
uint8_t *fx_make_frame(const char *service, const char *method, const char *token,
		       uint32_t deadline_ms, const ProtobufCMessage *payload, size_t *len)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	uint8_t *pbuf = NULL, *frame;

	rq.service = (char *)service;
	rq.method = (char *)method;
	rq.auth_token = (char *)token;
	rq.deadline_ms = deadline_ms;
	rq.call_id = 99;
	if (payload) {
		pbuf = malloc(protobuf_c_message_get_packed_size(payload) + 1);
		assert_non_null(pbuf);
		rq.payload.len = protobuf_c_message_pack(payload, pbuf);
		rq.payload.data = pbuf;
	}
	*len = xdrop__v1__rpc_request__get_packed_size(&rq);
	frame = malloc(*len + 1);
	assert_non_null(frame);
	xdrop__v1__rpc_request__pack(&rq, frame);
	free(pbuf);
	return frame;
}
