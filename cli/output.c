// SPDX-License-Identifier: MIT
/*
 * output: how xdropctl prints. --json prints the messages in lib/json's shapes (those of
 * the REST API); otherwise each kind of reply has a fixed-width table here, so that the
 * columns of every command are in one place. The import progress bar goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	printf("%-36s  %-16s  %-40s  %-10s  %-3s  %12s  %12s\n", "ID", "NAME", "MATCH", "ACTION",
	       "ON", "MATCHES", "DROPS");
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__Rule *r = rules[i];
		char m[256], act[32];

		if (!strcmp(r->action, "rate_limit"))
			snprintf(act, sizeof(act), "rl:%llu/s", (unsigned long long)r->rate_limit);
		else
			snprintf(act, sizeof(act), "%s", r->action);
		printf("%-36s  %-16.16s  %-40.40s  %-10s  %-3s  %12llu  %12llu\n", r->id, r->name,
		       match_text(r, m, sizeof(m)), act, r->enabled ? "yes" : "no",
		       (unsigned long long)(r->stats ? r->stats->match_count : 0),
		       (unsigned long long)(r->stats ? r->stats->drop_count : 0));
	}
}

void ctl_print_wl(const Xdrop__V1__WhitelistEntry *const *e, size_t n)
{
	printf("%-36s  %-16s  %-18s  %-18s  %-8s  %5s  %5s\n", "ID", "NAME", "SRC", "DST", "PROTO",
	       "SPORT", "DPORT");
	for (size_t i = 0; i < n; i++)
		printf("%-36s  %-16.16s  %-18s  %-18s  %-8s  %5u  %5u\n", e[i]->id, e[i]->name,
		       *e[i]->src_cidr ? e[i]->src_cidr : e[i]->src_ip,
		       *e[i]->dst_cidr ? e[i]->dst_cidr : e[i]->dst_ip, e[i]->protocol,
		       e[i]->src_port, e[i]->dst_port);
}

void ctl_print_stats(const Xdrop__V1__StatsReply *s)
{
	const Xdrop__V1__Counters *t = s->totals;
	const Xdrop__V1__Rates *r = s->rates;

	printf("rules %llu  whitelist %llu  revision %llu\n", (unsigned long long)s->rules,
	       (unsigned long long)s->whitelist, (unsigned long long)s->revision);
	printf("%-20s  %14s  %14s  %14s  %12s  %12s\n", "NODE", "RX", "PASSED", "DROPPED", "RX PPS",
	       "DROP PPS");
	printf("%-20s  %14llu  %14llu  %14llu  %12.0f  %12.0f\n", "(total)",
	       (unsigned long long)(t ? t->rx : 0), (unsigned long long)(t ? t->passed : 0),
	       (unsigned long long)(t ? t->dropped : 0), r ? r->rx_pps : 0, r ? r->dropped_pps : 0);
	for (size_t i = 0; i < s->n_nodes; i++) {
		const Xdrop__V1__NodeStats *n = s->nodes[i];

		printf("%-20.20s  %14llu  %14llu  %14llu  %12.0f  %12.0f\n",
		       *n->node_id ? n->node_id : "(this node)",
		       (unsigned long long)(n->counters ? n->counters->rx : 0),
		       (unsigned long long)(n->counters ? n->counters->passed : 0),
		       (unsigned long long)(n->counters ? n->counters->dropped : 0),
		       n->rates ? n->rates->rx_pps : 0, n->rates ? n->rates->dropped_pps : 0);
	}
}

void ctl_print_nodes(const Xdrop__V1__ListNodesResponse *l)
{
	printf("%-20s  %-16s  %-28s  %-12s  %8s\n", "ID", "NAME", "ADDRESS", "STATUS", "REVISION");
	for (size_t i = 0; i < l->n_nodes; i++)
		printf("%-20s  %-16.16s  %-28.28s  %-12s  %8llu\n", l->nodes[i]->id,
		       l->nodes[i]->name, l->nodes[i]->address, l->nodes[i]->status,
		       (unsigned long long)l->nodes[i]->applied_revision);
}

void ctl_print_keys(const Xdrop__V1__ListKeysResponse *l)
{
	printf("%-36s  %-20s  %-10s\n", "ID", "NAME", "SCOPE");
	for (size_t i = 0; i < l->n_keys; i++)
		printf("%-36s  %-20.20s  %-10s\n", l->keys[i]->id, l->keys[i]->name,
		       l->keys[i]->scope);
}
