// SPDX-License-Identifier: MIT
/*
 * output: how xdropctl prints. -o json prints the messages in lib/json's shapes (those of
 * the REST API); otherwise each kind of reply has its columns here (printed by table.c in
 * the -o format), so that the columns of every command are in one place; so are the
 * detail views of rules get and nodes get. The import progress bar goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "rule.h"

/* ---- JSON ---- */

int ctl_print_json(const cJSON *o)
{
	char *s = o ? cJSON_Print(o) : NULL;

	if (!s)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	puts(s);
	free(s);
	return CTL_EXIT_OK;
}

int ctl_print_msg(const ProtobufCMessage *m)
{
	cJSON *o = json_from_msg(m);
	int rc = ctl_print_json(o);

	cJSON_Delete(o);
	return rc;
}

/* ---- progress ---- */

void ctl_progress(const struct ctl *c, const char *what, size_t done, size_t total)
{
	int width = 40, fill;

	if (c->progress <= 0 || !total)
		return;
	fill = (int)((double)done / (double)total * width);
	fprintf(stderr, "\r%-10s [%.*s%*s] %3d%% %zu/%zu", what, fill,
		"########################################", width - fill, "",
		(int)((double)done * 100 / (double)total), done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* ---- units ---- */

/* v in units of 1000 (unit[0] the base), three significant digits. */
static const char *si(double v, const char *const *unit, char *buf, size_t len)
{
	size_t k = 0;

	while (v >= 999.5 && unit[k + 1]) {
		v /= 1000;
		k++;
	}
	if (k == 0)
		snprintf(buf, len, "%.0f %s", v, unit[0]);
	else
		snprintf(buf, len,
			 v < 9.995   ? "%.2f %s"
			 : v < 99.95 ? "%.1f %s"
				     : "%.0f %s",
			 v, unit[k]);
	return buf;
}

const char *ctl_bps(double bps, char *buf, size_t len)
{
	static const char *const u[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", NULL};

	return si(bps, u, buf, len);
}

const char *ctl_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const u[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", NULL};

	return si((double)bytes, u, buf, len);
}

/* "" for current figures, "stale, as of HH:MM:SS" (local time) for the last known ones. */
static const char *as_of(bool stale, int64_t at_ns, char *buf, size_t len)
{
	time_t t = (time_t)(at_ns / 1000000000);
	struct tm tm;

	buf[0] = 0;
	if (stale && at_ns && localtime_r(&t, &tm))
		strftime(buf, len, "stale, as of %H:%M:%S", &tm);
	else if (stale)
		snprintf(buf, len, "stale");
	return buf;
}

/* ---- tables ---- */

static const char *match_text(const Xdrop__V1__Rule *r, char *buf, size_t len)
{
	char anom[24];
	size_t n = 0;

#define PART(cond, ...)                                                                            \
	do {                                                                                       \
		if ((cond) && n < len)                                                             \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);                      \
	} while (0)
	buf[0] = 0;
	PART(*r->src_ip, "src=%s ", r->src_ip);
	PART(*r->src_cidr, "src=%s ", r->src_cidr);
	PART(*r->dst_ip, "dst=%s ", r->dst_ip);
	PART(*r->dst_cidr, "dst=%s ", r->dst_cidr);
	PART(*r->protocol && strcmp(r->protocol, "any"), "%s ", r->protocol);
	PART(r->src_port, "sport=%u ", r->src_port);
	PART(r->dst_port, "dport=%u ", r->dst_port);
	PART(*r->tcp_flags, "flags=%s ", r->tcp_flags);
	PART(r->pkt_len_min || r->pkt_len_max, "len=%u-%u ", r->pkt_len_min, r->pkt_len_max);
	PART(r->match_anomaly, "anomaly=%s ",
	     rule_anomaly_name((uint8_t)r->match_anomaly, anom, sizeof(anom)));
#undef PART
	if (n && n < len)
		buf[n - 1] = 0;
	return buf;
}

/* "rl:100/s" for a rate_limit rule, else the action. */
static const char *action_text(const Xdrop__V1__Rule *r, char *buf, size_t len)
{
	if (!strcmp(r->action, "rate_limit"))
		snprintf(buf, len, "rl:%llu/s", (unsigned long long)r->rate_limit);
	else
		snprintf(buf, len, "%s", r->action);
	return buf;
}

/* "never", or the time and how long is left ("2026-12-07 15:00:00 (in 59m 58s)"). */
static const char *expiry_text(int64_t at, char *buf, size_t len)
{
	char t[48], left[48];

	if (!at)
		return "never";
	snprintf(buf, len, "%s (%s)", ctl_time(at, t, sizeof(t)), ctl_ago(at, left, sizeof(left)));
	return buf;
}

void ctl_print_rules(const Xdrop__V1__Rule *const *rules, size_t n)
{
	static const struct ctl_col cols[] = {
	    {"ID", 36, false, false},	  {"NAME", 32, false, false},
	    {"MATCH", 40, false, false},  {"ACTION", 10, false, false},
	    {"ON", 3, false, false},	  {"MATCHES", 12, true, false},
	    {"DROPS", 12, true, false},	  {"BYTES", 10, true, false},
	    {"SOURCE", 0, false, true},	  {"EXPIRES", 0, false, true},
	    {"FIGURES", 0, false, false},
	};
	struct ctl_table *t = ctl_table_new(cols, sizeof(cols) / sizeof(cols[0]));

	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__Rule *r = rules[i];
		const Xdrop__V1__RuleStats *st = r->stats;
		char m[256], act[32], b[32], ts[48], mc[24], dc[24], ex[112];

		snprintf(mc, sizeof(mc), "%llu", (unsigned long long)(st ? st->match_count : 0));
		snprintf(dc, sizeof(dc), "%llu", (unsigned long long)(st ? st->drop_count : 0));
		ctl_table_row(t, (const char *const[]){
				     r->id, r->name, match_text(r, m, sizeof(m)),
				     action_text(r, act, sizeof(act)), r->enabled ? "yes" : "no",
				     mc, dc, ctl_bytes(st ? st->match_bytes : 0, b, sizeof(b)),
				     r->source, expiry_text(r->expires_at, ex, sizeof(ex)),
				     as_of(st && st->stale, st ? st->at : 0, ts, sizeof(ts))});
	}
	ctl_table_print(t);
}

/* An address or prefix, "any" when neither is set. */
static const char *any(const char *cidr, const char *ip)
{
	return *cidr ? cidr : *ip ? ip : "any";
}

/* A port, "any" for 0. */
static const char *port(uint32_t p, char *buf, size_t len)
{
	if (!p)
		return "any";
	snprintf(buf, len, "%u", p);
	return buf;
}

void ctl_print_wl(const Xdrop__V1__WhitelistEntry *const *e, size_t n)
{
	static const struct ctl_col cols[] = {
	    {"ID", 36, false, false},	 {"NAME", 32, false, false}, {"SRC", 18, false, false},
	    {"DST", 18, false, false},	 {"PROTO", 8, false, false}, {"SPORT", 5, true, false},
	    {"DPORT", 5, true, false},	 {"HITS", 12, true, false},  {"BYTES", 10, true, false},
	    {"COMMENT", 0, false, true},
	};
	struct ctl_table *t = ctl_table_new(cols, sizeof(cols) / sizeof(cols[0]));

	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__RuleStats *st = e[i]->stats;
		char b[32], sp[12], dp[12], hits[24];

		snprintf(hits, sizeof(hits), "%llu",
			 (unsigned long long)(st ? st->match_count : 0));
		ctl_table_row(
		    t,
		    (const char *const[]){
			e[i]->id, e[i]->name, any(e[i]->src_cidr, e[i]->src_ip),
			any(e[i]->dst_cidr, e[i]->dst_ip), *e[i]->protocol ? e[i]->protocol : "any",
			port(e[i]->src_port, sp, sizeof(sp)), port(e[i]->dst_port, dp, sizeof(dp)),
			hits, ctl_bytes(st ? st->match_bytes : 0, b, sizeof(b)), e[i]->comment});
	}
	ctl_table_print(t);
}

