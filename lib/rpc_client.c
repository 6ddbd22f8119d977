// SPDX-License-Identifier: MIT
/*
 * rpc_client: the client half of the RPC layer (see rpc.h for the contract, docs/rpc.md for
 * the wire format): a REQ socket connected by a dial (lib/dial.h), one nng context per call.
 *
 * A call first waits for the connection (bounded by its deadline); a failed connection
 * attempt ends it at once with UNAVAILABLE and the dial's sentence ("connection refused by
 * ...", "TLS handshake with ... failed: ..."). While it waits for the reply, the loss of the
 * connection ends it with UNAVAILABLE too: the request may or may not have run, and the
 * caller (not nng) decides whether to send it again.
 *
 * Several addresses (joined by commas: the controllers of a cluster) give one REQ socket and
 * dial each. A call goes to the address that last answered; when its connection fails
 * before the request was sent (refused, or not up within XDROP_RPC_FAILOVER_MS) it goes to
 * the next at once. A request lost with its connection after it was sent may have run: it is
 * sent to the next address only when it carries a request id (the server then answers a
 * resend of a committed write with its first outcome), else the call ends UNAVAILABLE. A
 * reply UNAVAILABLE with try_elsewhere (nothing ran: a controller cut off from its
 * cluster's leader) sends the call to the next address too, each address once. An error
 * answered to a resend after a lost attempt says so (XDROP_RPC_LOST_NOTE): the first attempt
 * may have run.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "closewatch.h"
#include "dial.h"
#include "log.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

/* One address of the client. */
struct rpc_conn {
	nng_socket sock;
	bool sock_open;
	struct dial *dial; /* owns sock once open */
	char *url;
};

struct rpc_client {
	struct rpc_conn conns[XDROP_RPC_MAX_ADDRS];
	unsigned n_conns;
	_Atomic unsigned cur; /* the conn that answered last */
	char *url;
	char *token;
	unsigned timeout_ms;
	unsigned retries;
	size_t max_msg;
	struct tls_opts tls;
	char *tls_strings[XDROP_TLS_STRINGS];
	_Atomic uint64_t next_id;
};

/* Opens the REQ socket of conn and starts dialing its url. */
static int conn_open(struct rpc_client *c, struct rpc_conn *conn,
		     const struct rpc_client_opts *opts)
{
	int rv = nng_req0_open(&conn->sock);

	if (rv)
		return tls_nng_errno(rv);
	conn->sock_open = true;
	rv = nng_socket_set_size(conn->sock, NNG_OPT_RECVMAXSZ, c->max_msg + XDROP_RPC_FRAME_SLACK);
	if (!rv)
		/* No resend within an attempt by default: nng would send a request again after
		 * the resend time even while the server is still working on it, and a slow
		 * write would run twice. Timeouts are retried by rpc_client_call. */
		rv = nng_socket_set_ms(conn->sock, NNG_OPT_REQ_RESENDTIME,
				       opts->resend_ms ? (nng_duration)opts->resend_ms
						       : XDROP_RPC_RESEND_MS);
	if (rv)
		return tls_nng_errno(rv);
	return dial_open(&conn->dial, conn->sock, conn->url, &c->tls);
}

/* One conn per address of c->url (joined by commas). */
static int conns_open(struct rpc_client *c, const struct rpc_client_opts *opts)
{
	const char *p = c->url, *end;
	int err = 0;

	for (; !err && *p; p = *end ? end + 1 : end) {
		end = strchr(p, ',');
		end = end ? end : p + strlen(p);
		if (end == p)
			continue;
		if (c->n_conns == XDROP_RPC_MAX_ADDRS)
			return -E2BIG;
		c->conns[c->n_conns].url = strndup(p, (size_t)(end - p));
		if (!c->conns[c->n_conns].url)
			return -ENOMEM;
		err = conn_open(c, &c->conns[c->n_conns++], opts);
	}
	return err ? err : c->n_conns ? 0 : -EINVAL;
}

int rpc_client_open(struct rpc_client **out, const struct rpc_client_opts *opts)
{
	struct rpc_client *c = NULL;
	int err = 0;

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
	atomic_store(&c->next_id, (uint64_t)clock_mono_ms() * 1000000);
	c->url = strdup(opts->url);
	c->token = strdup(opts->auth_token ? opts->auth_token : "");
	if (!c->url || !c->token) {
		err = -ENOMEM;
		goto out;
	}
	if (opts->tls) {
		err = tls_opts_copy(&c->tls, c->tls_strings, opts->tls);
		if (err)
			goto out;
	}
	err = conns_open(c, opts);
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
	for (unsigned i = 0; i < c->n_conns; i++) {
		if (c->conns[i].dial)
			dial_close(c->conns[i].dial); /* closes the socket */
		else if (c->conns[i].sock_open)
			closewatch_close(c->conns[i].sock);
		free(c->conns[i].url);
	}
	tls_opts_free(c->tls_strings);
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
	st->try_elsewhere = false;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	snprintf(st->field, sizeof(st->field), "%s", field ? field : "");
}

/* One attempt on conn, on a fresh context: waits for the connection (at most
 * XDROP_RPC_FAILOVER_MS when there are other addresses: then not connected in time is
 * UNAVAILABLE, so the call goes on to the next), sends, waits for the reply. Returns an nng
 * error: NNG_ECONNREFUSED when nothing was sent, NNG_ECONNSHUT when the connection was lost
 * after sending. */
