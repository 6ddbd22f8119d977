// SPDX-License-Identifier: MIT
/*
 * service_keys: KeyService: API keys (created by auth.c, stored salted and hashed), listed
 * without their secrets; Whoami for the calling key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#include "service_int.h"

/* ---- KeyService ------------------------------------------------------------------------------ */

static Xdrop__V1__ApiKey *key_msg(struct rpc_call *call, const struct store_key *k)
{
	Xdrop__V1__ApiKey *m = rpc_call_alloc(call, sizeof(*m));

	if (!m)
		return NULL;
	xdrop__v1__api_key__init(m);
	m->id = rpc_call_strdup(call, k->id);
	m->name = rpc_call_strdup(call, k->name);
	m->scope = rpc_call_strdup(call, k->scope);
	m->created_at = k->created_at;
	m->last_used_at = k->last_used_at;
	return m;
}

enum rpc_code key_list(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
		       void *arg)
{
	RESP(Xdrop__V1__ListKeysResponse, out);
	struct service *s = svc_of(arg);
	struct store_key *keys = NULL;
	size_t n = 0;
	int err = store_key_list(s->store, &keys, &n);

	if (err)
		return store_fail(call, err, NULL);
	resp->keys = rpc_call_alloc(call, (n ? n : 1) * sizeof(*resp->keys));
	for (size_t i = 0; resp->keys && i < n; i++)
		resp->keys[resp->n_keys++] = key_msg(call, &keys[i]);
	store_free_keys(keys, n);
	return RPC_OK;
}

enum rpc_code key_create(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			 void *arg)
{
	REQ(Xdrop__V1__CreateKeyRequest, r);
	struct service *s = svc_of(arg);
	char *token = rpc_call_alloc(call, XDROP_KEY_MAX);
	struct store_key k;
	Xdrop__V1__ApiKey *m;
	int err;

	if (!token)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	if (strlen(req->name) > XDROP_STORE_MAX_TEXT)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "name", "too long");
	err = auth_key_create(s->store, req->name, req->scope, token, &k);
	if (err == -EINVAL)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "scope",
				      "scope must be \"admin\" or \"read_only\"");
	if (err)
		return store_fail(call, err, NULL);
	m = key_msg(call, &k);
	free(k.name);
	if (!m)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	m->key = token;
	*(Xdrop__V1__ApiKey *)out = *m;
	return RPC_OK;
}

enum rpc_code key_delete(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			 void *arg)
{
	REQ(Xdrop__V1__DeleteRequest, r);
	RESP(Xdrop__V1__DeleteReply, out);
	struct service *s = svc_of(arg);
	int err = store_key_delete(s->store, req->id);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no key %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	resp->message = rpc_call_strdup(call, "key revoked");
	return RPC_OK;
}

enum rpc_code key_whoami(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			 void *arg)
{
	struct service *s = svc_of(arg);
	const struct principal *p = rpc_call_principal(call);
	struct store_key k;
	Xdrop__V1__ApiKey *m;

	if (!p || (p->kind != AUTH_ADMIN && p->kind != AUTH_READ_ONLY))
		return rpc_call_error(call, RPC_UNAUTHENTICATED, NULL, "not an API key");
	if (store_key_get(s->store, p->id, &k) < 0)
		return rpc_call_error(call, RPC_NOT_FOUND, NULL, "key %s is gone", p->id);
	m = key_msg(call, &k);
	free(k.name);
	if (!m)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	*(Xdrop__V1__ApiKey *)out = *m;
	return RPC_OK;
}