/* One row of the stats' packet table (name, counters). */
static void counts_row(const char *name, const Xdrop__V1__Counters *t)
{
	static const Xdrop__V1__Counters zero = XDROP__V1__COUNTERS__INIT;
	char rb[32], db[32];

	if (!t)
		t = &zero;
	printf("%-36.36s  %14llu  %14llu  %14llu  %12llu  %12llu  %10llu  %10s  %10s\n", name,
	       (unsigned long long)t->rx, (unsigned long long)t->passed,
	       (unsigned long long)t->dropped, (unsigned long long)t->whitelisted,
	       (unsigned long long)t->rate_limited, (unsigned long long)t->malformed,
	       ctl_bytes(t->rx_bytes, rb, sizeof(rb)), ctl_bytes(t->dropped_bytes, db, sizeof(db)));
}

/* One row of the stats' rate table (name, rates, "stale, as of ..." or ""). */
static void rates_row(const char *name, const Xdrop__V1__Rates *r, const char *note)
{
	static const Xdrop__V1__Rates zero = XDROP__V1__RATES__INIT;
	char rx[32], dr[32], rl[32];

	if (!r)
		r = &zero;
	printf("%-36.36s  %12.0f  %13s  %12.0f  %12.0f  %13s  %12.0f  %13s  %s\n", name, r->rx_pps,
	       ctl_bps(r->rx_bps, rx, sizeof(rx)), r->passed_pps, r->dropped_pps,
	       ctl_bps(r->dropped_bps, dr, sizeof(dr)), r->rate_limited_pps,
	       ctl_bps(r->rate_limited_bps, rl, sizeof(rl)), note);
}

