// SPDX-License-Identifier: MIT
/*
 * bench_dp: cost of the XDrop data plane, measured in the kernel.
 *
 * Per-packet figures go through BPF_PROG_TEST_RUN with a large repeat. Every figure is
 * taken beside a trivial XDP program (two instructions: return XDP_PASS) in the same run,
 * alternating the two programs run by run and reporting the median of each, so that the
 * machine's noise moves both. The verdict of every measured packet is checked (a "hit"
 * must be dropped, a "miss" passed): a figure for a packet that did not do what its name
 * says would be worthless.
 *
 * Top-talker sampling: the same packets with sampling off, at the default 1 in 64 and at
 * 1 in 1, a thread draining the sample ring meanwhile as the agent does; the cost at the
 * default rate is the ratio of the 1/64 and off figures (target <= 1.10).
 *
 * Besides: the time to load and atomically switch to 1,000,000 rules (struct dp_result),
 * kernel memory per rule from the maps' memlock, and the verifier's processed-instruction
 * count.
 *
 * Output: one row per figure on stdout, tab-separated:
 *   figure  value  unit  trivial  ratio  xdp-filter  xdp-filter-ip  target  met
 * ("-" where a column does not apply; the xdp-filter columns only in the comparison rows of
 * bench_cmp.c, run last; -X gives xdp-filter's program ids). bench/run.sh turns the rows into
 * the results table. Progress goes to stderr.
 *
 * Usage: bench_dp [-c cpu] [-r repeat] [-n runs] [-q] [-o] [-X id,id]
 *   -q: fewer rules, for a smoke run; -o: only the comparison rows; -X: xdp-filter's
 *   attached (dispatcher) program ids, all features and `-f ipv4,ipv6`.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_cmp.h"
#include "benchset.h"
#include "clock.h"
#include "dataplane.h"
#include "log.h"
#include "pkt.h"

#define MAX_RUNS 31

struct opts {
	int cpu;
	uint32_t repeat;
	int runs;
	uint32_t nrules;    /* the one-shape set */
	uint32_t nnested;   /* the nested-CIDR set */
	uint32_t xf_ids[2]; /* -X: xdp-filter's programs (all features; ipv4,ipv6) */
	int only_cmp;	    /* -o: only the comparison rows (bench_cmp.c) */
};

static struct opts g = {
    .cpu = 1,
    .repeat = 1000000,
    .runs = 7,
    .nrules = BENCH_NRULES,
    .nnested = 100000,
};
static int trivial_fd = -1;

/* ---- output rows ---- */

static double ratio_of(double v, double base)
{
	return base > 0 ? v / base : 0;
}

/* Prints a row. trivial <= 0 means "no baseline"; limit_ratio > 0 checks value/trivial
 * against it, limit_abs > 0 checks value against it (met = yes/no). */
static void row(const char *figure, double value, const char *unit, double trivial,
		const char *target, int met)
{
	printf("%s\t%.*f\t%s\t", figure, value >= 100 || value == (long)value ? 0 : 1, value, unit);
	if (trivial > 0)
		printf("%.1f\t%.2f\t", trivial, ratio_of(value, trivial));
	else
		printf("-\t-\t");
	printf("-\t-\t%s\t%s\n", target ? target : "-", met < 0 ? "-" : met ? "yes" : "NO");
	fflush(stdout);
}

/* ---- timing ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double wall_ms(void)
{
	return (double)clock_mono_ns() / 1e6;
}

/* The baseline: r0 = XDP_PASS; exit. */
static int trivial_load(void)
{
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_trivial", "GPL", insns, 2, NULL);

	return fd < 0 ? -errno : fd;
}

/* Median ns/packet of the data plane and of the trivial program for one packet, the two
 * alternating run by run. Returns 0, or -1 when the verdict is not the expected one. */
