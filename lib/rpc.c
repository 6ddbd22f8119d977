// SPDX-License-Identifier: MIT
/*
 * rpc: RpcRequest/RpcReply framing over nng REQ/REP, descriptor-driven dispatch, status
 * codes (see rpc.h for the contract, docs/rpc.md for the wire format); the client is in
 * rpc_client.c.
 *
 * Server life of a call (rpc_server_process, identical for every transport):
 *   frame size check -> RpcRequest decode -> service lookup (registered descriptors) ->
 *   method lookup (protobuf_c_service_descriptor_get_method_by_name) -> auth hook ->
 *   deadline -> payload decode with the method's input descriptor -> handler ->
 *   response check and pack with the output descriptor -> RpcReply.
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
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "log.h"
#include "rpc.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

_Static_assert((int)RPC_OK == (int)XDROP__V1__CODE__OK, "codes follow xdrop.v1.Code");
_Static_assert((int)RPC_INVALID_ARGUMENT == (int)XDROP__V1__CODE__INVALID_ARGUMENT,
	       "code numbering");
_Static_assert((int)RPC_DEADLINE_EXCEEDED == (int)XDROP__V1__CODE__DEADLINE_EXCEEDED,
	       "code numbering");
_Static_assert((int)RPC_PERMISSION_DENIED == (int)XDROP__V1__CODE__PERMISSION_DENIED,
	       "code numbering");
_Static_assert((int)RPC_UNIMPLEMENTED == (int)XDROP__V1__CODE__UNIMPLEMENTED, "code numbering");
_Static_assert((int)RPC_UNAUTHENTICATED == (int)XDROP__V1__CODE__UNAUTHENTICATED, "code numbering");
_Static_assert(RPC_CODE_COUNT == XDROP__V1__CODE__UNAUTHENTICATED + 1, "code count");

/* Room for RpcReply's own fields around the payload. */
#define REPLY_OVERHEAD (XDROP_RPC_MAX_MESSAGE + XDROP_RPC_MAX_FIELD + 64)

