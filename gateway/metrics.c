// SPDX-License-Identifier: MIT
/*
 * metrics: /metrics (see metrics.h). The text is written with open_memstream; each
 * metric family is written in one piece (HELP, TYPE, then every sample), as the format
 * requires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "metrics.h"
#include "upstream.h"
#include "xdrop.pb-c.h"

/* A label value with \, " and newline escaped. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"') {
			fputc('\\', f);
			fputc(*s, f);
		} else if (*s == '\n') {
			fputs("\\n", f);
		} else {
			fputc(*s, f);
		}
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Starts a sample line: `name{`, then for a node's series its `node="...",` label. */
static void sample_start(FILE *f, const char *name, const char *node_id)
{
	fprintf(f, "%s{", name);
	if (node_id) {
		fputs("node=", f);
		label(f, node_id);
		fputc(',', f);
	}
}

/* Starts a rule's sample line: `name{rule_id="..."} `. */
static void rule_sample(FILE *f, const char *name, const char *id)
{
	fprintf(f, "%s{rule_id=", name);
	label(f, id);
	fputs("} ", f);
}

static void counters_family(FILE *f, const char *name, const Xdrop__V1__StatsReply *s,
			    bool per_node)
{
	static const char *const verdicts[] = {
	    "rx", "passed", "dropped", "whitelisted", "rate_limited", "malformed", "protected"};

	family(f, name, "counter",
	       per_node ? "Packets seen by each node, by verdict."
			: "Packets seen by all nodes, by verdict.");
	for (size_t n = 0; n < (per_node ? s->n_nodes : 1); n++) {
		const Xdrop__V1__Counters *c = per_node ? s->nodes[n]->counters : s->totals;
		uint64_t v[7] = {0};

		if (c) {
			v[0] = c->rx;
			v[1] = c->passed;
			v[2] = c->dropped;
			v[3] = c->whitelisted;
			v[4] = c->rate_limited;
			v[5] = c->malformed;
			v[6] = c->protected_;
		}
		for (size_t k = 0; k < 7; k++) {
			sample_start(f, name, per_node ? s->nodes[n]->node_id : NULL);
			fprintf(f, "verdict=\"%s\"} %llu\n", verdicts[k], (unsigned long long)v[k]);
		}
	}
}

static void rates_family(FILE *f, const char *name, const Xdrop__V1__StatsReply *s, bool per_node)
{
	static const char *const kinds[] = {"rx", "passed", "dropped", "rate_limited"};

	family(f, name, "gauge", "Packets per second over the last sampling window, by kind.");
	for (size_t n = 0; n < (per_node ? s->n_nodes : 1); n++) {
		const Xdrop__V1__Rates *r = per_node ? s->nodes[n]->rates : s->rates;
		double v[4] = {0};

		if (r) {
			v[0] = r->rx_pps;
			v[1] = r->passed_pps;
			v[2] = r->dropped_pps;
			v[3] = r->rate_limited_pps;
		}
		for (size_t k = 0; k < 4; k++) {
			sample_start(f, name, per_node ? s->nodes[n]->node_id : NULL);
			fprintf(f, "kind=\"%s\"} %.3f\n", kinds[k], v[k]);
		}
	}
}

static int by_drops(const void *a, const void *b)
{
	const Xdrop__V1__RuleCounter *x = *(Xdrop__V1__RuleCounter *const *)a;
	const Xdrop__V1__RuleCounter *y = *(Xdrop__V1__RuleCounter *const *)b;

	if (x->drop_count != y->drop_count)
		return x->drop_count < y->drop_count ? 1 : -1;
	if (x->match_count != y->match_count)
		return x->match_count < y->match_count ? 1 : -1;
	return strcmp(x->id, y->id);
}

static void rule_families(FILE *f, Xdrop__V1__RuleStatsReply *r, unsigned cap)
{
	size_t n = r->n_rules < cap ? r->n_rules : cap;

	if (r->n_rules > 1)
		qsort(r->rules, r->n_rules, sizeof(*r->rules), by_drops);
	family(f, "xdrop_rule_matches_total", "counter", "Packets that matched the rule.");
	for (size_t i = 0; i < n; i++) {
		rule_sample(f, "xdrop_rule_matches_total", r->rules[i]->id);
		fprintf(f, "%llu\n", (unsigned long long)r->rules[i]->match_count);
	}
	family(f, "xdrop_rule_drops_total", "counter", "Packets the rule dropped.");
	for (size_t i = 0; i < n; i++) {
		rule_sample(f, "xdrop_rule_drops_total", r->rules[i]->id);
		fprintf(f, "%llu\n", (unsigned long long)r->rules[i]->drop_count);
	}
	family(f, "xdrop_rule_pps", "gauge", "Packets per second matching the rule.");
	for (size_t i = 0; i < n; i++) {
		rule_sample(f, "xdrop_rule_pps", r->rules[i]->id);
		fprintf(f, "%.3f\n", r->rules[i]->pps);
	}
	family(f, "xdrop_rule_series_omitted", "gauge",
	       "Rules left out of the per-rule series (metrics.max_rule_series).");
	fprintf(f, "xdrop_rule_series_omitted %zu\n", r->n_rules - n);
}

