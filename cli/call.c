// SPDX-License-Identifier: MIT
/*
 * call: xdropctl's RPC calls and its errors. The client is opened by the first call;
 * writes carry a random request id and are sent again with it while the upstream is
 * unavailable, so that a write the controller committed before it went away is reported
 * as the success it was. RPC status codes become the documented exit codes here (exit_of).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "ctl.h"

/* ---- errors and exit codes ---- */

static int exit_of(enum rpc_code c)
{
	switch (c) {
	case RPC_OK:
		return CTL_EXIT_OK;
	case RPC_INVALID_ARGUMENT:
	case RPC_OUT_OF_RANGE:
		return CTL_EXIT_INVALID;
	case RPC_NOT_FOUND:
		return CTL_EXIT_NOT_FOUND;
	case RPC_UNAUTHENTICATED:
	case RPC_PERMISSION_DENIED:
		return CTL_EXIT_AUTH;
	case RPC_ALREADY_EXISTS:
	case RPC_FAILED_PRECONDITION:
	case RPC_ABORTED:
		return CTL_EXIT_CONFLICT;
	case RPC_UNAVAILABLE:
	case RPC_DEADLINE_EXCEEDED:
		return CTL_EXIT_UNAVAILABLE;
	default:
		return CTL_EXIT_FAIL;
	}
}

int ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("xdropctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int ctl_rpc_fail(const struct rpc_status *st)
{
	if (st->field[0])
		return ctl_fail(exit_of(st->code), "%s: %s (field %s)", rpc_code_name(st->code),
				st->message, st->field);
	return ctl_fail(exit_of(st->code), "%s: %s", rpc_code_name(st->code),
			st->message[0] ? st->message : "call failed");
}

int ctl_json_fail(const struct json_error *e, const char *where)
{
	if (e->field[0])
		return ctl_fail(CTL_EXIT_INVALID, "%s%s%s: %s", where ? where : "",
				where ? ": " : "", e->field, e->message);
	return ctl_fail(CTL_EXIT_INVALID, "%s%s%s", where ? where : "", where ? ": " : "",
			e->message);
}

/* ---- RPC ---- */

/*
 * Opens c->client unless it is open. It is opened by the first call rather than up front,
 * so that a command refused before any ctl_call (usage errors, unreadable files) never connects:
 * a peer that connects and goes away without a request costs the server for nothing.
 */
static int connect_upstream(struct ctl *c)
{
	struct rpc_client_opts co = {.sz = sizeof(co)};
	int rc;

	if (c->client)
		return CTL_EXIT_OK;
	co.url = c->url;
	co.auth_token = c->key;
	co.timeout_ms = c->timeout_ms;
	co.max_msg = XDROP_RPC_MAX_MSG;
	/* no resend while a call runs: a large atomic batch must not be executed twice */
	co.resend_ms = CTL_BATCH_TIMEOUT_MS + 1000;
	co.tls = &c->tls;
	rc = rpc_client_open(&c->client, &co);
	if (rc)
		return ctl_fail(CTL_EXIT_USAGE, "%s: %s", c->url, strerror(-rc));
	return CTL_EXIT_OK;
}

/* Writes carry a request id: the controller answers a resend with the first outcome. */
static bool is_write(const char *method)
{
	static const char *const writes[] = {"Create",	    "Update",	     "Delete",
					     "BatchCreate", "ReplaceSource", "BatchDelete"};

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		if (!strcmp(method, writes[i]))
			return true;
	return false;
}

void ctl_request_id_new(char *out, size_t len)
{
	uint8_t b[16] = {0};
	size_t got = 0;
	int n = snprintf(out, len, "xdropctl-");

	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);

		if (r > 0)
			got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(b) && n > 0 && (size_t)n + 2 < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%02x", b[i]);
}

/*
 * One logical call. A write gets a fresh request id, and when the connection is lost
 * (UNAVAILABLE) it is sent again with the same id, with growing pauses, until timeout_ms
 * has passed: a batch the controller committed before it went away is then reported as
 * the success it was, never as ALREADY_EXISTS.
 */
int ctl_call(struct ctl *c, const ProtobufCServiceDescriptor *svc, const char *method,
	     const ProtobufCMessage *req, ProtobufCMessage **resp, unsigned timeout_ms)
{
	struct rpc_status st;
	int rc = ctl_call_st(c, svc, method, req, resp, timeout_ms, &st);

	return rc && st.code != RPC_OK ? ctl_rpc_fail(&st) : rc;
}

int ctl_call_st(struct ctl *c, const ProtobufCServiceDescriptor *svc, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **resp, unsigned timeout_ms,
		struct rpc_status *out)
{
	char id[64] = "";
	struct rpc_call_opts co = {.sz = sizeof(co), .request_id = id};
	struct rpc_status st = {0};
	int64_t start = clock_mono_ms(), pause = CTL_WRITE_RETRY_MS;
	int rc;

	*out = st;
	rc = connect_upstream(c);

	if (rc)
		return rc;
	co.timeout_ms = timeout_ms ? timeout_ms : c->timeout_ms;
	if (is_write(method))
		ctl_request_id_new(id, sizeof(id));
	while (rpc_client_call_opts(c->client, svc, method, req, resp, &st, &co)) {
		if (!id[0] || st.code != RPC_UNAVAILABLE ||
		    clock_mono_ms() - start + pause > (int64_t)co.timeout_ms) {
			*out = st;
			if (st.code == RPC_OK) /* a local failure without a code */
				out->code = RPC_UNKNOWN;
			return exit_of(out->code) ? exit_of(out->code) : CTL_EXIT_FAIL;
		}
		fprintf(stderr, "xdropctl: %s; sending the %s again (request id %s)\n", st.message,
			method, id);
		nanosleep(
		    &(struct timespec){.tv_sec = pause / 1000, .tv_nsec = (pause % 1000) * 1000000},
		    NULL);
		pause = pause * 2 > CTL_WRITE_RETRY_MAX_MS ? CTL_WRITE_RETRY_MAX_MS : pause * 2;
	}
	*out = st;
	return CTL_EXIT_OK;
}

void ctl_msg_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}
