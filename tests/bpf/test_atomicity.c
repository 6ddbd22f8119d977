// SPDX-License-Identifier: MIT
/*
 * test_atomicity: no packet ever sees a half-applied rule set.
 *
 * Two rule sets A and B are switched back and forth (dataplane_replace) while one sender
 * thread per CPU pushes probes through the real program (BPF_PROG_TEST_RUN) without pause.
 * Each group g of rules (exact and CIDR groups, IPv4 and IPv6) is
 *   A: k1 = dst D_g -> drop;  k2 = dst D_g, udp, dport P -> pass
 *   B: k1 -> pass;            k2 -> drop;  k3 = k2 + sport Q -> pass
 * and the probes are
 *   X (sport Q, dport P): pass under A (k2) and under B (k3), but drop under the mix in
 *     which k2 is already B's and k3 not yet there;
 *   Y (other sport, dport P): pass under A, drop under B;
 *   Z (other dport): drop under A, pass under B.
 * The program records the generation each packet used (a test switch), so every probe is
 * also checked against the set of exactly that generation. A violation is a probe whose
 * verdict is not that of its generation's set, or an X probe that did not pass.
 *
 * The same test runs against the deliberately broken switch (dataplane_opts.unsafe_inplace:
 * changes written in place, entry by entry), and must find violations there; otherwise the
 * test itself would be proven blind.
 *
 * XDROP_ATOMIC_SWITCHES (default 1000) sets the number of switches.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "log.h"
#include "testdp.h"

#define GROUPS	    48
#define PROBE_TYPES 3
#define NCPU_MAX    64

struct probe {
	uint8_t frame[PKT_MAX];
	int len;
	int verdict[2]; /* under A, under B */
	bool same;	/* X probes: the verdict must hold whatever the generation */
};

struct run {
	struct dataplane *dp;
	struct probe probes[GROUPS * PROBE_TYPES];
	volatile int stop;
	uint64_t base_gen; /* generation of set A */
	long sent[NCPU_MAX], violations[NCPU_MAX], mixed[NCPU_MAX];
};

struct sender {
	struct run *run;
	int cpu;
};

static struct rule_spec set_a[GROUPS * 2], set_b[GROUPS * 3];

static void group_addrs(int g, char *dst, char *net, char *inside)
{
	bool v6 = g % 4 == 3, cidr = g % 2 == 1;

	if (!cidr) {
		sprintf(dst, v6 ? "fd00::%x" : "198.51.100.%d", g);
		strcpy(inside, dst);
		net[0] = '\0';
	} else {
		if (v6) {
			sprintf(net, "fd00:%x::/32", g);
			sprintf(inside, "fd00:%x::7", g);
		} else {
			sprintf(net, "10.%d.0.0/16", g);
			sprintf(inside, "10.%d.1.7", g);
		}
		dst[0] = '\0';
	}
}

static void build_sets(struct run *r)
{
	char line[256], dst[64], net[64], inside[64], field[80];
	int na = 0, nb = 0;

	for (int g = 0; g < GROUPS; g++) {
		bool v6 = g % 4 == 3;
		const char *src = v6 ? "fd01::1" : "192.0.2.1";

		group_addrs(g, dst, net, inside);
		if (net[0])
			snprintf(field, sizeof(field), "dst_cidr=%s", net);
		else
			snprintf(field, sizeof(field), "dst_ip=%s", dst);
		snprintf(line, sizeof(line), "%s action=drop", field);
		assert_int_equal(testdp_spec(line, &set_a[na++]), 0);
		snprintf(line, sizeof(line), "%s protocol=udp dst_port=53 action=pass", field);
		assert_int_equal(testdp_spec(line, &set_a[na++]), 0);
		snprintf(line, sizeof(line), "%s action=pass", field);
		assert_int_equal(testdp_spec(line, &set_b[nb++]), 0);
		snprintf(line, sizeof(line), "%s protocol=udp dst_port=53 action=drop", field);
		assert_int_equal(testdp_spec(line, &set_b[nb++]), 0);
		snprintf(line, sizeof(line), "%s protocol=udp dst_port=53 src_port=7 action=pass",
			 field);
		assert_int_equal(testdp_spec(line, &set_b[nb++]), 0);

		for (int t = 0; t < PROBE_TYPES; t++) {
			struct probe *p = &r->probes[g * PROBE_TYPES + t];
			struct pkt_desc d = {.src = src,
					     .dst = inside,
					     .proto = 17,
					     .sport = t == 0 ? 7 : 8,
					     .dport = t == 2 ? 54 : 53};

			p->len = pkt_build(&d, p->frame);
			assert_true(p->len > 0);
			p->same = t == 0;
			p->verdict[0] = t == 2 ? XDP_DROP : XDP_PASS;
			p->verdict[1] = t == 1 ? XDP_DROP : XDP_PASS;
		}
	}
}