static int measure(struct dataplane *dp, const struct pkt_desc *d, int expect, double *ns,
		   double *trivial)
{
	double xs[MAX_RUNS], ts[MAX_RUNS];
	uint8_t buf[PKT_MAX];
	int len = pkt_build(d, buf), v, i;

	if (len < 0)
		return -1;
	v = pkt_run(dataplane_prog_fd(dp), buf, (size_t)len);
	if (expect >= 0 && v != expect) {
		fprintf(stderr, "bench_dp: %s -> %s: verdict %d, expected %d\n", d->src, d->dst, v,
			expect);
		return -1;
	}
	for (i = 0; i < g.runs; i++) {
		if (pkt_run_repeat(trivial_fd, buf, (size_t)len, g.repeat, &ts[i]) < 0 ||
		    pkt_run_repeat(dataplane_prog_fd(dp), buf, (size_t)len, g.repeat, &xs[i]) < 0)
			return -1;
	}
	*ns = median(xs, g.runs);
	*trivial = median(ts, g.runs);
	return 0;
}

/* Measures and prints one per-packet row; limit is a multiple of the trivial program
 * (0: no target). Returns the figure (ns), or -1. */
static double packet_row(struct dataplane *dp, const char *figure, const struct pkt_desc *d,
			 int expect, double limit)
{
	double ns, tr;
	char target[48];

	if (measure(dp, d, expect, &ns, &tr)) {
		row(figure, 0, "FAILED", 0, "verdict", 0);
		return -1;
	}
	if (limit > 0)
		snprintf(target, sizeof(target), "<= %gx trivial", limit);
	row(figure, ns, "ns/pkt", tr, limit > 0 ? target : NULL, limit > 0 ? ns <= limit * tr : -1);
	fprintf(stderr, "bench_dp: %-48s %7.1f ns (trivial %.1f)\n", figure, ns, tr);
	return ns;
}

/* ---- rule sets ---- */

static int replace(struct dataplane *dp, const struct rule_spec *s, size_t n, struct dp_result *res,
		   double *wall)
{
	struct dp_result scratch;
	double t0 = wall_ms();
	int err;

	if (!res)
		res = &scratch;
	err = dataplane_replace(dp, 1u << XDROP_KIND_RULE | 1u << XDROP_KIND_WL, s, n, res);
	if (wall)
		*wall = wall_ms() - t0;
	if (err)
		fprintf(stderr, "bench_dp: replace of %zu entries failed: %s (entry %zu, %s: %s)\n",
			n, strerror(-err), res->index, res->err.field ? res->err.field : "-",
			res->err.reason ? res->err.reason : "-");
	return err;
}

static int put(struct dataplane *dp, const struct rule_spec *s, size_t n)
{
	struct dp_change *ch = calloc(n ? n : 1, sizeof(*ch));
	struct dp_result res;
	int err;

	if (!ch)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ch[i].op = DP_PUT;
		ch[i].spec = s[i];
	}
	err = dataplane_apply(dp, ch, n, &res);
	if (err)
		fprintf(stderr, "bench_dp: apply of %zu changes failed: %s (%zu, %s: %s)\n", n,
			strerror(-err), res.index, res.err.field ? res.err.field : "-",
			res.err.reason ? res.err.reason : "-");
	free(ch);
	return err;
}

static void addr4(const char *s, struct addr_prefix *p, unsigned plen)
{
	const char *why;

	if (addr_parse(s, &p->addr, &why)) {
		fprintf(stderr, "bench_dp: bad address %s: %s\n", s, why);
		exit(1);
	}
	p->plen = plen;
}

/* Sets the bits [from, from + n) of an address (bit 0 = most significant) to v. */
static void set_bits(struct xdrop_addr *a, unsigned from, unsigned n, uint32_t v)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned bit = from + i, byte = bit / 8, shift = 7 - bit % 8;
		uint32_t b = (v >> (n - 1 - i)) & 1;

		a->b[byte] = (uint8_t)((a->b[byte] & ~(1u << shift)) | (b << shift));
	}
}

/*
 * The nested CIDR set: drop rules on source prefixes four levels deep. Level 0 holds 100
 * prefixes at length top (8 bits of index just above it), each holding 16 at top + 4, each
 * of those 16 at top + 8; the remaining count goes to top + 12, spread round-robin over the
 * level-2 prefixes. A packet in the first deepest prefix walks a chain of four.
 */
