// SPDX-License-Identifier: MIT
/*
 * bench_cmp: the per-packet rows of issue 16, each measured beside the trivial XDP_PASS
 * program and xdp-filter (xdp-tools) in the same run.
 *
 * Four programs run the same frame in turn, run by run (trivial, XDrop, xdp-filter with all
 * its features, xdp-filter with `-f ipv4,ipv6`; bench/run.sh loads xdp-filter with one rule,
 * source BENCH_HIT4, and passes its dispatcher programs' ids), and each figure is the median
 * of its runs. Targets: the single-field rows must be cheaper than xdp-filter (all
 * features); CIDR hits at most 1.3x and CIDR misses at most 1.1x the exact hit and miss of
 * the same run; any row at most 3x the one-shape miss (the bounded worst case), including
 * the worst of a random search (rule sets built around one packet's values, none matching).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/bpf.h>

#include "bench_cmp.h"
#include "benchset.h"
#include "pkt.h"

#define NPROG	 4
#define MAX_RUNS 31
#define HIT4	 (BENCH_SRC4_BASE + BENCH_HIT_INDEX) /* 16.7.161.32, xdp-filter's rule */

struct cmp {
	struct dataplane *dp;
	const struct cmp_opts *o;
	int fd[NPROG]; /* trivial, XDrop, xdp-filter all, xdp-filter ipv4,ipv6 (-1: absent) */
	double hit, miss;
	uint32_t repeat; /* runs per measurement (fewer for the microsecond rows) */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ns[i]: median ns/packet of program i (0 when absent). Returns -1 when XDrop's verdict is
 * not the expected one or a run fails. */
static int measure(struct cmp *c, const struct pkt_desc *d, int expect, uint32_t repeat,
		   double ns[NPROG])
{
	double v[NPROG][MAX_RUNS];
	uint8_t buf[PKT_MAX];
	int len = pkt_build(d, buf), r;

	if (len < 0)
		return -1;
	r = pkt_run(c->fd[1], buf, (size_t)len);
	if (expect >= 0 && r != expect) {
		fprintf(stderr, "bench_cmp: %s -> %s: verdict %d, expected %d\n", d->src, d->dst, r,
			expect);
		return -1;
	}
	for (int i = 0; i < c->o->runs; i++)
		for (int p = 0; p < NPROG; p++)
			if (c->fd[p] >= 0 &&
			    pkt_run_repeat(c->fd[p], buf, (size_t)len, repeat, &v[p][i]) < 0)
				return -1;
	for (int p = 0; p < NPROG; p++) {
		ns[p] = 0;
		if (c->fd[p] < 0)
			continue;
		qsort(v[p], (size_t)c->o->runs, sizeof(double), cmp_double);
		ns[p] = v[p][c->o->runs / 2];
	}
	return 0;
}

static void col(double v)
{
	if (v > 0)
		printf("%.0f\t", v);
	else
		printf("-\t");
}

/* One row: figure, XDrop, trivial, ratio, the two xdp-filter figures, target, met. */
static void out(const char *fig, const double ns[NPROG], const char *target, int met)
{
	printf("%s\t%.0f\tns/pkt\t%.0f\t%.2f\t", fig, ns[1], ns[0], ns[0] > 0 ? ns[1] / ns[0] : 0);
	col(ns[2]);
	col(ns[3]);
	printf("%s\t%s\n", target ? target : "-", met < 0 ? "-" : met ? "yes" : "NO");
	fflush(stdout);
	fprintf(stderr, "bench_cmp: %-58s %5.0f ns (trivial %.0f, xdp-filter %.0f / %.0f)\n", fig,
		ns[1], ns[0], ns[2], ns[3]);
}

enum target {
	T_NONE,
	T_XF,	 /* below xdp-filter with all features */
	T_HIT,	 /* <= 1.3x the exact hit */
	T_MISS,	 /* <= 1.1x the exact miss */
	T_BOUND, /* <= 3x the one-shape miss */
};

/* Measures and prints a row; returns XDrop's figure or -1. */
static double crow(struct cmp *c, const char *fig, const struct pkt_desc *d, int expect,
		   enum target t)
{
	double ns[NPROG], lim = 0;
	char tg[64] = "-";
	int met = -1;

