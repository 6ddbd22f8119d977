// SPDX-License-Identifier: MIT
/*
 * rpc_server: the server half of lib/rpc (see rpc.h for the contract, docs/rpc.md for the
 * wire format, rpc_frame.h for the decoding limits, rpc_pipes.h for the receive timeout).
 *
 * Server life of a call (rpc_server_process, identical for every transport):
 *   frame size check -> envelope walk and decode without the payload (rpc_frame) ->
 *   service lookup (registered descriptors) -> method lookup
 *   (protobuf_c_service_descriptor_get_method_by_name) -> public frame cap -> auth hook ->
 *   deadlines (relative and absolute) -> payload decode with the method's input descriptor
 *   and a budgeted allocator -> handler -> response check and pack with the output
 *   descriptor -> RpcReply.
 * The first step that fails decides the code of the reply; nothing after it runs.
 *
 * Each worker thread owns one nng context and loops receive -> process -> send on its own
 * aio; closing the socket completes every pending aio with NNG_ECLOSED, which ends the loops.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "clock.h"
#include "closewatch.h"
#include "log.h"
#include "rpc.h"
#include "rpc_frame.h"
#include "rpc_pipes.h"
#include "xdrop.pb-c.h"

/* How long rpc_server_close lets the calls in progress end before it closes the socket. */
#define RPC_CLOSE_DRAIN_MS 1000

/* Room for RpcReply's own fields around the payload. */
#define REPLY_OVERHEAD (XDROP_RPC_MAX_MESSAGE + XDROP_RPC_MAX_FIELD + 64)

/* Cuts a trailing incomplete UTF-8 sequence left by truncation (proto3 strings are UTF-8). */
static void utf8_trim(char *s)
{
	size_t len = strlen(s), i = len, need;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && len - i < 3)
		i--;
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return;
	need = ((unsigned char)s[i - 1] & 0xe0) == 0xc0	  ? 1
	       : ((unsigned char)s[i - 1] & 0xf0) == 0xe0 ? 2
	       : ((unsigned char)s[i - 1] & 0xf8) == 0xf0 ? 3
							  : 0;
	if (len - i != need)
		s[i - 1] = '\0';
}

