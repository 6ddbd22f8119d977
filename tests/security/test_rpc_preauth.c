// SPDX-License-Identifier: MIT
/*
 * test_rpc_preauth: the RPC server's limits before and around authentication (lib/rpc_frame.h,
 * lib/rpc_server.c, issue 11 items 1, 3 and 7), through rpc_server_process (no socket) and
 * an inproc:// REQ/REP pair:
 *   - a maximum-size frame of unknown envelope fields, or a valid envelope with a wrong key
 *     around a maximum-size payload of unknown fields, costs milliseconds of CPU;
 *   - unknown, mistyped and repeated envelope fields, NUL bytes in service or method
 *     names, over-long names are refused naming the field;
 *   - HealthService (no key needed) frames are capped; an authenticated payload decodes
 *     within its budget or is refused with RESOURCE_EXHAUSTED;
 *   - a call whose absolute client deadline (deadline_unix_ms) has passed is not started;
 *   - the receive timeout (lib/rpc_pipes.h) cuts neither a long call nor an idle client
 *     off for good.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "log.h"
#include "rpc.h"
#include "rpc_frame.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

#define BIG	     (XDROP_RPC_MAX_MSG) /* the largest frame the server decodes */
#define CPU_LIMIT_MS 50			 /* generous for ASan; the old decoder took seconds */

static atomic_int lists, auths;
static atomic_llong remaining;

static enum rpc_code h_ping(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	return RPC_OK;
}

/* RuleService.List: counts, notes the time left, sleeps `limit` ms */
static enum rpc_code h_list(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__ListRulesRequest *r = (const void *)req;

	if (r->limit)
		usleep(r->limit * 1000);
	atomic_fetch_add(&lists, 1);
	atomic_store(&remaining, rpc_call_remaining_ms(call));
	return RPC_OK;
}

static enum rpc_code auth(struct rpc_call *call, const char *token, void *arg)
{
	atomic_fetch_add(&auths, 1);
	if (strcmp(rpc_call_service(call), XDROP_RPC_PUBLIC_SERVICE) == 0)
		return RPC_OK;
	return strcmp(token, "admin") == 0 ? RPC_OK : RPC_UNAUTHENTICATED;
}

/* A server with o's options serving Ping and RuleService.List (not started). */
static struct rpc_server *server_with(const struct rpc_server_opts *o)
{
	struct rpc_server *s = NULL;

	assert_int_equal(rpc_server_open(&s, o), 0);
	assert_int_equal(
	    rpc_server_register(s, &xdrop__v1__health_service__descriptor, "Ping", h_ping, NULL),
	    0);
	assert_int_equal(
	    rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "List", h_list, NULL), 0);
	return s;
}

static struct rpc_server *server(void)
{
	struct rpc_server_opts o = {.sz = sizeof(o), .auth = auth, .name = "preauth"};

	return server_with(&o);
}

static int64_t cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n (even) bytes of 2-byte unknown fields (field 15, varint 1) */
static uint8_t *unknown_fields(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i + 1 < n; i += 2) {
		p[i] = 0x78;
		p[i + 1] = 0x01;
	}
	return p;
}

/* Packs rq (payload of plen bytes from pdata) into a new frame. */
static uint8_t *pack(Xdrop__V1__RpcRequest *rq, const uint8_t *pdata, size_t plen, size_t *len)
{
	uint8_t *f;

	rq->payload.data = (uint8_t *)pdata;
	rq->payload.len = plen;
	*len = xdrop__v1__rpc_request__get_packed_size(rq);
	f = malloc(*len);
	assert_non_null(f);
	xdrop__v1__rpc_request__pack(rq, f);
	return f;
}

/* Runs frame through s; returns the reply (free it) and the CPU time in *ms. */
static Xdrop__V1__RpcReply *process(struct rpc_server *s, const uint8_t *frame, size_t len,
				    int64_t *ms)
{
	Xdrop__V1__RpcReply *rp;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int64_t t0 = cpu_ms();

	assert_int_equal(rpc_server_process(s, frame, len, &out, &out_len), 0);
	if (ms)
		*ms = cpu_ms() - t0;
	rp = xdrop__v1__rpc_reply__unpack(NULL, out_len, out);
	free(out);
	assert_non_null(rp);
	return rp;
}

