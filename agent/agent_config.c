// SPDX-License-Identifier: MIT
/*
 * agent_config: see agent_config.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_config.h"
#include "pubsub.h"
#include "rule.h"
#include "talkers.h"
#include "xdrop.h"
#include "xdrop_limits.h"

static const char *const known_keys[] = {
    "node.id",
    "node.key",
    "interface",
    "mode",
    "fast_forward.inbound",
    "fast_forward.outbound",
    "fast_forward.filter_on",
    "xdp_mode",
    "force",
    "capacity.rules",
    "capacity.cidr_rules",
    "capacity.prefixes",
    "capacity.rate_limited_rules",
    "pin_dir",
    "state_dir",
    "rpc.listen",
    "rpc.admin_keys",
    "rpc.read_only_keys",
    "rpc.auth_limit.attempts",
    "rpc.auth_limit.window",
    "rpc.auth_limit.slots",
    "rpc.auth_limit.exempt",
    "controller.rpc",
    "controller.push",
    "controller.health",
    "tls.ca_file",
    "tls.cert_file",
    "tls.key_file",
    "tls.server_name",
    "tls.verify_server_name",
    "tls.require_client_cert",
    "beacon_interval",
    "stats_interval",
    "log_level",
    "protect_control",
    "top_talkers.sample_every",
    "top_talkers.capacity",
    NULL,
};

static int keys_list(struct config *raw, const char *key, const char **out, size_t *n)
{
	const char *const *v;
	size_t k;
	int err = config_get_strlist(raw, key, &v, &k);

	if (err)
		return err;
	if (k > AGENT_MAX_KEYS)
		return config_fail(raw, key, "at most %d keys", AGENT_MAX_KEYS);
	for (size_t i = 0; i < k; i++) {
		if (strlen(v[i]) < 16)
			return config_fail(raw, key, "keys need at least 16 characters");
		out[i] = v[i];
	}
	*n = k;
	return 0;
}

/* The attachment: mode, interface(s), filter side, XDP mode, force. 0 or -EINVAL. */
static int load_attach(struct config *raw, struct agent_config *c)
{
	const char *mode, *filter, *xdp;
	int err;

	if ((err = config_get_str(raw, "mode", "traditional", &mode)))
		return err;
	if (!strcmp(mode, "fast_forward")) {
		c->fast_forward = true;
	} else if (strcmp(mode, "traditional")) {
		return config_fail(raw, "mode", "traditional or fast_forward");
	}
	if ((err = config_get_str(raw, "interface", NULL, &c->interface)) ||
	    (err = config_get_str(raw, "fast_forward.inbound", NULL, &c->inbound)) ||
	    (err = config_get_str(raw, "fast_forward.outbound", NULL, &c->outbound)) ||
	    (err = config_get_str(raw, "fast_forward.filter_on", "inbound", &filter)))
		return err;
	if (c->fast_forward) {
		if (!c->inbound || !c->outbound) {
			return config_fail(
			    raw, c->inbound ? "fast_forward.outbound" : "fast_forward.inbound",
			    "fast_forward mode needs both interfaces");
		}
		if (!strcmp(filter, "inbound"))
			c->filter_on = ATTACH_FILTER_INBOUND;
		else if (!strcmp(filter, "outbound"))
			c->filter_on = ATTACH_FILTER_OUTBOUND;
		else if (!strcmp(filter, "both"))
			c->filter_on = ATTACH_FILTER_BOTH;
		else {
			return config_fail(raw, "fast_forward.filter_on",
					   "inbound, outbound or both");
		}
	} else if (!c->interface) {
		return config_fail(raw, "interface", "required in traditional mode");
	}
	if ((err = config_get_str(raw, "xdp_mode", "native", &xdp)))
		return err;
	if (!strcmp(xdp, "native"))
		c->xdp_mode = ATTACH_NATIVE;
	else if (!strcmp(xdp, "generic"))
		c->xdp_mode = ATTACH_GENERIC;
	else if (!strcmp(xdp, "native_or_generic"))
		c->xdp_mode = ATTACH_NATIVE_OR_GENERIC;
	else {
		return config_fail(raw, "xdp_mode", "native, generic or native_or_generic");
	}
	if ((err = config_get_bool(raw, "force", false, &c->force)))
		return err;
	return 0;
}

/* top_talkers: the sampling rate (0 = off) and the counters per summary. 0 or -EINVAL. */
static int load_talkers(struct config *raw, struct agent_config *c)
{
	uint64_t v;
	int err;

	if ((err = config_get_u64(raw, "top_talkers.sample_every", XDROP_DEF_SAMPLE_EVERY, 0,
				  TALKERS_MAX_SAMPLE_EVERY, &v)))
		return err;
	c->talkers_every = (uint32_t)v;
	if ((err = config_get_u64(raw, "top_talkers.capacity", TALKERS_DEF_CAPACITY,
				  TALKERS_MIN_CAPACITY, TALKERS_MAX_CAPACITY, &v)))
		return err;
	c->talkers_capacity = (uint32_t)v;
	return 0;
}

