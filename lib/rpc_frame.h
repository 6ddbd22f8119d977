/* SPDX-License-Identifier: MIT */
/*
 * rpc_frame: the RPC server's decoding of request frames before and after authentication,
 * with the work bounded by the frame and not by what the frame claims.
 *
 * protobuf-c's unpack keeps every unknown field (one allocation and one array slot each)
 * and has no option to refuse them, so 16 MiB of 2-byte unknown fields cost hundreds of
 * MiB and seconds of CPU before the server even knows who is calling. The envelope
 * (xdrop.v1.RpcRequest) is therefore walked here first, driven by its descriptor: every
 * field number must be one the schema declares, with the wire type its type has, and at
 * most once; strings are bounded and free of NUL bytes. Only the fields other than
 * `payload` (a few hundred bytes at most) are then unpacked, with a budgeted allocator;
 * `payload` is left in the frame, unread, until the caller has been authenticated, and is
 * then unpacked with a budget proportional to its size (rpc_budget). A frame thus costs
 * its own bytes and a walk over at most one occurrence of each envelope field before
 * authentication, whatever it contains.
 */
#ifndef XDROP_RPC_FRAME_H
#define XDROP_RPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc.h"
#include "xdrop.pb-c.h"

/* Longest envelope field other than payload, service, method and auth_token (bytes). */
#define XDROP_RPC_MAX_ENVELOPE_FIELD 1024
/* All envelope fields but payload together, as the frame encodes them (bytes). */
#define XDROP_RPC_MAX_ENVELOPE 4096

/*
 * A ProtobufCAllocator that refuses to hold more than `limit` bytes at once (each
 * allocation counted with its bookkeeping). Pass &b->base to protobuf-c's unpack and to
 * the matching free_unpacked. `exceeded` tells a refusal from a malformed message; `peak`
 * is the most held at once.
 */
struct rpc_budget {
	ProtobufCAllocator base;
	size_t limit;
	size_t live;
	size_t peak;
	bool exceeded;
};

void rpc_budget_init(struct rpc_budget *b, size_t limit);

/* Decode budget for a payload of len bytes: XDROP_RPC_DECODE_FACTOR * len plus
 * XDROP_RPC_DECODE_MIN, saturating. */
size_t rpc_budget_for(size_t len);

/* Why a frame was refused: the reply's code, message and field (NULL: none). */
struct rpc_frame_error {
	enum rpc_code code;
	const char *field;
	char message[XDROP_RPC_MAX_MESSAGE];
};

/*
 * Walks frame (len bytes) as an RpcRequest as described above and unpacks its fields other
 * than payload with allocator b (a small budget is enough: see rpc_frame.c). On success
 * returns 0 and *out, whose payload points into frame (borrowed: frame must outlive *out);
 * free it with rpc_frame_free(*out, b). On refusal returns -EINVAL with *err filled in
 * (INVALID_ARGUMENT naming the field, or UNAUTHENTICATED for a token no key can match).
 */
int rpc_frame_decode(const uint8_t *frame, size_t len, struct rpc_budget *b,
		     Xdrop__V1__RpcRequest **out, struct rpc_frame_error *err);

/* Frees what rpc_frame_decode returned (the payload stays in the frame). NULL is fine. */
void rpc_frame_free(Xdrop__V1__RpcRequest *rq, struct rpc_budget *b);

#endif
