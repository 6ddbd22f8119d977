// SPDX-License-Identifier: MIT
/*
 * api_cluster: the changes of the controllers' cluster (ClusterService, admin only):
 * POST /api/v1/cluster/members {"id", "address", "role"}, DELETE
 * /api/v1/cluster/members/:id and POST /api/v1/cluster/transfer {"id"}. Each answers
 * {"success": true, "message", "status": the cluster afterwards}. GET /api/v1/cluster is a
 * table row (routes.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Calls method with req (taken over) and answers. */
static int cluster_call(struct http_request *rq, struct http_reply *rp, const char *method,
			ProtobufCMessage *req)
{
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	cJSON *o;

	if (api_call(rq, &xdrop__v1__cluster_service__descriptor, method, req, &resp, &st)) {
		api_fail(rp, &st, NULL);
	} else {
		o = json_from_msg(resp);
		if (o && !cJSON_AddBoolToObject(o, "success", true)) {
			cJSON_Delete(o);
			o = NULL;
		}
		http_json(rp, 200, o);
	}
	api_free_msg(resp);
	api_free_msg(req);
	return 0;
}

/* The body as a d (admin only). 0 and *req, or answered. */
static int body_msg(struct http_request *rq, struct http_reply *rp,
		    const ProtobufCMessageDescriptor *d, ProtobufCMessage **req)
{
	struct json_error e = {0};
	cJSON *body;
	int rc;

	if (api_require_admin(rq, rp) || api_body_json(rq, rp, &body))
		return -EINVAL;
	rc = json_to_msg(body, d, "", NULL, req, &e);
	cJSON_Delete(body);
	if (rc)
		api_bad_json(rp, &e, rc);
	return rc ? -EINVAL : 0;
}

int api_cluster_add(struct http_request *rq, struct http_reply *rp)
{
	ProtobufCMessage *req = NULL;
	Xdrop__V1__ClusterAddRequest *a;

	if (body_msg(rq, rp, &xdrop__v1__cluster_add_request__descriptor, &req))
		return 0;
	a = (void *)req;
	if (!a->id || !*a->address) {
		http_error(rp, 400, a->id ? "address" : "id",
			   a->id ? "address (host:port) is required"
				 : "id (1 or more) is required");
		api_free_msg(req);
		return 0;
	}
	return cluster_call(rq, rp, "Add", req);
}

int api_cluster_transfer(struct http_request *rq, struct http_reply *rp)
{
	ProtobufCMessage *req = NULL;

	if (body_msg(rq, rp, &xdrop__v1__cluster_transfer_request__descriptor, &req))
		return 0;
	return cluster_call(rq, rp, "Transfer", req);
}

int api_cluster_remove(struct http_request *rq, struct http_reply *rp)
{
	Xdrop__V1__ClusterRemoveRequest *r;
	char *end;

	if (api_require_admin(rq, rp))
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return http_error(rp, 500, NULL, "out of memory");
	xdrop__v1__cluster_remove_request__init(r);
	errno = 0;
	r->id = strtoull(rq->param, &end, 10);
	if (errno || end == rq->param || *end || !r->id || rq->param[0] == '-') {
		free(r);
		return http_error(rp, 400, "id", "id: a node id, 1 or more");
	}
	return cluster_call(rq, rp, "Remove", &r->base);
}
