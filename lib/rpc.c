// SPDX-License-Identifier: MIT
/*
 * rpc: what both halves of the RpcRequest/RpcReply framing over nng REQ/REP share: status
 * codes, request ids, the wall clock of deadlines (see rpc.h for the contract, docs/rpc.md
 * for the wire format). The server lives in rpc_server.c (dispatch, pre-authentication
 * limits, connection timeouts), the client in rpc_client.c (dial.c connects it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rpc.h"
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
