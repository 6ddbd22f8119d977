// SPDX-License-Identifier: MIT
/*
 * pbfield: fields by name; see pbfield.h. Members are found at the offsets in protoc-c's
 * field descriptors: `offset` is the member (for a repeated field, the array pointer; for
 * a oneof member, the union), `quantifier_offset` the count of a repeated field or the
 * case of a oneof.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "pbfield.h"

const ProtobufCFieldDescriptor *pbf_field(const ProtobufCMessageDescriptor *d, const char *name)
{
	return d && name ? protobuf_c_message_descriptor_get_field_by_name(d, name) : NULL;
}

static char *member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (char *)m + f->offset;
}

static bool is_oneof(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static uint32_t *oneof_case(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (uint32_t *)((char *)m + f->quantifier_offset);
}

static bool is_pointer(const ProtobufCFieldDescriptor *f)
{
	return f->label != PROTOBUF_C_LABEL_REPEATED &&
	       (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE);
}

size_t pbf_member_size(const ProtobufCFieldDescriptor *f)
{
	if (!f || f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	default:
		return 0;
	}
}

void *pbf_get_ptr(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);

	if (!f || !is_pointer(f) || (is_oneof(f) && *oneof_case(m, f) != f->id))
		return NULL;
	return *(void **)member(m, f);
}

const char *pbf_str(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);
	const char *s = f && f->type == PROTOBUF_C_TYPE_STRING ? pbf_get_ptr(m, name) : NULL;

	return s ? s : "";
}

static int64_t int_of(const ProtobufCFieldDescriptor *f, const char *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return *(const int32_t *)p;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)p;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const int64_t *)p;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	default:
		return 0;
	}
}

int64_t pbf_int(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);

	if (!f || f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	return int_of(f, member(m, f));
}

int pbf_set_ptr(ProtobufCMessage *m, const char *name, const void *v)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);

	if (!f || !is_pointer(f))
		return -ENOENT;
	memcpy(member(m, f), &v, sizeof(v));
	if (is_oneof(f))
		*oneof_case(m, f) = f->id;
	return 0;
}

int pbf_set_int(ProtobufCMessage *m, const char *name, int64_t v)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);
	size_t size = pbf_member_size(f);

	if (!f || is_pointer(f) || f->type == PROTOBUF_C_TYPE_FLOAT ||
	    f->type == PROTOBUF_C_TYPE_DOUBLE || !size)
		return -ENOENT;
	if (size == sizeof(uint64_t)) {
		memcpy(member(m, f), &v, sizeof(v));
	} else {
		uint32_t v32 = (uint32_t)v;

		memcpy(member(m, f), &v32, sizeof(v32));
	}
	return 0;
}

void *pbf_repeated(const ProtobufCMessage *m, const char *name, size_t *n)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);

	*n = 0;
	if (!f || f->label != PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	*n = *(const size_t *)((const char *)m + f->quantifier_offset);
	return *(void **)member(m, f);
}

int pbf_set_repeated(ProtobufCMessage *m, const char *name, void *array, size_t n)
{
	const ProtobufCFieldDescriptor *f = pbf_field(m->descriptor, name);

	if (!f || f->label != PROTOBUF_C_LABEL_REPEATED)
		return -ENOENT;
	*(size_t *)((char *)m + f->quantifier_offset) = n;
	memcpy(member(m, f), &array, sizeof(array));
	return 0;
}

int pbf_copy(ProtobufCMessage *dst, const ProtobufCMessage *src, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbf_field(src->descriptor, name);
	size_t size = pbf_member_size(f);

	if (!size || dst->descriptor != src->descriptor)
		return -ENOENT;
	memcpy(member(dst, f), member(src, f), size);
	if (is_oneof(f))
		*oneof_case(dst, f) = *oneof_case(src, f);
	return 0;
}

int pbf_compare(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *a,
		const ProtobufCMessage *b)
{
	const char *pa = member(a, f), *pb = member(b, f);

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *x = *(char *const *)pa, *y = *(char *const *)pb;

		return strcmp(x ? x : "", y ? y : "");
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t x = *(const uint64_t *)pa, y = *(const uint64_t *)pb;

		return (x > y) - (x < y);
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double x, y;

		memcpy(&x, pa, sizeof(x));
		memcpy(&y, pb, sizeof(y));

		return (x > y) - (x < y);
	}
	default: {
		int64_t x = int_of(f, pa), y = int_of(f, pb);

		return (x > y) - (x < y);
	}
	}
}
