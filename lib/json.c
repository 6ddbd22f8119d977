// SPDX-License-Identifier: MIT
/*
 * json: JSON <-> protobuf for the REST API and xdropctl (see json.h). Everything here is
 * driven by protobuf-c's descriptors; the few REST conventions that the schema cannot say
 * (times, expires_in, enabled's default, compatibility fields of /stats) are the named
 * wrappers at the end.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "decoder.h"
#include "json.h"

#define JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53: integers above lose precision */

int json_fail(struct json_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- strict parsing ---- */

/* Checks UTF-8 (no overlongs, no surrogates), the depth of nesting, and "\u0000" escapes
 * (a NUL would silently cut a C string short). One pass, aware of strings. */
static int prescan(const char *buf, size_t len, struct json_error *err)
{
	const unsigned char *p = (const unsigned char *)buf;
	unsigned depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == 0)
			return json_fail(err, NULL, "NUL byte at offset %zu", i);
		if (c >= 0x80) {
			size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
			uint32_t cp = c & (0x3f >> n);

			if (n == 0 || c > 0xf4 || i + n >= len)
				return json_fail(err, NULL, "invalid UTF-8 at offset %zu", i);
			for (size_t k = 1; k <= n; k++) {
				if ((p[i + k] & 0xc0) != 0x80)
					return json_fail(err, NULL, "invalid UTF-8 at offset %zu",
							 i);
				cp = (cp << 6) | (p[i + k] & 0x3f);
			}
			if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				return json_fail(err, NULL, "invalid UTF-8 at offset %zu", i);
			i += n;
			continue;
		}
		if (in_str) {
			if (c == '\\') {
				if (i + 5 < len && p[i + 1] == 'u' && !memcmp(p + i + 2, "0000", 4))
					return json_fail(err, NULL,
							 "\\u0000 in a string at offset %zu", i);
				i++;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > XDROP_JSON_MAX_DEPTH)
				return json_fail(err, NULL, "nesting deeper than %d levels",
						 XDROP_JSON_MAX_DEPTH);
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return 0;
}

/* Refuses an object with the same key twice, anywhere in the document. */
static int check_dups(const cJSON *v, char *path, size_t plen, struct json_error *err)
{
	const cJSON *a, *b;
	size_t idx = 0;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	for (a = v->child; a; a = a->next, idx++) {
		size_t l = strlen(path);

		if (cJSON_IsObject(v)) {
			for (b = v->child; b != a; b = b->next)
				if (!strcmp(a->string, b->string)) {
					snprintf(path + l, plen - l, "%s%s", l ? "." : "",
						 a->string);
					return json_fail(err, path, "duplicate key");
				}
			snprintf(path + l, plen - l, "%s%s", l ? "." : "", a->string);
		} else {
			snprintf(path + l, plen - l, "[%zu]", idx);
		}
		if (check_dups(a, path, plen, err))
			return -EINVAL;
		path[l] = 0;
	}
	return 0;
}

/* The next number token of the text from *pos on, outside strings: its start and length.
 * False when there is none. */
static bool next_number(const char *buf, size_t len, size_t *pos, const char **tok, size_t *n)
{
	bool in_str = false;

	for (size_t i = *pos; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t k = i;

			while (k < len && strchr("0123456789+-eE.", buf[k]) && buf[k])
				k++;
			*tok = buf + i;
			*n = k - i;
			*pos = k;
			return true;
		}
	}
	return false;
}

/*
 * Keeps the text of every number written with a fraction or an exponent ("80.5", "80.0",
 * "1e2") in its valuestring (cJSON_Delete frees it), so that integer fields can refuse
 * what is not written as an integer: cJSON alone gives 1e2 and 100 the same value. A
 * depth-first walk meets the numbers in the order they appear in the text.
 */