static void node_families(FILE *f, const Xdrop__V1__ListNodesResponse *l)
{
	family(f, "xdrop_node_up", "gauge", "1 when the node is online, else 0.");
	for (size_t i = 0; i < l->n_nodes; i++) {
		fputs("xdrop_node_up{node=", f);
		label(f, l->nodes[i]->id);
		fputs(",status=", f);
		label(f, l->nodes[i]->status);
		fprintf(f, "} %d\n", !strcmp(l->nodes[i]->status, "online"));
	}
	family(f, "xdrop_node_applied_revision", "gauge", "Rule-set revision the node applied.");
	for (size_t i = 0; i < l->n_nodes; i++) {
		fputs("xdrop_node_applied_revision{node=", f);
		label(f, l->nodes[i]->id);
		fprintf(f, "} %llu\n", (unsigned long long)l->nodes[i]->applied_revision);
	}
}

static void gateway_families(FILE *f, struct gateway *gw)
{
	static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
	const struct gw_counters *c = &gw->ctr;
	unsigned used, slots;
	bool overflow;

	family(f, "xdrop_gateway_http_responses_total", "counter",
	       "HTTP responses by status class.");
	for (int k = 1; k <= 5; k++)
		fprintf(f, "xdrop_gateway_http_responses_total{class=\"%s\"} %llu\n", classes[k],
			(unsigned long long)atomic_load(&c->http_status[k]));
	family(f, "xdrop_gateway_requests_total", "counter", "HTTP requests received.");
	fprintf(f, "xdrop_gateway_requests_total %llu\n",
		(unsigned long long)atomic_load(&c->requests));
	family(f, "xdrop_gateway_body_too_large_total", "counter",
	       "Requests refused for a body above the limit.");
	fprintf(f, "xdrop_gateway_body_too_large_total %llu\n",
		(unsigned long long)atomic_load(&c->body_too_large));
	family(f, "xdrop_gateway_deadline_cut_total", "counter",
	       "Connections cut for not sending a request within the deadline.");
	fprintf(f, "xdrop_gateway_deadline_cut_total %llu\n",
		(unsigned long long)atomic_load(&c->deadline_cut));
	family(f, "xdrop_gateway_login_failures_total", "counter", "Failed logins.");
	fprintf(f, "xdrop_gateway_login_failures_total %llu\n",
		(unsigned long long)atomic_load(&c->login_failed));
	family(f, "xdrop_gateway_login_limited_total", "counter",
	       "Requests with a credential refused by the failed-credential limiter (429).");
	fprintf(f, "xdrop_gateway_login_limited_total %llu\n",
		(unsigned long long)atomic_load(&c->login_limited));
	used = auth_limiter_used(gw->auth, &slots, &overflow);
	family(
	    f, "xdrop_gateway_auth_limiter_sources", "gauge",
	    "Client addresses with failed credentials in their window (at most the table size).");
	fprintf(f, "xdrop_gateway_auth_limiter_sources %u\n", used);
	family(f, "xdrop_gateway_auth_limiter_slots", "gauge", "Size of the limiter's table.");
	fprintf(f, "xdrop_gateway_auth_limiter_slots %u\n", slots);
	family(f, "xdrop_gateway_auth_limiter_overflow", "gauge",
	       "1 while addresses beyond the table share the overflow bucket.");
	fprintf(f, "xdrop_gateway_auth_limiter_overflow %d\n", overflow ? 1 : 0);
	family(f, "xdrop_gateway_connections", "gauge", "Open HTTP connections.");
	fprintf(f, "xdrop_gateway_connections %llu\n",
		(unsigned long long)atomic_load(&c->connections));
	family(f, "xdrop_gateway_event_streams", "gauge", "Open /api/v1/events streams.");
	fprintf(f, "xdrop_gateway_event_streams %llu\n",
		(unsigned long long)atomic_load(&c->sse_clients));
	family(f, "xdrop_gateway_stats_cache_hits_total", "counter",
	       "GET /api/v1/stats answered from the cache, without an upstream call.");
	fprintf(f, "xdrop_gateway_stats_cache_hits_total %llu\n",
		(unsigned long long)atomic_load(&c->stats_cached));
	family(f, "xdrop_gateway_upstream_calls_total", "counter", "Upstream RPC calls by status.");
	for (int k = 0; k < RPC_CODE_COUNT; k++)
		fprintf(f, "xdrop_gateway_upstream_calls_total{code=\"%s\"} %llu\n",
			rpc_code_name((enum rpc_code)k),
			(unsigned long long)upstream_count(gw->up, (enum rpc_code)k));
	family(f, "xdrop_gateway_upstream_refused_total", "counter",
	       "Requests answered 503 because every upstream slot was busy.");
	fprintf(f, "xdrop_gateway_upstream_refused_total %llu\n",
		(unsigned long long)upstream_refused(gw->up));
	family(f, "xdrop_gateway_upstream_in_flight", "gauge", "Upstream calls in flight.");
	fprintf(f, "xdrop_gateway_upstream_in_flight %u\n", upstream_in_flight(gw->up));
}

