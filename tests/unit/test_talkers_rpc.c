// SPDX-License-Identifier: MIT
/*
 * test_talkers_rpc: the TopTalkers RPC handler (agent/talkers_rpc.c) through
 * rpc_server_process, on both services it is registered for (validation naming the field,
 * defaults, the reply's figures, sampling off, node_id), and the agent's top_talkers
 * config keys (agent/agent_config.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_config.h"
#include "clock.h"
#include "talkers.h"
#include "talkers_rpc.h"
#include "tmpdir.h" /* tests/lib */

static struct xdrop_sample mk(const char *src, const char *dst, uint8_t proto, uint16_t dport,
			      int verdict, uint32_t len, uint32_t every)
{
	struct xdrop_sample s = {.proto = proto,
				 .dport = htons(dport),
				 .verdict = (uint8_t)verdict,
				 .len = len,
				 .every = every};
	const char *why;

	assert_int_equal(addr_parse(src, &s.src, &why), 0);
	assert_int_equal(addr_parse(dst, &s.dst, &why), 0);
	return s;
}

static struct talkers *engine(void)
{
	struct talkers_opts o = {.sz = sizeof(o), .sample_every = 1};
	struct talkers *t;

	assert_int_equal(talkers_start(&t, &o), 0);
	return t;
}

/* ---- the RPC handler ---- */

static Xdrop__V1__RpcReply *call_top(struct rpc_server *srv, const char *svc,
				     const Xdrop__V1__TopTalkersRequest *req,
				     Xdrop__V1__TopTalkersReply **out)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	Xdrop__V1__RpcReply *rep;
	uint8_t *payload, *frame, *reply;
	size_t len, rlen;

	payload = malloc(xdrop__v1__top_talkers_request__get_packed_size(req) + 1);
	assert_non_null(payload);
	rq.service = (char *)svc;
	rq.method = "TopTalkers";
	rq.call_id = 7;
	rq.payload.len = xdrop__v1__top_talkers_request__pack(req, payload);
	rq.payload.data = payload;
	len = xdrop__v1__rpc_request__get_packed_size(&rq);
	frame = malloc(len);
	assert_non_null(frame);
	xdrop__v1__rpc_request__pack(&rq, frame);
	assert_int_equal(rpc_server_process(srv, frame, len, &reply, &rlen), 0);
	rep = xdrop__v1__rpc_reply__unpack(NULL, rlen, reply);
	assert_non_null(rep);
	*out = NULL;
	if ((int)rep->code == RPC_OK)
		*out =
		    xdrop__v1__top_talkers_reply__unpack(NULL, rep->payload.len, rep->payload.data);
	free(payload);
	free(frame);
	free(reply);
	return rep;
}

static struct rpc_server *top_server(struct talkers_rpc *tr)
{
	struct rpc_server_opts ro = {.sz = sizeof(ro), .name = "test"};
	struct rpc_server *srv;

	assert_int_equal(rpc_server_open(&srv, &ro), 0);
	assert_int_equal(rpc_server_register(srv, &xdrop__v1__agent_service__descriptor,
					     "TopTalkers", talkers_rpc_top, tr),
			 0);
	assert_int_equal(rpc_server_register(srv, &xdrop__v1__stats_service__descriptor,
					     "TopTalkers", talkers_rpc_top, tr),
			 0);
	return srv;
}

