// SPDX-License-Identifier: MIT
/*
 * api_put: what a PUT of a rule means, as v2.7 clients write it, made explicit before the
 * body becomes an update mask (json_to_rule: every member present is a field to set).
 *
 * v2.7 reads a PUT body into scalars, so it cannot tell an absent field from a zero one:
 * `"dst_port": 0` or `"protocol": ""` leave the field as it is (a client sending its whole
 * form must not widen the rule by accident). Here an absent field and those zero values
 * mean "unchanged", and JSON null clears a field. tcp_flags and comment keep v2.7's
 * tri-state (absent: unchanged, "": cleared, a value: set). An action other than
 * rate_limit clears rate_limit and burst unless the body sets them (v2.7 zeroes
 * rate_limit on action "drop"). Whether the rule is still valid afterwards (a rule with
 * no match field left, ...) the upstream's validation decides, naming the field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Fields whose zero value means "unchanged": v2.7's scalar strings and numbers. */
static const char *const zero_str[] = {"name",	   "src_ip", "dst_ip", "src_cidr", "dst_cidr",
				       "protocol", "action", "source", NULL};
static const char *const zero_num[] = {"src_port",    "dst_port",    "rate_limit",    "burst",
				       "pkt_len_min", "pkt_len_max", "match_anomaly", NULL};
/* Strings with the tri-state: "" clears. */
static const char *const tri_str[] = {"tcp_flags", "comment", NULL};

static bool in(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

/* Whether body still names a field to set (json_to_rule's mask skips these). */
static bool has_field(const cJSON *body)
{
	static const char *const fixed[] = {"id", "stats", "created_at", "updated_at", NULL};

	for (const cJSON *m = body->child; m; m = m->next)
		if (!in(fixed, m->string))
			return true;
	return false;
}

/* member replaced by v (taken over) under the same name; false when out of memory. */
static bool replace(cJSON *body, cJSON *member, cJSON *v)
{
	if (v)
		v->string = strdup(member->string);
	if (!v || !v->string) {
		cJSON_Delete(v);
		return false;
	}
	return cJSON_ReplaceItemViaPointer(body, member, v);
}

/* action other than rate_limit: rate_limit and burst cleared unless the body has them. */
static int clear_rate(cJSON *body)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "action");
	static const char *const rate[] = {"rate_limit", "burst"};

	if (!cJSON_IsString(a) || !*a->valuestring || !strcmp(a->valuestring, "rate_limit"))
		return 0;
	for (size_t i = 0; i < 2; i++)
		if (!cJSON_HasObjectItem(body, rate[i]) &&
		    !cJSON_AddNumberToObject(body, rate[i], 0))
			return -ENOMEM;
	return 0;
}

int api_put_rule_input(cJSON *body, struct http_reply *rp)
{
	cJSON *m, *next;
	bool had = false;

	if (!cJSON_IsObject(body))
		return 0; /* json_to_rule says what is wrong */
	for (m = body->child; m; m = next) {
		const char *k = m->string;
		bool ok = true;

		next = m->next;
		had = true;
		if (cJSON_IsNull(m) && (in(zero_str, k) || in(tri_str, k)))
			ok = replace(body, m, cJSON_CreateString(""));
		else if (cJSON_IsNull(m) && in(zero_num, k))
			ok = replace(body, m, cJSON_CreateNumber(0));
		else if ((cJSON_IsString(m) && !*m->valuestring && in(zero_str, k)) ||
			 (cJSON_IsNumber(m) && m->valuedouble == 0 && in(zero_num, k)))
			cJSON_Delete(cJSON_DetachItemViaPointer(body, m));
		if (!ok) {
			http_error(rp, 500, NULL, "out of memory");
			return -ENOMEM;
		}
	}
	if (clear_rate(body)) {
		http_error(rp, 500, NULL, "out of memory");
		return -ENOMEM;
	}
	/* only zero values: a write that changes nothing (source "" keeps the rule's) */
	if (had && !has_field(body) && !cJSON_AddStringToObject(body, "source", "")) {
		http_error(rp, 500, NULL, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
