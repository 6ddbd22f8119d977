// SPDX-License-Identifier: MIT
/*
 * nodes: live node state from signed beacons, and drift repair; see nodes.h.
 *
 * The table is an array of struct node_state under one mutex, rebuilt from the store on
 * nodes_reload() (state carried over by id). The health loop ticks four times per beacon
 * interval; a force sync runs on a detached thread holding copies of what it needs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "nodekey.h"
#include "nodes.h"
#include "pubsub.h"
#include "rpc.h"
#include "ticker.h"

struct node_state {
	char *id, *address, *name;
	uint8_t bkey[XDROP_NODEKEY_LEN]; /* the beacon key (lib/nodekey.h) */
	bool has_bkey;			 /* false: the stored record was unreadable */
	bool seen;
	int64_t seen_ms;      /* monotonic */
	int64_t seen_ns;      /* wall clock */
	int64_t last_sent_at; /* the newest accepted beacon's sent_at */
	uint64_t stale;	      /* beacons refused as replayed or off the clock */
	uint64_t revision;
	char hash[RULEHASH_HEX];
	Xdrop__V1__Beacon *beacon; /* the latest, unpacked copy */
	enum node_status status;
	int64_t status_since; /* wall clock: when status last changed (or tracking began) */
	int64_t behind_since_ms;
	uint64_t behind_target;
	int64_t last_force_ms;
	uint64_t moved_rev; /* the revision when it last moved, and when (monotonic ms) */
	int64_t moved_ms;
	uint64_t snap_rev; /* the snapshot its beacons say it fetches or installs (0: none) */
	int64_t snap_ms;   /* since when (monotonic ms) */
	bool forcing;
};

struct nodes {
	struct store *store;
	struct tls_opts tls;
	bool have_tls, repair;
	unsigned interval_ms;
	struct pubsub_collector *coll;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct node_state *v;
	size_t n;
	struct ticker *health; /* health passes; NULL until started */
	bool stop;
	/* called with each accepted beacon, under the lock (controller/stats.c) */
	void (*hook)(void *arg, const char *id, const Xdrop__V1__Beacon *b);
	void *hook_arg;
	int forcing; /* detached force-sync threads running */
	uint64_t forces, forces_ok;
	int64_t unknown_reload_ms; /* last reload for a beacon of an unknown node */
};

static const char *const status_names[] = {"unknown", "online", "syncing", "out_of_sync",
					   "offline"};

const char *node_status_name(enum node_status st)
{
	return (unsigned)st < sizeof(status_names) / sizeof(status_names[0]) ? status_names[st]
									     : "unknown";
}

static void state_free(struct node_state *s)
{
	free(s->id);
	free(s->address);
	free(s->name);
	explicit_bzero(s->bkey, sizeof(s->bkey));
	if (s->beacon)
		xdrop__v1__beacon__free_unpacked(s->beacon, NULL);
}

/* Lock held. */
static struct node_state *find(struct nodes *n, const char *id)
{
	for (size_t i = 0; i < n->n; i++)
		if (n->v[i].id && strcmp(n->v[i].id, id) == 0)
			return &n->v[i];
	return NULL;
}

int nodes_reload(struct nodes *n)
{
	struct store_node *rows = NULL;
	struct node_state *nv = NULL;
	size_t count = 0;
	int err;

	/* every row: the table grows with the store, so no node is ever left out */
	err = store_node_list(n->store, &rows, &count);
	if (err)
		return err;
	nv = calloc(count ? count : 1, sizeof(*nv));
	if (!nv) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		nv[i].id = strdup(rows[i].node->id);
		nv[i].address = strdup(rows[i].node->address);
		nv[i].name = strdup(rows[i].node->name ? rows[i].node->name : "");
		nv[i].status_since = clock_wall_ns();
		nv[i].has_bkey = nodekey_record_beacon_key(rows[i].cred, nv[i].bkey) == 0;
		if (!nv[i].has_bkey)
			log_warn(
			    "nodes: node %s has no readable key record; its beacons are refused",
			    rows[i].node->id);
		if (!nv[i].id || !nv[i].address || !nv[i].name) {
			err = -ENOMEM;
			goto out;
		}
	}
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < count; i++) {
		struct node_state *old = find(n, nv[i].id);
		struct node_state row = nv[i];

		if (!old)
			continue;
		nv[i] = *old; /* keep the live state, take the new row */
		nv[i].id = row.id;
		nv[i].address = row.address;
		free(old->name);
		nv[i].name = row.name;
		memcpy(nv[i].bkey, row.bkey, sizeof(row.bkey));
		nv[i].has_bkey = row.has_bkey;
		free(old->id);
		free(old->address);
		old->id = old->address = old->name = NULL; /* not found twice */
		old->beacon = NULL;			   /* moved */
	}
	for (size_t i = 0; i < n->n; i++)
		state_free(&n->v[i]);
	free(n->v);
	n->v = nv;
	n->n = count;
	nv = NULL;
	pthread_mutex_unlock(&n->lock);