int metrics_serve(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__GetStatsRequest sreq = XDROP__V1__GET_STATS_REQUEST__INIT;
	Xdrop__V1__RuleStatsRequest rreq = XDROP__V1__RULE_STATS_REQUEST__INIT;
	Xdrop__V1__ListNodesRequest nreq = XDROP__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *stats = NULL, *rules = NULL, *nodes = NULL;
	struct rpc_status st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	bool up;

	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "Get", &sreq.base, &stats, &st) &&
	    (st.code == RPC_UNAUTHENTICATED || st.code == RPC_PERMISSION_DENIED))
		return api_fail(rp, &st, NULL);
	up = stats != NULL;
	if (up)
		api_call(rq, &xdrop__v1__stats_service__descriptor, "RuleStats", &rreq.base, &rules,
			 &st);
	if (up && !rq->gw->cfg->node_mode) {
		nreq.limit = GW_LIST_MAX_LIMIT;
		api_call(rq, &xdrop__v1__node_service__descriptor, "List", &nreq.base, &nodes, &st);
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		http_error(rp, 500, NULL, "out of memory");
		goto out;
	}
	gateway_families(f, rq->gw);
	family(f, "xdrop_upstream_up", "gauge", "1 when the upstream answered this scrape.");
	fprintf(f, "xdrop_upstream_up %d\n", up);
	if (stats) {
		const Xdrop__V1__StatsReply *s = (const void *)stats;

		counters_family(f, "xdrop_packets_total", s, false);
		rates_family(f, "xdrop_pps", s, false);
		family(f, "xdrop_rules", "gauge", "Rules in the rule set.");
		fprintf(f, "xdrop_rules %llu\n", (unsigned long long)s->rules);
		family(f, "xdrop_whitelist_entries", "gauge", "Whitelist entries.");
		fprintf(f, "xdrop_whitelist_entries %llu\n", (unsigned long long)s->whitelist);
		family(f, "xdrop_revision", "gauge", "Current rule-set revision.");
		fprintf(f, "xdrop_revision %llu\n", (unsigned long long)s->revision);
		counters_family(f, "xdrop_node_packets_total", s, true);
		rates_family(f, "xdrop_node_pps", s, true);
		family(f, "xdrop_node_rules", "gauge", "Rules loaded on the node.");
		for (size_t i = 0; i < s->n_nodes; i++) {
			fputs("xdrop_node_rules{node=", f);
			label(f, s->nodes[i]->node_id);
			fprintf(f, "} %llu\n", (unsigned long long)s->nodes[i]->rules);
		}
	}
	if (nodes)
		node_families(f, (const void *)nodes);
	if (rules)
		rule_families(f, (void *)rules, rq->gw->cfg->metrics_rule_series);
	if (fclose(f)) {
		free(buf);
		http_error(rp, 500, NULL, "out of memory");
		goto out;
	}
	rp->status = 200;
	rp->text = buf;
	rp->text_len = len;
	rp->content_type = "text/plain; version=0.0.4; charset=utf-8";
out:
	api_free_msg(stats);
	api_free_msg(rules);
	api_free_msg(nodes);
	return 0;
}