	if (measure(c, d, expect, c->repeat, ns)) {
		printf("%s\t0\tFAILED\t-\t-\t-\t-\tverdict\tNO\n", fig);
		return -1;
	}
	switch (t) {
	case T_XF:
		snprintf(tg, sizeof(tg), "< xdp-filter (all features)");
		met = ns[2] > 0 ? ns[1] < ns[2] : 0;
		break;
	case T_HIT:
		lim = 1.3 * c->hit;
		snprintf(tg, sizeof(tg), "<= 1.3x exact hit (%.0f ns)", c->hit);
		break;
	case T_MISS:
		lim = 1.1 * c->miss;
		snprintf(tg, sizeof(tg), "<= 1.1x exact miss (%.0f ns)", c->miss);
		break;
	case T_BOUND:
		lim = 3 * c->miss;
		snprintf(tg, sizeof(tg), "<= 3x one-shape miss (%.0f ns)", c->miss);
		break;
	default:
		break;
	}
	if (lim > 0)
		met = ns[1] <= lim;
	out(fig, ns, t == T_NONE ? NULL : tg, met);
	return ns[1];
}

static int load(struct cmp *c, const struct rule_spec *s, size_t n)
{
	struct dp_result res;
	int err = dataplane_replace(c->dp, 1u << XDROP_KIND_RULE | 1u << XDROP_KIND_WL, s, n, &res);

	if (err)
		fprintf(stderr, "bench_cmp: replace of %zu entries: %s (entry %zu, %s: %s)\n", n,
			strerror(-err), res.index, res.err.field ? res.err.field : "-",
			res.err.reason ? res.err.reason : "-");
	return err;
}

static struct rule_spec *rule(struct rule_spec *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = XDROP_KIND_RULE;
	r->action = XDROP_ACT_DROP;
	return r;
}

static void pfx4(struct addr_prefix *p, uint32_t ip, unsigned plen4)
{
	bench_addr4(ip, &p->addr);
	p->plen = 96 + plen4;
}

/* ---- the rows ---- */

static struct pkt_desc udp4(const char *src)
{
	struct pkt_desc d = {
	    .src = src, .dst = "10.9.9.9", .proto = 17, .sport = 40000, .dport = 53, .payload = 18};

