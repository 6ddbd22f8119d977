// SPDX-License-Identifier: MIT
/*
 * service_nodes: NodeService: the nodes table through the store, their live state (status,
 * revision, counters) from controller/nodes.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "rule.h"

#include "service_int.h"

/* ---- NodeService -------------------------------------------------------------------------- */

static enum rpc_code node_text_check(struct rpc_call *call, const Xdrop__V1__Node *n)
{
	const char *why;

	if (strlen(n->name) > XDROP_STORE_MAX_TEXT)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.name", "too long");
	if (strlen(n->comment) > XDROP_STORE_MAX_TEXT)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.comment", "too long");
	if (strlen(n->address) > 1024)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.address", "too long");
	if (!n->name[0])
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.name",
				      "a name is required");
	if (!n->address[0])
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.address",
				      "an address is required, e.g. tcp://10.0.0.2:7600");
	if (nodes_check_address(n->address, &why))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.address", "%s", why);
	return RPC_OK;
}

/* free_unpacked would free call memory in these fields: detach them before it runs. */
static void node_detach_free(void *p)
{
	Xdrop__V1__Node *n = p;

	n->status = n->content_hash = n->version = (char *)protobuf_c_empty_string;
	n->filtering = (char *)protobuf_c_empty_string;
	n->stats = NULL;
	xdrop__v1__node__free_unpacked(n, NULL);
}

static Xdrop__V1__Node *node_out(struct service *s, struct rpc_call *call, struct store_node *sn)
{
	Xdrop__V1__Node *n = sn->node;

	sn->node = NULL;
	free(sn->cred);
	sn->cred = NULL;
	rpc_call_defer(call, node_detach_free, n);
	/* the live fields come from the call's memory: drop the row's placeholders first */
	free(n->status);
	free(n->content_hash);
	free(n->version);
	n->status = n->content_hash = n->version = (char *)protobuf_c_empty_string;
	n->filtering = (char *)protobuf_c_empty_string;
	nodes_fill(s->nodes, n, call_alloc, call);
	return n;
}

enum rpc_code node_list(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			void *arg)
{
	REQ(Xdrop__V1__ListNodesRequest, r);
	RESP(Xdrop__V1__ListNodesResponse, out);
	struct service *s = svc_of(arg);
	struct store_node *rows = NULL;
	size_t n = 0, k = 0, matched = 0;
	uint32_t limit = req->limit ? req->limit : XDROP_STORE_LIST_DEFAULT;
	uint32_t page = req->page ? req->page : 1;
	int err;

	if (limit > XDROP_NODE_LIST_MAX)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "limit", "limit is at most %d",
				      XDROP_NODE_LIST_MAX);
	err = store_node_list(s->store, &rows, &n);
	if (err)
		return store_fail(call, err, NULL);
	resp->nodes = rpc_call_alloc(call, (n ? n : 1) * sizeof(*resp->nodes));
	for (size_t i = 0; resp->nodes && i < n; i++) {
		Xdrop__V1__Node *node = rows[i].node;
		const char *st = node_status_name(nodes_status(s->nodes, node->id));

		if (req->search[0] && !strcasestr(node->name, req->search) &&
		    !strcasestr(node->id, req->search) && !strcasestr(node->address, req->search))
			continue;
		if (req->status[0] && strcmp(req->status, st) != 0)
			continue;
		if (matched++ < (size_t)(page - 1) * limit || k >= limit)
			continue;
		resp->nodes[k++] = node_out(s, call, &rows[i]);
	}
	/* rows handed out were detached by node_out; its deferred free handles them */
	for (size_t i = 0; i < n; i++)
		store_node_free(&rows[i]);
	free(rows);
	resp->n_nodes = k;
	resp->count = (uint32_t)k;
	resp->pagination = pagination(call, page, limit, matched);
	return RPC_OK;
}

enum rpc_code node_get(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
		       void *arg)
{
	REQ(Xdrop__V1__GetNodeRequest, r);
	struct service *s = svc_of(arg);
	struct store_node sn;
	int err = store_node_get(s->store, req->id, &sn);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	*(Xdrop__V1__Node *)out = *node_out(s, call, &sn);
	return RPC_OK;
}

