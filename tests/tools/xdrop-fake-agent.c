// SPDX-License-Identifier: MIT
/*
 * xdrop-fake-agent: a stand-in for xdrop-agent in tests of what the controller and
 * xdropctl make of an agent's figures (tests/cli/test_cli.sh), without a data plane. It
 * publishes a signed beacon every 200 ms on the controller's health socket (attached,
 * known counters and rates, and the counters of one rule and one whitelist entry), and
 * serves AgentService.TopTalkers with fixed talkers, until SIGTERM or SIGINT.
 *
 * usage: xdrop-fake-agent HEALTH_URL RPC_URL NODE_ID NODE_KEY REVISION HASH RULE_ID WL_ID
 *
 * REVISION and HASH are what its beacons claim to have applied (the controller's, for an
 * online node: `xdropctl --json info`).
 * The figures (the test checks them): counters rx 3000 (192000 bytes), dropped 1000,
 * whitelisted 200, rate_limited 50, malformed 3; rates rx 300 pps at 1.536 Mbit/s;
 * RULE_ID matched 1234 times (78976 bytes), WL_ID 200 times (12800 bytes); talkers
 * 192.0.2.7 (6400 packets, 75%) and 192.0.2.8 (2133 packets) of 8533, 1 in 64 sampled.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "nodekey.h"
#include "pubsub.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static enum rpc_code talkers(struct rpc_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage *resp, void *arg)
{
	static const char *const keys[] = {"192.0.2.7", "192.0.2.8"};
	static const uint64_t packets[] = {6400, 2133};
	const Xdrop__V1__TopTalkersRequest *q = (const void *)req;
	Xdrop__V1__TopTalkersReply *r = (void *)resp;
	Xdrop__V1__Talker **v = rpc_call_alloc(call, 2 * sizeof(*v));

	for (size_t i = 0; v && i < 2 && i < q->limit; i++) {
		Xdrop__V1__Talker *t = rpc_call_alloc(call, sizeof(*t));

		if (!t)
			break;
		xdrop__v1__talker__init(t);
		t->key = (char *)keys[i];
		t->packets = packets[i];
		t->bytes = packets[i] * 64;
		t->pps = (double)packets[i] / 10;
		t->bps = t->pps * 512;
		t->share = (double)packets[i] / 8533;
		t->error_packets = 64;
		v[r->n_talkers++] = t;
	}
	r->talkers = v;
	r->by = rpc_call_strdup(call, q->by);
	r->verdict = rpc_call_strdup(call, q->verdict);
	r->window_s = q->window_s;
	r->span_s = 10;
	r->sample_rate = 64;
	r->samples = 8533 / 64;
	r->total_packets = 8533;
	r->total_bytes = 8533 * 64;
	r->at = clock_wall_ns();
	return RPC_OK;
}

/* One beacon with the figures above. */
static void beacon(struct pubsub_pub *pub, char **argv, const uint8_t *bkey, uint64_t seq)
{
	Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Rates r = XDROP__V1__RATES__INIT;
	Xdrop__V1__AttachState a = XDROP__V1__ATTACH_STATE__INIT;
	Xdrop__V1__RuleCounter rule = XDROP__V1__RULE_COUNTER__INIT,
			       wl = XDROP__V1__RULE_COUNTER__INIT, *rc[2] = {&rule, &wl};

	c.rx = 3000;
	c.rx_bytes = 192000;
	c.dropped = 1000;
	c.dropped_bytes = 64000;
	c.passed = 2000;
	c.whitelisted = 200;
	c.rate_limited = 50;
	c.malformed = 3;
	r.rx_pps = 300;
	r.rx_bps = 1536000;
	a.attached = true;
	a.mode = "traditional";
	rule.id = argv[7];
	rule.kind = "rule";
	rule.match_count = 1234;
	rule.match_bytes = 78976;
	wl.id = argv[8];
	wl.kind = "whitelist";
	wl.match_count = 200;
	wl.match_bytes = 12800;
	b.node_id = argv[3];
	b.seq = seq;
	b.sent_at = clock_wall_ns();
	b.version = "fake";
	b.revision = strtoull(argv[5], NULL, 10);
	b.content_hash = argv[6];
	b.rpc_address = argv[2];
	b.counters = &c;
	b.rates = &r;
	b.attach = &a;
	b.rule_counters = rc;
	b.n_rule_counters = 2;
	pubsub_pub_beacon(pub, &b, bkey, XDROP_NODEKEY_LEN);
}

int main(int argc, char **argv)
{
	struct rpc_server_opts so = {.sz = sizeof(so), .name = "fake-agent"};
	struct pubsub_opts po = {.sz = sizeof(po)};
	struct rpc_server *srv = NULL;
	struct pubsub_pub *pub = NULL;
	uint8_t bkey[XDROP_NODEKEY_LEN];
	uint64_t seq = 0;
	int rc = 1;

	if (argc != 9) {
		fprintf(stderr, "usage: xdrop-fake-agent HEALTH_URL RPC_URL NODE_ID NODE_KEY "
				"REVISION HASH RULE_ID WL_ID\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	so.url = argv[2];
	po.url = argv[1];
	nodekey_beacon_key(argv[4], bkey); /* as the agent signs (lib/nodekey.h) */
	if (rpc_server_open(&srv, &so) ||
	    rpc_server_register(srv, &xdrop__v1__agent_service__descriptor, "TopTalkers", talkers,
				NULL) ||
	    rpc_server_start(srv) || pubsub_pub_open(&pub, &po)) {
		log_error("fake-agent: cannot start on %s / %s", argv[2], argv[1]);
		goto out;
	}
	while (!stop) {
		beacon(pub, argv, bkey, ++seq);
		usleep(200000);
	}
	rc = 0;
out:
	pubsub_pub_close(pub);
	rpc_server_close(srv);
	return rc;
}
