/* SPDX-License-Identifier: MIT */
/*
 * dqlite/wire: dqlite's client wire protocol (version 1), as bytes: requests encoded into a
 * growing buffer, responses decoded from a received body. No sockets here (dqlite/conn
 * does the I/O), so every encoder and decoder is tested on hand-built frames.
 *
 * The protocol (dqlite.io/docs/protocol, checked against libdqlite 1.11): after connecting,
 * the client sends one little-endian word, the protocol version (1). Then every message is
 * an 8-byte header (body size in 8-byte words: u32 LE; type: u8; schema: u8; 2 unused
 * bytes) and a body of fields, each a whole number of words: uint64, two uint32 packed in
 * one word, text (UTF-8, NUL-terminated, zero-padded to 8 bytes), blob (u64 length, bytes
 * padded to 8). Statement parameters are a "params tuple" (a count byte, one type byte per
 * value, padded to a word; at most 255 values), rows a "row tuple" (4 bits of type per
 * column, padded to a word) followed by the values. A result set comes as one or more ROWS
 * messages: column count, column names, rows, then a marker word (PART: another message
 * follows; DONE: the set is complete).
 *
 * Decoders check every length against the bytes received: a text without its NUL inside
 * the body, a blob or a count larger than what is left, an unknown type code, a header
 * announcing more than XDROP_DQ_MAX_BODY: -EPROTO (or -EMSGSIZE for the header), never a
 * read past the body. Decoded text and blobs point into the body (borrowed) unless a
 * contract says otherwise.
 */
#ifndef XDROP_DQLITE_WIRE_H
#define XDROP_DQLITE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XDROP_DQ_PROTOCOL_VERSION 1
#define XDROP_DQ_HEADER_SIZE	  8
#define XDROP_DQ_MAX_BODY	  (64u << 20) /* bytes a response may announce (a DUMP) */
#define XDROP_DQ_MAX_PARAMS	  255	      /* the params tuple's count is one byte */
#define XDROP_DQ_MAX_COLUMNS	  2000	      /* SQLite's default SQLITE_MAX_COLUMN */
#define XDROP_DQ_MAX_NODES	  1024	      /* servers in one SERVERS response */
#define XDROP_DQ_MAX_FILES	  8	      /* files in one FILES response (dqlite sends 2) */
#define XDROP_DQ_ROWS_PART	  0xeeeeeeeeeeeeeeeeull
#define XDROP_DQ_ROWS_DONE	  0xffffffffffffffffull

/* Request types. */
enum {
	XDROP_DQ_REQ_LEADER = 0,
	XDROP_DQ_REQ_CLIENT = 1,
	XDROP_DQ_REQ_OPEN = 3,
	XDROP_DQ_REQ_PREPARE = 4,
	XDROP_DQ_REQ_EXEC = 5,
	XDROP_DQ_REQ_QUERY = 6,
	XDROP_DQ_REQ_FINALIZE = 7,
	XDROP_DQ_REQ_EXEC_SQL = 8,
	XDROP_DQ_REQ_QUERY_SQL = 9,
	XDROP_DQ_REQ_INTERRUPT = 10,
	XDROP_DQ_REQ_ADD = 12,
	XDROP_DQ_REQ_ASSIGN = 13,
	XDROP_DQ_REQ_REMOVE = 14,
	XDROP_DQ_REQ_DUMP = 15,
	XDROP_DQ_REQ_CLUSTER = 16,
	XDROP_DQ_REQ_TRANSFER = 17,
	XDROP_DQ_REQ_DESCRIBE = 18,
	XDROP_DQ_REQ_WEIGHT = 19,
};

/* Response types. */
enum {
	XDROP_DQ_RES_FAILURE = 0,
	XDROP_DQ_RES_SERVER = 1,
	XDROP_DQ_RES_WELCOME = 2,
	XDROP_DQ_RES_SERVERS = 3,
	XDROP_DQ_RES_DB = 4,
	XDROP_DQ_RES_STMT = 5,
	XDROP_DQ_RES_RESULT = 6,
	XDROP_DQ_RES_ROWS = 7,
	XDROP_DQ_RES_EMPTY = 8,
	XDROP_DQ_RES_FILES = 9,
	XDROP_DQ_RES_METADATA = 10,
};

/* Value types of tuples (SQLite's codes, and dqlite's three for declared column types). */
enum dq_type {
	XDROP_DQ_INTEGER = 1,
	XDROP_DQ_FLOAT = 2,
	XDROP_DQ_TEXT = 3,
	XDROP_DQ_BLOB = 4,
	XDROP_DQ_NULL = 5,
	XDROP_DQ_UNIXTIME = 9, /* int64 seconds, a DATETIME/DATE/TIMESTAMP column in a row */
	XDROP_DQ_ISO8601 = 10, /* text, same columns */
	XDROP_DQ_BOOLEAN = 11, /* uint64 0/1, a BOOLEAN column */
};

/* Node roles (ASSIGN, CLUSTER format 1). */
enum dq_role {
	XDROP_DQ_VOTER = 0,
	XDROP_DQ_STANDBY = 1,
	XDROP_DQ_SPARE = 2,
};

/* CLUSTER formats: 0 = id and address, 1 = id, address and role. */
#define XDROP_DQ_CLUSTER_V1 1

/* One value: a parameter to bind or a column of a row. For TEXT and ISO8601, text is
 * NUL-terminated and len is its strlen; for BLOB, blob/len. Borrowed (see above). */
