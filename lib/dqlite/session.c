// SPDX-License-Identifier: MIT
/*
 * dqlite/session: a database reached through the current leader, reconnected and retried
 * as session.h says. One loop (run) serves every call: connect if needed, run the call,
 * and on failure keep the sentence, drop the connection if the error calls for it, and go
 * round again only when the call may run twice and time is left.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dqlite/session.h"

#define XDROP_DQ_RETRY_PAUSE_MS 20 /* between two attempts of one call */
#define XDROP_DQ_GATE_POLL_MS	50 /* dq_session_open waiting for the gate to open */

/* dq_session_set_gate's hook: set before the sessions are made, read by their threads. */
static bool (*gate_fn)(void *arg);
static void *gate_arg;

/* Every open session, for dq_session_cut_all (which runs on another thread than theirs):
 * a session's connection is changed and cut only under reg_lock, so that a cut never hits
 * a socket the session has already closed (and the kernel may have given to another). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dq_session *reg_head;

struct dq_session {
	char **addrs;
	size_t naddrs;
	char *database;
	struct dq_conn_opts conn;
	int retry_ms;
	struct dq_conn *c; /* the leader's, with the database open; NULL when none */
	uint32_t db;
	bool cut; /* dq_session_cut_all shut c down: connect again before the next call */
	struct dq_session *next, **pprev; /* in reg_head's list once open */
	char why[XDROP_DQ_MAX_WHY];
};

/* One call on the leader's connection. */
struct call {
	bool read_only;
	int (*fn)(struct dq_conn *c, uint32_t db, struct call *call);
	const char *sql;
	const struct dq_value *params;
	unsigned n;
	struct dq_result *res;
	struct dq_rows *rows;
};

/* Makes c (NULL: none) s's connection and closes the one it had. */
static void set_conn(struct dq_session *s, struct dq_conn *c)
{
	struct dq_conn *old;

	pthread_mutex_lock(&reg_lock);
	old = s->c;
	s->c = c;
	s->cut = false;
	pthread_mutex_unlock(&reg_lock);
	dq_conn_close(old);
}

static bool was_cut(struct dq_session *s)
{
	bool cut;

	pthread_mutex_lock(&reg_lock);
	cut = s->cut;
	pthread_mutex_unlock(&reg_lock);
	return cut;
}

void dq_session_cut_all(void)
{
	pthread_mutex_lock(&reg_lock);
	for (struct dq_session *s = reg_head; s; s = s->next) {
		if (s->c && !s->cut)
			dq_conn_shutdown(s->c);
		s->cut = s->c != NULL;
	}
	pthread_mutex_unlock(&reg_lock);
}

void dq_session_close(struct dq_session *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&reg_lock);
	if (s->pprev) {
		*s->pprev = s->next;
		if (s->next)
			s->next->pprev = s->pprev;
	}
	pthread_mutex_unlock(&reg_lock);
	set_conn(s, NULL);
	for (size_t i = 0; s->addrs && i < s->naddrs; i++)
		free(s->addrs[i]);
	free(s->addrs);
	free(s->database);
	free(s);
}

void dq_session_set_gate(bool (*fn)(void *arg), void *arg)
{
	gate_fn = fn;
	gate_arg = arg;
}

bool dq_session_gate_open(void)
{
	return !gate_fn || gate_fn(gate_arg);
}

/* Connects s to the leader and opens the database, once, within deadline_ms. */
static int attach_once(struct dq_session *s, int64_t deadline_ms)
{
	struct dq_conn *c = NULL;
	int rc = dq_leader_connect(&c, (const char *const *)s->addrs, s->naddrs, &s->conn,
				   deadline_ms, s->why, sizeof(s->why));

	if (rc)
		return rc;
	rc = dq_open(c, s->database, &s->db);
	if (rc) {
		dq_conn_why(c, rc, s->why, sizeof(s->why));
		dq_conn_close(c);
		return rc;
	}
	set_conn(s, c);
	return 0;
}

/*
 * Makes sure s has a leader connection with the database open, trying until deadline_ms
 * in slices of XDROP_DQ_ATTACH_SLICE_MS. A closed gate (no leader known where the gate
 * looks) drops the connection and fails at once with -EHOSTUNREACH, also between slices:
 * a leader on the far side of a cut link is not waited for once the local node has seen
 * it go. With wait_gate, a closed gate is waited for instead, up to deadline_ms.
 */