out:
	for (size_t i = 0; nv && i < count; i++)
		state_free(&nv[i]);
	free(nv);
	store_free_nodes(rows, count);
	return err;
}

/*
 * A beacon of a node this controller does not know: in a cluster another controller may have
 * added it (the table is shared, this list is not), so the list is read again, at most once
 * a beacon interval. Lock held on entry and return; released meanwhile.
 */
static struct node_state *find_or_reload(struct nodes *n, const char *node_id)
{
	struct node_state *s = find(n, node_id);
	int64_t now = clock_mono_ms();

	if (s || now - n->unknown_reload_ms < (int64_t)n->interval_ms)
		return s;
	n->unknown_reload_ms = now;
	pthread_mutex_unlock(&n->lock);
	nodes_reload(n);
	pthread_mutex_lock(&n->lock);
	return find(n, node_id);
}

static int key_cb(void *arg, const char *node_id, uint8_t *key, size_t *len)
{
	struct nodes *n = arg;
	struct node_state *s;
	int err = -ENOENT;

	pthread_mutex_lock(&n->lock);
	s = find_or_reload(n, node_id);
	if (s && s->has_bkey) {
		_Static_assert(XDROP_NODEKEY_LEN <= XDROP_BEACON_MAX_KEY, "beacon key size");
		memcpy(key, s->bkey, sizeof(s->bkey));
		*len = sizeof(s->bkey);
		err = 0;
	}
	pthread_mutex_unlock(&n->lock);
	return err;
}

/* Lock held: the status of s against the controller's revision. */
static enum node_status derive(struct nodes *n, struct node_state *s, const struct store_rev *rev,
			       int64_t now)
{
	if (!s->seen)
		return NODE_UNKNOWN;
	if (now - s->seen_ms > (int64_t)n->interval_ms * XDROP_NODE_OFFLINE_INTERVALS)
		return NODE_OFFLINE;
	if (s->revision == rev->revision && strcmp(s->hash, rev->hash) == 0)
		return NODE_ONLINE;
	if (s->revision < rev->revision)
		return NODE_SYNCING;
	return NODE_OUT_OF_SYNC;
}

static bool attached(const struct node_state *s)
{
	return s->beacon && s->beacon->attach && s->beacon->attach->attached;
}

static bool reachable(enum node_status st)
{
	return st == NODE_ONLINE || st == NODE_SYNCING || st == NODE_OUT_OF_SYNC;
}

/*
 * Lock held: moves s to status st, logging every transition with the node's name and id
 * (docs/operations.md lists the lines). silent_ms: how long the node had been silent
 * before the beacon that brought it back (for "back online"), or is silent now (offline).
 */
static void set_status(struct node_state *s, enum node_status st, const struct store_rev *rev,
		       int64_t silent_ms)
{
	enum node_status old = s->status;
	double secs = (double)silent_ms / 1000;

	if (st == old)
		return;
	s->status = st;
	s->status_since = clock_wall_ns();
	if (st == NODE_OFFLINE)
		log_warn("nodes: node %s (%s) offline: no beacon for %.1f s (was %s; %s)", s->name,
			 s->id, secs, node_status_name(old),
			 attached(s) ? "its program was attached: filtering presumed to go on"
				     : "its program was not attached");
	else if (old == NODE_OFFLINE && reachable(st))
		log_info("nodes: node %s (%s) back online after %.1f s (%s, revision %llu of %llu)",
			 s->name, s->id, secs, node_status_name(st),
			 (unsigned long long)s->revision, (unsigned long long)rev->revision);
	else
		log_info("nodes: node %s (%s) %s -> %s (revision %llu of %llu)", s->name, s->id,
			 node_status_name(old), node_status_name(st),
			 (unsigned long long)s->revision, (unsigned long long)rev->revision);
}

