/* SPDX-License-Identifier: MIT */
/*
 * lease: the leading controller's own check that a majority of the cluster's voters still
 * hears it (issue 18; docs/dqlite.md, "The leader's lease").
 *
 * libraft's leader steps down only one to two election timeouts after it lost the
 * majority, and a write sent to it meanwhile waits for a commit that cannot come. While
 * this controller's node leads, one thread per other voter asks that voter's node who
 * leads (LEADER over the cluster address, a kept connection) every XDROP_LEASE_PROBE_MS,
 * each question bounded by XDROP_LEASE_PROBE_TIMEOUT_MS. A voter that names this node is
 * in contact as of the moment it was asked. The lease holds while a majority of the
 * voters (this node counting itself when it is one) is in contact within the last
 * XDROP_LEASE_MS, or has not yet been asked since it was last in contact: a prober late
 * for want of CPU is not evidence of a cut. When it lapses the store's gate closes
 * (controller/cluster.c) and the calls waiting in dqlite are cut (dq_session_cut_all).
 *
 * The lease only makes the cut-off side give up early: writes still commit only through
 * Raft, so a wrong answer here could refuse a write, never lose or fork one.
 *
 * Timings (election timeout 750 ms, XDROP_CLUSTER_LATENCY_MS): a voter in contact at time
 * t was asked again at t + 100 and that question failed by t + 350 at the latest, so a
 * cut made at T0 closes the gate by T0 + 450 (the last contact is at most T0), plus one
 * XDROP_LEASE_CHECK_MS for the calls in flight. A spurious lapse needs every voter but a
 * minority to leave four questions in a row (450 ms) unanswered within 250 ms each while
 * the prober runs: a node that slow misses Raft's heartbeats (75 ms) as well.
 */
#ifndef XDROP_CONTROLLER_LEASE_H
#define XDROP_CONTROLLER_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dqlite/client.h"

#define XDROP_LEASE_MS		     450 /* < the election timeout (750 ms), with margin */
#define XDROP_LEASE_PROBE_MS	     100
#define XDROP_LEASE_PROBE_TIMEOUT_MS 250 /* PROBE_MS + this < LEASE_MS: a failure seen in time */
#define XDROP_LEASE_CHECK_MS	     20	 /* the watch for a lapse (to cut the calls in flight) */
#define XDROP_LEASE_MAX_VOTERS	     16

/* One other voter, as the lease counts it. */
struct lease_voter {
	uint64_t id;
	char address[XDROP_DQ_MAX_ADDRESS];
	int64_t contact_ms; /* it last named this node leader when asked at this time */
	bool silent;	    /* a question asked after contact_ms went unanswered */
};

/* The lease's state (no threads, no I/O: the caller's clock and lock). */
struct lease {
	uint64_t self;
	int lease_ms;
	bool leading, self_voter;
	size_t n; /* other voters */
	struct lease_voter v[XDROP_LEASE_MAX_VOTERS];
};

void lease_init(struct lease *l, uint64_t self, int lease_ms);

/* The node leads (or not) at now: on becoming leader every voter counts as in contact
 * (the node has just won the majority's votes). */
void lease_lead(struct lease *l, bool leading, int64_t now);

/* The cluster's members as the leader lists them: its voters replace the counted ones. A
 * voter seen before keeps its contact; a new one counts as in contact from now until it
 * has been asked. -E2BIG (nothing changed) beyond XDROP_LEASE_MAX_VOTERS others. */
int lease_members(struct lease *l, const struct dq_node_info *m, size_t n, int64_t now);

/* The answer of voter id to a question asked at asked_ms: named this node (ok) or not
 * (no answer in time, another leader, none). An answer older than the contact is ignored. */
void lease_answer(struct lease *l, uint64_t id, int64_t asked_ms, bool ok);

/* True while the node does not lead, or leads with the lease held at now. */
bool lease_holds(const struct lease *l, int64_t now);

/* ---- the probers -------------------------------------------------------------------- */

struct lease_run;

/* Starts the probers and the watch for a lapse; on_lapse(arg) runs on the watch's thread
 * each time the lease lapses while leading. 0 and *out, or -errno. */
int lease_run_start(struct lease_run **out, uint64_t self, void (*on_lapse)(void *), void *arg);

/* lease_lead and lease_members under the run's lock (members may be NULL: unchanged). */
void lease_run_update(struct lease_run *r, bool leading, const struct dq_node_info *m, size_t n);

/* lease_holds now, under the run's lock (true for NULL). */
bool lease_run_holds(struct lease_run *r);

/* Stops and frees (NULL-tolerant). */
void lease_run_stop(struct lease_run *r);

#endif