enum rpc_code node_create(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__CreateNodeRequest, r);
	RESP(Xdrop__V1__NodeWriteReply, out);
	struct service *s = svc_of(arg);
	Xdrop__V1__Node *n = rpc_call_alloc(call, sizeof(*n));
	char *id = rpc_call_alloc(call, XDROP_UUID_LEN);
	char *key = rpc_call_alloc(call, 2 * XDROP_NODE_KEY_BYTES + 1);
	enum rpc_code rc;
	int err;

	if (!req->node)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node", "node is required");
	if (!n || !id || !key)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	*n = *req->node;
	if (!n->id[0]) {
		store_uuid(id);
		n->id = id;
	} else if (!rule_id_ok(n->id)) {
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node.id",
				      "a node id is 1..%d characters of " XDROP_ID_CHARS,
				      XDROP_ID_MAX);
	}
	if ((rc = node_text_check(call, n)) != RPC_OK)
		return rc;
	n->created_at = n->updated_at = clock_wall_ns();
	n->stats = NULL;
	auth_random_hex(key, XDROP_NODE_KEY_BYTES);
	err = store_node_add(s->store, n, key);
	if (err == -EEXIST)
		return rpc_call_error(call, RPC_ALREADY_EXISTS, "node.id", "node %s already exists",
				      n->id);
	if (err)
		return store_fail(call, err, NULL);
	nodes_reload(s->nodes);
	n->status = rpc_call_strdup(call, "unknown");
	n->filtering = rpc_call_strdup(call, "unknown");
	n->status_since = n->created_at;
	n->content_hash = n->version = (char *)protobuf_c_empty_string;
	n->applied_revision = 0;
	n->last_seen = 0;
	resp->node = n;
	resp->key = key;
	return RPC_OK;
}

enum rpc_code node_update(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__UpdateNodeRequest, r);
	RESP(Xdrop__V1__NodeWriteReply, out);
	struct service *s = svc_of(arg);
	struct store_node sn;
	Xdrop__V1__Node *n;
	enum rpc_code rc;
	int err;

	if (!req->node)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "node", "node is required");
	err = store_node_get(s->store, req->id, &sn);
	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	n = sn.node;
	free(sn.cred);
	rpc_call_defer(call, node_detach_free, n);
	for (size_t i = 0; i < req->n_update_mask || i == 0; i++) {
		const char *f = req->n_update_mask ? req->update_mask[i] : NULL;
		char **dst = NULL, *src = NULL;

		for (int k = 0; k < 3; k++) {
			static const char *const names[] = {"name", "address", "comment"};
			char **d = k == 0 ? &n->name : k == 1 ? &n->address : &n->comment;
			char *sv = k == 0   ? req->node->name
				   : k == 1 ? req->node->address
					    : req->node->comment;

			if (!f || strcmp(f, names[k]) == 0) {
				dst = d;
				src = sv;
				free(*dst);
				*dst = strdup(src);
				if (!*dst)
					*dst = (char *)protobuf_c_empty_string;
			}
		}
		if (f && !dst)
			return rpc_call_error(call, RPC_INVALID_ARGUMENT, "update_mask",
					      "\"%.64s\" is not an updatable node field", f);
	}
	if ((rc = node_text_check(call, n)) != RPC_OK)
		return rc;
	n->updated_at = clock_wall_ns();
	err = store_node_update(s->store, n);
	if (err)
		return store_fail(call, err, NULL);
	nodes_reload(s->nodes);
	free(n->status);
	free(n->content_hash);
	free(n->version);
	n->status = n->content_hash = n->version = (char *)protobuf_c_empty_string;
	n->filtering = (char *)protobuf_c_empty_string;
	nodes_fill(s->nodes, n, call_alloc, call);
	resp->node = n;
	return RPC_OK;
}

enum rpc_code node_delete(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__DeleteRequest, r);
	RESP(Xdrop__V1__DeleteReply, out);
	struct service *s = svc_of(arg);
	int err = store_node_delete(s->store, req->id);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err)
		return store_fail(call, err, NULL);
	nodes_reload(s->nodes);
	resp->message = rpc_call_strdup(call, "node deleted");
	return RPC_OK;
}

enum rpc_code node_get_stats(struct rpc_call *call, const ProtobufCMessage *r,
			     ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__GetNodeRequest, r);
	struct service *s = svc_of(arg);
	Xdrop__V1__Node *n = rpc_call_alloc(call, sizeof(*n));
	struct store_node sn;
	int err = store_node_get(s->store, req->id, &sn);

	if (err == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	if (err || !n)
		return store_fail(call, err ? err : -ENOMEM, NULL);
	store_node_free(&sn);
	xdrop__v1__node__init(n);
	n->id = rpc_call_strdup(call, req->id);
	nodes_fill(s->nodes, n, call_alloc, call);
	if (n->stats)
		*(Xdrop__V1__NodeStats *)out = *n->stats;
	else
		((Xdrop__V1__NodeStats *)out)->node_id = n->id;
	return RPC_OK;
}

enum rpc_code node_sync(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			void *arg)
{
	REQ(Xdrop__V1__GetNodeRequest, r);
	struct service *s = svc_of(arg);

	if (nodes_force_sync(s->nodes, req->id, (Xdrop__V1__SyncOutcome *)out) == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "no node %.64s", req->id);
	return RPC_OK;
}
