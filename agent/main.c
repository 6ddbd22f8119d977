// SPDX-License-Identifier: MIT
/*
 * xdrop-agent: the node daemon. Wiring only: config, data plane (adopting pinned state),
 * attachment, rule set, sampler, RPC service, sync with the controller, beacons; then a
 * one-second housekeeping loop (expiry, interface watch) until SIGTERM/SIGINT.
 *
 * Stopping the agent leaves filtering in place: the program, its link and its maps stay
 * pinned under pin_dir, and the next start adopts them without a gap. Only
 * `xdrop-agent --detach` removes the program (and the pins).
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_config.h"
#include "attach.h"
#include "beacon.h"
#include "dataplane.h"
#include "log.h"
#include "protect.h"
#include "nodekey.h"
#include "rpc.h"
#include "ruleset.h"
#include "service.h"
#include "stats.h"
#include "sync.h"
#include "watchdog.h"

static volatile sig_atomic_t stop_flag;
static _Atomic int64_t loop_beat; /* when the housekeeping loop last went round */

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* What the beacons and GetStats report about the attachment. */
struct attach_state {
	pthread_mutex_t lock;
	const struct agent_config *cfg;
	bool attached, generic;
	char error[256];
	unsigned ifindex[2];
	const char *ifaces[2];
	char **protected_flows; /* fixed after start-up */
	size_t n_protected_flows;
};

static void attach_fill(void *arg, Xdrop__V1__AttachState *a)
{
	struct attach_state *s = arg;
	static __thread char err_copy[256];

	pthread_mutex_lock(&s->lock);
	a->mode = s->cfg->fast_forward ? "fast_forward" : "traditional";
	a->interfaces = (char **)s->ifaces;
	a->n_interfaces = s->cfg->fast_forward ? 2 : 1;
	a->xdp_mode = s->generic ? "generic" : "native";
	a->attached = s->attached;
	snprintf(err_copy, sizeof(err_copy), "%s", s->error);
	a->error = err_copy;
	a->direction = !s->cfg->fast_forward			     ? ""
		       : s->cfg->filter_on == ATTACH_FILTER_BOTH     ? "both"
		       : s->cfg->filter_on == ATTACH_FILTER_OUTBOUND ? "outbound"
								     : "inbound";
	a->protected_flows = s->protected_flows;
	a->n_protected_flows = s->n_protected_flows;
	pthread_mutex_unlock(&s->lock);
}

