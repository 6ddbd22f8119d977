// SPDX-License-Identifier: MIT
/*
 * test_rpc: the RPC framework (lib/rpc.c) over inproc:// (and tcp:// for the transport
 * frame limit): every status path, auth, deadlines, malformed and oversize frames, unknown
 * services and methods, 32 parallel clients, retries, registration rules.
 *
 * The test services and helpers are in rpc_fixture.c.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "log.h"
#include "rpc.h"
#include "rpc_fixture.h"
#include "xdrop.pb-c.h"

#define URL "inproc://test-rpc"

static struct rpc_server *srv;

static int group_setup(void **state)
{
	log_set_level(LOG_LEVEL_WARN);
	return fx_start_server(&srv, URL, 64 * 1024);
}

static int group_teardown(void **state)
{
	rpc_server_close(srv);
	return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_code_names_and_errno_map(void **state)
{
	for (int i = 0; i < RPC_CODE_COUNT; i++) {
		enum rpc_code c;

		assert_int_equal(rpc_code_parse(rpc_code_name((enum rpc_code)i), &c), 0);
		assert_int_equal(c, i);
		assert_int_equal(rpc_code_errno((enum rpc_code)i) == 0, i == RPC_OK);
		assert_true(rpc_code_errno((enum rpc_code)i) <= 0);
		if (i != RPC_UNKNOWN)
			assert_int_equal(rpc_code_from_errno(rpc_code_errno((enum rpc_code)i)), i);
	}
	assert_string_equal(rpc_code_name((enum rpc_code)99), "UNKNOWN");
	assert_int_equal(rpc_code_parse("NOPE", &(enum rpc_code){0}), -EINVAL);
	assert_int_equal(rpc_code_errno(RPC_NOT_FOUND), -ENOENT);
	assert_int_equal(rpc_code_from_errno(-EEXIST), RPC_ALREADY_EXISTS);
}

static void test_ping_echo(void **state)
{
	struct rpc_client *c = fx_open_client(URL, NULL, 2000);
	Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
	Xdrop__V1__PingReply *rep = NULL;
	struct rpc_status st;

	rq.data.data = (uint8_t *)"hello\0world";
	rq.data.len = 11;
	assert_int_equal(rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping",
					 &rq.base, (ProtobufCMessage **)&rep, &st),
			 0);
	assert_int_equal(st.code, RPC_OK);
	assert_non_null(rep);
	assert_int_equal(rep->data.len, 11);
	assert_memory_equal(rep->data.data, "hello\0world", 11);
	assert_string_equal(rep->server, "test_rpc");
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	rpc_client_close(c);
}

static void test_get_found_not_found_invalid(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 2000);
	Xdrop__V1__GetRuleRequest rq = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__Rule *rule = NULL;
	struct rpc_status st;

	rq.id = "r1";
	assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Get", &rq.base,
					 (ProtobufCMessage **)&rule, &st),
			 0);
	assert_non_null(rule);
	assert_string_equal(rule->id, "r1");
	assert_string_equal(rule->action, "drop");
	assert_int_equal(rule->dst_port, 22);
	assert_non_null(rule->stats);
	assert_int_equal(rule->stats->drop_count, 42);
	protobuf_c_message_free_unpacked(&rule->base, NULL);

	rq.id = "missing";
	assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Get", &rq.base,
					 (ProtobufCMessage **)&rule, &st),
			 -ENOENT);
	assert_null(rule);
	assert_int_equal(st.code, RPC_NOT_FOUND);
	assert_string_equal(st.message, "no rule missing");
	assert_string_equal(st.field, "id");

	rq.id = "";
	assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Get", &rq.base,
					 (ProtobufCMessage **)&rule, &st),
			 -EINVAL);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "id");
	rpc_client_close(c);
}

static void test_create_field_path_and_already_exists(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 2000);
	Xdrop__V1__CreateRuleRequest rq = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__Rule rule = XDROP__V1__RULE__INIT;
	Xdrop__V1__RuleWriteReply *rep = NULL;
	struct rpc_status st;
	int before = atomic_load(&fx_creates);

	rq.rule = &rule;
	rule.name = "bad";
	rule.src_cidr = "10.0.0.0/33";
	assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Create",
					 &rq.base, (ProtobufCMessage **)&rep, &st),
			 -EINVAL);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "rule.src_cidr");
	assert_string_equal(st.message, "prefix length 33 exceeds 32");

	rule.src_cidr = "10.0.0.0/8";
	rule.name = "dup";
	assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Create",
					 &rq.base, (ProtobufCMessage **)&rep, &st),
			 -EEXIST);
	assert_int_equal(st.code, RPC_ALREADY_EXISTS);
	assert_non_null(strstr(st.message, "existing-7"));
	assert_int_equal(atomic_load(&fx_creates), before);

	rule.name = "good";
	assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Create",
					 &rq.base, (ProtobufCMessage **)&rep, &st),
			 0);
	assert_string_equal(rep->rule->id, "new-1");
	assert_string_equal(rep->rule->name, "good");
	assert_int_equal(rep->sync->applied, 2);
	assert_int_equal(atomic_load(&fx_creates), before + 1);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	rpc_client_close(c);
}

/* Every code a handler can return reaches the client with its message and field. */
static void test_every_status_from_handler(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 2000);
	Xdrop__V1__DeleteRequest rq = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__DeleteReply *rep = NULL;
	struct rpc_status st;
	char want[64];

	for (int i = 0; i < RPC_CODE_COUNT; i++) {
		enum rpc_code code = (enum rpc_code)i;

		rq.id = (char *)rpc_code_name(code);
		int rv = rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Delete",
					 &rq.base, (ProtobufCMessage **)&rep, &st);
		assert_int_equal(st.code, code);
		assert_int_equal(rv, rpc_code_errno(code));
		if (code == RPC_OK) {
			assert_non_null(rep);
			assert_string_equal(rep->message, "deleted");
			protobuf_c_message_free_unpacked(&rep->base, NULL);
			continue;
		}
		assert_null(rep);
		snprintf(want, sizeof(want), "forced %s", rpc_code_name(code));
		assert_string_equal(st.message, want);
		assert_string_equal(st.field, "id");
		assert_true(rpc_server_count(srv, code) > 0);
	}
	rpc_client_close(c);
}

