// SPDX-License-Identifier: MIT
/*
 * test_json: lib/json, the one JSON <-> protobuf conversion of the REST API and xdropctl.
 * Tables of cases, each run the way a REST request is: json_parse (strict), json_to_rule
 * or json_to_wl, then, where the case says so, the controller's canonical spelling and
 * validation (lib/rulepb), and back with json_from_msg.
 *   - round trips: what comes out, field by field, and that reading the output back
 *     gives the same output again (what GET returns can be sent back);
 *   - refusals: every refused document names the field (path included, "rules[3].x") and
 *     the reason: malformed text, nesting, duplicate keys, wrong types, numbers that are
 *     not integers or out of range, unknown fields, bad times and durations, and the
 *     validation errors of addresses, ports, protocols and actions;
 *   - integers printed exactly (64 bits, never through a double), times in RFC 3339,
 *     durations, the update mask and the flat fields of /stats.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "json.h"
#include "rulepb.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum stage {
	STAGE_PARSE,	/* json_parse refuses the text */
	STAGE_CONVERT,	/* json_to_rule / json_to_wl refuse the object */
	STAGE_VALIDATE, /* lib/rulepb refuses the message (as the controller does) */
};

enum kind { KIND_RULE, KIND_WL };

/* ---- helpers ---- */

/* Parses text strictly; fails the test unless it parses. */
static cJSON *parse_ok(const char *text)
{
	struct json_error e = {0};
	cJSON *v = NULL;

	if (json_parse(text, strlen(text), &v, &e))
		fail_msg("json_parse(%s): %s: %s", text, e.field, e.message);
	return v;
}

/* Converts obj to a message of kind k (path as given); returns 0 or the error. */
static int convert(enum kind k, const cJSON *obj, const char *path, ProtobufCMessage **out,
		   struct json_error *e)
{
	if (k == KIND_RULE)
		return json_to_rule(obj, path, (Xdrop__V1__Rule **)out, NULL, NULL, e);
	return json_to_wl(obj, path, (Xdrop__V1__WhitelistEntry **)out, e);
}

/* The controller's validation of a message of kind k: 0 or -EINVAL with *e. */
static int validate(enum kind k, const ProtobufCMessage *m, struct rule_error *e)
{
	struct rule_spec s;

	if (k == KIND_RULE)
		return rulepb_rule_to_spec((const Xdrop__V1__Rule *)m, &s, e);
	return rulepb_wl_to_spec((const Xdrop__V1__WhitelistEntry *)m, &s, e);
}

/* The JSON text of one member of o, unformatted (malloc'd). */
static char *member_text(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v)
		fail_msg("no member %s", name);
	return cJSON_PrintUnformatted(v);
}

/* ---- round trips ---- */

/* A member of an object and its JSON text as printed (integers exactly). */
struct member {
	const char *name;
	const char *json;
};

/* Every member of want (up to a NULL name) has the same JSON text in got. */
static void expect_members(const cJSON *got, const struct member *want, size_t n, const char *what)
{
	for (size_t i = 0; i < n && want[i].name; i++) {
		char *a = member_text(got, want[i].name);

		if (strcmp(a, want[i].json))
			fail_msg("%s: %s is %s, expected %s", what, want[i].name, a, want[i].json);
		free(a);
	}
}

struct round_trip {
	const char *name;
	enum kind kind;
	bool canon;	/* apply the controller's canonical spelling before output */
	const char *in; /* a request body */
	/* members the output must have, with their JSON text (NULL-terminated) */
	struct member want[12];
};