static void test_rpc_validation(void **state)
{
	struct talkers_rpc tr = {.t = engine(), .node_id = "node-1"};
	struct rpc_server *srv = top_server(&tr);
	static const struct {
		const char *by, *verdict, *node_id;
		uint32_t window_s, limit;
		enum rpc_code code;
		const char *field;
	} cases[] = {
	    {"", "", "", 0, 0, RPC_OK, ""},
	    {"src", "passed", "node-1", 10, 1, RPC_OK, ""},
	    {"src_prefix", "dropped", "", 60, 100, RPC_OK, ""},
	    {"dst", "", "", 300, 0, RPC_OK, ""},
	    {"dst_port", "", "", 0, 0, RPC_OK, ""},
	    {"source", "", "", 0, 0, RPC_INVALID_ARGUMENT, "by"},
	    {"", "rejected", "", 0, 0, RPC_INVALID_ARGUMENT, "verdict"},
	    {"", "", "", 30, 0, RPC_INVALID_ARGUMENT, "window_s"},
	    {"", "", "", 3600, 0, RPC_INVALID_ARGUMENT, "window_s"},
	    {"", "", "", 0, 101, RPC_INVALID_ARGUMENT, "limit"},
	    {"", "", "node-2", 0, 0, RPC_NOT_FOUND, "node_id"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Xdrop__V1__TopTalkersRequest q = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
		Xdrop__V1__TopTalkersReply *r;
		Xdrop__V1__RpcReply *rep;

		q.by = (char *)cases[i].by;
		q.verdict = (char *)cases[i].verdict;
		q.node_id = (char *)cases[i].node_id;
		q.window_s = cases[i].window_s;
		q.limit = cases[i].limit;
		rep = call_top(srv, i % 2 ? "xdrop.v1.AgentService" : "xdrop.v1.StatsService", &q,
			       &r);
		print_message("# %s/%s/%u/%u/%s: %d %s %s\n", cases[i].by, cases[i].verdict,
			      cases[i].window_s, cases[i].limit, cases[i].node_id, rep->code,
			      rep->field, rep->message);
		assert_int_equal((int)rep->code, (int)cases[i].code);
		assert_string_equal(rep->field, cases[i].field);
		if (cases[i].code != RPC_OK) /* the message names the field too */
			assert_non_null(strstr(rep->message, cases[i].field));
		else {
			assert_non_null(r);
			assert_string_equal(r->by, *cases[i].by ? cases[i].by : "src");
			assert_string_equal(r->verdict,
					    *cases[i].verdict ? cases[i].verdict : "dropped");
			assert_int_equal(r->window_s, cases[i].window_s ? cases[i].window_s : 10);
			assert_int_equal(r->sample_rate, 1);
			assert_true(r->at > 0);
		}
		xdrop__v1__top_talkers_reply__free_unpacked(r, NULL);
		xdrop__v1__rpc_reply__free_unpacked(rep, NULL);
	}
	rpc_server_close(srv);
	talkers_stop(tr.t);
}

static void test_rpc_reply(void **state)
{
	struct talkers_opts o = {
	    .sz = sizeof(o), .sample_every = 64, .start_ms = clock_mono_ms() - 5000};
	struct talkers_rpc tr = {.node_id = NULL};
	struct rpc_server *srv;
	Xdrop__V1__TopTalkersRequest q = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	Xdrop__V1__TopTalkersReply *r;
	Xdrop__V1__RpcReply *rep;
	char ip[32];

	(void)state;
	assert_int_equal(talkers_start(&tr.t, &o), 0);
	srv = top_server(&tr);
	for (int i = 0; i < 30; i++) {
		struct xdrop_sample s;

		snprintf(ip, sizeof(ip), "2001:db8:%x::1", i + 1);
		s = mk(ip, "2001:db8::1", IPPROTO_TCP, 22, 1, 100, 64);
		for (int j = 0; j <= i; j++)
			talkers_add(tr.t, &s, clock_mono_ms());
	}
	q.limit = 5;
	q.by = "src_prefix";
	rep = call_top(srv, "xdrop.v1.AgentService", &q, &r);
	assert_int_equal((int)rep->code, RPC_OK);
	assert_int_equal(r->sample_rate, 64);
	assert_int_equal(r->n_talkers, 5);
	assert_int_equal(r->samples, 30 * 31 / 2);
	assert_int_equal(r->total_packets, 30 * 31 / 2 * 64);
	assert_int_equal(r->total_bytes, 30 * 31 / 2 * 64 * 100);
	assert_true(r->span_s >= 5 && r->span_s <= 10);
	assert_string_equal(r->talkers[0]->key, "2001:db8:1e::/64");
	assert_int_equal(r->talkers[0]->packets, 30 * 64);
	assert_true(fabs(r->talkers[0]->share - 30.0 / (30 * 31 / 2)) < 1e-9);
	assert_true(r->talkers[0]->pps > 0 && r->talkers[0]->bps > 0);
	assert_true(r->at > 0);
	xdrop__v1__top_talkers_reply__free_unpacked(r, NULL);
	xdrop__v1__rpc_reply__free_unpacked(rep, NULL);
	/* a request naming a node is refused by an agent without an id */
	q.node_id = "node-1";
	rep = call_top(srv, "xdrop.v1.StatsService", &q, &r);
	assert_int_equal((int)rep->code, RPC_NOT_FOUND);
	xdrop__v1__rpc_reply__free_unpacked(rep, NULL);
	/* sampling turned off: no figures, and sample_rate 0 says why */
	q.node_id = "";
	talkers_set_rate(tr.t, 0);
	rep = call_top(srv, "xdrop.v1.StatsService", &q, &r);
	assert_int_equal((int)rep->code, RPC_OK);
	assert_int_equal(r->sample_rate, 0);
	assert_int_equal(r->n_talkers, 0);
	assert_string_equal(r->by, "src_prefix");
	xdrop__v1__top_talkers_reply__free_unpacked(r, NULL);
	xdrop__v1__rpc_reply__free_unpacked(rep, NULL);
	rpc_server_close(srv);
	talkers_stop(tr.t);
	/* no engine at all (sampling off in the config): the same */
	tr.t = NULL;
	srv = top_server(&tr);
	rep = call_top(srv, "xdrop.v1.AgentService", &q, &r);
	assert_int_equal((int)rep->code, RPC_OK);
	assert_int_equal(r->sample_rate, 0);
	assert_int_equal(r->n_talkers, 0);
	xdrop__v1__top_talkers_reply__free_unpacked(r, NULL);
	xdrop__v1__rpc_reply__free_unpacked(rep, NULL);
	rpc_server_close(srv);
}

/* ---- the config keys ---- */

static int load_cfg(const char *dir, const char *extra, struct agent_config *c)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/agent.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "interface: eth0\npin_dir: /sys/fs/bpf/xdrop-none\n%s", extra);
	fclose(f);
	return agent_config_load(c, path);
}

