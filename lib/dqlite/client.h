/* SPDX-License-Identifier: MIT */
/*
 * dqlite/client: dqlite's requests as calls on a connection (dqlite/conn), finding the
 * leader among a list of nodes, and joining a node to a cluster.
 *
 * libdqlite 1.11 serves nodes but ships no client: this is XDrop's. Every call sends one
 * request and reads its response on c, with c's call timeout; errors are those of
 * dq_conn_call (conn.h): -EREMCHG when c's node is not the leader (writes, queries and
 * membership changes all need the leader in dqlite 1.11; a follower refuses them), and so
 * on. One connection opens at most one database (a dqlite rule) and runs one request at a
 * time. Results are owned by the caller unless a contract says otherwise.
 */
#ifndef XDROP_DQLITE_CLIENT_H
#define XDROP_DQLITE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dqlite/conn.h"
#include "dqlite/rows.h"
#include "dqlite/wire.h"

#define XDROP_DQ_JOIN_TIMEOUT_MS 30000
#define XDROP_DQ_MAX_WHY	 1280 /* a failure sentence, bytes with NUL */

/* A node as the cluster knows it (owned copy). */
struct dq_node_info {
	uint64_t id;
	char address[XDROP_DQ_MAX_ADDRESS];
	uint64_t role; /* enum dq_role */
};

/* The outcome of a statement. */
struct dq_result {
	uint64_t last_insert_id;
	uint64_t changes;
};

/* A DUMP: the files point into body, which the struct owns (dq_dump_free). */
struct dq_dump {
	uint8_t *body;
	size_t n;
	struct dq_file files[XDROP_DQ_MAX_FILES];
};

/* LEADER: the leader as c's node knows it; id 0 and "" when it knows none. */
int dq_leader(struct dq_conn *c, struct dq_node_info *out);

/* CLIENT: registers as client id; *heartbeat_ms (may be NULL) gets the node's timeout. */
int dq_hello(struct dq_conn *c, uint64_t id, uint64_t *heartbeat_ms);

/* OPEN: opens (creating) database name; *db is its id for the calls below. */
int dq_open(struct dq_conn *c, const char *name, uint32_t *db);

/* PREPARE: *stmt is the statement's id, *nparams (may be NULL) its parameter count. */
int dq_prepare(struct dq_conn *c, uint32_t db, const char *sql, uint32_t *stmt, uint64_t *nparams);

/* EXEC of a prepared statement with n parameters; res may be NULL. */
int dq_exec(struct dq_conn *c, uint32_t db, uint32_t stmt, const struct dq_value *params,
	    unsigned n, struct dq_result *res);

/* QUERY of a prepared statement: every row, into *rows (zeroed first; dq_rows_free). */
int dq_query(struct dq_conn *c, uint32_t db, uint32_t stmt, const struct dq_value *params,
	     unsigned n, struct dq_rows *rows);

/* FINALIZE: frees the statement on the node. */
int dq_finalize(struct dq_conn *c, uint32_t db, uint32_t stmt);

/* EXEC_SQL: runs sql (several statements allowed; parameters bind to the first). */
int dq_exec_sql(struct dq_conn *c, uint32_t db, const char *sql, const struct dq_value *params,
		unsigned n, struct dq_result *res);

/* QUERY_SQL: every row of one statement, into *rows (zeroed first; dq_rows_free). */
int dq_query_sql(struct dq_conn *c, uint32_t db, const char *sql, const struct dq_value *params,
		 unsigned n, struct dq_rows *rows);

/*
 * QUERY_SQL, first batch only: *rows (zeroed first) gets the first ROWS message; *done is
 * false when more follow, which the caller then reads with dq_query_next() or abandons
 * with dq_interrupt() before any other request on c.
 */
int dq_query_sql_first(struct dq_conn *c, uint32_t db, const char *sql,
		       const struct dq_value *params, unsigned n, struct dq_rows *rows, bool *done);
int dq_query_next(struct dq_conn *c, struct dq_rows *rows, bool *done);

/* INTERRUPT: stops the query running on db and reads what the node still sends up to its
 * acknowledgement, so that c is ready for the next request. */
int dq_interrupt(struct dq_conn *c, uint32_t db);

/* ADD (as a spare), ASSIGN a role, REMOVE, TRANSFER leadership (id 0: the node picks). */
int dq_add(struct dq_conn *c, uint64_t id, const char *address);
int dq_assign(struct dq_conn *c, uint64_t id, enum dq_role role);
int dq_remove(struct dq_conn *c, uint64_t id);
int dq_transfer(struct dq_conn *c, uint64_t id);

/* CLUSTER (with roles): *nodes is a calloc'd array of *n (free()). */
int dq_cluster(struct dq_conn *c, struct dq_node_info **nodes, size_t *n);

/* DUMP: the database file and its WAL as the leader has them (dq_dump_free). */
int dq_dump(struct dq_conn *c, const char *name, struct dq_dump *out);
void dq_dump_free(struct dq_dump *d);

/* DESCRIBE: the node's failure domain and weight; WEIGHT sets its weight. */
int dq_describe(struct dq_conn *c, uint64_t *failure_domain, uint64_t *weight);
int dq_weight(struct dq_conn *c, uint64_t weight);

/*
 * Connects to the leader: asks each of the n addrs (in order, round after round, with a
 * short growing pause between rounds) who leads, follows the answer, and returns a
 * connection to the node that names itself leader (with opts' call timeout). Nodes that
 * are down, do not connect and answer within opts' connect timeout, know no leader or
 * name a dead one are passed over until deadline_ms (lib/clock's monotonic time).
 * Returns 0 and *out, or -ETIMEDOUT (why: the last reason seen), -EINVAL. The addresses
 * must be spelled as the nodes were configured (the leader is recognised by the address
 * the cluster has for it).
 */
int dq_leader_connect(struct dq_conn **out, const char *const *addrs, size_t n,
		      const struct dq_conn_opts *opts, int64_t deadline_ms, char *why,
		      size_t why_len);

/*
 * Makes node id at address a member of the cluster reached through addrs with the given
 * role: ADD (unless the cluster already has it) then ASSIGN (unless it has that role),
 * each on the current leader, retried across leader changes until deadline_ms. Returns 0,
 * -EEXIST when another node already has that id or address, or the last error (why).
 */
int dq_join(const char *const *addrs, size_t n, const struct dq_conn_opts *opts, uint64_t id,
	    const char *address, enum dq_role role, int64_t deadline_ms, char *why, size_t why_len);

/*
 * Removes node id from the cluster reached through addrs: REMOVE on the current leader
 * unless CLUSTER no longer lists it, retried across leader changes until deadline_ms.
 * Returns 0 once it is gone, or the last error (why).
 */
int dq_leave(const char *const *addrs, size_t n, const struct dq_conn_opts *opts, uint64_t id,
	     int64_t deadline_ms, char *why, size_t why_len);

#endif