/* Names from the wire are echoed in messages only when they look like identifiers. */
static const char *safe_name(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return "(empty)";
	for (const char *p = s; *p; p++, n++) {
		if (n >= XDROP_RPC_MAX_NAME)
			return "(too long)";
		if (!(*p == '.' || *p == '_' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return "(invalid)";
	}
	return s;
}

/* ---- calls ------------------------------------------------------------------------- */

struct call_block {
	struct call_block *next;
	max_align_t data[];
};

struct call_defer {
	struct call_defer *next;
	void (*fn)(void *);
	void *p;
};

struct rpc_call {
	const char *service;
	const char *method;
	uint64_t call_id;
	const char *request_id;
	bool replayed, try_elsewhere;
	int64_t received_ms; /* CLOCK_MONOTONIC (clock_mono_ms) */
	int64_t deadline_ms; /* same clock; 0 = none */
	void *principal;
	const struct sockaddr_storage *peer; /* NULL: not an IP transport, or unknown */
	char message[XDROP_RPC_MAX_MESSAGE];
	char field[XDROP_RPC_MAX_FIELD];
	struct call_block *blocks;
	struct call_defer *defers;
	ProtobufCBinaryData packed; /* rpc_call_set_packed: the response, serialized */
	bool has_packed;
};

int rpc_call_set_packed(struct rpc_call *call, const void *data, size_t len)
{
	call->packed.data = rpc_call_alloc(call, len ? len : 1);
	if (!call->packed.data)
		return -ENOMEM;
	memcpy(call->packed.data, data, len);
	call->packed.len = len;
	call->has_packed = true;
	return 0;
}

const char *rpc_call_service(const struct rpc_call *call)
{
	return call->service;
}

const char *rpc_call_method(const struct rpc_call *call)
{
	return call->method;
}

const struct sockaddr *rpc_call_peer(const struct rpc_call *call)
{
	return (const struct sockaddr *)call->peer;
}

uint64_t rpc_call_id(const struct rpc_call *call)
{
	return call->call_id;
}

void rpc_call_set_principal(struct rpc_call *call, void *principal)
{
	call->principal = principal;
}

void *rpc_call_principal(const struct rpc_call *call)
{
	return call->principal;
}

const char *rpc_call_request_id(const struct rpc_call *call)
{
	return call->request_id ? call->request_id : "";
}

void rpc_call_set_replayed(struct rpc_call *call)
{
	call->replayed = true;
}

void rpc_call_set_try_elsewhere(struct rpc_call *call)
{
	call->try_elsewhere = true;
}

int64_t rpc_call_remaining_ms(const struct rpc_call *call)
{
	if (!call->deadline_ms)
		return INT64_MAX;
	return call->deadline_ms - clock_mono_ms();
}

bool rpc_call_expired(const struct rpc_call *call)
{
	return call->deadline_ms && clock_mono_ms() >= call->deadline_ms;
}

enum rpc_code rpc_call_error(struct rpc_call *call, enum rpc_code code, const char *field,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
	utf8_trim(call->message);
	snprintf(call->field, sizeof(call->field), "%s", field ? field : "");
	utf8_trim(call->field);
	return code;
}

void *rpc_call_alloc(struct rpc_call *call, size_t size)
{
	struct call_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	b = calloc(1, sizeof(*b) + size);
	if (!b)
		return NULL;
	b->next = call->blocks;
	call->blocks = b;
	return b->data;
}

char *rpc_call_strdup(struct rpc_call *call, const char *s)
{
	size_t len;
	char *d;

	if (!s)
		s = "";
	len = strlen(s);
	d = rpc_call_alloc(call, len + 1);
	if (d)
		memcpy(d, s, len);
	return d;
}

int rpc_call_defer(struct rpc_call *call, void (*fn)(void *), void *p)
{
	struct call_defer *d = malloc(sizeof(*d));

	if (!d) {
		fn(p);
		return -ENOMEM;
	}
	d->fn = fn;
	d->p = p;
	d->next = call->defers;
	call->defers = d;
	return 0;
}

/* Runs the deferred functions (newest first) and frees the call's memory. */
static void call_release(struct rpc_call *call)
{
	while (call->defers) {
		struct call_defer *d = call->defers;

		call->defers = d->next;
		d->fn(d->p);
		free(d);
	}
	while (call->blocks) {
		struct call_block *b = call->blocks;

		call->blocks = b->next;
		free(b);
	}
}

/* ---- server ------------------------------------------------------------------------ */

struct method_slot {
	rpc_handler_fn fn;
	void *arg;
};

struct service_slot {
	const ProtobufCServiceDescriptor *desc;
	struct method_slot *methods; /* desc->n_methods entries, indexed like desc->methods */
};

struct rpc_worker {
	struct rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_t thread;
	bool running;
	_Atomic int64_t busy_since; /* clock_mono_ms() when its call began; 0: idle */
};

struct rpc_server {
	char *url;
	char *name;
	unsigned n_workers;
	size_t max_msg;
	rpc_auth_fn auth;
	void *auth_arg;
	struct tls_opts tls;
	char *tls_strings[XDROP_TLS_STRINGS];

	struct service_slot services[XDROP_RPC_MAX_SERVICES];
	unsigned n_services;

	bool started;
	bool sock_open;
	nng_socket sock;
	nng_listener listener;
	unsigned recv_timeout_ms;
	struct rpc_pipes *pipes;
	struct rpc_worker *workers;
	_Atomic uint64_t counts[RPC_CODE_COUNT];
	/* the load (rpc_server_load) */
	_Atomic unsigned running;
	_Atomic uint64_t completed;
	_Atomic int64_t saturated_ms; /* when every worker was last in a call at once */
};

/* The receive timeout: the option, else the environment (for operators and tests), else
 * the default. */
static unsigned recv_timeout(const struct rpc_server_opts *opts)
{
	const char *env = getenv("XDROP_RPC_RECV_TIMEOUT_MS");
	char *end;
	unsigned long v;

	if (opts->recv_timeout_ms)
		return opts->recv_timeout_ms;
	if (env && *env) {
		v = strtoul(env, &end, 10);
		if (!*end && v >= 100 && v <= 3600000)
			return (unsigned)v;
		log_warn("XDROP_RPC_RECV_TIMEOUT_MS=%s is not 100..3600000 ms: using %u", env,
			 XDROP_RPC_RECV_TIMEOUT_MS);
	}
	return XDROP_RPC_RECV_TIMEOUT_MS;
}
int rpc_server_open(struct rpc_server **out, const struct rpc_server_opts *opts)
{
	struct rpc_server *s = NULL;
	int err = 0;

	if (!out || !opts || opts->sz < sizeof(*opts))
		return -EINVAL;
	if (opts->workers > XDROP_RPC_MAX_WORKERS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_workers = opts->workers ? opts->workers : XDROP_RPC_WORKERS;
	s->max_msg = opts->max_msg ? opts->max_msg : XDROP_RPC_MAX_MSG;
	s->auth = opts->auth;
	s->auth_arg = opts->auth_arg;
	s->recv_timeout_ms = recv_timeout(opts);
	s->name = strdup(opts->name ? opts->name : "rpc");
	if (!s->name) {
		err = -ENOMEM;
		goto out;
	}
	if (opts->url) {
		s->url = strdup(opts->url);
		if (!s->url) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (opts->tls) {
		err = tls_opts_copy(&s->tls, s->tls_strings, opts->tls);
		if (err)
			goto out;
	}
	*out = s;
	s = NULL;
out:
	rpc_server_close(s);
	return err;
}

int rpc_server_register(struct rpc_server *s, const ProtobufCServiceDescriptor *svc,
			const char *method, rpc_handler_fn fn, void *arg)
{
	const ProtobufCMethodDescriptor *m;
	struct service_slot *slot = NULL;
	unsigned i;

	if (!s || !svc || !method || !fn)
		return -EINVAL;
	if (s->started)
		return -EBUSY;
	m = protobuf_c_service_descriptor_get_method_by_name(svc, method);
	if (!m)
		return -ENOENT;
	for (i = 0; i < s->n_services; i++)
		if (s->services[i].desc == svc)
			slot = &s->services[i];
	if (!slot) {
		if (s->n_services == XDROP_RPC_MAX_SERVICES)
			return -ENOSPC;
		slot = &s->services[s->n_services];
		slot->methods = calloc(svc->n_methods, sizeof(*slot->methods));
		if (!slot->methods)
			return -ENOMEM;
		slot->desc = svc;
		s->n_services++;
	}
	i = (unsigned)(m - svc->methods);
	if (slot->methods[i].fn)
		return -EEXIST;
	slot->methods[i].fn = fn;
	slot->methods[i].arg = arg;
	return 0;
}

static const struct service_slot *find_service(const struct rpc_server *s, const char *name)
{
	for (unsigned i = 0; i < s->n_services; i++)
		if (strcmp(s->services[i].desc->name, name) == 0)
			return &s->services[i];
	return NULL;
}

/* Runs the auth hook and maps what it returns to the codes it may give (UNAVAILABLE only
 * with its message: the hook could not decide, e.g. its store did not answer). */
static enum rpc_code authenticate(struct rpc_server *s, struct rpc_call *call, const char *token)
{
	enum rpc_code code;

	if (!s->auth)
		return RPC_OK;
	code = s->auth(call, token, s->auth_arg);
	if (code == RPC_UNAUTHENTICATED && !call->message[0])
		rpc_call_error(call, code, NULL, "unauthenticated");
	else if (code == RPC_PERMISSION_DENIED && !call->message[0])
		rpc_call_error(call, code, NULL, "permission denied");
	else if (code != RPC_OK && code != RPC_UNAUTHENTICATED && code != RPC_PERMISSION_DENIED &&
		 code != RPC_RESOURCE_EXHAUSTED && !(code == RPC_UNAVAILABLE && call->message[0]))
		code = rpc_call_error(call, RPC_INTERNAL, NULL, "auth hook failed");
	return code;
}

/* Says (at most every 10 s) that a call came after its client's deadline: after a stop
 * of this process that is expected; all the time, it means the clocks disagree. */
static void deadline_warn(const struct rpc_call *call, int64_t late_ms)
{
	static _Atomic int64_t last;
	int64_t now = clock_mono_ms(), then = atomic_load(&last);

	if (then && now - then < 10000)
		return;
	if (!atomic_compare_exchange_strong(&last, &then, now))
		return;
	log_warn("rpc: a %s.%s call arrived %lld ms after the client's deadline and was not "
		 "started (if this repeats, check that client and server clocks agree)",
		 call->service, call->method, (long long)late_ms);
}

/*
 * Sets the call's deadline from the relative budget (counted from receipt) and the
 * client's absolute one, the earlier winning, and refuses a call whose deadline is gone:
 * a client that stopped waiting must not have its call started afterwards (a frame that
 * sat in the kernel while this process was stopped arrives "fresh" by the monotonic clock,
 * which only the client's own deadline reveals).
 */
static enum rpc_code check_deadline(struct rpc_call *call, const Xdrop__V1__RpcRequest *rq)
{
	int64_t now = clock_mono_ms();

	if (rq->deadline_unix_ms) {
		int64_t left = rq->deadline_unix_ms - clock_wall_ms();

		if (left <= 0) {
			deadline_warn(call, -left);
			return rpc_call_error(call, RPC_DEADLINE_EXCEEDED, "deadline_unix_ms",
					      "the client's deadline passed %lld ms before the "
					      "call started (deadline_unix_ms; client and server "
					      "clocks must agree)",
					      (long long)-left);
		}
		call->deadline_ms = now + left;
	}
	if (rq->deadline_ms) {
		int64_t rel = call->received_ms + (int64_t)rq->deadline_ms;

		if (!call->deadline_ms || rel < call->deadline_ms)
			call->deadline_ms = rel;
		if (now >= rel)
			return rpc_call_error(call, RPC_DEADLINE_EXCEEDED, "deadline_ms",
					      "deadline of %u ms expired before dispatch",
					      rq->deadline_ms);
	}
	return RPC_OK;
}

/*
 * Everything before the payload is looked at: the service and method must be served, a
 * public call must be small, the caller must be let in and the deadline not gone.
 * Returns RPC_OK with *mo and *mso set, or the refusal.
 */
static enum rpc_code admit(struct rpc_server *s, struct rpc_call *call,
			   const Xdrop__V1__RpcRequest *rq, size_t len,
			   const ProtobufCMethodDescriptor **mo, const struct method_slot **mso)
{
	const ProtobufCMethodDescriptor *m;
	const struct service_slot *slot;
	const struct method_slot *ms;
	enum rpc_code code;

	call->service = rq->service;
	call->method = rq->method;
	slot = find_service(s, rq->service);
	if (!slot)
		return rpc_call_error(call, RPC_UNIMPLEMENTED, "service", "unknown service %s",
				      safe_name(rq->service));
	m = protobuf_c_service_descriptor_get_method_by_name(slot->desc, rq->method);
	ms = m ? &slot->methods[m - slot->desc->methods] : NULL;
	if (!ms || !ms->fn)
		return rpc_call_error(call, RPC_UNIMPLEMENTED, "method", "unknown method %s.%s",
				      slot->desc->name, safe_name(rq->method));
	call->service = slot->desc->name;
	call->method = m->name;
	if (len > XDROP_RPC_PUBLIC_MAX_MSG && strcmp(call->service, XDROP_RPC_PUBLIC_SERVICE) == 0)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL,
				      "a %s call carries at most %u bytes, not %zu", call->service,
				      XDROP_RPC_PUBLIC_MAX_MSG, len);
	code = authenticate(s, call, rq->auth_token);
	if (code == RPC_OK && rq->request_id[0] && !rpc_request_id_ok(rq->request_id))
		code = rpc_call_error(call, RPC_INVALID_ARGUMENT, "request_id",
				      "request_id must be 1..%d printable ASCII characters "
				      "without spaces",
				      XDROP_RPC_MAX_REQUEST_ID);
	call->request_id = rq->request_id;
	if (code == RPC_OK)
		code = check_deadline(call, rq);
	*mo = m;
	*mso = ms;
	return code;
}

/* RPC_OK when a response of size bytes fits in a reply frame. */
static enum rpc_code reply_fits(struct rpc_server *s, struct rpc_call *call, size_t size)
{
	if (size + REPLY_OVERHEAD <= s->max_msg)
		return RPC_OK;
	return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL,
			      "reply of %zu bytes exceeds the limit of %zu", size, s->max_msg);
}

/* Decides the reply's code up to the handler's result; fills *payload on RPC_OK. */
static enum rpc_code dispatch(struct rpc_server *s, struct rpc_call *call,
			      const Xdrop__V1__RpcRequest *rq, size_t len,
			      ProtobufCBinaryData *payload)
{
	const ProtobufCMethodDescriptor *m = NULL;
	const struct method_slot *ms = NULL;
	ProtobufCMessage *in = NULL, *resp;
	struct rpc_budget budget;
	enum rpc_code code;
	size_t size;

	code = admit(s, call, rq, len, &m, &ms);
	if (code != RPC_OK)
		return code;
	rpc_budget_init(&budget, rpc_budget_for(rq->payload.len));
	in = protobuf_c_message_unpack(m->input, &budget.base, rq->payload.len, rq->payload.data);
	if (!in && budget.exceeded)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, "payload",
				      "payload needs more than %zu bytes to decode as %s",
				      budget.limit, m->input->name);
	if (!in)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "payload",
				      "payload is not a valid %s", m->input->name);
	resp = rpc_call_alloc(call, m->output->sizeof_message);
	if (!resp) {
		code = rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		goto out;
	}
	protobuf_c_message_init(m->output, resp);

	code = ms->fn(call, in, resp, ms->arg);
	if ((unsigned)code >= RPC_CODE_COUNT) {
		log_error("%s: %s.%s returned invalid code %d", s->name, call->service,
			  call->method, (int)code);
		code = rpc_call_error(call, RPC_INTERNAL, NULL, "internal error");
	}
	if (code != RPC_OK)
		goto out;
	if (call->has_packed) {
		code = reply_fits(s, call, call->packed.len);
		if (code == RPC_OK)
			*payload = call->packed;
		goto out;
	}

	if (!protobuf_c_message_check(resp)) {
		log_error("%s: %s.%s produced an incomplete %s", s->name, call->service,
			  call->method, m->output->name);
		code = rpc_call_error(call, RPC_INTERNAL, NULL, "internal error");
		goto out;
	}
	size = protobuf_c_message_get_packed_size(resp);
	code = reply_fits(s, call, size);
	if (code != RPC_OK)
		goto out;
	payload->data = rpc_call_alloc(call, size ? size : 1);
	if (!payload->data) {
		code = rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		goto out;
	}
	payload->len = protobuf_c_message_pack(resp, payload->data);
out:
	protobuf_c_message_free_unpacked(in, &budget.base);
	return code;
}