static const struct round_trip round_trips[] = {
    {"rule defaults",
     KIND_RULE,
     false,
     "{\"src_cidr\":\"10.0.0.0/8\",\"action\":\"drop\"}",
     {{"src_cidr", "\"10.0.0.0/8\""},
      {"action", "\"drop\""},
      {"enabled", "true"},
      {"src_port", "0"},
      {"rate_limit", "0"},
      {"protocol", "\"\""},
      {"expires_at", "null"},
      {"created_at", "null"},
      {"stats", "null"},
      {"id", "\"\""}}},
    {"enabled false is kept",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"pass\",\"enabled\":false}",
     {{"enabled", "false"}}},
    {"protocol all means any",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"protocol\":\"all\"}",
     {{"protocol", "\"any\""}}},
    {"integers at their bounds",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"rate_limit\",\"rate_limit\":9007199254740992,"
     "\"burst\":0,\"src_port\":4294967295,\"pkt_len_max\":0}",
     {{"rate_limit", "9007199254740992"}, {"burst", "0"}, {"src_port", "4294967295"}}},
    {"time in UTC",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"expires_at\":\"2030-01-02T15:04:05Z\"}",
     {{"expires_at", "\"2030-01-02T15:04:05Z\""}}},
    {"time with an offset and a fraction",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\","
     "\"expires_at\":\"2030-01-02T16:04:05.5+01:00\"}",
     {{"expires_at", "\"2030-01-02T15:04:05.500000000Z\""}}},
    {"null and empty times are 0",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"expires_at\":null}",
     {{"expires_at", "null"}}},
    {"read-only fields are ignored",
     KIND_RULE,
     false,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"stats\":{\"match_count\":5},"
     "\"created_at\":\"not a time\",\"updated_at\":7}",
     {{"stats", "null"}, {"created_at", "null"}, {"updated_at", "null"}}},
    {"text fields as given",
     KIND_RULE,
     false,
     "{\"id\":\"r-1\",\"name\":\"caf\\u00e9 \\\"x\\\"\",\"src_ip\":\"192.0.2.1\","
     "\"action\":\"drop\",\"comment\":\"a, b\",\"source\":\"api\"}",
     {{"id", "\"r-1\""},
      {"name", "\"caf\u00e9 \\\"x\\\"\""},
      {"comment", "\"a, b\""},
      {"source", "\"api\""}}},
    {"canonical prefix",
     KIND_RULE,
     true,
     "{\"src_cidr\":\"10.0.0.0/08\",\"action\":\"drop\"}",
     {{"src_cidr", "\"10.0.0.0/8\""}}},
    {"canonical IPv6",
     KIND_RULE,
     true,
     "{\"dst_ip\":\"2001:DB8:0:0::1\",\"action\":\"drop\"}",
     {{"dst_ip", "\"2001:db8::1\""}}},
    {"IPv4-mapped IPv6 as IPv4",
     KIND_RULE,
     true,
     "{\"src_ip\":\"::ffff:192.0.2.7\",\"action\":\"drop\"}",
     {{"src_ip", "\"192.0.2.7\""}}},
    {"protocol by name",
     KIND_RULE,
     true,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"protocol\":\"6\",\"dst_port\":80}",
     {{"protocol", "\"tcp\""}, {"dst_port", "80"}}},
    {"protocol any is the absent field",
     KIND_RULE,
     true,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"protocol\":\"ANY\"}",
     {{"protocol", "\"\""}}},
    {"TCP flags in bit order",
     KIND_RULE,
     true,
     "{\"src_ip\":\"192.0.2.1\",\"action\":\"drop\",\"protocol\":\"TCP\","
     "\"tcp_flags\":\"ack,!syn\"}",
     {{"protocol", "\"tcp\""}, {"tcp_flags", "\"!SYN,ACK\""}}},
    /* v2.7's decoder: the fields it stands for, never itself (lib/decoder.h) */
    {"decoder tcp_ack",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"drop\",\"decoder\":\"tcp_ack\"}",
     {{"protocol", "\"tcp\""}, {"tcp_flags", "\"ACK,!SYN\""}, {"match_anomaly", "0"}}},
    {"decoder tcp_rst",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"drop\",\"decoder\":\"tcp_rst\"}",
     {{"protocol", "\"tcp\""}, {"tcp_flags", "\"RST\""}}},
    {"decoder tcp_fin",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"drop\",\"decoder\":\"tcp_fin\"}",
     {{"protocol", "\"tcp\""}, {"tcp_flags", "\"FIN\""}}},
    {"decoder bad_fragment",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"drop\",\"decoder\":\"bad_fragment\"}",
     {{"match_anomaly", "1"}, {"protocol", "\"\""}, {"tcp_flags", "\"\""}}},
    {"decoder invalid beside empty fields (v2.7 allows them)",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"2001:db8::1\",\"action\":\"drop\",\"decoder\":\"invalid\","
     "\"protocol\":\"\",\"tcp_flags\":\"\",\"match_anomaly\":0}",
     {{"match_anomaly", "2"}, {"dst_ip", "\"2001:db8::1\""}}},
    {"decoder null is no decoder",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"drop\",\"decoder\":null,\"protocol\":\"udp\"}",
     {{"protocol", "\"udp\""}, {"match_anomaly", "0"}}},
    {"match_anomaly as names",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"drop\",\"match_anomaly\":\"invalid,bad_fragment\"}",
     {{"match_anomaly", "3"}}},
    {"match_anomaly as v2.7's integer",
     KIND_RULE,
     false,
     "{\"dst_ip\":\"192.0.2.1\",\"action\":\"pass\",\"match_anomaly\":2}",
     {{"match_anomaly", "2"}, {"action", "\"pass\""}}},
    {"whitelist entry",
     KIND_WL,
     false,
     "{\"id\":\"w1\",\"src_cidr\":\"192.0.2.0/24\",\"protocol\":\"all\",\"dst_port\":53,"
     "\"created_at\":\"ignored\"}",
     {{"id", "\"w1\""},
      {"src_cidr", "\"192.0.2.0/24\""},
      {"protocol", "\"any\""},
      {"dst_port", "53"},
      {"created_at", "null"}}},
    {"whitelist entry, canonical",
     KIND_WL,
     true,
     "{\"src_cidr\":\"2001:DB8::/32\",\"protocol\":\"UDP\",\"src_port\":53}",
     {{"src_cidr", "\"2001:db8::/32\""}, {"protocol", "\"udp\""}, {"src_port", "53"}}},
};

