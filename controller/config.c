// SPDX-License-Identifier: MIT
/*
 * config: the controller's keys, their defaults and limits; see config.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lib/config.h"
#include "nodes.h"
#include "authlimit.h"
#include "publish.h"
#include "rpc.h"
#include "rule.h"
#include "rules.h"
#include "stats.h"
#include "store.h"

static const char *const allowed[] = {
    "database",
    "log_level",
    "rpc.listen",
    "rpc.workers",
    "rpc.max_msg",
    "push.listen",
    "push.heartbeat",
    "health.listen",
    "health.beacon_interval",
    "health.repair",
    "tls.ca_file",
    "tls.cert_file",
    "tls.key_file",
    "tls.key_pass",
    "tls.require_client_cert",
    "tls.verify_server_name",
    "keys.admin_key",
    "keys.admin_key_file",
    "expiry.sweep_interval",
    "stats.history",
    "changelog.keep",
    "nodes.*.id",
    "nodes.*.name",
    "nodes.*.address",
    "nodes.*.key",
    "nodes.*.comment",
    "rpc.auth_limit.attempts",
    "rpc.auth_limit.window",
    "rpc.auth_limit.slots",
    "rpc.auth_limit.exempt",
    "cluster.id",
    "cluster.address",
    "cluster.dir",
    "cluster.peers",
    NULL,
};

int ctl_config_load(const char *path, struct ctl_config *cfg, char *errbuf, size_t errlen)
{
	struct config *c = NULL;
	uint64_t u, ms;
	bool b = false;
	int err, nn;

	memset(cfg, 0, sizeof(*cfg));
	err = config_load(&c, path);
	cfg->src = c;
	if (err)
		goto out;
	err = config_check_keys(c, allowed);
	err = err ?: config_get_str(c, "database", "/var/lib/xdrop/controller.db", &cfg->database);
	err = err ?: config_get_str(c, "log_level", "info", &cfg->log_level);
	err = err ?: config_get_str(c, "rpc.listen", XDROP_CONTROLLER_RPC_URL, &cfg->rpc_url);
	err = err
		  ?: config_get_u64(c, "rpc.workers", XDROP_RPC_WORKERS, 1, XDROP_RPC_MAX_WORKERS,
				    &u);
	cfg->rpc_workers = (unsigned)u;
	err = err
		  ?: config_get_u64(c, "rpc.max_msg", XDROP_RPC_MAX_MSG, 64 * 1024,
				    256u * 1024 * 1024, &u);
	cfg->rpc_max_msg = (size_t)u;
	err = err ?: config_get_str(c, "push.listen", "tcp://127.0.0.1:7701", &cfg->push_url);
	err =
	    err ?: config_get_duration_ms(c, "push.heartbeat", XDROP_HEARTBEAT_MS, 50, 60000, &ms);
	cfg->heartbeat_ms = (unsigned)ms;
	err = err ?: config_get_str(c, "health.listen", "tcp://127.0.0.1:7702", &cfg->health_url);
	err = err ?: config_get_duration_ms(c, "health.beacon_interval", 1000, 50, 60000, &ms);
	cfg->beacon_interval_ms = (unsigned)ms;
	err = err ?: config_get_bool(c, "health.repair", true, &cfg->repair);
	err = err
		  ?: config_get_duration_ms(c, "expiry.sweep_interval", XDROP_SWEEP_MS, 50, 3600000,
					    &ms);
	cfg->sweep_ms = (unsigned)ms;
	err = err
		  ?: config_get_duration_ms(c, "stats.history", XDROP_HISTORY_DEFAULT_S * 1000ull,
					    60000, XDROP_HISTORY_MAX_S * 1000ull, &ms);
	cfg->history_s = (unsigned)(ms / 1000);
	err =
	    err ?: config_get_u64(c, "changelog.keep", XDROP_STORE_CHANGELOG_KEEP, 10, 1000000, &u);
	cfg->changelog_keep = (unsigned)u;
	err = err ?: config_get_str(c, "keys.admin_key", NULL, &cfg->admin_key);
	err = err ?: config_get_str(c, "keys.admin_key_file", NULL, &cfg->admin_key_file);
	err = err ?: config_get_str(c, "tls.ca_file", NULL, &cfg->tls.ca_file);
	err = err ?: config_get_str(c, "tls.cert_file", NULL, &cfg->tls.cert_file);
	err = err ?: config_get_str(c, "tls.key_file", NULL, &cfg->tls.key_file);
	err = err ?: config_get_str(c, "tls.key_pass", NULL, &cfg->tls.key_pass);
	err = err ?: config_get_bool(c, "tls.require_client_cert", false, &b);
	cfg->tls.require_client_cert = b;
	err = err ?: config_get_bool(c, "tls.verify_server_name", true, &b);
	cfg->tls.skip_name_check = !b;
	cfg->have_tls = cfg->tls.cert_file || cfg->tls.ca_file;
	if (err)
		goto out;
	err = authlimit_cfg_load(c, "rpc.auth_limit", &cfg->auth_limit);
	err = err ?: ctl_cluster_cfg_load(c, &cfg->cluster);
	if (cfg->tls.ca_file && cfg->tls.cert_file)
		cfg->cluster.tls = &cfg->tls;
	if (err)
		goto out;
	if (cfg->admin_key && cfg->admin_key[0] && strlen(cfg->admin_key) < 16) {
		err = config_fail(c, "keys.admin_key", "must be at least 16 characters");
		goto out;
	}
	nn = config_seq_len(c, "nodes");
	if (nn < 0 || nn > XDROP_NODE_CONFIG_MAX) {
		err = nn < 0 ? nn
			     : config_fail(c, "nodes", "at most %d nodes", XDROP_NODE_CONFIG_MAX);
		goto out;
	}
	cfg->nodes = calloc((size_t)nn + 1, sizeof(*cfg->nodes));
	if (!cfg->nodes) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < nn && !err; i++) {
		struct ctl_node_cfg *n = &cfg->nodes[i];
		const char *why;
		char k[64];

		snprintf(k, sizeof(k), "nodes.%d.id", i);
		err = config_get_str(c, k, NULL, &n->id);
		if (!err && !rule_id_ok(n->id))
			err = config_fail(c, k, "a node id is 1..%d characters of " XDROP_ID_CHARS,
					  XDROP_ID_MAX);
		snprintf(k, sizeof(k), "nodes.%d.key", i);
		err = err ?: config_get_str(c, k, NULL, &n->key);
		if (!err && (!n->key || strlen(n->key) < 16 || strlen(n->key) > 64))
			err = config_fail(c, k, "a node key has 16..64 characters");
		snprintf(k, sizeof(k), "nodes.%d.name", i);
		err = err ?: config_get_str(c, k, "", &n->name);
		snprintf(k, sizeof(k), "nodes.%d.address", i);
		err = err ?: config_get_str(c, k, "", &n->address);
		if (!err && n->address[0] && nodes_check_address(n->address, &why))
			err = config_fail(c, k, "%s", why);
		snprintf(k, sizeof(k), "nodes.%d.comment", i);
		err = err ?: config_get_str(c, k, "", &n->comment);
	}
	cfg->n_nodes = (size_t)nn;
out:
	if (err)
		snprintf(errbuf, errlen, "%s",
			 c && config_error(c)[0] ? config_error(c) : strerror(-err));
	return err;
}

void ctl_config_free(struct ctl_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->nodes);
	authlimit_cfg_free(&cfg->auth_limit);
	config_free(cfg->src);
	memset(cfg, 0, sizeof(*cfg));
}
