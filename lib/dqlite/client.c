// SPDX-License-Identifier: MIT
/*
 * dqlite/client: one function per request (see client.h). Each encodes its request into a
 * buffer of its own, calls, and decodes the response it expects; a body that does not
 * decode is -EPROTO and breaks the connection, since its stream can no longer be trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dqlite/client.h"

/* Sends req (already encoded, rc its encoder's result), expects a response of type want. */
static int call(struct dq_conn *c, struct dq_buf *req, int rc, int want, struct dq_msg *m)
{
	if (rc == 0)
		rc = dq_conn_call(c, req, want, m);
	dq_buf_free(req);
	return rc;
}

/* A response that does not decode leaves the stream untrusted: c is broken. */
static int decoded(struct dq_conn *c, int rc)
{
	if (rc == -EPROTO)
		dq_conn_set_broken(c);
	return rc;
}

static void copy_node(struct dq_node_info *dst, const struct dq_node *src)
{
	dst->id = src->id;
	dst->role = src->role;
	snprintf(dst->address, sizeof(dst->address), "%s", src->address ? src->address : "");
}

/* Calls a request whose answer is EMPTY. */
static int call_empty(struct dq_conn *c, struct dq_buf *req, int rc)
{
	struct dq_msg m;

	rc = call(c, req, rc, XDROP_DQ_RES_EMPTY, &m);
	return rc ? rc : decoded(c, dq_wire_empty(m.body, m.len));
}

int dq_leader(struct dq_conn *c, struct dq_node_info *out)
{
	struct dq_buf req = {0};
	struct dq_node node;
	struct dq_msg m;
	int rc = dq_wire_u64_request(&req, XDROP_DQ_REQ_LEADER, 0);

	rc = call(c, &req, rc, XDROP_DQ_RES_SERVER, &m);
	if (rc == 0)
		rc = decoded(c, dq_wire_server(m.body, m.len, &node));
	if (rc == 0)
		copy_node(out, &node);
	return rc;
}

int dq_hello(struct dq_conn *c, uint64_t id, uint64_t *heartbeat_ms)
{
	struct dq_buf req = {0};
	struct dq_msg m;
	uint64_t hb;
	int rc = dq_wire_u64_request(&req, XDROP_DQ_REQ_CLIENT, id);

	rc = call(c, &req, rc, XDROP_DQ_RES_WELCOME, &m);
	if (rc == 0)
		rc = decoded(c, dq_wire_welcome(m.body, m.len, &hb));
	if (rc == 0 && heartbeat_ms)
		*heartbeat_ms = hb;
	return rc;
}

int dq_open(struct dq_conn *c, const char *name, uint32_t *db)
{
	struct dq_buf req = {0};
	struct dq_msg m;
	int rc = dq_wire_open(&req, name);

	rc = call(c, &req, rc, XDROP_DQ_RES_DB, &m);
	return rc ? rc : decoded(c, dq_wire_db(m.body, m.len, db));
}

int dq_prepare(struct dq_conn *c, uint32_t db, const char *sql, uint32_t *stmt, uint64_t *nparams)
{
	struct dq_buf req = {0};
	struct dq_msg m;
	uint32_t sdb;
	uint64_t np;
	int rc = dq_wire_prepare(&req, db, sql);

	rc = call(c, &req, rc, XDROP_DQ_RES_STMT, &m);
	if (rc == 0)
		rc = decoded(c, dq_wire_stmt_info(m.body, m.len, &sdb, stmt, &np));
	if (rc == 0 && nparams)
		*nparams = np;
	return rc;
}

/* Calls a request whose answer is RESULT; res may be NULL. */
static int call_result(struct dq_conn *c, struct dq_buf *req, int rc, struct dq_result *res)
{
	struct dq_result r;
	struct dq_msg m;

	rc = call(c, req, rc, XDROP_DQ_RES_RESULT, &m);
	if (rc == 0)
		rc = decoded(c, dq_wire_result(m.body, m.len, &r.last_insert_id, &r.changes));
	if (rc == 0 && res)
		*res = r;
	return rc;
}

int dq_exec(struct dq_conn *c, uint32_t db, uint32_t stmt, const struct dq_value *params,
	    unsigned n, struct dq_result *res)
{
	struct dq_buf req = {0};

	return call_result(c, &req, dq_wire_stmt(&req, XDROP_DQ_REQ_EXEC, db, stmt, params, n),
			   res);
}

int dq_exec_sql(struct dq_conn *c, uint32_t db, const char *sql, const struct dq_value *params,
		unsigned n, struct dq_result *res)
{
	struct dq_buf req = {0};

	return call_result(c, &req, dq_wire_sql(&req, XDROP_DQ_REQ_EXEC_SQL, db, sql, params, n),
			   res);
}

int dq_finalize(struct dq_conn *c, uint32_t db, uint32_t stmt)
{
	struct dq_buf req = {0};

	return call_empty(c, &req, dq_wire_finalize(&req, db, stmt));
}

/* Adds the ROWS body just received on c to rows. */
static int add_batch(struct dq_conn *c, const struct dq_msg *m, struct dq_rows *rows, bool *done)
{
	uint8_t *body;
	size_t len = m->len;

	if (m->type != XDROP_DQ_RES_ROWS)
		return decoded(c, -EPROTO);
	body = dq_conn_take_body(c);
	return decoded(c, dq_rows_add(rows, body, len, done));
}

int dq_query_next(struct dq_conn *c, struct dq_rows *rows, bool *done)
{
	struct dq_msg m;
	int rc = dq_conn_recv(c, &m);

	return rc ? rc : add_batch(c, &m, rows, done);
}