static void expect(Xdrop__V1__RpcReply *rp, enum rpc_code code, const char *field, const char *what)
{
	if ((int)rp->code != (int)code || (field && strcmp(rp->field, field) != 0))
		fail_msg("%s: got %s field \"%s\" (%s), want %s field \"%s\"", what,
			 rpc_code_name((enum rpc_code)rp->code), rp->field, rp->message,
			 rpc_code_name(code), field ? field : "*");
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
}

static void test_unknown_envelope_fields_cost_nothing(void **state)
{
	struct rpc_server *s = server();
	uint8_t *frame = unknown_fields(BIG);
	Xdrop__V1__RpcReply *rp;
	int64_t ms;

	rp = process(s, frame, BIG, &ms);
	assert_non_null(strstr(rp->message, "unknown field 15"));
	expect(rp, RPC_INVALID_ARGUMENT, "", "16 MiB of unknown envelope fields");
	print_message("16 MiB of 2-byte unknown envelope fields: refused in %lld ms of CPU\n",
		      (long long)ms);
	assert_true(ms < CPU_LIMIT_MS);
	free(frame);
	rpc_server_close(s);
}

static void test_wrong_key_payload_not_decoded(void **state)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	struct rpc_server *s = server();
	uint8_t *pay = unknown_fields(BIG - 64), *frame;
	int a0 = atomic_load(&auths), l0 = atomic_load(&lists);
	int64_t ms;
	size_t len;

	rq.service = "xdrop.v1.RuleService";
	rq.method = "List";
	rq.auth_token = "not-a-key";
	frame = pack(&rq, pay, BIG - 64, &len);
	expect(process(s, frame, len, &ms), RPC_UNAUTHENTICATED, NULL,
	       "a wrong key around 16 MiB of payload");
	print_message("wrong key, 16 MiB payload: refused in %lld ms of CPU\n", (long long)ms);
	assert_true(ms < CPU_LIMIT_MS);
	assert_int_equal(atomic_load(&auths), a0 + 1);
	assert_int_equal(atomic_load(&lists), l0);
	free(frame);
	free(pay);
	rpc_server_close(s);
}

static void test_envelope_shape_refused(void **state)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
		enum rpc_code code;
		const char *field;
	} cases[] = {
	    {"service twice", "\x0a\x01x\x0a\x01y", 6, RPC_INVALID_ARGUMENT, "service"},
	    {"call_id as bytes", "\x1a\x01x", 3, RPC_INVALID_ARGUMENT, "call_id"},
	    {"service as varint", "\x08\x01", 2, RPC_INVALID_ARGUMENT, "service"},
	    {"a group", "\x0b\x0c", 2, RPC_INVALID_ARGUMENT, "service"},
	    {"field 0", "\x00\x01", 2, RPC_INVALID_ARGUMENT, ""},
	    {"unknown field 1000", "\xc0\x3e\x01", 3, RPC_INVALID_ARGUMENT, ""},
	    {"method with NUL", "\x0a\x16xdrop.v1.HealthService\x12\x05Pi\x00ng", 31,
	     RPC_INVALID_ARGUMENT, "method"},
	    {"service with NUL", "\x0a\x06Healt\x00", 8, RPC_INVALID_ARGUMENT, "service"},
	    {"token with NUL",
	     "\x22\x03"
	     "a\x00"
	     "b",
	     5, RPC_UNAUTHENTICATED, ""},
	    {"payload past the end", "\x32\x05xy", 4, RPC_INVALID_ARGUMENT, "payload"},
	};
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	struct rpc_server *s = server();
	char name[200];
	uint8_t *frame;
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect(process(s, (const uint8_t *)cases[i].bytes, cases[i].len, NULL),
		       cases[i].code, cases[i].field, cases[i].what);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	rq.service = name;
	rq.method = "List";
	frame = pack(&rq, NULL, 0, &len);
	expect(process(s, frame, len, NULL), RPC_INVALID_ARGUMENT, "service",
	       "a 199-byte service name");
	free(frame);
	rpc_server_close(s);
}

