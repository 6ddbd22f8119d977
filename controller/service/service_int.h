/* SPDX-License-Identifier: MIT */
/*
 * service_int: what the files of controller/service/ share: the service's state, the
 * argument every handler gets, the reply helpers and the handlers the registration table
 * (service.c) names.
 *
 * Rules and whitelist entries are served by one set of handlers (service_coll.c) driven by
 * a struct svc_coll per kind: the handler's arg names the kind, and the request and reply
 * fields that differ between the kinds ("rule" / "entry", "rules" / "entries") are found
 * by name through the messages' protobuf-c descriptors.
 */
#ifndef XDROP_CONTROLLER_SERVICE_INT_H
#define XDROP_CONTROLLER_SERVICE_INT_H

#include <pthread.h>

#include "idempotency.h"
#include "ticker.h"
#include "rulepb.h"
#include "service.h"

#define SERVICE_WRITES 15 /* methods is_write() lists */

#define REQ(type, r)  const type *req = (const type *)(r)
#define RESP(type, r) type *resp = (type *)(r)

struct service;

/* One kind of the rule set as the RPC services see it. */
struct svc_coll {
	enum store_kind kind;
	const char *item;    /* "rule": the field of one item in requests and replies */
	const char *items;   /* "rules": the repeated field of batches and lists */
	const char *noun;    /* "rule": messages ("no rule x") */
	const char *plural;  /* "rules": messages ("cannot sort rules by") */
	const char *deleted; /* the Delete reply's message */
	/* *out = in made ready to store (id from id[] when in has none, times = now) */
	void (*prepare)(const ProtobufCMessage *in, ProtobufCMessage *out, char *id, int64_t now);
};

/* Every handler's arg: the service, and for rule-set methods the kind (else NULL). */
struct svc_arg {
	struct service *s;
	const struct svc_coll *coll;
};

/* A snapshot chunk in the agents' size (XDROP_SNAPSHOT_MAX_ITEMS items), packed once and
 * served as is to every node that asks for it while it is among the XDROP_SNAPSHOT_PACKED
 * most recently used (service_sync.c). */
struct packed_chunk {
	uint64_t revision;
	uint32_t index;
	uint64_t used; /* service's use counter when last served: the least is evicted */
	ProtobufCBinaryData bytes;
};

struct service {
	struct store *store;
	struct nodes *nodes;
	struct stats *stats;
	int64_t started_at;
	pthread_mutex_t snap_lock;
	struct store_snapshot *snaps[XDROP_SNAPSHOT_CACHE]; /* [0] newest */
	struct packed_chunk packed[XDROP_SNAPSHOT_PACKED];  /* under snap_lock */
	uint64_t packed_uses;
	int64_t snap_used_ms;	  /* clock_mono_ms() of the last snapshot call (snap_lock) */
	struct ticker *snap_idle; /* drops the cache once idle (service_sync.c) */
	struct svc_arg args[1 + STORE_KINDS];	   /* [0] plain, [1 + kind] */
	struct idem_method writes[SERVICE_WRITES]; /* the wrapped write methods */
	size_t n_writes;
	struct stages *stages;	     /* staged imports (service_stage.c) */
	struct svc_cluster *cluster; /* NULL: not clustered (service_cluster.c) */
};

/* Starts the ticker that frees cached snapshots and packed chunks no node asked for in
 * XDROP_SNAPSHOT_IDLE_MS (service_sync.c). 0 or -errno. */
int snap_idle_start(struct service *s);

/* The service of a handler's arg. */
static inline struct service *svc_of(void *arg)
{
	return ((struct svc_arg *)arg)->s;
}

/* ---- service_util.c: replies ----------------------------------------------------------- */

/* The RPC status of a store failure: e's code, field and message when the store filled
 * them, else the errno's (a full disk as STORE_DISK_FULL). Returns the code set. */
