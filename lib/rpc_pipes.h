/* SPDX-License-Identifier: MIT */
/*
 * rpc_pipes: the RPC server's receive timeout, per connection.
 *
 * nng 1.5.2 has no read timeout in its transports: a peer that announces a 10 MiB frame in
 * the 8-byte length header and then sends 3 bytes keeps its connection, and the buffer
 * nng allocated for the frame, for ever. This monitor follows every pipe of a REP socket
 * (nng_pipe_notify) and closes a pipe that has not delivered a complete request for
 * timeout_ms (nng's own per-pipe count of received messages, so a request waiting for a
 * free worker counts) while none of its calls is running.
 *
 * A pipe is ended with shutdown(2) of its TCP socket, as if its peer had gone (nng then
 * closes it on its own thread); nng_pipe_close() from the monitor wedged nng 1.5.2 under
 * a flood of 16 MiB frames (rpc_pipes.c, shut_pipe). Idle peers are closed too. An nng REQ socket
 * dials again by itself, so the next call of a long-lived client (the gateway's, an agent's) simply
 * goes out on a new connection. A call is never cut off: a pipe is busy from the moment a worker
 * takes its request until the reply has been sent, and a request from a pipe that is being closed
 * is dropped unrun. What remains is a request that completes on the wire in the instant the monitor
 * closes a pipe idle for the whole timeout: it is not run, and its client learns at once
 * (nng 1.5.2's REQ fails it with ECONNRESET when the resend timer is off, as in XDrop's client, and
 * sends it again when a resend time is set). After a pause of the whole process (SIGSTOP, a paused
 * VM) the clocks start afresh.
 *
 * The RPC server follows its pipes only when it listens on tcp:// or tls+tcp://, never on
 * ipc://: there, nng 1.5.2's listener stopped serving (every worker idle, fresh connections
 * and old ones unanswered, until the wedge monitor ended the process) after the timeout
 * had closed the connections of live, idle REQ clients, which dial again at once, a few
 * dozen times: within about a second at a 200 ms timeout
 * (tests/security/test_rpc_preauth.c), about one lab run in five at 30 s. An ipc://
 * socket is reached only by local processes that the file's permissions let in.
 */
#ifndef XDROP_RPC_PIPES_H
#define XDROP_RPC_PIPES_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

struct rpc_pipes;

/*
 * Follows the pipes of sock (call before it listens) and starts the monitor thread.
 * name is for logs (copied). Returns 0 and *out (free with rpc_pipes_stop), or -errno.
 */
int rpc_pipes_start(struct rpc_pipes **out, nng_socket sock, unsigned timeout_ms, const char *name);

/* A request from pipe is about to run: returns false when the pipe is being closed (drop
 * the request, its client resends it), else counts the call until rpc_pipes_end(). */
bool rpc_pipes_begin(struct rpc_pipes *p, nng_pipe pipe);

/* The reply of a call begun with rpc_pipes_begin() has been sent (or dropped). */
void rpc_pipes_end(struct rpc_pipes *p, nng_pipe pipe);

/* Pipes closed by the timeout so far. */
uint64_t rpc_pipes_timed_out(const struct rpc_pipes *p);

/* Stops the monitor and frees p; call once the socket is closed. NULL is fine. */
void rpc_pipes_stop(struct rpc_pipes *p);

#endif