/* The output of m, in the controller's canonical spelling when canon is set: like the
 * controller, on a shallow copy whose rewritten strings point into a local buffer. */
static cJSON *output(enum kind k, const ProtobufCMessage *m, bool canon)
{
	struct rulepb_canon_buf buf;
	Xdrop__V1__Rule r;
	Xdrop__V1__WhitelistEntry w;

	if (!canon)
		return json_from_msg(m);
	if (k == KIND_RULE) {
		r = *(const Xdrop__V1__Rule *)m;
		assert_int_equal(rulepb_rule_canon(&r, &buf), 0);
		return json_from_msg(&r.base);
	}
	w = *(const Xdrop__V1__WhitelistEntry *)m;
	assert_int_equal(rulepb_wl_canon(&w, &buf), 0);
	return json_from_msg(&w.base);
}

/* JSON text -> message -> JSON object. */
static cJSON *through_proto(const struct round_trip *t, const char *text, bool canon)
{
	struct json_error e = {0};
	ProtobufCMessage *m = NULL;
	cJSON *in = parse_ok(text), *out;

	if (convert(t->kind, in, "", &m, &e))
		fail_msg("%s: refused: %s: %s", t->name, e.field, e.message);
	cJSON_Delete(in);
	out = output(t->kind, m, canon);
	protobuf_c_message_free_unpacked(m, NULL);
	assert_non_null(out);
	return out;
}

static void test_round_trips(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(round_trips); i++) {
		const struct round_trip *t = &round_trips[i];
		cJSON *first = through_proto(t, t->in, t->canon), *second;
		char *a = cJSON_PrintUnformatted(first), *b;

		expect_members(first, t->want, ARRAY_SIZE(t->want), t->name);
		/* the output goes back in unchanged (it is canonical already) */
		second = through_proto(t, a, false);
		b = cJSON_PrintUnformatted(second);
		if (strcmp(a, b))
			fail_msg("%s: read back, %s became %s", t->name, a, b);
		free(a);
		free(b);
		cJSON_Delete(first);
		cJSON_Delete(second);
	}
}

/* ---- refusals ---- */

struct refusal {
	const char *name;
	enum kind kind;
	enum stage stage; /* where it is refused */
	const char *path; /* the prefix the caller gives ("" at top level) */
	const char *in;
	const char *field; /* the field named in the error ("" for the document) */
	const char *why;   /* a part of the message */
};

