// SPDX-License-Identifier: MIT
/*
 * test_ring: the config ring switches many times in a row, each switch retired without
 * waiting for its grace period, and no packet ever sees a generation's config slot written
 * for another generation, nor an entry as of another generation.
 *
 * One writer makes SWITCHES switches back to back (dataplane_apply_begin, then
 * dataplane_apply_retire), one change of "dst 198.51.100.k drop" each, in rounds: KEYS
 * creates (more than the ring's slots: a wrap without waiting for an entry), then per key a
 * delete and at once a create again (the create meets the delete's entry while it is still
 * in flight: the guard that makes it wait for that cleanup), then KEYS deletes. A reader on another
 * CPU pushes probes through the real program (BPF_PROG_TEST_RUN); the program is built as a slow
 * reader (opts.test_reader_spin: it spins between reading the generation and reading its config
 * slot) so that many flips happen while one packet is in flight, and it records the
 * generation it used and the generation its config slot was written for. Afterwards every
 * probe is checked: the slot's generation is the packet's, and the verdict is that of the
 * packet's generation (drop iff key k was created before it and not deleted since).
 *
 * The same run with the injected fault (opts.test_ring_early: a switch reuses a slot
 * without waiting for the grace period that frees it) must be caught: the test is not
 * blind. XDROP_RING_SWITCHES (default 400) sets the number of switches.
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

#define KEYS	 24 /* more than XDROP_CFG_SLOTS: creates alone wrap the ring */
#define MAX_OBS	 200000
#define MAX_EVTS 100000
#define SPIN	 (1u << 19) /* bpf_loop iterations: about a millisecond here */
/* the faulty run's reader: about 8 ms, so that a probe is in flight across the 16 flips of
 * one round of creates even on a quiet machine (with SPIN it was caught under load only) */
#define SPIN_EARLY (1u << 22)

struct obs {
	uint8_t key;
	int verdict;
	uint64_t gen, cfg_gen;
};

struct evt {
	uint8_t key;
	bool present; /* from gen on */
	uint64_t gen;
};

struct run {
	struct dataplane *dp;
	uint8_t frame[KEYS][PKT_MAX];
	int len[KEYS];
	volatile int stop;
	int reader_cpu;
	struct obs *obs;
	size_t nobs;
	struct evt *evts;
	size_t nevts;
};

static void *read_loop(void *arg)
{
	struct run *r = arg;
	int fd = dataplane_prog_fd(r->dp);
	unsigned seed = 12345;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(r->reader_cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!r->stop && r->nobs < MAX_OBS) {
		struct obs *o = &r->obs[r->nobs];

		o->key = (uint8_t)(rand_r(&seed) % KEYS);
		o->verdict = pkt_run(fd, r->frame[o->key], (size_t)r->len[o->key]);
		if (o->verdict < 0 || dataplane_seen_gen(r->dp, r->reader_cpu, &o->gen) ||
		    dataplane_seen_cfg_gen(r->dp, r->reader_cpu, &o->cfg_gen))
			continue;
		r->nobs++;
	}
	return NULL;
}

/* One switch: creates or deletes key k; records the generation it took effect. */
static int one_switch(struct run *r, int k, bool create)
{
	char line[128];
	struct dp_change c = {.op = create ? DP_PUT : DP_DEL};
	struct dp_result res;
	int err;

	snprintf(line, sizeof(line), "dst_ip=198.51.100.%d action=drop", k);
	assert_int_equal(testdp_spec(line, &c.spec), 0);
	err = dataplane_apply_begin(r->dp, &c, 1, &res);
	if (err)
		return err;
	dataplane_apply_retire(r->dp);
	if (r->nevts < MAX_EVTS)
		r->evts[r->nevts++] =
		    (struct evt){.key = (uint8_t)k, .present = create, .gen = res.gen};
	return 0;
}

/* Whether key k was present as of generation gen (the last event at or before gen). */
static bool present_at(const struct run *r, int k, uint64_t gen)
{
	bool p = false;

	for (size_t i = 0; i < r->nevts && r->evts[i].gen <= gen; i++)
		if (r->evts[i].key == k)
			p = r->evts[i].present;
	return p;
}