struct dq_value {
	enum dq_type type;
	union {
		int64_t i; /* INTEGER, UNIXTIME, BOOLEAN (0/1) */
		double f;
		const char *text;
		const uint8_t *blob;
	};
	size_t len;
};

/* A growing output buffer (a request being built). */
struct dq_buf {
	uint8_t *p;
	size_t len, cap;
};

/* A message header. */
struct dq_header {
	uint32_t words; /* body size / 8 */
	uint8_t type;
	uint8_t schema;
};

/* A cursor over a received body. */
struct dq_cur {
	const uint8_t *p;
	size_t left;
};

/* A node of the cluster (SERVER, SERVERS). address points into the body. */
struct dq_node {
	uint64_t id;
	const char *address;
	uint64_t role; /* CLUSTER format 1 only */
};

/* One file of a DUMP (name and data point into the body). */
struct dq_file {
	const char *name;
	const uint8_t *data;
	uint64_t size;
};

/* Frees the buffer's memory and empties it (NULL-tolerant). */
void dq_buf_free(struct dq_buf *b);

/*
 * Request encoders: each empties b, then writes one whole message (header and body).
 * Returns 0, -ENOMEM (also for a request over XDROP_DQ_MAX_BODY), or -EINVAL for an
 * argument the protocol cannot carry (a NULL text, more than XDROP_DQ_MAX_PARAMS
 * parameters, a parameter type dq_wire_params refuses). b keeps its memory for the next
 * request.
 */
int dq_wire_handshake(struct dq_buf *b); /* the protocol version word (no header) */
/* LEADER, CLIENT, INTERRUPT, ASSIGN (v0), REMOVE, CLUSTER, TRANSFER, DESCRIBE, WEIGHT: one
 * uint64 (unused, a client id, a db id, a node id, a format or a weight). */
int dq_wire_u64_request(struct dq_buf *b, uint8_t type, uint64_t v);
int dq_wire_open(struct dq_buf *b, const char *name);
int dq_wire_prepare(struct dq_buf *b, uint32_t db, const char *sql);
/* EXEC or QUERY of a prepared statement (type says which) with n parameters. */
int dq_wire_stmt(struct dq_buf *b, uint8_t type, uint32_t db, uint32_t stmt,
		 const struct dq_value *params, unsigned n);
int dq_wire_finalize(struct dq_buf *b, uint32_t db, uint32_t stmt);
/* EXEC_SQL or QUERY_SQL (type says which) of sql with n parameters. */
int dq_wire_sql(struct dq_buf *b, uint8_t type, uint32_t db, const char *sql,
		const struct dq_value *params, unsigned n);
int dq_wire_add(struct dq_buf *b, uint64_t id, const char *address);
int dq_wire_assign(struct dq_buf *b, uint64_t id, enum dq_role role);
int dq_wire_dump(struct dq_buf *b, const char *name);

/*
 * Appends a params tuple of n values (none at all when n is 0: dqlite reads a body that
 * ends there as "no parameters"). Types allowed: INTEGER, FLOAT, TEXT (non-NULL text),
 * BLOB, NULL, ISO8601, BOOLEAN (libdqlite 1.11 does not bind UNIXTIME). 0, -EINVAL, -ENOMEM.
 */
int dq_wire_params(struct dq_buf *b, const struct dq_value *params, unsigned n);

/* Parses a header; -EMSGSIZE when the body would exceed XDROP_DQ_MAX_BODY. */
int dq_wire_header(const uint8_t hdr[XDROP_DQ_HEADER_SIZE], struct dq_header *h);

/* Cursor primitives: 0 or -EPROTO (nothing consumed on failure). */
int dq_cur_u64(struct dq_cur *c, uint64_t *v);
int dq_cur_u32_pair(struct dq_cur *c, uint32_t *a, uint32_t *b);
int dq_cur_text(struct dq_cur *c, const char **s, size_t *len);
int dq_cur_blob(struct dq_cur *c, const uint8_t **p, size_t *len);

/*
 * Response decoders: body/len is a whole body of the named type. Each returns 0 or -EPROTO
 * (a truncated or malformed body); text out-parameters point into body.
 */
int dq_wire_failure(const uint8_t *body, size_t len, uint64_t *code, const char **msg);
int dq_wire_server(const uint8_t *body, size_t len, struct dq_node *node);
int dq_wire_welcome(const uint8_t *body, size_t len, uint64_t *heartbeat_ms);
int dq_wire_db(const uint8_t *body, size_t len, uint32_t *db);
int dq_wire_stmt_info(const uint8_t *body, size_t len, uint32_t *db, uint32_t *stmt,
		      uint64_t *nparams);
int dq_wire_result(const uint8_t *body, size_t len, uint64_t *last_id, uint64_t *changes);
int dq_wire_empty(const uint8_t *body, size_t len);
int dq_wire_metadata(const uint8_t *body, size_t len, uint64_t *failure_domain, uint64_t *weight);
/* SERVERS in format 0 or 1: *nodes is a calloc'd array of *n (free() it; NULL when 0). */
int dq_wire_servers(const uint8_t *body, size_t len, int format, struct dq_node **nodes, size_t *n);
/* FILES: fills files[XDROP_DQ_MAX_FILES] and *n. */
int dq_wire_files(const uint8_t *body, size_t len, struct dq_file *files, size_t *n);

#endif