static const struct refusal refusals[] = {
    /* the text */
    {"empty body", KIND_RULE, STAGE_PARSE, "", "", "", "empty body"},
    {"malformed", KIND_RULE, STAGE_PARSE, "", "{\"a\":", "", "malformed JSON at offset"},
    {"trailing data", KIND_RULE, STAGE_PARSE, "", "{} x", "", "trailing data at offset 3"},
    {"invalid UTF-8", KIND_RULE, STAGE_PARSE, "", "{\"name\":\"\xff\"}", "",
     "invalid UTF-8 at offset 9"},
    {"overlong UTF-8", KIND_RULE, STAGE_PARSE, "", "{\"name\":\"\xc0\xaf\"}", "", "invalid UTF-8"},
    {"UTF-8 surrogate", KIND_RULE, STAGE_PARSE, "", "{\"name\":\"\xed\xa0\x80\"}", "",
     "invalid UTF-8"},
    {"escaped NUL", KIND_RULE, STAGE_PARSE, "", "{\"name\":\"a\\u0000b\"}", "",
     "\\u0000 in a string"},
    {"duplicate key", KIND_RULE, STAGE_PARSE, "", "{\"name\":\"a\",\"name\":\"b\"}", "name",
     "duplicate key"},
    {"nested duplicate key", KIND_RULE, STAGE_PARSE, "",
     "{\"rules\":[{},{\"src_ip\":\"a\",\"src_ip\":\"b\"}]}", "rules[1].src_ip", "duplicate key"},
    /* the conversion: types, integers, names */
    {"not an object", KIND_RULE, STAGE_CONVERT, "rules[2]", "[1]", "rules[2]",
     "expected an object"},
    {"unknown field", KIND_RULE, STAGE_CONVERT, "", "{\"colour\":\"red\"}", "colour",
     "unknown field"},
    {"unknown field, with the path", KIND_RULE, STAGE_CONVERT, "rules[3]", "{\"colour\":1}",
     "rules[3].colour", "unknown field"},
    {"a whitelist entry takes no action", KIND_WL, STAGE_CONVERT, "entries[0]",
     "{\"action\":\"drop\"}", "entries[0].action", "unknown field"},
    {"string expected", KIND_RULE, STAGE_CONVERT, "", "{\"name\":5}", "name", "expected a string"},
    {"string, not an array", KIND_WL, STAGE_CONVERT, "", "{\"src_cidr\":[]}", "src_cidr",
     "expected a string"},
    {"bool expected", KIND_RULE, STAGE_CONVERT, "", "{\"enabled\":\"yes\"}", "enabled",
     "expected true or false"},
    {"integer, not a string", KIND_RULE, STAGE_CONVERT, "", "{\"src_port\":\"80\"}", "src_port",
     "expected an integer"},
    {"integer with a fraction", KIND_RULE, STAGE_CONVERT, "", "{\"src_port\":80.5}", "src_port",
     "expected an integer in digits, not 80.5"},
    {"integer written 80.0", KIND_RULE, STAGE_CONVERT, "", "{\"dst_port\":80.0}", "dst_port",
     "not 80.0"},
    {"integer with an exponent", KIND_WL, STAGE_CONVERT, "", "{\"dst_port\":1e2}", "dst_port",
     "not 1e2"},
    {"uint32 too large", KIND_RULE, STAGE_CONVERT, "", "{\"src_port\":4294967296}", "src_port",
     "out of range (0..4294967295)"},
    {"uint32 negative", KIND_RULE, STAGE_CONVERT, "", "{\"pkt_len_min\":-1}", "pkt_len_min",
     "out of range"},
    {"uint64 beyond 2^53", KIND_RULE, STAGE_CONVERT, "", "{\"rate_limit\":18446744073709551615}",
     "rate_limit", "out of range"},
    {"time expected", KIND_RULE, STAGE_CONVERT, "", "{\"expires_at\":\"tomorrow\"}", "expires_at",
     "expected an RFC 3339 time"},
    {"time, not a number", KIND_RULE, STAGE_CONVERT, "", "{\"expires_at\":1700000000}",
     "expires_at", "expected an RFC 3339 time"},
    {"time with a bad offset", KIND_RULE, STAGE_CONVERT, "",
     "{\"expires_at\":\"2030-01-02T15:04:05+0100\"}", "expires_at", "RFC 3339"},
    {"expires_in and expires_at", KIND_RULE, STAGE_CONVERT, "rules[0]",
     "{\"expires_in\":\"1h\",\"expires_at\":\"2030-01-02T15:04:05Z\"}", "rules[0].expires_in",
     "not both"},
    {"expires_in not a duration", KIND_RULE, STAGE_CONVERT, "", "{\"expires_in\":\"soon\"}",
     "expires_in", "expected a positive duration"},
    {"expires_in zero", KIND_RULE, STAGE_CONVERT, "", "{\"expires_in\":0}", "expires_in",
     "positive duration"},
    {"nested message type", KIND_RULE, STAGE_CONVERT, "", "{\"id\":{}}", "id", "expected a string"},
    /* the controller's validation of what converted */
    {"bad CIDR", KIND_RULE, STAGE_VALIDATE, "",
     "{\"src_cidr\":\"300.0.0.0/8\",\"action\":\"drop\"}", "src_cidr", ""},
    {"CIDR without a length", KIND_RULE, STAGE_VALIDATE, "",
     "{\"dst_cidr\":\"10.0.0.0\",\"action\":\"drop\"}", "dst_cidr", "needs a length"},
    {"address and prefix", KIND_WL, STAGE_VALIDATE, "",
     "{\"src_ip\":\"10.0.0.1\",\"src_cidr\":\"10.0.0.0/8\"}", "src_cidr", "not both"},
    {"port out of range", KIND_RULE, STAGE_VALIDATE, "",
     "{\"src_ip\":\"10.0.0.1\",\"protocol\":\"tcp\",\"dst_port\":70000,\"action\":\"drop\"}",
     "dst_port", "0-65535"},
    {"whitelist port out of range", KIND_WL, STAGE_VALIDATE, "",
     "{\"src_ip\":\"10.0.0.1\",\"src_port\":65536}", "src_port", "0-65535"},
    {"unknown action", KIND_RULE, STAGE_VALIDATE, "",
     "{\"src_ip\":\"10.0.0.1\",\"action\":\"explode\"}", "action", "drop, pass or rate_limit"},
    {"no action", KIND_RULE, STAGE_VALIDATE, "", "{\"src_ip\":\"10.0.0.1\"}", "action",
     "action is required"},
    {"unknown protocol", KIND_RULE, STAGE_VALIDATE, "",
     "{\"src_ip\":\"10.0.0.1\",\"protocol\":\"carrier-pigeon\",\"action\":\"drop\"}", "protocol",
     ""},
    /* v2.7's decoder and match_anomaly: refusals name the field written */
    {"unknown decoder", KIND_RULE, STAGE_CONVERT, "",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"decoder\":\"tcp_syn\"}", "decoder",
     "unknown decoder \"tcp_syn\": allowed values are tcp_ack, tcp_rst, tcp_fin, bad_fragment, "
     "invalid"},
    {"decoder not a string", KIND_RULE, STAGE_CONVERT, "rules[2]",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"decoder\":1}", "rules[2].decoder",
     "expected a string, one of: tcp_ack"},
    {"decoder and protocol", KIND_RULE, STAGE_CONVERT, "",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"decoder\":\"tcp_ack\","
     "\"protocol\":\"tcp\"}",
     "decoder", "decoder tcp_ack conflicts with protocol"},
    {"decoder and tcp_flags", KIND_RULE, STAGE_CONVERT, "rules[1]",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"decoder\":\"bad_fragment\","
     "\"tcp_flags\":\"SYN\"}",
     "rules[1].decoder", "decoder bad_fragment conflicts with tcp_flags"},
    {"decoder and match_anomaly", KIND_RULE, STAGE_CONVERT, "",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"decoder\":\"invalid\","
     "\"match_anomaly\":\"invalid\"}",
     "decoder", "decoder invalid conflicts with match_anomaly"},
    {"match_anomaly unknown name", KIND_RULE, STAGE_CONVERT, "",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"match_anomaly\":\"bad_frag\"}",
     "match_anomaly", "a number 0-3 or names"},
    {"match_anomaly out of range", KIND_RULE, STAGE_VALIDATE, "",
     "{\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\",\"match_anomaly\":4}", "match_anomaly",
     "a mask of 1 (bad_fragment) and 2 (invalid)"},
    {"match_anomaly on a whitelist entry", KIND_WL, STAGE_CONVERT, "",
     "{\"dst_ip\":\"10.0.0.1\",\"match_anomaly\":1}", "match_anomaly", "unknown field"},
    {"decoder on a whitelist entry", KIND_WL, STAGE_CONVERT, "",
     "{\"dst_ip\":\"10.0.0.1\",\"decoder\":\"invalid\"}", "decoder", "unknown field"},
    {"packet length out of range", KIND_RULE, STAGE_VALIDATE, "",
     "{\"src_ip\":\"10.0.0.1\",\"pkt_len_max\":70000,\"action\":\"drop\"}", "pkt_len_max",
     "0-65535"},
};

