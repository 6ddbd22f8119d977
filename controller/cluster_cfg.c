// SPDX-License-Identifier: MIT
/*
 * cluster_cfg: the cluster.* keys of the controller's config and the store's target;
 * see cluster.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "lib/config.h"

/* True for HOST:PORT with a port of 1..65535. */
static bool address_ok(const char *a)
{
	const char *colon = a ? strrchr(a, ':') : NULL;
	char *end;
	long port;

	if (!colon || colon == a)
		return false;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && port > 0 && port < 65536 && strlen(a) < 256;
}

int ctl_cluster_cfg_load(struct config *c, struct ctl_cluster_cfg *out)
{
	uint64_t id;
	int err;

	memset(out, 0, sizeof(*out));
	err = config_get_u64(c, "cluster.id", 0, 0, INT64_MAX, &id);
	err = err ?: config_get_str(c, "cluster.address", NULL, &out->address);
	err = err ?: config_get_str(c, "cluster.dir", XDROP_CLUSTER_DIR, &out->dir);
	err = err ?: config_get_strlist(c, "cluster.peers", &out->peers, &out->n_peers);
	if (err)
		return err;
	out->id = id;
	if (!id && (out->address || out->n_peers))
		return config_fail(c, "cluster.id", "a controller of a cluster needs its id (1..)");
	if (!id)
		return 0;
	if (!address_ok(out->address))
		return config_fail(c, "cluster.address",
				   "HOST:PORT this controller's node serves on");
	if (out->n_peers > XDROP_CLUSTER_MAX_PEERS)
		return config_fail(c, "cluster.peers", "at most %d peers", XDROP_CLUSTER_MAX_PEERS);
	for (size_t i = 0; i < out->n_peers; i++)
		if (!address_ok(out->peers[i]))
			return config_fail(c, "cluster.peers", "%s is not HOST:PORT",
					   out->peers[i]);
	if (id != 1 && !out->n_peers)
		return config_fail(
		    c, "cluster.peers",
		    "a controller other than id 1 joins the cluster through its peers");
	return 0;
}

int cluster_target(const struct ctl_cluster_cfg *cfg, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "dqlite://%s", cfg->address);

	for (size_t i = 0; i < cfg->n_peers && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, ",%s", cfg->peers[i]);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, "/%s", XDROP_CLUSTER_DB);
	return n < len ? 0 : -ENAMETOOLONG;
}
