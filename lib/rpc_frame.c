// SPDX-License-Identifier: MIT
/*
 * rpc_frame: see rpc_frame.h. The walk follows the protobuf wire format: a record is a
 * varint tag (field number << 3 | wire type) followed by a varint (type 0), 8 bytes
 * (type 1), a varint length and that many bytes (type 2) or 4 bytes (type 5); groups
 * (types 3 and 4) are not used by proto3 and are refused.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_frame.h"

/* Bookkeeping in front of each budgeted allocation: its size (keeps 16-byte alignment). */
#define BUDGET_HEAD 16

static void *budget_alloc(void *data, size_t size)
{
	struct rpc_budget *b = data;
	unsigned char *p;

	if (b->limit < BUDGET_HEAD || size > b->limit - BUDGET_HEAD ||
	    b->live > b->limit - BUDGET_HEAD - size) {
		b->exceeded = true;
		return NULL;
	}
	p = malloc(size + BUDGET_HEAD);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	b->live += size + BUDGET_HEAD;
	if (b->live > b->peak)
		b->peak = b->live;
	return p + BUDGET_HEAD;
}

static void budget_free(void *data, void *ptr)
{
	struct rpc_budget *b = data;
	unsigned char *p = ptr;
	size_t size;

	if (!p)
		return;
	p -= BUDGET_HEAD;
	memcpy(&size, p, sizeof(size));
	b->live -= size + BUDGET_HEAD;
	free(p);
}

void rpc_budget_init(struct rpc_budget *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->base.alloc = budget_alloc;
	b->base.free = budget_free;
	b->base.allocator_data = b;
	b->limit = limit;
}

size_t rpc_budget_for(size_t len)
{
	if (len > (SIZE_MAX - XDROP_RPC_DECODE_MIN) / XDROP_RPC_DECODE_FACTOR)
		return SIZE_MAX;
	return len * XDROP_RPC_DECODE_FACTOR + XDROP_RPC_DECODE_MIN;
}