/* Two tables: packets and bytes since start, then rates; a node's figures older than the
 * health timeout say so ("stale, as of HH:MM:SS") instead of passing for current ones. */
void ctl_print_stats(const Xdrop__V1__StatsReply *s)
{
	char ts[48];

	printf("rules %llu  whitelist %llu  revision %llu\n", (unsigned long long)s->rules,
	       (unsigned long long)s->whitelist, (unsigned long long)s->revision);
	printf("%-36s  %14s  %14s  %14s  %12s  %12s  %10s  %10s  %10s\n", "NODE", "RX", "PASSED",
	       "DROPPED", "WHITELISTED", "RATE-LIMITED", "MALFORMED", "RX BYTES", "DROP BYTES");
	counts_row("(total)", s->totals);
	for (size_t i = 0; i < s->n_nodes; i++)
		counts_row(*s->nodes[i]->node_id ? s->nodes[i]->node_id : "(this node)",
			   s->nodes[i]->counters);
	printf("\n%-36s  %12s  %13s  %12s  %12s  %13s  %12s  %13s  %s\n", "RATES", "RX PPS",
	       "RX BPS", "PASSED PPS", "DROP PPS", "DROP BPS", "RL PPS", "RL BPS", "");
	rates_row("(all nodes)", s->rates, "");
	for (size_t i = 0; i < s->n_nodes; i++) {
		const Xdrop__V1__NodeStats *n = s->nodes[i];

		rates_row(*n->node_id ? n->node_id : "(this node)", n->rates,
			  as_of(n->stale, n->at, ts, sizeof(ts)));
	}
}

void ctl_print_nodes(const Xdrop__V1__ListNodesResponse *l)
{
	static const struct ctl_col cols[] = {
	    {"ID", 36, false, false},	    {"NAME", 32, false, false},
	    {"ADDRESS", 28, false, false},  {"STATUS", 12, false, false},
	    {"FILTERING", 9, false, false}, {"REVISION", 8, true, false},
	    {"RX PPS", 10, true, false},    {"RX BPS", 13, true, false},
	    {"VERSION", 0, false, true},    {"LAST SEEN", 0, false, true},
	    {"FIGURES", 0, false, false},
	};
	struct ctl_table *t = ctl_table_new(cols, sizeof(cols) / sizeof(cols[0]));

	for (size_t i = 0; i < l->n_nodes; i++) {
		const Xdrop__V1__Node *n = l->nodes[i];
		const Xdrop__V1__NodeStats *st = n->stats;
		char bps[32], ts[48], rev[24], pps[24], seen[48];

		snprintf(rev, sizeof(rev), "%llu", (unsigned long long)n->applied_revision);
		snprintf(pps, sizeof(pps), "%.0f", st && st->rates ? st->rates->rx_pps : 0);
		ctl_table_row(
		    t, (const char *const[]){
			   n->id, n->name, n->address, n->status,
			   *n->filtering ? n->filtering : "unknown", rev, pps,
			   ctl_bps(st && st->rates ? st->rates->rx_bps : 0, bps, sizeof(bps)),
			   n->version,
			   n->last_seen ? ctl_time(n->last_seen, seen, sizeof(seen)) : "never",
			   !st	       ? "none yet"
			   : st->stale ? as_of(true, st->at, ts, sizeof(ts))
				       : "current"});
	}
	ctl_table_print(t);
}

