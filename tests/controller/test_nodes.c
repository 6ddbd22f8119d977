// SPDX-License-Identifier: MIT
/*
 * test_nodes: the controller's node registry (controller/nodes.c) and what depends on it,
 * on real SQLite files and real nng sockets: 1,100 registered nodes are all tracked (a
 * beacon from the 1,100th is accepted; nothing leaks, which ASan checks at exit); the one
 * node id rule (lib/rule.c rule_id_ok: 1..64 of [A-Za-z0-9._-]) holds for the API and for
 * node tokens; and per-rule counters are fetched from an agent at a tls+tcp:// address
 * (mutual TLS, certificates made with openssl in a temp dir) with the controller's TLS
 * settings, where without them the agent is never reached.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "../lib/tmpdir.h"

#include "harness.h"
#include "log.h"
#include "nodekey.h"
#include "pubsub.h"
#include "rule.h"

static char dir[64];

#define NODES (&xdrop__v1__node_service__descriptor)
#define SYNC  (&xdrop__v1__sync_service__descriptor)

static struct store *open_store(const char *name)
{
	struct store_opts o = {.sz = sizeof(o)};
	struct store *s = NULL;
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	o.path = path;
	assert_int_equal(store_open(&s, &o), 0);
	return s;
}

/* Feeds a fresh signed beacon of node id (at the store's revision) to n. */
static int feed_beacon(struct nodes *n, struct store *st, const char *id, const char *key,
		       Xdrop__V1__RuleCounter **top, size_t ntop)
{
	Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
	struct store_rev rev;
	uint8_t bkey[XDROP_NODEKEY_LEN];
	uint8_t *frame = NULL;
	size_t len = 0;
	int err;

	store_revision(st, &rev);
	b.node_id = (char *)id;
	b.seq = 1;
	b.sent_at = clock_wall_ns();
	b.revision = rev.revision;
	b.content_hash = rev.hash;
	b.version = "test";
	b.top_rules = top;
	b.n_top_rules = ntop;
	nodekey_beacon_key(key, bkey); /* as the agent signs (lib/nodekey.h) */
	assert_int_equal(pubsub_beacon_frame(&b, bkey, sizeof(bkey), &frame, &len), 0);
	err = nodes_feed(n, frame, len);
	free(frame);
	return err;
}

/* ---- every registered node is tracked ------------------------------------------------- */

#define MANY_NODES 1100 /* above the 1024 the table used to stop at */

/* An allocator for nodes_outcome's errors: every block kept, freed by arena_free. */
struct arena {
	void *p[4 * MANY_NODES];
	size_t n;
};

static void *arena_alloc(void *ctx, size_t size)
{
	struct arena *a = ctx;

	if (a->n == sizeof(a->p) / sizeof(a->p[0]))
		return NULL;
	return a->p[a->n++] = calloc(1, size);
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a);
}

static void test_more_than_1024_nodes(void **state)
{
	struct nodes_opts no = {.sz = sizeof(no), .interval_ms = 1000};
	struct store *st = open_store("many.db");
	struct nodes *n = NULL;
	Xdrop__V1__SyncOutcome out = XDROP__V1__SYNC_OUTCOME__INIT;
	char id[32], key[48], last[32], lastkey[48];

	for (int i = 0; i < MANY_NODES; i++) {
		Xdrop__V1__Node node = XDROP__V1__NODE__INIT;

		snprintf(id, sizeof(id), "n%04d", i);
		snprintf(key, sizeof(key), "key-%04d-0123456789abcdef", i);
		node.id = id;
		node.created_at = node.updated_at = clock_wall_ns() + i;
		assert_int_equal(store_node_add(st, &node, key), 0);
	}
	snprintf(last, sizeof(last), "n%04d", MANY_NODES - 1);
	snprintf(lastkey, sizeof(lastkey), "key-%04d-0123456789abcdef", MANY_NODES - 1);
	no.store = st;
	assert_int_equal(nodes_open(&n, &no), 0);

	nodes_outcome(n, 0, &out, NULL, NULL);
	assert_int_equal(out.nodes, MANY_NODES);
	assert_int_equal(nodes_status(n, last), NODE_UNKNOWN);
	assert_int_equal(feed_beacon(n, st, last, lastkey, NULL, 0), 0);
	assert_int_equal(nodes_status(n, last), NODE_ONLINE);
	assert_int_equal(feed_beacon(n, st, "n0000", "key-0000-0123456789abcdef", NULL, 0), 0);
	assert_int_equal(nodes_status(n, "n0000"), NODE_ONLINE);

	/* a reload keeps the live state of every node, the last one included */
	assert_int_equal(store_node_delete(st, "n0500"), 0);
	assert_int_equal(nodes_reload(n), 0);
	nodes_outcome(n, 0, &out, NULL, NULL);
	assert_int_equal(out.nodes, MANY_NODES - 1);
	assert_int_equal(out.applied, 2);
	assert_int_equal(nodes_status(n, last), NODE_ONLINE);

	/* with an allocator: one error per failed node, naming it and why */
	{
		struct arena *a = calloc(1, sizeof(*a));

		assert_non_null(a);
		nodes_outcome(n, 0, &out, arena_alloc, a);
		assert_int_equal(out.failed, MANY_NODES - 3);
		assert_int_equal(out.n_errors, out.failed);
		for (size_t i = 0; i < out.n_errors; i++) {
			assert_string_not_equal(out.errors[i]->node_id, last);
			assert_string_not_equal(out.errors[i]->node_id, "n0000");
			assert_non_null(strstr(out.errors[i]->message, "unknown"));
		}
		assert_string_equal(out.errors[0]->node_id, "n0001");
		arena_free(a);
	}
	nodes_close(n);
	store_close(st);
}