static int mark_numbers(cJSON *v, const char *buf, size_t len, size_t *pos)
{
	const char *tok;
	size_t n;

	if (cJSON_IsNumber(v)) {
		if (!next_number(buf, len, pos, &tok, &n))
			return -EINVAL;
		if (memchr(tok, '.', n) || memchr(tok, 'e', n) || memchr(tok, 'E', n)) {
			v->valuestring = strndup(tok, n);
			if (!v->valuestring)
				return -ENOMEM;
		}
		return 0;
	}
	for (cJSON *c = v->child; c && (cJSON_IsObject(v) || cJSON_IsArray(v)); c = c->next) {
		int rc = mark_numbers(c, buf, len, pos);

		if (rc)
			return rc;
	}
	return 0;
}

int json_parse(const char *buf, size_t len, cJSON **out, struct json_error *err)
{
	size_t pos = 0;
	char path[XDROP_JSON_MAX_FIELD] = "";
	const char *end = NULL;
	cJSON *v;
	int rc;

	*out = NULL;
	if (len == 0)
		return json_fail(err, NULL, "empty body: a JSON document is required");
	rc = prescan(buf, len, err);
	if (rc)
		return rc;
	v = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!v) {
		size_t at = end && end >= buf ? (size_t)(end - buf) : 0;

		return json_fail(err, NULL, "malformed JSON at offset %zu", at);
	}
	while (end && (size_t)(end - buf) < len && strchr(" \t\r\n", *end))
		end++;
	if (end && (size_t)(end - buf) < len) {
		cJSON_Delete(v);
		return json_fail(err, NULL, "trailing data at offset %zu", (size_t)(end - buf));
	}
	rc = check_dups(v, path, sizeof(path), err);
	if (!rc) {
		rc = mark_numbers(v, buf, len, &pos);
		if (rc == -EINVAL)
			json_fail(err, NULL, "malformed number");
	}
	if (rc) {
		cJSON_Delete(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* ---- times and durations ---- */

char *json_format_time(int64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	char base[32];

	if (frac < 0) {
		frac += 1000000000;
		s--;
	}
	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		snprintf(buf, len, "%s.%09ldZ", base, frac);
	else
		snprintf(buf, len, "%sZ", base);
	return buf;
}

int json_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = {0};
	const char *p;
	int64_t frac = 0, scale = 100000000, off = 0;
	time_t t;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		   p[2] <= '9' && p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' &&
		   p[5] <= '9') {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1 || t < 0 || t > 9000000000LL)
		return -EINVAL;
	*ns = ((int64_t)t - off) * 1000000000 + frac;
	return 0;
}

