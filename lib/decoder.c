// SPDX-License-Identifier: MIT
/*
 * decoder: v2.7's decoder shorthand and match_anomaly names in a rule's JSON (decoder.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "decoder.h"
#include "rule.h"

const char decoder_names[] = "tcp_ack, tcp_rst, tcp_fin, bad_fragment, invalid";

/* tcp_ack is "ACK set and SYN clear" (not "only ACK"), as in v2.7. */
static const struct decoder decoders[] = {
    {"tcp_ack", "tcp", "ACK,!SYN", 0},
    {"tcp_rst", "tcp", "RST", 0},
    {"tcp_fin", "tcp", "FIN", 0},
    {"bad_fragment", NULL, NULL, XDROP_ANOM_BAD_FRAG},
    {"invalid", NULL, NULL, XDROP_ANOM_INVALID},
};

/* The fields a decoder stands for: giving one of them a value beside it is refused. */
static const char *const decoder_fields[] = {"protocol", "tcp_flags", "match_anomaly"};

const struct decoder *decoder_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(decoders) / sizeof(decoders[0]); i++)
		if (!strcmp(name, decoders[i].name))
			return &decoders[i];
	return NULL;
}

/* A refusal: *field and why filled, -EINVAL returned. */
static int refuse(const char **field, const char *name, char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse(const char **field, const char *name, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	*field = name;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* True when v is a member with a value: not absent, null, "" or 0. */
static bool has_value(const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return false;
	if (cJSON_IsString(v))
		return v->valuestring[0] != 0;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0 || v->valuestring; /* "0.0": refused later */
	return true;
}

/* Sets o's member name to v (a new item, consumed). Returns 0 or -ENOMEM. */
static int set_member(cJSON *o, const char *name, cJSON *v)
{
	if (!v)
		return -ENOMEM;
	if (cJSON_HasObjectItem(o, name))
		return cJSON_ReplaceItemInObjectCaseSensitive(o, name, v) ? 0 : -ENOMEM;
	if (cJSON_AddItemToObject(o, name, v))
		return 0;
	cJSON_Delete(v);
	return -ENOMEM;
}

/* The decoder member dec of a rule (not absent, not null): its table row, or a refusal. */
static int check_decoder(const cJSON *obj, const cJSON *dec, const struct decoder **d,
			 const char **field, char *why, size_t len)
{
	if (!cJSON_IsString(dec))
		return refuse(field, "decoder", why, len, "expected a string, one of: %s",
			      decoder_names);
	*d = decoder_find(dec->valuestring);
	if (!*d)
		return refuse(field, "decoder", why, len,
			      "unknown decoder \"%.32s\": allowed values are %s", dec->valuestring,
			      decoder_names);
	for (size_t i = 0; i < sizeof(decoder_fields) / sizeof(decoder_fields[0]); i++)
		if (has_value(cJSON_GetObjectItemCaseSensitive(obj, decoder_fields[i])))
			return refuse(field, "decoder", why, len,
				      "decoder %s conflicts with %s: give one or the other",
				      (*d)->name, decoder_fields[i]);
	return 0;
}

/* Applies d and a numeric mask (anomaly_text: match_anomaly was written as names) to o. */
static int apply(cJSON *o, const struct decoder *d, bool anomaly_text, uint8_t mask)
{
	int rc = 0;

	cJSON_DeleteItemFromObjectCaseSensitive(o, "decoder");
	if (anomaly_text)
		rc = set_member(o, "match_anomaly", cJSON_CreateNumber(mask));
	if (!rc && d && d->protocol)
		rc = set_member(o, "protocol", cJSON_CreateString(d->protocol));
	if (!rc && d && d->tcp_flags)
		rc = set_member(o, "tcp_flags", cJSON_CreateString(d->tcp_flags));
	if (!rc && d && d->anomaly)
		rc = set_member(o, "match_anomaly", cJSON_CreateNumber(d->anomaly));
	return rc;
}

int decoder_expand(const cJSON *obj, cJSON **out, const char **field, char *why, size_t len)
{
	const cJSON *dec = cJSON_GetObjectItemCaseSensitive(obj, "decoder");
	const cJSON *anom = cJSON_GetObjectItemCaseSensitive(obj, "match_anomaly");
	const struct decoder *d = NULL;
	uint8_t mask = 0;
	cJSON *o;
	int rc;

	*out = NULL;
	if (!cJSON_IsObject(obj) || (!dec && !cJSON_IsString(anom)))
		return 0;
	if (dec && !cJSON_IsNull(dec)) {
		rc = check_decoder(obj, dec, &d, field, why, len);
		if (rc)
			return rc;
	}
	if (cJSON_IsString(anom) && rule_parse_anomaly(anom->valuestring, &mask))
		return refuse(field, "match_anomaly", why, len, "%s",
			      "a mask of 1 (bad_fragment) and 2 (invalid): a number 0-3 or names "
			      "like \"bad_fragment,invalid\"");
	o = cJSON_Duplicate(obj, true);
	if (!o)
		return -ENOMEM;
	rc = apply(o, d, cJSON_IsString(anom), mask);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	*out = o;
	return 0;
}