static void test_handler_bugs_are_internal(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 2000);
	Xdrop__V1__InfoRequest rq = XDROP__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;

	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__stats_service__descriptor, "Info", &rq.base, &rep, &st),
	    rpc_code_errno(RPC_INTERNAL));
	assert_int_equal(st.code, RPC_INTERNAL);
	assert_null(rep);

	Xdrop__V1__RuleStatsRequest rs = XDROP__V1__RULE_STATS_REQUEST__INIT;
	assert_int_equal(rpc_client_call(c, &xdrop__v1__stats_service__descriptor, "RuleStats",
					 &rs.base, &rep, &st),
			 rpc_code_errno(RPC_INTERNAL));
	assert_int_equal(st.code, RPC_INTERNAL);
	assert_string_equal(st.message, "internal error");
	rpc_client_close(c);
}

static void test_auth_hook(void **state)
{
	struct rpc_client *anon = fx_open_client(URL, NULL, 2000);
	struct rpc_client *bad = fx_open_client(URL, "wrong", 2000);
	struct rpc_client *reader = fx_open_client(URL, "reader", 2000);
	Xdrop__V1__GetRuleRequest get = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__PingRequest ping = XDROP__V1__PING_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;
	int before = atomic_load(&fx_deletes);

	get.id = "r1";
	del.id = "OK";
	assert_int_equal(rpc_client_call(anon, &xdrop__v1__rule_service__descriptor, "Get",
					 &get.base, &rep, &st),
			 -EPERM);
	assert_int_equal(st.code, RPC_UNAUTHENTICATED);
	assert_string_equal(st.message, "unauthenticated");
	assert_int_equal(rpc_client_call(bad, &xdrop__v1__rule_service__descriptor, "Delete",
					 &del.base, &rep, &st),
			 -EPERM);
	assert_int_equal(st.code, RPC_UNAUTHENTICATED);
	assert_int_equal(rpc_client_call(reader, &xdrop__v1__rule_service__descriptor, "Delete",
					 &del.base, &rep, &st),
			 -EACCES);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_int_equal(atomic_load(&fx_deletes), before); /* refused calls never ran */

	assert_int_equal(rpc_client_call(reader, &xdrop__v1__rule_service__descriptor, "Get",
					 &get.base, &rep, &st),
			 0);
	protobuf_c_message_free_unpacked(rep, NULL);
	/* the per-call token overrides the client's */
	assert_int_equal(rpc_client_call_ex(anon, &xdrop__v1__rule_service__descriptor, "Delete",
					    &del.base, &rep, &st, 0, "admin"),
			 0);
	protobuf_c_message_free_unpacked(rep, NULL);
	assert_int_equal(atomic_load(&fx_deletes), before + 1);
	/* the hook lets health checks through without a token */
	assert_int_equal(rpc_client_call(anon, &xdrop__v1__health_service__descriptor, "Ping",
					 &ping.base, &rep, &st),
			 0);
	protobuf_c_message_free_unpacked(rep, NULL);
	rpc_client_close(anon);
	rpc_client_close(bad);
	rpc_client_close(reader);
}

