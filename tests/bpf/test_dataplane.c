// SPDX-License-Identifier: MIT
/*
 * test_dataplane: the data-plane library's promises about state.
 *   - a re-opened data plane adopts the pinned maps: same entries, same verdicts, counters
 *     kept, and it can go on changing them;
 *   - a process killed (SIGKILL) at a random point of a large replacement leaves either the
 *     whole old set or the whole new set, never a mix, and the next open repairs the rest;
 *   - capacities are checked before anything is switched (RESOURCE_EXHAUSTED / -ENOSPC)
 *     and a refused change leaves the active set and generation as they were;
 *   - invalid, duplicate and missing entries are refused with the field named.
 * Pins live under a directory of this run only and are removed at the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "log.h"
#include "testdp.h"

static char pin_dir[128];

static struct dataplane *open_pinned(void)
{
	struct dataplane_opts o = {.sz = sizeof(o), .pin_dir = pin_dir, .test_clock = true};
	struct dataplane *dp = NULL;

	assert_int_equal(dataplane_open(&dp, &o), 0);
	return dp;
}

/* Set A: a few rules of every kind; set B: many rules, so a replacement takes a while. */
static const char *const set_a[] = {
    "dst_ip=198.51.100.1 action=drop",
    "dst_cidr=10.0.0.0/8 action=drop",
    "dst_cidr=10.1.0.0/16 protocol=udp action=pass",
    "src_ip=fd00::1 dst_port=443 protocol=tcp action=rate_limit rate_limit=5 burst=5",
    "wl: src_ip=192.0.2.200",
    NULL,
};

#define B_RULES 20000

static struct rule_spec *set_b(size_t *n)
{
	struct rule_spec *v = calloc(B_RULES + 8, sizeof(*v));
	char line[128];
	size_t k = 0;

	assert_non_null(v);
	for (int i = 0; i < B_RULES / 2; i++) {
		snprintf(line, sizeof(line),
			 "dst_ip=172.16.%d.%d protocol=udp dst_port=53 action=drop", i / 250,
			 i % 250 + 1);
		assert_int_equal(testdp_spec(line, &v[k++]), 0);
		snprintf(line, sizeof(line), "src_cidr=100.%d.%d.0/24 action=drop", i / 250,
			 i % 250);
		assert_int_equal(testdp_spec(line, &v[k++]), 0);
	}
	/* B changes what A's probes see */
	assert_int_equal(testdp_spec("dst_ip=198.51.100.1 action=pass", &v[k++]), 0);
	assert_int_equal(testdp_spec("dst_cidr=10.0.0.0/8 action=pass", &v[k++]), 0);
	*n = k;
	return v;
}

struct probe {
	struct pkt_desc d;
	int under_a, under_b;
};

static const struct probe probes[] = {
    {{.src = "192.0.2.1", .dst = "198.51.100.1", .proto = 17, .sport = 1, .dport = 2},
     XDP_DROP,
     XDP_PASS},
    {{.src = "192.0.2.1", .dst = "10.9.9.9", .proto = 17, .sport = 1, .dport = 2},
     XDP_DROP,
     XDP_PASS},
    {{.src = "192.0.2.1", .dst = "10.1.9.9", .proto = 17, .sport = 1, .dport = 2},
     XDP_PASS,
     XDP_PASS},
    {{.src = "192.0.2.1", .dst = "10.1.9.9", .proto = 6, .sport = 1, .dport = 2},
     XDP_DROP,
     XDP_PASS},
    {{.src = "192.0.2.200", .dst = "198.51.100.1", .proto = 6, .sport = 1, .dport = 2},
     XDP_PASS,
     XDP_PASS},
    {{.src = "192.0.2.1", .dst = "172.16.3.7", .proto = 17, .sport = 1, .dport = 53},
     XDP_PASS,
     XDP_DROP},
    {{.src = "100.7.9.1", .dst = "192.0.2.9", .proto = 6, .sport = 1, .dport = 2},
     XDP_PASS,
     XDP_DROP},
};

/* Which set the probes see: 'A', 'B', or '?' for a mix. */
static char which_set(struct dataplane *dp)
{
	int a = 0, b = 0, n = (int)(sizeof(probes) / sizeof(probes[0]));

	for (int i = 0; i < n; i++) {
		int v = testdp_send(dp, &probes[i].d);

		a += v == probes[i].under_a;
		b += v == probes[i].under_b;
	}
	return a == n ? 'A' : b == n ? 'B' : '?';
}

