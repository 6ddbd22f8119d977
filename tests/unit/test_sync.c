// SPDX-License-Identifier: MIT
/*
 * test_sync: the agent's snapshot fetch (agent/sync.c) against a fake controller that
 * serves SyncService.GetSnapshot in chunks, into a real rule set on an unpinned data plane
 * (tests/lib/testdp.h). The chunks after the first are fetched several at once (the fake
 * holds a call until a second one is in flight, so a one-at-a-time fetch shows as one) and
 * staged in order: the set installed is the controller's, with its revision and hash. A
 * snapshot whose revision went away mid-fetch is fetched again from chunk 0; a chunk that
 * keeps failing leaves the old set in force. Needs root (BPF). Prints TAP.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "log.h"
#include "rulehash.h"
#include "ruleset.h"
#include "sync.h"
#include "testdp.h"
#include "tmpdir.h"

#define N_RULES	  2500
#define PER_CHUNK 250 /* 10 chunks */
#define REV	  7

static struct dataplane *dp;

/* The fake controller. */
static struct {
	Xdrop__V1__Rule r[N_RULES], *p[N_RULES];
	char ip[N_RULES][20], id[N_RULES][40];
	char hash[RULEHASH_HEX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned in_flight, max_in_flight, zero_calls;
	int stale_chunk; /* answered FAILED_PRECONDITION once (-1: none) */
	int bad_chunk;	 /* always answered INTERNAL (-1: none) */
} fk = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void fake_set(void)
{
	struct rulehash h;
	uint8_t d[RULEHASH_LEN];

	rulehash_init(&h);
	for (int i = 0; i < N_RULES; i++) {
		xdrop__v1__rule__init(&fk.r[i]);
		snprintf(fk.ip[i], sizeof(fk.ip[i]), "10.77.%d.%d", i / 256, i % 256);
		snprintf(fk.id[i], sizeof(fk.id[i]), "snap-%05d", i);
		fk.r[i].id = fk.id[i];
		fk.r[i].src_ip = fk.ip[i];
		fk.r[i].action = "drop";
		fk.r[i].enabled = true;
		fk.p[i] = &fk.r[i];
		assert_int_equal(rulehash_rule_digest(&fk.r[i], d), 0);
		rulehash_add(&h, d);
	}
	rulehash_hex(&h, fk.hash);
}

/* Chunks after 0 wait (up to 2 s) for a second call in flight until one was seen. */
static void hold_for_company(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	while (fk.max_in_flight < 2 &&
	       pthread_cond_timedwait(&fk.cond, &fk.lock, &until) != ETIMEDOUT)
		;
}

static enum rpc_code get_snapshot(struct rpc_call *call, const ProtobufCMessage *r,
				  ProtobufCMessage *out, void *arg)
{
	const Xdrop__V1__SnapshotRequest *q = (const void *)r;
	Xdrop__V1__SnapshotChunk *c = (void *)out;
	uint32_t count = N_RULES / PER_CHUNK, i = q->chunk_index;
	enum rpc_code rc = RPC_OK;

	pthread_mutex_lock(&fk.lock);
	fk.zero_calls += i == 0;
	fk.in_flight++;
	if (fk.in_flight > fk.max_in_flight)
		fk.max_in_flight = fk.in_flight;
	pthread_cond_broadcast(&fk.cond);
	if (i > 0)
		hold_for_company();
	if ((int)i == fk.stale_chunk) {
		fk.stale_chunk = -1;
		rc = rpc_call_error(call, RPC_FAILED_PRECONDITION, "revision", "gone");
	} else if ((int)i == fk.bad_chunk) {
		rc = rpc_call_error(call, RPC_INTERNAL, NULL, "broken");
	}
	fk.in_flight--;
	pthread_mutex_unlock(&fk.lock);
	if (rc != RPC_OK)
		return rc;
	c->revision = REV;
	c->content_hash = fk.hash;
	c->chunk_index = i;
	c->chunk_count = count;
	c->total_rules = N_RULES;
	c->rules = fk.p + i * PER_CHUNK;
	c->n_rules = PER_CHUNK;
	return RPC_OK;
}

struct fixture {
	char dir[64], rpc_url[96], push_url[96];
	struct rpc_server *srv;
	struct ruleset *rs;
	struct sync *sync;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rpc_server_opts so = {.sz = sizeof(so), .workers = 8, .name = "fake-controller"};
	struct sync_opts o;