int json_parse_duration(const char *s, int64_t *ns)
{
	/* two-letter units first, so that "ms" is not read as "m" */
	static const struct {
		const char *unit;
		double ns;
	} units[] = {{"ns", 1},	  {"us", 1e3},	 {"ms", 1e6},	{"s", 1e9},
		     {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
	const char *p = s;
	double total;
	char *end;

	if (!*s)
		return -EINVAL;
	total = strtod(p, &end);
	if (end != p && !*end && total >= 0) { /* a bare number: seconds */
		total *= 1e9;
		goto done;
	}
	total = 0;
	while (*p) {
		size_t k, l = 0;
		double v;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = strtod(p, &end);
		p = end;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			l = strlen(units[k].unit);
			if (!strncmp(p, units[k].unit, l))
				break;
		}
		if (k == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		total += v * units[k].ns;
		p += l;
	}
done:
	if (!(total >= 0) || total > 9.2e18)
		return -EINVAL;
	*ns = (int64_t)total;
	return 0;
}

/* ---- descriptor-driven conversion ---- */

static bool is_time_field(const ProtobufCFieldDescriptor *f)
{
	size_t l = strlen(f->name);

	return f->type == PROTOBUF_C_TYPE_INT64 &&
	       (!strcmp(f->name, "at") || !strcmp(f->name, "last_seen") ||
		!strcmp(f->name, "status_since") || (l > 3 && !strcmp(f->name + l - 3, "_at")));
}

static void join(char *dst, size_t len, const char *path, const char *name)
{
	snprintf(dst, len, "%s%s%s", path, *path ? "." : "", name);
}

/* An integral JSON number within [min, max]. */
static int get_int(const cJSON *v, const char *field, double min, double max, double *out,
		   struct json_error *err)
{
	double d;

	if (!cJSON_IsNumber(v))
		return json_fail(err, field, "expected an integer");
	if (v->valuestring) /* written with a fraction or an exponent: see mark_numbers */
		return json_fail(err, field, "expected an integer in digits, not %.32s",
				 v->valuestring);
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return json_fail(err, field, "expected an integer");
	if (d < min || d > max)
		return json_fail(err, field, "out of range (%.0f..%.0f)", min, max);
	*out = d;
	return 0;
}

static int msg_new(const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (!m)
		return -ENOMEM;
	d->message_init(m);
	*out = m;
	return 0;
}

/* Converts one scalar or message value v of field f into the memory at dst. */
static int set_value(const cJSON *v, const ProtobufCFieldDescriptor *f, const char *field,
		     void *dst, struct json_error *err)
{
	double d;
	int rc;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char *s;

		if (cJSON_IsNull(v)) {
			s = strdup("");
		} else if (!cJSON_IsString(v)) {
			return json_fail(err, field, "expected a string");
		} else {
			s = strdup(v->valuestring);
		}
		if (!s)
			return -ENOMEM;
		*(char **)dst = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!cJSON_IsBool(v))
			return json_fail(err, field, "expected true or false");
		*(protobuf_c_boolean *)dst = cJSON_IsTrue(v);
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
		rc = get_int(v, field, 0, 4294967295.0, &d, err);
		if (!rc)
			*(uint32_t *)dst = (uint32_t)d;
		return rc;
	case PROTOBUF_C_TYPE_INT32:
		rc = get_int(v, field, -2147483648.0, 2147483647.0, &d, err);
		if (!rc)
			*(int32_t *)dst = (int32_t)d;
		return rc;
	case PROTOBUF_C_TYPE_UINT64:
		rc = get_int(v, field, 0, JSON_MAX_SAFE_INT, &d, err);
		if (!rc)
			*(uint64_t *)dst = (uint64_t)d;
		return rc;
	case PROTOBUF_C_TYPE_INT64:
		if (is_time_field(f)) {
			int64_t ns = 0;

			if (cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) {
				*(int64_t *)dst = 0;
				return 0;
			}
			if (!cJSON_IsString(v) || json_parse_time(v->valuestring, &ns))
				return json_fail(err, field,
						 "expected an RFC 3339 time like "
						 "2030-01-02T15:04:05Z, or null");
			*(int64_t *)dst = ns;
			return 0;
		}
		rc = get_int(v, field, -JSON_MAX_SAFE_INT, JSON_MAX_SAFE_INT, &d, err);
		if (!rc)
			*(int64_t *)dst = (int64_t)d;
		return rc;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return json_fail(err, field, "expected a number");
		*(double *)dst = v->valuedouble;
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev;

		if (!cJSON_IsString(v) || !(ev = protobuf_c_enum_descriptor_get_value_by_name(
						f->descriptor, v->valuestring)))
			return json_fail(err, field, "expected one of the names of %s",
					 ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
		*(int *)dst = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		if (cJSON_IsNull(v)) {
			*(ProtobufCMessage **)dst = NULL;
			return 0;
		}
		return json_to_msg(v, f->descriptor, field, NULL, (ProtobufCMessage **)dst, err);
	default:
		return json_fail(err, field, "field cannot be set through JSON");
	}
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	default:
		return 8;
	}
}

