// SPDX-License-Identifier: MIT
/*
 * sim_nodes: a fleet of simulated agents against one real controller, for bench/fleet.sh.
 *
 *   sim_nodes RPC_URL PUSH_URL HEALTH_URL KEY NODES RULES WRITES RATE TIMEOUT_S CTL_PIDFILE
 *
 * Each simulated node speaks the agents' protocol with the project's own libraries: it is
 * registered through NodeService.Create (its key comes back as an agent's does), subscribes
 * to the controller's pushes with lib/pubsub (revision order, gaps, heartbeats, snapshots
 * on demand, exactly as agent/sync.c), fetches snapshots with SyncService.GetSnapshot in
 * the agent's chunk size, and sends signed beacons (lib/pubsub + lib/nodekey) with its
 * applied revision and content hash. What it leaves out is the data plane: a delta or a
 * snapshot chunk is counted, not loaded into maps, and the content hash of a delta is taken
 * from the delta (a real agent recomputes it). Its RPC address is never listened on, so the
 * controller's calls to the node (ForceSync, stats fan-out) fail as to an unreachable agent.
 *
 * Stages:
 *  1. register NODES nodes; load RULES rules through RuleService.BatchCreate (10,000 per
 *     atomic batch);
 *  2. start every node empty at the same instant and time until all report the
 *     controller's revision ("converge": every node has fetched the whole set);
 *  3. WRITES single-rule RuleService.Create calls at RATE per second; per write, the time
 *     from sending it until the last node applied it ("push to all"), with the controller's
 *     CPU time (cores) and VmHWM/VmRSS read from /proc of the PID in CTL_PIDFILE (the supervisor's:
 * a controller that restarts is followed, and the restarts are counted) over the stage.
 *
 * Output: tab-separated rows "metric value p99 unit" on stdout; errors on stderr. Exit 0,
 * 1 when a stage did not finish within TIMEOUT_S, 2 on usage or setup errors.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nodekey.h"
#include "pubsub.h"
#include "rpc.h"
#include "rulehash.h"
#include "xdrop_limits.h"

#define SIM_RING      8192 /* writes tracked at once (by revision) */
#define SIM_BATCH     10000
#define SIM_BEACON_MS 1000

struct node {
	char id[32];
	char key[128];
	char token[XDROP_RPC_MAX_TOKEN];
	struct rpc_client *rpc;
	struct pubsub_sub *sub;
	_Atomic uint64_t applied; /* revision */
	char hash[RULEHASH_HEX];  /* under the subscriber's lock (apply) or its own thread */
	_Atomic unsigned snapshots;
	_Atomic uint64_t snapshot_items;
};

/* Per tracked write: when it was sent, and when the last node so far applied it. */
struct track {
	_Atomic uint64_t revision;
	int64_t sent;
	_Atomic int64_t last_applied;
	_Atomic unsigned nodes;
};

static struct node *nodes;
static unsigned n_nodes;
static struct track ring[SIM_RING];
static uint8_t (*beacon_keys)[XDROP_NODEKEY_LEN];

static int64_t rt_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note_applied(uint64_t rev)
{
	struct track *t = &ring[rev % SIM_RING];
	int64_t now = rt_ns(), prev;

	if (atomic_load(&t->revision) != rev)
		return;
	prev = atomic_load(&t->last_applied);
	while (prev < now && !atomic_compare_exchange_weak(&t->last_applied, &prev, now))
		;
	atomic_fetch_add(&t->nodes, 1);
}

static int on_delta(void *arg, const Xdrop__V1__Delta *d)
{
	struct node *n = arg;

	snprintf(n->hash, sizeof(n->hash), "%s", d->content_hash);
	if (d->revision != d->base_revision)
		note_applied(d->revision);
	atomic_store(&n->applied, d->revision);
	return 0;
}