static void adopt_keeps_everything(void **state)
{
	struct dataplane *dp = open_pinned();
	struct rule_spec spec;
	struct xdrop_slot_counters c1, c2;

	(void)state;
	assert_false(dataplane_adopted(dp));
	assert_int_equal(testdp_load(dp, set_a), 0);
	assert_int_equal(which_set(dp), 'A');
	assert_int_equal(testdp_spec(set_a[1], &spec), 0);
	assert_int_equal(dataplane_entry_counters(dp, &spec, &c1), 0);
	assert_true(c1.match > 0);
	dataplane_close(dp);

	dp = open_pinned();
	assert_true(dataplane_adopted(dp));
	assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 4);
	assert_int_equal(dataplane_count(dp, XDROP_KIND_WL), 1);
	assert_int_equal(dataplane_entry_counters(dp, &spec, &c2), 0);
	assert_int_equal(c2.match, c1.match);
	assert_int_equal(c2.drop, c1.drop);
	assert_int_equal(which_set(dp), 'A');
	/* and it keeps working: a change after adoption */
	assert_int_equal(
	    testdp_load(dp, (const char *const[]){"dst_ip=198.51.100.1 action=pass", NULL}), 0);
	assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 1);
	assert_int_equal(dataplane_count(dp, XDROP_KIND_WL), 0);
	assert_int_equal(testdp_send(dp, &probes[1].d), XDP_PASS);
	assert_int_equal(testdp_load(dp, set_a), 0);
	dataplane_close(dp);
}

static void kill_during_replace_is_all_or_nothing(void **state)
{
	size_t nb;
	struct rule_spec *b = set_b(&nb);
	struct dataplane *dp;
	struct dp_result res;
	double replace_ms;
	char seen[32] = {0};
	int rounds = 12, a_count = 0, b_count = 0;
	unsigned seed = (unsigned)time(NULL);

	(void)state;
	/* how long a replacement takes here, to aim the kills inside it */
	dp = open_pinned();
	assert_int_equal(dataplane_replace(dp, 3, b, nb, &res), 0);
	replace_ms = res.stage_ms + res.flip_ms + res.cleanup_ms;
	assert_int_equal(testdp_load(dp, set_a), 0);
	replace_ms += res.stage_ms;
	dataplane_close(dp);
	printf("# a %zu-rule replacement takes about %.0f ms; seed %u\n", nb, replace_ms, seed);

	for (int r = 0; r < rounds; r++) {
		pid_t pid = fork();
		char got;

		assert_true(pid >= 0);
		if (pid == 0) {
			struct dataplane *c = open_pinned();
			int err;

			if (which_set(c) == 'A')
				err = dataplane_replace(c, 3, b, nb, NULL);
			else
				err = testdp_load(c, set_a);
			_exit(err ? 1 : 0);
		}
		/* the child spends a while in open (verifier) before it starts the switch */
		usleep((useconds_t)(150000 + rand_r(&seed) % (unsigned)(replace_ms * 1500)));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		dp = open_pinned();
		got = which_set(dp);
		seen[r] = got;
		if (got == 'A') {
			a_count++;
			assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 4);
		} else if (got == 'B') {
			b_count++;
			assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), nb);
		}
		dataplane_close(dp);
		if (got == '?')
			fail_msg("round %d: the probes saw a mix of the two sets", r);
	}
	printf("# %d kills: sets seen after each restart: %s (A %d, B %d)\n", rounds, seen, a_count,
	       b_count);
	free(b);
}