static void test_unknown_service_and_method(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 2000);
	Xdrop__V1__GetRuleRequest get = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__TopRulesRequest top = XDROP__V1__TOP_RULES_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;
	uint8_t *frame;
	size_t len;

	frame = fx_make_frame("xdrop.v1.NoSuchService", "Get", "admin", 0, &get.base, &len);
	rp = fx_raw_call(URL, frame, len, 2000);
	free(frame);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_UNIMPLEMENTED);
	assert_int_equal(rp->call_id, 99);
	assert_string_equal(rp->field, "service");
	assert_string_equal(rp->message, "unknown service xdrop.v1.NoSuchService");
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);

	frame = fx_make_frame("xdrop.v1.RuleService", "Explode", "admin", 0, &get.base, &len);
	rp = fx_raw_call(URL, frame, len, 2000);
	free(frame);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_UNIMPLEMENTED);
	assert_string_equal(rp->field, "method");
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);

	/* a method of the schema that this server did not register */
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Top", &top.base, &rep, &st),
	    -ENOSYS);
	assert_int_equal(st.code, RPC_UNIMPLEMENTED);
	/* a service of the schema that this server did not register */
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__key_service__descriptor, "List", &top.base, &rep, &st),
	    -EINVAL); /* wrong request type: refused locally */
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	Xdrop__V1__ListKeysRequest lk = XDROP__V1__LIST_KEYS_REQUEST__INIT;
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__key_service__descriptor, "List", &lk.base, &rep, &st),
	    -ENOSYS);
	assert_string_equal(st.field, "service");
	/* a method the schema does not have: refused locally */
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Nope", &get.base, &rep, &st),
	    -EINVAL);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	assert_string_equal(st.field, "method");
	rpc_client_close(c);
}

/* Hostile frames get an error reply, change nothing, and the server keeps serving. */
static void test_garbage_frames(void **state)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		enum rpc_code code;
	} cases[] = {
	    {"truncated varint", "\x18\xff\xff", 3, RPC_INVALID_ARGUMENT},
	    {"bad wire type", "\x0f\x01\x02\x03", 4, RPC_INVALID_ARGUMENT},
	    {"length past end",
	     "\x0a\x7f"
	     "abc",
	     5, RPC_INVALID_ARGUMENT},
	    {"empty frame", "", 0, RPC_UNIMPLEMENTED}, /* a valid, empty RpcRequest */
	    {"all ones", "\xff\xff\xff\xff\xff\xff\xff\xff", 8, RPC_INVALID_ARGUMENT},
	    {"service name with NUL", "\x0a\x03\xff\xfe\x00", 5, RPC_INVALID_ARGUMENT},
	    {"binary service name", "\x0a\x02\xff\xfe", 4, RPC_UNIMPLEMENTED},
	};
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	int before_c = atomic_load(&fx_creates), before_d = atomic_load(&fx_deletes);
	uint8_t frame[256];
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rp = fx_raw_call(URL, cases[i].bytes, cases[i].len, 2000);
		assert_non_null(rp);
		if ((int)rp->code != (int)cases[i].code)
			fail_msg("%s: got %s", cases[i].name,
				 rpc_code_name((enum rpc_code)rp->code));
		assert_int_equal(rp->payload.len, 0);
		xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
	}

	/* a good envelope around a payload that is not a CreateRuleRequest */
	rq.service = "xdrop.v1.RuleService";
	rq.method = "Create";
	rq.auth_token = "admin";
	rq.payload.data = (uint8_t *)"\x0a\xff\xff\xff";
	rq.payload.len = 4;
	len = xdrop__v1__rpc_request__pack(&rq, frame);
	rp = fx_raw_call(URL, frame, len, 2000);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_INVALID_ARGUMENT);
	assert_string_equal(rp->field, "payload");
	assert_string_equal(rp->message, "payload is not a valid xdrop.v1.CreateRuleRequest");
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);

	assert_int_equal(atomic_load(&fx_creates), before_c);
	assert_int_equal(atomic_load(&fx_deletes), before_d);
	test_ping_echo(state); /* still serving */
}

