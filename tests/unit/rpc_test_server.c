// SPDX-License-Identifier: MIT
/*
 * rpc_test_server: a small RPC server for tests that talk to XDrop with third-party tools
 * (tests/rpc/interop.sh drives it with nngcat and protoc). It serves
 *   HealthService.Ping  echo, no token needed
 *   RuleService.Get     one fixture rule, id "r1"; NOT_FOUND otherwise; needs the token
 * on the URL given as argv[1] until SIGTERM/SIGINT, and prints "port N" once listening.
 *
 * usage: rpc_test_server URL TOKEN
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static enum rpc_code auth(struct rpc_call *call, const char *token, void *arg)
{
	if (strcmp(rpc_call_service(call), "xdrop.v1.HealthService") == 0)
		return RPC_OK;
	return strcmp(token, arg) == 0 ? RPC_OK : RPC_UNAUTHENTICATED;
}

static enum rpc_code ping(struct rpc_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__PingRequest *r = (const void *)req;
	Xdrop__V1__PingReply *rep = (void *)resp;

	rep->data = r->data; /* req lives until the reply is packed */
	rep->server = "rpc_test_server";
	return RPC_OK;
}

static enum rpc_code rule_get(struct rpc_call *call, const ProtobufCMessage *req,
			      ProtobufCMessage *resp, void *arg)
{
	const Xdrop__V1__GetRuleRequest *r = (const void *)req;
	Xdrop__V1__Rule *rule = (void *)resp;

	if (strcmp(r->id, "r1") != 0)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no rule %s", r->id);
	rule->id = "r1";
	rule->name = "block-ssh";
	rule->src_cidr = "203.0.113.0/24";
	rule->dst_port = 22;
	rule->protocol = "tcp";
	rule->action = "drop";
	rule->enabled = true;
	return RPC_OK;
}

int main(int argc, char **argv)
{
	struct rpc_server_opts o = {
	    .sz = sizeof(o), .workers = 4, .auth = auth, .name = "rpc_test_server"};
	struct rpc_server *s = NULL;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s URL TOKEN\n", argv[0]);
		return 2;
	}
	o.url = argv[1];
	o.auth_arg = argv[2];
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	err = rpc_server_open(&s, &o);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__health_service__descriptor, "Ping", ping,
					 NULL);
	err = err
		  ?: rpc_server_register(s, &xdrop__v1__rule_service__descriptor, "Get", rule_get,
					 NULL);
	err = err ?: rpc_server_start(s);
	if (err) {
		log_error("rpc_test_server: %s", strerror(-err));
		rpc_server_close(s);
		return 1;
	}
	printf("port %d\n", rpc_server_port(s));
	fflush(stdout);
	while (!stop)
		pause();
	rpc_server_close(s);
	return 0;
}
