// SPDX-License-Identifier: MIT
/*
 * metrics_rules: the per-rule and per-whitelist-entry series of /metrics. Rules and
 * whitelist entries are alike here, one descriptor each: counters from
 * StatsService.RuleStats (RuleCounter.kind tells them apart; "" is a rule, as older agents
 * send), names (and a rule's action) from the kind's List, in an `_info` series that
 * carries them once so that the counter series stay keyed by id alone (a rename does not
 * start new counter series).
 *
 * Bounds: a rule set may hold hundreds of thousands of rules, and a series per rule would
 * swamp Prometheus. At most metrics.max_rule_series of each kind are exported, those with
 * the most drops (then matches) first; xdrop_{rule,whitelist}_series_omitted says how many
 * were left out. Names are looked up in at most MX_NAME_PAGES pages of the kind's List per
 * scrape (the first 40,000 objects); an exported object not found there (deleted since its
 * counters were read, or beyond that many objects) has counters but no _info series this
 * scrape.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "metrics_int.h"
#include "pbfield.h"

/* List pages of XDROP_LIST_MAX objects read per scrape for the names: 40,000 rules, in
 * 4 calls, bounds what a scrape costs the upstream whatever the size of the rule set. */
#define MX_NAME_PAGES 4

static const struct rkind {
	const char *kind;	 /* RuleCounter.kind */
	const char *info;	 /* the _info family */
	const char *id_label;	 /* the id's label name */
	const char *omitted;	 /* the omitted-series gauge */
	const char *families[4]; /* matched packets and bytes, dropped packets and bytes */
	const char *helps[4];
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMessageDescriptor *list;
	const char *many; /* the List reply's repeated field */
	bool drops;	  /* has dropped series and an action */
} rkinds[] = {
    {
	.kind = "rule",
	.info = "xdrop_rule_info",
	.id_label = "rule_id",
	.omitted = "xdrop_rule_series_omitted",
	.families = {"xdrop_rule_matched_packets_total", "xdrop_rule_matched_bytes_total",
		     "xdrop_rule_dropped_packets_total", "xdrop_rule_dropped_bytes_total"},
	.helps = {"Packets that matched the rule, summed over nodes.",
		  "Bytes (frame lengths) that matched the rule, summed over nodes.",
		  "Packets the rule dropped, summed over nodes.",
		  "Bytes (frame lengths) the rule dropped, summed over nodes."},
	.svc = &xdrop__v1__rule_service__descriptor,
	.list = &xdrop__v1__list_rules_request__descriptor,
	.many = "rules",
	.drops = true,
    },
    {
	.kind = "whitelist",
	.info = "xdrop_whitelist_info",
	.id_label = "entry_id",
	.omitted = "xdrop_whitelist_series_omitted",
	.families = {"xdrop_whitelist_matched_packets_total",
		     "xdrop_whitelist_matched_bytes_total"},
	.helps = {"Packets that matched the whitelist entry (and were passed), summed over "
		  "nodes.",
		  "Bytes (frame lengths) that matched the whitelist entry, summed over nodes."},
	.svc = &xdrop__v1__whitelist_service__descriptor,
	.list = &xdrop__v1__list_whitelist_request__descriptor,
	.many = "entries",
    },
};

/* One exported object: its counters and, once found in the List, its name and action. */
struct row {
	const Xdrop__V1__RuleCounter *c;
	const char *name, *action; /* borrowed from a List reply; NULL: not found */
};

static int by_drops(const void *a, const void *b)
{
	const Xdrop__V1__RuleCounter *x = ((const struct row *)a)->c;
	const Xdrop__V1__RuleCounter *y = ((const struct row *)b)->c;

	if (x->drop_count != y->drop_count)
		return x->drop_count < y->drop_count ? 1 : -1;
	if (x->match_count != y->match_count)
		return x->match_count < y->match_count ? 1 : -1;
	return strcmp(x->id, y->id);
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->c->id, ((const struct row *)b)->c->id);
}

static bool of_kind(const Xdrop__V1__RuleCounter *c, const struct rkind *k)
{
	const char *kind = c->kind && *c->kind ? c->kind : "rule";

	return !strcmp(kind, k->kind);
}

/* Names the rows (sorted by id) from List pages; the replies go to keep[] (freed by the
 * caller). Stops when every row is named, the list ends or MX_NAME_PAGES were read. */
