// SPDX-License-Identifier: MIT
/*
 * service: the registration of the controller's RPC handlers (see service.h). One table
 * names every method with its handler and, for RuleService and WhitelistService, the kind
 * of the rule set it serves (service_coll.c); write methods are wrapped by idem_handler.
 *
 * Files (controller/service/): service_util.c (store errors to RPC statuses, paging,
 * outcomes), service_coll.c (rules and whitelist entries), service_nodes.c,
 * service_stats.c, service_keys.c, service_sync.c (SyncService, HealthService),
 * service_cluster.c (ClusterService).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "service_int.h"

/* The methods registered through idem_handler: every write with a lasting outcome. */
static bool is_write(const ProtobufCServiceDescriptor *svc, const char *method)
{
	static const struct {
		const ProtobufCServiceDescriptor *svc;
		const char *const methods[7];
	} writes[] = {
	    {&xdrop__v1__rule_service__descriptor,
	     {"Create", "Update", "Delete", "BatchCreate", "BatchDelete", "ReplaceSource"}},
	    {&xdrop__v1__whitelist_service__descriptor,
	     {"Create", "Delete", "BatchCreate", "BatchDelete"}},
	    {&xdrop__v1__node_service__descriptor, {"Create", "Update", "Delete"}},
	    {&xdrop__v1__key_service__descriptor, {"Create", "Delete"}},
	};

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		for (size_t j = 0; writes[i].svc == svc && writes[i].methods[j]; j++)
			if (!strcmp(writes[i].methods[j], method))
				return true;
	return false;
}

/* Completes a response replayed from a record made at COMMIT: its SyncOutcome, now. */
static void fill_sync(void *arg, struct rpc_call *call, ProtobufCMessage *resp, uint64_t revision)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "sync");
	void **slot;

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->descriptor != &xdrop__v1__sync_outcome__descriptor)
		return;
	slot = (void **)((char *)resp + f->offset);
	if (!*slot)
		*slot = outcome(svc_of(arg), call, revision);
}

/* ---- registration ------------------------------------------------------------------------------
 */

