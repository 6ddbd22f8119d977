// SPDX-License-Identifier: MIT
/*
 * rpc: status codes and the client of the RpcRequest/RpcReply framing over nng REQ/REP
 * (see rpc.h for the contract, docs/rpc.md for the wire format). The server half lives in
 * rpc_server.c (dispatch, pre-authentication limits, connection timeouts).
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
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "log.h"
#include "rpc.h"
#include "rpc_priv.h"
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

bool rpc_request_id_ok(const char *id)
{
	size_t n = 0;

	if (!id || !*id)
		return false;
	for (; id[n]; n++)
		if (n >= XDROP_RPC_MAX_REQUEST_ID || (unsigned char)id[n] < 0x21 ||
		    (unsigned char)id[n] > 0x7e)
			return false;
	return true;
}

int64_t rpc_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rpc_tls_copy(struct tls_opts *dst, char *strings[5], const struct tls_opts *src)
{
	const char *const in[5] = {src->ca_file, src->cert_file, src->key_file, src->key_pass,
				   src->server_name};

	*dst = *src;
	for (int i = 0; i < 5; i++) {
		strings[i] = in[i] ? strdup(in[i]) : NULL;
		if (in[i] && !strings[i])
			return -ENOMEM;
	}
	dst->ca_file = strings[0];
	dst->cert_file = strings[1];
	dst->key_file = strings[2];
	dst->key_pass = strings[3];
	dst->server_name = strings[4];
	return 0;
}

void rpc_tls_free(char *strings[5])
{
	for (int i = 0; i < 5; i++)
		free(strings[i]);
}

/* ---- client ------------------------------------------------------------------------ */

struct rpc_client {
	nng_socket sock;
	bool sock_open;
	char *url;
	char *token;
	unsigned timeout_ms;
	unsigned retries;
	size_t max_msg;
	struct tls_opts tls;
	char *tls_strings[5];
	_Atomic uint64_t next_id;
};

int rpc_client_open(struct rpc_client **out, const struct rpc_client_opts *opts)
{
	struct rpc_client *c = NULL;
	int rv, err = 0;

	if (!out || !opts || opts->sz < sizeof(*opts) || !opts->url ||
	    opts->retries > XDROP_RPC_MAX_RETRIES)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : XDROP_RPC_TIMEOUT_MS;
	c->retries = opts->retries;
	c->max_msg = opts->max_msg ? opts->max_msg : XDROP_RPC_MAX_MSG;
	/* Call ids need only be unique per client; start from the clock to tell runs apart. */
	atomic_store(&c->next_id, (uint64_t)now_ns());
	c->url = strdup(opts->url);
	c->token = strdup(opts->auth_token ? opts->auth_token : "");
	if (!c->url || !c->token) {
		err = -ENOMEM;
		goto out;
	}
	if (opts->tls) {
		err = rpc_tls_copy(&c->tls, c->tls_strings, opts->tls);
		if (err)
			goto out;
	}
	rv = nng_req0_open(&c->sock);
	if (rv) {
		err = tls_nng_errno(rv);
		goto out;
	}
	c->sock_open = true;
	rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->max_msg + XDROP_RPC_FRAME_SLACK);
	if (!rv)
		/* No resend within an attempt by default: nng would send a request again after
		 * the resend time even while the server is still working on it, and a slow
		 * write would run twice. A request lost with its connection is still resent
		 * by nng on the next pipe; timeouts are retried by rpc_client_call. */
		rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
				       opts->resend_ms ? (nng_duration)opts->resend_ms
						       : XDROP_RPC_RESEND_MS);
	if (!rv)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
	if (!rv)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	if (rv) {
		err = tls_nng_errno(rv);
		goto out;
	}
	err = tls_dial(c->sock, c->url, &c->tls, NULL);
	if (err)
		goto out;
	*out = c;
	c = NULL;
out:
	rpc_client_close(c);
	return err;
}

