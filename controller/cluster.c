// SPDX-License-Identifier: MIT
/*
 * cluster: the controller's embedded dqlite node and the watcher of its role; see
 * cluster.h. The node is started with the same libdqlite calls as
 * tests/tools/xdrop-dqlite-node.c; joining and leader questions go through lib/dqlite.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dqlite.h>

#include "clock.h"
#include "cluster.h"
#include "dqlite/client.h"
#include "dqlite/session.h"
#include "dqtls.h"
#include "lease.h"
#include "log.h"

struct cluster {
	dqlite_node *node;
	struct dqtls *tls; /* NULL: plain TCP */
	uint64_t id;
	char address[XDROP_DQ_MAX_ADDRESS];
	cluster_role_fn on_role;
	void *arg;
	pthread_t watcher, actor;
	bool watching, acting;
	atomic_bool stop, leader;
	_Atomic uint64_t leader_id; /* the leader the node knows; 0: none */
	struct dq_conn *conn;	    /* the watcher's, to the node, for one question */
	struct lease_run *lease;    /* while it leads: in contact with a majority? */
	pthread_mutex_t lock;	    /* guards ticks, with wake */
	pthread_cond_t wake;
	uint64_t ticks; /* watcher ticks not yet acted on */
};

/*
 * With TLS (lib/dqtls, docs/dqlite.md): the node bound to an abstract socket of this
 * process only, a mutual-TLS listener on the cluster address in front of it, Raft
 * connections dialed with TLS, and every lib/dqlite connection of the process (the store's
 * sessions, joins, the watcher, ClusterService) through the same dialer.
 */
static int tls_bind(struct cluster *c, const struct ctl_cluster_cfg *cfg)
{
	char local[64];
	int rc;

	snprintf(local, sizeof(local), "@xdrop-controller-%d-%llu", (int)getpid(),
		 (unsigned long long)cfg->id);
	rc = dqlite_node_set_bind_address(c->node, local);
	rc = rc ?: dqlite_node_set_connect_func(c->node, dqtls_connect_func, c->tls);
	if (rc == 0 && dqtls_listen(c->tls, cfg->address, local) < 0) {
		log_error("cluster: cannot listen with TLS on %s", cfg->address);
		return -1;
	}
	if (rc == 0)
		dq_conn_set_default_dial(dqtls_conn_dial, c->tls);
	return rc;
}

static int tls_open(struct cluster *c, const struct ctl_cluster_cfg *cfg)
{
	struct tls_opts o;
	int err;

	if (!cfg->tls)
		return 0;
	o = *cfg->tls;
	o.require_client_cert = true; /* between controllers: always mutual */
	err = dqtls_open(&c->tls, &o);
	if (err)
		log_error("cluster: TLS settings refused: %s", strerror(-err));
	return err;
}

static int node_start(struct cluster *c, const struct ctl_cluster_cfg *cfg)
{
	int rc;

	if (mkdir(cfg->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error("cluster: cannot make %s: %s", cfg->dir, strerror(errno));
		return rc;
	}
	rc = tls_open(c, cfg);
	if (rc)
		return rc;
	rc = dqlite_node_create(cfg->id, cfg->address, cfg->dir, &c->node);
	if (rc == 0)
		rc =
		    c->tls ? tls_bind(c, cfg) : dqlite_node_set_bind_address(c->node, cfg->address);
	if (rc == 0)
		rc = dqlite_node_set_network_latency_ms(c->node, XDROP_CLUSTER_LATENCY_MS);
	if (rc == 0)
		rc = dqlite_node_start(c->node);
	if (rc) {
		log_error("cluster: node %llu at %s: %s (%d)", (unsigned long long)cfg->id,
			  cfg->address, c->node ? dqlite_node_errmsg(c->node) : "cannot create",
			  rc);
		if (c->node)
			dqlite_node_destroy(c->node);
		c->node = NULL;
		return -EIO;
	}
	return 0;
}

/* Makes this node a voter through the peers (and itself: a restarted member). */
static int join(const struct ctl_cluster_cfg *cfg)
{
	const char *addrs[XDROP_CLUSTER_MAX_PEERS + 1];
	char why[XDROP_DQ_MAX_WHY];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < cfg->n_peers; i++)
		addrs[n++] = cfg->peers[i];
	addrs[n++] = cfg->address;
	rc = dq_join(addrs, n, NULL, cfg->id, cfg->address, XDROP_DQ_VOTER,
		     clock_mono_ms() + XDROP_DQ_JOIN_TIMEOUT_MS, why, sizeof(why));
	if (rc)
		log_error("cluster: node %llu cannot join through its peers: %s",
			  (unsigned long long)cfg->id, why);
	return rc;
}

/*
 * The leader the node at c->address knows (0: none, or the node does not answer). The
 * lease learns of the role before the gate does, with the members as the node lists them
 * when it leads (the voters to count); a question without an answer tells it nothing (the
 * lease is granted again only when the node leads again after saying it did not).
 */