	return d;
}

/* No rules; 1M single-field source rules, hit and miss; one five-tuple rule, hit. */
static int rows_exact(struct cmp *c)
{
	struct pkt_desc d = udp4("99.0.0.1");
	struct rule_spec *s = calloc(c->o->nrules, sizeof(*s));
	char fig[96];
	int err;

	if (!s)
		return -ENOMEM;
	err = load(c, NULL, 0);
	if (!err)
		crow(c, "cmp: no rules, IPv4 UDP", &d, XDP_PASS, T_XF);
	for (uint32_t i = 0; i < c->o->nrules; i++)
		bench_src_rule(i, 0, &s[i]);
	if (!err)
		err = load(c, s, c->o->nrules);
	if (!err) {
		d.src = "16.7.161.32";
		snprintf(fig, sizeof(fig), "cmp: %uk source-address rules, hit",
			 c->o->nrules / 1000);
		c->hit = crow(c, fig, &d, XDP_DROP, T_XF);
		d.src = "99.0.0.1";
		snprintf(fig, sizeof(fig), "cmp: %uk source-address rules, miss",
			 c->o->nrules / 1000);
		c->miss = crow(c, fig, &d, XDP_PASS, T_XF);
	}
	free(s);
	if (err || c->hit <= 0 || c->miss <= 0)
		return err ? err : -EIO;
	return 0;
}

static int rows_five_tuple(struct cmp *c)
{
	struct pkt_desc d = udp4("99.0.0.1");
	struct rule_spec r;
	int err;

	rule(&r);
	pfx4(&r.src, 0x63000001u, 32);
	pfx4(&r.dst, 0x0a090909u, 32);
	r.sport = 40000;
	r.dport = 53;
	r.proto = 17;
	if ((err = load(c, &r, 1)))
		return err;
	crow(c, "cmp: one five-tuple rule, hit", &d, XDP_DROP, T_BOUND);
	return 0;
}

/* 10k disjoint /24 source prefixes (40.0.0.0 + i * 256), IPv4. */
static int rows_cidr24(struct cmp *c)
{
	const uint32_t n = 10000;
	struct rule_spec *s = calloc(n, sizeof(*s));
	struct pkt_desc d = udp4("40.0.19.7"); /* prefix 19 */
	int err;

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		pfx4(&rule(&s[i])->src, 0x28000000u + i * 256, 24);
	err = load(c, s, n);
	free(s);
	if (err)
		return err;
	crow(c, "cmp: 10k /24 source CIDRs, hit", &d, XDP_DROP, T_HIT);
	d.src = "99.0.0.1";
	crow(c, "cmp: 10k /24 source CIDRs, miss", &d, XDP_PASS, T_MISS);
	return 0;
}

/* 10k disjoint /56 source prefixes, 2001:db8:0:i00::/56 (i in bytes 5 and 6), IPv6. */
static int rows_cidr56(struct cmp *c)
{
	const uint32_t n = 10000;
	struct rule_spec *s = calloc(n, sizeof(*s));
	struct pkt_desc d = udp4("2001:db8:0:1300::7"); /* prefix 19 */
	const char *why;
	int err;

	if (!s)
		return -ENOMEM;
	d.dst = "2001:db8:9::9";
	for (uint32_t i = 0; i < n; i++) {
		struct rule_spec *r = rule(&s[i]);

		addr_parse("2001:db8::", &r->src.addr, &why);
		r->src.addr.b[5] = (uint8_t)(i >> 8);
		r->src.addr.b[6] = (uint8_t)i;
		r->src.plen = 56;
	}
	err = load(c, NULL, 0);
	if (!err)
		err = load(c, s, n);
	free(s);
	if (err)
		return err;
	crow(c, "cmp: 10k /56 IPv6 source CIDRs, hit", &d, XDP_DROP, T_HIT);
	d.src = "2001:db8:99::1";
	crow(c, "cmp: 10k /56 IPv6 source CIDRs, miss", &d, XDP_PASS, T_MISS);
	return 0;
}

/* 100k source prefixes, a quarter nested: 75k disjoint /24s (100.0.0.0 + i * 256) and 6,250
 * groups of /20 > /22 > /24 > /26 sharing their first address (60.0.0.0 + g * 4096). */
static int rows_nested(struct cmp *c)
{
	const uint32_t ndis = 75000, ngrp = 6250;
	static const unsigned lens[] = {20, 22, 24, 26};
	struct rule_spec *s = calloc(ndis + 4 * ngrp, sizeof(*s));
	struct pkt_desc d = udp4("60.0.160.1"); /* group 10: in its /26 */
	size_t n = 0;
	int err;

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < ndis; i++)
		pfx4(&rule(&s[n++])->src, 0x64000000u + i * 256, 24);
	for (uint32_t g = 0; g < ngrp; g++)
		for (int l = 0; l < 4; l++)
			pfx4(&rule(&s[n++])->src, 0x3c000000u + g * 4096, lens[l]);
	/* old and new prefixes coexist until a switch's cleanup: start from none */
	err = load(c, NULL, 0);
	if (!err)
		err = load(c, s, n);
	free(s);
	if (err)
		return err;
	crow(c, "cmp: 100k CIDRs (1/4 nested 4 deep), hit innermost", &d, XDP_DROP, T_HIT);
	d.src = "60.0.168.1"; /* group 10, outside its /22: only the /20 */
	crow(c, "cmp: 100k CIDRs (1/4 nested 4 deep), hit outer only", &d, XDP_DROP, T_HIT);
	d.src = "99.0.0.1";
	crow(c, "cmp: 100k CIDRs (1/4 nested 4 deep), miss", &d, XDP_PASS, T_MISS);
	return 0;
}

/* The adversarial packet: TCP 20.0.0.1:5555 -> 21.0.0.1:7777. */
static const struct pkt_desc adv = {
    .src = "20.0.0.1", .dst = "21.0.0.1", .proto = 6, .sport = 5555, .dport = 7777, .payload = 6};

static uint32_t mask4(unsigned plen4)
{
	return plen4 ? 0xffffffffu << (32 - plen4) : 0;
}

/* Field f of r: the packet's value (same) or value j, which never is the packet's.
 * Addresses: plen4 32 is exact (the other value 30.0.0.0 + j + 1); shorter is a prefix
 * (the other value a /24 at 30.0.0.0 + j * 256). */