int rpc_server_process(struct rpc_server *s, const void *frame, size_t len, uint8_t **out,
		       size_t *out_len)
{
	return rpc_server_process_from(s, frame, len, NULL, out, out_len);
}

int rpc_server_process_from(struct rpc_server *s, const void *frame, size_t len,
			    const struct sockaddr_storage *peer, uint8_t **out, size_t *out_len)
{
	Xdrop__V1__RpcReply rp = XDROP__V1__RPC_REPLY__INIT;
	Xdrop__V1__RpcRequest *rq = NULL;
	struct rpc_call call = {
	    .service = "",
	    .method = "",
	    .received_ms = clock_mono_ms(),
	    .peer = peer,
	};
	struct rpc_frame_error ferr;
	struct rpc_budget envelope;
	enum rpc_code code;
	uint8_t *buf;
	size_t size;
	int err = 0;

	/* the envelope without its payload is a few hundred bytes: 4 x its bound is ample */
	rpc_budget_init(&envelope, 4 * XDROP_RPC_MAX_ENVELOPE);
	if (len > s->max_msg) {
		code = rpc_call_error(&call, RPC_RESOURCE_EXHAUSTED, NULL,
				      "request of %zu bytes exceeds the limit of %zu", len,
				      s->max_msg);
		goto reply;
	}
	if (rpc_frame_decode(frame, len, &envelope, &rq, &ferr)) {
		code = rpc_call_error(&call, ferr.code, ferr.field, "%s", ferr.message);
		goto reply;
	}
	call.call_id = rq->call_id;
	code = dispatch(s, &call, rq, len, &rp.payload);

reply:
	if (code != RPC_OK && !call.message[0])
		snprintf(call.message, sizeof(call.message), "%s", rpc_code_name(code));
	if (code != RPC_OK) {
		rp.payload.len = 0;
		rp.payload.data = NULL;
		log_debug("%s: call %llu %s.%s: %s: %s", s->name, (unsigned long long)call.call_id,
			  safe_name(call.service), safe_name(call.method), rpc_code_name(code),
			  call.message);
	}
	rp.call_id = call.call_id;
	rp.replayed = call.replayed;
	rp.try_elsewhere = call.try_elsewhere && code == RPC_UNAVAILABLE;
	rp.code = (Xdrop__V1__Code)code;
	rp.message = call.message;
	rp.field = call.field;
	size = xdrop__v1__rpc_reply__get_packed_size(&rp);
	buf = malloc(size ? size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	*out_len = xdrop__v1__rpc_reply__pack(&rp, buf);
	*out = buf;
	atomic_fetch_add(&s->counts[code], 1);
out:
	rpc_frame_free(rq, &envelope);
	call_release(&call);
	return err;
}

uint64_t rpc_server_count(const struct rpc_server *s, enum rpc_code code)
{
	if ((unsigned)code >= RPC_CODE_COUNT)
		return 0;
	return atomic_load(&s->counts[code]);
}

/* The remote address of the pipe msg came on, as a sockaddr in *ss; NULL when it is not
 * TCP (ipc://, inproc://) or unknown. */
static const struct sockaddr_storage *peer_of(nng_msg *msg, struct sockaddr_storage *ss)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	nng_sockaddr sa;

	memset(ss, 0, sizeof(*ss));
	if (nng_pipe_id(p) < 0 || nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return NULL;
	if (sa.s_family == NNG_AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = sa.s_in.sa_port;
		in->sin_addr.s_addr = sa.s_in.sa_addr;
		return ss;
	}
	if (sa.s_family == NNG_AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = sa.s_in6.sa_port;
		memcpy(&in6->sin6_addr, sa.s_in6.sa_addr, 16);
		return ss;
	}
	return NULL;
}

/* Sends the reply to the frame just received on w's context; drops it on failure. The
 * request is freed before the reply is sent, so a large frame is not held meanwhile. */
static void worker_reply(struct rpc_worker *w, nng_msg *req)
{
	struct sockaddr_storage peer;
	nng_msg *msg = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int rv;

	rv = rpc_server_process_from(w->srv, nng_msg_body(req), nng_msg_len(req),
				     peer_of(req, &peer), &out, &out_len);
	nng_msg_free(req);
	if (rv) {
		log_error("%s: out of memory building a reply", w->srv->name);
		return;
	}
	rv = nng_msg_alloc(&msg, 0);
	if (!rv)
		rv = nng_msg_append(msg, out, out_len);
	free(out);
	if (rv) {
		nng_msg_free(msg);
		return;
	}
	nng_aio_set_msg(w->aio, msg);
	nng_ctx_send(w->ctx, w->aio);
	nng_aio_wait(w->aio);
	rv = nng_aio_result(w->aio);
	if (rv) {
		nng_msg_free(msg);
		if (rv != NNG_ECLOSED)
			log_debug("%s: reply not sent: %s", w->srv->name, tls_strerror(rv));
	}
}

/* Counts w in or out of a call; the moment every worker is in one is kept, so that a
 * liveness check can tell a queue behind busy workers from a listener that delivers
 * nothing. */
static void worker_busy(struct rpc_worker *w, bool busy)
{
	struct rpc_server *s = w->srv;
	int64_t now = clock_mono_ms();

	if (busy) {
		atomic_store(&w->busy_since, now);
		if (atomic_fetch_add(&s->running, 1) + 1 == s->n_workers)
			atomic_store(&s->saturated_ms, now);
		return;
	}
	if (atomic_fetch_sub(&s->running, 1) == s->n_workers)
		atomic_store(&s->saturated_ms, now);
	atomic_store(&w->busy_since, 0);
	atomic_fetch_add(&s->completed, 1);
}

void rpc_server_load(const struct rpc_server *s, struct rpc_server_load *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->workers)
		return;
	out->workers = s->n_workers;
	out->running = atomic_load(&s->running);
	out->completed = atomic_load(&s->completed);
	out->saturated_ms =
	    out->running >= s->n_workers ? clock_mono_ms() : atomic_load(&s->saturated_ms);
	for (unsigned i = 0; i < s->n_workers; i++) {
		int64_t since = atomic_load(&s->workers[i].busy_since);

		if (since && (!out->oldest_ms || since < out->oldest_ms))
			out->oldest_ms = since;
	}
}

