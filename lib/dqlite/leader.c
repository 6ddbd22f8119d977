// SPDX-License-Identifier: MIT
/*
 * dqlite/client: leader discovery, joining and leaving (see client.h).
 *
 * Any voter answers LEADER with the leader it knows (id 0 and "" during an election, or
 * from a node that is not a voter). A node that answers with another address may be
 * behind, so the client connects there and asks again: only a node that names itself is
 * taken as the leader. Rounds over the list repeat with a pause that grows from
 * XDROP_DQ_ROUND_PAUSE_MIN_MS to XDROP_DQ_ROUND_PAUSE_MAX_MS until the deadline, which
 * covers an election after the leader died.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dqlite/client.h"

#define XDROP_DQ_ROUND_PAUSE_MIN_MS 25
#define XDROP_DQ_ROUND_PAUSE_MAX_MS 500

/* The options of a probe: connecting and asking LEADER each within the connect timeout
 * (a node that does not answer that fast is passed over), cut to what is left before
 * deadline_ms. */
static struct dq_conn_opts probe_opts(const struct dq_conn_opts *opts, int64_t deadline_ms)
{
	struct dq_conn_opts o = {.sz = sizeof(o)};
	int64_t left = deadline_ms - clock_mono_ms();

	if (opts)
		o = *opts;
	if (o.connect_timeout_ms <= 0)
		o.connect_timeout_ms = XDROP_DQ_CONNECT_TIMEOUT_MS;
	if (left < 1)
		left = 1;
	if (o.connect_timeout_ms > left)
		o.connect_timeout_ms = (int)left;
	o.call_timeout_ms = o.connect_timeout_ms;
	return o;
}

/* Connects to address and asks who leads: 0 with *c open, or an error (why set). */
static int ask(const char *address, const struct dq_conn_opts *opts, int64_t deadline_ms,
	       struct dq_conn **c, struct dq_node_info *leader, char *why, size_t why_len)
{
	struct dq_conn_opts o = probe_opts(opts, deadline_ms);
	int rc = dq_conn_open(c, address, &o, why, why_len);

	if (rc)
		return rc;
	rc = dq_leader(*c, leader);
	if (rc) {
		snprintf(why, why_len, "dqlite node %s: LEADER: %s", address, strerror(-rc));
		dq_conn_close(*c);
		*c = NULL;
	}
	return rc;
}

/* One address: 0 and *out when it leads or names a leader that confirms; else an error. */
static int try_address(const char *address, const struct dq_conn_opts *opts, int64_t deadline_ms,
		       struct dq_conn **out, char *why, size_t why_len)
{
	struct dq_node_info leader;
	struct dq_conn *c = NULL;
	char named[XDROP_DQ_MAX_ADDRESS];
	int rc = ask(address, opts, deadline_ms, &c, &leader, why, why_len);

	if (rc)
		return rc;
	if (leader.id == 0 || !leader.address[0]) {
		snprintf(why, why_len, "dqlite node %s knows no leader", address);
		dq_conn_close(c);
		return -EAGAIN;
	}
	if (strcmp(leader.address, address) == 0)
		goto found;
	dq_conn_close(c);
	snprintf(named, sizeof(named), "%s", leader.address);
	rc = ask(named, opts, deadline_ms, &c, &leader, why, why_len);
	if (rc)
		return rc;
	if (strcmp(leader.address, named) != 0) {
		snprintf(why, why_len, "dqlite node %s, named leader by %s, names %s", named,
			 address, leader.address[0] ? leader.address : "no leader");
		dq_conn_close(c);
		return -EAGAIN;
	}
found:
	dq_conn_set_call_timeout(c, opts && opts->call_timeout_ms > 0 ? opts->call_timeout_ms
								      : XDROP_DQ_CALL_TIMEOUT_MS);
	*out = c;
	return 0;
}

static void pause_ms(int64_t ms, int64_t deadline_ms)
{
	int64_t left = deadline_ms - clock_mono_ms();
	struct timespec ts;

	if (ms > left)
		ms = left;
	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

int dq_leader_connect(struct dq_conn **out, const char *const *addrs, size_t n,
		      const struct dq_conn_opts *opts, int64_t deadline_ms, char *why,
		      size_t why_len)
{
	char last[XDROP_DQ_MAX_WHY] = "no address was tried";
	int64_t pause = XDROP_DQ_ROUND_PAUSE_MIN_MS;

	*out = NULL;
	if (!addrs || n == 0)
		return -EINVAL;
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			if (clock_mono_ms() >= deadline_ms)
				goto timeout;
			if (try_address(addrs[i], opts, deadline_ms, out, last, sizeof(last)) == 0)
				return 0;
		}
		if (clock_mono_ms() >= deadline_ms)
			goto timeout;
		pause_ms(pause, deadline_ms);
		pause = pause * 2 > XDROP_DQ_ROUND_PAUSE_MAX_MS ? XDROP_DQ_ROUND_PAUSE_MAX_MS
								: pause * 2;
	}