/* A snapshot as agent/sync.c fetches one, counted instead of loaded. */
static int fetch(struct node *n)
{
	Xdrop__V1__SnapshotRequest q = XDROP__V1__SNAPSHOT_REQUEST__INIT;
	Xdrop__V1__SnapshotChunk *c = NULL;
	struct rpc_status st = {0};
	uint64_t rev = 0, items = 0, from;
	uint32_t count = 1;
	char hash[RULEHASH_HEX] = "";

	q.node_id = n->id;
	q.max_items = XDROP_SNAPSHOT_MAX_ITEMS;
	for (uint32_t i = 0; i < count; i++) {
		q.revision = rev;
		q.chunk_index = i;
		if (rpc_client_call(n->rpc, &xdrop__v1__sync_service__descriptor, "GetSnapshot",
				    &q.base, (ProtobufCMessage **)&c, &st))
			return -EIO;
		if (i == 0) {
			rev = c->revision;
			count = c->chunk_count ? c->chunk_count : 1;
			snprintf(hash, sizeof(hash), "%s", c->content_hash);
		}
		items += c->n_rules + c->n_whitelist;
		xdrop__v1__snapshot_chunk__free_unpacked(c, NULL);
		c = NULL;
	}
	atomic_fetch_add(&n->snapshots, 1);
	atomic_fetch_add(&n->snapshot_items, items);
	/* the writes the snapshot brought count as applied now (only the tracked window) */
	from = atomic_load(&n->applied) + 1;
	if (rev >= SIM_RING && from < rev - SIM_RING + 1)
		from = rev - SIM_RING + 1;
	for (uint64_t r = from; r <= rev; r++)
		note_applied(r);
	atomic_store(&n->applied, rev);
	pubsub_sub_set_revision(n->sub, rev, hash);
	return 0;
}

static void on_need_snapshot(void *arg, enum pubsub_resync_reason why, uint64_t applied,
			     uint64_t seen)
{
	(void)why;
	(void)applied;
	(void)seen;
	fetch(arg);
}

static int admin_call(struct rpc_client *c, const ProtobufCServiceDescriptor *svc,
		      const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
	struct rpc_status st = {0};
	int err = rpc_client_call(c, svc, method, req, resp, &st);

	if (err)
		fprintf(stderr, "sim_nodes: %s: %s %s\n", method, rpc_code_name(st.code),
			st.message);
	return err;
}

static int register_nodes(struct rpc_client *admin)
{
	for (unsigned i = 0; i < n_nodes; i++) {
		Xdrop__V1__CreateNodeRequest q = XDROP__V1__CREATE_NODE_REQUEST__INIT;
		Xdrop__V1__Node nd = XDROP__V1__NODE__INIT;
		Xdrop__V1__NodeWriteReply *r = NULL;
		char addr[96];

		snprintf(nodes[i].id, sizeof(nodes[i].id), "sim-%05u", i);
		snprintf(addr, sizeof(addr), "ipc:///nonexistent/xdrop-sim-%05u.sock", i);
		nd.id = nodes[i].id;
		nd.name = nodes[i].id;
		nd.address = addr;
		q.node = &nd;
		if (admin_call(admin, &xdrop__v1__node_service__descriptor, "Create", &q.base,
			       (ProtobufCMessage **)&r))
			return -EIO;
		snprintf(nodes[i].key, sizeof(nodes[i].key), "%s", r->key);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		snprintf(nodes[i].token, sizeof(nodes[i].token), "node:%s:%s", nodes[i].id,
			 nodes[i].key);
		nodekey_beacon_key(nodes[i].key, beacon_keys[i]);
	}
	return 0;
}

/* Rule i drops UDP from 30.0.0.0 + i to port 53 (distinct for i < 2^24). */
static void fill_rule(Xdrop__V1__Rule *r, char *ip, size_t len, uint32_t i)
{
	xdrop__v1__rule__init(r);
	snprintf(ip, len, "%u.%u.%u.%u", 30 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255, i & 255);
	r->src_ip = ip;
	r->protocol = "udp";
	r->dst_port = 53;
	r->action = "drop";
	r->enabled = true;
}

