/* SPDX-License-Identifier: MIT */
/*
 * json: the one conversion between JSON (cJSON) and the wire schema's protobuf messages,
 * used by the gateway's REST API and by xdropctl (arguments, import and export, --json).
 * It is a library module of its own (build/libxdrop-json.a, lib/json.mk) so that both link
 * the same code and neither links the other's objects.
 *
 * The conversion is driven by protobuf-c's message descriptors, so JSON names are exactly
 * the proto field names and every message of proto/xdrop.proto converts the same way:
 *   - strings, booleans and numbers map to their JSON types; 64-bit integers are printed
 *     exactly (never through a double);
 *   - int64 fields named `at`, `last_seen` or ending in `_at` are times: RFC 3339 strings in UTC
 *     ("2026-05-07T12:00:00Z", nanoseconds kept when present), null when 0;
 *   - enums print as their names ("NOT_FOUND"); bytes fields are not exposed.
 * Input is strict: unknown fields, wrong types, integers not written in digits ("80.5",
 * "1e2", "80.0": json_parse keeps the text of such numbers in valuestring) or out of range,
 * duplicate keys, nesting deeper than XDROP_JSON_MAX_DEPTH, invalid UTF-8, NUL characters
 * and trailing garbage are refused with an error that names the field path
 * ("rules[3].src_port") and the reason.
 */
#ifndef XDROP_JSON_H
#define XDROP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

#include "xdrop.pb-c.h"

#define XDROP_JSON_MAX_DEPTH 32	 /* nesting of objects and arrays in a request */
#define XDROP_JSON_MAX_FIELD 128 /* field path in an error, bytes with NUL */
#define XDROP_JSON_MAX_ERROR 256 /* error message, bytes with NUL */

/* Why a document or a value was refused. */
struct json_error {
	char field[XDROP_JSON_MAX_FIELD]; /* "" when the document as a whole is bad */
	char message[XDROP_JSON_MAX_ERROR];
};

/*
 * Parses len bytes of JSON text strictly (see above). Returns 0 and *out (cJSON_Delete),
 * -EINVAL with *err filled, or -ENOMEM.
 */
int json_parse(const char *buf, size_t len, cJSON **out, struct json_error *err);

/*
 * Converts the JSON object obj into a new message of type d. path prefixes field names in
 * errors ("" at top level). Members named in ignore (NULL-terminated, may be NULL) are
 * skipped. Returns 0 and *out (protobuf_c_message_free_unpacked(*out, NULL)), -EINVAL with
 * *err, or -ENOMEM.
 */
int json_to_msg(const cJSON *obj, const ProtobufCMessageDescriptor *d, const char *path,
		const char *const *ignore, ProtobufCMessage **out, struct json_error *err);

/* Converts any message to a new JSON object (every field, defaults included). NULL m gives
 * JSON null. Returns NULL only when out of memory. The caller owns the result. */
cJSON *json_from_msg(const ProtobufCMessage *m);

/*
 * A rule from a REST body or an import file. Read-only fields (stats, created_at,
 * updated_at) are ignored so that what GET returns can be sent back. `expires_in` (a
 * duration "90s", "1h30m" or a number of seconds) sets expires_at from now; protocol "all"
 * means "any"; `enabled` defaults to true when absent; v2.7's `decoder` is expanded and a
 * match_anomaly written as names becomes its number (lib/decoder.h: the fields it sets are
 * those *mask names). If mask is not NULL, *mask receives
 * the proto names of the fields present (for UpdateRuleRequest.update_mask; free the
 * strings and the array with json_mask_free) and *n_mask their number.
 * Returns 0 and *out, -EINVAL with *err, or -ENOMEM.
 */
int json_to_rule(const cJSON *obj, const char *path, Xdrop__V1__Rule **out, char ***mask,
		 size_t *n_mask, struct json_error *err);

/* A whitelist entry, likewise (created_at ignored; protocol "all" means "any"). */
int json_to_wl(const cJSON *obj, const char *path, Xdrop__V1__WhitelistEntry **out,
	       struct json_error *err);

/* A node for create or update; *mask as in json_to_rule. */
int json_to_node(const cJSON *obj, const char *path, Xdrop__V1__Node **out, char ***mask,
		 size_t *n_mask, struct json_error *err);

void json_mask_free(char **mask, size_t n);

/*
 * /api/v1/stats: the StatsReply fields plus the flat fields scripts written for the
 * documented API read (total_packets, dropped_packets, passed_packets, whitelisted_packets,
 * rate_limited_packets, rules_count, whitelist_count, total_pps, dropped_pps, passed_pps)
 * and their byte and bit twins (total_bytes, dropped_bytes, passed_bytes, total_bps,
 * dropped_bps, passed_bps). NULL when out of memory.
 */
cJSON *json_from_stats(const Xdrop__V1__StatsReply *s);

/* RFC 3339 in UTC from nanoseconds since the epoch. Returns buf. */
char *json_format_time(int64_t ns, char *buf, size_t len);

/* Parses RFC 3339 ("Z" or "+hh:mm" offsets, optional fraction). Returns 0 or -EINVAL. */
int json_parse_time(const char *s, int64_t *ns);

/* Parses "1h30m", "90s", "500ms", or a bare number of seconds. Returns 0 or -EINVAL. */
int json_parse_duration(const char *s, int64_t *ns);

/* Sets err (field may be NULL) and returns -EINVAL. */
int json_fail(struct json_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