static void *worker_main(void *arg)
{
	struct rpc_worker *w = arg;
	nng_msg *msg;
	nng_pipe pipe;
	int rv;

	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv) {
			log_debug("%s: receive failed: %s", w->srv->name, tls_strerror(rv));
			continue;
		}
		msg = nng_aio_get_msg(w->aio);
		pipe = nng_msg_get_pipe(msg);
		if (!rpc_pipes_begin(w->srv->pipes, pipe)) {
			nng_msg_free(msg); /* its connection is being closed: the client resends */
			continue;
		}
		worker_busy(w, true);
		worker_reply(w, msg);
		worker_busy(w, false);
		rpc_pipes_end(w->srv->pipes, pipe);
	}
	return NULL;
}

int rpc_server_start(struct rpc_server *s)
{
	int rv, err = 0;

	if (!s || !s->url)
		return -EINVAL;
	if (s->started)
		return -EALREADY;
	rv = nng_rep0_open(&s->sock);
	if (rv)
		return tls_nng_errno(rv);
	s->sock_open = true;
	s->started = true;
	rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->max_msg + XDROP_RPC_FRAME_SLACK);
	if (rv) {
		err = tls_nng_errno(rv);
		goto out;
	}
	if (strncmp(s->url, "ipc://", 6) != 0) { /* see rpc_pipes.h: not on ipc:// */
		err = rpc_pipes_start(&s->pipes, s->sock, s->recv_timeout_ms, s->name);
		if (err)
			goto out;
	}
	err = tls_listen(s->sock, s->url, &s->tls, &s->listener);
	if (err)
		goto out;
	s->workers = calloc(s->n_workers, sizeof(*s->workers));
	if (!s->workers) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct rpc_worker *w = &s->workers[i];

		w->srv = s;
		rv = nng_aio_alloc(&w->aio, NULL, NULL);
		if (!rv)
			rv = nng_ctx_open(&w->ctx, s->sock);
		if (rv) {
			err = tls_nng_errno(rv);
			goto out;
		}
		rv = pthread_create(&w->thread, NULL, worker_main, w);
		if (rv) {
			err = -rv;
			goto out;
		}
		w->running = true;
	}
	log_info("%s: serving RPC on %s with %u workers, receive timeout %u ms", s->name, s->url,
		 s->n_workers, s->recv_timeout_ms);
