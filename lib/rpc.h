/* SPDX-License-Identifier: MIT */
/*
 * rpc: gRPC-style calls over nng REQ/REP, framed with protobuf (proto/xdrop.proto).
 *
 * A request message on the wire is one serialized xdrop.v1.RpcRequest (service, method,
 * call id, auth token, deadline, and the method's serialized request in `payload`); the
 * reply is one xdrop.v1.RpcReply (call id, status code, message, field path, and the
 * serialized response in `payload`). docs/rpc.md is the language-neutral description.
 *
 * Server (lib/rpc_server.c, with lib/rpc_frame.c and lib/rpc_pipes.c): a REP socket served
 * by `workers` threads, each owning one nng context, so that that many calls run at once
 * and a slow handler (a database write) never blocks nng's own callback threads. Dispatch
 * is driven by the protobuf-c service descriptors: the daemon registers a handler per
 * (service descriptor, method name); the request payload is unpacked with the method's
 * input descriptor and the response packed with its output descriptor. Before a handler
 * runs, the frame must decode, the method must exist, the auth hook must accept the token
 * and the deadline must not have passed; every failure gets an RpcReply with the matching
 * code and changes nothing.
 *
 * Limits: every socket sets NNG_OPT_RECVMAXSZ to max_msg plus XDROP_RPC_FRAME_SLACK. A frame
 * above max_msg but within the slack is answered with RESOURCE_EXHAUSTED; above that nng
 * drops the connection (no reply is possible) and the server carries on.
 *
 * Before authentication a frame costs its own bytes and a few microseconds, whatever it
 * holds (rpc_frame.h): the envelope is walked and refused on unknown, mistyped or repeated
 * fields, the payload is not decoded before the auth hook accepted the caller, and then
 * only within a budget of XDROP_RPC_DECODE_FACTOR times its size. Calls to the one service
 * that needs no credential (XDROP_RPC_PUBLIC_SERVICE) carry at most
 * XDROP_RPC_PUBLIC_MAX_MSG bytes. A connection that has not delivered a complete request
 * for the receive timeout while no call of its own is running is closed (the server's
 * pipe monitor), so a peer that announces a large frame and stalls holds its buffer for
 * that long at most; REQ clients dial again and resend on their own.
 *
 * Deadlines: a call is not started once the caller's deadline has passed, counted from
 * the frame's receipt (deadline_ms) and, when the client sent it, from the client's own
 * clock (deadline_unix_ms, which also covers the time the frame waited in the kernel while
 * this process was stopped; clocks must agree, e.g. NTP).
 *
 * Client (rpc_client.c): a REQ socket connected by a dial (dial.h); each call runs on its
 * own nng context, so one client may be shared by any number of threads. Calls time out,
 * are retried a bounded number of times, and always report a status (remote or local) whose
 * message says what happened: connection refused, TLS handshake failed and why, connection
 * lost, no reply in time.
 */
#ifndef XDROP_RPC_H
#define XDROP_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <protobuf-c/protobuf-c.h>

#include "tls.h"

/* Limits and defaults. */
#define XDROP_RPC_MAX_MSG	   (16u * 1024 * 1024) /* default frame limit, both ends */
#define XDROP_RPC_FRAME_SLACK	   (64u * 1024)	       /* see "Limits" above */
#define XDROP_RPC_WORKERS	   8		       /* default concurrent contexts */
#define XDROP_RPC_MAX_WORKERS	   256
#define XDROP_RPC_MAX_SERVICES	   16			 /* services registered on one server */
#define XDROP_RPC_TIMEOUT_MS	   5000			 /* default client timeout per attempt */
#define XDROP_RPC_RESEND_MS	   NNG_DURATION_INFINITE /* no resend within an attempt */
#define XDROP_RPC_MAX_RETRIES	   5
#define XDROP_RPC_RETRY_BACKOFF_MS 50			    /* doubled per retry */
#define XDROP_RPC_MAX_MESSAGE	   256			    /* status message, bytes with NUL */
#define XDROP_RPC_MAX_FIELD	   128			    /* field path, bytes with NUL */
#define XDROP_RPC_MAX_NAME	   128			    /* service and method names */
#define XDROP_RPC_MAX_TOKEN	   512			    /* auth token */
#define XDROP_RPC_DECODE_FACTOR	   16u			    /* payload decode budget: x its size */
#define XDROP_RPC_DECODE_MIN	   (1024u * 1024)	    /* ... plus this */
#define XDROP_RPC_PUBLIC_SERVICE   "xdrop.v1.HealthService" /* callable without a key */
#define XDROP_RPC_PUBLIC_MAX_MSG   (64u * 1024)		    /* its frame limit */
#define XDROP_RPC_RECV_TIMEOUT_MS  30000 /* see "Limits"; env XDROP_RPC_RECV_TIMEOUT_MS */
#define XDROP_RPC_MAX_REQUEST_ID   128	 /* request id, characters (without NUL) */