static int load_rules(struct rpc_client *admin, uint32_t total)
{
	Xdrop__V1__Rule *rules = calloc(SIM_BATCH, sizeof(*rules));
	Xdrop__V1__Rule **ptrs = calloc(SIM_BATCH, sizeof(*ptrs));
	char(*ips)[16] = calloc(SIM_BATCH, sizeof(*ips));
	int err = rules && ptrs && ips ? 0 : -ENOMEM;

	for (uint32_t done = 0; !err && done < total;) {
		Xdrop__V1__BatchCreateRulesRequest q = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
		Xdrop__V1__BatchReply *r = NULL;
		uint32_t n = total - done < SIM_BATCH ? total - done : SIM_BATCH;

		for (uint32_t i = 0; i < n; i++) {
			fill_rule(&rules[i], ips[i], sizeof(ips[i]), done + i);
			ptrs[i] = &rules[i];
		}
		q.n_rules = n;
		q.rules = ptrs;
		q.atomic = true;
		err = admin_call(admin, &xdrop__v1__rule_service__descriptor, "BatchCreate",
				 &q.base, (ProtobufCMessage **)&r);
		if (r)
			protobuf_c_message_free_unpacked(&r->base, NULL);
		done += n;
	}
	free(rules);
	free(ptrs);
	free(ips);
	return err;
}

static uint64_t ctl_revision(struct rpc_client *admin)
{
	Xdrop__V1__Empty q = XDROP__V1__EMPTY__INIT;
	Xdrop__V1__RevisionInfo *r = NULL;
	uint64_t rev;

	if (admin_call(admin, &xdrop__v1__sync_service__descriptor, "GetRevision", &q.base,
		       (ProtobufCMessage **)&r))
		return 0;
	rev = r->revision;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rev;
}

static int start_nodes(const char *rpc_url, const char *push_url)
{
	for (unsigned i = 0; i < n_nodes; i++) {
		struct node *n = &nodes[i];
		struct rpc_client_opts co = {
		    .sz = sizeof(co), .url = rpc_url, .auth_token = n->token, .timeout_ms = 60000};
		struct pubsub_opts po = {.sz = sizeof(po), .url = push_url};
		struct pubsub_sub_ops ops = {
		    .apply = on_delta, .need_snapshot = on_need_snapshot, .arg = n};

		if (rpc_client_open(&n->rpc, &co) || pubsub_sub_open(&n->sub, &po, &ops, 0, NULL)) {
			fprintf(stderr, "sim_nodes: node %s could not start\n", n->id);
			return -EIO;
		}
	}
	return 0;
}

/* One beacon per node: what the controller's health needs (revision, hash, identity). */
static void beacons(struct pubsub_pub *pub, uint64_t seq)
{
	for (unsigned i = 0; i < n_nodes; i++) {
		Xdrop__V1__Beacon b = XDROP__V1__BEACON__INIT;
		char hash[RULEHASH_HEX];

		b.node_id = nodes[i].id;
		b.seq = seq;
		b.sent_at = rt_ns();
		b.revision = atomic_load(&nodes[i].applied);
		snprintf(hash, sizeof(hash), "%s", nodes[i].hash);
		b.content_hash = hash;
		b.version = "sim";
		pubsub_pub_beacon(pub, &b, beacon_keys[i], XDROP_NODEKEY_LEN);
	}
}

static unsigned nodes_at(uint64_t rev)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n_nodes; i++)
		k += atomic_load(&nodes[i].applied) >= rev;
	return k;
}

/* Waits (sending beacons every SIM_BEACON_MS) until every node reached rev. */
static int wait_all(struct pubsub_pub *pub, uint64_t rev, int64_t deadline, uint64_t *seq)
{
	int64_t next = 0;

	while (nodes_at(rev) < n_nodes) {
		if (rt_ns() > deadline)
			return -ETIMEDOUT;
		if (rt_ns() >= next) {
			beacons(pub, ++*seq);
			next = rt_ns() + SIM_BEACON_MS * 1000000ll;
		}
		usleep(2000);
	}
	return 0;
}

struct proc_sample {
	double cpu_s;
	long rss_kb, hwm_kb;
};