static size_t nested_set(const struct xdrop_addr *base, unsigned top, size_t total,
			 struct rule_spec *out)
{
	size_t n = 0;
	uint32_t a, b, c, d;

	for (int level = 0; level < 4; level++) {
		for (d = 0; d < (level == 3 ? 16u : 1u); d++) {
			for (a = 0; a < 100; a++) {
				for (b = 0; b < (level >= 1 ? 16u : 1u); b++) {
					for (c = 0; c < (level >= 2 ? 16u : 1u); c++) {
						struct rule_spec *r;

						if (n == total)
							return n;
						r = &out[n++];
						memset(r, 0, sizeof(*r));
						r->kind = XDROP_KIND_RULE;
						r->action = XDROP_ACT_DROP;
						r->src.addr = *base;
						r->src.plen = top + 4 * (unsigned)level;
						set_bits(&r->src.addr, top - 8, 8, a);
						if (level >= 1)
							set_bits(&r->src.addr, top, 4, b);
						if (level >= 2)
							set_bits(&r->src.addr, top + 4, 4, c);
						if (level >= 3)
							set_bits(&r->src.addr, top + 8, 4, d);
					}
				}
			}
		}
	}
	return n;
}

/*
 * Every shape. The adversarial packet is TCP 20.0.0.1:5555 -> 21.0.0.1:7777. For each
 * combo with at least two fields, rule j < nf carries the packet's value in its j-th field
 * and non-matching values elsewhere; the remaining rules carry non-matching values only.
 * So every value of the packet is present in every multi-field combo (the presence maps
 * admit all of them as candidates) yet no rule matches: the worst case of the exact
 * table, every candidate probed. CIDR rules do the same with prefixes that contain the
 * packet's addresses (20.0.0.0/24, 21.0.0.0/24) or do not (20.2.j.0/24, 21.2.j.0/24).
 */
#define SHAPE_PER_COMBO 1000u
#define SHAPE_PER_CIDR	200u

static void shape_field(struct rule_spec *r, int f, int cidr, int pkt_value, uint32_t j)
{
	char ip[32];

	switch (1 << f) {
	case XDROP_F_SRC:
		if (cidr)
			snprintf(ip, sizeof(ip), pkt_value ? "20.0.0.0" : "20.2.%u.0", j & 255);
		else
			snprintf(ip, sizeof(ip), pkt_value ? "20.0.0.1" : "20.1.%u.%u",
				 (j >> 8) & 255, j & 255);
		addr4(ip, &r->src, cidr ? 120 : 128);
		break;
	case XDROP_F_DST:
		if (cidr)
			snprintf(ip, sizeof(ip), pkt_value ? "21.0.0.0" : "21.2.%u.0", j & 255);
		else
			snprintf(ip, sizeof(ip), pkt_value ? "21.0.0.1" : "21.1.%u.%u",
				 (j >> 8) & 255, j & 255);
		addr4(ip, &r->dst, cidr ? 120 : 128);
		break;
	case XDROP_F_SPORT:
		r->sport = pkt_value ? 5555 : (uint16_t)(10000 + j);
		break;
	case XDROP_F_DPORT:
		r->dport = pkt_value ? 7777 : (uint16_t)(20000 + j);
		break;
	default:
		r->proto = pkt_value ? 6 : 17;
	}
}

static size_t shape_set(struct rule_spec *out)
{
	static const uint8_t lone_protos[] = {17, 47, 50, 132};
	size_t n = 0;

	for (int cidr = 0; cidr < 2; cidr++) {
		for (unsigned m = 1; m < XDROP_NCOMBOS; m++) {
			int fields[XDROP_NFIELDS], nf = 0;
			uint32_t per = cidr ? SHAPE_PER_CIDR : SHAPE_PER_COMBO;

			if (cidr && !(m & (XDROP_F_SRC | XDROP_F_DST)))
				continue;
			for (int f = 0; f < XDROP_NFIELDS; f++)
				if (m & (1u << f))
					fields[nf++] = f;
			if (m == XDROP_F_PROTO)
				per = sizeof(lone_protos);
			for (uint32_t j = 0; j < per; j++) {
				struct rule_spec *r = &out[n++];

				memset(r, 0, sizeof(*r));
				r->kind = XDROP_KIND_RULE;
				r->action = XDROP_ACT_DROP;
				for (int k = 0; k < nf; k++)
					shape_field(r, fields[k], cidr, nf >= 2 && j == (uint32_t)k,
						    j);
				if (m == XDROP_F_PROTO)
					r->proto = lone_protos[j];
			}
		}
	}
	return n;
}