/* Runs t up to its stage; returns the field and message of the refusal (into *e). */
static int refuse(const struct refusal *t, struct json_error *e)
{
	ProtobufCMessage *m = NULL;
	struct rule_error re = {0};
	cJSON *v = NULL;
	int rc = json_parse(t->in, strlen(t->in), &v, e);

	if (rc || t->stage == STAGE_PARSE)
		goto out;
	rc = convert(t->kind, v, t->path, &m, e);
	if (rc || t->stage == STAGE_CONVERT)
		goto out;
	rc = validate(t->kind, m, &re);
	if (rc) {
		snprintf(e->field, sizeof(e->field), "%s", re.field ? re.field : "");
		snprintf(e->message, sizeof(e->message), "%s", re.reason ? re.reason : "");
	}
out:
	if (rc != -EINVAL && rc)
		fail_msg("%s: %d, not -EINVAL", t->name, rc);
	protobuf_c_message_free_unpacked(m, NULL);
	cJSON_Delete(v);
	return rc;
}

static void test_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
		const struct refusal *t = &refusals[i];
		struct json_error e = {0};
		int rc = refuse(t, &e);

		if (rc != -EINVAL)
			fail_msg("%s: accepted (stage %d)", t->name, t->stage);
		if (strcmp(e.field, t->field))
			fail_msg("%s: field \"%s\" (%s), expected \"%s\"", t->name, e.field,
				 e.message, t->field);
		if (!strstr(e.message, t->why))
			fail_msg("%s: message \"%s\" lacks \"%s\"", t->name, e.message, t->why);
		if (!e.message[0])
			fail_msg("%s: no reason given", t->name);
	}
}

