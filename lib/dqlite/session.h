/* SPDX-License-Identifier: MIT */
/*
 * dqlite/session: one database on a cluster, reached through whichever node leads.
 *
 * A session keeps the cluster's addresses, a connection to the current leader and the
 * database opened on it. When the leader changes or the connection breaks, the next call
 * finds the new leader and opens the database again. What a call may retry follows from
 * what dqlite tells it:
 *   - a query is read-only: it is retried after any leader change or connection failure
 *     until the session's retry time is spent;
 *   - a statement is retried only when the node refused it as not the leader (-EREMCHG,
 *     checked before anything runs). Leadership lost during it (-ECONNABORTED) or a
 *     connection that failed after the request was sent leave its outcome unknown: the
 *     error is returned, the connection dropped, and the caller decides (the replicated
 *     store checks its revision and idempotency key on the new leader).
 * Transactions span several calls on one connection and are the caller's to restart: a
 * leader change in the middle loses the transaction, and the next call starts afresh on
 * the new leader. A session is used by one thread at a time.
 */
#ifndef XDROP_DQLITE_SESSION_H
#define XDROP_DQLITE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dqlite/client.h"

#define XDROP_DQ_RETRY_MS	 10000
#define XDROP_DQ_ATTACH_SLICE_MS 1000 /* one leader search, between two looks at the gate */
#define XDROP_DQ_NO_LEADER                                                                         \
	"this controller's dqlite node knows no leader of the cluster, or leads without contact "  \
	"with a majority of its voters (an election, or no quorum reachable from here)"

struct dq_session;

struct dq_session_opts {
	size_t sz;		  /* sizeof(struct dq_session_opts) */
	const char *const *addrs; /* the nodes, spelled as configured (copied) */
	size_t naddrs;
	const char *database; /* copied */
	struct dq_conn_opts conn;
	int retry_ms; /* time a call may spend finding a leader and retrying; 0: default */
};

/*
 * Makes a session and connects it (leader found, database opened) within opts->retry_ms.
 * Returns 0 and *out, -EINVAL (no addresses or database), -ENOMEM, or the connection's
 * error (-ETIMEDOUT when no leader was found; dq_session_why says why).
 */
int dq_session_open(struct dq_session **out, const struct dq_session_opts *opts);

/* Closes the connection and frees s (NULL-tolerant). */
void dq_session_close(struct dq_session *s);

/*
 * The session's leader connection and database id, connecting first if it has none
 * (within the retry time). Borrowed: valid until the next call on s. For transactions and
 * prepared statements; after an error on c, call dq_session_drop() when the error asks for
 * a new connection (not the leader, leadership lost, broken).
 */
int dq_session_conn(struct dq_session *s, struct dq_conn **c, uint32_t *db);

/* Drops the connection if rc (an error of a call on it) calls for a new one. */
void dq_session_drop(struct dq_session *s, int rc);

/* EXEC_SQL and QUERY_SQL on the leader, retried as above; res may be NULL; *rows as
 * dq_query_sql's (dq_rows_free). */
int dq_session_exec_sql(struct dq_session *s, const char *sql, const struct dq_value *params,
			unsigned n, struct dq_result *res);
int dq_session_query_sql(struct dq_session *s, const char *sql, const struct dq_value *params,
			 unsigned n, struct dq_rows *rows);

/*
 * The gate (process-wide; set once before sessions are made, NULL to remove): fn(arg)
 * says whether a leader is known, as the local node sees it (the controller's role
 * watcher, controller/cluster.c). While it says no, every call of every session fails at
 * once with -EHOSTUNREACH (why: XDROP_DQ_NO_LEADER) and its connection is dropped, instead
 * of searching for a leader until the retry time is spent: the side of a partition
 * without a quorum refuses within the election timeout. dq_session_open waits for the
 * gate instead, up to its retry time (a cluster starting up elects first). Without a gate,
 * every call searches as before. dq_session_gate_open() is fn(arg), true without a gate.
 */
void dq_session_set_gate(bool (*fn)(void *arg), void *arg);
bool dq_session_gate_open(void);

/*
 * Shuts down the connection of every open session of the process (dq_conn_shutdown), from
 * any thread: a call waiting for the leader's answer fails at once (a statement's outcome
 * unknown: it may still commit), and each session connects again before its next call,
 * through the gate. The controller calls it when its node, still leading, lost contact
 * with the majority (controller/lease.h), instead of waiting for libraft to step down.
 */
void dq_session_cut_all(void);

/* The last failure of s in a sentence ("" when none). */
const char *dq_session_why(const struct dq_session *s);

#endif