int json_to_msg(const cJSON *obj, const ProtobufCMessageDescriptor *d, const char *path,
		const char *const *ignore, ProtobufCMessage **out, struct json_error *err)
{
	ProtobufCMessage *m = NULL;
	const cJSON *it;
	int rc;

	*out = NULL;
	if (!cJSON_IsObject(obj))
		return json_fail(err, *path ? path : NULL, "expected an object");
	rc = msg_new(d, &m);
	if (rc)
		return rc;
	cJSON_ArrayForEach(it, obj)
	{
		const ProtobufCFieldDescriptor *f;
		char field[XDROP_JSON_MAX_FIELD];
		bool skip = false;
		char *base = (char *)m;

		for (size_t i = 0; ignore && ignore[i]; i++)
			skip |= !strcmp(ignore[i], it->string);
		if (skip)
			continue;
		join(field, sizeof(field), path, it->string);
		f = protobuf_c_message_descriptor_get_field_by_name(d, it->string);
		if (!f || f->type == PROTOBUF_C_TYPE_BYTES) {
			rc = json_fail(err, field, "unknown field");
			goto out;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = (size_t)cJSON_GetArraySize(it), k = 0, sz = value_size(f);
			const cJSON *e;
			void *arr;

			if (!cJSON_IsArray(it)) {
				rc = json_fail(err, field, "expected an array");
				goto out;
			}
			arr = calloc(n ? n : 1, sz);
			if (!arr) {
				rc = -ENOMEM;
				goto out;
			}
			*(void **)(base + f->offset) = arr;
			cJSON_ArrayForEach(e, it)
			{
				char ef[XDROP_JSON_MAX_FIELD + 24];

				snprintf(ef, sizeof(ef), "%s[%zu]", field, k);
				rc = set_value(e, f, ef, (char *)arr + k * sz, err);
				if (rc)
					goto out;
				k++;
				*(size_t *)(base + f->quantifier_offset) = k;
			}
			continue;
		}
		rc = set_value(it, f, field, base + f->offset, err);
		if (rc)
			goto out;
	}
	*out = m;
	return 0;
out:
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

static cJSON *raw_int(uint64_t v, bool neg)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%s%llu", neg ? "-" : "", (unsigned long long)v);
	return cJSON_CreateRaw(buf);
}

static cJSON *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return cJSON_CreateString(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BOOL:
		return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_UINT32:
		return raw_int(*(const uint32_t *)p, false);
	case PROTOBUF_C_TYPE_INT32: {
		int32_t v = *(const int32_t *)p;

		return raw_int(v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v, v < 0);
	}
	case PROTOBUF_C_TYPE_UINT64:
		return raw_int(*(const uint64_t *)p, false);
	case PROTOBUF_C_TYPE_INT64: {
		int64_t v = *(const int64_t *)p;

		if (is_time_field(f)) {
			char buf[48];

			return v ? cJSON_CreateString(json_format_time(v, buf, sizeof(buf)))
				 : cJSON_CreateNull();
		}
		return raw_int(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double d = *(const double *)p;

		return cJSON_CreateNumber(isfinite(d) ? d : 0);
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);

		return ev ? cJSON_CreateString(ev->name)
			  : raw_int((uint64_t) * (const int *)p, false);
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return json_from_msg(*(ProtobufCMessage *const *)p);
	default:
		return NULL;
	}
}

cJSON *json_from_msg(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d;
	cJSON *o;

	if (!m)
		return cJSON_CreateNull();
	d = m->descriptor;
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		cJSON *v;

		if (f->type == PROTOBUF_C_TYPE_BYTES)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);

			v = cJSON_CreateArray();
			for (size_t k = 0; v && k < n; k++) {
				cJSON *e = value_json(f, arr + k * value_size(f));

				if (!e || !cJSON_AddItemToArray(v, e)) {
					cJSON_Delete(e);
					cJSON_Delete(v);
					v = NULL;
				}
			}
		} else {
			v = value_json(f, base + f->offset);
		}
		if (!v || !cJSON_AddItemToObject(o, f->name, v)) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

/* ---- REST conventions ---- */

void json_mask_free(char **mask, size_t n)
{
	for (size_t i = 0; mask && i < n; i++)
		free(mask[i]);
	free(mask);
}