int agent_config_load(struct agent_config *c, const char *path)
{
	struct config *raw = NULL;
	const char *level;
	uint64_t v;
	bool verify_name = true;
	int err;

	memset(c, 0, sizeof(*c));
	err = config_load(&raw, path);
	c->raw = raw;
	if (err)
		goto out;
	err = config_check_keys(raw, known_keys);
	if (err)
		goto out;
	if ((err = config_get_str(raw, "node.id", NULL, &c->node_id)) ||
	    (err = config_get_str(raw, "node.key", NULL, &c->node_key)))
		goto out;
	if (c->node_id && !rule_id_ok(c->node_id)) {
		err = config_fail(raw, "node.id",
				  "a node id is 1..%d characters of " XDROP_ID_CHARS, XDROP_ID_MAX);
		goto out;
	}
	if (c->node_key &&
	    (strlen(c->node_key) < 16 || strlen(c->node_key) > XDROP_BEACON_MAX_KEY)) {
		err = config_fail(raw, "node.key", "16-64 characters");
		goto out;
	}
	if ((err = load_attach(raw, c)))
		goto out;
	if ((err = config_get_u64(raw, "capacity.rules", XDROP_DEF_MAX_EXACT, 16, 16u << 20, &v)))
		goto out;
	c->max_rules = (uint32_t)v;
	if ((err =
		 config_get_u64(raw, "capacity.cidr_rules", XDROP_DEF_MAX_CIDR, 16, 4u << 20, &v)))
		goto out;
	c->max_cidr_rules = (uint32_t)v;
	if ((err = config_get_u64(raw, "capacity.prefixes", XDROP_DEF_MAX_PREFIXES, 16, 1u << 20,
				  &v)))
		goto out;
	c->max_prefixes = (uint32_t)v;
	if ((err = config_get_u64(raw, "capacity.rate_limited_rules", XDROP_DEF_MAX_RATE, 1,
				  1u << 20, &v)))
		goto out;
	c->max_rate_rules = (uint32_t)v;
	if ((err = config_get_str(raw, "pin_dir", "/sys/fs/bpf/xdrop", &c->pin_dir)) ||
	    (err = config_get_str(raw, "state_dir", "/var/lib/xdrop-agent", &c->state_dir)) ||
	    (err = config_get_str(raw, "rpc.listen", XDROP_AGENT_RPC_URL, &c->rpc_listen)))
		goto out;
	if (strncmp(c->pin_dir, "/sys/fs/bpf/", 12) != 0) {
		err = config_fail(raw, "pin_dir", "must be a directory under /sys/fs/bpf/");
		goto out;
	}
	if ((err = keys_list(raw, "rpc.admin_keys", c->admin_keys, &c->n_admin_keys)) ||
	    (err = keys_list(raw, "rpc.read_only_keys", c->read_keys, &c->n_read_keys)) ||
	    (err = authlimit_cfg_load(raw, "rpc.auth_limit", &c->auth_limit)))
		goto out;
	if ((err = config_get_addrs(raw, "controller.rpc", &c->controller_rpc)) ||
	    (err = config_get_addrs(raw, "controller.push", &c->controller_push)) ||
	    (err = config_get_addrs(raw, "controller.health", &c->controller_health)))
		goto out;
	if ((c->controller_rpc || c->controller_push || c->controller_health) &&
	    !(c->controller_rpc && c->controller_push && c->controller_health)) {
		err = config_fail(raw,
				  c->controller_rpc ? (c->controller_push ? "controller.health"
									  : "controller.push")
						    : "controller.rpc",
				  "a controller needs rpc, push and health addresses");
		goto out;
	}
	if (c->controller_rpc && (!c->node_id || !c->node_key)) {
		err = config_fail(raw, c->node_id ? "node.key" : "node.id",
				  "required when a controller is configured");
		goto out;
	}
	if ((err = config_get_str(raw, "tls.ca_file", NULL, &c->tls.ca_file)) ||
	    (err = config_get_str(raw, "tls.cert_file", NULL, &c->tls.cert_file)) ||
	    (err = config_get_str(raw, "tls.key_file", NULL, &c->tls.key_file)) ||
	    (err = config_get_str(raw, "tls.server_name", NULL, &c->tls.server_name)) ||
	    (err = config_get_bool(raw, "tls.require_client_cert", false,
				   &c->tls.require_client_cert)) ||
	    (err = config_get_bool(raw, "tls.verify_server_name", true, &verify_name)))
		goto out;
	c->tls.skip_name_check = !verify_name;
	if ((err = config_get_duration_ms(raw, "beacon_interval", 1000, 100, 60000,
					  &c->beacon_interval_ms)) ||
	    (err = config_get_duration_ms(raw, "stats_interval", 1000, 100, 60000,
					  &c->sample_interval_ms)))
		goto out;
	if ((err = config_get_bool(raw, "protect_control", true, &c->protect_control)))
		goto out;
	if ((err = load_talkers(raw, c)))
		goto out;
	if ((err = config_get_str(raw, "log_level", "info", &level)))
		goto out;
	if (log_level_parse(level, &c->log_level)) {
		err = config_fail(raw, "log_level", "error, warn, info or debug");
		goto out;
	}
out:
	if (err)
		fprintf(stderr, "xdrop-agent: %s\n",
			raw && *config_error(raw) ? config_error(raw) : strerror(-err));
	return err;
}

void agent_config_free(struct agent_config *c)
{
	authlimit_cfg_free(&c->auth_limit);
	config_free(c->raw);
	c->raw = NULL;
}

void agent_config_dp_opts(const struct agent_config *c, struct dataplane_opts *o)
{
	*o = (struct dataplane_opts){.sz = sizeof(*o),
				     .pin_dir = c->pin_dir,
				     .max_exact = c->max_rules,
				     .max_cidr = c->max_cidr_rules,
				     .max_prefixes = c->max_prefixes,
				     .max_rate = c->max_rate_rules,
				     .sample_every = c->talkers_every,
				     .sample_off = c->talkers_every == 0};
}