static void field(struct rule_spec *r, int f, int same, uint32_t j, unsigned plen4)
{
	uint32_t other = plen4 == 32 ? j + 1 : j << 8;
	unsigned olen = plen4 == 32 ? 32 : 24;

	switch (1 << f) {
	case XDROP_F_SRC:
		if (same)
			pfx4(&r->src, 0x14000001u & mask4(plen4), plen4);
		else
			pfx4(&r->src, 0x1e000000u + other, olen);
		break;
	case XDROP_F_DST:
		if (same)
			pfx4(&r->dst, 0x15000001u & mask4(plen4), plen4);
		else
			pfx4(&r->dst, 0x1f000000u + other, olen);
		break;
	case XDROP_F_SPORT:
		r->sport = same ? 5555 : (uint16_t)(10000 + j);
		break;
	case XDROP_F_DPORT:
		r->dport = same ? 7777 : (uint16_t)(20000 + j);
		break;
	default:
		r->proto = same ? 6 : 17;
	}
}

static int nfields(unsigned m)
{
	return __builtin_popcount(m);
}

/* 31 exact shapes, no value of the packet in any rule: the common miss. */
static int rows_shapes(struct cmp *c)
{
	const uint32_t per = 200;
	struct rule_spec *s = calloc(XDROP_NCOMBOS * per, sizeof(*s));
	struct pkt_desc d = adv;
	size_t n = 0;
	int err;

	if (!s)
		return -ENOMEM;
	for (unsigned m = 1; m < XDROP_NCOMBOS; m++) {
		uint32_t k = m == XDROP_F_PROTO ? 1 : per;

		for (uint32_t j = 0; j < k; j++) {
			struct rule_spec *r = rule(&s[n++]);

			for (int f = 0; f < XDROP_NFIELDS; f++)
				if (m & (1u << f))
					field(r, f, 0, j, 32);
		}
	}
	err = load(c, s, n);
	free(s);
	if (err)
		return err;
	crow(c, "cmp: 31 exact shapes, miss", &d, XDP_PASS, T_BOUND);
	return 0;
}

/* The 26 multi-field exact shapes; in each, rule k < fields carries the packet's value in
 * its k-th field: every value of the packet is present in every shape, no rule matches. */
static int rows_adversarial(struct cmp *c)
{
	const uint32_t per = 200;
	struct rule_spec *s = calloc(XDROP_NCOMBOS * per, sizeof(*s));
	struct pkt_desc d = adv;
	size_t n = 0;
	int err;

	if (!s)
		return -ENOMEM;
	for (unsigned m = 1; m < XDROP_NCOMBOS; m++) {
		if (nfields(m) < 2)
			continue;
		for (uint32_t j = 0; j < per; j++) {
			struct rule_spec *r = rule(&s[n++]);
			int k = 0;

			for (int f = 0; f < XDROP_NFIELDS; f++)
				if (m & (1u << f))
					field(r, f, (uint32_t)k++ == j, j, 32);
		}
	}
	err = load(c, s, n);
	free(s);
	if (err)
		return err;
	crow(c, "cmp: adversarial: 26 multi-field shapes, all values present, miss", &d, XDP_PASS,
	     T_BOUND);
	return 0;
}

/* xorshift32 */
static uint32_t rnd(uint32_t *st)
{
	uint32_t x = *st;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *st = x;
}

static int spec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct rule_spec));
}

/* A random rule set around the adversarial packet: a random subset of the 31 exact and the
 * CIDR shapes (prefix lengths from /8 to /28 that contain the packet's addresses), in each
 * up to 64 rules whose fields carry the packet's value with probability 3/4, and at least
 * one field not: nothing matches, most presence bits are set. Returns the count. */
static size_t random_set(uint32_t seed, struct rule_spec *s)
{
	static const unsigned lens[] = {8, 12, 16, 20, 24, 28};
	uint32_t st = seed * 2654435761u + 1;
	size_t n = 0, u = 0;

	for (int cidr = 0; cidr < 2; cidr++) {
		for (unsigned m = 1; m < XDROP_NCOMBOS; m++) {
			uint32_t per = 1 + rnd(&st) % 64;

			if (rnd(&st) % 4 == 0 || (cidr && !(m & (XDROP_F_SRC | XDROP_F_DST))))
				continue;
			for (uint32_t j = 0; j < per; j++) {
				struct rule_spec *r = rule(&s[n++]);
				unsigned plen = cidr ? lens[rnd(&st) % 6] : 32;
				int fs[XDROP_NFIELDS] = {0}, nf = 0, off;

				for (int f = 0; f < XDROP_NFIELDS; f++)
					if (m & (1u << f))
						fs[nf++] = f;
				off = fs[rnd(&st) % (uint32_t)nf];
				for (int k = 0; k < nf; k++)
					field(r, fs[k], fs[k] != off && rnd(&st) % 4 != 0, j, plen);
				if (cidr && r->src.plen >= 128 && r->dst.plen >= 128)
					pfx4(&r->src, 0x1e000000u + (j << 8), 24);
			}
		}
	}
	qsort(s, n, sizeof(*s), spec_cmp);
	for (size_t i = 0; i < n; i++)
		if (!u || spec_cmp(&s[i], &s[u - 1]))
			s[u++] = s[i];
	return u;
}