/* A client of several addresses (rpc_client.c): at most this many, and the time a call waits
 * for one address's connection before it goes on to the next. */
#define XDROP_RPC_MAX_ADDRS   8
#define XDROP_RPC_FAILOVER_MS 2000

/* Status codes: numerically identical to xdrop.v1.Code and to gRPC's codes. */
enum rpc_code {
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_DATA_LOSS = 15,
	RPC_UNAUTHENTICATED = 16,
};
#define RPC_CODE_COUNT 17

/* "NOT_FOUND" etc.; "UNKNOWN" for values out of range. */
const char *rpc_code_name(enum rpc_code code);

/* Parses a code name (as printed by rpc_code_name); returns 0 or -EINVAL. */
int rpc_code_parse(const char *name, enum rpc_code *out);

/* Maps a status to a negative errno (OK -> 0, NOT_FOUND -> -ENOENT, ...). */
int rpc_code_errno(enum rpc_code code);

/* Maps a negative errno to a status (-ENOENT -> NOT_FOUND, ...); 0 -> OK. */
enum rpc_code rpc_code_from_errno(int err);

/* Added to the message of an error answered to a resend of a call whose first attempt was
 * lost after it was sent (rpc_client): that attempt may have run. */
#define XDROP_RPC_LOST_NOTE                                                                        \
	" (an earlier attempt was lost after it was sent: it may or may not have been "            \
	"applied; send it again with the same request id to know)"

/* The outcome of a call as the client sees it. */
struct rpc_status {
	enum rpc_code code;
	char message[XDROP_RPC_MAX_MESSAGE];
	char field[XDROP_RPC_MAX_FIELD];
	bool replayed;	    /* the server answered with the recorded outcome of this request id */
	bool try_elsewhere; /* UNAVAILABLE, nothing ran: another server may serve it */
};

/*
 * True when id is a valid request id: 1..XDROP_RPC_MAX_REQUEST_ID printable ASCII
 * characters other than space (0x21..0x7e), e.g. a UUID. "" (no id) is not valid here.
 */
bool rpc_request_id_ok(const char *id);

/* ---- server ------------------------------------------------------------------------ */

struct rpc_server;
struct rpc_call; /* one call in progress; valid only inside the hook or handler given it */

/*
 * A method handler. req is the unpacked request (the method's input type; cast it), resp a
 * zero-initialized message of the method's output type to fill in. Returns RPC_OK, or an
 * error code, normally through rpc_call_error() which also sets the message and field.
 * Everything resp points to must stay valid until the handler has returned and the reply is
 * packed: use rpc_call_alloc()/rpc_call_strdup(), static data, or rpc_call_defer() to free
 * your own allocations. Runs on a server worker thread; may block (bounded by the deadline).
 */
typedef enum rpc_code (*rpc_handler_fn)(struct rpc_call *call, const ProtobufCMessage *req,
					ProtobufCMessage *resp, void *arg);

/*
 * The auth hook: decides whether token may call rpc_call_service()/rpc_call_method().
 * Returns RPC_OK, RPC_UNAUTHENTICATED (no or unknown token) or RPC_PERMISSION_DENIED
 * (known token, insufficient scope); any other value is answered as INTERNAL. It may attach
 * the caller's identity with rpc_call_set_principal(). Runs before the handler, on the
 * worker thread. RPC_RESOURCE_EXHAUSTED is passed on too: the caller's source is refused
 * for now (too many failed credentials), with the hook's message; so is RPC_UNAVAILABLE
 * with a message set by the hook (it could not decide: its store did not answer).
 */
typedef enum rpc_code (*rpc_auth_fn)(struct rpc_call *call, const char *token, void *arg);

struct rpc_server_opts {
	size_t sz;	  /* sizeof(struct rpc_server_opts) */
	const char *url;  /* listen URL; NULL: no socket (rpc_server_process only) */
	unsigned workers; /* concurrent contexts; 0 = XDROP_RPC_WORKERS */
	size_t max_msg;	  /* frame limit; 0 = XDROP_RPC_MAX_MSG */
	rpc_auth_fn auth; /* NULL: every call is allowed */
	void *auth_arg;
	const struct tls_opts *tls; /* for tls+tcp:// URLs; copied at open */
	const char *name;	    /* for logs, e.g. "controller" */
	unsigned recv_timeout_ms;   /* idle connection limit; 0 = the environment's
				       XDROP_RPC_RECV_TIMEOUT_MS, else the constant */
};

/*
 * Creates a server. Nothing is received until rpc_server_start(). Returns 0 and the server
 * in *out (free with rpc_server_close), or -EINVAL / -ENOMEM.
 */
