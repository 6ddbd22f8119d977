/* SPDX-License-Identifier: MIT */
/*
 * config: the controller's settings, read from its YAML file (lib/config.h does the
 * parsing) with defaults for everything but nothing unknown; controller/config.example.yaml
 * shows and explains every key.
 */
#ifndef XDROP_CONTROLLER_CONFIG_H
#define XDROP_CONTROLLER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "authlimit.h"
#include "cluster.h"
#include "tls.h"

#define XDROP_NODE_CONFIG_MAX 256

struct ctl_node_cfg {
	const char *id, *name, *address, *key, *comment;
};

struct ctl_config {
	struct config *src; /* owns every string below */
	const char *database;
	const char *log_level;
	const char *rpc_url, *push_url, *health_url;
	unsigned rpc_workers;
	size_t rpc_max_msg;
	unsigned heartbeat_ms, beacon_interval_ms, sweep_ms, history_s, changelog_keep;
	bool repair;
	bool have_tls;
	struct tls_opts tls;
	const char *admin_key, *admin_key_file;
	struct ctl_node_cfg *nodes;
	size_t n_nodes;
	struct authlimit_cfg auth_limit; /* rpc.auth_limit (lib/authlimit.h) */
	struct ctl_cluster_cfg cluster;	 /* cluster.* (cluster.h); id 0: no cluster */
};

/*
 * Loads path into *cfg. Returns 0, or a negative errno with the reason (file, line, key)
 * written to err (errlen bytes). Free with ctl_config_free.
 */
int ctl_config_load(const char *path, struct ctl_config *cfg, char *err, size_t errlen);
void ctl_config_free(struct ctl_config *cfg);

#endif