/* Nesting is refused beyond XDROP_JSON_MAX_DEPTH levels, accepted up to it. */
static void test_depth_limit(void **state)
{
	char buf[2 * (XDROP_JSON_MAX_DEPTH + 1) + 1];
	struct json_error e = {0};
	cJSON *v = NULL;

	(void)state;
	for (int depth = XDROP_JSON_MAX_DEPTH; depth <= XDROP_JSON_MAX_DEPTH + 1; depth++) {
		memset(buf, '[', (size_t)depth);
		memset(buf + depth, ']', (size_t)depth);
		buf[2 * depth] = 0;
		if (depth == XDROP_JSON_MAX_DEPTH) {
			assert_int_equal(json_parse(buf, strlen(buf), &v, &e), 0);
			cJSON_Delete(v);
		} else {
			assert_int_equal(json_parse(buf, strlen(buf), &v, &e), -EINVAL);
			assert_null(v);
			assert_string_equal(e.field, "");
			assert_non_null(strstr(e.message, "nesting deeper than"));
		}
	}
	/* brackets inside strings do not count */
	memset(buf, '[', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = 0;
	{
		char doc[sizeof(buf) + 16];

		snprintf(doc, sizeof(doc), "{\"name\":\"%s\"}", buf);
		assert_int_equal(json_parse(doc, strlen(doc), &v, &e), 0);
		cJSON_Delete(v);
	}
}

/* A field path longer than the error's room is cut, never overflows. */
static void test_long_field_name(void **state)
{
	char name[400], doc[450];
	struct json_error e = {0};
	ProtobufCMessage *m = NULL;
	cJSON *v;

	(void)state;
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	snprintf(doc, sizeof(doc), "{\"%s\":1}", name);
	v = parse_ok(doc);
	assert_int_equal(convert(KIND_RULE, v, "rules[0]", &m, &e), -EINVAL);
	assert_null(m);
	assert_int_equal(strlen(e.field), XDROP_JSON_MAX_FIELD - 1);
	assert_int_equal(strncmp(e.field, "rules[0].xxx", 12), 0);
	assert_string_equal(e.message, "unknown field");
	cJSON_Delete(v);
}

/* ---- integers, times, durations, masks, stats ---- */

/* 64-bit integers are printed exactly, never through a double. */
static void test_integers_exact(void **state)
{
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Delta d = XDROP__V1__DELTA__INIT;
	cJSON *o;
	char *s;

	(void)state;
	c.rx = UINT64_MAX;
	c.dropped = 9007199254740993ull; /* 2^53 + 1: a double would print ...992 */
	o = json_from_msg(&c.base);
	assert_non_null(o);
	s = member_text(o, "rx");
	assert_string_equal(s, "18446744073709551615");
	free(s);
	s = member_text(o, "dropped");
	assert_string_equal(s, "9007199254740993");
	free(s);
	s = member_text(o, "passed");
	assert_string_equal(s, "0");
	free(s);
	cJSON_Delete(o);

	d.revision = UINT64_MAX - 1;
	o = json_from_msg(&d.base);
	assert_non_null(o);
	s = member_text(o, "revision");
	assert_string_equal(s, "18446744073709551614");
	free(s);
	cJSON_Delete(o);
}

struct time_case {
	int64_t ns;
	const char *text;
};

static const struct time_case times[] = {
    {0, "1970-01-01T00:00:00Z"},
    {1893596645000000000, "2030-01-02T15:04:05Z"},
    {1893596645000000001, "2030-01-02T15:04:05.000000001Z"},
    {-1, "1969-12-31T23:59:59.999999999Z"},
};

static void test_times(void **state)
{
	char buf[48];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		int64_t ns = 0;

		assert_string_equal(json_format_time(times[i].ns, buf, sizeof(buf)), times[i].text);
		if (times[i].ns >= 0) {
			assert_int_equal(json_parse_time(times[i].text, &ns), 0);
			assert_int_equal(ns, times[i].ns);
		}
	}
	for (const char *const *bad =
		 (const char *const[]){"", "2030-01-02", "2030-01-02T15:04:05",
				       "2030-01-02T15:04:05.Z", "2030-01-02T15:04:05Zjunk", NULL};
	     *bad; bad++) {
		int64_t ns = 0;

		assert_int_equal(json_parse_time(*bad, &ns), -EINVAL);
	}
}