static int attempt(struct rpc_client *c, struct rpc_conn *conn, nng_aio *aio, const uint8_t *frame,
		   size_t len, unsigned timeout_ms, nng_msg **reply, struct rpc_status *st)
{
	int64_t deadline = clock_mono_ms() + timeout_ms, left, wait = deadline;
	struct dial_call dc = {.aio = aio};
	char why[XDROP_DIAL_MAX_WHY];
	nng_ctx ctx = NNG_CTX_INITIALIZER;
	nng_msg *msg = NULL;
	bool lost;
	int err, rv;

	if (c->n_conns > 1 && timeout_ms > XDROP_RPC_FAILOVER_MS)
		wait = clock_mono_ms() + XDROP_RPC_FAILOVER_MS;
	err = dial_wait(conn->dial, wait, why, sizeof(why));
	if (err == -ETIMEDOUT && c->n_conns == 1) {
		set_status(st, RPC_DEADLINE_EXCEEDED, NULL, "%s within %u ms", why, timeout_ms);
		return NNG_ETIMEDOUT;
	}
	if (err) {
		set_status(st, RPC_UNAVAILABLE, NULL, "%s", why);
		return NNG_ECONNREFUSED;
	}
	rv = nng_ctx_open(&ctx, conn->sock);
	if (!rv)
		rv = nng_msg_alloc(&msg, 0);
	if (!rv)
		rv = nng_msg_append(msg, frame, len);
	if (rv) {
		nng_msg_free(msg);
		nng_ctx_close(ctx);
		set_status(st, RPC_RESOURCE_EXHAUSTED, NULL, "%s: %s", conn->url, tls_strerror(rv));
		return rv;
	}
	dial_track(conn->dial, &dc);
	left = deadline - clock_mono_ms();
	nng_aio_set_timeout(aio, (nng_duration)(left > 0 ? left : 1));
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv) {
		nng_msg_free(msg);
	} else {
		left = deadline - clock_mono_ms();
		nng_aio_set_timeout(aio, (nng_duration)(left > 0 ? left : 1));
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (!rv)
			*reply = nng_aio_get_msg(aio);
	}
	lost = dial_untrack(conn->dial, &dc);
	nng_ctx_close(ctx);
	if (rv && lost) {
		set_status(st, RPC_UNAVAILABLE, NULL,
			   "%s while waiting for the reply (the call may or may not have run)",
			   dc.why);
		return NNG_ECONNSHUT;
	}
	if (rv == NNG_ETIMEDOUT)
		set_status(st, RPC_DEADLINE_EXCEEDED, NULL,
			   "no reply from %s within %u ms (connected, no answer)", conn->url,
			   timeout_ms);
	else if (rv)
		set_status(st, RPC_UNAVAILABLE, NULL, "%s: %s", conn->url, tls_strerror(rv));
	return rv;
}

/* Sends frame and waits for the reply, retrying timeouts and failed connections, and going
 * on to the next address as the top of this file says (has_id: the request carries a request
 * id); *st is set unless the reply arrived. Returns an nng error. */
static int exchange(struct rpc_client *c, const uint8_t *frame, size_t len, unsigned timeout_ms,
		    bool has_id, nng_msg **reply, struct rpc_status *st, bool *lost)
{
	unsigned i = atomic_load(&c->cur) % c->n_conns, tried = 1;
	nng_aio *aio = NULL;
	int rv;

	rv = nng_aio_alloc(&aio, NULL, NULL);
	if (rv) {
		set_status(st, RPC_UNAVAILABLE, NULL, "%s: %s", c->url, tls_strerror(rv));
		return rv;
	}
	for (unsigned n = 0;; tried++) {
		bool next;

		rv = attempt(c, &c->conns[i], aio, frame, len, timeout_ms, reply, st);
		if (!rv) {
			atomic_store(&c->cur, i);
			break;
		}
		next =
		    c->n_conns > 1 && (rv == NNG_ECONNREFUSED || (has_id && rv == NNG_ECONNSHUT));
		*lost |= next && rv == NNG_ECONNSHUT; /* sent, then lost: it may have run */
		if (next)
			i = (i + 1) % c->n_conns;
		if (next && tried < c->n_conns)
			continue; /* another address at once */
		/* a timeout, or a connection that failed before anything was sent */
		if ((rv != NNG_ETIMEDOUT && rv != NNG_ECONNREFUSED && !next) || n >= c->retries)
			break;
		nng_msleep((nng_duration)(XDROP_RPC_RETRY_BACKOFF_MS << n));
		n++;
		tried = 0;
	}
	nng_aio_free(aio);
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
	unsigned hops = 0;
	bool lost = false;
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
	    clock_wall_ms() + (int64_t)timeout_ms * (c->retries + 1) +
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

again:
	rv = exchange(c, frame, flen, timeout_ms, rq.request_id[0] != 0, &reply, st, &lost);
	if (rv)
		goto out;
	rp = xdrop__v1__rpc_reply__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
	if (!rp || rp->call_id != rq.call_id) {
		set_status(st, RPC_DATA_LOSS, NULL, "undecodable reply from %s", c->url);
		goto out;
	}
	if (rp->code == (Xdrop__V1__Code)RPC_UNAVAILABLE && rp->try_elsewhere &&
	    ++hops < c->n_conns) { /* nothing ran there: the next address, each once */
		atomic_store(&c->cur, (atomic_load(&c->cur) + 1) % c->n_conns);
		xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
		nng_msg_free(reply);
		rp = NULL;
		reply = NULL;
		goto again;
	}
	set_status(st, (unsigned)rp->code < RPC_CODE_COUNT ? (enum rpc_code)rp->code : RPC_UNKNOWN,
		   rp->field, "%s", rp->message);
	st->replayed = rp->replayed;
	st->try_elsewhere = rp->try_elsewhere;
	if (st->code != RPC_OK && lost) { /* this answer is the resend's, not the first's */
		size_t l = strnlen(st->message, sizeof(st->message) - 1);

		snprintf(st->message + l, sizeof(st->message) - l, "%s", XDROP_RPC_LOST_NOTE);
	}
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