timeout:
	if (why)
		snprintf(why, why_len, "no dqlite leader among %zu node(s): %s", n, last);
	return -ETIMEDOUT;
}

/* What joining still needs, from the cluster's configuration: 0 done, 1 ASSIGN, 2 ADD and
 * ASSIGN, or -EEXIST. */
static int join_step(struct dq_conn *c, uint64_t id, const char *address, enum dq_role role)
{
	struct dq_node_info *nodes = NULL;
	size_t n = 0;
	int rc = dq_cluster(c, &nodes, &n);

	if (rc)
		return rc;
	rc = 2;
	for (size_t i = 0; i < n; i++) {
		bool same_id = nodes[i].id == id, same_addr = !strcmp(nodes[i].address, address);

		if (same_id != same_addr) {
			rc = -EEXIST;
			break;
		}
		if (same_id)
			rc = nodes[i].role == (uint64_t)role ? 0 : 1;
	}
	free(nodes);
	return rc;
}

static int join_once(struct dq_conn *c, uint64_t id, const char *address, enum dq_role role)
{
	int rc = join_step(c, id, address, role);

	if (rc == 2) {
		rc = dq_add(c, id, address);
		if (rc == 0)
			rc = 1;
	}
	if (rc == 1)
		rc = dq_assign(c, id, role);
	return rc;
}

/* Removes node id unless the cluster no longer lists it. */
static int leave_once(struct dq_conn *c, uint64_t id, const char *unused, enum dq_role role)
{
	struct dq_node_info *nodes = NULL;
	size_t n = 0;
	int rc = dq_cluster(c, &nodes, &n);

	for (size_t i = 0; rc == 0 && i < n; i++)
		if (nodes[i].id == id)
			rc = 1;
	free(nodes);
	return rc == 1 ? dq_remove(c, id) : rc;
}

typedef int (*member_fn)(struct dq_conn *c, uint64_t id, const char *address, enum dq_role role);

/* Runs fn on the current leader until it succeeds, fails for good (-EEXIST, -EINVAL) or
 * deadline_ms passes; a leader change, a busy node or a lost connection means a new round. */
static int on_leader(const char *const *addrs, size_t n, const struct dq_conn_opts *opts,
		     member_fn fn, uint64_t id, const char *address, enum dq_role role,
		     int64_t deadline_ms, char *why, size_t why_len)
{
	char last[XDROP_DQ_MAX_WHY] = "";
	int rc;

	do {
		struct dq_conn *c = NULL;

		rc = dq_leader_connect(&c, addrs, n, opts, deadline_ms, last, sizeof(last));
		if (rc == 0) {
			char w[XDROP_DQ_MAX_WHY - 32];

			rc = fn(c, id, address, role);
			if (rc && rc != -EEXIST)
				snprintf(last, sizeof(last), "node %llu: %s",
					 (unsigned long long)id, dq_conn_why(c, rc, w, sizeof(w)));
			dq_conn_close(c);
		}
		if (rc == -EEXIST)
			snprintf(
			    last, sizeof(last),
			    "node %llu (%s): the cluster has that id or address for another node",
			    (unsigned long long)id, address);
		else if (rc)
			pause_ms(XDROP_DQ_ROUND_PAUSE_MAX_MS / 5, deadline_ms);
	} while (rc && rc != -EEXIST && rc != -EINVAL && clock_mono_ms() < deadline_ms);
	if (rc && why)
		snprintf(why, why_len, "%s", last);
	return rc;
}

int dq_join(const char *const *addrs, size_t n, const struct dq_conn_opts *opts, uint64_t id,
	    const char *address, enum dq_role role, int64_t deadline_ms, char *why, size_t why_len)
{
	if (!address)
		return -EINVAL;
	return on_leader(addrs, n, opts, join_once, id, address, role, deadline_ms, why, why_len);
}

int dq_leave(const char *const *addrs, size_t n, const struct dq_conn_opts *opts, uint64_t id,
	     int64_t deadline_ms, char *why, size_t why_len)
{
	return on_leader(addrs, n, opts, leave_once, id, "", XDROP_DQ_VOTER, deadline_ms, why,
			 why_len);
}