/* A signed beacon proves who sent it, not when: a recorded one played back would show a
 * dead node alive. Each accepted beacon must be newer than the last one of its node and
 * within BEACON_MAX_SKEW_NS of the controller's clock (which also bounds a replay just
 * after a controller restart, when the last sent_at is forgotten). Lock held. */
#define BEACON_MAX_SKEW_NS (300LL * 1000000000)

static bool beacon_fresh(struct node_state *s, const Xdrop__V1__Beacon *b, int64_t now)
{
	const char *why = NULL;

	if (b->sent_at <= s->last_sent_at)
		why = "not newer than the last one (a replay, or the node's clock stepped back)";
	else if (b->sent_at < now - BEACON_MAX_SKEW_NS || b->sent_at > now + BEACON_MAX_SKEW_NS)
		why = "more than 300 s off the controller's clock";
	if (!why)
		return true;
	/* the 1st, 2nd, 4th, 8th... refusal of a node is logged */
	if (!(s->stale & (s->stale + 1)))
		log_warn("nodes: beacon of %s refused (%llu so far): sent_at %lld is %s", s->id,
			 (unsigned long long)s->stale + 1, (long long)b->sent_at, why);
	s->stale++;
	return false;
}

static void beacon_cb(void *arg, const Xdrop__V1__Beacon *b)
{
	struct nodes *n = arg;
	struct node_state *s;
	struct store_rev rev;
	uint8_t *buf;
	size_t len;

	len = xdrop__v1__beacon__get_packed_size(b);
	buf = malloc(len ? len : 1);
	if (!buf)
		return;
	xdrop__v1__beacon__pack(b, buf);
	store_revision(n->store, &rev);
	pthread_mutex_lock(&n->lock);
	s = find(n, b->node_id);
	if (s && beacon_fresh(s, b, clock_wall_ns())) {
		int64_t prev_ms = s->seen_ms;

		s->last_sent_at = b->sent_at;
		if (s->beacon)
			xdrop__v1__beacon__free_unpacked(s->beacon, NULL);
		s->beacon = xdrop__v1__beacon__unpack(NULL, len, buf);
		s->seen = true;
		s->seen_ms = clock_mono_ms();
		s->seen_ns = clock_wall_ns();
		if (b->snapshot_revision != s->snap_rev) {
			s->snap_rev = b->snapshot_revision;
			s->snap_ms = s->seen_ms;
		}
		s->revision = b->revision;
		snprintf(s->hash, sizeof(s->hash), "%s", b->content_hash ? b->content_hash : "");
		set_status(s, derive(n, s, &rev, s->seen_ms), &rev, s->seen_ms - prev_ms);
		if (n->hook)
			n->hook(n->hook_arg, s->id, b);
	}
	pthread_mutex_unlock(&n->lock);
	free(buf);
}

struct force_job {
	struct nodes *n;
	char *id, *url, *token;
};

/* Calls ForceSync; returns the node's revision after it, or a negative errno. */
static int64_t call_force_sync(struct nodes *n, const char *url, const char *token)
{
	struct rpc_client_opts o = {.sz = sizeof(o),
				    .url = url,
				    .auth_token = token,
				    .timeout_ms = XDROP_FORCE_SYNC_TIMEOUT_MS,
				    .tls = nodes_tls(n)};
	Xdrop__V1__ForceSyncRequest req = XDROP__V1__FORCE_SYNC_REQUEST__INIT;
	Xdrop__V1__ForceSyncReply *rep = NULL;
	struct rpc_client *c = NULL;
	struct rpc_status st;
	int64_t rc;

	req.reason = "controller: node behind or out of sync";
	rc = rpc_client_open(&c, &o);
	if (rc)
		return rc;
	rc = rpc_client_call(c, &xdrop__v1__agent_service__descriptor, "ForceSync", &req.base,
			     (ProtobufCMessage **)&rep, &st);
	if (rc == 0) {
		rc = (int64_t)rep->revision;
		xdrop__v1__force_sync_reply__free_unpacked(rep, NULL);
	} else {
		log_warn("nodes: ForceSync on %s failed: %s %s", url, rpc_code_name(st.code),
			 st.message);
	}
	rpc_client_close(c);
	return rc;
}