static uint64_t ask_leader(struct cluster *c)
{
	struct dq_conn_opts o = {
	    .sz = sizeof(o), .connect_timeout_ms = 500, .call_timeout_ms = 1000};
	struct dq_node_info who = {0}, *m = NULL;
	char why[XDROP_DQ_MAX_WHY];
	size_t n = 0;

	/* a connection a question: a kept one is a suspect of the wedges seen after a
	 * partition healed (docs/dqlite.md, "Not done yet") */
	if (dq_conn_open(&c->conn, c->address, &o, why, sizeof(why)) != 0 ||
	    dq_leader(c->conn, &who) != 0) {
		dq_conn_close(c->conn);
		c->conn = NULL;
		return 0;
	}
	if (who.id == c->id && dq_cluster(c->conn, &m, &n) != 0)
		m = NULL; /* the lease keeps the list it has */
	lease_run_update(c->lease, who.id == c->id, m, n);
	free(m);
	dq_conn_close(c->conn);
	c->conn = NULL;
	return who.id;
}

/*
 * The watcher: asks the node who leads each XDROP_CLUSTER_WATCH_MS and keeps the answer
 * (the store's gate, cluster_is_leader), logs a change of role at once, and wakes the
 * actor. It never waits for the store, so a role change is seen within one tick of the
 * node's own view (the election timeout), whatever the store is doing.
 */
static void *watch(void *arg)
{
	struct cluster *c = arg;
	struct timespec ts = {.tv_nsec = XDROP_CLUSTER_WATCH_MS * 1000000L};

	while (!atomic_load(&c->stop)) {
		uint64_t id = ask_leader(c);
		bool now = id == c->id;

		if (id != atomic_load(&c->leader_id) && !now && id)
			log_info("cluster: node %llu follows node %llu", (unsigned long long)c->id,
				 (unsigned long long)id);
		else if (id != atomic_load(&c->leader_id) && !id)
			log_info("cluster: node %llu knows no leader: the store refuses calls",
				 (unsigned long long)c->id);
		if (now != atomic_load(&c->leader))
			log_info("cluster: node %llu %s", (unsigned long long)c->id,
				 now ? "leads the cluster" : "no longer leads");
		atomic_store(&c->leader_id, id);
		atomic_store(&c->leader, now);
		pthread_mutex_lock(&c->lock);
		c->ticks++;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/*
 * The actor: calls on_role with the watcher's latest answer after each tick (ticks that
 * came while on_role ran are folded into one call). on_role takes in what the others
 * wrote, which may wait for the store; here it delays no other tick and no role change.
 */
static void *act(void *arg)
{
	struct cluster *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!atomic_load(&c->stop)) {
		if (!c->ticks) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		c->ticks = 0;
		pthread_mutex_unlock(&c->lock);
		if (c->on_role)
			c->on_role(c->arg, atomic_load(&c->leader));
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The store's gate (dq_session_set_gate): a leader is known to this node and, when it is
 * this node, it holds the lease (in contact with a majority of the voters, lease.h). */
static bool gate(void *arg)
{
	struct cluster *c = arg;
	uint64_t id = atomic_load(&c->leader_id);

	return id != 0 && (id != c->id || lease_run_holds(c->lease));
}

/* The lease lapsed: the calls waiting in dqlite give up now (their outcome unknown). */
static void lapse(void *arg)
{
	(void)arg;
	dq_session_cut_all();
}

int cluster_start(struct cluster **out, const struct ctl_cluster_cfg *cfg, cluster_role_fn on_role,
		  void *arg)
{
	struct cluster *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->id = cfg->id;
	snprintf(c->address, sizeof(c->address), "%s", cfg->address);
	c->on_role = on_role;
	c->arg = arg;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	rc = node_start(c, cfg);
	if (!rc && cfg->n_peers)
		rc = join(cfg);
	if (!rc)
		rc = lease_run_start(&c->lease, c->id, lapse, c);
	if (!rc) {
		rc = -pthread_create(&c->watcher, NULL, watch, c);
		c->watching = rc == 0;
	}
	if (!rc) {
		rc = -pthread_create(&c->actor, NULL, act, c);
		c->acting = rc == 0;
	}
	if (!rc)
		dq_session_set_gate(gate, c);
	if (rc) {
		cluster_stop(c);
		return rc;
	}
	log_info("cluster: node %llu serving on %s", (unsigned long long)c->id, c->address);
	*out = c;
	return 0;
}

int cluster_client(struct cluster **out, const struct ctl_cluster_cfg *cfg)
{
	struct cluster *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->id = cfg->id;
	rc = tls_open(c, cfg);
	if (rc) {
		free(c);
		return rc;
	}
	if (c->tls)
		dq_conn_set_default_dial(dqtls_conn_dial, c->tls);
	*out = c;
	return 0;
}

bool cluster_is_leader(const struct cluster *c)
{
	return c && atomic_load(&c->leader);
}

uint64_t cluster_leader_id(const struct cluster *c)
{
	return c ? atomic_load(&c->leader_id) : 0;
}

void cluster_unwatch(struct cluster *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	if (c->watching)
		pthread_join(c->watcher, NULL);
	c->watching = false;
	if (c->acting) {
		pthread_mutex_lock(&c->lock);
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->actor, NULL);
	}
	c->acting = false;
	dq_conn_close(c->conn);
	c->conn = NULL;
}

void cluster_stop(struct cluster *c)
{
	if (!c)
		return;
	cluster_unwatch(c);
	dq_session_set_gate(NULL, NULL);
	lease_run_stop(c->lease);
	if (c->node) {
		dqlite_node_stop(c->node);
		dqlite_node_destroy(c->node);
	}
	if (c->tls) {
		dq_conn_set_default_dial(NULL, NULL);
		dqtls_close(c->tls);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	free(c);
}