static void test_config_keys(void **state)
{
	char dir[64];
	struct agent_config c;
	static const struct {
		const char *yaml;
		int err;
		uint32_t every, capacity;
	} cases[] = {
	    {"", 0, XDROP_DEF_SAMPLE_EVERY, TALKERS_DEF_CAPACITY},
	    {"top_talkers: {sample_every: 0}\n", 0, 0, TALKERS_DEF_CAPACITY},
	    {"top_talkers: {sample_every: 1, capacity: 16}\n", 0, 1, 16},
	    {"top_talkers:\n  sample_every: 1048576\n  capacity: 8192\n", 0, 1048576, 8192},
	    {"top_talkers: {sample_every: 1048577}\n", -EINVAL, 0, 0},
	    {"top_talkers: {sample_every: -1}\n", -EINVAL, 0, 0},
	    {"top_talkers: {sample_every: often}\n", -EINVAL, 0, 0},
	    {"top_talkers: {capacity: 15}\n", -EINVAL, 0, 0},
	    {"top_talkers: {capacity: 8193}\n", -EINVAL, 0, 0},
	    {"top_talkers: {capacty: 64}\n", -EINVAL, 0, 0},
	};

	(void)state;
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "test_talkers"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = load_cfg(dir, cases[i].yaml, &c);

		assert_int_equal(err, cases[i].err);
		if (!err) {
			assert_int_equal(c.talkers_every, cases[i].every);
			assert_int_equal(c.talkers_capacity, cases[i].capacity);
		} else {
			/* the error names the key: top_talkers.<key> */
			assert_non_null(strstr(config_error(c.raw), "top_talkers."));
		}
		agent_config_free(&c);
	}
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rpc_validation),
	    cmocka_unit_test(test_rpc_reply),
	    cmocka_unit_test(test_config_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