static void *force_main(void *arg)
{
	struct force_job *j = arg;
	struct nodes *n = j->n;
	int64_t rc = call_force_sync(n, j->url, j->token);
	struct node_state *s;

	pthread_mutex_lock(&n->lock);
	if (rc >= 0)
		n->forces_ok++;
	s = find(n, j->id);
	if (s)
		s->forcing = false;
	n->forcing--;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	free(j->id);
	free(j->url);
	free(j->token);
	free(j);
	return NULL;
}

int nodes_check_address(const char *url, const char **why)
{
	static const struct {
		const char *scheme;
		bool port;
	} schemes[] = {
	    {"tcp://", true},	   {"tcp4://", true},	  {"tcp6://", true}, {"tls+tcp://", true},
	    {"tls+tcp4://", true}, {"tls+tcp6://", true}, {"ipc://", false}, {"inproc://", false},
	};
	const char *rest = NULL, *colon;
	bool port = false;
	char *end;
	unsigned long p;

	for (size_t i = 0; !rest && i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].scheme);

		if (!strncmp(url, schemes[i].scheme, n)) {
			rest = url + n;
			port = schemes[i].port;
		}
	}
	*why = "expected a URL with a scheme: tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH";
	if (!rest || !*rest)
		return -EINVAL;
	for (const char *c = rest; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return -EINVAL;
	if (!port)
		return 0;
	colon = strrchr(rest, ':');
	*why = "expected HOST:PORT after the scheme, with a port from 1 to 65535";
	if (!colon || colon == rest || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p == 0 || p > 65535)
		return -EINVAL;
	return 0;
}

/* The controller call token of s (lib/nodekey.h): the node key itself is not stored. */
static char *make_token(const struct node_state *s)
{
	char t[XDROP_RPC_MAX_TOKEN];

	if (!s->has_bkey || nodekey_ctl_token(s->id, s->bkey, t, sizeof(t)))
		return NULL;
	return strdup(t);
}

/* Lock held: the RPC address of s (the registered one, else the one it beacons). */
static const char *addr_of(const struct node_state *s)
{
	if (s->address && s->address[0])
		return s->address;
	if (s->beacon && s->beacon->rpc_address && s->beacon->rpc_address[0])
		return s->beacon->rpc_address;
	return NULL;
}

/* Lock held: starts a force sync of s on its own thread. */
static void start_force(struct nodes *n, struct node_state *s, int64_t now)
{
	struct force_job *j;
	pthread_attr_t attr;
	pthread_t th;
	const char *addr = addr_of(s);

	s->last_force_ms = now;
	if (!addr)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->n = n;
	j->id = strdup(s->id);
	j->url = strdup(addr);
	j->token = make_token(s);
	if (!j->id || !j->url || !j->token)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, force_main, j) != 0) {
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	log_info("nodes: %s is %s at revision %llu; forcing a sync (deltas, else a snapshot)",
		 s->id, node_status_name(s->status), (unsigned long long)s->revision);
	s->forcing = true;
	n->forcing++;
	n->forces++;
	return;
fail:
	free(j->id);
	free(j->url);
	free(j->token);
	free(j);
}