static size_t name_rows(struct http_request *rq, const struct rkind *k, struct row *rows, size_t n,
			ProtobufCMessage **keep)
{
	size_t pages = 0, named = 0;

	for (uint32_t page = 1; named < n && pages < MX_NAME_PAGES; page++) {
		ProtobufCMessage *req = calloc(1, k->list->sizeof_message), *resp = NULL;
		const Xdrop__V1__Pagination *pg;
		struct rpc_status st;
		ProtobufCMessage **objs;
		size_t n_objs;

		if (!req)
			break;
		protobuf_c_message_init(k->list, req);
		pbf_set_int(req, "page", page);
		pbf_set_int(req, "limit", XDROP_LIST_MAX);
		api_call(rq, k->svc, "List", req, &resp, &st);
		free(req);
		if (!resp)
			break;
		keep[pages++] = resp;
		objs = pbf_repeated(resp, k->many, &n_objs);
		for (size_t i = 0; i < n_objs; i++) {
			Xdrop__V1__RuleCounter key = {.id = (char *)pbf_str(objs[i], "id")};
			struct row probe = {.c = &key}, *r;

			r = bsearch(&probe, rows, n, sizeof(*rows), by_id);
			if (r && !r->name) {
				r->name = pbf_str(objs[i], "name");
				r->action = pbf_str(objs[i], "action");
				named++;
			}
		}
		pg = pbf_get_ptr(resp, "pagination");
		if (!n_objs || !pg || page >= pg->pages)
			break;
	}
	return pages;
}

static void write_kind(FILE *f, const struct rkind *k, const struct row *rows, size_t n,
		       size_t omitted)
{
	mx_family(f, k->info, "gauge",
		  k->drops ? "1 for each exported rule: its name and action, to join on rule_id."
			   : "1 for each exported whitelist entry: its name, to join on entry_id.");
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].name)
			continue;
		mx_u64(f, k->info,
		       (const struct mx_label[]){{k->id_label, rows[i].c->id},
						 {"name", rows[i].name},
						 {k->drops ? "action" : NULL, rows[i].action},
						 {NULL, NULL}},
		       1);
	}
	for (size_t m = 0; m < (k->drops ? 4u : 2u); m++) {
		mx_family(f, k->families[m], "counter", k->helps[m]);
		for (size_t i = 0; i < n; i++) {
			const Xdrop__V1__RuleCounter *c = rows[i].c;
			uint64_t v[4] = {c->match_count, c->match_bytes, c->drop_count,
					 c->drop_bytes};

			mx_u64(f, k->families[m],
			       (const struct mx_label[]){{k->id_label, c->id}, {NULL, NULL}}, v[m]);
		}
	}
	mx_family(f, k->omitted, "gauge",
		  "Objects of this kind left out of the per-object series "
		  "(metrics.max_rule_series).");
	mx_u64(f, k->omitted, NULL, omitted);
}

/* The series of kind k from the counters in r. */
static void one_kind(FILE *f, struct http_request *rq, const struct rkind *k,
		     const Xdrop__V1__RuleStatsReply *r, unsigned cap)
{
	struct row *rows = calloc(r->n_rules + 1, sizeof(*rows));
	ProtobufCMessage *keep[MX_NAME_PAGES] = {0};
	size_t n = 0, kept, pages;

	if (!rows)
		return;
	for (size_t i = 0; i < r->n_rules; i++)
		if (of_kind(r->rules[i], k))
			rows[n++].c = r->rules[i];
	qsort(rows, n, sizeof(*rows), by_drops);
	kept = n < cap ? n : cap;
	qsort(rows, kept, sizeof(*rows), by_id);
	pages = kept ? name_rows(rq, k, rows, kept, keep) : 0;
	write_kind(f, k, rows, kept, n - kept);
	for (size_t i = 0; i < pages; i++)
		api_free_msg(keep[i]);
	free(rows);
}

void metrics_rules(FILE *f, struct http_request *rq, unsigned cap)
{
	Xdrop__V1__RuleStatsRequest req = XDROP__V1__RULE_STATS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "RuleStats", &req.base, &resp, &st))
		return;
	for (size_t k = 0; k < sizeof(rkinds) / sizeof(rkinds[0]); k++)
		one_kind(f, rq, &rkinds[k], (const void *)resp, cap);
	api_free_msg(resp);
}
