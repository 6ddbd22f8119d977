// SPDX-License-Identifier: MIT
/*
 * lease: the leading controller's contact with a majority of the voters; see lease.h.
 * The counting (lease_*) is plain state for the unit test; the probers (lease_run_*) are
 * one thread per slot of the voters' list and a watch thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "lease.h"
#include "log.h"

void lease_init(struct lease *l, uint64_t self, int lease_ms)
{
	memset(l, 0, sizeof(*l));
	l->self = self;
	l->lease_ms = lease_ms;
	l->self_voter = true; /* until the members say otherwise */
}

void lease_lead(struct lease *l, bool leading, int64_t now)
{
	if (leading && !l->leading) {
		for (size_t i = 0; i < l->n; i++) {
			l->v[i].contact_ms = now;
			l->v[i].silent = false;
		}
	}
	l->leading = leading;
}

static const struct lease_voter *find(const struct lease *l, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

int lease_members(struct lease *l, const struct dq_node_info *m, size_t n, int64_t now)
{
	struct lease_voter v[XDROP_LEASE_MAX_VOTERS] = {{0}};
	size_t k = 0;
	bool self_voter = false;

	for (size_t i = 0; i < n; i++) {
		const struct lease_voter *old = find(l, m[i].id);

		if (m[i].role != XDROP_DQ_VOTER)
			continue;
		if (m[i].id == l->self) {
			self_voter = true;
			continue;
		}
		if (k == XDROP_LEASE_MAX_VOTERS)
			return -E2BIG;
		v[k] = old ? *old : (struct lease_voter){.id = m[i].id, .contact_ms = now};
		memcpy(v[k].address, m[i].address, sizeof(v[k].address));
		k++;
	}
	memcpy(l->v, v, k * sizeof(v[0]));
	l->n = k;
	l->self_voter = self_voter;
	return 0;
}

void lease_answer(struct lease *l, uint64_t id, int64_t asked_ms, bool ok)
{
	struct lease_voter *v = (struct lease_voter *)find(l, id);

	if (!v || asked_ms < v->contact_ms)
		return;
	if (ok) {
		v->contact_ms = asked_ms;
		v->silent = false;
	} else {
		v->silent = true;
	}
}

bool lease_holds(const struct lease *l, int64_t now)
{
	size_t voters = l->n + (l->self_voter ? 1 : 0), heard = l->self_voter ? 1 : 0;

	if (!l->leading)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i].silent || now - l->v[i].contact_ms < l->lease_ms)
			heard++;
	return 2 * heard > voters;
}

/* ---- the probers ------------------------------------------------------------------- */

struct slot {
	struct lease_run *r;
	size_t i; /* the index in the voters' list this thread asks */
	pthread_t t;
	bool started;
};

struct lease_run {
	pthread_mutex_t lock; /* guards l */
	struct lease l;
	void (*on_lapse)(void *);
	void *arg;
	atomic_bool stop;
	pthread_t watch;
	bool watching;
	struct slot slot[XDROP_LEASE_MAX_VOTERS];
};

static void sleep_until(int64_t when_ms)
{
	int64_t left = when_ms - clock_mono_ms();

	if (left > 0)
		nanosleep(
		    &(struct timespec){.tv_sec = left / 1000, .tv_nsec = left % 1000 * 1000000L},
		    NULL);
}

/*
 * Asks the node at address who leads, on *c (opened first when NULL) within
 * XDROP_LEASE_PROBE_TIMEOUT_MS: true when it names self. A connection that failed is
 * closed (*c NULL): the next question connects again.
 */
static bool ask(struct dq_conn **c, const char *address, uint64_t self)
{
	struct dq_conn_opts o = {.sz = sizeof(o),
				 .connect_timeout_ms = XDROP_LEASE_PROBE_TIMEOUT_MS,
				 .call_timeout_ms = XDROP_LEASE_PROBE_TIMEOUT_MS};
	struct dq_node_info who = {0};
	int64_t t0 = clock_mono_ms(), left;
	int rc = 0;

	if (!*c)
		rc = dq_conn_open(c, address, &o, NULL, 0);
	left = XDROP_LEASE_PROBE_TIMEOUT_MS - (clock_mono_ms() - t0);
	if (rc == 0 && left <= 0)
		rc = -ETIMEDOUT;
	if (rc == 0) {
		dq_conn_set_call_timeout(*c, (int)left);
		rc = dq_leader(*c, &who);
	}
	if (rc && *c) {
		dq_conn_close(*c);
		*c = NULL;
	}
	return rc == 0 && who.id == self;
}