struct duration_case {
	const char *text;
	int rc;
	int64_t ns;
};

static const struct duration_case durations[] = {
    {"90", 0, 90000000000},
    {"90s", 0, 90000000000},
    {"1h30m", 0, 5400000000000},
    {"500ms", 0, 500000000},
    {"2d", 0, 172800000000000},
    {"1.5s", 0, 1500000000},
    {"250us", 0, 250000},
    {"7ns", 0, 7},
    {"", -EINVAL, 0},
    {"5x", -EINVAL, 0},
    {"-1s", -EINVAL, 0},
    {"s", -EINVAL, 0},
    {"1h 30m", -EINVAL, 0},
    {"-5", -EINVAL, 0},
    {"1e30", -EINVAL, 0},
};

static void test_durations(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(durations); i++) {
		int64_t ns = -1;
		int rc = json_parse_duration(durations[i].text, &ns);

		if (rc != durations[i].rc || (!rc && ns != durations[i].ns))
			fail_msg("\"%s\": rc %d ns %lld, expected rc %d ns %lld", durations[i].text,
				 rc, (long long)ns, durations[i].rc, (long long)durations[i].ns);
	}
}

/* expires_in sets expires_at from the wall clock now; a number is seconds. */
static void test_expires_in(void **state)
{
	static const struct {
		const char *in;
		int64_t ns;
	} cases[] = {
	    {"{\"src_ip\":\"10.0.0.1\",\"action\":\"drop\",\"expires_in\":\"90s\"}", 90000000000},
	    {"{\"src_ip\":\"10.0.0.1\",\"action\":\"drop\",\"expires_in\":3600}", 3600000000000},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct json_error e = {0};
		Xdrop__V1__Rule *r = NULL;
		cJSON *v = parse_ok(cases[i].in);
		int64_t before = clock_wall_ns(), after;

		assert_int_equal(json_to_rule(v, "", &r, NULL, NULL, &e), 0);
		after = clock_wall_ns();
		assert_true(r->expires_at >= before + cases[i].ns);
		assert_true(r->expires_at <= after + cases[i].ns);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		cJSON_Delete(v);
	}
}

static bool mask_has(char **mask, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(mask[i], name))
			return true;
	return false;
}

/* The update mask names the fields given: read-only ones and id left out, expires_in as
 * expires_at. */
static void test_update_mask(void **state)
{
	struct json_error e = {0};
	Xdrop__V1__Rule *r = NULL;
	Xdrop__V1__Node *n = NULL;
	char **mask = NULL;
	size_t n_mask = 0;
	cJSON *v = parse_ok("{\"id\":\"r1\",\"name\":\"a\",\"enabled\":false,\"expires_in\":\"1h\","
			    "\"stats\":{},\"created_at\":null}");

	(void)state;
	assert_int_equal(json_to_rule(v, "", &r, &mask, &n_mask, &e), 0);
	assert_int_equal(n_mask, 3);
	assert_true(mask_has(mask, n_mask, "name"));
	assert_true(mask_has(mask, n_mask, "enabled"));
	assert_true(mask_has(mask, n_mask, "expires_at"));
	assert_false(r->enabled);
	json_mask_free(mask, n_mask);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	cJSON_Delete(v);

	/* a decoder updates the fields it stands for, never a "decoder" field */
	v = parse_ok("{\"decoder\":\"tcp_rst\"}");
	mask = NULL;
	n_mask = 0;
	assert_int_equal(json_to_rule(v, "", &r, &mask, &n_mask, &e), 0);
	assert_int_equal(n_mask, 2);
	assert_true(mask_has(mask, n_mask, "protocol"));
	assert_true(mask_has(mask, n_mask, "tcp_flags"));
	assert_string_equal(r->tcp_flags, "RST");
	json_mask_free(mask, n_mask);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	cJSON_Delete(v);
	v = parse_ok("{\"decoder\":\"bad_fragment\",\"tcp_flags\":\"\"}");
	mask = NULL;
	n_mask = 0;
	assert_int_equal(json_to_rule(v, "", &r, &mask, &n_mask, &e), 0);
	assert_int_equal(n_mask, 2);
	assert_true(mask_has(mask, n_mask, "match_anomaly"));
	assert_true(mask_has(mask, n_mask, "tcp_flags"));
	assert_int_equal(r->match_anomaly, 1);
	json_mask_free(mask, n_mask);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	cJSON_Delete(v);

	/* a node: what the controller says (status, revision, times) is ignored */
	v = parse_ok("{\"id\":\"n1\",\"name\":\"edge\",\"address\":\"tcp://10.0.0.2:7600\","
		     "\"status\":\"online\",\"applied_revision\":7,\"last_seen\":null}");
	mask = NULL;
	n_mask = 0;
	assert_int_equal(json_to_node(v, "", &n, &mask, &n_mask, &e), 0);
	assert_string_equal(n->name, "edge");
	assert_string_equal(n->status, "");
	assert_int_equal(n->applied_revision, 0);
	assert_int_equal(n_mask, 2);
	assert_true(mask_has(mask, n_mask, "name"));
	assert_true(mask_has(mask, n_mask, "address"));
	json_mask_free(mask, n_mask);
	protobuf_c_message_free_unpacked(&n->base, NULL);
	cJSON_Delete(v);
}