/* Lock held: one health pass over every node. */
static void health_pass(struct nodes *n)
{
	int64_t now = clock_mono_ms(),
		limit = (int64_t)n->interval_ms * XDROP_NODE_REPAIR_INTERVALS;
	struct store_rev rev;

	store_revision(n->store, &rev);
	for (size_t i = 0; i < n->n; i++) {
		struct node_state *s = &n->v[i];

		set_status(s, derive(n, s, &rev, now), &rev, now - s->seen_ms);
		if (s->revision != s->moved_rev) {
			s->moved_rev = s->revision;
			s->moved_ms = now;
		}
		if (s->status != NODE_SYNCING && s->status != NODE_OUT_OF_SYNC) {
			s->behind_since_ms = 0;
			continue;
		}
		if (!s->behind_since_ms ||
		    (s->status == NODE_SYNCING && s->revision >= s->behind_target)) {
			/* first seen behind, or it reached the last target: measure afresh */
			s->behind_since_ms = now;
			s->behind_target = rev.revision;
			continue;
		}
		/* a node that is behind but moving is busy, not stuck: it catches up on its own
		 * (its deltas, or a snapshot it fetches itself) */
		if (s->status == NODE_SYNCING && now - s->moved_ms <= limit)
			continue;
		/* nor is one that fetches or installs a snapshot (a million rules take tens of
		 * seconds): a forced sync would only make it start another */
		if (s->snap_rev && now - s->snap_ms <= XDROP_NODE_SNAPSHOT_MAX_MS)
			continue;
		if (n->repair && !s->forcing && now - s->behind_since_ms > limit &&
		    now - s->last_force_ms > limit)
			start_force(n, s, now);
	}
}

/* One health pass (a ticker call, four a beacon interval); none once closing. */
static void health_tick(void *arg)
{
	struct nodes *n = arg;

	pthread_mutex_lock(&n->lock);
	if (!n->stop)
		health_pass(n);
	pthread_mutex_unlock(&n->lock);
}

int nodes_open(struct nodes **out, const struct nodes_opts *opts)
{
	struct pubsub_collector_ops ops = {.key = key_cb, .beacon = beacon_cb};
	struct ticker_opts to = {
	    .sz = sizeof(to), .name = "xdrop-health", .first_now = true, .fn = health_tick};
	struct nodes *n;
	int err;

	*out = NULL;
	if (!opts || opts->sz < sizeof(*opts) || !opts->store)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->store = opts->store;
	n->repair = opts->repair;
	n->interval_ms = opts->interval_ms ? opts->interval_ms : 1000;
	if (opts->tls) {
		n->tls = *opts->tls;
		n->have_tls = true;
	}
	err = nodes_reload(n);
	if (err)
		goto out;
	ops.arg = n;
	if (opts->health_url) {
		struct pubsub_opts po = {
		    .sz = sizeof(po), .url = opts->health_url, .listen = true, .tls = opts->tls};

		err = pubsub_collector_open(&n->coll, &po, &ops);
	} else {
		struct pubsub_opts po = {.sz = sizeof(po)};

		err = pubsub_collector_open(&n->coll, &po, &ops);
	}
	if (err) {
		log_error("nodes: cannot listen for beacons on %s: %s",
			  opts->health_url ? opts->health_url : "(none)", strerror(-err));
		goto out;
	}
	to.period_ms = n->interval_ms / 4 ? n->interval_ms / 4 : 1;
	to.arg = n;
	err = ticker_start(&n->health, &to);
out:
	if (err) {
		nodes_close(n);
		return err;
	}
	*out = n;
	return 0;
}

void nodes_close(struct nodes *n)
{
	if (!n)
		return;
	pubsub_collector_close(n->coll); /* no beacon callback after this */
	ticker_stop(n->health);		 /* no health pass (nor force sync started) after this */
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	while (n->forcing > 0) /* detached force syncs end within their timeout */
		pthread_cond_wait(&n->cond, &n->lock);
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < n->n; i++)
		state_free(&n->v[i]);
	free(n->v);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

int nodes_feed(struct nodes *n, const void *frame, size_t len)
{
	return pubsub_collector_feed(n->coll, frame, len);
}

static char *dup_with(void *(*alloc)(void *ctx, size_t size), void *ctx, const char *s)
{
	size_t len = strlen(s ? s : "");
	char *d = alloc(ctx, len + 1);

	if (d && len)
		memcpy(d, s, len);
	return d;
}

/* Lock held: out's error for the failed node s (status st), in ctx's memory; NULL when
 * out of memory. */