int rpc_server_open(struct rpc_server **out, const struct rpc_server_opts *opts);

/*
 * Registers fn for method `method` (name as in the .proto, e.g. "Get") of service svc.
 * Only before rpc_server_start(). Returns 0; -ENOENT if svc has no such method; -EEXIST if
 * already registered; -ENOSPC beyond XDROP_RPC_MAX_SERVICES services; -EBUSY once started.
 */
int rpc_server_register(struct rpc_server *s, const ProtobufCServiceDescriptor *svc,
			const char *method, rpc_handler_fn fn, void *arg);

/*
 * Opens the REP socket, listens on opts->url and starts the workers. Returns 0 or a
 * negative errno (-EADDRINUSE, -EINVAL for a bad URL or TLS settings, ...).
 */
int rpc_server_start(struct rpc_server *s);

/* The TCP port the server listens on (useful with port 0), or a negative errno. */
int rpc_server_port(const struct rpc_server *s);

/*
 * Processes one request frame without any socket: decode, auth, deadline, dispatch, encode.
 * On return *out (free()) holds the RpcReply frame of *out_len bytes. Returns 0, or
 * -ENOMEM when not even an error reply could be built. Thread-safe. The workers use it;
 * tests and fuzzers call it directly.
 */
int rpc_server_process(struct rpc_server *s, const void *frame, size_t len, uint8_t **out,
		       size_t *out_len);

/* rpc_server_process for a frame from peer (a struct sockaddr; NULL: unknown), which
 * rpc_call_peer() then returns to the auth hook and the handler. */
int rpc_server_process_from(struct rpc_server *s, const void *frame, size_t len,
			    const struct sockaddr_storage *peer, uint8_t **out, size_t *out_len);

/* Number of replies sent with each code since open (for stats and tests). */
uint64_t rpc_server_count(const struct rpc_server *s, enum rpc_code code);

/*
 * How busy the workers are, for a liveness check that must tell a wedged listener from a
 * busy one (lib/watchdog.h reads it; the RPC layer knows nothing of the watchdog). A
 * worker is in a call from the moment it takes a request until its reply is sent.
 */
struct rpc_server_load {
	unsigned workers;     /* worker threads */
	unsigned running;     /* of them, in a call now */
	uint64_t completed;   /* calls finished (replied or dropped) since start */
	int64_t saturated_ms; /* clock_mono_ms() when every worker was last in a call at
				 once (now while they are); 0: never */
	int64_t oldest_ms;    /* clock_mono_ms() when the longest-running call began; 0: none */
};

/* Fills *out with s's load (all zero before rpc_server_start). Thread-safe. */
void rpc_server_load(const struct rpc_server *s, struct rpc_server_load *out);

/* Stops the workers, closes the socket and frees s. NULL is fine. */
void rpc_server_close(struct rpc_server *s);

/* Call accessors, valid inside the auth hook and the handler. */
const char *rpc_call_service(const struct rpc_call *call); /* "xdrop.v1.RuleService" */
const char *rpc_call_method(const struct rpc_call *call);  /* "Get" */
uint64_t rpc_call_id(const struct rpc_call *call);
void rpc_call_set_principal(struct rpc_call *call, void *principal);
void *rpc_call_principal(const struct rpc_call *call);
/* The caller's IP address (AF_INET / AF_INET6), or NULL over ipc://, inproc:// or when
 * unknown. Used by auth hooks to limit failed credentials per source (lib/limiter.h). */
const struct sockaddr *rpc_call_peer(const struct rpc_call *call);

/*
 * The caller's request id (RpcRequest.request_id, validated after the auth hook: a bad
 * one is answered INVALID_ARGUMENT naming the field "request_id"), "" when none.
 */
const char *rpc_call_request_id(const struct rpc_call *call);

/* Marks the reply as the recorded outcome of an earlier call (RpcReply.replayed). */
void rpc_call_set_replayed(struct rpc_call *call);

/* Marks an UNAVAILABLE reply as "nothing ran, and this server serves no call now" (RpcReply.
 * try_elsewhere): a client with several addresses sends the call to the next one. Only for
 * refusals made before anything ran (a controller whose cluster has no reachable leader). */
void rpc_call_set_try_elsewhere(struct rpc_call *call);

/* Milliseconds left before the caller's deadline; INT64_MAX when it set none; <= 0 past. */
int64_t rpc_call_remaining_ms(const struct rpc_call *call);
bool rpc_call_expired(const struct rpc_call *call);

/*
 * Sets the call's error message and field path (field may be NULL) and returns code, so
 * that a handler can `return rpc_call_error(call, RPC_NOT_FOUND, "id", "rule %s", id);`.
 */
