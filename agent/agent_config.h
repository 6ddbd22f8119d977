/* SPDX-License-Identifier: MIT */
/*
 * agent_config: the agent's YAML configuration (agent/config.example.yaml documents every
 * key), loaded once at start-up through lib/config. A bad file is refused with one error
 * naming the file, line and key.
 */
#ifndef XDROP_AGENT_CONFIG_H
#define XDROP_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "authlimit.h"
#include "attach.h"
#include "config.h"
#include "log.h"
#include "tls.h"

#define AGENT_MAX_KEYS 16

struct agent_config {
	struct config *raw; /* owns every string below */
	const char *node_id;
	const char *node_key;
	bool fast_forward;
	const char *interface; /* traditional */
	const char *inbound, *outbound;
	enum attach_filter filter_on;
	enum attach_mode xdp_mode;
	bool force;
	uint32_t max_rules, max_cidr_rules, max_prefixes, max_rate_rules;
	const char *pin_dir;
	const char *state_dir;
	const char *rpc_listen;
	const char *admin_keys[AGENT_MAX_KEYS];
	size_t n_admin_keys;
	const char *read_keys[AGENT_MAX_KEYS];
	size_t n_read_keys;
	struct authlimit_cfg auth_limit; /* rpc.auth_limit: failed keys per source address */
	const char *controller_rpc, *controller_push, *controller_health;
	struct tls_opts tls;
	uint64_t beacon_interval_ms;
	uint64_t sample_interval_ms;
	enum log_level log_level;
	bool protect_control;	/* protect the control flows in the data plane (agent/protect.h) */
	uint32_t talkers_every; /* top_talkers.sample_every: 1 packet in N sampled, 0 = off */
	uint32_t talkers_capacity; /* top_talkers.capacity: counters per summary */
};

/* Loads path into *c. Returns 0, or -EINVAL/-errno after printing one clear error. */
int agent_config_load(struct agent_config *c, const char *path);
void agent_config_free(struct agent_config *c);

/* The data-plane options of the config (pins and capacities) into *o; the strings are
 * borrowed from c. */
void agent_config_dp_opts(const struct agent_config *c, struct dataplane_opts *o);

#endif
