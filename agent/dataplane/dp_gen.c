// SPDX-License-Identifier: MIT
/*
 * dp_gen: the primitives of the atomic switch (bpf/xdrop.h, "Atomic switches"): the config
 * ring, one slot per generation modulo XDROP_CFG_SLOTS, written from the model's entry
 * counts; the generation word, mmapped and flipped with one release store; and the RCU
 * grace periods after which no program still runs with an older generation. See dp_priv.h.
 *
 * Grace periods are asynchronous: a flip asks for one (dp_grace_request) and a helper
 * thread waits for it, so successive flips need not wait for each other. The thread loops:
 * it takes the latest generation asked for, waits one grace period (a map-in-map update
 * returns only after one), and records that generation as done: that grace period began
 * after its flip, so no program can still run with any generation before it. One grace
 * period so covers every flip made before it began. A flip waits only when it would reuse
 * the config slot of a generation that may still be running (dp_slot_wait).
 */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

uint32_t dp_active_bits(const struct dataplane *dp, int table, int kind)
{
	uint32_t bits = 0;

	for (int b = 0; b < XDROP_NCOMBOS; b++)
		if (dp->count[table][kind][b])
			bits |= 1u << b;
	return bits;
}

static uint32_t cfg_slot(uint64_t gen)
{
	return (uint32_t)(gen & (XDROP_CFG_SLOTS - 1));
}

int dp_config_write(struct dataplane *dp, uint64_t gen)
{
	struct xdrop_config c, cur;
	uint32_t cidx = cfg_slot(dp->gen), idx = cfg_slot(gen);
	int fd = fd_of(dp->skel->maps.xdrop_cfgring);

	memset(&c, 0, sizeof(c));
	for (int k = 0; k < XDROP_NKINDS; k++) {
		c.exact_active[k] = dp_active_bits(dp, TBL_EXACT, k);
		c.cidr_active[k] = dp_active_bits(dp, TBL_CIDR, k);
	}
	c.sample_every = __atomic_load_n(&dp->sample_every, __ATOMIC_RELAXED);
	c.gen = gen;
	/* flags (fast-forward, protection) carry over from the active slot */
	if (bpf_map_lookup_elem(fd, &cidx, &cur) == 0)
		c.flags = cur.flags;
	if (bpf_map_update_elem(fd, &idx, &c, BPF_ANY))
		return -errno;
	/* a program of the previous layout still reads the two-buffer map (dp_migrate.c) */
	idx = (uint32_t)(gen & 1);
	if (dp->legacy_cfg >= 0 && bpf_map_update_elem(dp->legacy_cfg, &idx, &c, BPF_ANY))
		return -errno;
	return 0;
}

/* One slot of one config map rewritten by edit. */
static int config_edit_one(int fd, uint32_t key, void (*edit)(struct xdrop_config *, void *),
			   void *arg)
{
	struct xdrop_config c;

	if (bpf_map_lookup_elem(fd, &key, &c))
		return -errno;
	edit(&c, arg);
	if (bpf_map_update_elem(fd, &key, &c, BPF_ANY))
		return -errno;
	return 0;
}

int dp_config_edit(struct dataplane *dp, void (*edit)(struct xdrop_config *, void *), void *arg)
{
	int fd = fd_of(dp->skel->maps.xdrop_cfgring), err = 0;

	for (uint32_t key = 0; key < XDROP_CFG_SLOTS && !err; key++)
		err = config_edit_one(fd, key, edit, arg);
	for (uint32_t key = 0; key < 2 && dp->legacy_cfg >= 0 && !err; key++)
		err = config_edit_one(dp->legacy_cfg, key, edit, arg);
	return err;
}

void dp_gen_store(struct dataplane *dp, uint64_t gen)
{
	__atomic_store_n(&dp->genp->gen, gen, __ATOMIC_RELEASE);
	dp->gen = gen;
}

/* One grace period, without counting it. */
static int grace_sync(struct dataplane *dp)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_counters), &zero, &dp->chunk_fd[0],
				BPF_ANY))
		return -errno;
	return 0;
}

