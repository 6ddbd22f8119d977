/* SPDX-License-Identifier: MIT */
/*
 * dqlite/conn: one client connection to one dqlite node, over TCP (or whatever socket the
 * options' connect hook returns: TLS through lib/dqtls).
 *
 * A connection is made with a non-blocking connect() and poll(), sends the protocol
 * version, and then carries one request and its response at a time on a socket that stays
 * non-blocking: every wait is a poll() bounded by the call's deadline, so a node that died,
 * stopped or never answers costs the caller at most its timeout. A connection is used by
 * one thread at a time.
 *
 * Errors (0 or a negative errno, as everywhere in XDrop):
 *   -EREMCHG       the node is not the leader (dqlite's SQLITE_IOERR_NOT_LEADER): nothing
 *                  was executed; find the leader and retry there (dq_leader_connect)
 *   -ECONNABORTED  leadership was lost while the request ran (SQLITE_IOERR_LEADERSHIP_LOST):
 *                  the write may or may not be committed; the caller must find out
 *   -EBUSY         SQLITE_BUSY or SQLITE_LOCKED (any extended code): retry later
 *   -EIO           any other FAILURE response (a SQL error, a constraint, ...)
 *   -ETIMEDOUT     the deadline passed; -ECONNREFUSED, -ECONNRESET, -EPIPE, ... from the
 *                  socket; -EPROTO a malformed or unexpected response; -EMSGSIZE a response
 *                  larger than XDROP_DQ_MAX_BODY
 * After a FAILURE, dq_conn_error() gives dqlite's code and message. After any other error
 * the connection is broken (its stream position is unknown) and every later call returns
 * -ENOTCONN: close it and connect again.
 */
#ifndef XDROP_DQLITE_CONN_H
#define XDROP_DQLITE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dqlite/wire.h"

#define XDROP_DQ_CONNECT_TIMEOUT_MS 2000
#define XDROP_DQ_CALL_TIMEOUT_MS    10000
#define XDROP_DQ_USER_TIMEOUT_MS    2000 /* TCP_USER_TIMEOUT: a silent peer (a cut link) */
#define XDROP_DQ_MAX_ADDRESS	    256	 /* "host:port", bytes with NUL */
#define XDROP_DQ_MAX_ERRMSG	    256

/* dqlite's own SQLite extended codes. */
#define XDROP_DQ_SQLITE_NOT_LEADER	(10 | (40 << 8))
#define XDROP_DQ_SQLITE_LEADERSHIP_LOST (10 | (41 << 8))

struct dq_conn;

struct dq_conn_opts {
	size_t sz;		/* sizeof(struct dq_conn_opts) */
	int connect_timeout_ms; /* 0: XDROP_DQ_CONNECT_TIMEOUT_MS */
	int call_timeout_ms;	/* 0: XDROP_DQ_CALL_TIMEOUT_MS; a whole request and response */
	/* NULL: plain TCP. Else the connect hook: connects to address within timeout_ms and
	 * returns a connected stream socket, or -errno (lib/dqtls's dqtls_conn_dial: TLS) */
	int (*dial)(void *arg, const char *address, int timeout_ms);
	void *dial_arg;
};

/* The last FAILURE a node answered. */
struct dq_error {
	uint64_t code; /* SQLite's (extended) result code, or dqlite's */
	char msg[XDROP_DQ_MAX_ERRMSG];
};

/* A response: its type and body (owned by the connection until the next call). */
struct dq_msg {
	uint8_t type;
	uint8_t schema;
	uint8_t *body;
	size_t len;
};

/*
 * Connects to address ("host:port", "[v6]:port"; opts may be NULL) and sends the protocol
 * version. Returns 0 and *out, or -EINVAL (address), -ETIMEDOUT, -ECONNREFUSED, ...
 * (why, when not NULL, receives a sentence naming the address and the reason).
 */
int dq_conn_open(struct dq_conn **out, const char *address, const struct dq_conn_opts *opts,
		 char *why, size_t why_len);

/*
 * Sets the connect hook used by every connection whose options name none (NULL: plain
 * TCP again): a process whose dqlite traffic is TLS (lib/dqtls) sets it once, before any
 * connection is made and before other threads use lib/dqlite, so that every connection
 * of the process (sessions, leader discovery, joins) dials the same way.
 */
void dq_conn_set_default_dial(int (*fn)(void *arg, const char *address, int timeout_ms), void *arg);

/* Closes the socket and frees c (NULL-tolerant). */
void dq_conn_close(struct dq_conn *c);

/* Shuts c's socket down in both directions, from any thread (c stays open and owned by
 * its thread): a call waiting on c fails at once with a socket error (c broken), its
 * outcome unknown when the request was sent. */
void dq_conn_shutdown(struct dq_conn *c);

/* Sets the call timeout of c (ms > 0; see struct dq_conn_opts). */
void dq_conn_set_call_timeout(struct dq_conn *c, int ms);

/*
 * Writes into buf a sentence for the error rc of the last call on c: the node's address and
 * either dqlite's code and message (after a FAILURE) or the errno's text, e.g.
 * "dqlite node 127.0.0.1:9001: not the leader (10250: not leader)". Returns buf.
 */
char *dq_conn_why(const struct dq_conn *c, int rc, char *buf, size_t len);

/* The address c was opened with. */
const char *dq_conn_address(const struct dq_conn *c);

/* The last FAILURE received on c (code 0 when none). */
const struct dq_error *dq_conn_error(const struct dq_conn *c);

/* True once c is broken (see above); dq_conn_set_broken() marks it so (a response that
 * arrived whole but does not decode). */
bool dq_conn_broken(const struct dq_conn *c);
void dq_conn_set_broken(struct dq_conn *c);

/*
 * Sends the request in req and receives one response into *msg (the body stays valid
 * until the next call on c). A FAILURE is returned as its errno (see above) with the code
 * and message kept; a response of another type than want is -EPROTO (want < 0: any type).
 */
int dq_conn_call(struct dq_conn *c, const struct dq_buf *req, int want, struct dq_msg *msg);

/* Receives one more response (the next ROWS of a query, the EMPTY after an INTERRUPT)
 * within the call timeout; errors as dq_conn_call's. */
int dq_conn_recv(struct dq_conn *c, struct dq_msg *msg);

/* Takes the body of the last response from c: the caller then owns it (free()); msg->body
 * must no longer be used through c. NULL when there is none. */
uint8_t *dq_conn_take_body(struct dq_conn *c);

/* The errno for a FAILURE code (see above). */
int dq_error_errno(uint64_t code);

#endif
