/* SPDX-License-Identifier: MIT */
/*
 * dqtls: TLS for dqlite traffic (libdqlite 1.11 speaks plain TCP only).
 *
 * A node that uses it binds libdqlite to a local-only address (an abstract Unix socket
 * "@name", which libdqlite accepts only from its own process, or a loopback port) and
 * announces its cluster address ("host:port") to its peers. dqtls_listen() serves that
 * cluster address with TLS (mutual when the options say so: the controllers' own
 * certificate settings, lib/tls.h) and pumps the bytes of each connection to the local
 * address; nothing reaches libdqlite before a TLS record has been received from a peer
 * that completed the handshake. Outbound, dqtls_dial() connects to a peer's cluster
 * address with TLS and returns one end of a socketpair whose other end is pumped through
 * the TLS stream: dqlite_node_set_connect_func(node, dqtls_connect_func, t) hands it to
 * libdqlite for Raft traffic, and struct dq_conn_opts' dial hook to lib/dqlite's client.
 *
 * Each connection is two threads (one per direction) copying through a 16 KiB buffer; a
 * connection ends in both directions as soon as one side closes or fails. dqtls_close()
 * stops the listener and every connection still open and waits for their threads.
 */
#ifndef XDROP_DQTLS_H
#define XDROP_DQTLS_H

#include "tls.h"

#define XDROP_DQTLS_CONNECT_MS 2000 /* dqtls_connect_func's dial and handshake bound */

struct dqtls;

/* A dqtls context with the TLS options o (copied). Returns 0 and *out or -errno. */
int dqtls_open(struct dqtls **out, const struct tls_opts *o);

/*
 * Listens with TLS on address ("host:port", port 0: any) and forwards every connection to
 * local ("@abstract" or "host:port"). Needs cert_file and key_file (and ca_file with
 * require_client_cert). One listener per context. Returns 0 or -errno (-EINVAL bad
 * address or settings, -EADDRINUSE, ...).
 */
int dqtls_listen(struct dqtls *t, const char *address, const char *local);

/* The port the listener is bound to, or -errno. */
int dqtls_port(const struct dqtls *t);

/*
 * Connects to address ("host:port", "[v6]:port") with TLS within timeout_ms and returns a
 * connected stream socket (blocking, close-on-exec) pumped through it, or -errno. The
 * handshake runs with the first bytes sent: a peer that refuses our certificate (or that
 * we refuse) closes the socket, which its user reads as the connection reset.
 */
int dqtls_dial(struct dqtls *t, const char *address, int timeout_ms);

/* dqtls_dial for struct dq_conn_opts' dial hook (lib/dqlite/conn.h): arg is the dqtls. */
int dqtls_conn_dial(void *arg, const char *address, int timeout_ms);

/* dqlite_node_set_connect_func()'s signature: arg is the struct dqtls. 0 or a dqlite
 * error code (DQLITE_ERROR). */
int dqtls_connect_func(void *arg, const char *address, int *fd);

/* Connections being pumped now (tests). */
unsigned dqtls_active(struct dqtls *t);

/* Stops the listener and every connection, waits for their threads, frees t (NULL ok). */
void dqtls_close(struct dqtls *t);

#endif
