/* SPDX-License-Identifier: MIT */
/*
 * pbfield: a protobuf-c message's fields by name, through the descriptors protoc-c
 * generates. The collection descriptors of every layer (the agent's struct ruleset_kind,
 * the controller's struct svc_coll, the gateway's collection rows) name the fields that
 * hold a kind in each wire message (CreateRuleRequest.rule, ListWhitelistResponse.entries,
 * DeltaOp.upsert_rule, ...), so one generic create, list or delta path serves rules and
 * whitelist entries alike; these functions reach them.
 *
 * A name that the message does not have is not an error here: getters return NULL, "" or
 * 0 and setters -ENOENT, so a caller decides. The agent's collection descriptors are checked
 * once at start-up (ruleset_kinds_check), so a misspelt name fails there, not on a request.
 * Nothing is copied: pointers read or stored are borrowed, as with direct member access.
 */
#ifndef XDROP_PBFIELD_H
#define XDROP_PBFIELD_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* The field called name in messages of descriptor d; NULL when there is none. */
const ProtobufCFieldDescriptor *pbf_field(const ProtobufCMessageDescriptor *d, const char *name);

/* The bytes a singular field's member occupies in the C struct (a pointer for strings and
 * messages); 0 for repeated fields and types the agent does not use (bytes). */
size_t pbf_member_size(const ProtobufCFieldDescriptor *f);

/* The value of a pointer field (string or message) of m: NULL when the field is unset,
 * m has no such field, or it is a oneof member other than the one set. */
void *pbf_get_ptr(const ProtobufCMessage *m, const char *name);

/* A string field's value: "" when it is unset or m has no such field. */
const char *pbf_str(const ProtobufCMessage *m, const char *name);

/* An integer or bool field's value, widened; 0 when m has no such field. */
int64_t pbf_int(const ProtobufCMessage *m, const char *name);

/* Sets a pointer field (string or message) to v (borrowed: m's owner frees it, or not,
 * as it frees m); for a oneof member it also sets the oneof's case. Returns 0, or
 * -ENOENT when m has no such pointer field. */
int pbf_set_ptr(ProtobufCMessage *m, const char *name, const void *v);

/* Sets an integer field (uint32, uint64, int64, ...) to v. Returns 0 or -ENOENT. */
int pbf_set_int(ProtobufCMessage *m, const char *name, int64_t v);

/* A repeated field's array (NULL when empty or absent) and its count in *n. */
void *pbf_repeated(const ProtobufCMessage *m, const char *name, size_t *n);

/* Sets a repeated field to array[0..n) (borrowed, like pbf_set_ptr). 0 or -ENOENT. */
int pbf_set_repeated(ProtobufCMessage *m, const char *name, void *array, size_t n);

/* Copies singular field name from src to dst (same type; pointers are borrowed, as with
 * a struct assignment). Returns 0 or -ENOENT. */
int pbf_copy(ProtobufCMessage *dst, const ProtobufCMessage *src, const char *name);

/* Orders a and b (same type) by field f: strings by bytes (unset as ""), numbers and
 * bools by value. Returns <0, 0 or >0. */
int pbf_compare(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *a,
		const ProtobufCMessage *b);

#endif