void ctl_print_keys(const Xdrop__V1__ListKeysResponse *l)
{
	static const struct ctl_col cols[] = {
	    {"ID", 36, false, false},	    {"NAME", 32, false, false},
	    {"SCOPE", 10, false, false},    {"CREATED", 19, false, false},
	    {"LAST USED", 0, false, false},
	};
	struct ctl_table *t = ctl_table_new(cols, sizeof(cols) / sizeof(cols[0]));

	for (size_t i = 0; i < l->n_keys; i++) {
		const Xdrop__V1__ApiKey *k = l->keys[i];
		char cr[48], lu[48];

		ctl_table_row(
		    t, (const char *const[]){
			   k->id, k->name, k->scope, ctl_time(k->created_at, cr, sizeof(cr)),
			   k->last_used_at ? ctl_time(k->last_used_at, lu, sizeof(lu)) : "never"});
	}
	ctl_table_print(t);
}

static const char *by_title(const char *by)
{
	return !strcmp(by, "src_prefix") ? "source prefixes"
	       : !strcmp(by, "dst")	 ? "destinations"
	       : !strcmp(by, "dst_port") ? "destination ports"
					 : "sources";
}

/* The heading says what the figures cover (window, span, sampling, nodes, the missing
 * ones), then one row per key, heaviest first. */
void ctl_print_talkers(const Xdrop__V1__TopTalkersReply *t)
{
	printf("top %s, %s, last %u s (%.1f s of traffic), ", by_title(t->by), t->verdict,
	       t->window_s, t->span_s);
	if (t->sample_rate)
		printf("1 in %u packets sampled", t->sample_rate);
	else
		printf("sampling off");
	if (t->n_nodes || t->n_missing_nodes)
		printf(", %zu node%s", t->n_nodes, t->n_nodes == 1 ? "" : "s");
	for (size_t i = 0; i < t->n_missing_nodes; i++)
		printf("%s%s", i ? ", " : " (missing: ", t->missing_nodes[i]);
	printf("%s\n", t->n_missing_nodes ? ")" : "");
	printf("%-42s  %14s  %12s  %13s  %7s  %11s\n", "KEY", "PACKETS", "PPS", "BPS", "SHARE",
	       "± ERROR");
	for (size_t i = 0; i < t->n_talkers; i++) {
		const Xdrop__V1__Talker *k = t->talkers[i];
		char bps[32];

		printf("%-42s  %14llu  %12.1f  %13s  %6.1f%%  %10llu\n", k->key,
		       (unsigned long long)k->packets, k->pps, ctl_bps(k->bps, bps, sizeof(bps)),
		       k->share * 100, (unsigned long long)k->error_packets);
	}
	if (!t->n_talkers)
		printf("(no %s traffic sampled in the window)\n", t->verdict);
}

/* ---- detail views ---- */

/* A rule's counters: "1234 (12.0 pkt/s)" lines and bytes, stale or current. */
static void rule_counters(const Xdrop__V1__RuleStats *st)
{
	char b[32], db[32], bps[32], ts[48];

	if (!st) {
		ctl_detail("counters", "none yet");
		return;
	}
	ctl_detail("matches", "%llu (%.1f pkt/s)", (unsigned long long)st->match_count,
		   st->match_pps);
	ctl_detail("drops", "%llu (%.1f pkt/s)", (unsigned long long)st->drop_count, st->drop_pps);
	ctl_detail("bytes", "%s matched, %s dropped (%s)", ctl_bytes(st->match_bytes, b, sizeof(b)),
		   ctl_bytes(st->drop_bytes, db, sizeof(db)),
		   ctl_bps(st->match_bps, bps, sizeof(bps)));
	ctl_detail("figures", "%s", st->stale ? as_of(true, st->at, ts, sizeof(ts)) : "current");
}

void ctl_print_rule_detail(const Xdrop__V1__Rule *r)
{
	char buf[112], p1[12], p2[12];

	ctl_detail("id", "%s", r->id);
	ctl_detail("name", "%s", r->name);
	ctl_detail("enabled", "%s", r->enabled ? "yes" : "no");
	ctl_detail("action", "%s", r->action);
	if (!strcmp(r->action, "rate_limit")) {
		ctl_detail("rate_limit", "%llu pkt/s", (unsigned long long)r->rate_limit);
		ctl_detail("burst", "%llu",
			   (unsigned long long)(r->burst ? r->burst : r->rate_limit));
	}
	ctl_detail("src", "%s", any(r->src_cidr, r->src_ip));
	ctl_detail("dst", "%s", any(r->dst_cidr, r->dst_ip));
	ctl_detail("protocol", "%s", *r->protocol ? r->protocol : "any");
	ctl_detail("src_port", "%s", port(r->src_port, p1, sizeof(p1)));
	ctl_detail("dst_port", "%s", port(r->dst_port, p2, sizeof(p2)));
	ctl_detail("tcp_flags", "%s", *r->tcp_flags ? r->tcp_flags : "any");
	ctl_detail("anomaly", "%s",
		   r->match_anomaly ? rule_anomaly_name((uint8_t)r->match_anomaly, buf, sizeof(buf))
				    : "none (anomalies are not tested)");
	if (r->pkt_len_min || r->pkt_len_max)
		ctl_detail("pkt_len", "%u-%u", r->pkt_len_min, r->pkt_len_max);
	else
		ctl_detail("pkt_len", "any");
	ctl_detail("expires", "%s", expiry_text(r->expires_at, buf, sizeof(buf)));
	ctl_detail("comment", "%s", r->comment);
	ctl_detail("source", "%s", r->source);
	ctl_detail("created", "%s", ctl_time(r->created_at, buf, sizeof(buf)));
	ctl_detail("updated", "%s", ctl_time(r->updated_at, buf, sizeof(buf)));
	rule_counters(r->stats);
}