enum rpc_code rpc_call_error(struct rpc_call *call, enum rpc_code code, const char *field,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Memory that lives until the reply has been packed (for strings and sub-messages of
 * resp). Zeroed. NULL when out of memory. rpc_call_strdup(call, NULL) returns "".
 */
void *rpc_call_alloc(struct rpc_call *call, size_t size);
char *rpc_call_strdup(struct rpc_call *call, const char *s);

/*
 * The handler's response, already serialized as the method's output type (len bytes,
 * copied): the server sends it as is and ignores resp. For replies served many times from
 * one serialization (snapshot chunks). Returns 0 or -ENOMEM.
 */
int rpc_call_set_packed(struct rpc_call *call, const void *data, size_t len);

/*
 * Runs fn(p) after the reply has been packed (e.g. to free a message a store returned).
 * Returns 0 or -ENOMEM (in which case fn(p) has been run at once).
 */
int rpc_call_defer(struct rpc_call *call, void (*fn)(void *), void *p);

/* ---- client ------------------------------------------------------------------------ */

struct rpc_client;

struct rpc_client_opts {
	size_t sz;		    /* sizeof(struct rpc_client_opts) */
	const char *url;	    /* dial URL, or several joined by commas */
	const char *auth_token;	    /* sent with every call; NULL = "" */
	unsigned timeout_ms;	    /* per attempt; 0 = XDROP_RPC_TIMEOUT_MS */
	unsigned retries;	    /* extra attempts after a timeout or a failed connection
				     * attempt, <= XDROP_RPC_MAX_RETRIES */
	unsigned resend_ms;	    /* nng REQ resend time; 0 = none (XDROP_RPC_RESEND_MS) */
	size_t max_msg;		    /* frame limit; 0 = XDROP_RPC_MAX_MSG */
	const struct tls_opts *tls; /* for tls+tcp:// URLs; copied at open */
};

/*
 * Creates a client and starts dialing (on the client's own thread: the server need not be
 * up). Returns 0 and *out (free with rpc_client_close), or a negative errno (-EINVAL for
 * bad TLS settings, ...).
 */
int rpc_client_open(struct rpc_client **out, const struct rpc_client_opts *opts);

/*
 * Calls svc.method with req (must be of the method's input type). The status is always
 * written to *st (when st is not NULL): the server's code, message and field, or a local
 * code: DEADLINE_EXCEEDED when no reply came within the attempts (connected but no answer,
 * or still connecting), UNAVAILABLE at once when a connection attempt failed ("connection
 * refused by HOST:PORT", "TLS handshake with HOST:PORT failed: unknown CA / name mismatch /
 * ...") or the connection was lost while the call waited for its reply ("connection to
 * HOST:PORT lost ..."; the call may have run), INVALID_ARGUMENT for a request the client
 * refused to send,
 * RESOURCE_EXHAUSTED for a frame above max_msg, DATA_LOSS for an undecodable reply.
 * On RPC_OK, *resp receives the unpacked response (output type), which the caller frees
 * with protobuf_c_message_free_unpacked(*resp, NULL); otherwise *resp is NULL.
 * Returns 0 on RPC_OK, else rpc_code_errno(code) (negative). Thread-safe.
 * A call is retried only after a timeout (the server may then execute it more than once: use
 * retries only for idempotent methods) or a failed connection attempt (nothing was sent);
 * never after a lost connection.
 */
int rpc_client_call(struct rpc_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		    const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st);

/*
 * Like rpc_client_call with a per-call timeout (ms, per attempt) and auth token (NULL:
 * the client's); used by callers that forward a user's key (the gateway).
 */
int rpc_client_call_ex(struct rpc_client *c, const ProtobufCServiceDescriptor *svc,
		       const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
		       struct rpc_status *st, unsigned timeout_ms, const char *auth_token);

/* Per-call options of rpc_client_call_opts. */
struct rpc_call_opts {
	size_t sz;		/* sizeof(struct rpc_call_opts) */
	unsigned timeout_ms;	/* per attempt; 0 = the client's */
	const char *auth_token; /* NULL = the client's */
	const char *request_id; /* NULL or "" = none; else must pass rpc_request_id_ok() */
};

/*
 * Like rpc_client_call with per-call options. A request id makes a write safe to resend:
 * a controller answers every call with the same id and credential with the outcome of the
 * first (st->replayed tells). An invalid id is refused locally with INVALID_ARGUMENT.
 */
int rpc_client_call_opts(struct rpc_client *c, const ProtobufCServiceDescriptor *svc,
			 const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 struct rpc_status *st, const struct rpc_call_opts *opts);

/* Closes the socket and frees c, once no call on c is in progress. NULL is fine. */
void rpc_client_close(struct rpc_client *c);

#endif