static void test_oversize_request_and_reply(void **state)
{
	struct rpc_server *s = NULL;
	struct rpc_client *c;
	Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;
	uint8_t *big, *frame;
	size_t len;

	assert_int_equal(fx_start_server(&s, "inproc://test-rpc-small", 4096), 0);
	big = calloc(1, 8192);
	assert_non_null(big);

	/* request frame above max_msg (inside the transport slack): RESOURCE_EXHAUSTED */
	rq.data.data = big;
	rq.data.len = 6000;
	frame = fx_make_frame("xdrop.v1.HealthService", "Ping", "", 0, &rq.base, &len);
	rp = fx_raw_call("inproc://test-rpc-small", frame, len, 2000);
	free(frame);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(rp->message, "exceeds the limit of 4096"));
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);

	/* the client refuses to send it in the first place when its own limit is lower */
	struct rpc_client_opts co = {.sz = sizeof(co),
				     .url = "inproc://test-rpc-small",
				     .max_msg = 4096,
				     .timeout_ms = 2000};
	assert_int_equal(rpc_client_open(&c, &co), 0);
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base, &rep, &st),
	    rpc_code_errno(RPC_RESOURCE_EXHAUSTED));
	assert_int_equal(st.code, RPC_RESOURCE_EXHAUSTED);

	/* a request that fits, whose reply would not */
	rq.data.len = 3900;
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base, &rep, &st),
	    rpc_code_errno(RPC_RESOURCE_EXHAUSTED));
	assert_non_null(strstr(st.message, "reply of"));
	rq.data.len = 100;
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base, &rep, &st),
	    0);
	protobuf_c_message_free_unpacked(rep, NULL);
	rpc_client_close(c);
	rpc_server_close(s);
	free(big);
}

/* Over TCP, a frame above the transport limit drops the connection; others are served. */
static void test_oversize_frame_over_tcp(void **state)
{
	struct rpc_server_opts o = {.sz = sizeof(o),
				    .url = "tcp://127.0.0.1:0",
				    .workers = 2,
				    .max_msg = 4096,
				    .name = "tcp"};
	struct rpc_server *s = NULL;
	struct rpc_client *c;
	Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	Xdrop__V1__RpcReply *rp;
	char url[64];
	size_t len = 4096 + XDROP_RPC_FRAME_SLACK + 1000;
	uint8_t *huge = calloc(1, len);

	assert_non_null(huge);
	assert_int_equal(rpc_server_open(&s, &o), 0);
	assert_int_equal(
	    rpc_server_register(s, &xdrop__v1__health_service__descriptor, "Ping", fx_h_ping, NULL),
	    0);
	assert_int_equal(rpc_server_start(s), 0);
	assert_true(rpc_server_port(s) > 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rpc_server_port(s));

	memset(huge, 0x0a, len);
	rp = fx_raw_call(url, huge, len, 500);
	assert_null(rp); /* no reply is possible: nng closed that connection */

	c = fx_open_client(url, NULL, 2000);
	assert_int_equal(rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping",
					 &rq.base, &rep, NULL),
			 0);
	protobuf_c_message_free_unpacked(rep, NULL);
	rpc_client_close(c);
	rpc_server_close(s);
	free(huge);
}

static void test_deadline_expired_before_dispatch(void **state)
{
	Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	int before = atomic_load(&fx_lists);
	uint8_t *frame;
	size_t len;

	/* the auth hook takes 60 ms for this token; a 10 ms deadline is gone by then */
	frame = fx_make_frame("xdrop.v1.RuleService", "List", "slow-auth", 10, &rq.base, &len);
	rp = fx_raw_call(URL, frame, len, 2000);
	free(frame);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_DEADLINE_EXCEEDED);
	assert_non_null(strstr(rp->message, "before dispatch"));
	assert_int_equal(atomic_load(&fx_lists), before); /* the handler never ran */
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);

	/* with a deadline long enough it does run */
	frame = fx_make_frame("xdrop.v1.RuleService", "List", "slow-auth", 1000, &rq.base, &len);
	rp = fx_raw_call(URL, frame, len, 2000);
	free(frame);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_OK);
	assert_int_equal(atomic_load(&fx_lists), before + 1);
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
}