/* Records that no program runs with a generation before gen any more. */
static void grace_done(struct dataplane *dp, uint64_t gen)
{
	struct dp_grace *g = &dp->grace;

	pthread_mutex_lock(&g->mu);
	if (gen > g->done)
		g->done = gen;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

int dp_grace_period(struct dataplane *dp)
{
	uint64_t gen = dp->gen;
	int err = grace_sync(dp);

	if (err)
		return err;
	__atomic_add_fetch(&dp->grace_periods, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&dp->grace_syncs, 1, __ATOMIC_RELAXED);
	grace_done(dp, gen);
	return 0;
}

static void *grace_thread(void *arg)
{
	struct dataplane *dp = arg;
	struct dp_grace *g = &dp->grace;
	uint64_t target;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->stop && g->requested <= g->done)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stop)
			break;
		target = g->requested;
		pthread_mutex_unlock(&g->mu);
		/* on failure (it cannot fail with a valid chunk fd) the generation is still
		 * marked done: waiting forever would stop every switch; the failure is
		 * logged by the next synchronous grace period that fails the same way */
		grace_sync(dp);
		__atomic_add_fetch(&dp->grace_syncs, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&g->mu);
		if (target > g->done)
			g->done = target;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

void dp_grace_init(struct dataplane *dp)
{
	struct dp_grace *g = &dp->grace;

	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->inited = true;
}

void dp_grace_stop(struct dataplane *dp)
{
	struct dp_grace *g = &dp->grace;

	if (!g->inited)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->th, NULL);
		g->started = false;
	}
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	g->inited = false;
}

int dp_grace_request(struct dataplane *dp, uint64_t gen)
{
	struct dp_grace *g = &dp->grace;
	int err = 0;

	pthread_mutex_lock(&g->mu);
	if (!g->started) {
		err = -pthread_create(&g->th, NULL, grace_thread, dp);
		g->started = err == 0;
	}
	if (gen > g->requested)
		g->requested = gen;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	__atomic_add_fetch(&dp->grace_periods, 1, __ATOMIC_RELAXED);
	return err;
}

bool dp_grace_elapsed(struct dataplane *dp, uint64_t gen)
{
	struct dp_grace *g = &dp->grace;
	bool r;

	pthread_mutex_lock(&g->mu);
	r = g->done >= gen;
	pthread_mutex_unlock(&g->mu);
	return r;
}

int dp_grace_wait(struct dataplane *dp, uint64_t gen)
{
	struct dp_grace *g = &dp->grace;
	bool thread;

	if (dp_grace_elapsed(dp, gen))
		return 0;
	__atomic_add_fetch(&dp->grace_waits, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&g->mu);
	thread = g->started && g->requested >= gen;
	while (thread && g->done < gen)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	/* never asked for (or no thread): one grace period from here covers it */
	return thread ? 0 : dp_grace_period(dp);
}

int dp_slot_wait(struct dataplane *dp, uint64_t next)
{
	/* the slot of generation next - XDROP_CFG_SLOTS is free once a grace period begun
	 * after the flip that followed it has passed; with the two-buffer map of an older
	 * program still in use, that of next - 2 */
	uint64_t depth = dp->legacy_cfg >= 0 ? 2 : XDROP_CFG_SLOTS;

	if (dp->o.test_ring_early || next < depth)
		return 0;
	return dp_grace_wait(dp, next - depth + 1);
}

uint64_t dataplane_grace_periods(const struct dataplane *dp)
{
	return __atomic_load_n(&dp->grace_periods, __ATOMIC_RELAXED);
}

void dataplane_grace_stats(const struct dataplane *dp, uint64_t *waits, uint64_t *syncs)
{
	*waits = __atomic_load_n(&dp->grace_waits, __ATOMIC_RELAXED);
	*syncs = __atomic_load_n(&dp->grace_syncs, __ATOMIC_RELAXED);
}