/* /api/v1/stats: the StatsReply plus the flat fields of the documented API. */
static void test_stats_flat_fields(void **state)
{
	static const struct member want[] = {
	    {"total_packets", "18446744073709551615"},
	    {"dropped_packets", "20"},
	    {"passed_packets", "30"},
	    {"whitelisted_packets", "4"},
	    {"rate_limited_packets", "5"},
	    {"rules_count", "6"},
	    {"whitelist_count", "7"},
	    {"total_pps", "1.5"},
	    {"dropped_pps", "2.5"},
	    {"passed_pps", "0"},
	    {"revision", "9"},
	    {"total_bytes", "18446744073709551614"},
	    {"dropped_bytes", "1280"},
	    {"passed_bytes", "1920"},
	    {"total_bps", "8000.5"},
	    {"dropped_bps", "4000"},
	    {"passed_bps", "0"},
	};
	static const struct member none[] = {
	    {"total_packets", "0"}, {"total_pps", "0"}, {"total_bytes", "0"},
	    {"total_bps", "0"},	    {"totals", "null"},
	};
	Xdrop__V1__StatsReply s = XDROP__V1__STATS_REPLY__INIT;
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__Rates r = XDROP__V1__RATES__INIT;
	cJSON *o;

	(void)state;
	c.rx = UINT64_MAX;
	c.dropped = 20;
	c.passed = 30;
	c.whitelisted = 4;
	c.rate_limited = 5;
	r.rx_pps = 1.5;
	r.dropped_pps = 2.5;
	c.rx_bytes = UINT64_MAX - 1;
	c.dropped_bytes = 1280;
	c.passed_bytes = 1920;
	r.rx_bps = 8000.5;
	r.dropped_bps = 4000;
	s.totals = &c;
	s.rates = &r;
	s.rules = 6;
	s.whitelist = 7;
	s.revision = 9;
	o = json_from_stats(&s);
	assert_non_null(o);
	expect_members(o, want, ARRAY_SIZE(want), "stats");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "totals"));
	/* the exclusive reasons come through json_from_msg by their proto names */
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "totals");
		const cJSON *rt = cJSON_GetObjectItemCaseSensitive(o, "rates");

		assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "rule_dropped_bytes"));
		assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "default_passed"));
		assert_non_null(cJSON_GetObjectItemCaseSensitive(rt, "rate_limit_passed_bps"));
	}
	cJSON_Delete(o);

	/* no totals or rates yet: zeros, not a crash */
	s.totals = NULL;
	s.rates = NULL;
	o = json_from_stats(&s);
	assert_non_null(o);
	expect_members(o, none, ARRAY_SIZE(none), "empty stats");
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),	   cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_depth_limit),	   cmocka_unit_test(test_long_field_name),
	    cmocka_unit_test(test_integers_exact), cmocka_unit_test(test_times),
	    cmocka_unit_test(test_durations),	   cmocka_unit_test(test_expires_in),
	    cmocka_unit_test(test_update_mask),	   cmocka_unit_test(test_stats_flat_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
