// SPDX-License-Identifier: MIT
/*
 * metrics: /metrics (see metrics.h): the gateway's own families and build info, and the
 * scrape that fetches what the node (metrics_fleet.c) and rule (metrics_rules.c) families
 * are made of; metrics_fmt.c writes the lines. The text is written
 * with open_memstream; each family in one piece (HELP, TYPE, then every sample), as the
 * format requires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "metrics.h"
#include "metrics_int.h"
#include "upstream.h"
#include "xdrop.pb-c.h"

static void gateway_families(FILE *f, struct gateway *gw)
{
	static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
	const struct gw_counters *c = &gw->ctr;
	unsigned used, slots;
	bool overflow;

	mx_family(f, "xdrop_gateway_http_responses_total", "counter",
		  "HTTP responses by status class.");
	for (int k = 1; k <= 5; k++)
		fprintf(f, "xdrop_gateway_http_responses_total{class=\"%s\"} %llu\n", classes[k],
			(unsigned long long)atomic_load(&c->http_status[k]));
	mx_family(f, "xdrop_gateway_requests_total", "counter", "HTTP requests received.");
	fprintf(f, "xdrop_gateway_requests_total %llu\n",
		(unsigned long long)atomic_load(&c->requests));
	mx_family(f, "xdrop_gateway_body_too_large_total", "counter",
		  "Requests refused for a body above the limit.");
	fprintf(f, "xdrop_gateway_body_too_large_total %llu\n",
		(unsigned long long)atomic_load(&c->body_too_large));
	mx_family(f, "xdrop_gateway_deadline_cut_total", "counter",
		  "Connections cut for not sending a request within the deadline.");
	fprintf(f, "xdrop_gateway_deadline_cut_total %llu\n",
		(unsigned long long)atomic_load(&c->deadline_cut));
	mx_family(f, "xdrop_gateway_login_failures_total", "counter", "Failed logins.");
	fprintf(f, "xdrop_gateway_login_failures_total %llu\n",
		(unsigned long long)atomic_load(&c->login_failed));
	mx_family(f, "xdrop_gateway_login_limited_total", "counter",
		  "Requests with a credential refused by the failed-credential limiter (429).");
	fprintf(f, "xdrop_gateway_login_limited_total %llu\n",
		(unsigned long long)atomic_load(&c->login_limited));
	used = auth_limiter_used(gw->auth, &slots, &overflow);
	mx_family(
	    f, "xdrop_gateway_auth_limiter_sources", "gauge",
	    "Client addresses with failed credentials in their window (at most the table size).");
	fprintf(f, "xdrop_gateway_auth_limiter_sources %u\n", used);
	mx_family(f, "xdrop_gateway_auth_limiter_slots", "gauge", "Size of the limiter's table.");
	fprintf(f, "xdrop_gateway_auth_limiter_slots %u\n", slots);
	mx_family(f, "xdrop_gateway_auth_limiter_overflow", "gauge",
		  "1 while addresses beyond the table share the overflow bucket.");
	fprintf(f, "xdrop_gateway_auth_limiter_overflow %d\n", overflow ? 1 : 0);
	mx_family(f, "xdrop_gateway_connections", "gauge", "Open HTTP connections.");
	fprintf(f, "xdrop_gateway_connections %llu\n",
		(unsigned long long)atomic_load(&c->connections));
	mx_family(f, "xdrop_gateway_event_streams", "gauge", "Open /api/v1/events streams.");
	fprintf(f, "xdrop_gateway_event_streams %llu\n",
		(unsigned long long)atomic_load(&c->sse_clients));
	mx_family(f, "xdrop_gateway_stats_cache_hits_total", "counter",
		  "GET /api/v1/stats answered from the cache, without an upstream call.");
	fprintf(f, "xdrop_gateway_stats_cache_hits_total %llu\n",
		(unsigned long long)atomic_load(&c->stats_cached));
	mx_family(f, "xdrop_gateway_upstream_calls_total", "counter",
		  "Upstream RPC calls by status.");
	for (int k = 0; k < RPC_CODE_COUNT; k++)
		fprintf(f, "xdrop_gateway_upstream_calls_total{code=\"%s\"} %llu\n",
			rpc_code_name((enum rpc_code)k),
			(unsigned long long)upstream_count(gw->up, (enum rpc_code)k));
	mx_family(f, "xdrop_gateway_upstream_refused_total", "counter",
		  "Requests answered 503 because every upstream slot was busy.");
	fprintf(f, "xdrop_gateway_upstream_refused_total %llu\n",
		(unsigned long long)upstream_refused(gw->up));
	mx_family(f, "xdrop_gateway_upstream_in_flight", "gauge", "Upstream calls in flight.");
	fprintf(f, "xdrop_gateway_upstream_in_flight %u\n", upstream_in_flight(gw->up));
}

/* xdrop_build_info: the gateway's, and its upstream's when Info told its version. */
static void build_info(FILE *f, const struct mx_scrape *s)
{
	const char *up = s->node_mode ? "agent" : "controller";

	mx_family(f, "xdrop_build_info", "gauge", "1 for each XDrop component: its version.");
	mx_u64(f, "xdrop_build_info",
	       (const struct mx_label[]){
		   {"version", XDROP_GATEWAY_VERSION}, {"component", "gateway"}, {NULL, NULL}},
	       1);
	if (s->info && s->info->version && *s->info->version)
		mx_u64(f, "xdrop_build_info",
		       (const struct mx_label[]){
			   {"version", s->info->version}, {"component", up}, {NULL, NULL}},
		       1);
}

