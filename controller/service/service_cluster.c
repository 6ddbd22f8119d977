// SPDX-License-Identifier: MIT
/*
 * service_cluster: ClusterService, the controllers' dqlite cluster as lib/dqlite sees it
 * through the configured cluster.peers (with mutual TLS when the controller has a CA and a
 * certificate: controller/cluster.c makes lib/dqtls's dialer lib/dqlite's default, which
 * every connection here uses). Status asks the leader for the members (CLUSTER)
 * and then each member who leads (LEADER), which says whether it is reachable; Add, Remove
 * and Transfer run dq_join, dq_leave and TRANSFER on the current leader and reply with the
 * cluster afterwards. Without peers every method is FAILED_PRECONDITION "not clustered".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dqlite/client.h"
#include "log.h"

#include "service_int.h"

struct svc_cluster {
	const char *const *peers;
	size_t n;
	struct dq_conn_opts opts;
};

static const char *const role_names[] = {"voter", "standby", "spare"};

int svc_cluster_open(struct svc_cluster **out, const struct service_deps *d)
{
	struct svc_cluster *c;

	*out = NULL;
	if (!d->n_cluster_peers)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->peers = d->cluster_peers;
	c->n = d->n_cluster_peers;
	c->opts = (struct dq_conn_opts){.sz = sizeof(c->opts),
					.connect_timeout_ms = XDROP_CLUSTER_PROBE_MS,
					.call_timeout_ms = XDROP_CLUSTER_CALL_MS};
	*out = c;
	return 0;
}

void svc_cluster_free(struct svc_cluster *c)
{
	free(c);
}

static struct svc_cluster *cluster_of(void *arg)
{
	return svc_of(arg)->cluster;
}

/* The RPC status of a lib/dqlite failure, with its sentence. */
static enum rpc_code dq_fail(struct rpc_call *call, int rc, const char *field, const char *why)
{
	enum rpc_code code = RPC_UNAVAILABLE;

	if (rc == -EEXIST)
		code = RPC_ALREADY_EXISTS;
	else if (rc == -EIO || rc == -EBUSY)
		code = RPC_FAILED_PRECONDITION;
	return rpc_call_error(call, code, code == RPC_UNAVAILABLE ? NULL : field, "%s", why);
}

static enum rpc_code not_clustered(struct rpc_call *call)
{
	return rpc_call_error(call, RPC_FAILED_PRECONDITION, NULL,
			      "not clustered (this controller has no cluster.peers)");
}

/* One member's reachability: it connects and answers LEADER within the probe time. */
static void probe(struct svc_cluster *cl, struct rpc_call *call, Xdrop__V1__ClusterMember *m)
{
	struct dq_conn_opts o = cl->opts;
	struct dq_node_info leader;
	struct dq_conn *c = NULL;
	char why[XDROP_DQ_MAX_WHY] = "";
	int rc;

	o.call_timeout_ms = XDROP_CLUSTER_PROBE_MS;
	rc = dq_conn_open(&c, m->address, &o, why, sizeof(why));
	if (rc == 0) {
		rc = dq_leader(c, &leader);
		if (rc)
			dq_conn_why(c, rc, why, sizeof(why));
	}
	dq_conn_close(c);
	m->reachable = rc == 0;
	m->error = rpc_call_strdup(call, rc ? why : "");
}

/* The cluster as its leader knows it, each member probed, into *out (call memory).
 * 0, or a lib/dqlite error with why; -ENOMEM. */