/* The proto names of obj's members (those not ignored), expires_in as expires_at. */
static int make_mask(const cJSON *obj, const char *const *ignore, char ***mask, size_t *n_mask)
{
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(obj) + 1;
	char **v = calloc(cap, sizeof(*v));
	const cJSON *it;

	if (!v)
		return -ENOMEM;
	cJSON_ArrayForEach(it, obj)
	{
		const char *name = it->string;
		bool skip = false;

		if (!strcmp(name, "expires_in"))
			name = "expires_at";
		for (size_t i = 0; ignore && ignore[i]; i++)
			skip |= !strcmp(ignore[i], name);
		if (skip)
			continue;
		v[n] = strdup(name);
		if (!v[n]) {
			json_mask_free(v, n);
			return -ENOMEM;
		}
		n++;
	}
	*mask = v;
	*n_mask = n;
	return 0;
}

static int fix_protocol(char **proto)
{
	if (*proto && !strcmp(*proto, "all")) {
		char *s = strdup("any");

		if (!s)
			return -ENOMEM;
		free(*proto);
		*proto = s;
	}
	return 0;
}

int json_to_rule(const cJSON *obj, const char *path, Xdrop__V1__Rule **out, char ***mask,
		 size_t *n_mask, struct json_error *err)
{
	static const char *const ignore[] = {"stats", "created_at", "updated_at", "expires_in",
					     NULL};
	static const char *const mask_ignore[] = {"stats", "created_at", "updated_at", "id", NULL};
	ProtobufCMessage *m = NULL;
	Xdrop__V1__Rule *r;
	const cJSON *exp;
	cJSON *expanded = NULL; /* obj with v2.7's decoder expanded (lib/decoder.h) */
	char field[XDROP_JSON_MAX_FIELD], dwhy[XDROP_JSON_MAX_ERROR];
	const char *dfield = NULL;
	int rc;

	*out = NULL;
	rc = decoder_expand(obj, &expanded, &dfield, dwhy, sizeof(dwhy));
	if (rc == -EINVAL) {
		join(field, sizeof(field), path, dfield);
		return json_fail(err, field, "%s", dwhy);
	}
	if (rc)
		return rc;
	if (expanded)
		obj = expanded;
	rc = json_to_msg(obj, &xdrop__v1__rule__descriptor, path, ignore, &m, err);
	if (rc)
		goto out;
	r = (Xdrop__V1__Rule *)m;
	if (!cJSON_HasObjectItem(obj, "enabled"))
		r->enabled = true;
	exp = cJSON_GetObjectItemCaseSensitive(obj, "expires_in");
	if (exp) {
		int64_t ns = 0;

		join(field, sizeof(field), path, "expires_in");
		if (cJSON_HasObjectItem(obj, "expires_at")) {
			rc = json_fail(err, field, "give expires_at or expires_in, not both");
			goto out;
		}
		if (cJSON_IsNumber(exp) && isfinite(exp->valuedouble) && exp->valuedouble > 0 &&
		    exp->valuedouble < 9e9) {
			ns = (int64_t)(exp->valuedouble * 1e9);
		} else if (!cJSON_IsString(exp) || json_parse_duration(exp->valuestring, &ns) ||
			   ns <= 0) {
			rc = json_fail(err, field,
				       "expected a positive duration like \"90s\" or \"1h30m\"");
			goto out;
		}
		r->expires_at = clock_wall_ns() + ns;
	}
	rc = fix_protocol(&r->protocol);
	if (!rc && mask)
		rc = make_mask(obj, mask_ignore, mask, n_mask);
	if (rc)
		goto out;
	cJSON_Delete(expanded);
	*out = r;
	return 0;
out:
	cJSON_Delete(expanded);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

int json_to_wl(const cJSON *obj, const char *path, Xdrop__V1__WhitelistEntry **out,
	       struct json_error *err)
{
	static const char *const ignore[] = {"created_at", NULL};
	ProtobufCMessage *m = NULL;
	int rc;

	*out = NULL;
	rc = json_to_msg(obj, &xdrop__v1__whitelist_entry__descriptor, path, ignore, &m, err);
	if (rc)
		return rc;
	rc = fix_protocol(&((Xdrop__V1__WhitelistEntry *)m)->protocol);
	if (rc) {
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	*out = (Xdrop__V1__WhitelistEntry *)m;
	return 0;
}

int json_to_node(const cJSON *obj, const char *path, Xdrop__V1__Node **out, char ***mask,
		 size_t *n_mask, struct json_error *err)
{
	/* status, revision, stats and times are the controller's to say */
	static const char *const ignore[] = {
	    "status",	  "applied_revision", "content_hash", "last_seen", "stats",
	    "created_at", "updated_at",	      "version",      NULL};
	static const char *const mask_ignore[] = {
	    "status",	  "applied_revision", "content_hash", "last_seen", "stats",
	    "created_at", "updated_at",	      "version",      "id",	   NULL};
	ProtobufCMessage *m = NULL;
	int rc;

	*out = NULL;
	rc = json_to_msg(obj, &xdrop__v1__node__descriptor, path, ignore, &m, err);
	if (rc)
		return rc;
	if (mask) {
		rc = make_mask(obj, mask_ignore, mask, n_mask);
		if (rc) {
			protobuf_c_message_free_unpacked(m, NULL);
			return rc;
		}
	}
	*out = (Xdrop__V1__Node *)m;
	return 0;
}

cJSON *json_from_stats(const Xdrop__V1__StatsReply *s)
{
	cJSON *o = json_from_msg(&s->base);
	const Xdrop__V1__Counters *c = s->totals;
	const Xdrop__V1__Rates *r = s->rates;
	bool ok = o != NULL;

	if (!o)
		return NULL;
	ok &= cJSON_AddItemToObject(o, "total_packets", raw_int(c ? c->rx : 0, false));
	ok &= cJSON_AddItemToObject(o, "dropped_packets", raw_int(c ? c->dropped : 0, false));
	ok &= cJSON_AddItemToObject(o, "passed_packets", raw_int(c ? c->passed : 0, false));
	ok &=
	    cJSON_AddItemToObject(o, "whitelisted_packets", raw_int(c ? c->whitelisted : 0, false));
	ok &= cJSON_AddItemToObject(o, "rate_limited_packets",
				    raw_int(c ? c->rate_limited : 0, false));
	ok &= cJSON_AddItemToObject(o, "rules_count", raw_int(s->rules, false));
	ok &= cJSON_AddItemToObject(o, "whitelist_count", raw_int(s->whitelist, false));
	ok &= cJSON_AddNumberToObject(o, "total_pps", r ? r->rx_pps : 0) != NULL;
	ok &= cJSON_AddNumberToObject(o, "dropped_pps", r ? r->dropped_pps : 0) != NULL;
	ok &= cJSON_AddNumberToObject(o, "passed_pps", r ? r->passed_pps : 0) != NULL;
	/* bytes and bits beside every flat packet figure (frame lengths, docs/api.md) */
	ok &= cJSON_AddItemToObject(o, "total_bytes", raw_int(c ? c->rx_bytes : 0, false));
	ok &= cJSON_AddItemToObject(o, "dropped_bytes", raw_int(c ? c->dropped_bytes : 0, false));
	ok &= cJSON_AddItemToObject(o, "passed_bytes", raw_int(c ? c->passed_bytes : 0, false));
	ok &= cJSON_AddNumberToObject(o, "total_bps", r ? r->rx_bps : 0) != NULL;
	ok &= cJSON_AddNumberToObject(o, "dropped_bps", r ? r->dropped_bps : 0) != NULL;
	ok &= cJSON_AddNumberToObject(o, "passed_bps", r ? r->passed_bps : 0) != NULL;
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