/* The rule-set gauges: one figure for the cluster (not a sum over nodes). */
static void ruleset_families(FILE *f, const Xdrop__V1__StatsReply *s)
{
	mx_family(f, "xdrop_rules", "gauge", "Rules in the rule set.");
	mx_u64(f, "xdrop_rules", NULL, s->rules);
	mx_family(f, "xdrop_whitelist_entries", "gauge", "Whitelist entries.");
	mx_u64(f, "xdrop_whitelist_entries", NULL, s->whitelist);
	mx_family(f, "xdrop_revision", "gauge", "Current rule-set revision.");
	mx_u64(f, "xdrop_revision", NULL, s->revision);
}

/* Writes the whole exposition for scrape s into f. */
static void write_all(FILE *f, struct http_request *rq, const struct mx_scrape *s)
{
	gateway_families(f, rq->gw);
	build_info(f, s);
	mx_family(f, "xdrop_upstream_up", "gauge", "1 when the upstream answered this scrape.");
	mx_u64(f, "xdrop_upstream_up", NULL, s->stats != NULL);
	if (!s->stats)
		return;
	ruleset_families(f, s->stats);
	metrics_fleet(f, s);
	metrics_rules(f, rq, rq->gw->cfg->metrics_rule_series);
}

int metrics_serve(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__GetStatsRequest sreq = XDROP__V1__GET_STATS_REQUEST__INIT;
	Xdrop__V1__InfoRequest ireq = XDROP__V1__INFO_REQUEST__INIT;
	Xdrop__V1__ListNodesRequest nreq = XDROP__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *stats = NULL, *info = NULL, *nodes = NULL;
	struct mx_scrape s = {.node_mode = rq->gw->cfg->node_mode,
			      .upstream_url = rq->gw->cfg->upstream_url};
	struct rpc_status st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (api_call(rq, &xdrop__v1__stats_service__descriptor, "Get", &sreq.base, &stats, &st) &&
	    (st.code == RPC_UNAUTHENTICATED || st.code == RPC_PERMISSION_DENIED))
		return api_fail(rp, &st, NULL);
	if (stats) {
		api_call(rq, &xdrop__v1__stats_service__descriptor, "Info", &ireq.base, &info, &st);
		if (!s.node_mode) {
			nreq.limit = GW_LIST_MAX_LIMIT;
			api_call(rq, &xdrop__v1__node_service__descriptor, "List", &nreq.base,
				 &nodes, &st);
		}
	}
	s.stats = (const void *)stats;
	s.info = (const void *)info;
	s.nodes = (const void *)nodes;
	f = open_memstream(&buf, &len);
	if (!f) {
		http_error(rp, 500, NULL, "out of memory");
		goto out;
	}
	write_all(f, rq, &s);
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
	api_free_msg(info);
	api_free_msg(nodes);
	return 0;
}