enum rpc_code store_fail(struct rpc_call *call, int err, const struct store_error *e);
/* The RPC code of a store code. */
enum rpc_code store_rpc_code(enum store_code c);
/* The SyncOutcome of revision rev as known now, in call memory (NULL without memory). */
Xdrop__V1__SyncOutcome *outcome(struct service *s, struct rpc_call *call, uint64_t rev);
/* Releases v (n elements) with fn after the reply is packed. 0 or -ENOMEM (freed now). */
int defer_arr(struct rpc_call *call, void *v, size_t n, void (*fn)(void *, size_t));
/* protobuf_c_message_free_unpacked(p), for rpc_call_defer. */
void free_msg(void *p);
/* rpc_call_alloc for allocators that take a context (nodes_fill). */
void *call_alloc(void *ctx, size_t size);
/* A Pagination in call memory for page/limit (0 = defaults) of total items. */
Xdrop__V1__Pagination *pagination(struct rpc_call *call, uint32_t page, uint32_t limit,
				  uint64_t total);
/* *desc from order ("", "asc", "desc"); INVALID_ARGUMENT for another. */
enum rpc_code check_order(struct rpc_call *call, const char *order, bool *desc);

/* ---- service_stage.c: staged imports -------------------------------------------------- */

#define XDROP_STAGES	     4	    /* staged imports at once */
#define XDROP_STAGE_IDLE_MS  120000 /* a stage untouched this long is dropped */
#define XDROP_STAGE_NAME_MAX 64	    /* bytes of a stage's name */

struct stages;
struct stages *stages_new(void);
void stages_free(struct stages *t);

/* What stage_take hands back: items held so far; on a commit the whole set (n items,
 * freed with the call). */
struct stage_out {
	size_t staged, n;
	ProtobufCMessage **all;
};

/* The stage part p of a request of method ("BatchCreate", "ReplaceSource") with items
 * in[0..n) of kind c: validated and held; on commit out->all is the whole set for the
 * handler to store as one change. RPC_OK or the error set on call (the stage dropped). */
enum rpc_code stage_take(struct rpc_call *call, struct service *s, const struct svc_coll *c,
			 const char *method, const Xdrop__V1__StagePart *p,
			 ProtobufCMessage *const *in, size_t n, struct stage_out *out);

/* ---- the handlers (service_coll.c, service_nodes.c, ...) -------------------------------- */

#define SVC_HANDLER(name)                                                                          \
	enum rpc_code name(struct rpc_call *call, const ProtobufCMessage *r,                       \
			   ProtobufCMessage *out, void *arg)

extern const struct svc_coll svc_colls[STORE_KINDS];

SVC_HANDLER(coll_list);
SVC_HANDLER(coll_get);
SVC_HANDLER(coll_create);
SVC_HANDLER(coll_update);
SVC_HANDLER(coll_delete);
SVC_HANDLER(coll_batch_create);
SVC_HANDLER(coll_batch_delete);
SVC_HANDLER(rule_top);
SVC_HANDLER(rule_replace_source);
SVC_HANDLER(node_list);
SVC_HANDLER(node_get);
SVC_HANDLER(node_create);
SVC_HANDLER(node_update);
SVC_HANDLER(node_delete);
SVC_HANDLER(node_get_stats);
SVC_HANDLER(node_sync);
SVC_HANDLER(stats_get);
SVC_HANDLER(stats_hist);
SVC_HANDLER(stats_info);
SVC_HANDLER(stats_rules);
SVC_HANDLER(stats_talkers);
SVC_HANDLER(key_list);
SVC_HANDLER(key_create);
SVC_HANDLER(key_delete);
SVC_HANDLER(key_whoami);
SVC_HANDLER(sync_revision);
SVC_HANDLER(sync_snapshot);
SVC_HANDLER(sync_deltas);
SVC_HANDLER(health_ping);
SVC_HANDLER(cluster_status);
SVC_HANDLER(cluster_add);
SVC_HANDLER(cluster_remove);
SVC_HANDLER(cluster_transfer);

/* ---- service_cluster.c: ClusterService's reach of the cluster ----------------------------- */

#define XDROP_CLUSTER_PROBE_MS	1000  /* a member's connect and LEADER answer (Status) */
#define XDROP_CLUSTER_CALL_MS	10000 /* one request on the leader */
#define XDROP_CLUSTER_LEADER_MS 5000  /* finding the leader (an election included) */
#define XDROP_CLUSTER_CHANGE_MS 30000 /* Add and Remove, retried across leader changes */

struct svc_cluster;

/* *out for d's cluster peers (NULL without any), with TLS when d names it. 0 or -errno. */
int svc_cluster_open(struct svc_cluster **out, const struct service_deps *d);
void svc_cluster_free(struct svc_cluster *c);

#endif