/* ---- the benchmark ---- */

static int load_big(struct dataplane *dp, int v6, const char *what, double *wall_out)
{
	struct rule_spec *s = calloc(g.nrules, sizeof(*s));
	struct dp_result res;
	double wall;
	char fig[96];
	int err;

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < g.nrules; i++)
		bench_src_rule(i, v6, &s[i]);
	err = replace(dp, s, g.nrules, &res, &wall);
	free(s);
	if (err)
		return err;
	fprintf(stderr, "bench_dp: %s: %.0f ms (stage %.0f, flip %.3f, cleanup %.0f)\n", what, wall,
		res.stage_ms, res.flip_ms, res.cleanup_ms);
	snprintf(fig, sizeof(fig), "%s: stage", what);
	row(fig, res.stage_ms, "ms", 0, NULL, -1);
	snprintf(fig, sizeof(fig), "%s: flip", what);
	row(fig, res.flip_ms, "ms", 0, NULL, -1);
	snprintf(fig, sizeof(fig), "%s: cleanup", what);
	row(fig, res.cleanup_ms, "ms", 0, NULL, -1);
	snprintf(fig, sizeof(fig), "%s: whole call (validate+stage+flip+cleanup)", what);
	row(fig, wall / 1e3, "s", 0, "<= 3 s", wall <= 3000);
	if (wall_out)
		*wall_out = wall;
	return 0;
}

/* What the steps of the benchmark share: the two probe packets (whose source addresses
 * point into hit4/hit6 or at literals), the empty data plane's kernel memory, and the
 * one-shape miss figure that the every-shape targets are relative to. */
struct run_state {
	struct pkt_desc p4, p6;
	char hit4[32], hit6[64];
	uint64_t mem0;
	double miss1m;
};

/* The verifier's figure, the empty data plane, then one exact rule (IPv4, IPv6). */
static int step_small(struct dataplane *dp, struct run_state *st)
{
	struct rule_spec one;
	uint32_t insns = 0;
	int err;

	if (dataplane_verified_insns(dp, &insns) == 0)
		row("verifier: processed instructions (verified_insns)", insns, "insns", 0,
		    "<= 100000", insns <= 100000);
	dataplane_memlock(dp, &st->mem0);

	packet_row(dp, "no rules, IPv4 UDP", &st->p4, XDP_PASS, 2);
	packet_row(dp, "no rules, IPv6 UDP", &st->p6, XDP_PASS, 2);

	snprintf(st->hit4, sizeof(st->hit4), "16.0.0.7");
	bench_src_rule(7, 0, &one);
	if ((err = replace(dp, &one, 1, NULL, NULL)))
		return err;
	st->p4.src = st->hit4;
	packet_row(dp, "1 exact rule (src), IPv4 hit", &st->p4, XDP_DROP, 0);
	bench_src_rule(7, 1, &one);
	if ((err = replace(dp, &one, 1, NULL, NULL)))
		return err;
	snprintf(st->hit6, sizeof(st->hit6), "2001:db8:16::7");
	st->p6.src = st->hit6;
	packet_row(dp, "1 exact rule (src), IPv6 hit", &st->p6, XDP_DROP, 0);
	return 0;
}