static const char *const code_names[RPC_CODE_COUNT] = {
    [RPC_OK] = "OK",
    [RPC_CANCELLED] = "CANCELLED",
    [RPC_UNKNOWN] = "UNKNOWN",
    [RPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [RPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [RPC_NOT_FOUND] = "NOT_FOUND",
    [RPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [RPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [RPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [RPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [RPC_ABORTED] = "ABORTED",
    [RPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [RPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [RPC_INTERNAL] = "INTERNAL",
    [RPC_UNAVAILABLE] = "UNAVAILABLE",
    [RPC_DATA_LOSS] = "DATA_LOSS",
    [RPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

/* One table for both directions of the errno mapping; the first match wins going back. */
static const struct {
	enum rpc_code code;
	int err;
} code_errnos[] = {
    {RPC_CANCELLED, ECANCELED},
    {RPC_UNKNOWN, EIO},
    {RPC_INVALID_ARGUMENT, EINVAL},
    {RPC_DEADLINE_EXCEEDED, ETIMEDOUT},
    {RPC_NOT_FOUND, ENOENT},
    {RPC_ALREADY_EXISTS, EEXIST},
    {RPC_PERMISSION_DENIED, EACCES},
    {RPC_RESOURCE_EXHAUSTED, ENOSPC},
    {RPC_FAILED_PRECONDITION, EBUSY},
    {RPC_ABORTED, EAGAIN},
    {RPC_OUT_OF_RANGE, ERANGE},
    {RPC_UNIMPLEMENTED, ENOSYS},
    {RPC_INTERNAL, EFAULT},
    {RPC_UNAVAILABLE, ECONNREFUSED},
    {RPC_DATA_LOSS, EBADMSG},
    {RPC_UNAUTHENTICATED, EPERM},
    {RPC_RESOURCE_EXHAUSTED, EMSGSIZE},
    {RPC_RESOURCE_EXHAUSTED, ENOMEM},
    {RPC_RESOURCE_EXHAUSTED, E2BIG},
    {RPC_UNAVAILABLE, ECONNRESET},
    {RPC_UNAVAILABLE, EHOSTUNREACH},
    {RPC_UNAVAILABLE, EBADF},
    {RPC_INTERNAL, EIO},
    {RPC_FAILED_PRECONDITION, EALREADY},
};

const char *rpc_code_name(enum rpc_code code)
{
	if ((unsigned)code >= RPC_CODE_COUNT)
		return "UNKNOWN";
	return code_names[code];
}

int rpc_code_parse(const char *name, enum rpc_code *out)
{
	for (unsigned i = 0; name && i < RPC_CODE_COUNT; i++) {
		if (strcmp(name, code_names[i]) == 0) {
			*out = (enum rpc_code)i;
			return 0;
		}
	}
	return -EINVAL;
}

int rpc_code_errno(enum rpc_code code)
{
	if (code == RPC_OK)
		return 0;
	for (size_t i = 0; i < sizeof(code_errnos) / sizeof(code_errnos[0]); i++)
		if (code_errnos[i].code == code)
			return -code_errnos[i].err;
	return -EIO;
}

enum rpc_code rpc_code_from_errno(int err)
{
	if (err == 0)
		return RPC_OK;
	if (err < 0)
		err = -err;
	/* EIO maps back to INTERNAL, not UNKNOWN: a local I/O error is our fault. */
	if (err == EIO)
		return RPC_INTERNAL;
	for (size_t i = 0; i < sizeof(code_errnos) / sizeof(code_errnos[0]); i++)
		if (code_errnos[i].err == err)
			return code_errnos[i].code;
	return RPC_INTERNAL;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
	int64_t received_ns;
	int64_t deadline_ns; /* 0 = none */
	void *principal;
	char message[XDROP_RPC_MAX_MESSAGE];
	char field[XDROP_RPC_MAX_FIELD];
	struct call_block *blocks;
	struct call_defer *defers;
};

const char *rpc_call_service(const struct rpc_call *call)
{
	return call->service;
}

const char *rpc_call_method(const struct rpc_call *call)
{
	return call->method;
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

int64_t rpc_call_remaining_ms(const struct rpc_call *call)
{
	if (!call->deadline_ns)
		return INT64_MAX;
	return (call->deadline_ns - now_ns()) / 1000000;
}

bool rpc_call_expired(const struct rpc_call *call)
{
	return call->deadline_ns && now_ns() >= call->deadline_ns;
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
	struct rpc_worker *workers;
	_Atomic uint64_t counts[RPC_CODE_COUNT];
};

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

/* Decides the reply's code up to the handler's result; fills *payload on RPC_OK. */
static enum rpc_code dispatch(struct rpc_server *s, struct rpc_call *call,
			      const Xdrop__V1__RpcRequest *rq, ProtobufCBinaryData *payload)
{
	const ProtobufCMethodDescriptor *m;
	const struct service_slot *slot;
	const struct method_slot *ms;
	ProtobufCMessage *in = NULL, *resp;
	enum rpc_code code;
	size_t size;

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

	if (strlen(rq->auth_token) >= XDROP_RPC_MAX_TOKEN)
		return rpc_call_error(call, RPC_UNAUTHENTICATED, NULL, "unauthenticated");
	if (s->auth) {
		code = s->auth(call, rq->auth_token, s->auth_arg);
		if (code == RPC_UNAUTHENTICATED && !call->message[0])
			rpc_call_error(call, code, NULL, "unauthenticated");
		else if (code == RPC_PERMISSION_DENIED && !call->message[0])
			rpc_call_error(call, code, NULL, "permission denied");
		else if (code != RPC_OK && code != RPC_UNAUTHENTICATED &&
			 code != RPC_PERMISSION_DENIED)
			code = rpc_call_error(call, RPC_INTERNAL, NULL, "auth hook failed");
		if (code != RPC_OK)
			return code;
	}

	if (rq->deadline_ms) {
		call->deadline_ns = call->received_ns + (int64_t)rq->deadline_ms * 1000000;
		if (rpc_call_expired(call))
			return rpc_call_error(call, RPC_DEADLINE_EXCEEDED, NULL,
					      "deadline of %u ms expired before dispatch",
					      rq->deadline_ms);
	}

	in = protobuf_c_message_unpack(m->input, NULL, rq->payload.len, rq->payload.data);
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

	if (!protobuf_c_message_check(resp)) {
		log_error("%s: %s.%s produced an incomplete %s", s->name, call->service,
			  call->method, m->output->name);
		code = rpc_call_error(call, RPC_INTERNAL, NULL, "internal error");
		goto out;
	}
	size = protobuf_c_message_get_packed_size(resp);
	if (size + REPLY_OVERHEAD > s->max_msg) {
		code =
		    rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL,
				   "reply of %zu bytes exceeds the limit of %zu", size, s->max_msg);
		goto out;
	}
	payload->data = rpc_call_alloc(call, size ? size : 1);
	if (!payload->data) {
		code = rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		goto out;
	}
	payload->len = protobuf_c_message_pack(resp, payload->data);
out:
	protobuf_c_message_free_unpacked(in, NULL);
	return code;
}

int rpc_server_process(struct rpc_server *s, const void *frame, size_t len, uint8_t **out,
		       size_t *out_len)
{
	Xdrop__V1__RpcReply rp = XDROP__V1__RPC_REPLY__INIT;
	Xdrop__V1__RpcRequest *rq = NULL;
	struct rpc_call call = {
	    .service = "",
	    .method = "",
	    .received_ns = now_ns(),
	};
	enum rpc_code code;
	uint8_t *buf;
	size_t size;
	int err = 0;

	if (len > s->max_msg) {
		code = rpc_call_error(&call, RPC_RESOURCE_EXHAUSTED, NULL,
				      "request of %zu bytes exceeds the limit of %zu", len,
				      s->max_msg);
		goto reply;
	}
	rq = xdrop__v1__rpc_request__unpack(NULL, len, frame);
	if (!rq) {
		code = rpc_call_error(&call, RPC_INVALID_ARGUMENT, NULL, "malformed RpcRequest");
		goto reply;
	}
	call.call_id = rq->call_id;
	code = dispatch(s, &call, rq, &rp.payload);

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
	xdrop__v1__rpc_request__free_unpacked(rq, NULL);
	call_release(&call);
	return err;
}

uint64_t rpc_server_count(const struct rpc_server *s, enum rpc_code code)
{
	if ((unsigned)code >= RPC_CODE_COUNT)
		return 0;
	return atomic_load(&s->counts[code]);
}

/* Sends the reply to the frame just received on w's context; drops it on failure. */
static void worker_reply(struct rpc_worker *w, nng_msg *msg)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	int rv;

	if (rpc_server_process(w->srv, nng_msg_body(msg), nng_msg_len(msg), &out, &out_len)) {
		log_error("%s: out of memory building a reply", w->srv->name);
		nng_msg_free(msg);
		return;
	}
	nng_msg_clear(msg);
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

static void *worker_main(void *arg)
{
	struct rpc_worker *w = arg;
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
		worker_reply(w, nng_aio_get_msg(w->aio));
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
	log_info("%s: serving RPC on %s with %u workers", s->name, s->url, s->n_workers);
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
	if (s->sock_open)
		wd_close(s->sock); /* completes every worker's aio with NNG_ECLOSED */
	for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
		struct rpc_worker *w = &s->workers[i];

		if (w->running)
			pthread_join(w->thread, NULL);
		if (w->aio)
			nng_aio_free(w->aio);
	}
	free(s->workers);
	for (unsigned i = 0; i < s->n_services; i++)
		free(s->services[i].methods);
	tls_opts_free(s->tls_strings);
	free(s->url);
	free(s->name);
	free(s);
}