static int fill_status(struct svc_cluster *cl, struct rpc_call *call,
		       Xdrop__V1__ClusterStatusReply *out, char *why, size_t len)
{
	struct dq_node_info *nodes = NULL, leader;
	struct dq_conn *c = NULL;
	size_t n = 0;
	int rc = dq_leader_connect(&c, cl->peers, cl->n, &cl->opts,
				   clock_mono_ms() + XDROP_CLUSTER_LEADER_MS, why, len);

	if (rc)
		return rc;
	rc = dq_leader(c, &leader);
	if (rc == 0)
		rc = dq_cluster(c, &nodes, &n);
	if (rc)
		dq_conn_why(c, rc, why, len);
	dq_conn_close(c);
	if (rc)
		return rc;
	out->members = rpc_call_alloc(call, (n ? n : 1) * sizeof(*out->members));
	for (size_t i = 0; out->members && i < n; i++) {
		Xdrop__V1__ClusterMember *m = rpc_call_alloc(call, sizeof(*m));

		if (!m)
			break;
		xdrop__v1__cluster_member__init(m);
		m->id = nodes[i].id;
		m->address = rpc_call_strdup(call, nodes[i].address);
		m->role = (char *)(nodes[i].role < 3 ? role_names[nodes[i].role] : "unknown");
		m->leader = nodes[i].id == leader.id;
		probe(cl, call, m);
		out->members[out->n_members++] = m;
	}
	free(nodes);
	out->leader_id = leader.id;
	out->leader_address = rpc_call_strdup(call, leader.address);
	snprintf(why, len, "out of memory");
	return out->members && out->n_members == n ? 0 : -ENOMEM;
}

enum rpc_code cluster_status(struct rpc_call *call, const ProtobufCMessage *r,
			     ProtobufCMessage *out, void *arg)
{
	struct svc_cluster *cl = cluster_of(arg);
	char why[XDROP_DQ_MAX_WHY];
	int rc;

	if (!cl)
		return not_clustered(call);
	rc = fill_status(cl, call, (Xdrop__V1__ClusterStatusReply *)out, why, sizeof(why));
	if (rc == -ENOMEM)
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	return rc ? dq_fail(call, rc, NULL, why) : RPC_OK;
}

/* The reply of a change: message and the cluster afterwards (its status best effort). */
static enum rpc_code changed(struct svc_cluster *cl, struct rpc_call *call,
			     Xdrop__V1__ClusterReply *resp, const char *msg)
{
	Xdrop__V1__ClusterStatusReply *st = rpc_call_alloc(call, sizeof(*st));
	char why[XDROP_DQ_MAX_WHY];

	resp->message = rpc_call_strdup(call, msg);
	if (!st)
		return RPC_OK;
	xdrop__v1__cluster_status_reply__init(st);
	if (fill_status(cl, call, st, why, sizeof(why)) == 0)
		resp->status = st; /* else the change stands, without the status */
	return RPC_OK;
}

static int parse_role(const char *s, enum dq_role *role)
{
	if (!s[0]) {
		*role = XDROP_DQ_VOTER;
		return 0;
	}
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, role_names[i])) {
			*role = (enum dq_role)i;
			return 0;
		}
	return -EINVAL;
}

enum rpc_code cluster_add(struct rpc_call *call, const ProtobufCMessage *r, ProtobufCMessage *out,
			  void *arg)
{
	REQ(Xdrop__V1__ClusterAddRequest, r);
	struct svc_cluster *cl = cluster_of(arg);
	char why[XDROP_DQ_MAX_WHY], msg[XDROP_DQ_MAX_ADDRESS + 64];
	enum dq_role role;
	int rc;

	if (!cl)
		return not_clustered(call);
	if (req->id == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "id", "a node id is 1 or more");
	if (!req->address[0] || !strchr(req->address, ':') ||
	    strlen(req->address) >= XDROP_DQ_MAX_ADDRESS)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "address",
				      "not a host:port address: %.64s", req->address);
	if (parse_role(req->role, &role))
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "role",
				      "%.32s: voter, standby or spare", req->role);
	rc = dq_join(cl->peers, cl->n, &cl->opts, req->id, req->address, role,
		     clock_mono_ms() + XDROP_CLUSTER_CHANGE_MS, why, sizeof(why));
	if (rc)
		return dq_fail(call, rc, "id", why);
	log_info("cluster: node %llu at %s is a %s", (unsigned long long)req->id, req->address,
		 role_names[role]);
	snprintf(msg, sizeof(msg), "node %llu at %s is a %s", (unsigned long long)req->id,
		 req->address, role_names[role]);
	return changed(cl, call, (Xdrop__V1__ClusterReply *)out, msg);
}