static int refuse(struct rpc_frame_error *err, enum rpc_code code, const char *field,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(struct rpc_frame_error *err, enum rpc_code code, const char *field,
		  const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	err->field = field;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Reads a varint at *pos; returns 0, or -1 when it runs past len or beyond 10 bytes. */
static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t byte;

		if (*pos >= len)
			return -1;
		byte = p[(*pos)++];
		if (shift < 64)
			v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* The wire type a field of this type is encoded with (packed repeated fields aside). */
static unsigned wire_type_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

/* Checks one length-delimited envelope field other than payload. */
static int check_string(const ProtobufCFieldDescriptor *f, const uint8_t *data, size_t n,
			struct rpc_frame_error *err)
{
	bool token = strcmp(f->name, "auth_token") == 0;
	bool name = strcmp(f->name, "service") == 0 || strcmp(f->name, "method") == 0;
	size_t max = token  ? XDROP_RPC_MAX_TOKEN - 1
		     : name ? XDROP_RPC_MAX_NAME - 1
			    : XDROP_RPC_MAX_ENVELOPE_FIELD;

	/* a token no key can equal is refused like any unknown token, without saying more */
	if (token && (n > max || memchr(data, 0, n)))
		return refuse(err, RPC_UNAUTHENTICATED, NULL, "unauthenticated");
	if (n > max)
		return refuse(err, RPC_INVALID_ARGUMENT, f->name, "%s is longer than %zu bytes",
			      f->name, max);
	if (f->type == PROTOBUF_C_TYPE_STRING && memchr(data, 0, n))
		return refuse(err, RPC_INVALID_ARGUMENT, f->name, "%s contains a NUL byte",
			      f->name);
	return 0;
}

/* Skips the value of a record of wire type wt at *pos; sets *data and *n for type 2. */
static int skip_value(const uint8_t *frame, size_t len, size_t *pos, unsigned wt,
		      const uint8_t **data, uint64_t *n)
{
	uint64_t v;

	switch (wt) {
	case 0:
		return read_varint(frame, len, pos, &v);
	case 1:
	case 5:
		v = wt == 1 ? 8 : 4;
		break;
	case 2:
		if (read_varint(frame, len, pos, &v))
			return -1;
		*data = frame + *pos;
		*n = v;
		break;
	default:
		return -1;
	}
	if (v > len - *pos)
		return -1;
	*pos += (size_t)v;
	return 0;
}

int rpc_frame_decode(const uint8_t *frame, size_t len, struct rpc_budget *b,
		     Xdrop__V1__RpcRequest **out, struct rpc_frame_error *err)
{
	const ProtobufCMessageDescriptor *d = &xdrop__v1__rpc_request__descriptor;
	const ProtobufCFieldDescriptor *payload =
	    protobuf_c_message_descriptor_get_field_by_name(d, "payload");
	uint8_t env[XDROP_RPC_MAX_ENVELOPE];
	const uint8_t *pdata = NULL;
	uint64_t seen = 0, plen = 0;
	size_t pos = 0, env_len = 0;
	Xdrop__V1__RpcRequest *rq;

	*out = NULL;
	if (!payload || d->n_fields > 64)
		return refuse(err, RPC_INTERNAL, NULL, "RpcRequest cannot be checked");
	while (pos < len) {
		const ProtobufCFieldDescriptor *f;
		const uint8_t *data = NULL;
		size_t start = pos;
		uint64_t tag, n = 0, bit;
		unsigned wt;

		if (read_varint(frame, len, &pos, &tag) || tag > UINT32_MAX || (tag >> 3) == 0)
			return refuse(err, RPC_INVALID_ARGUMENT, NULL,
				      "malformed RpcRequest: bad tag at byte %zu", start);
		wt = (unsigned)(tag & 7);
		f = protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
		if (!f)
			return refuse(err, RPC_INVALID_ARGUMENT, NULL,
				      "malformed RpcRequest: unknown field %u at byte %zu",
				      (unsigned)(tag >> 3), start);
		if (wt != wire_type_of(f->type))
			return refuse(err, RPC_INVALID_ARGUMENT, f->name,
				      "malformed RpcRequest: %s has wire type %u, not %u", f->name,
				      wt, wire_type_of(f->type));
		bit = 1ull << (f - d->fields);
		if (seen & bit)
			return refuse(err, RPC_INVALID_ARGUMENT, f->name,
				      "malformed RpcRequest: %s appears more than once", f->name);
		seen |= bit;
		if (skip_value(frame, len, &pos, wt, &data, &n))
			return refuse(err, RPC_INVALID_ARGUMENT, f->name,
				      "malformed RpcRequest: %s runs past the end of the frame",
				      f->name);
		if (f == payload) {
			pdata = data;
			plen = n;
			continue;
		}
		if (wt == 2 && check_string(f, data, (size_t)n, err))
			return -EINVAL;
		if (pos - start > sizeof(env) - env_len)
			return refuse(err, RPC_INVALID_ARGUMENT, NULL,
				      "RpcRequest fields other than payload exceed %zu bytes",
				      sizeof(env));
		memcpy(env + env_len, frame + start, pos - start);
		env_len += pos - start;
	}
	rq = xdrop__v1__rpc_request__unpack(&b->base, env_len, env);
	if (!rq)
		return refuse(err, b->exceeded ? RPC_RESOURCE_EXHAUSTED : RPC_INVALID_ARGUMENT,
			      NULL, "malformed RpcRequest");
	rq->payload.data = (uint8_t *)pdata;
	rq->payload.len = (size_t)plen;
	*out = rq;
	return 0;
}

void rpc_frame_free(Xdrop__V1__RpcRequest *rq, struct rpc_budget *b)
{
	if (!rq)
		return;
	rq->payload.data = NULL; /* borrowed from the frame */
	rq->payload.len = 0;
	xdrop__v1__rpc_request__free_unpacked(rq, &b->base);
}
