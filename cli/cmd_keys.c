// SPDX-License-Identifier: MIT
/*
 * cmd_keys: `keys list | add NAME admin|read_only | del ID`, the controller's API keys.
 * `keys add` prints the new key once: the controller keeps only a salted hash.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static int keys_list(struct ctl *c)
{
	Xdrop__V1__ListKeysRequest lq = XDROP__V1__LIST_KEYS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = ctl_call(c, &xdrop__v1__key_service__descriptor, "List", &lq.base, &resp, 0);

	if (rc)
		return rc;
	if (c->json)
		rc = ctl_print_msg(resp);
	else
		ctl_print_keys((const void *)resp);
	ctl_msg_free(resp);
	return rc;
}

static int keys_add(struct ctl *c, const char *name, const char *scope)
{
	Xdrop__V1__CreateKeyRequest cq = XDROP__V1__CREATE_KEY_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	const Xdrop__V1__ApiKey *k;
	int rc;

	cq.name = (char *)name;
	cq.scope = (char *)scope;
	rc = ctl_call(c, &xdrop__v1__key_service__descriptor, "Create", &cq.base, &resp, 0);
	if (rc)
		return rc;
	k = (const void *)resp;
	if (c->json)
		rc = ctl_print_msg(resp);
	else
		printf("key %s (%s) added\nkey (shown once): %s\n", k->id, k->scope, k->key);
	ctl_msg_free(resp);
	return rc;
}

static int keys_del(struct ctl *c, const char *id)
{
	Xdrop__V1__DeleteRequest dq = XDROP__V1__DELETE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	dq.id = (char *)id;
	rc = ctl_call(c, &xdrop__v1__key_service__descriptor, "Delete", &dq.base, &resp, 0);
	if (!rc && !c->quiet)
		printf("key %s deleted\n", id);
	ctl_msg_free(resp);
	return rc;
}

int cmd_keys(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "list";

	if (!strcmp(sub, "list"))
		return keys_list(c);
	if (!strcmp(sub, "add") && argc == 3)
		return keys_add(c, argv[1], argv[2]);
	if (!strcmp(sub, "del") && argc == 2)
		return keys_del(c, argv[1]);
	return ctl_fail(
	    CTL_EXIT_USAGE,
	    "usage: keys list | keys add NAME admin|read_only | keys del ID (see xdropctl "
	    "help keys)");
}