static void test_deadline_checked_by_handler(void **state)
{
	Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	int64_t t0;
	uint8_t *frame;
	size_t len;

	rq.limit = 1000; /* would sleep 1 s */
	frame = fx_make_frame("xdrop.v1.RuleService", "List", "admin", 50, &rq.base, &len);
	t0 = clock_mono_ms();
	rp = fx_raw_call(URL, frame, len, 3000);
	free(frame);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_DEADLINE_EXCEEDED);
	assert_string_equal(rp->message, "handler gave up");
	assert_true(clock_mono_ms() - t0 < 800);
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
}

static void test_client_timeout_is_deadline_exceeded(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 2000);
	Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;
	int64_t t0 = clock_mono_ms();

	rq.limit = 400;
	assert_int_equal(rpc_client_call_ex(c, &xdrop__v1__rule_service__descriptor, "List",
					    &rq.base, &rep, &st, 60, NULL),
			 -ETIMEDOUT);
	assert_int_equal(st.code, RPC_DEADLINE_EXCEEDED);
	assert_null(rep);
	assert_true(clock_mono_ms() - t0 < 350);
	rpc_client_close(c);
}

struct par_arg {
	struct rpc_client *shared;
	int index;
	int ok;
};

static void *par_main(void *p)
{
	struct par_arg *a = p;
	struct rpc_client *own = NULL;
	struct rpc_client *c = a->shared;
	char data[32];

	if (!c) {
		struct rpc_client_opts o = {.sz = sizeof(o), .url = URL, .timeout_ms = 5000};

		if (rpc_client_open(&own, &o))
			return NULL;
		c = own;
	}
	for (int i = 0; i < 40; i++) {
		Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
		Xdrop__V1__PingReply *rep = NULL;
		int n = snprintf(data, sizeof(data), "t%d-i%d", a->index, i);

		rq.data.data = (uint8_t *)data;
		rq.data.len = (size_t)n;
		if (rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base,
				    (ProtobufCMessage **)&rep, NULL) == 0 &&
		    rep->data.len == (size_t)n && memcmp(rep->data.data, data, (size_t)n) == 0)
			a->ok++;
		if (rep)
			protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	rpc_client_close(own);
	return NULL;
}

/* 32 threads: half share one client (a context per call), half have their own. */
static void test_32_parallel_clients(void **state)
{
	struct rpc_client *shared = fx_open_client(URL, NULL, 5000);
	struct par_arg args[32];
	pthread_t th[32];

	for (int i = 0; i < 32; i++) {
		args[i] = (struct par_arg){.shared = i % 2 ? shared : NULL, .index = i};
		assert_int_equal(pthread_create(&th[i], NULL, par_main, &args[i]), 0);
	}
	for (int i = 0; i < 32; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].ok, 40);
	}
	rpc_client_close(shared);
}

static void *slow_main(void *p)
{
	struct rpc_client *c = p;
	Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;

	rq.limit = 150;
	if (rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "List", &rq.base, &rep,
			    NULL) == 0) {
		protobuf_c_message_free_unpacked(rep, NULL);
		return (void *)1;
	}
	return NULL;
}

/* 8 workers: 8 calls of 150 ms each finish together, not one after another. */
static void test_workers_run_calls_concurrently(void **state)
{
	struct rpc_client *c = fx_open_client(URL, "admin", 5000);
	pthread_t th[8];
	int64_t t0 = clock_mono_ms(), took;
	void *ok;

	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, slow_main, c), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], &ok);
		assert_non_null(ok);
	}
	took = clock_mono_ms() - t0;
	assert_true(took >= 150);
	assert_true(took < 8 * 150 / 2);
	rpc_client_close(c);
}

static void *late_server_main(void *p)
{
	struct rpc_server **out = p;

	usleep(300000);
	if (fx_start_server(out, "inproc://test-rpc-late", 0))
		*out = NULL;
	return NULL;
}