/* ---- one node id rule ------------------------------------------------------------------ */

static void test_node_id_rule(void **state)
{
	static const struct {
		const char *id;
		bool ok;
	} cases[] = {
	    {"a", true},
	    {"edge-1", true},
	    {"rack4.edge_2", true},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},	  /* 64 */
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, /* 65 */
	    {"", false},
	    {NULL, false},
	    {"a:b", false},
	    {"edge 1", false},
	    {"a/b", false},
	    {"n\xc3\xa9", false},
	    {"a\n", false},
	};
	Xdrop__V1__CreateNodeRequest cn = XDROP__V1__CREATE_NODE_REQUEST__INIT;
	Xdrop__V1__Empty gr = XDROP__V1__EMPTY__INIT;
	Xdrop__V1__Node node = XDROP__V1__NODE__INIT;
	Xdrop__V1__NodeWriteReply *rep = NULL;
	struct rpc_status st;
	struct ctl c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(rule_id_ok(cases[i].id), cases[i].ok);

	/* the API: what rule_id_ok refuses is INVALID_ARGUMENT on node.id */
	ctl_start(&c, 500);
	cn.node = &node;
	node.name = "edge";
	node.address = "tcp://127.0.0.1:1";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cases[i].id || !cases[i].id[0])
			continue; /* empty: the controller makes a UUID */
		node.id = (char *)cases[i].id;
		rep = NULL;
		if (cases[i].ok) {
			char token[160];
			struct rpc_client *cl;

			assert_int_equal(ctl_call(c.admin, NODES, "Create", &cn, &rep, NULL),
					 RPC_OK);
			/* and its node token authenticates */
			snprintf(token, sizeof(token), "node:%s:%s", cases[i].id, rep->key);
			cl = ctl_client(&c, token);
			assert_int_equal(ctl_call(cl, SYNC, "GetRevision", &gr, NULL, NULL),
					 RPC_OK);
			rpc_client_close(cl);
			xdrop__v1__node_write_reply__free_unpacked(rep, NULL);
		} else {
			assert_int_equal(ctl_call(c.admin, NODES, "Create", &cn, NULL, &st),
					 RPC_INVALID_ARGUMENT);
			assert_string_equal(st.field, "node.id");
			assert_non_null(strstr(st.message, "1..64 characters of [A-Za-z0-9._-]"));
		}
	}
	/* a token naming an id outside the rule is refused before any lookup */
	struct rpc_client *bad = ctl_client(&c, "node:edge 1:0123456789abcdef0123");
	assert_int_equal(ctl_call(bad, SYNC, "GetRevision", &gr, NULL, NULL), RPC_UNAUTHENTICATED);
	rpc_client_close(bad);
	ctl_stop(&c);
}

/* ---- per-rule counters over tls+tcp:// ------------------------------------------------- */

static char ca[128], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128];
static atomic_int rule_stats_calls;

static enum rpc_code rule_stats_h(struct rpc_call *call, const ProtobufCMessage *req,
				  ProtobufCMessage *resp, void *arg)
{
	static Xdrop__V1__RuleCounter rc = XDROP__V1__RULE_COUNTER__INIT;
	static Xdrop__V1__RuleCounter *v[1] = {&rc};
	Xdrop__V1__RuleStatsReply *r = (Xdrop__V1__RuleStatsReply *)resp;

	atomic_fetch_add(&rule_stats_calls, 1);
	rc.id = "tls-rule";
	rc.match_count = 777;
	rc.drop_count = 700;
	rc.pps = 7;
	r->rules = v;
	r->n_rules = 1;
	return RPC_OK;
}