void rpc_client_close(struct rpc_client *c)
{
	if (!c)
		return;
	if (c->sock_open)
		wd_close(c->sock);
	rpc_tls_free(c->tls_strings);
	free(c->url);
	free(c->token);
	free(c);
}

static void set_status(struct rpc_status *st, enum rpc_code code, const char *field,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_status(struct rpc_status *st, enum rpc_code code, const char *field,
		       const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	st->replayed = false;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	snprintf(st->field, sizeof(st->field), "%s", field ? field : "");
}

/* Sends frame on a fresh context and waits for the reply; returns an nng error. */
static int exchange(struct rpc_client *c, const uint8_t *frame, size_t len, unsigned timeout_ms,
		    nng_msg **reply)
{
	nng_ctx ctx = NNG_CTX_INITIALIZER;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	unsigned attempt;
	int rv;

	rv = nng_ctx_open(&ctx, c->sock);
	if (rv)
		return rv;
	rv = nng_aio_alloc(&aio, NULL, NULL);
	if (rv)
		goto out;
	for (attempt = 0;; attempt++) {
		rv = nng_msg_alloc(&msg, 0);
		if (!rv)
			rv = nng_msg_append(msg, frame, len);
		if (rv)
			goto out;
		nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
		nng_aio_set_msg(aio, msg);
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv)
			goto fail;
		msg = NULL; /* the socket owns it now */
		nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (!rv) {
			*reply = nng_aio_get_msg(aio);
			goto out;
		}
	fail:
		nng_msg_free(msg);
		msg = NULL;
		if (rv != NNG_ETIMEDOUT || attempt >= c->retries)
			goto out;
		nng_msleep((nng_duration)(XDROP_RPC_RETRY_BACKOFF_MS << attempt));
	}
out:
	if (aio)
		nng_aio_free(aio);
	nng_ctx_close(ctx);
	return rv;
}