/* 1,000,000 exact IPv4 rules in one shape (source address): load, memory, hit, miss. */
static int step_big_ipv4(struct dataplane *dp, struct run_state *st)
{
	uint64_t mem1 = 0;
	char fig[96];
	int err;

	snprintf(fig, sizeof(fig), "load+switch %uk IPv4 rules (from 1 rule)", g.nrules / 1000);
	if ((err = load_big(dp, 0, fig, NULL)))
		return err;
	dataplane_memlock(dp, &mem1);
	row("kernel memory: all maps, empty data plane", (double)st->mem0 / 1048576, "MiB", 0, NULL,
	    -1);
	snprintf(fig, sizeof(fig), "kernel memory: all maps, %uk exact rules", g.nrules / 1000);
	row(fig, (double)mem1 / 1048576, "MiB", 0, NULL, -1);
	row("kernel memory per exact rule: total / rules", (double)mem1 / g.nrules, "B/rule", 0,
	    "<= 256 B", (double)mem1 / g.nrules <= 256);
	row("kernel memory per exact rule: increment / rules", (double)(mem1 - st->mem0) / g.nrules,
	    "B/rule", 0, "<= 256 B", (double)(mem1 - st->mem0) / g.nrules <= 256);

	snprintf(st->hit4, sizeof(st->hit4), "16.7.161.32"); /* 16.0.0.0 + 500000 */
	st->p4.src = st->hit4;
	snprintf(fig, sizeof(fig), "%uk exact (one shape), IPv4 hit", g.nrules / 1000);
	packet_row(dp, fig, &st->p4, g.nrules > 500000 ? XDP_DROP : XDP_PASS, 3);
	st->p4.src = "99.0.0.1";
	snprintf(fig, sizeof(fig), "%uk exact (one shape), IPv4 miss", g.nrules / 1000);
	st->miss1m = packet_row(dp, fig, &st->p4, XDP_PASS, 3);
	return 0;
}

/* A whitelist entry and a rate limit, beside the 1M rules. */
static int step_whitelist_rate(struct dataplane *dp, struct run_state *st)
{
	struct rule_spec x[2];
	uint8_t buf[PKT_MAX];
	int len, err;

	bench_src_rule(500000, 0, &x[0]);
	x[0].kind = XDROP_KIND_WL;
	x[0].action = XDROP_ACT_WHITELIST;
	memset(&x[1], 0, sizeof(x[1]));
	addr4("17.0.0.1", &x[1].src, 128);
	x[1].kind = XDROP_KIND_RULE;
	x[1].action = XDROP_ACT_RATE_LIMIT;
	x[1].rate = 1000;
	x[1].burst = 1000;
	if ((err = put(dp, x, 2)))
		return err;
	st->p4.src = st->hit4;
	packet_row(dp, "whitelist hit (entry over a drop rule, 1M rules)", &st->p4, XDP_PASS, 0);
	st->p4.src = "17.0.0.1";
	/* The bucket empties in the first 1000 packets: the figure is the cost of a
	 * rate-limited drop (lock, clock, refill arithmetic). */
	len = pkt_build(&st->p4, buf);
	pkt_run_repeat(dataplane_prog_fd(dp), buf, (size_t)len, 10000, NULL);
	/* Any verdict: the milliseconds between calls refill a few tokens. */
	packet_row(dp, "rate-limited rule (1000 pps, over limit, 1M rules)", &st->p4, -1, 0);
	return 0;
}

/* Every shape: all 31 exact combos and CIDR rules, on top of the 1M. */
static int step_every_shape(struct dataplane *dp, struct run_state *st)
{
	struct pkt_desc q = {.src = "99.0.0.1",
			     .dst = "99.0.0.2",
			     .proto = 6,
			     .sport = 40000,
			     .dport = 40001,
			     .payload = 6};
	struct rule_spec *set = calloc(64000, sizeof(*set));
	char target[64];
	double a, b, miss1m = st->miss1m;
	size_t n;
	int err;

	if (!set)
		return -ENOMEM;
	n = shape_set(set);
	fprintf(stderr, "bench_dp: every shape: %zu rules\n", n);
	err = put(dp, set, n);
	free(set);
	if (err)
		return err;
	snprintf(target, sizeof(target), "<= 2x 1M one-shape miss (%.1f ns)", miss1m);
	a = packet_row(dp, "every shape (31 exact combos + CIDR), miss", &q, XDP_PASS, 0);
	q.src = "20.0.0.1";
	q.dst = "21.0.0.1";
	q.sport = 5555;
	q.dport = 7777;
	b = packet_row(dp, "every shape, miss, worst case (all values present)", &q, XDP_PASS, 0);
	/* restate the two with the target relative to the one-shape figure */
	row("every shape miss / one-shape miss", miss1m > 0 ? a / miss1m : 0, "x", 0, target,
	    miss1m > 0 && a <= 2 * miss1m);
	row("every shape worst-case miss / one-shape miss", miss1m > 0 ? b / miss1m : 0, "x", 0,
	    target, miss1m > 0 && b <= 2 * miss1m);
	return 0;
}