int service_register(struct service **out, struct rpc_server *srv, const struct service_deps *d)
{
	static const struct {
		const ProtobufCServiceDescriptor *svc;
		const char *method;
		rpc_handler_fn fn;
		int kind; /* the rule-set kind served, -1 for none */
	} table[] = {
	    {&xdrop__v1__rule_service__descriptor, "List", coll_list, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "Get", coll_get, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "Create", coll_create, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "Update", coll_update, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "Delete", coll_delete, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "BatchCreate", coll_batch_create, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "BatchDelete", coll_batch_delete, STORE_RULES},
	    {&xdrop__v1__rule_service__descriptor, "Top", rule_top, -1},
	    {&xdrop__v1__rule_service__descriptor, "ReplaceSource", rule_replace_source, -1},
	    {&xdrop__v1__whitelist_service__descriptor, "List", coll_list, STORE_WHITELIST},
	    {&xdrop__v1__whitelist_service__descriptor, "Get", coll_get, STORE_WHITELIST},
	    {&xdrop__v1__whitelist_service__descriptor, "Create", coll_create, STORE_WHITELIST},
	    {&xdrop__v1__whitelist_service__descriptor, "Delete", coll_delete, STORE_WHITELIST},
	    {&xdrop__v1__whitelist_service__descriptor, "BatchCreate", coll_batch_create,
	     STORE_WHITELIST},
	    {&xdrop__v1__whitelist_service__descriptor, "BatchDelete", coll_batch_delete,
	     STORE_WHITELIST},
	    {&xdrop__v1__node_service__descriptor, "List", node_list, -1},
	    {&xdrop__v1__node_service__descriptor, "Get", node_get, -1},
	    {&xdrop__v1__node_service__descriptor, "Create", node_create, -1},
	    {&xdrop__v1__node_service__descriptor, "Update", node_update, -1},
	    {&xdrop__v1__node_service__descriptor, "Delete", node_delete, -1},
	    {&xdrop__v1__node_service__descriptor, "GetStats", node_get_stats, -1},
	    {&xdrop__v1__node_service__descriptor, "Sync", node_sync, -1},
	    {&xdrop__v1__stats_service__descriptor, "Get", stats_get, -1},
	    {&xdrop__v1__stats_service__descriptor, "History", stats_hist, -1},
	    {&xdrop__v1__stats_service__descriptor, "Info", stats_info, -1},
	    {&xdrop__v1__stats_service__descriptor, "RuleStats", stats_rules, -1},
	    {&xdrop__v1__stats_service__descriptor, "TopTalkers", stats_talkers, -1},
	    {&xdrop__v1__key_service__descriptor, "List", key_list, -1},
	    {&xdrop__v1__key_service__descriptor, "Create", key_create, -1},
	    {&xdrop__v1__key_service__descriptor, "Delete", key_delete, -1},
	    {&xdrop__v1__key_service__descriptor, "Whoami", key_whoami, -1},
	    {&xdrop__v1__sync_service__descriptor, "GetRevision", sync_revision, -1},
	    {&xdrop__v1__sync_service__descriptor, "GetSnapshot", sync_snapshot, -1},
	    {&xdrop__v1__sync_service__descriptor, "GetDeltas", sync_deltas, -1},
	    {&xdrop__v1__health_service__descriptor, "Ping", health_ping, -1},
	    {&xdrop__v1__cluster_service__descriptor, "Status", cluster_status, -1},
	    {&xdrop__v1__cluster_service__descriptor, "Add", cluster_add, -1},
	    {&xdrop__v1__cluster_service__descriptor, "Remove", cluster_remove, -1},
	    {&xdrop__v1__cluster_service__descriptor, "Transfer", cluster_transfer, -1},
	};
	struct service *s;
	int err = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->store = d->store;
	s->nodes = d->nodes;
	s->stats = d->stats;
	s->started_at = clock_wall_ns();
	pthread_mutex_init(&s->snap_lock, NULL);
	s->stages = stages_new();
	if (!s->stages) {
		free(s);
		return -ENOMEM;
	}
	for (int k = 0; k <= STORE_KINDS; k++)
		s->args[k] = (struct svc_arg){.s = s, .coll = k ? &svc_colls[k - 1] : NULL};
	err = svc_cluster_open(&s->cluster, d);
	if (!err)
		err = snap_idle_start(s);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]) && !err; i++) {
		rpc_handler_fn fn = table[i].fn;
		void *arg = &s->args[1 + table[i].kind];

		if (d->idem && is_write(table[i].svc, table[i].method)) {
			struct idem_method *im;

			if (s->n_writes == SERVICE_WRITES) { /* is_write() grew: raise the bound */
				log_error("service: more than %d write methods", SERVICE_WRITES);
				err = -ENOSPC;
				break;
			}
			im = &s->writes[s->n_writes++];

			*im = (struct idem_method){
			    .m = d->idem, .fn = fn, .arg = arg, .fill_sync = fill_sync};
			fn = idem_handler;
			arg = im;
		}
		err = rpc_server_register(srv, table[i].svc, table[i].method, fn, arg);
		if (err)
			log_error("service: cannot register %s.%s: %s", table[i].svc->name,
				  table[i].method, strerror(-err));
	}
	if (err) {
		service_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void service_free(struct service *s)
{
	if (!s)
		return;
	ticker_stop(s->snap_idle);
	for (int i = 0; i < XDROP_SNAPSHOT_CACHE; i++)
		store_snapshot_free(s->snaps[i]);
	for (int i = 0; i < XDROP_SNAPSHOT_PACKED; i++)
		free(s->packed[i].bytes.data);
	pthread_mutex_destroy(&s->snap_lock);
	stages_free(s->stages);
	svc_cluster_free(s->cluster);
	free(s);
}