static int call_impl(struct rpc_client *c, const ProtobufCServiceDescriptor *svc,
		     const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
		     struct rpc_status *st, unsigned timeout_ms, const char *auth_token,
		     const char *request_id)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp = NULL;
	const ProtobufCMethodDescriptor *m;
	struct rpc_status local;
	uint8_t *payload = NULL, *frame = NULL;
	nng_msg *reply = NULL;
	size_t plen, flen;
	int rv;

	if (!st)
		st = &local;
	set_status(st, RPC_OK, NULL, "%s", "");
	if (resp)
		*resp = NULL;
	if (!c || !svc || !method || !req || !resp) {
		set_status(st, RPC_INVALID_ARGUMENT, NULL, "missing argument");
		goto out;
	}
	if (!timeout_ms)
		timeout_ms = c->timeout_ms;
	m = protobuf_c_service_descriptor_get_method_by_name(svc, method);
	if (!m) {
		set_status(st, RPC_INVALID_ARGUMENT, "method", "%s has no method %s", svc->name,
			   method);
		goto out;
	}
	if (req->descriptor != m->input || !protobuf_c_message_check(req)) {
		set_status(st, RPC_INVALID_ARGUMENT, NULL, "%s.%s takes a complete %s", svc->name,
			   method, m->input->name);
		goto out;
	}
	plen = protobuf_c_message_get_packed_size(req);
	if (plen > c->max_msg) {
		set_status(st, RPC_RESOURCE_EXHAUSTED, NULL, "request of %zu bytes exceeds %zu",
			   plen, c->max_msg);
		goto out;
	}
	payload = malloc(plen ? plen : 1);
	if (!payload) {
		set_status(st, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		goto out;
	}
	rq.payload.len = protobuf_c_message_pack(req, payload);
	rq.payload.data = payload;
	rq.service = (char *)svc->name;
	rq.method = (char *)m->name;
	rq.call_id = atomic_fetch_add(&c->next_id, 1);
	rq.auth_token = (char *)(auth_token ? auth_token : c->token);
	rq.deadline_ms = timeout_ms;
	rq.request_id = (char *)(request_id ? request_id : "");
	/* after this the client waits for no reply to this call at all (every attempt and
	 * backoff): the server must not start it then, even if it only sees it then */
	rq.deadline_unix_ms =
	    rpc_unix_ms() + (int64_t)timeout_ms * (c->retries + 1) +
	    (((int64_t)XDROP_RPC_RETRY_BACKOFF_MS << c->retries) - XDROP_RPC_RETRY_BACKOFF_MS);
	flen = xdrop__v1__rpc_request__get_packed_size(&rq);
	if (flen > c->max_msg) {
		set_status(st, RPC_RESOURCE_EXHAUSTED, NULL, "request of %zu bytes exceeds %zu",
			   flen, c->max_msg);
		goto out;
	}
	frame = malloc(flen);
	if (!frame) {
		set_status(st, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
		goto out;
	}
	flen = xdrop__v1__rpc_request__pack(&rq, frame);

	rv = exchange(c, frame, flen, timeout_ms, &reply);
	if (rv == NNG_ETIMEDOUT) {
		set_status(st, RPC_DEADLINE_EXCEEDED, NULL, "no reply from %s within %u ms", c->url,
			   timeout_ms);
		goto out;
	}
	if (rv) {
		set_status(st, RPC_UNAVAILABLE, NULL, "%s: %s", c->url, nng_strerror(rv));
		goto out;
	}
	rp = xdrop__v1__rpc_reply__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
	if (!rp || rp->call_id != rq.call_id) {
		set_status(st, RPC_DATA_LOSS, NULL, "undecodable reply from %s", c->url);
		goto out;
	}
	set_status(st, (unsigned)rp->code < RPC_CODE_COUNT ? (enum rpc_code)rp->code : RPC_UNKNOWN,
		   rp->field, "%s", rp->message);
	st->replayed = rp->replayed;
	if (st->code != RPC_OK)
		goto out;
	*resp = protobuf_c_message_unpack(m->output, NULL, rp->payload.len, rp->payload.data);
	if (!*resp)
		set_status(st, RPC_DATA_LOSS, "payload", "reply payload is not a valid %s",
			   m->output->name);
out:
	xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
	if (reply)
		nng_msg_free(reply);
	free(frame);
	free(payload);
	return rpc_code_errno(st->code);
}

int rpc_client_call_ex(struct rpc_client *c, const ProtobufCServiceDescriptor *svc,
		       const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
		       struct rpc_status *st, unsigned timeout_ms, const char *auth_token)
{
	return call_impl(c, svc, method, req, resp, st, timeout_ms, auth_token, NULL);
}

int rpc_client_call_opts(struct rpc_client *c, const ProtobufCServiceDescriptor *svc,
			 const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
			 struct rpc_status *st, const struct rpc_call_opts *opts)
{
	struct rpc_status local;

	if (!st)
		st = &local;
	if (opts && opts->sz >= sizeof(*opts) && opts->request_id && opts->request_id[0] &&
	    !rpc_request_id_ok(opts->request_id)) {
		if (resp)
			*resp = NULL;
		set_status(st, RPC_INVALID_ARGUMENT, "request_id",
			   "request_id must be 1..%d printable ASCII characters without spaces",
			   XDROP_RPC_MAX_REQUEST_ID);
		return rpc_code_errno(st->code);
	}
	if (!opts || opts->sz < sizeof(*opts))
		return call_impl(c, svc, method, req, resp, st, 0, NULL, NULL);
	return call_impl(c, svc, method, req, resp, st, opts->timeout_ms, opts->auth_token,
			 opts->request_id);
}

int rpc_client_call(struct rpc_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		    const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st)
{
	return rpc_client_call_ex(c, svc, method, req, resp, st, 0, NULL);
}