static const char *ctl_pidfile;
static long ctl_last_pid;
static unsigned ctl_restarts;

/* The controller's PID now (its supervisor's pid file); counts changes as restarts. */
static long ctl_pid(void)
{
	FILE *f = fopen(ctl_pidfile, "r");
	long pid = 0;

	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid && ctl_last_pid && pid != ctl_last_pid)
		ctl_restarts++;
	if (pid)
		ctl_last_pid = pid;
	return pid;
}

static void proc_read(struct proc_sample *s)
{
	char path[64], line[256];
	unsigned long ut = 0, st = 0;
	long pid = ctl_pid();
	FILE *f;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f) {
		/* fields 14 and 15 (utime, stime) follow the ")" that ends the command name */
		if (fgets(line, sizeof(line), f) && strrchr(line, ')'))
			sscanf(strrchr(line, ')') + 2,
			       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
		fclose(f);
	}
	s->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &s->rss_kb);
		sscanf(line, "VmHWM: %ld", &s->hwm_kb);
	}
	if (f)
		fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* Stage 3: WRITES creates at RATE per second; rows for push-to-all and the controller. */
static int writes(struct rpc_client *admin, struct pubsub_pub *pub, unsigned count, double rate,
		  int64_t timeout_ns, uint64_t *seq)
{
	double *lat = calloc(count ? count : 1, sizeof(*lat));
	uint64_t *revs = calloc(count ? count : 1, sizeof(*revs));
	int64_t start = rt_ns(), next_beacon = 0, gap = (int64_t)(1e9 / rate);
	struct proc_sample a, b;
	unsigned late = 0, done = 0;
	uint64_t last;
	int err = 0;

	if (!lat || !revs)
		return -ENOMEM;
	proc_read(&a);
	last = ctl_revision(admin);
	for (unsigned i = 0; i < count && !err; i++) {
		Xdrop__V1__CreateRuleRequest q = XDROP__V1__CREATE_RULE_REQUEST__INIT;
		Xdrop__V1__RuleWriteReply *r = NULL;
		Xdrop__V1__Rule rule;
		char ip[16];
		int64_t at = start + (int64_t)i * gap;
		struct track *t;

		while (rt_ns() < at) {
			if (rt_ns() >= next_beacon) {
				beacons(pub, ++*seq);
				next_beacon = rt_ns() + SIM_BEACON_MS * 1000000ll;
			}
			usleep(500);
		}
		fill_rule(&rule, ip, sizeof(ip), 0xC00000u + i); /* 30.192.0.0 + i */
		q.rule = &rule;
		/* one write, one revision: the slot is ready before a node can apply it */
		revs[i] = last + 1;
		t = &ring[revs[i] % SIM_RING];
		atomic_store(&t->revision, 0);
		atomic_store(&t->last_applied, 0);
		atomic_store(&t->nodes, 0);
		t->sent = rt_ns();
		atomic_store(&t->revision, revs[i]);
		err = admin_call(admin, &xdrop__v1__rule_service__descriptor, "Create", &q.base,
				 (ProtobufCMessage **)&r);
		if (err)
			break;
		if ((!r->sync || r->sync->revision != revs[i])) {
			fprintf(stderr,
				"sim_nodes: write %u got revision %llu, not %llu: someone "
				"else writes\n",
				i, (unsigned long long)(r->sync ? r->sync->revision : 0),
				(unsigned long long)revs[i]);
			err = -EAGAIN;
		}
		last = r->sync ? r->sync->revision : last + 1;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		done++;
	}
	if (done && wait_all(pub, revs[done - 1], rt_ns() + timeout_ns, seq))
		err = -ETIMEDOUT;
	proc_read(&b);
	for (unsigned i = 0; i < done; i++) {
		struct track *t = &ring[revs[i] % SIM_RING];

		if (atomic_load(&t->revision) != revs[i] || atomic_load(&t->nodes) < n_nodes) {
			late++;
			lat[i] = 1e9;
			continue;
		}
		lat[i] = (double)(atomic_load(&t->last_applied) - t->sent) / 1e6;
	}
	qsort(lat, done, sizeof(*lat), cmp_double);
	printf("push_all_ms\t%.1f\t%.1f\tms\n", pct(lat, done, 0.5), pct(lat, done, 0.99));
	printf("writes_late\t%u\t-\tof %u\n", late, done);
	printf("controller_cores\t%.2f\t-\tcores\n",
	       (b.cpu_s - a.cpu_s) / ((double)(rt_ns() - start) / 1e9));
	printf("controller_rss\t%.1f\t%.1f\tMiB (rss, hwm)\n", b.rss_kb / 1024.0,
	       b.hwm_kb / 1024.0);
	free(lat);
	free(revs);
	return err;
}