static Xdrop__V1__NodeSyncError *node_error(const struct node_state *s, enum node_status st,
					    int64_t now, void *(*alloc)(void *ctx, size_t size),
					    void *ctx)
{
	Xdrop__V1__NodeSyncError *e = alloc(ctx, sizeof(*e));
	char msg[96];

	if (!e)
		return NULL;
	xdrop__v1__node_sync_error__init(e);
	if (st == NODE_OFFLINE)
		snprintf(msg, sizeof(msg), "offline: no beacon for %.1f s",
			 (double)(now - s->seen_ms) / 1000);
	else
		snprintf(msg, sizeof(msg), "unknown: no beacon since the controller started");
	e->node_id = dup_with(alloc, ctx, s->id);
	e->node_name = dup_with(alloc, ctx, s->name);
	e->message = dup_with(alloc, ctx, msg);
	return e->node_id && e->node_name && e->message ? e : NULL;
}

void nodes_outcome(struct nodes *n, uint64_t rev, Xdrop__V1__SyncOutcome *out,
		   void *(*alloc)(void *ctx, size_t size), void *ctx)
{
	struct store_rev cur;
	int64_t now = clock_mono_ms();

	store_revision(n->store, &cur);
	out->revision = rev;
	out->nodes = out->applied = out->pending = out->failed = 0;
	out->n_errors = 0;
	pthread_mutex_lock(&n->lock);
	out->errors = alloc && n->n ? alloc(ctx, n->n * sizeof(*out->errors)) : NULL;
	for (size_t i = 0; i < n->n; i++) {
		struct node_state *s = &n->v[i];
		enum node_status st = derive(n, s, &cur, now);

		out->nodes++;
		if (st == NODE_UNKNOWN || st == NODE_OFFLINE) {
			out->failed++;
			if (out->errors &&
			    (out->errors[out->n_errors] = node_error(s, st, now, alloc, ctx)))
				out->n_errors++;
		} else if (s->revision >= rev) {
			out->applied++;
		} else {
			out->pending++;
		}
	}
	pthread_mutex_unlock(&n->lock);
}

enum node_status nodes_status(struct nodes *n, const char *id)
{
	struct store_rev cur;
	struct node_state *s;
	enum node_status st = NODE_UNKNOWN;

	store_revision(n->store, &cur);
	pthread_mutex_lock(&n->lock);
	s = find(n, id);
	if (s)
		st = derive(n, s, &cur, clock_mono_ms());
	pthread_mutex_unlock(&n->lock);
	return st;
}

/* A copy of a string array in ctx's memory; *n becomes 0 when out of memory. */
static char **dup_strv(void *(*alloc)(void *ctx, size_t size), void *ctx, char **v, size_t *n)
{
	char **d = alloc(ctx, sizeof(char *) * (*n + 1));

	for (size_t i = 0; d && i < *n; i++)
		d[i] = dup_with(alloc, ctx, v[i]);
	if (!d)
		*n = 0;
	return d;
}

/* What filtering a node does, as far as the controller knows (Node.filtering). */
static const char *filtering(const struct node_state *s, enum node_status st)
{
	if (reachable(st))
		return attached(s) ? "active" : "inactive";
	return st == NODE_OFFLINE && attached(s) ? "presumed" : "unknown";
}

/* A copy of a scalar-only message (Counters, Rates, SystemStats, Capacity) in ctx. */
static void *dup_msg(void *(*alloc)(void *ctx, size_t size), void *ctx, const void *m, size_t sz)
{
	void *d = m ? alloc(ctx, sz) : NULL;

	if (d)
		memcpy(d, m, sz);
	return d;
}

static Xdrop__V1__AttachState *dup_attach(void *(*alloc)(void *ctx, size_t size), void *ctx,
					  const Xdrop__V1__AttachState *src)
{
	Xdrop__V1__AttachState *a = src ? alloc(ctx, sizeof(*a)) : NULL;

	if (!a)
		return NULL;
	*a = *src;
	a->mode = dup_with(alloc, ctx, src->mode);
	a->xdp_mode = dup_with(alloc, ctx, src->xdp_mode);
	a->error = dup_with(alloc, ctx, src->error);
	a->direction = dup_with(alloc, ctx, src->direction);
	a->interfaces = dup_strv(alloc, ctx, src->interfaces, &a->n_interfaces);
	a->protected_flows = dup_strv(alloc, ctx, src->protected_flows, &a->n_protected_flows);
	return a;
}

