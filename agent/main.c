// SPDX-License-Identifier: MIT
/*
 * xdrop-agent: the node daemon. Wiring only: parse the command line and the config, then
 * bring the modules up in order (data plane adopting pinned state, protected flows,
 * attachment and interface watch, rule set, sampler, top talkers, sync with the
 * controller, RPC service, beacons, wedge monitor), run a one-second housekeeping loop
 * (expiry, interface watch) until SIGTERM/SIGINT, and take them down in reverse.
 *
 * Stopping the agent leaves filtering in place: the program, its link and its maps stay
 * pinned under pin_dir, and the next start adopts them without a gap. Only
 * `xdrop-agent --detach` (agent/detach.c) removes the program (and the pins).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "beacon.h"
#include "clock.h"
#include "dataplane.h"
#include "detach.h"
#include "ifwatch.h"
#include "log.h"
#include "protect.h"
#include "rpc.h"
#include "ruleset.h"
#include "service.h"
#include "stats.h"
#include "sync.h"
#include "talkers.h"
#include "watchdog.h"
#include "wedge.h"

static volatile sig_atomic_t stop_flag;
static _Atomic int64_t loop_beat; /* when the housekeeping loop last went round */

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Everything the daemon wires together, in the order it is brought up. */
struct agent {
	struct agent_config cfg;
	struct dataplane *dp;
	struct protect_set prot;
	struct ifwatch *ifw;
	struct ruleset *rs;
	struct stats *stats;
	struct talkers *talkers; /* NULL: sampling off */
	struct sync *sync;
	struct service sv;
	struct rpc_server *srv;
	struct beacon *beacon;
};

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
		"  -V, --version         print \"xdrop-agent VERSION\" and exit\n"
		"\n"
		"SIGTERM and SIGINT stop the daemon but leave filtering in place; the next start\n"
		"adopts the pinned program and maps without a gap.\n");
}

struct args {
	const char *config_path, *level;
	bool detach;
};

/* Parses the command line. Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},	 {"detach", no_argument, NULL, 'd'},
	    {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	 {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:dl:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'd':
			a->detach = true;
			break;
		case 'l':
			a->level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("xdrop-agent %s\n", XDROP_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!a->config_path || optind != argc) {
		usage(stderr);
		return 1;
	}
	return -1;
}

/* Loads the config and sets the log level. Returns -1 to go on, else the exit status. */
static int load_config(struct agent_config *cfg, const struct args *a)
{
	enum log_level lvl;

	if (agent_config_load(cfg, a->config_path))
		return 1; /* the parsed file is kept for the error message: freed by the caller */
	log_set_level(cfg->log_level);
	if (a->level) {
		if (log_level_parse(a->level, &lvl)) {
			fprintf(stderr, "xdrop-agent: --log-level: error, warn, info or debug\n");
			return 1;
		}
		log_set_level(lvl);
	}
	log_route_libbpf();
	return -1;
}

/* The data plane, the protected flows and the attachment. 0 or the error to stop on. */
static int up_dataplane(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	struct dataplane_opts o;
	int err;

	agent_config_dp_opts(c, &o);
	err = dataplane_open(&a->dp, &o);
	if (err) {
		log_error("data plane: %s", strerror(-err));
		return err;
	}
	/* before attaching: the control flows are protected from the first packet on */
	err = protect_build(c, &a->prot);
	if (err == -EINVAL)
		return err;
	if (!err && (err = protect_apply(a->dp, &a->prot)))
		return err;
	err = ifwatch_open(&a->ifw, a->dp, c, a->prot.textp, a->prot.ntext);
	if (err)
		return err;
	err = ifwatch_attach(a->ifw);
	if (err == -EBUSY || err == -EINVAL)
		return err; /* a foreign program, or an impossible request: refuse to run */
	if (err)
		log_warn("not attached yet (%s); retrying every second", strerror(-err));
	return 0;
}

/* Top talkers: the program samples 1 packet in top_talkers.sample_every into its ring
 * buffer and the engine counts them. A failure here costs the talkers, not filtering:
 * it is logged, sampling is turned off in the program, and the agent runs on. */
static void up_talkers(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	struct talkers_opts to = {
	    .sz = sizeof(to), .capacity = c->talkers_capacity, .sample_every = c->talkers_every};
	int err = dataplane_set_sample_every(a->dp, c->talkers_every);

	if (!err && c->talkers_every) {
		err = talkers_start(&a->talkers, &to);
		if (!err)
			err = talkers_attach_ring(a->talkers, dataplane_samples_fd(a->dp));
	}
	if (!err)
		return;
	log_warn("top talkers off: %s", strerror(-err));
	talkers_stop(a->talkers);
	a->talkers = NULL;
	dataplane_set_sample_every(a->dp, 0);
}

/* Sync with the controller (none when standalone). */
static int up_sync(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	struct sync_opts so = {.node_id = c->node_id,
			       .node_key = c->node_key,
			       .rpc_url = c->controller_rpc,
			       .push_url = c->controller_push,
			       .tls = &c->tls};
	int err;

	if (!c->controller_rpc)
		return 0;
	err = sync_start(&a->sync, a->rs, &so);
	a->sv.sync = a->sync;
	return err;
}