static void test_retries_reach_a_late_server(void **state)
{
	struct rpc_client_opts o = {
	    .sz = sizeof(o), .url = "inproc://test-rpc-late", .timeout_ms = 150, .retries = 4};
	struct rpc_client_opts o0 = {
	    .sz = sizeof(o0), .url = "inproc://test-rpc-never", .timeout_ms = 100, .retries = 0};
	Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
	struct rpc_server *late = NULL;
	struct rpc_client *c = NULL, *c0 = NULL;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;
	pthread_t th;
	int64_t t0 = clock_mono_ms();

	assert_int_equal(rpc_client_open(&c, &o), 0);
	assert_int_equal(pthread_create(&th, NULL, late_server_main, &late), 0);
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base, &rep, &st),
	    0);
	assert_true(clock_mono_ms() - t0 >= 300);
	protobuf_c_message_free_unpacked(rep, NULL);
	pthread_join(th, NULL);
	assert_non_null(late);

	/* without retries and without a server: one attempt, refused at once (UNAVAILABLE,
	 * saying so), not a DEADLINE_EXCEEDED after the timeout */
	assert_int_equal(rpc_client_open(&c0, &o0), 0);
	t0 = clock_mono_ms();
	assert_int_equal(rpc_client_call(c0, &xdrop__v1__health_service__descriptor, "Ping",
					 &rq.base, &rep, &st),
			 -ECONNREFUSED);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	assert_non_null(strstr(st.message, "connection refused by test-rpc-never"));
	assert_true(clock_mono_ms() - t0 < 300);
	rpc_client_close(c0);
	rpc_client_close(c);
	rpc_server_close(late);
}

/* Several addresses: the first refuses, the call goes to the next at once; the client
 * then keeps to the one that answered. */
static void test_next_address_after_refusal(void **state)
{
	struct rpc_client_opts o = {
	    .sz = sizeof(o), .url = "inproc://test-rpc-dead," URL, .timeout_ms = 2000};
	Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
	struct rpc_client *c = NULL;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;
	int64_t t0 = clock_mono_ms();

	assert_int_equal(rpc_client_open(&c, &o), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping",
						 &rq.base, &rep, &st),
				 0);
		protobuf_c_message_free_unpacked(rep, NULL);
	}
	assert_true(clock_mono_ms() - t0 < XDROP_RPC_FAILOVER_MS);
	rpc_client_close(c);

	o.url = "inproc://test-rpc-dead,inproc://test-rpc-dead2";
	assert_int_equal(rpc_client_open(&c, &o), 0);
	assert_int_equal(
	    rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base, &rep, &st),
	    -ECONNREFUSED);
	assert_non_null(strstr(st.message, "connection refused by test-rpc-dead"));
	rpc_client_close(c);
	o.url = ",";
	assert_int_equal(rpc_client_open(&c, &o), -EINVAL);
}

/* A server whose every call is refused UNAVAILABLE with try_elsewhere (a controller cut off
 * from its cluster's leader), counting them. */
static atomic_int cut_off_calls;

static enum rpc_code cut_off_auth(struct rpc_call *call, const char *token, void *arg)
{
	atomic_fetch_add(&cut_off_calls, 1);
	rpc_call_set_try_elsewhere(call);
	return rpc_call_error(call, RPC_UNAVAILABLE, NULL, "no leader known here");
}

static void test_try_elsewhere_goes_to_the_next_address(void **state)
{
	struct rpc_server_opts so = {.sz = sizeof(so),
				     .url = "inproc://test-rpc-cutoff",
				     .workers = 2,
				     .max_msg = 64 * 1024,
				     .auth = cut_off_auth,
				     .name = "cutoff"};
	Xdrop__V1__GetRuleRequest get = XDROP__V1__GET_RULE_REQUEST__INIT;
	struct rpc_server *cut = NULL;
	struct rpc_client *c;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;

	get.id = "r1";
	assert_int_equal(rpc_server_open(&cut, &so), 0);
	assert_int_equal(rpc_server_register(cut, &xdrop__v1__rule_service__descriptor, "Get",
					     fx_h_rule_get, NULL),
			 0);
	assert_int_equal(rpc_server_start(cut), 0);
	/* the refusing server first: the call goes on to the next and is answered there */
	c = fx_open_client("inproc://test-rpc-cutoff," URL, "admin", 2000);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Get",
						 &get.base, &rep, &st),
				 0);
		protobuf_c_message_free_unpacked(rep, NULL);
		rep = NULL;
	}
	assert_int_equal(atomic_load(&cut_off_calls), 1); /* the second went to the next at once */
	rpc_client_close(c);
	/* alone, its refusal is the answer, marked */
	c = fx_open_client("inproc://test-rpc-cutoff", "admin", 2000);
	assert_int_not_equal(
	    rpc_client_call(c, &xdrop__v1__rule_service__descriptor, "Get", &get.base, &rep, &st),
	    0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	assert_true(st.try_elsewhere);
	assert_string_equal(st.message, "no leader known here");
	assert_int_equal(atomic_load(&cut_off_calls), 2);
	rpc_client_close(c);
	rpc_server_close(cut);
}