static int attach(struct dq_session *s, int64_t deadline_ms, bool wait_gate)
{
	int rc = -ETIMEDOUT;

	for (;;) {
		int64_t now = clock_mono_ms();

		if (!dq_session_gate_open()) {
			set_conn(s, NULL);
			snprintf(s->why, sizeof(s->why), "%s", XDROP_DQ_NO_LEADER);
			if (!wait_gate || now + XDROP_DQ_GATE_POLL_MS >= deadline_ms)
				return -EHOSTUNREACH;
			nanosleep(&(struct timespec){.tv_nsec = XDROP_DQ_GATE_POLL_MS * 1000000L},
				  NULL);
			continue;
		}
		if (s->c && !dq_conn_broken(s->c) && !was_cut(s))
			return 0;
		if (now >= deadline_ms)
			return rc;
		set_conn(s, NULL);
		rc = attach_once(s, now + XDROP_DQ_ATTACH_SLICE_MS < deadline_ms
					? now + XDROP_DQ_ATTACH_SLICE_MS
					: deadline_ms);
		if (rc == 0)
			return 0;
	}
}

void dq_session_drop(struct dq_session *s, int rc)
{
	if (s->c && (rc == -EREMCHG || rc == -ECONNABORTED || dq_conn_broken(s->c)))
		set_conn(s, NULL);
}

static void pause_before_retry(int64_t deadline_ms)
{
	struct timespec ts = {.tv_nsec = XDROP_DQ_RETRY_PAUSE_MS * 1000000L};

	if (deadline_ms - clock_mono_ms() > XDROP_DQ_RETRY_PAUSE_MS)
		nanosleep(&ts, NULL);
}

static int run(struct dq_session *s, struct call *call)
{
	int64_t deadline = clock_mono_ms() + s->retry_ms;

	for (;;) {
		bool broken, again;
		int rc = attach(s, deadline, false);

		if (rc)
			return rc;
		rc = call->fn(s->c, s->db, call);
		if (rc == 0) {
			s->why[0] = '\0';
			return 0;
		}
		broken = dq_conn_broken(s->c);
		dq_conn_why(s->c, rc, s->why, sizeof(s->why));
		dq_session_drop(s, rc);
		/* Not the leader: nothing ran. Otherwise only a read may run twice. */
		again = rc == -EREMCHG || (call->read_only && (rc == -ECONNABORTED || broken));
		if (!again || clock_mono_ms() >= deadline)
			return rc;
		pause_before_retry(deadline);
	}
}

int dq_session_open(struct dq_session **out, const struct dq_session_opts *opts)
{
	struct dq_session *s;
	int rc = -ENOMEM;

	*out = NULL;
	if (!opts || !opts->addrs || !opts->naddrs || !opts->database)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->conn = opts->conn;
	s->retry_ms = opts->retry_ms > 0 ? opts->retry_ms : XDROP_DQ_RETRY_MS;
	s->addrs = calloc(opts->naddrs, sizeof(*s->addrs));
	s->database = strdup(opts->database);
	if (!s->addrs || !s->database)
		goto fail;
	for (; s->naddrs < opts->naddrs; s->naddrs++) {
		s->addrs[s->naddrs] = strdup(opts->addrs[s->naddrs]);
		if (!s->addrs[s->naddrs])
			goto fail;
	}
	pthread_mutex_lock(&reg_lock);
	s->next = reg_head;
	s->pprev = &reg_head;
	if (reg_head)
		reg_head->pprev = &s->next;
	reg_head = s;
	pthread_mutex_unlock(&reg_lock);
	rc = attach(s, clock_mono_ms() + s->retry_ms, true);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	dq_session_close(s);
	return rc;
}

int dq_session_conn(struct dq_session *s, struct dq_conn **c, uint32_t *db)
{
	int rc = attach(s, clock_mono_ms() + s->retry_ms, false);

	*c = rc ? NULL : s->c;
	*db = s->db;
	return rc;
}

static int exec_fn(struct dq_conn *c, uint32_t db, struct call *call)
{
	return dq_exec_sql(c, db, call->sql, call->params, call->n, call->res);
}

static int query_fn(struct dq_conn *c, uint32_t db, struct call *call)
{
	return dq_query_sql(c, db, call->sql, call->params, call->n, call->rows);
}

int dq_session_exec_sql(struct dq_session *s, const char *sql, const struct dq_value *params,
			unsigned n, struct dq_result *res)
{
	struct call call = {.fn = exec_fn, .sql = sql, .params = params, .n = n, .res = res};

	return run(s, &call);
}

int dq_session_query_sql(struct dq_session *s, const char *sql, const struct dq_value *params,
			 unsigned n, struct dq_rows *rows)
{
	struct call call = {
	    .read_only = true, .fn = query_fn, .sql = sql, .params = params, .n = n, .rows = rows};

	return run(s, &call);
}

const char *dq_session_why(const struct dq_session *s)
{
	return s->why;
}