/* IPv6: 1M exact. A switch from one 1M set straight to another different 1M set needs room
 * for both (entries of the old and the new generation coexist until cleanup), so the IPv4
 * set is removed first. */
static int step_big_ipv6(struct dataplane *dp, struct run_state *st)
{
	char fig[96];
	double wall;
	int err;

	if ((err = replace(dp, NULL, 0, NULL, &wall)))
		return err;
	snprintf(fig, sizeof(fig), "remove all %uk+ rules (one replace)", g.nrules / 1000);
	row(fig, wall / 1e3, "s", 0, NULL, -1);
	snprintf(fig, sizeof(fig), "load+switch %uk IPv6 rules (from empty)", g.nrules / 1000);
	if ((err = load_big(dp, 1, fig, NULL)))
		return err;
	snprintf(st->hit6, sizeof(st->hit6), "2001:db8:16::7:a120"); /* index 500000 */
	st->p6.src = st->hit6;
	snprintf(fig, sizeof(fig), "%uk exact (one shape), IPv6 hit", g.nrules / 1000);
	packet_row(dp, fig, &st->p6, g.nrules > 500000 ? XDP_DROP : XDP_PASS, 3);
	st->p6.src = "2001:db8:99::1";
	snprintf(fig, sizeof(fig), "%uk exact (one shape), IPv6 miss", g.nrules / 1000);
	packet_row(dp, fig, &st->p6, XDP_PASS, 3);
	return 0;
}

/* Nested CIDRs of one family: IPv4 (30.a.0.0/16 > /20 > /24 > /28) or IPv6
 * (2001:db8::/48 > /52 > /56 > /60), a hit four deep and a miss. */
static int nested_family(struct dataplane *dp, struct run_state *st, struct rule_spec *set, int v6)
{
	struct pkt_desc *p = v6 ? &st->p6 : &st->p4;
	const char *fam = v6 ? "IPv6" : "IPv4", *why;
	struct xdrop_addr base;
	char fig[96];
	double wall;
	size_t n;
	int err;

	addr_parse(v6 ? "2001:db8::" : "30.0.0.0", &base, &why);
	n = nested_set(&base, v6 ? 48 : 112, g.nnested, set);
	if ((err = replace(dp, set, n, NULL, &wall)))
		return err;
	fprintf(stderr, "bench_dp: %zu nested %s prefixes loaded in %.0f ms\n", n, fam, wall);
	p->src = v6 ? "2001:db8:0:1::1" : "30.0.0.1";
	snprintf(fig, sizeof(fig), "%zuk nested CIDRs (4 deep), %s hit", n / 1000, fam);
	packet_row(dp, fig, p, XDP_DROP, 4);
	p->src = v6 ? "2001:db8:ff00::1" : "30.200.0.1";
	snprintf(fig, sizeof(fig), "%zuk nested CIDRs, %s miss", n / 1000, fam);
	packet_row(dp, fig, p, XDP_PASS, 4);
	return 0;
}

static int step_nested(struct dataplane *dp, struct run_state *st)
{
	struct rule_spec *set = calloc(g.nnested, sizeof(*set));
	int err = 0;

	if (!set)
		return -ENOMEM;
	for (int v6 = 0; v6 < 2 && !err; v6++)
		err = nested_family(dp, st, set, v6);
	free(set);
	return err;
}

/* ---- sampling ---- */