static void test_registration_rules(void **state)
{
	struct rpc_server_opts o = {.sz = sizeof(o), .url = "inproc://test-rpc-reg"};
	struct rpc_server *s = NULL;

	assert_int_equal(rpc_server_open(&s, &o), 0);
	assert_int_equal(rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Nope",
					     fx_h_rule_get, NULL),
			 -ENOENT);
	assert_int_equal(rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Get",
					     fx_h_rule_get, NULL),
			 0);
	assert_int_equal(rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Get",
					     fx_h_rule_get, NULL),
			 -EEXIST);
	assert_int_equal(rpc_server_start(s), 0);
	assert_int_equal(rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "List",
					     fx_h_rule_list, NULL),
			 -EBUSY);
	/* the same URL cannot be served twice */
	struct rpc_server *s2 = NULL;
	assert_int_equal(rpc_server_open(&s2, &o), 0);
	assert_int_equal(rpc_server_start(s2), -EADDRINUSE);
	rpc_server_close(s2);
	rpc_server_close(s);
	rpc_server_close(NULL);
	rpc_client_close(NULL);

	struct rpc_server_opts bad = {.sz = 1};
	assert_int_equal(rpc_server_open(&s, &bad), -EINVAL);
}

/* The transport-free entry point answers exactly like the socket path. */
static void test_process_without_socket(void **state)
{
	struct rpc_server *s = NULL;
	Xdrop__V1__GetRuleRequest rq = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	uint8_t *frame, *out = NULL;
	size_t len, out_len = 0;

	assert_int_equal(fx_start_server(&s, NULL, 0), 0);
	rq.id = "r1";
	frame = fx_make_frame("xdrop.v1.RuleService", "Get", "reader", 0, &rq.base, &len);
	assert_int_equal(rpc_server_process(s, frame, len, &out, &out_len), 0);
	rp = xdrop__v1__rpc_reply__unpack(NULL, out_len, out);
	assert_non_null(rp);
	assert_int_equal(rp->code, RPC_OK);
	assert_int_equal(rp->call_id, 99);
	Xdrop__V1__Rule *rule = xdrop__v1__rule__unpack(NULL, rp->payload.len, rp->payload.data);
	assert_non_null(rule);
	assert_string_equal(rule->name, "block-ssh");
	xdrop__v1__rule__free_unpacked(rule, NULL);
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
	free(out);
	free(frame);
	assert_int_equal(rpc_server_count(s, RPC_OK), 1);
	rpc_server_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_code_names_and_errno_map),
	    cmocka_unit_test(test_ping_echo),
	    cmocka_unit_test(test_next_address_after_refusal),
	    cmocka_unit_test(test_try_elsewhere_goes_to_the_next_address),
	    cmocka_unit_test(test_get_found_not_found_invalid),
	    cmocka_unit_test(test_create_field_path_and_already_exists),
	    cmocka_unit_test(test_every_status_from_handler),
	    cmocka_unit_test(test_handler_bugs_are_internal),
	    cmocka_unit_test(test_auth_hook),
	    cmocka_unit_test(test_unknown_service_and_method),
	    cmocka_unit_test(test_garbage_frames),
	    cmocka_unit_test(test_oversize_request_and_reply),
	    cmocka_unit_test(test_oversize_frame_over_tcp),
	    cmocka_unit_test(test_deadline_expired_before_dispatch),
	    cmocka_unit_test(test_deadline_checked_by_handler),
	    cmocka_unit_test(test_client_timeout_is_deadline_exceeded),
	    cmocka_unit_test(test_32_parallel_clients),
	    cmocka_unit_test(test_workers_run_calls_concurrently),
	    cmocka_unit_test(test_retries_reach_a_late_server),
	    cmocka_unit_test(test_registration_rules),
	    cmocka_unit_test(test_process_without_socket),
	};

	return cmocka_run_group_tests_name("rpc", tests, group_setup, group_teardown);
}