/* Runs the switches under the reader; returns the number of violations. */
static long run_ring(bool early, int switches, long *probes, uint64_t *syncs)
{
	struct dataplane_opts o = {.sz = sizeof(o),
				   .record_gen = true,
				   .test_reader_spin = early ? SPIN_EARLY : SPIN,
				   .test_ring_early = early};
	struct run *r = calloc(1, sizeof(*r));
	long bad_cfg = 0, bad_verdict = 0;
	uint64_t waits = 0;
	pthread_t th;
	int err = 0;

	assert_non_null(r);
	r->obs = calloc(MAX_OBS, sizeof(*r->obs));
	r->evts = calloc(MAX_EVTS, sizeof(*r->evts));
	assert_non_null(r->obs);
	assert_non_null(r->evts);
	assert_int_equal(dataplane_open(&r->dp, &o), 0);
	for (int k = 0; k < KEYS; k++) {
		char dst[32];
		struct pkt_desc d = {
		    .src = "192.0.2.1", .dst = dst, .proto = 17, .sport = 7, .dport = 53};

		snprintf(dst, sizeof(dst), "198.51.100.%d", k);
		r->len[k] = pkt_build(&d, r->frame[k]);
		assert_true(r->len[k] > 0);
	}
	/* the reader on the last CPU, the writer elsewhere */
	r->reader_cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	assert_int_equal(pthread_create(&th, NULL, read_loop, r), 0);
	for (int i = 0; i < switches && !err; i++) {
		int j = i % (4 * KEYS);

		if (j < KEYS)
			err = one_switch(r, j, true);
		else if (j < 3 * KEYS)
			err = one_switch(r, (j - KEYS) / 2, (j - KEYS) % 2 == 1);
		else
			err = one_switch(r, j - 3 * KEYS, false);
	}
	r->stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(err, 0);
	dataplane_settle(r->dp, true);
	dataplane_grace_stats(r->dp, &waits, syncs);
	for (size_t i = 0; i < r->nobs; i++) {
		const struct obs *ob = &r->obs[i];
		int want = present_at(r, ob->key, ob->gen) ? XDP_DROP : XDP_PASS;

		if (ob->cfg_gen != ob->gen)
			bad_cfg++;
		else if (ob->verdict != want)
			bad_verdict++;
	}
	printf("# %s: %d switches, %zu probes, %llu grace periods waited for in the kernel, "
	       "%llu waits; %ld probes read another generation's config slot, %ld another "
	       "generation's verdict\n",
	       early ? "slots reused early (injected fault)" : "ring", switches, r->nobs,
	       (unsigned long long)*syncs, (unsigned long long)waits, bad_cfg, bad_verdict);
	*probes = (long)r->nobs;
	dataplane_close(r->dp);
	free(r->obs);
	free(r->evts);
	free(r);
	return bad_cfg + bad_verdict;
}

static int switches_env(void)
{
	const char *env = getenv("XDROP_RING_SWITCHES");

	return env ? atoi(env) : 400;
}

static void ring_switches_stay_whole(void **state)
{
	int switches = switches_env();
	uint64_t syncs;
	long probes, v;

	(void)state;
	v = run_ring(false, switches, &probes, &syncs);
	assert_true(probes > 0);
	assert_int_equal(v, 0);
	/* switches shared grace periods: they did not each wait for one of their own */
	assert_true(syncs < (uint64_t)switches);
}

static void early_slot_reuse_is_caught(void **state)
{
	uint64_t syncs;
	long probes, v = 0;

	(void)state;
	/* a fault seen in any of a few runs (a probe must be in flight across 16 flips) */
	for (int i = 0; i < 5 && v == 0; i++)
		v = run_ring(true, switches_env(), &probes, &syncs);
	assert_true(v > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ring_switches_stay_whole),
	    cmocka_unit_test(early_slot_reuse_is_caught),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
