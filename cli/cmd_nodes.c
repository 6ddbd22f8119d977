// SPDX-License-Identifier: MIT
/*
 * cmd_nodes: `nodes list | add | get | stats | sync | del`, the controller's registry of
 * agents. `nodes add` prints the node key once: the controller keeps only a verifier.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static int nodes_list(struct ctl *c)
{
	Xdrop__V1__ListNodesRequest lq = XDROP__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	lq.limit = XDROP_NODE_LIST_MAX;
	rc = ctl_call(c, &xdrop__v1__node_service__descriptor, "List", &lq.base, &resp, 0);
	if (rc)
		return rc;
	if (c->json)
		rc = ctl_print_msg(resp);
	else
		ctl_print_nodes((const void *)resp);
	ctl_msg_free(resp);
	return rc;
}

/* nodes add FIELD=VALUE... (argv[0] is "add") */
static int nodes_add(struct ctl *c, int argc, char **argv)
{
	Xdrop__V1__CreateNodeRequest cq = XDROP__V1__CREATE_NODE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	cJSON *obj = NULL;
	int rc, err = ctl_fields_object(argv + 1, argc - 1, &xdrop__v1__node__descriptor, &obj, &e);

	if (!err)
		err = json_to_node(obj, "", &cq.node, NULL, NULL, &e);
	cJSON_Delete(obj);
	if (err)
		return ctl_json_fail(&e, NULL);
	rc = ctl_call(c, &xdrop__v1__node_service__descriptor, "Create", &cq.base, &resp, 0);
	ctl_msg_free((ProtobufCMessage *)cq.node);
	if (rc)
		return rc;
	if (c->json) {
		rc = ctl_print_msg(resp);
	} else {
		const Xdrop__V1__NodeWriteReply *w = (const void *)resp;

		printf("node %s added\nnode key (shown once): %s\n", w->node ? w->node->id : "",
		       w->key);
	}
	ctl_msg_free(resp);
	return rc;
}

int cmd_nodes(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	const ProtobufCServiceDescriptor *svc = &xdrop__v1__node_service__descriptor;
	const char *sub = argc > 0 ? argv[0] : "list";
	ProtobufCMessage *resp = NULL;
	Xdrop__V1__GetNodeRequest gq = XDROP__V1__GET_NODE_REQUEST__INIT;
	int rc;

	if (!strcmp(sub, "list"))
		return nodes_list(c);
	if (!strcmp(sub, "add"))
		return nodes_add(c, argc, argv);
	if (argc != 2)
		return ctl_fail(CTL_EXIT_USAGE,
				"usage: nodes get|stats|sync|del ID (see xdropctl help nodes)");
	gq.id = argv[1];
	if (!strcmp(sub, "get") || !strcmp(sub, "stats") || !strcmp(sub, "sync")) {
		rc = ctl_call(c, svc,
			      !strcmp(sub, "get")     ? "Get"
			      : !strcmp(sub, "stats") ? "GetStats"
						      : "Sync",
			      &gq.base, &resp, 0);
		if (!rc && !c->json && !strcmp(sub, "get"))
			ctl_print_node_detail((const Xdrop__V1__Node *)resp);
		else if (!rc)
			rc = ctl_print_msg(resp);
		ctl_msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "del")) {
		Xdrop__V1__DeleteRequest dq = XDROP__V1__DELETE_REQUEST__INIT;

		dq.id = argv[1];
		rc = ctl_call(c, svc, "Delete", &dq.base, &resp, 0);
		if (!rc && !c->quiet)
			printf("node %s deleted\n", argv[1]);
		ctl_msg_free(resp);
		return rc;
	}
	return ctl_fail(CTL_EXIT_USAGE, "unknown command: nodes %s (see xdropctl help nodes)", sub);
}
