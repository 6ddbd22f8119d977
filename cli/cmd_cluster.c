// SPDX-License-Identifier: MIT
/*
 * cmd_cluster: `cluster status | add ID ADDRESS [--role voter|standby|spare] | remove ID |
 * transfer ID`, the controllers' dqlite cluster (ClusterService). Changes print the
 * cluster afterwards, as status does; membership changes wait for the cluster (an
 * election, a new node catching up), hence their longer timeout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define CTL_CLUSTER_TIMEOUT_MS 45000 /* above the controller's 30 s for Add and Remove */

static void print_members(const Xdrop__V1__ClusterStatusReply *s)
{
	static const struct ctl_col cols[] = {
	    {"ID", 20, true, false},	 {"ADDRESS", 40, false, false},	 {"ROLE", 7, false, false},
	    {"LEADER", 6, false, false}, {"REACHABLE", 9, false, false}, {"ERROR", 0, false, false},
	};
	struct ctl_table *t = ctl_table_new(cols, sizeof(cols) / sizeof(cols[0]));

	for (size_t i = 0; i < s->n_members; i++) {
		const Xdrop__V1__ClusterMember *m = s->members[i];
		char id[24];

		snprintf(id, sizeof(id), "%" PRIu64, m->id);
		ctl_table_row(t,
			      (const char *const[]){id, m->address, m->role, m->leader ? "yes" : "",
						    m->reachable ? "yes" : "no", m->error});
	}
	ctl_table_print(t);
}

static int cluster_call(struct ctl *c, const char *method, const ProtobufCMessage *req)
{
	ProtobufCMessage *resp = NULL;
	int rc = ctl_call(c, &xdrop__v1__cluster_service__descriptor, method, req, &resp,
			  strcmp(method, "Status") ? CTL_CLUSTER_TIMEOUT_MS : 0);

	if (rc)
		return rc;
	if (c->json) {
		rc = ctl_print_msg(resp);
	} else if (!strcmp(method, "Status")) {
		print_members((const void *)resp);
	} else {
		const Xdrop__V1__ClusterReply *r = (const void *)resp;

		if (!c->quiet) {
			printf("%s\n", r->message);
			if (r->status)
				print_members(r->status);
		}
	}
	ctl_msg_free(resp);
	return rc;
}

/* A node id: 1..2^64-1 in decimal. */
static int parse_id(const char *s, uint64_t *id)
{
	char *end;

	errno = 0;
	*id = strtoull(s, &end, 10);
	if (errno || end == s || *end || *id == 0 || s[0] == '-')
		return ctl_fail(CTL_EXIT_USAGE, "cluster: node id %s: a number from 1", s);
	return 0;
}

int cmd_cluster(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "status";
	Xdrop__V1__ClusterAddRequest aq = XDROP__V1__CLUSTER_ADD_REQUEST__INIT;
	Xdrop__V1__ClusterRemoveRequest rq = XDROP__V1__CLUSTER_REMOVE_REQUEST__INIT;
	Xdrop__V1__ClusterTransferRequest tq = XDROP__V1__CLUSTER_TRANSFER_REQUEST__INIT;
	Xdrop__V1__Empty eq = XDROP__V1__EMPTY__INIT;

	if (!strcmp(sub, "status") && argc <= 1)
		return cluster_call(c, "Status", &eq.base);
	if (!strcmp(sub, "add") && argc == 3) {
		aq.address = argv[2];
		aq.role = o->role ? o->role : "voter";
		return parse_id(argv[1], &aq.id) ?: cluster_call(c, "Add", &aq.base);
	}
	if (!strcmp(sub, "remove") && argc == 2)
		return parse_id(argv[1], &rq.id) ?: cluster_call(c, "Remove", &rq.base);
	if (!strcmp(sub, "transfer") && argc == 2)
		return parse_id(argv[1], &tq.id) ?: cluster_call(c, "Transfer", &tq.base);
	return ctl_fail(CTL_EXIT_USAGE,
			"usage: cluster status | cluster add ID ADDRESS [--role "
			"voter|standby|spare] | cluster remove ID | cluster transfer ID (see "
			"xdropctl help cluster)");
}