int main(int argc, char **argv)
{
	struct rpc_client *admin = NULL;
	struct pubsub_pub *pub = NULL;
	uint64_t seq = 0, rev, items = 0;
	unsigned snaps = 0;
	int64_t t0, timeout_ns;
	struct proc_sample p;
	char token[256];
	int rc = 0;

	if (argc != 11) {
		fprintf(stderr,
			"usage: sim_nodes RPC_URL PUSH_URL HEALTH_URL KEY NODES RULES WRITES "
			"RATE TIMEOUT_S CTL_PIDFILE\n");
		return 2;
	}
	n_nodes = (unsigned)strtoul(argv[5], NULL, 10);
	timeout_ns = (int64_t)strtol(argv[9], NULL, 10) * 1000000000ll;
	ctl_pidfile = argv[10];
	ctl_pid();
	nodes = calloc(n_nodes ? n_nodes : 1, sizeof(*nodes));
	beacon_keys = calloc(n_nodes ? n_nodes : 1, sizeof(*beacon_keys));
	snprintf(token, sizeof(token), "%s", argv[4]);
	{
		struct rpc_client_opts co = {
		    .sz = sizeof(co), .url = argv[1], .auth_token = token, .timeout_ms = 120000};
		struct pubsub_opts po = {.sz = sizeof(po), .url = argv[3]};

		if (!nodes || !beacon_keys || rpc_client_open(&admin, &co) ||
		    pubsub_pub_open(&pub, &po))
			return 2;
	}
	if (register_nodes(admin) || load_rules(admin, (uint32_t)strtoul(argv[6], NULL, 10)))
		return 2;
	rev = ctl_revision(admin);
	t0 = rt_ns();
	if (start_nodes(argv[1], argv[2]))
		return 2;
	if (wait_all(pub, rev, t0 + timeout_ns, &seq)) {
		fprintf(stderr, "sim_nodes: %u of %u nodes converged within the timeout\n",
			nodes_at(rev), n_nodes);
		rc = 1;
	}
	for (unsigned i = 0; i < n_nodes; i++) {
		snaps += atomic_load(&nodes[i].snapshots);
		items += atomic_load(&nodes[i].snapshot_items);
	}
	proc_read(&p);
	printf("converge_s\t%.2f\t-\ts\n", rc ? -1.0 : (double)(rt_ns() - t0) / 1e9);
	printf("snapshots\t%u\t-\tsnapshots (%llu items)\n", snaps, (unsigned long long)items);
	printf("converge_rss\t%.1f\t%.1f\tMiB (rss, hwm)\n", p.rss_kb / 1024.0, p.hwm_kb / 1024.0);
	fflush(stdout);
	if (!rc && writes(admin, pub, (unsigned)strtoul(argv[7], NULL, 10), strtod(argv[8], NULL),
			  timeout_ns, &seq))
		rc = 1;
	ctl_pid();
	printf("controller_restarts\t%u\t-\trestarts\n", ctl_restarts);
	for (unsigned i = 0; i < n_nodes; i++) {
		pubsub_sub_close(nodes[i].sub);
		rpc_client_close(nodes[i].rpc);
	}
	pubsub_pub_close(pub);
	rpc_client_close(admin);
	free(nodes);
	free(beacon_keys);
	return rc;
}