/* Lock held: the node's last reported figures, in ctx's memory, marked stale when older
 * than the health timeout (they are then the last known ones, not current). */
static Xdrop__V1__NodeStats *node_stats(struct nodes *n, const struct node_state *s,
					void *(*alloc)(void *ctx, size_t size), void *ctx)
{
	const Xdrop__V1__Beacon *b = s->beacon;
	Xdrop__V1__NodeStats *ns = alloc(ctx, sizeof(*ns));
	int64_t age = clock_wall_ns() - b->sent_at;

	if (!ns)
		return NULL;
	xdrop__v1__node_stats__init(ns);
	ns->node_id = dup_with(alloc, ctx, s->id);
	ns->rules = b->rules;
	ns->whitelist = b->whitelist;
	ns->at = b->sent_at;
	ns->stale = clock_mono_ms() - s->seen_ms > nodes_health_timeout_ms(n);
	ns->age_ms = age > 0 ? age / 1000000 : 0;
	ns->agent_version = dup_with(alloc, ctx, b->version);
	ns->agent_uptime_s = b->agent_uptime_s;
	ns->counters = dup_msg(alloc, ctx, b->counters, sizeof(*b->counters));
	ns->rates = dup_msg(alloc, ctx, b->rates, sizeof(*b->rates));
	ns->system = dup_msg(alloc, ctx, b->system, sizeof(*b->system));
	ns->capacity = dup_msg(alloc, ctx, b->capacity, sizeof(*b->capacity));
	ns->attach = dup_attach(alloc, ctx, b->attach);
	return ns;
}

void nodes_fill(struct nodes *n, Xdrop__V1__Node *node, void *(*alloc)(void *ctx, size_t size),
		void *ctx)
{
	struct store_rev cur;
	struct node_state *s;
	enum node_status st;

	store_revision(n->store, &cur);
	pthread_mutex_lock(&n->lock);
	s = find(n, node->id);
	if (!s) {
		node->status = dup_with(alloc, ctx, "unknown");
		node->filtering = dup_with(alloc, ctx, "unknown");
		goto out;
	}
	st = derive(n, s, &cur, clock_mono_ms());
	node->status = dup_with(alloc, ctx, node_status_name(st));
	node->filtering = dup_with(alloc, ctx, filtering(s, st));
	/* derive() may run ahead of the health pass that records the change */
	node->status_since = st == s->status ? s->status_since : clock_wall_ns();
	node->applied_revision = s->revision;
	node->content_hash = dup_with(alloc, ctx, s->hash);
	node->last_seen = s->seen ? s->seen_ns : 0;
	if (s->beacon) {
		node->version = dup_with(alloc, ctx, s->beacon->version);
		node->stats = node_stats(n, s, alloc, ctx);
	}
out:
	pthread_mutex_unlock(&n->lock);
}

int nodes_force_sync(struct nodes *n, const char *id, Xdrop__V1__SyncOutcome *out)
{
	struct store_rev cur;
	struct node_state *s;
	char *url = NULL, *token = NULL;
	enum node_status st;
	int64_t rc;

	store_revision(n->store, &cur);
	out->nodes = 1;
	out->revision = cur.revision;
	pthread_mutex_lock(&n->lock);
	s = find(n, id);
	if (!s) {
		pthread_mutex_unlock(&n->lock);
		return -ENOENT;
	}
	st = derive(n, s, &cur, clock_mono_ms());
	if (st != NODE_OFFLINE && st != NODE_UNKNOWN && addr_of(s)) {
		url = strdup(addr_of(s));
		token = make_token(s);
		n->forces++;
	}
	pthread_mutex_unlock(&n->lock);
	if (!url || !token) {
		out->failed = 1; /* never wait on an offline node */
		goto out;
	}
	rc = call_force_sync(n, url, token);
	if (rc < 0) {
		out->failed = 1;
	} else {
		pthread_mutex_lock(&n->lock);
		n->forces_ok++;
		pthread_mutex_unlock(&n->lock);
		if ((uint64_t)rc >= cur.revision)
			out->applied = 1;
		else
			out->pending = 1;
	}
out:
	free(url);
	free(token);
	return 0;
}