static void capacity_refused_before_switch(void **state)
{
	struct dataplane_opts o = {
	    .sz = sizeof(o), .max_exact = 100, .max_cidr = 50, .max_prefixes = 10, .max_rate = 3};
	struct rule_spec v[120];
	struct dp_change ch[12];
	struct dataplane *dp;
	struct dp_result res;
	char line[128];
	uint64_t gen;
	int i;

	(void)state;
	assert_int_equal(dataplane_open(&dp, &o), 0);
	for (i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "dst_ip=192.0.2.%d action=drop", i + 1);
		assert_int_equal(testdp_spec(line, &v[i]), 0);
	}
	assert_int_equal(dataplane_replace(dp, 3, v, 100, &res), 0);
	gen = dataplane_gen(dp);
	assert_int_equal(testdp_spec("dst_ip=192.0.2.250 action=drop", &ch[0].spec), 0);
	ch[0].op = DP_PUT;
	assert_int_equal(dataplane_apply(dp, ch, 1, &res), -ENOSPC);
	assert_string_equal(res.err.field, "rules");
	assert_int_equal(dataplane_gen(dp), gen);
	assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 100);
	/* prefixes: 11 distinct source prefixes exceed 10 */
	for (i = 0; i < 11; i++) {
		snprintf(line, sizeof(line), "src_cidr=10.%d.0.0/16 action=drop", i);
		assert_int_equal(testdp_spec(line, &ch[i].spec), 0);
		ch[i].op = DP_PUT;
	}
	assert_int_equal(dataplane_apply(dp, ch, 11, &res), -ENOSPC);
	assert_int_equal(dataplane_gen(dp), gen);
	/* rate-limit states */
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line),
			 "src_cidr=10.%d.0.0/16 action=rate_limit rate_limit=10", i);
		assert_int_equal(testdp_spec(line, &ch[i].spec), 0);
		ch[i].op = DP_PUT;
	}
	assert_int_equal(dataplane_apply(dp, ch, 4, &res), -ENOSPC);
	assert_string_equal(res.err.field, "rate_limit");
	/* nesting deeper than the program walks */
	for (i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), "src_cidr=10.0.0.0/%d action=drop", 8 + 2 * i);
		assert_int_equal(testdp_spec(line, &ch[i].spec), 0);
		ch[i].op = DP_PUT;
	}
	o.max_prefixes = 100;
	dataplane_close(dp);
	assert_int_equal(dataplane_open(&dp, &o), 0);
	assert_int_equal(dataplane_apply(dp, ch, 9, &res), -ENOSPC);
	assert_string_equal(res.err.field, "src_cidr");
	assert_int_equal(dataplane_apply(dp, ch, 8, &res), 0); /* depth 8 is fine */
	assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 8);
	dataplane_close(dp);
}

static void bad_changes_refused_with_field(void **state)
{
	struct dataplane *dp = testdp_open(false, false);
	struct dp_change ch[3];
	struct dp_result res;
	uint64_t gen;

	(void)state;
	assert_int_equal(testdp_load(dp, set_a), 0);
	gen = dataplane_gen(dp);
	memset(ch, 0, sizeof(ch));
	/* invalid: rate_limit without a rate */
	assert_int_equal(testdp_spec("dst_ip=192.0.2.1 action=drop", &ch[0].spec), 0);
	ch[0].op = DP_PUT;
	ch[1] = ch[0];
	ch[1].spec.action = XDROP_ACT_RATE_LIMIT;
	assert_int_equal(dataplane_apply(dp, ch, 2, &res), -EINVAL);
	assert_int_equal(res.index, 1);
	assert_string_equal(res.err.field, "rate_limit");
	/* the same key twice in one change */
	ch[1] = ch[0];
	assert_int_equal(dataplane_apply(dp, ch, 2, &res), -EEXIST);
	/* deleting what is not there */
	ch[0].op = DP_DEL;
	assert_int_equal(dataplane_apply(dp, ch, 1, &res), -ENOENT);
	assert_int_equal(dataplane_gen(dp), gen);
	assert_int_equal(which_set(dp), 'A');
	assert_int_equal(dataplane_count(dp, XDROP_KIND_RULE), 4);
	dataplane_close(dp);
}

static int cleanup(void **state)
{
	struct dataplane *dp;

	(void)state;
	dp = open_pinned();
	dataplane_unpin(dp);
	dataplane_close(dp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(adopt_keeps_everything),
	    cmocka_unit_test(kill_during_replace_is_all_or_nothing),
	    cmocka_unit_test(capacity_refused_before_switch),
	    cmocka_unit_test(bad_changes_refused_with_field),
	};

	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xdrop-test-%d", (int)getpid());
	log_route_libbpf();
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("dataplane", tests, NULL, cleanup);
}