/*
 * A slot's thread: while the node leads and the voters' list has an entry at its index,
 * asks that voter every XDROP_LEASE_PROBE_MS (at once after a question that took longer)
 * and hands the answer to the lease. Its connection follows the entry's address and is
 * kept only while there is someone to ask.
 */
static void *probe(void *arg)
{
	struct slot *sl = arg;
	struct lease_run *r = sl->r;
	struct dq_conn *c = NULL;
	char address[XDROP_DQ_MAX_ADDRESS] = "";

	while (!atomic_load(&r->stop)) {
		int64_t t = clock_mono_ms();
		uint64_t id = 0;
		bool ok;

		pthread_mutex_lock(&r->lock);
		if (r->l.leading && sl->i < r->l.n) {
			id = r->l.v[sl->i].id;
			if (strcmp(address, r->l.v[sl->i].address) != 0) {
				dq_conn_close(c);
				c = NULL;
				memcpy(address, r->l.v[sl->i].address, sizeof(address));
			}
		}
		pthread_mutex_unlock(&r->lock);
		if (!id) { /* nothing to ask: no connection kept meanwhile */
			dq_conn_close(c);
			c = NULL;
			address[0] = '\0';
		} else {
			ok = ask(&c, address, r->l.self);
			pthread_mutex_lock(&r->lock);
			lease_answer(&r->l, id, t, ok);
			pthread_mutex_unlock(&r->lock);
		}
		sleep_until(t + XDROP_LEASE_PROBE_MS);
	}
	dq_conn_close(c);
	return NULL;
}

/* The watch: each XDROP_LEASE_CHECK_MS, a lapse while leading calls on_lapse (once per
 * lapse) and is logged, as is the lease held again while still leading (a node that
 * stepped down meanwhile: the role watcher logs that). */
static void *watch(void *arg)
{
	struct lease_run *r = arg;
	bool held = true;

	while (!atomic_load(&r->stop)) {
		bool now, leading;

		pthread_mutex_lock(&r->lock);
		now = lease_holds(&r->l, clock_mono_ms());
		leading = r->l.leading;
		pthread_mutex_unlock(&r->lock);
		if (held && !now) {
			log_warn("cluster: node %llu's lease lapsed: a majority of the voters has "
				 "not named it leader for %d ms; the store refuses calls",
				 (unsigned long long)r->l.self, XDROP_LEASE_MS);
			r->on_lapse(r->arg);
		} else if (!held && now && leading) {
			log_info("cluster: node %llu's lease holds again: a majority of the voters "
				 "names it leader; the store takes calls",
				 (unsigned long long)r->l.self);
		}
		held = now;
		sleep_until(clock_mono_ms() + XDROP_LEASE_CHECK_MS);
	}
	return NULL;
}

int lease_run_start(struct lease_run **out, uint64_t self, void (*on_lapse)(void *), void *arg)
{
	struct lease_run *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	lease_init(&r->l, self, XDROP_LEASE_MS);
	r->on_lapse = on_lapse;
	r->arg = arg;
	for (size_t i = 0; i < XDROP_LEASE_MAX_VOTERS; i++)
		r->slot[i] = (struct slot){.r = r, .i = i};
	rc = -pthread_create(&r->watch, NULL, watch, r);
	r->watching = rc == 0;
	if (rc) {
		lease_run_stop(r);
		return rc;
	}
	*out = r;
	return 0;
}

void lease_run_update(struct lease_run *r, bool leading, const struct dq_node_info *m, size_t n)
{
	int64_t now = clock_mono_ms();

	pthread_mutex_lock(&r->lock);
	if (m && lease_members(&r->l, m, n, now) != 0)
		log_warn("cluster: more than %d other voters: the lease keeps the former list",
			 XDROP_LEASE_MAX_VOTERS);
	lease_lead(&r->l, leading, now);
	/* a thread per voter, started when the list first reaches it; kept until the end */
	for (size_t i = 0; i < r->l.n; i++) {
		struct slot *sl = &r->slot[i];

		if (!sl->started && pthread_create(&sl->t, NULL, probe, sl) == 0)
			sl->started = true;
	}
	pthread_mutex_unlock(&r->lock);
}

bool lease_run_holds(struct lease_run *r)
{
	bool holds;

	if (!r)
		return true;
	pthread_mutex_lock(&r->lock);
	holds = lease_holds(&r->l, clock_mono_ms());
	pthread_mutex_unlock(&r->lock);
	return holds;
}

void lease_run_stop(struct lease_run *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->watching)
		pthread_join(r->watch, NULL);
	for (size_t i = 0; i < XDROP_LEASE_MAX_VOTERS; i++)
		if (r->slot[i].started)
			pthread_join(r->slot[i].t, NULL);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