void nodes_each_beacon(struct nodes *n,
		       void (*fn)(void *arg, const char *id, const Xdrop__V1__Beacon *b), void *arg)
{
	struct store_rev cur;
	int64_t now = clock_mono_ms();

	store_revision(n->store, &cur);
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->n; i++) {
		enum node_status st = derive(n, &n->v[i], &cur, now);

		if (n->v[i].beacon && st != NODE_OFFLINE && st != NODE_UNKNOWN)
			fn(arg, n->v[i].id, n->v[i].beacon);
	}
	pthread_mutex_unlock(&n->lock);
}

static void target_clear(struct node_target *t)
{
	free(t->id);
	free(t->name);
	free(t->addr);
	free(t->token);
	memset(t, 0, sizeof(*t));
}

void nodes_free_targets(struct node_target *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		target_clear(&v[i]);
	free(v);
}

/* Lock held: t made from s; false when out of memory or s has no address or token. */
static bool make_target(const struct node_state *s, enum node_status st, struct node_target *t)
{
	memset(t, 0, sizeof(*t));
	t->status = st;
	t->id = strdup(s->id);
	t->name = strdup(s->name);
	t->addr = addr_of(s) ? strdup(addr_of(s)) : NULL;
	t->token = make_token(s);
	t->silent_ms = s->seen ? clock_mono_ms() - s->seen_ms : -1;
	return t->id && t->name && t->addr && t->token;
}

int nodes_targets(struct nodes *n, const char *only, struct node_target **out, size_t *count)
{
	struct store_rev cur;
	int64_t now = clock_mono_ms();
	struct node_target *v;
	size_t k = 0;
	int err = 0;

	*out = NULL;
	*count = 0;
	store_revision(n->store, &cur);
	pthread_mutex_lock(&n->lock);
	v = calloc(n->n + 1, sizeof(*v));
	for (size_t i = 0; v && i < n->n; i++) {
		struct node_state *s = &n->v[i];
		enum node_status st = derive(n, s, &cur, now);

		if (only ? strcmp(s->id, only) != 0 : !reachable(st) || !addr_of(s))
			continue;
		/* the one node asked for is returned even unreachable: its status says why */
		if (make_target(s, st, &v[k]) || (only && v[k].id && v[k].name))
			k++;
		else
			target_clear(&v[k]);
	}
	pthread_mutex_unlock(&n->lock);
	if (!v)
		return -ENOMEM;
	if (only && !k)
		err = -ENOENT;
	if (err) {
		nodes_free_targets(v, k);
		return err;
	}
	*out = v;
	*count = k;
	return 0;
}

int nodes_ids(struct nodes *n, char ***out, size_t *count)
{
	char **v;
	size_t k = 0;

	pthread_mutex_lock(&n->lock);
	v = calloc(n->n + 1, sizeof(*v));
	for (size_t i = 0; v && i < n->n; i++)
		if (n->v[i].id && (v[k] = strdup(n->v[i].id)))
			k++;
	pthread_mutex_unlock(&n->lock);
	*out = v;
	*count = k;
	return v ? 0 : -ENOMEM;
}

void nodes_set_beacon_hook(struct nodes *n,
			   void (*fn)(void *arg, const char *id, const Xdrop__V1__Beacon *b),
			   void *arg)
{
	pthread_mutex_lock(&n->lock);
	n->hook = fn;
	n->hook_arg = arg;
	pthread_mutex_unlock(&n->lock);
}

struct store *nodes_store(struct nodes *n)
{
	return n->store;
}

int64_t nodes_health_timeout_ms(const struct nodes *n)
{
	return (int64_t)n->interval_ms * XDROP_NODE_OFFLINE_INTERVALS;
}

const struct tls_opts *nodes_tls(struct nodes *n)
{
	return n->have_tls ? &n->tls : NULL; /* set once by nodes_open: no lock needed */
}

uint64_t nodes_force_syncs(struct nodes *n, uint64_t *ok)
{
	uint64_t v;

	pthread_mutex_lock(&n->lock);
	v = n->forces;
	if (ok)
		*ok = n->forces_ok;
	pthread_mutex_unlock(&n->lock);
	return v;
}