out:
	return err; /* on failure the caller's rpc_server_close() releases what was made */
}

int rpc_server_port(const struct rpc_server *s)
{
	if (!s || !s->sock_open)
		return -EINVAL;
	return tls_listener_port(s->listener);
}

void rpc_server_close(struct rpc_server *s)
{
	if (!s)
		return;
	/* nng 1.5.2 panics ("pthread_mutex_lock: Invalid argument" in nng_ctx_send) when the
	 * socket is closed while a worker is still inside nng_ctx_send of a reply its client
	 * has already received: let the calls in progress end first, for a bounded time. */
	for (int64_t until = clock_mono_ms() + RPC_CLOSE_DRAIN_MS;
	     atomic_load(&s->running) && clock_mono_ms() < until;)
		usleep(1000);
	if (s->sock_open)
		closewatch_close(s->sock); /* completes every worker's aio with NNG_ECLOSED */
	for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
		struct rpc_worker *w = &s->workers[i];

		if (w->running)
			pthread_join(w->thread, NULL);
		if (w->aio)
			nng_aio_free(w->aio);
	}
	free(s->workers);
	rpc_pipes_stop(s->pipes); /* after the close: no pipe event comes any more */
	for (unsigned i = 0; i < s->n_services; i++)
		free(s->services[i].methods);
	tls_opts_free(s->tls_strings);
	free(s->url);
	free(s->name);
	free(s);
}
