// SPDX-License-Identifier: MIT
/*
 * xdrop-call: a test client for any XDrop RPC port. Reads a serialized request message on
 * stdin (e.g. from `protoc --encode`), calls SERVICE.METHOD with the token, writes the
 * serialized reply on stdout (for `protoc --decode`) and the status on stderr. The exit
 * code is the gRPC status code (0 = OK), 100 for usage or transport errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "xdrop.pb-c.h"

static const ProtobufCServiceDescriptor *const services[] = {
    &xdrop__v1__health_service__descriptor,    &xdrop__v1__rule_service__descriptor,
    &xdrop__v1__whitelist_service__descriptor, &xdrop__v1__node_service__descriptor,
    &xdrop__v1__stats_service__descriptor,     &xdrop__v1__key_service__descriptor,
    &xdrop__v1__sync_service__descriptor,      &xdrop__v1__agent_service__descriptor,
};

int main(int argc, char **argv)
{
	const ProtobufCServiceDescriptor *svc = NULL;
	const ProtobufCMethodDescriptor *m;
	struct rpc_client_opts o = {.sz = sizeof(o)};
	struct rpc_client *c = NULL;
	struct rpc_status st = {0};
	ProtobufCMessage *req = NULL, *resp = NULL;
	static uint8_t in[64 << 20];
	size_t n = 0, r;
	int err;

	if (argc != 5) {
		fprintf(stderr, "usage: xdrop-call URL TOKEN SERVICE METHOD < request > reply\n");
		return 100;
	}
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (!strcmp(services[i]->name, argv[3]) ||
		    !strcmp(services[i]->short_name, argv[3]))
			svc = services[i];
	if (!svc || !(m = protobuf_c_service_descriptor_get_method_by_name(svc, argv[4]))) {
		fprintf(stderr, "xdrop-call: unknown service or method %s.%s\n", argv[3], argv[4]);
		return 100;
	}
	while ((r = fread(in + n, 1, sizeof(in) - n, stdin)) > 0)
		n += r;
	req = protobuf_c_message_unpack(m->input, NULL, n, in);
	if (!req) {
		fprintf(stderr, "xdrop-call: stdin is not a %s\n", m->input->name);
		return 100;
	}
	o.url = argv[1];
	o.auth_token = argv[2];
	o.timeout_ms = 15000;
	err = rpc_client_open(&c, &o);
	if (!err)
		err = rpc_client_call(c, svc, argv[4], req, &resp, &st);
	if (err && st.code == RPC_OK) {
		fprintf(stderr, "xdrop-call: %s\n", strerror(-err));
		return 100;
	}
	fprintf(stderr, "%s%s%s%s%s\n", rpc_code_name(st.code), st.field[0] ? " field=" : "",
		st.field, st.message[0] ? ": " : "", st.message);
	if (resp) {
		size_t len = protobuf_c_message_get_packed_size(resp);
		uint8_t *out = malloc(len + 1);

		protobuf_c_message_pack(resp, out);
		fwrite(out, 1, len, stdout);
		free(out);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	protobuf_c_message_free_unpacked(req, NULL);
	rpc_client_close(c);
	return (int)st.code;
}