/* Beacons to the controller (none when standalone). */
static int up_beacon(struct agent *a)
{
	const struct agent_config *c = &a->cfg;
	struct beacon_opts bo = {.node_id = c->node_id,
				 .node_key = c->node_key,
				 .url = c->controller_health,
				 .tls = &c->tls,
				 .interval_ms = c->beacon_interval_ms,
				 .rpc_address = c->rpc_listen,
				 .attach = ifwatch_fill,
				 .attach_arg = a->ifw};

	return c->controller_health ? beacon_start(&a->beacon, &bo, a->rs, a->stats) : 0;
}

/* Brings every module up in order. Returns 0 or the error to stop on. */
static int agent_up(struct agent *a)
{
	struct agent_config *c = &a->cfg;
	int err = up_dataplane(a);

	if (err)
		return err;
	err = ruleset_open(&a->rs, a->dp, c->state_dir);
	if (err) {
		log_error("rule set in %s: %s", c->state_dir, strerror(-err));
		return err;
	}
	err = stats_start(&a->stats, a->dp, a->rs, c->sample_interval_ms);
	if (err)
		return err;
	up_talkers(a);
	a->sv = (struct service){.cfg = c,
				 .rs = a->rs,
				 .stats = a->stats,
				 .attach_fill = ifwatch_fill,
				 .attach_arg = a->ifw,
				 .started_at = clock_wall_ns(),
				 .protected_flows = a->prot.textp,
				 .n_protected_flows = a->prot.ntext,
				 .top = {.t = a->talkers}};
	service_tokens(&a->sv);
	err = up_sync(a);
	if (!err)
		err = service_start(&a->sv, &a->srv);
	if (!err)
		err = up_beacon(a);
	return err;
}

/* Takes every module down in reverse order (each may be absent). */
static void agent_down(struct agent *a)
{
	beacon_stop(a->beacon);
	service_stop(&a->sv, a->srv);
	sync_stop(a->sync);
	stats_stop(a->stats);
	talkers_stop(a->talkers); /* before the data plane: its ring fd is borrowed */
	ruleset_save(a->rs);	  /* the next start reads one file and switches nothing */
	ruleset_close(a->rs);
	ifwatch_close(a->ifw);
	dataplane_close(a->dp);
}

/* Gives the heap's free pages back once the rule set has not changed for a tick: a large
 * change (an import, a snapshot) frees about as much as it kept, which the allocator
 * would otherwise hold (about 50 MiB after a 1M-rule import). Again 5 ticks later: after
 * a change the sampler reads every slot under a new id map and frees the previous one
 * (about a second with 1M rules; trimmed only once, 40 MiB stayed resident). */
static void trim_settled(struct agent *a, uint64_t *seen, unsigned *pending)
{
	uint64_t rev = ruleset_revision(a->rs);

	if (rev != *seen) {
		*seen = rev;
		*pending = 6;
	} else if (*pending) {
		if (*pending == 6 || *pending == 1)
			malloc_trim(0);
		(*pending)--;
	}
}

/* The allocator, before any thread: two arenas, not one per RPC worker thread (each kept
 * its own free chunks and top after a 1M-rule import: 124 MiB more resident, measured
 * with bench/agent.sh; the rule set's changes are serialised on its lock anyway); and
 * blocks of 32 MiB and more (the sampler's full read of a million counters) mapped on
 * their own and given back when freed, where glibc's threshold would rise to them after
 * the first such free. Smaller ones (the sampler's 4 MiB stripe buffers each second) stay
 * on the heap: mapped afresh each time they cost page faults every tick. */
static void malloc_setup(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_ARENA_MAX, 2);
}

/* The housekeeping loop, once a second until a stop signal. */
static void run(struct agent *a)
{
	uint64_t seen = 0;
	unsigned pending = 6;

	while (!stop_flag) {
		atomic_store(&loop_beat, clock_mono_ms());
		sleep(1);
		ruleset_expire(a->rs, clock_wall_ns());
		ifwatch_check(a->ifw);
		trim_settled(a, &seen, &pending);
	}
}

int main(int argc, char **argv)
{
	static struct agent a; /* large (the protected flows): not on the stack */
	struct args args = {0};
	struct sigaction sa;
	int rc;

	malloc_setup();
	rc = parse_args(argc, argv, &args);
	if (rc >= 0)
		return rc;
	rc = load_config(&a.cfg, &args);
	if (rc < 0 && args.detach)
		rc = detach_run(&a.cfg);
	if (rc >= 0) {
		agent_config_free(&a.cfg);
		return rc;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = 2;
	if (agent_up(&a))
		goto out;
	log_info("xdrop-agent running: %s%s%s, rpc %s, %s, revision %llu", ifwatch_iface(a.ifw, 0),
		 a.cfg.fast_forward ? " <-> " : "",
		 a.cfg.fast_forward ? ifwatch_iface(a.ifw, 1) : "", a.cfg.rpc_listen,
		 a.cfg.controller_rpc ? "managed by a controller" : "standalone",
		 (unsigned long long)ruleset_revision(a.rs));
	atomic_store(&loop_beat, clock_mono_ms());
	if (wedge_start(&a.cfg, a.srv, &loop_beat, &stop_flag))
		goto out;
	run(&a);
	log_info("stopping; filtering stays in place (xdrop-agent --detach removes it)");
	wd_exit_after(XDROP_STOP_LIMIT_S, 0);
	rc = 0;
out:
	agent_down(&a);
	agent_config_free(&a.cfg);
	return rc;
}