static void test_public_service_frame_cap(void **state)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	Xdrop__V1__PingRequest ping = XDROP__V1__PING_REQUEST__INIT;
	struct rpc_server *s = server();
	uint8_t *big = unknown_fields(XDROP_RPC_PUBLIC_MAX_MSG), *frame, body[64];
	size_t len;

	rq.service = XDROP_RPC_PUBLIC_SERVICE;
	rq.method = "Ping";
	frame = pack(&rq, big, XDROP_RPC_PUBLIC_MAX_MSG, &len);
	expect(process(s, frame, len, NULL), RPC_RESOURCE_EXHAUSTED, "",
	       "a Ping frame above the public limit");
	free(frame);
	ping.data.data = (uint8_t *)"hello";
	ping.data.len = 5;
	frame = pack(&rq, body, xdrop__v1__ping_request__pack(&ping, body), &len);
	expect(process(s, frame, len, NULL), RPC_OK, "", "a small Ping");
	free(frame);
	free(big);
	rpc_server_close(s);
}

static void test_payload_decode_budget(void **state)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	Xdrop__V1__ListRulesRequest list = XDROP__V1__LIST_RULES_REQUEST__INIT;
	struct rpc_server *s = server();
	size_t n = 2u << 20, len;
	uint8_t *pay = unknown_fields(n), *frame, body[64];
	int l0 = atomic_load(&lists);
	struct rpc_budget b;

	rq.service = "xdrop.v1.RuleService";
	rq.method = "List";
	rq.auth_token = "admin";
	frame = pack(&rq, pay, n, &len);
	expect(process(s, frame, len, NULL), RPC_RESOURCE_EXHAUSTED, "payload",
	       "an authenticated payload of 2 MiB of unknown fields");
	free(frame);
	assert_int_equal(atomic_load(&lists), l0);
	list.search = "x";
	frame = pack(&rq, body, xdrop__v1__list_rules_request__pack(&list, body), &len);
	expect(process(s, frame, len, NULL), RPC_OK, "", "a normal List");
	assert_int_equal(atomic_load(&lists), l0 + 1);
	free(frame);
	free(pay);
	rpc_server_close(s);

	/* the allocator itself: refuses past its limit, counts what is held */
	rpc_budget_init(&b, 4096);
	void *p = b.base.alloc(b.base.allocator_data, 1000);
	assert_non_null(p);
	assert_null(b.base.alloc(b.base.allocator_data, 4000));
	assert_true(b.exceeded);
	b.base.free(b.base.allocator_data, p);
	assert_int_equal(b.live, 0);
	assert_true(b.peak >= 1000 && b.peak < 1100);
}

static void test_absolute_deadline(void **state)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	struct rpc_server *s = server();
	Xdrop__V1__RpcReply *rp;
	int l0 = atomic_load(&lists);
	uint8_t *frame;
	size_t len;

	rq.service = "xdrop.v1.RuleService";
	rq.method = "List";
	rq.auth_token = "admin";
	rq.deadline_ms = 60000; /* the relative budget is fine: only the client's clock knows */
	rq.deadline_unix_ms = unix_ms() - 1500;
	frame = pack(&rq, NULL, 0, &len);
	rp = process(s, frame, len, NULL);
	assert_non_null(strstr(rp->message, "client's deadline passed"));
	expect(rp, RPC_DEADLINE_EXCEEDED, "deadline_unix_ms", "a deadline 1.5 s ago");
	free(frame);
	assert_int_equal(atomic_load(&lists), l0);

	/* in the future: runs, and the handler sees the earlier of the two deadlines */
	rq.deadline_unix_ms = unix_ms() + 3000;
	frame = pack(&rq, NULL, 0, &len);
	expect(process(s, frame, len, NULL), RPC_OK, "", "a deadline 3 s ahead");
	free(frame);
	assert_int_equal(atomic_load(&lists), l0 + 1);
	assert_true(atomic_load(&remaining) > 1000 && atomic_load(&remaining) <= 3000);
	rpc_server_close(s);
}

