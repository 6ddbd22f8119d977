// SPDX-License-Identifier: MIT
/*
 * publish: deltas on commit and heartbeats on a timer; see publish.h. Both go through
 * one lock, and the heartbeat repeats the last published revision and hash (not a fresh
 * read of the store), so a heartbeat never overtakes a delta it would contradict.
 *
 * In a cluster only the leader publishes (store_publishing): a follower sends no heartbeat,
 * since its last published revision is older than the leader's and would tell an agent
 * that hears every controller it is behind or ahead. A controller that becomes the leader
 * first takes the store's revision and hash (its catch-up published what it missed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "publish.h"
#include "pubsub.h"
#include "ticker.h"

struct publish {
	struct store *st;
	struct pubsub_pub *pub;
	pthread_mutex_t lock;
	struct ticker *heartbeat; /* NULL until started */
	unsigned interval_ms;
	uint64_t revision;
	char hash[RULEHASH_HEX];
	bool leading; /* published the last heartbeat (false: a follower) */
};

static void on_commit(void *arg, const Xdrop__V1__Delta *d)
{
	struct publish *p = arg;
	int err;

	pthread_mutex_lock(&p->lock);
	err = pubsub_pub_delta(p->pub, d);
	if (err)
		log_warn("publish: delta %llu not sent: %s", (unsigned long long)d->revision,
			 strerror(-err));
	p->revision = d->revision;
	snprintf(p->hash, sizeof(p->hash), "%s", d->content_hash);
	pthread_mutex_unlock(&p->lock);
}

/* One heartbeat (a ticker call): the last published revision and hash, again. */
static void heartbeat(void *arg)
{
	struct publish *p = arg;
	Xdrop__V1__Delta hb = XDROP__V1__DELTA__INIT;
	struct store_rev rev;

	if (!store_publishing(p->st)) {
		p->leading = false;
		return;
	}
	if (!p->leading)
		store_revision(p->st, &rev);
	pthread_mutex_lock(&p->lock);
	if (!p->leading && rev.revision >= p->revision) {
		p->revision = rev.revision;
		memcpy(p->hash, rev.hash, sizeof(p->hash));
	}
	p->leading = true;
	hb.revision = hb.base_revision = p->revision;
	hb.content_hash = p->hash;
	hb.created_at = clock_wall_ns();
	pubsub_pub_delta(p->pub, &hb);
	pthread_mutex_unlock(&p->lock);
}

int publish_open(struct publish **out, struct store *st, const char *url,
		 const struct tls_opts *tls, unsigned interval_ms)
{
	struct pubsub_opts o = {.sz = sizeof(o), .url = url, .listen = true, .tls = tls};
	struct ticker_opts to = {
	    .sz = sizeof(to), .name = "xdrop-heartbeat", .first_now = true, .fn = heartbeat};
	struct store_rev rev;
	struct publish *p;
	int err;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->st = st;
	p->interval_ms = interval_ms ? interval_ms : XDROP_HEARTBEAT_MS;
	err = pubsub_pub_open(&p->pub, &o);
	if (err) {
		log_error("publish: cannot listen on %s: %s", url, strerror(-err));
		goto out;
	}
	/* the hook first, then the state it continues from: no commit falls in between */
	store_set_commit_hook(st, on_commit, p);
	pthread_mutex_lock(&p->lock);
	store_revision(st, &rev);
	if (!p->hash[0] || rev.revision > p->revision) {
		p->revision = rev.revision;
		memcpy(p->hash, rev.hash, sizeof(p->hash));
	}
	pthread_mutex_unlock(&p->lock);
	to.period_ms = p->interval_ms;
	to.arg = p;
	err = ticker_start(&p->heartbeat, &to);
out:
	if (err) {
		publish_close(p);
		return err;
	}
	*out = p;
	return 0;
}

uint64_t publish_sent(const struct publish *p)
{
	return pubsub_pub_sent(p->pub);
}

uint64_t publish_dropped(const struct publish *p)
{
	return pubsub_pub_dropped(p->pub);
}

void publish_close(struct publish *p)
{
	if (!p)
		return;
	if (p->pub)
		store_set_commit_hook(p->st, NULL, NULL);
	ticker_stop(p->heartbeat);
	pubsub_pub_close(p->pub);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