static void *send_loop(void *arg)
{
	struct sender *s = arg;
	struct run *r = s->run;
	int fd = dataplane_prog_fd(r->dp);
	unsigned seed = (unsigned)s->cpu * 7919u + 1;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!r->stop) {
		struct probe *p = &r->probes[rand_r(&seed) % (GROUPS * PROBE_TYPES)];
		uint64_t gen;
		int v, which;

		v = pkt_run(fd, p->frame, (size_t)p->len);
		if (dataplane_seen_gen(r->dp, s->cpu, &gen))
			continue;
		which = (int)((gen - r->base_gen) & 1);
		r->sent[s->cpu]++;
		if (v != p->verdict[which] || (p->same && v != XDP_PASS)) {
			r->violations[s->cpu]++;
			if (p->same && v != XDP_PASS)
				r->mixed[s->cpu]++;
		}
	}
	return NULL;
}

/* Runs the switches with traffic; returns the number of violations. */
static long run_switches(bool broken, int switches, long *sent_out)
{
	struct dataplane_opts o = {
	    .sz = sizeof(o), .test_clock = true, .record_gen = true, .unsafe_inplace = broken};
	struct run *r = calloc(1, sizeof(*r));
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th[NCPU_MAX];
	struct sender snd[NCPU_MAX];
	long violations = 0, sent = 0, mixed = 0;
	struct dp_result res;
	int err;

	assert_non_null(r);
	if (ncpu > NCPU_MAX)
		ncpu = NCPU_MAX;
	err = dataplane_open(&r->dp, &o);
	assert_int_equal(err, 0);
	build_sets(r);
	assert_int_equal(dataplane_replace(r->dp, 1u << XDROP_KIND_RULE, set_a, GROUPS * 2, &res),
			 0);
	r->base_gen = res.gen;
	for (int c = 0; c < ncpu; c++) {
		snd[c] = (struct sender){.run = r, .cpu = c};
		assert_int_equal(pthread_create(&th[c], NULL, send_loop, &snd[c]), 0);
	}
	for (int i = 0; i < switches; i++) {
		bool to_b = i % 2 == 0;
		uint64_t before = dataplane_gen(r->dp);

		err = dataplane_replace(r->dp, 1u << XDROP_KIND_RULE, to_b ? set_b : set_a,
					to_b ? GROUPS * 3 : GROUPS * 2, &res);
		if (err)
			break;
		/* the parity model needs exactly one flip per switch */
		if (res.gen != before + 1) {
			err = -EPROTO;
			break;
		}
	}
	r->stop = 1;
	for (int c = 0; c < ncpu; c++)
		pthread_join(th[c], NULL);
	assert_int_equal(err, 0);
	for (int c = 0; c < ncpu; c++) {
		violations += r->violations[c];
		sent += r->sent[c];
		mixed += r->mixed[c];
	}
	printf("# %s switch: %d switches, %ld probes on %d CPUs, %ld violations (%ld of them "
	       "X probes dropped by a mix)\n",
	       broken ? "broken (in-place)" : "atomic", switches, sent, ncpu, violations, mixed);
	dataplane_close(r->dp);
	free(r);
	*sent_out = sent;
	return violations;
}

static void atomic_switch_has_no_violations(void **state)
{
	const char *env = getenv("XDROP_ATOMIC_SWITCHES");
	int switches = env ? atoi(env) : 1000;
	long sent, v;

	(void)state;
	v = run_switches(false, switches, &sent);
	assert_true(sent > switches); /* traffic really flowed during the switches */
	assert_int_equal(v, 0);
}

static void broken_switch_is_caught(void **state)
{
	long sent, v;

	(void)state;
	v = run_switches(true, 300, &sent);
	assert_true(sent > 300);
	if (v == 0)
		fail_msg("the in-place switch produced no violation: the test cannot see mixes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(atomic_switch_has_no_violations),
	    cmocka_unit_test(broken_switch_is_caught),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests_name("bpf_atomicity", tests, NULL, NULL);
}