/* Whether node id is a member (-ENOENT when not), as the leader knows; why on failure. */
static int member(struct svc_cluster *cl, uint64_t id, enum dq_role *role, char *why, size_t len)
{
	struct dq_node_info *nodes = NULL;
	struct dq_conn *c = NULL;
	size_t n = 0;
	int rc = dq_leader_connect(&c, cl->peers, cl->n, &cl->opts,
				   clock_mono_ms() + XDROP_CLUSTER_LEADER_MS, why, len);

	if (rc)
		return rc;
	rc = dq_cluster(c, &nodes, &n);
	if (rc)
		dq_conn_why(c, rc, why, len);
	dq_conn_close(c);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (nodes[i].id == id) {
			*role = (enum dq_role)nodes[i].role;
			free(nodes);
			return 0;
		}
	free(nodes);
	if (rc == 0)
		snprintf(why, len, "no node %llu in the cluster", (unsigned long long)id);
	return rc ? rc : -ENOENT;
}

enum rpc_code cluster_remove(struct rpc_call *call, const ProtobufCMessage *r,
			     ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__ClusterRemoveRequest, r);
	struct svc_cluster *cl = cluster_of(arg);
	char why[XDROP_DQ_MAX_WHY], msg[64];
	enum dq_role role;
	int rc;

	if (!cl)
		return not_clustered(call);
	if (req->id == 0)
		return rpc_call_error(call, RPC_INVALID_ARGUMENT, "id", "a node id is 1 or more");
	rc = member(cl, req->id, &role, why, sizeof(why));
	if (rc == -ENOENT)
		return rpc_call_error(call, RPC_NOT_FOUND, "id", "%s", why);
	if (rc == 0)
		rc = dq_leave(cl->peers, cl->n, &cl->opts, req->id,
			      clock_mono_ms() + XDROP_CLUSTER_CHANGE_MS, why, sizeof(why));
	if (rc)
		return dq_fail(call, rc, "id", why);
	log_info("cluster: node %llu removed", (unsigned long long)req->id);
	snprintf(msg, sizeof(msg), "node %llu removed", (unsigned long long)req->id);
	return changed(cl, call, (Xdrop__V1__ClusterReply *)out, msg);
}

enum rpc_code cluster_transfer(struct rpc_call *call, const ProtobufCMessage *r,
			       ProtobufCMessage *out, void *arg)
{
	REQ(Xdrop__V1__ClusterTransferRequest, r);
	struct svc_cluster *cl = cluster_of(arg);
	char why[XDROP_DQ_MAX_WHY], msg[64];
	struct dq_conn *c = NULL;
	enum dq_role role;
	int rc;

	if (!cl)
		return not_clustered(call);
	if (req->id) {
		rc = member(cl, req->id, &role, why, sizeof(why));
		if (rc == -ENOENT)
			return rpc_call_error(call, RPC_NOT_FOUND, "id", "%s", why);
		if (rc)
			return dq_fail(call, rc, "id", why);
		if (role != XDROP_DQ_VOTER)
			return rpc_call_error(call, RPC_FAILED_PRECONDITION, "id",
					      "node %llu is a %s: only a voter can lead",
					      (unsigned long long)req->id, role_names[role % 3]);
	}
	rc = dq_leader_connect(&c, cl->peers, cl->n, &cl->opts,
			       clock_mono_ms() + XDROP_CLUSTER_LEADER_MS, why, sizeof(why));
	if (rc == 0) {
		rc = dq_transfer(c, req->id);
		if (rc)
			dq_conn_why(c, rc, why, sizeof(why));
	}
	dq_conn_close(c);
	if (rc)
		return dq_fail(call, rc, "id", why);
	log_info("cluster: leadership transferred to %llu", (unsigned long long)req->id);
	snprintf(msg, sizeof(msg), "leadership transferred");
	return changed(cl, call, (Xdrop__V1__ClusterReply *)out, msg);
}
