// SPDX-License-Identifier: MIT
/*
 * xdrop-controller: wiring only. Parse the command line and the config, open the store,
 * install the bootstrap admin key and the nodes from the config, then start in order the
 * publisher (deltas, heartbeats), the node health collector, stats, the expiry sweeper and
 * the RPC server; run until SIGINT/SIGTERM; stop in reverse order.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "backup.h"
#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "idempotency.h"
#include "log.h"
#include "nodes.h"
#include "publish.h"
#include "rpc.h"
#include "rules.h"
#include "service.h"
#include "stats.h"
#include "store.h"
#include "watchdog.h"

#define XDROP_MMAP_MIN (1 << 20) /* allocations this large are mapped on their own */

static volatile sig_atomic_t stop;
static struct store *_Atomic role_store; /* the store, once open (on_role) */

/* After each tick of the cluster watcher (cluster.h; on a thread of its own, so a slow
 * catch-up delays no role change): only the leader publishes; every controller takes in
 * what the others wrote (the leader publishing it first). */
static void on_role(void *arg, bool leader)
{
	struct store *st = atomic_load(&role_store);
	int err;

	if (!st)
		return;
	store_set_publishing(st, leader);
	if ((err = store_catch_up(st)) != 0)
		log_warn("controller: catching up with the cluster's store: %s", strerror(-err));
}

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: xdrop-controller --config FILE [--log-level LEVEL] [--database PATH]\n"
	       "       xdrop-controller --config FILE --backup OUT | --restore IN\n"
	       "\n"
	       "Runs the XDrop controller: keeps the rules, whitelist, nodes and API keys in\n"
	       "SQLite, serves them over RPC (xdropctl, xdrop-gateway) and pushes every change\n"
	       "to the agents. Stops cleanly on SIGTERM or SIGINT.\n"
	       "\n"
	       "  -c, --config FILE      YAML settings (see controller/config.example.yaml)\n"
	       "  -l, --log-level LEVEL  error, warn, info or debug (overrides log_level)\n"
	       "  -d, --database PATH    SQLite file (overrides database)\n"
	       "  --backup OUT           write a consistent copy of the database (the cluster's\n"
	       "                         or the file) to OUT as a SQLite file, and exit\n"
	       "  --restore IN           make IN (a backup or a SQLite database) the database of\n"
	       "                         a new cluster (the config of cluster.id 1, empty dir) or\n"
	       "                         the new file named by database, and exit\n"
	       "  -h, --help             this text\n"
	       "  -V, --version          print \"xdrop-controller VERSION\" and exit\n");
}

struct args {
	const char *config_path, *level, *database;
	const char *backup, *restore; /* the operator commands of backup.h */
};