struct drain {
	struct ring_buffer *rb;
	volatile int stop;
	uint64_t n;
};

static int drain_one(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	((struct drain *)ctx)->n++;
	return 0;
}

/* Empties the sample ring as the agent's reader would, until stop. */
static void *drain_loop(void *arg)
{
	struct drain *d = arg;

	while (!d->stop) {
		ring_buffer__poll(d->rb, 100);
		ring_buffer__consume(d->rb);
	}
	ring_buffer__consume(d->rb);
	return NULL;
}

/* One packet at sampling off, 1/64 and 1/1; returns the 1/64 over off ratio (0: failed). */
static double sampling_rows(struct dataplane *dp, const char *what, const struct pkt_desc *p,
			    int expect)
{
	static const uint32_t every[] = {0, XDROP_DEF_SAMPLE_EVERY, 1};
	static const char *const name[] = {"off", "1/64 (default)", "1/1"};
	double ns[3] = {0};
	char fig[128];

	for (int i = 0; i < 3; i++) {
		if (dataplane_set_sample_every(dp, every[i]))
			return 0;
		snprintf(fig, sizeof(fig), "sampling %s: %s", name[i], what);
		ns[i] = packet_row(dp, fig, p, expect, 0);
	}
	dataplane_set_sample_every(dp, XDROP_DEF_SAMPLE_EVERY);
	return ns[0] > 0 && ns[1] > 0 ? ns[1] / ns[0] : 0;
}

/* Per-packet cost of top-talker sampling: no rules, and one exact rule hit. */
static int step_sampling(struct dataplane *dp, struct run_state *st)
{
	struct rule_spec one;
	uint64_t c0[XDROP_NCOUNTERS], c1[XDROP_NCOUNTERS];
	double r0, r1;
	int err;

	dataplane_counters(dp, c0);
	if ((err = replace(dp, NULL, 0, NULL, NULL)))
		goto out;
	st->p4.src = "99.0.0.1";
	r0 = sampling_rows(dp, "no rules, IPv4 UDP", &st->p4, XDP_PASS);
	bench_src_rule(7, 0, &one);
	if ((err = replace(dp, &one, 1, NULL, NULL)))
		goto out;
	snprintf(st->hit4, sizeof(st->hit4), "16.0.0.7");
	st->p4.src = st->hit4;
	r1 = sampling_rows(dp, "1 exact rule (src), IPv4 hit", &st->p4, XDP_DROP);
	row("sampling cost at 1/64 over off: no rules", 100 * (r0 - 1), "%", 0, "<= 10 %",
	    r0 > 0 && r0 <= 1.10);
	row("sampling cost at 1/64 over off: 1 exact rule hit", 100 * (r1 - 1), "%", 0, "<= 10 %",
	    r1 > 0 && r1 <= 1.10);
	dataplane_counters(dp, c1);
	row("sampling: samples lost / taken (ring drained by one thread)",
	    (double)(c1[XDROP_CNT_SAMPLES_LOST] - c0[XDROP_CNT_SAMPLES_LOST]) /
		(double)(c1[XDROP_CNT_SAMPLES] - c0[XDROP_CNT_SAMPLES] + 1),
	    "ratio", 0, NULL, -1);
out:
	return err;
}

static int prog_by_id(uint32_t id)
{
	int fd = id ? bpf_prog_get_fd_by_id(id) : -1;

	if (id && fd < 0)
		fprintf(stderr, "bench_dp: program id %u: %s\n", id, strerror(errno));
	return fd;
}

/* The rows of bench_cmp.c, beside xdp-filter when its programs are given. */
static int comparison(struct dataplane *dp)
{
	struct cmp_opts o = {
	    .repeat = g.repeat,
	    .runs = g.runs,
	    .nrules = g.nrules,
	    .trials = g.nrules < BENCH_NRULES ? 6 : 16,
	    .trivial_fd = trivial_fd,
	    .xf_all_fd = prog_by_id(g.xf_ids[0]),
	    .xf_ip_fd = prog_by_id(g.xf_ids[1]),
	};
	int err = cmp_run(dp, &o);

	if (o.xf_all_fd >= 0)
		close(o.xf_all_fd);
	if (o.xf_ip_fd >= 0)
		close(o.xf_ip_fd);
	return err;
}

