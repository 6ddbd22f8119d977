// SPDX-License-Identifier: MIT
/*
 * test_rpc_tls: RPC (REQ/REP) and pub/sub over tls+tcp:// on loopback with certificates
 * that tests/rpc/tls.sh generates into $XDROP_TEST_CERTS: server-only TLS, mutual TLS, and
 * the clients that must be refused (no certificate, a certificate from another CA, a
 * client that does not trust the server's CA).
 */
#include <errno.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "pubsub.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

static char ca[512], srv_cert[512], srv_key[512], cli_cert[512], cli_key[512];
static char rogue_ca[512], rogue_cert[512], rogue_key[512];
static atomic_int pings;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum rpc_code h_ping(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg)
{
	Xdrop__V1__PingReply *rep = (void *)resp;

	atomic_fetch_add(&pings, 1);
	rep->server = "tls";
	return RPC_OK;
}

static int group_setup(void **state)
{
	const char *dir = getenv("XDROP_TEST_CERTS");

	if (!dir) {
		fprintf(stderr, "XDROP_TEST_CERTS is not set: run tests/rpc/tls.sh\n");
		return -1;
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(srv_cert, sizeof(srv_cert), "%s/server.crt", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/server.key", dir);
	snprintf(cli_cert, sizeof(cli_cert), "%s/client.crt", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/client.key", dir);
	snprintf(rogue_ca, sizeof(rogue_ca), "%s/rogue-ca.crt", dir);
	snprintf(rogue_cert, sizeof(rogue_cert), "%s/rogue.crt", dir);
	snprintf(rogue_key, sizeof(rogue_key), "%s/rogue.key", dir);
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

static struct rpc_server *start_tls_server(bool mutual, char *url, size_t url_len)
{
	struct tls_opts t = {.ca_file = ca,
			     .cert_file = srv_cert,
			     .key_file = srv_key,
			     .require_client_cert = mutual};
	struct rpc_server_opts o = {.sz = sizeof(o),
				    .url = "tls+tcp://127.0.0.1:0",
				    .workers = 2,
				    .tls = &t,
				    .name = "tls"};
	struct rpc_server *s = NULL;

	assert_int_equal(rpc_server_open(&s, &o), 0);
	assert_int_equal(
	    rpc_server_register(s, &xdrop__v1__health_service__descriptor, "Ping", h_ping, NULL),
	    0);
	assert_int_equal(rpc_server_start(s), 0);
	assert_true(rpc_server_port(s) > 0);
	snprintf(url, url_len, "tls+tcp://127.0.0.1:%d", rpc_server_port(s));
	return s;
}

/* One Ping with the given client TLS settings; returns the status code. */
/* The last ping_with()'s status message. */
static char last_msg[XDROP_RPC_MAX_MESSAGE];

static enum rpc_code ping_with(const char *url, const struct tls_opts *t, unsigned timeout_ms)
{
	struct rpc_client_opts o = {
	    .sz = sizeof(o), .url = url, .timeout_ms = timeout_ms, .tls = t};
	Xdrop__V1__PingRequest rq = XDROP__V1__PING_REQUEST__INIT;
	struct rpc_client *c = NULL;
	ProtobufCMessage *rep = NULL;
	struct rpc_status st;

	assert_int_equal(rpc_client_open(&c, &o), 0);
	rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &rq.base, &rep, &st);
	if (rep)
		protobuf_c_message_free_unpacked(rep, NULL);
	rpc_client_close(c);
	snprintf(last_msg, sizeof(last_msg), "%s", st.message);
	return st.code;
}

/* ping_with() fails with UNAVAILABLE and a message containing what, without waiting for
 * its timeout (30 s: half of it is far more than a refused handshake takes even on a
 * loaded machine). */
static void refused_with(const char *url, const struct tls_opts *t, const char *what)
{
	int64_t t0 = now_ms();

	assert_int_equal(ping_with(url, t, 30000), RPC_UNAVAILABLE);
	if (!strstr(last_msg, what))
		fail_msg("expected \"%s\" in \"%s\"", what, last_msg);
	assert_true(now_ms() - t0 < 15000);
}

static void test_rpc_over_tls(void **state)
{
	struct tls_opts good = {.ca_file = ca, .server_name = "localhost"};
	struct tls_opts wrong_name = {.ca_file = ca, .server_name = "not-localhost"};
	struct tls_opts distrust = {.ca_file = rogue_ca, .server_name = "localhost"};
	struct tls_opts url_host = {.ca_file = ca}; /* the name checked is the URL's 127.0.0.1 */
	struct tls_opts any_name = {.ca_file = ca, .skip_name_check = true};
	char url[64];
	struct rpc_server *s = start_tls_server(false, url, sizeof(url));
	int before = atomic_load(&pings);

	assert_int_equal(ping_with(url, &good, 3000), RPC_OK);
	assert_int_equal(atomic_load(&pings), before + 1);
	/* a client that does not trust the server's CA, or expects another name, gets nothing,
	 * and is told which at once */
	refused_with(url, &distrust, "unknown CA");
	refused_with(url, &wrong_name, "name mismatch");
	refused_with(url, &wrong_name, "\"not-localhost\"");
	/* without server_name the URL's host is checked (mbedTLS 2.28: not against IP SANs) */
	refused_with(url, &url_host, "does not carry the name \"127.0.0.1\"; mbedTLS 2.28");
	assert_int_equal(atomic_load(&pings), before + 1);
	/* the name check turned off explicitly: any certificate from the CA */
	assert_int_equal(ping_with(url, &any_name, 3000), RPC_OK);
	assert_int_equal(atomic_load(&pings), before + 2);
	/* a plain tcp:// client cannot talk to the TLS port */
	char plain[64];
	snprintf(plain, sizeof(plain), "tcp://%s", url + strlen("tls+tcp://"));
	assert_int_not_equal(ping_with(plain, NULL, 400), RPC_OK);
	assert_int_equal(atomic_load(&pings), before + 2);
	rpc_server_close(s);
}

static void test_rpc_mutual_tls(void **state)
{
	struct tls_opts with_cert = {
	    .ca_file = ca, .server_name = "localhost", .cert_file = cli_cert, .key_file = cli_key};
	struct tls_opts no_cert = {.ca_file = ca, .server_name = "localhost"};
	struct tls_opts rogue = {.ca_file = ca,
				 .server_name = "localhost",
				 .cert_file = rogue_cert,
				 .key_file = rogue_key};
	char url[64];
	struct rpc_server *s = start_tls_server(true, url, sizeof(url));
	int before = atomic_load(&pings);
	int64_t t0;

	assert_int_equal(ping_with(url, &with_cert, 3000), RPC_OK);
	assert_int_equal(atomic_load(&pings), before + 1);
	t0 = now_ms();
	refused_with(url, &no_cert, "requires a client certificate and none is configured");
	assert_true(now_ms() - t0 < 2000);
	refused_with(url, &rogue, "did not accept the client certificate");
	assert_int_equal(atomic_load(&pings), before + 1); /* refused before any call */
	/* and the server still serves the good client */
	assert_int_equal(ping_with(url, &with_cert, 3000), RPC_OK);
	rpc_server_close(s);
}

/* nng errors become readable text and errno values (nng_strerror printed the first one, seen
 * from a controller in a namespace with only loopback, as "Unknown error #268435447"). */
static void test_nng_errors_decoded(void **state)
{
	char host[64];

	assert_int_equal(NNG_ESYSERR + EAI_ADDRFAMILY, 268435447);
	assert_string_equal(tls_strerror(268435447),
			    "address lookup failed: Address family for hostname not supported");
	assert_int_equal(tls_nng_errno(268435447), -EADDRNOTAVAIL);
	assert_string_equal(tls_strerror(NNG_ESYSERR | ENOTDIR), "Not a directory");
	assert_int_equal(tls_nng_errno(NNG_ESYSERR | ENOTDIR), -ENOTDIR);
	assert_string_equal(tls_strerror(NNG_ETRANERR | 7), "transport error 7");
	assert_string_equal(tls_strerror(NNG_ECONNREFUSED), "Connection refused");
	/* the host a TLS client checks by default */
	assert_int_equal(tls_url_host("tls+tcp://ctl.example:7700", host, sizeof(host)), 0);
	assert_string_equal(host, "ctl.example");
	assert_int_equal(tls_url_host("tls+tcp://[2001:db8::1]:7700", host, sizeof(host)), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_true(tls_name_is_ip(host));
	assert_int_equal(tls_url_host("tls+tcp://:7700", host, sizeof(host)), -EINVAL);
	assert_int_equal(tls_url_host("tls+tcp://a-very-long-name:1", host, 4), -ENAMETOOLONG);
}

static void test_tls_config_errors(void **state)
{
	struct tls_opts no_key = {.cert_file = srv_cert};
	struct tls_opts missing = {.cert_file = "/nonexistent.crt", .key_file = srv_key};
	struct tls_opts mutual_no_ca = {
	    .cert_file = srv_cert, .key_file = srv_key, .require_client_cert = true};
	const struct tls_opts *bad[] = {NULL, &no_key, &missing, &mutual_no_ca};
	struct rpc_client_opts co = {.sz = sizeof(co), .url = "tls+tcp://127.0.0.1:1"};
	struct rpc_client *c = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rpc_server_opts o = {
		    .sz = sizeof(o), .url = "tls+tcp://127.0.0.1:0", .tls = bad[i]};
		struct rpc_server *s = NULL;

		assert_int_equal(rpc_server_open(&s, &o), 0);
		assert_true(rpc_server_start(s) < 0);
		rpc_server_close(s);
	}
	/* a TLS client must name a CA (or say insecure) */
	assert_int_equal(rpc_client_open(&c, &co), -EINVAL);
}

struct sub_state {
	struct pubsub_sub *sub;
	atomic_int needs;
	atomic_int applied;
};

static int sub_apply(void *arg, const Xdrop__V1__Delta *d)
{
	struct sub_state *ss = arg;

	atomic_fetch_add(&ss->applied, 1);
	return 0;
}

static void sub_need(void *arg, enum pubsub_resync_reason why, uint64_t applied, uint64_t seen)
{
	struct sub_state *ss = arg;

	atomic_fetch_add(&ss->needs, 1);
	pubsub_sub_set_revision(ss->sub, 0, NULL); /* an empty snapshot */
}

static void test_pubsub_mutual_tls(void **state)
{
	struct tls_opts st = {
	    .ca_file = ca, .cert_file = srv_cert, .key_file = srv_key, .require_client_cert = true};
	struct tls_opts good = {
	    .ca_file = ca, .server_name = "localhost", .cert_file = cli_cert, .key_file = cli_key};
	struct tls_opts no_cert = {.ca_file = ca, .server_name = "localhost"};
	struct sub_state ok = {0}, refused = {0};
	struct pubsub_sub_ops ok_ops = {.apply = sub_apply, .need_snapshot = sub_need, .arg = &ok};
	struct pubsub_sub_ops refused_ops = {
	    .apply = sub_apply, .need_snapshot = sub_need, .arg = &refused};
	struct pubsub_pub *pub = NULL;
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	char url[64];
	int64_t deadline;
	int err = -EADDRINUSE;

	srand((unsigned)getpid());
	for (int i = 0; i < 20 && err == -EADDRINUSE; i++) {
		struct pubsub_opts po = {.sz = sizeof(po), .url = url, .listen = true, .tls = &st};

		snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", 17000 + rand() % 1000);
		err = pubsub_pub_open(&pub, &po);
	}
	assert_int_equal(err, 0);

	struct pubsub_opts so = {.sz = sizeof(so), .url = url, .tls = &good};
	struct pubsub_opts so_bad = {.sz = sizeof(so), .url = url, .tls = &no_cert};
	assert_int_equal(pubsub_sub_open(&ok.sub, &so, &ok_ops, 0, NULL), 0);
	assert_int_equal(pubsub_sub_open(&refused.sub, &so_bad, &refused_ops, 0, NULL), 0);

	deadline = now_ms() + 5000;
	while ((pubsub_pub_peers(pub) < 1 || atomic_load(&ok.needs) < 1) && now_ms() < deadline)
		usleep(5000);
	usleep(300000); /* time for the refused client's attempts */
	assert_int_equal(pubsub_pub_peers(pub), 1);

	d.base_revision = 0;
	d.revision = 1;
	Xdrop__V1__DeltaOp op = XDROP__V1__DELTA_OP__INIT, *ops[1] = {&op};
	op.op_case = XDROP__V1__DELTA_OP__OP_DELETE_RULE;
	op.delete_rule = "r1";
	d.ops = ops;
	d.n_ops = 1;
	assert_int_equal(pubsub_pub_delta(pub, &d), 0);
	deadline = now_ms() + 3000;
	while (atomic_load(&ok.applied) < 1 && now_ms() < deadline)
		usleep(5000);
	assert_int_equal(atomic_load(&ok.applied), 1);
	assert_int_equal(atomic_load(&refused.applied), 0);
	assert_int_equal(atomic_load(&refused.needs), 0); /* never connected */

	pubsub_sub_close(refused.sub);
	pubsub_sub_close(ok.sub);
	pubsub_pub_close(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rpc_over_tls),      cmocka_unit_test(test_rpc_mutual_tls),
	    cmocka_unit_test(test_tls_config_errors), cmocka_unit_test(test_nng_errors_decoded),
	    cmocka_unit_test(test_pubsub_mutual_tls),
	};

	return cmocka_run_group_tests_name("rpc_tls", tests, group_setup, NULL);
}