static int make_certs(void)
{
	char cmd[2048];

	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(srv_crt, sizeof(srv_crt), "%s/agent.crt", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/agent.key", dir);
	snprintf(cli_crt, sizeof(cli_crt), "%s/controller.crt", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/controller.key", dir);
	/* as tests/rpc/tls.sh: a CA, the agent's server certificate (localhost) and the
	 * controller's client certificate */
	snprintf(cmd, sizeof(cmd),
		 "set -e; exec >/dev/null 2>&1; cd %s;"
		 "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
		 "openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca"
		 " -addext basicConstraints=critical,CA:TRUE"
		 " -addext keyUsage=critical,keyCertSign,cRLSign;"
		 "leaf() { openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$2;"
		 " printf '%%s\\n' \"$3\" > $1.ext;"
		 " openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
		 " -out $1.crt -extfile $1.ext; };"
		 "leaf agent localhost 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth';"
		 "leaf controller controller 'extendedKeyUsage=clientAuth'",
		 dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Per-rule counters from a controller whose calls to nodes use tls (NULL: none). */
static void counters_with(const struct tls_opts *tls, const char *agent_url, bool *from_agent,
			  bool *from_beacon)
{
	static int k;
	struct nodes_opts no = {.sz = sizeof(no), .interval_ms = 1000, .tls = tls};
	Xdrop__V1__Node node = XDROP__V1__NODE__INIT;
	Xdrop__V1__RuleCounter bc = XDROP__V1__RULE_COUNTER__INIT, *top[1] = {&bc};
	const char *key = "edge-tls-key-0123456789";
	char name[32];
	struct store *st;
	struct nodes *n = NULL;
	struct stats *sts = NULL;
	struct rule_sum *v = NULL;
	const struct rule_sum *hit;
	size_t nv = 0;

	snprintf(name, sizeof(name), "tls%d.db", k++);
	st = open_store(name);
	node.id = "edge-tls";
	node.address = (char *)agent_url;
	assert_int_equal(store_node_add(st, &node, key), 0);
	no.store = st;
	assert_int_equal(nodes_open(&n, &no), 0);
	assert_int_equal(stats_open(&sts, n, 60), 0);
	bc.id = "beacon-rule";
	bc.match_count = 1;
	assert_int_equal(feed_beacon(n, st, "edge-tls", key, top, 1), 0);
	assert_int_equal(nodes_status(n, "edge-tls"), NODE_ONLINE);

	assert_int_equal(stats_rule_counters(sts, true, &v, &nv), 0);
	hit = stats_rule_find(v, nv, STORE_RULES, "tls-rule");
	*from_agent = hit && hit->match_count == 777 && hit->drop_count == 700;
	*from_beacon = stats_rule_find(v, nv, STORE_RULES, "beacon-rule") != NULL;
	free(v);
	stats_close(sts);
	nodes_close(n);
	store_close(st);
}

static void test_rule_counters_over_tls(void **state)
{
	struct tls_opts agent_tls = {
	    .ca_file = ca, .cert_file = srv_crt, .key_file = srv_key, .require_client_cert = true};
	struct tls_opts ctl_tls = {
	    .ca_file = ca, .cert_file = cli_crt, .key_file = cli_key, .server_name = "localhost"};
	struct rpc_server_opts so = {.sz = sizeof(so),
				     .url = "tls+tcp://127.0.0.1:0",
				     .workers = 2,
				     .tls = &agent_tls,
				     .name = "tls-agent"};
	struct rpc_server *agent = NULL;
	bool from_agent, from_beacon;
	char url[64];
	int calls;

	assert_int_equal(make_certs(), 0);
	assert_int_equal(rpc_server_open(&agent, &so), 0);
	assert_int_equal(rpc_server_register(agent, &xdrop__v1__agent_service__descriptor,
					     "RuleStats", rule_stats_h, NULL),
			 0);
	assert_int_equal(rpc_server_start(agent), 0);
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", rpc_server_port(agent));

	/* with the controller's TLS settings the agent answers, and its figures replace the
	 * beacon's top rules for that node */
	counters_with(&ctl_tls, url, &from_agent, &from_beacon);
	assert_true(from_agent);
	assert_false(from_beacon);
	calls = atomic_load(&rule_stats_calls);
	assert_true(calls >= 1); /* the seeder (stats_seed) may have asked too */

	/* control: without them the agent is never reached and the beacon's figures stand in,
	 * which is what every call did when the settings were not passed */
	counters_with(NULL, url, &from_agent, &from_beacon);
	assert_false(from_agent);
	assert_true(from_beacon);
	assert_int_equal(atomic_load(&rule_stats_calls), calls);
	rpc_server_close(agent);
}

static int setup(void **state)
{
	log_set_level(LOG_LEVEL_ERROR);
	return tmpdir_make(dir, sizeof(dir), "xdrop-nodes");
}

static int teardown(void **state)
{
	return tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_more_than_1024_nodes),
	    cmocka_unit_test(test_node_id_rule),
	    cmocka_unit_test(test_rule_counters_over_tls),
	};

	return cmocka_run_group_tests_name("controller nodes", tests, setup, teardown);
}
