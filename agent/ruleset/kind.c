// SPDX-License-Identifier: MIT
/*
 * ruleset/kind.c: the collection descriptors of the two kinds the rule set holds, rules
 * and whitelist entries (struct ruleset_kind, agent/ruleset.h). Everything that differs
 * between the kinds is here: their messages and field tables, where they sit in the wire
 * messages, their conversions and when they are active. The rest of the module, and the
 * RPC service, are written once for any kind.
 */
#include <errno.h>

#include "log.h"
#include "model.h"
#include "pbfield.h"
#include "rulehash.h"

/* ---- rules ---- */

static const struct ruleset_field rule_fields[] = {
    {"id", RSF_SEARCH | RSF_SORT},
    {"name", RSF_WRITE | RSF_SEARCH | RSF_SORT},
    {"src_ip", RSF_WRITE | RSF_SEARCH},
    {"dst_ip", RSF_WRITE | RSF_SEARCH},
    {"src_cidr", RSF_WRITE | RSF_SEARCH},
    {"dst_cidr", RSF_WRITE | RSF_SEARCH},
    {"src_port", RSF_WRITE},
    {"dst_port", RSF_WRITE},
    {"protocol", RSF_WRITE},
    {"action", RSF_WRITE | RSF_SORT | RSF_FILTER},
    {"rate_limit", RSF_WRITE},
    {"burst", RSF_WRITE},
    {"pkt_len_min", RSF_WRITE},
    {"pkt_len_max", RSF_WRITE},
    {"tcp_flags", RSF_WRITE},
    {"match_anomaly", RSF_WRITE},
    {"enabled", RSF_WRITE | RSF_FILTER},
    {"expires_at", RSF_WRITE},
    {"comment", RSF_WRITE | RSF_SEARCH},
    {"source", RSF_WRITE},
    {"created_at", RSF_SORT},
    {"updated_at", RSF_SORT},
};

const struct ruleset_kind ruleset_rules = {
    .index = 0,
    .dp_kind = XDROP_KIND_RULE,
    .noun = "rule",
    .msg = &xdrop__v1__rule__descriptor,
    .fields = rule_fields,
    .nfields = sizeof(rule_fields) / sizeof(rule_fields[0]),
    .default_sort = "created_at",
    .id_field = "id",
    .created_field = "created_at",
    .updated_field = "updated_at",
    .source_field = "source",
    .stats_field = "stats",
    .enabled_field = "enabled",
    .expires_field = "expires_at",
    .item_field = "rule",
    .list_field = "rules",
    .chunk_field = "rules",
    .chunk_total = "total_rules",
    .upsert_op = "upsert_rule",
    .delete_op = "delete_rule",
    .batch_max = RS_MAX_OPS,
};

/* ---- whitelist entries ---- */

static const struct ruleset_field wl_fields[] = {
    {"id", RSF_SEARCH},
    {"name", RSF_WRITE | RSF_SEARCH | RSF_SORT},
    {"src_ip", RSF_WRITE | RSF_SEARCH},
    {"dst_ip", RSF_WRITE | RSF_SEARCH},
    {"src_cidr", RSF_WRITE | RSF_SEARCH},
    {"dst_cidr", RSF_WRITE | RSF_SEARCH},
    {"src_port", RSF_WRITE},
    {"dst_port", RSF_WRITE},
    {"protocol", RSF_WRITE},
    {"comment", RSF_WRITE | RSF_SEARCH},
    {"created_at", RSF_SORT},
};

const struct ruleset_kind ruleset_whitelist = {
    .index = 1,
    .dp_kind = XDROP_KIND_WL,
    .noun = "whitelist entry",
    .msg = &xdrop__v1__whitelist_entry__descriptor,
    .fields = wl_fields,
    .nfields = sizeof(wl_fields) / sizeof(wl_fields[0]),
    .default_sort = "created_at",
    .id_field = "id",
    .created_field = "created_at",
    .stats_field = "stats", /* whitelist hits, filled by replies like a rule's */
    .item_field = "entry",
    .list_field = "entries",
    .chunk_field = "whitelist",
    .chunk_total = "total_whitelist",
    .upsert_op = "upsert_whitelist",
    .delete_op = "delete_whitelist",
    .batch_max = RS_MAX_OPS,
};

const struct ruleset_kind *const ruleset_kinds[RULESET_NKINDS] = {&ruleset_rules,
								  &ruleset_whitelist};

/* ---- the check ---- */

static int need(const ProtobufCMessageDescriptor *d, const char *name, const char *kind)
{
	if (!name || pbf_field(d, name))
		return 0;
	log_error("rule set kind %s: %s has no field %s", kind, d->name, name);
	return -EINVAL;
}

static int check_kind(const struct ruleset_kind *k, unsigned index)
{
	const char *roles[] = {k->default_sort, k->id_field,	k->created_field, k->updated_field,
			       k->source_field, k->stats_field, k->expires_field};
	int err = 0;

	if (k->index != index || !k->id_field || !k->default_sort) {
		log_error("rule set kind %s: index or required field missing", k->noun);
		return -EINVAL;
	}
	for (size_t i = 0; i < k->nfields && !err; i++)
		err = need(k->msg, k->fields[i].name, k->noun);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]) && !err; i++)
		err = need(k->msg, roles[i], k->noun);
	if (!err)
		err = need(&xdrop__v1__snapshot_chunk__descriptor, k->chunk_field, k->noun);
	if (!err)
		err = need(&xdrop__v1__snapshot_chunk__descriptor, k->chunk_total, k->noun);
	if (!err)
		err = need(&xdrop__v1__delta_op__descriptor, k->upsert_op, k->noun);
	if (!err)
		err = need(&xdrop__v1__delta_op__descriptor, k->delete_op, k->noun);
	return err;
}

int ruleset_kinds_check(void)
{
	int err = 0;

	for (unsigned i = 0; i < RULESET_NKINDS && !err; i++)
		err = check_kind(ruleset_kinds[i], i);
	return err;
}