/* The command line into a; -1 to go on, else the exit status (usage printed: 0 for
 * --help, 2 for a mistake). */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},	{"log-level", required_argument, NULL, 'l'},
	    {"database", required_argument, NULL, 'd'}, {"backup", required_argument, NULL, 'B'},
	    {"restore", required_argument, NULL, 'R'},	{"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	{NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:l:d:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'l':
			a->level = optarg;
			break;
		case 'd':
			a->database = optarg;
			break;
		case 'B':
			a->backup = optarg;
			break;
		case 'R':
			a->restore = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("xdrop-controller %s\n", XDROP_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!a->config_path || (a->backup && a->restore) || optind < argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Registers (or refreshes) the nodes listed in the config. */
static int config_nodes(struct store *st, const struct ctl_config *cfg)
{
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct ctl_node_cfg *c = &cfg->nodes[i];
		Xdrop__V1__Node n = XDROP__V1__NODE__INIT;
		struct store_node old;
		int err;

		n.id = (char *)c->id;
		n.name = (char *)c->name;
		n.address = (char *)c->address;
		n.comment = (char *)c->comment;
		n.created_at = n.updated_at = clock_wall_ns();
		if (store_node_get(st, c->id, &old) == 0) {
			n.created_at = old.node->created_at;
			store_node_free(&old);
		}
		err = store_node_put(st, &n, c->key);
		if (err) {
			log_error("controller: cannot register node %s from the config: %s", c->id,
				  strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * Whether a step at start (opening the store, the idempotency records, the writes of the
 * config's admin key and nodes: each safe to run again) that failed with err is run
 * again: on a cluster the leader may change under it (a restarted node that led names
 * itself leader until an election says otherwise, and the store refuses while the node
 * knows no leader): -ECONNRESET is retried until deadline_ms (XDROP_CLUSTER_SETTLE_MS).
 */
static bool settle_again(int err, bool clustered, int64_t deadline_ms, const char *what)
{
	struct timespec pause = {.tv_nsec = 100 * 1000000L};

	if (err != -ECONNRESET || !clustered || clock_mono_ms() >= deadline_ms || stop)
		return false;
	log_warn("controller: %s met a change of the cluster's leader; again", what);
	nanosleep(&pause, NULL);
	return true;
}

/* The store and the idempotency records on so->path (both freed by main's cleanup). */
static int open_stores(struct store **st, struct idem **idem, const struct store_opts *so,
		       bool clustered, int64_t deadline_ms)
{
	struct idem_opts io = {.sz = sizeof(io), .path = so->path};
	int err;

	do
		err = store_open(st, so);
	while (settle_again(err, clustered, deadline_ms, "opening the store"));
	if (err) {
		log_error("controller: cannot open the database %s: %s", so->path, strerror(-err));
		return err;
	}
	do
		err = idem_open(idem, &io);
	while (settle_again(err, clustered, deadline_ms, "opening the idempotency records"));
	if (err)
		log_error("controller: idempotency records in %s: %s", so->path, strerror(-err));
	return err;
}

static int startup_writes(struct store *st, const struct ctl_config *cfg, bool clustered,
			  int64_t deadline_ms)
{
	int err;

	do {
		err = auth_bootstrap(st, cfg->admin_key, cfg->admin_key_file);
		if (!err)
			err = config_nodes(st, cfg);
	} while (settle_again(err, clustered, deadline_ms, "the writes made at start"));
	if (err)
		log_error("controller: the writes made at start failed: %s", strerror(-err));
	return err;
}

/* The addresses ClusterService reaches the cluster through, into d: this controller's node
 * and its peers (none without a cluster). With TLS the embedded node's dialer serves it
 * too (cluster.c sets lib/dqlite's default connect hook). */
static void cluster_deps(const struct ctl_cluster_cfg *c, struct service_deps *d)
{
	static const char *addrs[1 + XDROP_CLUSTER_MAX_PEERS];
	size_t n = 0;

	if (!c->id)
		return;
	addrs[n++] = c->address;
	for (size_t i = 0; i < c->n_peers; i++)
		addrs[n++] = c->peers[i];
	d->cluster_peers = addrs;
	d->n_cluster_peers = n;
}

/* A staged commit's large arrays (the call memory of a million prepared rules) are freed
 * after the reply, past its malloc_trim: with a fixed threshold, allocations of
 * XDROP_MMAP_MIN or more are mapped on their own and go back to the system when freed,
 * where glibc's sliding one would put them on the heap after the first large free. */
static void allocator_setup(void)
{
	mallopt(M_MMAP_THRESHOLD, XDROP_MMAP_MIN);
}

/* The config file into cfg and the log level set: 0, or -errno (logged; cfg is freed by
 * the caller's ctl_config_free either way). */
static int config_setup(const struct args *a, struct ctl_config *cfg)
{
	const char *level;
	enum log_level lvl;
	char errbuf[512];
	int err;

	err = ctl_config_load(a->config_path, cfg, errbuf, sizeof(errbuf));
	if (err) {
		log_error("controller: %s", errbuf);
		return err;
	}
	level = a->level ? a->level : cfg->log_level;
	if (log_level_parse(level, &lvl) < 0) {
		log_error("controller: unknown log level %s", level);
		return -EINVAL;
	}
	log_set_level(lvl);
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct wd_monitor_opts wo = {.sz = sizeof(wo),
				     .close_limit_ms = XDROP_WEDGE_CLOSE_MS,
				     .ping_limit_ms = XDROP_WEDGE_PING_CONTROLLER_MS,
				     .stopping = &stop};
	struct ctl_config cfg = {0};
	struct cluster *cluster = NULL;
	char target[XDROP_CLUSTER_TARGET_MAX];
	struct store *st = NULL;
	struct publish *pub = NULL;
	struct nodes *nodes = NULL;
	struct stats *stats = NULL;
	struct sweeper *sweeper = NULL;
	struct rpc_server *srv = NULL;
	struct authlimit *guard = NULL;
	struct service *svc = NULL;
	struct idem *idem = NULL;
	int64_t settle;
	int status, err;

	status = parse_args(argc, argv, &a);
	if (status >= 0)
		return status;
	allocator_setup();
	err = config_setup(&a, &cfg);
	if (err || a.backup || a.restore) {
		if (!err)
			err = a.backup ? backup_run(&cfg, a.database, a.backup)
				       : restore_run(&cfg, a.database, a.restore);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	struct store_opts so = {.sz = sizeof(so),
				.path = a.database ? a.database : cfg.database,
				.keep = cfg.changelog_keep};
	if (cfg.cluster.id) { /* the store on the cluster of the controllers (cluster.h) */
		if (a.database)
			log_warn("controller: --database %s not used: the store is the cluster's",
				 a.database);
		err = cluster_start(&cluster, &cfg.cluster, on_role, NULL);
		err = err ?: cluster_target(&cfg.cluster, target, sizeof(target));
		if (err)
			goto out;
		so.path = target;
	}
	settle = clock_mono_ms() + XDROP_CLUSTER_SETTLE_MS;
	err = open_stores(&st, &idem, &so, cluster, settle);
	if (err)
		goto out;
	store_set_txn_hook(st, idem_txn_hook, idem);
	if (cluster)
		store_set_publishing(st, cluster_is_leader(cluster));
	atomic_store(&role_store, st);
	err = startup_writes(st, &cfg, cluster, settle);
	if (err)
		goto out;
	err =
	    publish_open(&pub, st, cfg.push_url, cfg.have_tls ? &cfg.tls : NULL, cfg.heartbeat_ms);
	if (err)
		goto out;
	struct nodes_opts no = {.sz = sizeof(no),
				.store = st,
				.health_url = cfg.health_url,
				.tls = cfg.have_tls ? &cfg.tls : NULL,
				.interval_ms = cfg.beacon_interval_ms,
				.repair = cfg.repair};
	err = nodes_open(&nodes, &no);
	if (err)
		goto out;
	err = stats_open(&stats, nodes, cfg.history_s);
	if (err)
		goto out;
	err = rules_sweeper_start(&sweeper, st, cfg.sweep_ms);
	if (err)
		goto out;
	err = authlimit_open(&guard, &cfg.auth_limit, auth_hook, st); /* failed tokens */
	if (err)
		goto out;
	struct rpc_server_opts ro = {.sz = sizeof(ro),
				     .url = cfg.rpc_url,
				     .workers = cfg.rpc_workers,
				     .max_msg = cfg.rpc_max_msg,
				     .auth = authlimit_hook,
				     .auth_arg = guard,
				     .tls = cfg.have_tls ? &cfg.tls : NULL,
				     .name = "controller"};
	err = rpc_server_open(&srv, &ro);
	if (err)
		goto out;
	struct service_deps deps = {.store = st, .nodes = nodes, .stats = stats, .idem = idem};
	cluster_deps(&cfg.cluster, &deps);
	err = service_register(&svc, srv, &deps);
	if (err)
		goto out;
	err = rpc_server_start(srv);
	if (err) {
		log_error("controller: cannot listen on %s: %s", cfg.rpc_url, strerror(-err));
		goto out;
	}
	wo.ping_url = cfg.rpc_url;
	wo.rpc = srv;
	err = wd_monitor_start(&wo);
	if (err) {
		log_error("controller: wedge monitor: %s", strerror(-err));
		goto out;
	}
	log_info("controller: rpc %s, push %s, health %s, database %s", cfg.rpc_url, cfg.push_url,
		 cfg.health_url, so.path);
	while (!stop)
		pause();
	log_info("controller: stopping");
	wd_exit_after(XDROP_STOP_LIMIT_S, 0); /* a wedged nng close must not keep us up */
out:
	rpc_server_close(srv);
	authlimit_close(guard);
	service_free(svc);
	rules_sweeper_stop(sweeper);
	stats_close(stats);
	nodes_close(nodes);
	publish_close(pub);
	cluster_unwatch(cluster); /* no on_role on a closing store */
	if (st)
		store_set_txn_hook(st, NULL, NULL);
	atomic_store(&role_store, NULL);
	idem_close(idem);
	store_close(st);
	cluster_stop(cluster); /* after the store: it may still be talking to the node */
	ctl_config_free(&cfg);
	return err ? 1 : 0;
}
