// SPDX-License-Identifier: MIT
/*
 * service_util: what the handlers share to build replies: the mapping of the store's
 * errors to RPC statuses (the one place that knows both), sync outcomes, paging, and
 * memory released after the reply is packed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

enum rpc_code store_rpc_code(enum store_code c)
{
	switch (c) {
	case STORE_OK:
		return RPC_OK;
	case STORE_INVALID:
		return RPC_INVALID_ARGUMENT;
	case STORE_NOT_FOUND:
		return RPC_NOT_FOUND;
	case STORE_EXISTS:
		return RPC_ALREADY_EXISTS;
	case STORE_EXHAUSTED:
		return RPC_RESOURCE_EXHAUSTED;
	case STORE_BUSY:
		return RPC_UNAVAILABLE;
	default:
		return RPC_INTERNAL;
	}
}

enum rpc_code store_fail(struct rpc_call *call, int err, const struct store_error *e)
{
	if (e && e->code != STORE_OK && e->message[0])
		return rpc_call_error(call, store_rpc_code(e->code), e->field[0] ? e->field : NULL,
				      "%s", e->message);
	if (err == -ENOSPC)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "%s", STORE_DISK_FULL);
	return rpc_call_error(call, rpc_code_from_errno(err), NULL, "%s", strerror(-err));
}

Xdrop__V1__SyncOutcome *outcome(struct service *s, struct rpc_call *call, uint64_t rev)
{
	Xdrop__V1__SyncOutcome *o = rpc_call_alloc(call, sizeof(*o));

	if (o) {
		xdrop__v1__sync_outcome__init(o);
		nodes_outcome(s->nodes, rev, o, call_alloc, call);
	}
	return o;
}

struct arr {
	void *v;
	size_t n;
	void (*fn)(void *v, size_t n);
};

static void arr_free(void *p)
{
	struct arr *a = p;

	a->fn(a->v, a->n);
}

int defer_arr(struct rpc_call *call, void *v, size_t n, void (*fn)(void *, size_t))
{
	struct arr *a = rpc_call_alloc(call, sizeof(*a));

	if (!a) {
		fn(v, n);
		return -ENOMEM;
	}
	a->v = v;
	a->n = n;
	a->fn = fn;
	return rpc_call_defer(call, arr_free, a);
}

void free_msg(void *p)
{
	protobuf_c_message_free_unpacked(p, NULL);
}

void *call_alloc(void *ctx, size_t size)
{
	return rpc_call_alloc(ctx, size);
}

Xdrop__V1__Pagination *pagination(struct rpc_call *call, uint32_t page, uint32_t limit,
				  uint64_t total)
{
	Xdrop__V1__Pagination *p = rpc_call_alloc(call, sizeof(*p));

	if (!p)
		return NULL;
	xdrop__v1__pagination__init(p);
	p->page = page ? page : 1;
	p->limit = limit ? limit : XDROP_STORE_LIST_DEFAULT;
	if (p->limit > XDROP_STORE_LIST_MAX)
		p->limit = XDROP_STORE_LIST_MAX;
	p->total = total;
	p->pages = (uint32_t)((total + p->limit - 1) / p->limit);
	return p;
}

enum rpc_code check_order(struct rpc_call *call, const char *order, bool *desc)
{
	if (!order || !order[0] || strcmp(order, "asc") == 0)
		*desc = false;
	else if (strcmp(order, "desc") == 0)
		*desc = true;
	else
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "order",
				      "order must be \"asc\" or \"desc\"");
	return RPC_OK;
}