	if (!f || tmpdir_make(f->dir, sizeof(f->dir), "xdrop-sync") || testdp_load(dp, NULL) ||
	    ruleset_open(&f->rs, dp, f->dir))
		return -1;
	snprintf(f->rpc_url, sizeof(f->rpc_url), "ipc://%s/ctl.sock", f->dir);
	snprintf(f->push_url, sizeof(f->push_url), "ipc://%s/push.sock", f->dir); /* silent */
	so.url = f->rpc_url;
	if (rpc_server_open(&f->srv, &so) ||
	    rpc_server_register(f->srv, &xdrop__v1__sync_service__descriptor, "GetSnapshot",
				get_snapshot, NULL) ||
	    rpc_server_start(f->srv))
		return -1;
	o = (struct sync_opts){.node_id = "n1",
			       .node_key = "key-0123456789abcdef",
			       .rpc_url = f->rpc_url,
			       .push_url = f->push_url};
	if (sync_start(&f->sync, f->rs, &o))
		return -1;
	fk.in_flight = fk.max_in_flight = fk.zero_calls = 0;
	fk.stale_chunk = fk.bad_chunk = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sync_stop(f->sync);
	rpc_server_close(f->srv);
	ruleset_close(f->rs);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* sync_now, again while the subscriber's own start-up fetch (if any) runs. */
static int sync_once(struct fixture *f, struct rpc_status *st)
{
	int err;

	while ((err = sync_now(f->sync, st)) == -EBUSY)
		usleep(1000);
	return err;
}

static void test_chunks_in_flight_together(void **state)
{
	struct fixture *f = *state;
	struct rpc_status st = {0};
	char hash[RULEHASH_HEX];
	uint64_t rules, wl;

	assert_int_equal(sync_once(f, &st), 0);
	assert_int_equal(ruleset_revision(f->rs), REV);
	ruleset_hash(f->rs, hash);
	assert_string_equal(hash, fk.hash);
	ruleset_counts(f->rs, &rules, &wl);
	assert_int_equal(rules, N_RULES);
	assert_true(fk.max_in_flight >= 2); /* several chunks were asked for at once */
}

static void test_revision_gone_starts_over(void **state)
{
	struct fixture *f = *state;
	struct rpc_status st = {0};

	fk.stale_chunk = 6;
	assert_int_equal(sync_once(f, &st), 0);
	assert_int_equal(ruleset_revision(f->rs), REV);
	assert_true(fk.zero_calls >= 2); /* fetched again from chunk 0 */
}

static void test_failing_chunk_keeps_old_set(void **state)
{
	struct fixture *f = *state;
	struct rpc_status st = {0};
	uint64_t rules, wl;

	fk.bad_chunk = 8;
	assert_int_not_equal(sync_once(f, &st), 0);
	assert_int_equal(st.code, RPC_INTERNAL);
	assert_int_equal(ruleset_revision(f->rs), 0);
	ruleset_counts(f->rs, &rules, &wl);
	assert_int_equal(rules, 0);
}

static int group_setup(void **state)
{
	log_set_level(LOG_LEVEL_WARN);
	dp = testdp_open(false, false);
	fake_set();
	return dp ? 0 : -1;
}

static int group_teardown(void **state)
{
	dataplane_close(dp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_chunks_in_flight_together, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revision_gone_starts_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failing_chunk_keeps_old_set, setup, teardown),
	};

	return cmocka_run_group_tests_name("agent: snapshot fetch", tests, group_setup,
					   group_teardown);
}