/* A node's capacity and counters, from its last figures. */
static void node_figures(const Xdrop__V1__NodeStats *st)
{
	const Xdrop__V1__Capacity *cap = st->capacity;
	const Xdrop__V1__Counters *t = st->counters;
	char ts[48], a[32], b[32], rx[32];

	if (cap)
		ctl_detail("capacity", "exact %llu/%llu, cidr %llu/%llu, rate_limit %llu/%llu",
			   (unsigned long long)cap->exact_used, (unsigned long long)cap->exact_max,
			   (unsigned long long)cap->cidr_used, (unsigned long long)cap->cidr_max,
			   (unsigned long long)cap->rate_used, (unsigned long long)cap->rate_max);
	if (t) {
		ctl_detail("packets", "rx %llu, passed %llu, dropped %llu",
			   (unsigned long long)t->rx, (unsigned long long)t->passed,
			   (unsigned long long)t->dropped);
		ctl_detail("reasons", "whitelisted %llu, rate-limited %llu, malformed %llu",
			   (unsigned long long)t->whitelisted, (unsigned long long)t->rate_limited,
			   (unsigned long long)t->malformed);
		ctl_detail("bytes", "rx %s, dropped %s", ctl_bytes(t->rx_bytes, a, sizeof(a)),
			   ctl_bytes(t->dropped_bytes, b, sizeof(b)));
	}
	if (st->attach) {
		ctl_detail("attached", "%s%s%s", st->attach->attached ? "yes" : "no",
			   *st->attach->error ? ": " : "", st->attach->error);
		for (size_t i = 0; i < st->attach->n_protected_flows; i++)
			ctl_detail("protected", "%s", st->attach->protected_flows[i]);
	}
	if (st->rates)
		ctl_detail("rates", "rx %.0f pkt/s (%s), dropped %.0f pkt/s", st->rates->rx_pps,
			   ctl_bps(st->rates->rx_bps, rx, sizeof(rx)), st->rates->dropped_pps);
	ctl_detail("figures", "%s", st->stale ? as_of(true, st->at, ts, sizeof(ts)) : "current");
}

void ctl_print_node_detail(const Xdrop__V1__Node *n)
{
	char buf[48], ago[48];

	ctl_detail("id", "%s", n->id);
	ctl_detail("name", "%s", n->name);
	ctl_detail("address", "%s", n->address);
	if (n->status_since)
		ctl_detail("status", "%s (since %s)", n->status,
			   ctl_time(n->status_since, buf, sizeof(buf)));
	else
		ctl_detail("status", "%s", n->status);
	ctl_detail("filtering", "%s", *n->filtering ? n->filtering : "unknown");
	ctl_detail("revision", "%llu", (unsigned long long)n->applied_revision);
	ctl_detail("content hash", "%s", *n->content_hash ? n->content_hash : "none yet");
	ctl_detail("version", "%s", *n->version ? n->version : "unknown");
	if (n->last_seen)
		ctl_detail("last seen", "%s (%s)", ctl_time(n->last_seen, buf, sizeof(buf)),
			   ctl_ago(n->last_seen, ago, sizeof(ago)));
	else
		ctl_detail("last seen", "never");
	ctl_detail("comment", "%s", n->comment);
	ctl_detail("created", "%s", ctl_time(n->created_at, buf, sizeof(buf)));
	ctl_detail("updated", "%s", ctl_time(n->updated_at, buf, sizeof(buf)));
	if (n->stats)
		node_figures(n->stats);
	else
		ctl_detail("figures", "none yet");
}