static int do_attach(struct dataplane *dp, const struct agent_config *c, struct attach_state *s)
{
	bool generic = false;
	int err;

	if (c->fast_forward)
		err = attach_fast_forward(dp, c->inbound, c->outbound, c->filter_on, c->xdp_mode,
					  c->force);
	else
		err = attach_iface(dp, c->interface, c->xdp_mode, c->force, &generic);
	pthread_mutex_lock(&s->lock);
	s->attached = err == 0;
	s->generic = generic || c->xdp_mode == ATTACH_GENERIC;
	snprintf(s->error, sizeof(s->error), "%s", err ? strerror(-err) : "");
	for (int i = 0; i < (c->fast_forward ? 2 : 1); i++)
		s->ifindex[i] = if_nametoindex(s->ifaces[i]);
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* Interface watch: a vanished interface is reported; when it is back (a new ifindex), the
 * program is attached again. */
static void watch_ifaces(struct dataplane *dp, const struct agent_config *c, struct attach_state *s)
{
	bool missing = false, changed = false;

	for (int i = 0; i < (c->fast_forward ? 2 : 1); i++) {
		unsigned idx = if_nametoindex(s->ifaces[i]);

		if (!idx)
			missing = true;
		else if (idx != s->ifindex[i])
			changed = true;
	}
	if (missing) {
		pthread_mutex_lock(&s->lock);
		if (s->attached)
			log_warn("interface gone: filtering on it stopped until it comes back");
		s->attached = false;
		snprintf(s->error, sizeof(s->error), "interface missing");
		for (int i = 0; i < 2; i++)
			s->ifindex[i] = 0;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (changed || !s->attached) {
		if (do_attach(dp, c, s) == 0)
			log_info("interface back: program attached again");
	}
}

/* The node RPC server: open, register every handler, start. */
static int rpc_up(struct rpc_server **srv, const struct agent_config *c, struct service *sv)
{
	struct rpc_server_opts ro = {.sz = sizeof(ro),
				     .url = c->rpc_listen,
				     .auth = sv->guard ? authlimit_hook : service_auth(),
				     .auth_arg = sv->guard ? (void *)sv->guard : sv,
				     .tls = &c->tls,
				     .name = "agent"};
	int err = rpc_server_open(srv, &ro);

	if (!err)
		err = service_register(sv, *srv);
	if (!err)
		err = rpc_server_start(*srv);
	if (err) {
		log_error("rpc on %s: %s", c->rpc_listen, strerror(-err));
		rpc_server_close(*srv);
		*srv = NULL;
	}
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xdrop-agent --config FILE [--log-level LEVEL]\n"
		"       xdrop-agent --config FILE --detach\n"
		"\n"
		"Runs the XDrop node agent: loads the XDP program on the configured interface(s),\n"
		"keeps the rules in sync with the controller (or serves them standalone) and\n"
		"publishes health beacons. See agent/config.example.yaml for every key.\n"
		"\n"
		"  -c, --config FILE     YAML configuration (required)\n"
		"  -d, --detach          remove the program from the interfaces, remove the pins,\n"
		"                        and exit (the only way filtering stops)\n"
		"  -l, --log-level LVL   error, warn, info or debug (overrides the config)\n"
		"  -h, --help            this text\n"
		"\n"
		"SIGTERM and SIGINT stop the daemon but leave filtering in place; the next start\n"
		"adopts the pinned program and maps without a gap.\n");
}

static int detach_all(const struct agent_config *c)
{
	struct dataplane_opts o = {.sz = sizeof(o),
				   .pin_dir = c->pin_dir,
				   .max_exact = c->max_rules,
				   .max_cidr = c->max_cidr_rules,
				   .max_prefixes = c->max_prefixes,
				   .max_rate = c->max_rate_rules};
	struct dataplane *dp = NULL;
	int err, rc = 0;

	err = dataplane_open(&dp, &o);
	if (err) {
		/* pinned maps made for other capacities or another build: remove the pinned
		 * links and maps directly, without loading anything */
		log_warn("data plane in %s cannot be opened with this config (%s): removing its "
			 "pinned links and maps directly",
			 c->pin_dir, strerror(-err));
		dp = NULL;
	}
	for (int i = 0; i < (c->fast_forward ? 2 : 1); i++) {
		const char *ifn = c->fast_forward ? (i ? c->outbound : c->inbound) : c->interface;

		err = dp ? attach_detach(dp, ifn) : attach_detach_pinned(c->pin_dir, ifn);
		if (err && err != -ENOENT) {
			log_error("detach from %s: %s", ifn, strerror(-err));
			rc = 2;
		} else {
			log_info("detached from %s", ifn);
		}
	}
	err = dp ? dataplane_unpin(dp) : dataplane_unpin_dir(c->pin_dir);
	if (err) {
		log_error("remove pins in %s: %s", c->pin_dir, strerror(-err));
		rc = 2;
	}
	dataplane_close(dp);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"detach", no_argument, NULL, 'd'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct agent_config cfg;
	struct attach_state ast = {.lock = PTHREAD_MUTEX_INITIALIZER};
	static struct protect_set prot;
	struct dataplane *dp = NULL;
	struct ruleset *rs = NULL;
	struct stats *stats = NULL;
	struct rpc_server *srv = NULL;
	struct sync *sync = NULL;
	struct beacon *beacon = NULL;
	struct service sv = {0};
	const char *config_path = NULL, *level = NULL;
	bool detach = false;
	enum log_level lvl;
	struct sigaction sa;
	struct timespec ts;
	int opt, err, rc = 2;

	while ((opt = getopt_long(argc, argv, "c:dl:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			detach = true;
			break;
		case 'l':
			level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!config_path || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (agent_config_load(&cfg, config_path)) {
		agent_config_free(&cfg); /* the parsed file, kept for the error message */
		return 1;
	}
	log_set_level(cfg.log_level);
	if (level) {
		if (log_level_parse(level, &lvl)) {
			fprintf(stderr, "xdrop-agent: --log-level: error, warn, info or debug\n");
			agent_config_free(&cfg);
			return 1;
		}
		log_set_level(lvl);
	}
	log_route_libbpf();
	if (detach) {
		rc = detach_all(&cfg);
		agent_config_free(&cfg);
		return rc;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	{
		struct dataplane_opts o = {.sz = sizeof(o),
					   .pin_dir = cfg.pin_dir,
					   .max_exact = cfg.max_rules,
					   .max_cidr = cfg.max_cidr_rules,
					   .max_prefixes = cfg.max_prefixes,
					   .max_rate = cfg.max_rate_rules};

		err = dataplane_open(&dp, &o);
		if (err) {
			log_error("data plane: %s", strerror(-err));
			goto out;
		}
	}
	/* before attaching: the control flows are protected from the first packet on */
	err = protect_build(&cfg, &prot);
	if (err == -EINVAL)
		goto out;
	if (!err && protect_apply(dp, &prot))
		goto out;
	ast.protected_flows = prot.textp;
	ast.n_protected_flows = prot.ntext;
	ast.cfg = &cfg;
	ast.ifaces[0] = cfg.fast_forward ? cfg.inbound : cfg.interface;
	ast.ifaces[1] = cfg.fast_forward ? cfg.outbound : NULL;
	err = do_attach(dp, &cfg, &ast);
	if (err == -EBUSY || err == -EINVAL) {
		goto out; /* a foreign program, or an impossible request: refuse to run */
	} else if (err) {
		log_warn("not attached yet (%s); retrying every second", strerror(-err));
	}
	err = ruleset_open(&rs, dp, cfg.state_dir);
	if (err) {
		log_error("rule set in %s: %s", cfg.state_dir, strerror(-err));
		goto out;
	}
	err = stats_start(&stats, dp, rs, cfg.sample_interval_ms);
	if (err)
		goto out;

	memset(&sv, 0, sizeof(sv));
	sv.cfg = &cfg;
	sv.rs = rs;
	sv.stats = stats;
	sv.attach_fill = attach_fill;
	sv.attach_arg = &ast;
	sv.protected_flows = prot.textp;
	sv.n_protected_flows = prot.ntext;
	clock_gettime(CLOCK_REALTIME, &ts);
	sv.started_at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (cfg.node_id && cfg.node_key) {
		uint8_t bkey[XDROP_NODEKEY_LEN];

		snprintf(sv.node_token, sizeof(sv.node_token), "node:%s:%s", cfg.node_id,
			 cfg.node_key);
		nodekey_beacon_key(cfg.node_key, bkey);
		if (nodekey_ctl_token(cfg.node_id, bkey, sv.ctl_token, sizeof(sv.ctl_token)))
			sv.ctl_token[0] =
			    '\0'; /* an id too long for a token: no controller calls */
		explicit_bzero(bkey, sizeof(bkey));
	}
	if (cfg.controller_rpc) {
		struct sync_opts so = {.node_id = cfg.node_id,
				       .node_key = cfg.node_key,
				       .rpc_url = cfg.controller_rpc,
				       .push_url = cfg.controller_push,
				       .tls = &cfg.tls};

		err = sync_start(&sync, rs, &so);
		if (err)
			goto out;
		sv.sync = sync;
	}
	err = authlimit_open(&sv.guard, &cfg.auth_limit, service_auth(), &sv); /* failed keys */
	if (!err)
		err = rpc_up(&srv, &cfg, &sv);
	if (err)
		goto out;
	if (cfg.controller_health) {
		struct beacon_opts bo = {.node_id = cfg.node_id,
					 .node_key = cfg.node_key,
					 .url = cfg.controller_health,
					 .tls = &cfg.tls,
					 .interval_ms = cfg.beacon_interval_ms,
					 .rpc_address = cfg.rpc_listen,
					 .attach = attach_fill,
					 .attach_arg = &ast};

		err = beacon_start(&beacon, &bo, rs, stats);
		if (err)
			goto out;
	}
	log_info("xdrop-agent running: %s%s%s, rpc %s, %s, revision %llu", ast.ifaces[0],
		 cfg.fast_forward ? " <-> " : "", cfg.fast_forward ? ast.ifaces[1] : "",
		 cfg.rpc_listen, cfg.controller_rpc ? "managed by a controller" : "standalone",
		 (unsigned long long)ruleset_revision(rs));
	atomic_store(&loop_beat, wd_now_ms());
	{
		struct wd_monitor_opts wo = {.sz = sizeof(wo),
					     .close_limit_ms = XDROP_WEDGE_CLOSE_MS,
					     .beat = &loop_beat,
					     .beat_limit_ms = XDROP_WEDGE_LOOP_MS,
					     .ping_url = cfg.rpc_listen,
					     .ping_limit_ms = XDROP_WEDGE_PING_AGENT_MS,
					     .stopping = &stop_flag,
					     .rpc = srv};

		err = wd_monitor_start(&wo);
		if (err) {
			log_error("wedge monitor: %s", strerror(-err));
			goto out;
		}
	}
	while (!stop_flag) {
		atomic_store(&loop_beat, wd_now_ms());
		sleep(1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ruleset_expire(rs, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
		watch_ifaces(dp, &cfg, &ast);
	}
	log_info("stopping; filtering stays in place (xdrop-agent --detach removes it)");
	wd_exit_after(XDROP_STOP_LIMIT_S, 0);
	rc = 0;
out:
	beacon_stop(beacon);
	rpc_server_close(srv);
	authlimit_close(sv.guard);
	sync_stop(sync);
	stats_stop(stats);
	ruleset_close(rs);
	dataplane_close(dp);
	agent_config_free(&cfg);
	return rc;
}