/* The first batch of the query in req, then (all) the rest. */
static int query(struct dq_conn *c, struct dq_buf *req, int rc, struct dq_rows *rows, bool all,
		 bool *done)
{
	struct dq_msg m;

	memset(rows, 0, sizeof(*rows));
	*done = false;
	rc = call(c, req, rc, XDROP_DQ_RES_ROWS, &m);
	if (rc == 0)
		rc = add_batch(c, &m, rows, done);
	while (rc == 0 && all && !*done)
		rc = dq_query_next(c, rows, done);
	if (rc)
		dq_rows_free(rows);
	return rc;
}

int dq_query(struct dq_conn *c, uint32_t db, uint32_t stmt, const struct dq_value *params,
	     unsigned n, struct dq_rows *rows)
{
	struct dq_buf req = {0};
	bool done;

	return query(c, &req, dq_wire_stmt(&req, XDROP_DQ_REQ_QUERY, db, stmt, params, n), rows,
		     true, &done);
}

int dq_query_sql(struct dq_conn *c, uint32_t db, const char *sql, const struct dq_value *params,
		 unsigned n, struct dq_rows *rows)
{
	struct dq_buf req = {0};
	bool done;

	return query(c, &req, dq_wire_sql(&req, XDROP_DQ_REQ_QUERY_SQL, db, sql, params, n), rows,
		     true, &done);
}

int dq_query_sql_first(struct dq_conn *c, uint32_t db, const char *sql,
		       const struct dq_value *params, unsigned n, struct dq_rows *rows, bool *done)
{
	struct dq_buf req = {0};

	return query(c, &req, dq_wire_sql(&req, XDROP_DQ_REQ_QUERY_SQL, db, sql, params, n), rows,
		     false, done);
}

/* The node may have sent more ROWS before it saw the INTERRUPT: they are read and dropped
 * until the EMPTY that acknowledges it. */
int dq_interrupt(struct dq_conn *c, uint32_t db)
{
	struct dq_buf req = {0};
	struct dq_msg m;
	int rc = dq_wire_u64_request(&req, XDROP_DQ_REQ_INTERRUPT, db);

	rc = call(c, &req, rc, -1, &m);
	while (rc == 0 && m.type == XDROP_DQ_RES_ROWS)
		rc = dq_conn_recv(c, &m);
	if (rc == 0 && m.type != XDROP_DQ_RES_EMPTY)
		rc = decoded(c, -EPROTO);
	return rc ? rc : decoded(c, dq_wire_empty(m.body, m.len));
}

int dq_add(struct dq_conn *c, uint64_t id, const char *address)
{
	struct dq_buf req = {0};

	return call_empty(c, &req, dq_wire_add(&req, id, address));
}

int dq_assign(struct dq_conn *c, uint64_t id, enum dq_role role)
{
	struct dq_buf req = {0};

	return call_empty(c, &req, dq_wire_assign(&req, id, role));
}

int dq_remove(struct dq_conn *c, uint64_t id)
{
	struct dq_buf req = {0};

	return call_empty(c, &req, dq_wire_u64_request(&req, XDROP_DQ_REQ_REMOVE, id));
}

int dq_transfer(struct dq_conn *c, uint64_t id)
{
	struct dq_buf req = {0};

	return call_empty(c, &req, dq_wire_u64_request(&req, XDROP_DQ_REQ_TRANSFER, id));
}

int dq_weight(struct dq_conn *c, uint64_t weight)
{
	struct dq_buf req = {0};

	return call_empty(c, &req, dq_wire_u64_request(&req, XDROP_DQ_REQ_WEIGHT, weight));
}

int dq_describe(struct dq_conn *c, uint64_t *failure_domain, uint64_t *weight)
{
	struct dq_buf req = {0};
	struct dq_msg m;
	int rc = dq_wire_u64_request(&req, XDROP_DQ_REQ_DESCRIBE, 0);

	rc = call(c, &req, rc, XDROP_DQ_RES_METADATA, &m);
	return rc ? rc : decoded(c, dq_wire_metadata(m.body, m.len, failure_domain, weight));
}

int dq_cluster(struct dq_conn *c, struct dq_node_info **nodes, size_t *n)
{
	struct dq_buf req = {0};
	struct dq_node *v = NULL;
	struct dq_msg m;
	int rc = dq_wire_u64_request(&req, XDROP_DQ_REQ_CLUSTER, XDROP_DQ_CLUSTER_V1);

	*nodes = NULL;
	*n = 0;
	rc = call(c, &req, rc, XDROP_DQ_RES_SERVERS, &m);
	if (rc == 0)
		rc = decoded(c, dq_wire_servers(m.body, m.len, XDROP_DQ_CLUSTER_V1, &v, n));
	if (rc == 0 && *n) {
		*nodes = calloc(*n, sizeof(**nodes));
		rc = *nodes ? 0 : -ENOMEM;
		for (size_t i = 0; rc == 0 && i < *n; i++)
			copy_node(&(*nodes)[i], &v[i]);
	}
	free(v);
	if (rc)
		*n = 0;
	return rc;
}

int dq_dump(struct dq_conn *c, const char *name, struct dq_dump *out)
{
	struct dq_buf req = {0};
	struct dq_msg m;
	int rc = dq_wire_dump(&req, name);

	memset(out, 0, sizeof(*out));
	rc = call(c, &req, rc, XDROP_DQ_RES_FILES, &m);
	if (rc == 0)
		rc = decoded(c, dq_wire_files(m.body, m.len, out->files, &out->n));
	if (rc == 0)
		out->body = dq_conn_take_body(c);
	return rc;
}

void dq_dump_free(struct dq_dump *d)
{
	if (!d)
		return;
	free(d->body);
	memset(d, 0, sizeof(*d));
}