/* The figures in the order of the results table; a step that fails ends the run. */
static int run(struct dataplane *dp)
{
	static int (*const steps[])(struct dataplane *, struct run_state *) = {
	    step_small,	      step_sampling, step_big_ipv4, step_whitelist_rate,
	    step_every_shape, step_big_ipv6, step_nested,
	};
	struct run_state st = {
	    .p4 = {.src = "99.0.0.1",
		   .dst = "10.9.9.9",
		   .proto = 17,
		   .sport = 40000,
		   .dport = 53,
		   .payload = 18},
	    .p6 = {.src = "2001:db8:99::1",
		   .dst = "2001:db8:9::9",
		   .proto = 17,
		   .sport = 40000,
		   .dport = 53,
		   .payload = 18},
	};
	struct drain d = {0};
	pthread_t th;
	int err = 0;

	/* every row runs as in the agent: sampling at the default rate, the ring read */
	d.rb = ring_buffer__new(dataplane_samples_fd(dp), drain_one, &d, NULL);
	if (!d.rb || pthread_create(&th, NULL, drain_loop, &d)) {
		ring_buffer__free(d.rb);
		return -ENOMEM;
	}
	/* the comparison rows last: the memory rows need the data plane as opened */
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]) && !err && !g.only_cmp; i++)
		err = steps[i](dp, &st);
	if (!err)
		err = comparison(dp);
	d.stop = 1;
	pthread_join(th, NULL);
	ring_buffer__free(d.rb);
	return err;
}

int main(int argc, char **argv)
{
	struct dataplane_opts o = {.sz = sizeof(o)};
	struct dataplane *dp = NULL;
	cpu_set_t cs;
	int c, err;

	while ((c = getopt(argc, argv, "c:r:n:qoX:")) != -1) {
		switch (c) {
		case 'c':
			g.cpu = atoi(optarg);
			break;
		case 'r':
			g.repeat = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			g.runs = atoi(optarg);
			break;
		case 'q':
			g.nrules = 600000;
			g.nnested = 20000;
			break;
		case 'o':
			g.only_cmp = 1;
			break;
		case 'X':
			if (sscanf(optarg, "%u,%u", &g.xf_ids[0], &g.xf_ids[1]) < 1)
				g.xf_ids[0] = 0;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-c cpu] [-r repeat] [-n runs] [-q] [-o] [-X id,id]\n",
				argv[0]);
			return 2;
		}
	}
	if (g.runs < 1 || g.runs > MAX_RUNS || !g.repeat) {
		fprintf(stderr, "bench_dp: runs must be 1..%d, repeat > 0\n", MAX_RUNS);
		return 2;
	}
	CPU_ZERO(&cs);
	CPU_SET(g.cpu, &cs);
	if (sched_setaffinity(0, sizeof(cs), &cs))
		fprintf(stderr, "bench_dp: cannot pin to CPU %d: %s\n", g.cpu, strerror(errno));

	log_route_libbpf();
	log_set_level(LOG_LEVEL_WARN);
	/* Room for the 1M one-shape rules plus the every-shape set on top of them. */
	o.max_exact = XDROP_DEF_MAX_EXACT;
	o.max_addrs = XDROP_DEF_MAX_ADDRS;
	o.max_cidr = XDROP_DEF_MAX_CIDR;
	o.max_prefixes = XDROP_DEF_MAX_PREFIXES;
	trivial_fd = trivial_load();
	if (trivial_fd < 0) {
		fprintf(stderr, "bench_dp: trivial program: %s\n", strerror(-trivial_fd));
		return 1;
	}
	err = dataplane_open(&dp, &o);
	if (err) {
		fprintf(stderr, "bench_dp: dataplane_open: %s\n", strerror(-err));
		return 1;
	}
	err = run(dp);
	dataplane_close(dp);
	close(trivial_fd);
	return err ? 1 : 0;
}