/* Random search for a worse rule set than the adversarial one; the worst is reported. */
static int rows_random(struct cmp *c)
{
	struct rule_spec *s = calloc(2 * XDROP_NCOMBOS * 64, sizeof(*s));
	struct pkt_desc d = adv;
	uint32_t worst_seed = 0;
	double worst = 0, ns[NPROG];
	char fig[128];
	int err = 0;

	if (!s)
		return -ENOMEM;
	for (uint32_t seed = 1; seed <= c->o->trials && !err; seed++) {
		size_t n = random_set(seed, s);

		if ((err = load(c, s, n)))
			break;
		if (measure(c, &d, XDP_PASS, c->o->repeat / 50 + 1, ns)) {
			err = -EIO;
			break;
		}
		fprintf(stderr, "bench_cmp: random set %u (%zu rules): %.0f ns\n", seed, n, ns[1]);
		if (ns[1] > worst) {
			worst = ns[1];
			worst_seed = seed;
		}
	}
	if (!err && worst_seed) {
		size_t n = random_set(worst_seed, s);

		err = load(c, s, n);
		snprintf(fig, sizeof(fig),
			 "cmp: random search, worst of %u sets (seed %u, %zu rules), miss",
			 c->o->trials, worst_seed, n);
		c->repeat = c->o->repeat / 10 + 1;
		if (!err)
			crow(c, fig, &d, XDP_PASS, T_BOUND);
		c->repeat = c->o->repeat;
	}
	free(s);
	return err;
}

/* One rate-limited rule (1000 pps), over its rate. */
static int rows_rate(struct cmp *c)
{
	struct pkt_desc d = udp4("17.0.0.1");
	struct rule_spec r;
	uint8_t buf[PKT_MAX];
	int len, err;

	rule(&r);
	pfx4(&r.src, 0x11000001u, 32);
	r.action = XDROP_ACT_RATE_LIMIT;
	r.rate = 1000;
	r.burst = 1000;
	if ((err = load(c, &r, 1)))
		return err;
	len = pkt_build(&d, buf);
	pkt_run_repeat(c->fd[1], buf, (size_t)len, 10000, NULL); /* empty the bucket */
	crow(c, "cmp: rate-limited rule (1000 pps, over the rate)", &d, -1, T_BOUND);
	return 0;
}

/* True when name is one of the comma-separated words of list. */
static int row_wanted(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		size_t w = strcspn(p, ",");

		if (w == n && !strncmp(p, name, n))
			return 1;
		p += w + (p[w] == ',');
	}
	return 0;
}

int cmp_run(struct dataplane *dp, const struct cmp_opts *o)
{
	static int (*const steps[])(struct cmp *) = {
	    rows_exact,	 rows_five_tuple,  rows_cidr24, rows_cidr56, rows_nested,
	    rows_shapes, rows_adversarial, rows_random, rows_rate,
	};
	static const char *const names[] = {
	    "exact",  "five",	     "cidr24", "cidr56", "nested",
	    "shapes", "adversarial", "random", "rate",
	};
	/* BENCH_CMP_ROWS: a comma-separated subset of names[] (the exact rows always run:
	 * the others' targets are relative to them) */
	const char *only = getenv("BENCH_CMP_ROWS");
	struct cmp c = {.dp = dp, .o = o, .repeat = o->repeat};
	int err = 0;

	if (o->runs < 1 || o->runs > MAX_RUNS)
		return -EINVAL;
	c.fd[0] = o->trivial_fd;
	c.fd[1] = dataplane_prog_fd(dp);
	c.fd[2] = o->xf_all_fd;
	c.fd[3] = o->xf_ip_fd;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && !err; i++)
		if (i == 0 || !only || row_wanted(only, names[i]))
			err = steps[i](&c);
	return err;
}
