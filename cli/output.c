// SPDX-License-Identifier: MIT
/*
 * output: how xdropctl prints. --json prints the messages in lib/json's shapes (those of
 * the REST API); otherwise each kind of reply has a fixed-width table here, so that the
 * columns of every command are in one place. The import progress bar goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

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
#undef PART
	if (n && n < len)
		buf[n - 1] = 0;
	return buf;
}

void ctl_print_rules(const Xdrop__V1__Rule *const *rules, size_t n)
{
	printf("%-36s  %-16s  %-40s  %-10s  %-3s  %12s  %12s  %10s  %s\n", "ID", "NAME", "MATCH",
	       "ACTION", "ON", "MATCHES", "DROPS", "BYTES", "");
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__Rule *r = rules[i];
		const Xdrop__V1__RuleStats *st = r->stats;
		char m[256], act[32], b[32], ts[48];

		if (!strcmp(r->action, "rate_limit"))
			snprintf(act, sizeof(act), "rl:%llu/s", (unsigned long long)r->rate_limit);
		else
			snprintf(act, sizeof(act), "%s", r->action);
		printf("%-36s  %-16.16s  %-40.40s  %-10s  %-3s  %12llu  %12llu  %10s  %s\n", r->id,
		       r->name, match_text(r, m, sizeof(m)), act, r->enabled ? "yes" : "no",
		       (unsigned long long)(st ? st->match_count : 0),
		       (unsigned long long)(st ? st->drop_count : 0),
		       ctl_bytes(st ? st->match_bytes : 0, b, sizeof(b)),
		       as_of(st && st->stale, st ? st->at : 0, ts, sizeof(ts)));
	}
}

void ctl_print_wl(const Xdrop__V1__WhitelistEntry *const *e, size_t n)
{
	printf("%-36s  %-16s  %-18s  %-18s  %-8s  %5s  %5s  %12s  %10s\n", "ID", "NAME", "SRC",
	       "DST", "PROTO", "SPORT", "DPORT", "HITS", "BYTES");
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__RuleStats *st = e[i]->stats;
		char b[32];

		printf("%-36s  %-16.16s  %-18s  %-18s  %-8s  %5u  %5u  %12llu  %10s\n", e[i]->id,
		       e[i]->name, *e[i]->src_cidr ? e[i]->src_cidr : e[i]->src_ip,
		       *e[i]->dst_cidr ? e[i]->dst_cidr : e[i]->dst_ip, e[i]->protocol,
		       e[i]->src_port, e[i]->dst_port,
		       (unsigned long long)(st ? st->match_count : 0),
		       ctl_bytes(st ? st->match_bytes : 0, b, sizeof(b)));
	}
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
	printf("%-36s  %-16s  %-28s  %-12s  %-9s  %8s  %10s  %13s  %s\n", "ID", "NAME", "ADDRESS",
	       "STATUS", "FILTERING", "REVISION", "RX PPS", "RX BPS", "FIGURES");
	for (size_t i = 0; i < l->n_nodes; i++) {
		const Xdrop__V1__Node *n = l->nodes[i];
		const Xdrop__V1__NodeStats *st = n->stats;
		char bps[32], ts[48];

		printf("%-36s  %-16.16s  %-28.28s  %-12s  %-9s  %8llu  %10.0f  %13s  %s\n", n->id,
		       n->name, n->address, n->status, *n->filtering ? n->filtering : "unknown",
		       (unsigned long long)n->applied_revision,
		       st && st->rates ? st->rates->rx_pps : 0,
		       ctl_bps(st && st->rates ? st->rates->rx_bps : 0, bps, sizeof(bps)),
		       !st	   ? "none yet"
		       : st->stale ? as_of(true, st->at, ts, sizeof(ts))
				   : "current");
	}
}

void ctl_print_keys(const Xdrop__V1__ListKeysResponse *l)
{
	printf("%-36s  %-20s  %-10s\n", "ID", "NAME", "SCOPE");
	for (size_t i = 0; i < l->n_keys; i++)
		printf("%-36s  %-20.20s  %-10s\n", l->keys[i]->id, l->keys[i]->name,
		       l->keys[i]->scope);
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