static int call_list(struct rpc_client *c, uint32_t sleep_ms)
{
	Xdrop__V1__ListRulesRequest q = XDROP__V1__LIST_RULES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	int rc;

	q.limit = sleep_ms;
	rc = rpc_client_call_ex(c, &xdrop__v1__rule_service__descriptor, "List", &q.base, &resp,
				&st, 5000, "admin");
	if (rc)
		print_message("List: %s: %s\n", rpc_code_name(st.code), st.message);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* With a 300 ms receive timeout: a call that runs 1.2 s on an otherwise silent connection
 * completes, and a client silent for 1 s (its connection closed meanwhile) is served on
 * the next call. */
static void test_receive_timeout_spares_calls_and_idle_clients(void **state)
{
	struct rpc_server_opts o = {.sz = sizeof(o),
				    .url = "tcp://127.0.0.1:0",
				    .auth = auth,
				    .name = "preauth-timeout",
				    .recv_timeout_ms = 300};
	struct rpc_client_opts co = {.sz = sizeof(co), .timeout_ms = 5000};
	struct rpc_server *s = NULL;
	struct rpc_client *c = NULL;
	char url[64];
	int l0 = atomic_load(&lists);

	assert_int_equal(rpc_server_open(&s, &o), 0);
	assert_int_equal(
	    rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "List", h_list, NULL), 0);
	assert_int_equal(rpc_server_start(s), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rpc_server_port(s));
	co.url = url;
	assert_int_equal(rpc_client_open(&c, &co), 0);
	assert_int_equal(call_list(c, 1200), 0);
	assert_int_equal(atomic_load(&lists), l0 + 1);
	usleep(1000 * 1000);
	assert_int_equal(call_list(c, 0), 0);
	assert_int_equal(atomic_load(&lists), l0 + 2);
	rpc_client_close(c);
	rpc_server_close(s);
}

/*
 * Idle clients do not wedge the server. On ipc://, nng 1.5.2's listener stopped serving
 * (every worker idle, fresh connections and old ones unanswered) after the receive timeout
 * had closed the connections of live, idle REQ clients, which dial again at once, a few
 * dozen times; the server no longer closes pipes there (lib/rpc_pipes.h). On tcp:// it
 * does, and the same load never wedged it. With a 200 ms receive timeout, two clients that
 * called once stay idle for IDLE_S seconds while a fresh connection pings the server every
 * 100 ms: every ping is answered, and both clients are served at the end.
 */
#define IDLE_S 8
static void idle_clients(const char *listen)
{
	struct rpc_server_opts o = {.sz = sizeof(o),
				    .url = listen,
				    .auth = auth,
				    .name = "preauth-idle",
				    .recv_timeout_ms = 200};
	struct rpc_client_opts co = {.sz = sizeof(co), .timeout_ms = 5000};
	struct rpc_server *s = server_with(&o);
	struct rpc_client *c[2] = {NULL, NULL};
	char url[96];
	int64_t end;
	int pings = 0, failed = 0;

	assert_int_equal(rpc_server_start(s), 0);
	if (strncmp(listen, "tcp://", 6) == 0)
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rpc_server_port(s));
	else
		snprintf(url, sizeof(url), "%s", listen);
	co.url = url;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rpc_client_open(&c[i], &co), 0);
		assert_int_equal(call_list(c[i], 0), 0);
	}
	end = unix_ms() + IDLE_S * 1000;
	while (unix_ms() < end) {
		pings++;
		if (wd_ping(url, NULL, 2000) != 0) {
			failed++;
			print_message("%s: ping %d unanswered\n", url, pings);
		}
		usleep(100 * 1000);
	}
	assert_int_equal(failed, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(call_list(c[i], 0), 0);
		rpc_client_close(c[i]);
	}
	rpc_server_close(s);
}

static void test_idle_clients_do_not_wedge_the_server(void **state)
{
	char ipc[96];

	(void)state;
	idle_clients("tcp://127.0.0.1:0");
	snprintf(ipc, sizeof(ipc), "ipc:///tmp/xdrop-preauth-idle-%d.sock", (int)getpid());
	idle_clients(ipc);
	unlink(ipc + strlen("ipc://"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unknown_envelope_fields_cost_nothing),
	    cmocka_unit_test(test_wrong_key_payload_not_decoded),
	    cmocka_unit_test(test_envelope_shape_refused),
	    cmocka_unit_test(test_public_service_frame_cap),
	    cmocka_unit_test(test_payload_decode_budget),
	    cmocka_unit_test(test_absolute_deadline),
	    cmocka_unit_test(test_receive_timeout_spares_calls_and_idle_clients),
	    cmocka_unit_test(test_idle_clients_do_not_wedge_the_server),
	};

	int rc;

	log_set_level(LOG_LEVEL_WARN);
	rc = cmocka_run_group_tests_name("rpc_preauth", tests, NULL, NULL);
	/* nng frees closed sockets' dialers and pipes on its reaper thread; on a loaded
	 * machine that can still be going at exit, which LeakSanitizer reports as leaks.
	 * nng_fini drains the reaper first (every socket is closed by now). */
	nng_fini();
	return rc;
}
