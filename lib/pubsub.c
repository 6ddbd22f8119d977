// SPDX-License-Identifier: MIT
/*
 * pubsub: delta publication with revisions, the in-order delta subscriber, and signed
 * beacons (see pubsub.h for the protocol).
 *
 * The subscriber is a two-state machine guarded by one mutex:
 *   synced(applied)  -- delta with base == applied --> apply, synced(delta.revision)
 *                    -- delta with revision <= applied --> ignore (stale)
 *                    -- anything else, reconnect, failed apply --> waiting
 *   waiting(applied) -- delta --> buffer (sorted, bounded)
 *                    -- pubsub_sub_set_revision(r) --> synced(r), then drain the buffer
 * need_snapshot is raised by a flag under the lock and called after the lock is released,
 * so that the application may install the snapshot from inside the callback.
 *
 * Sockets are served by one receive thread per subscriber or collector. It waits with a
 * short timeout so that connection events (reported by nng on its own threads) and the
 * snapshot retry timer are handled on the same thread as frames.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "beaconsig.h"
#include "clock.h"
#include "closewatch.h"
#include "log.h"
#include "pubsub.h"

#define TICK_MS	  100 /* receive timeout: connection events and retries wait at most this */
#define BATCH_MAX 256 /* deltas handed to apply_batch at once; frames taken per receive */
#define HASH_MAX  128 /* content hash string, bytes with NUL */

/* ---- shared socket plumbing -------------------------------------------------------- */

struct endpoint {
	nng_socket sock;
	bool open;
	pthread_t thread;
	bool running;
	nng_aio *aio;
	void (*on_frame)(void *owner, const void *frame, size_t len);
	void (*on_tick)(void *owner);
	void *owner;
};

/* Opens the socket with the options every pub/sub socket shares; not yet connected. */
static int endpoint_open(struct endpoint *ep, int (*open_fn)(nng_socket *), size_t max_msg)
{
	int rv;

	rv = open_fn(&ep->sock);
	if (rv)
		return tls_nng_errno(rv);
	ep->open = true;
	rv = nng_socket_set_size(ep->sock, NNG_OPT_RECVMAXSZ, max_msg);
	if (!rv)
		rv = nng_socket_set_ms(ep->sock, NNG_OPT_RECONNMINT, 20);
	if (!rv)
		rv = nng_socket_set_ms(ep->sock, NNG_OPT_RECONNMAXT, 1000);
	return tls_nng_errno(rv);
}

/* Listens or dials, after the caller has set subscriptions and pipe callbacks. A dialing
 * socket takes several addresses joined by commas (the controllers of a cluster) and
 * dials each: a subscriber hears every publisher, a beacon goes to every collector. */
static int endpoint_connect(struct endpoint *ep, const struct pubsub_opts *o)
{
	char url[512]; /* one address of the list */
	const char *p = o->url, *end;
	int err = 0;

	if (o->listen)
		return tls_listen(ep->sock, o->url, o->tls, NULL);
	for (; !err && *p; p = *end ? end + 1 : end) {
		end = strchr(p, ',');
		end = end ? end : p + strlen(p);
		if ((size_t)(end - p) >= sizeof(url))
			return -ENAMETOOLONG;
		memcpy(url, p, (size_t)(end - p));
		url[end - p] = 0;
		if (url[0])
			err = tls_dial(ep->sock, url, o->tls, NULL);
	}
	return err;
}

static void *endpoint_main(void *arg)
{
	struct endpoint *ep = arg;
	nng_msg *msg;
	int rv;

	for (;;) {
		nng_aio_set_timeout(ep->aio, TICK_MS);
		nng_recv_aio(ep->sock, ep->aio);
		nng_aio_wait(ep->aio);
		rv = nng_aio_result(ep->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		/* then the frames already waiting, without waiting: a subscriber applies the
		 * deltas among them together (apply_batch) in its tick */
		for (int i = 0; !rv; i++) {
			msg = i ? msg : nng_aio_get_msg(ep->aio);
			ep->on_frame(ep->owner, nng_msg_body(msg), nng_msg_len(msg));
			nng_msg_free(msg);
			if (i + 1 == BATCH_MAX)
				break;
			rv = nng_recvmsg(ep->sock, &msg, NNG_FLAG_NONBLOCK);
		}
		if (ep->on_tick)
			ep->on_tick(ep->owner);
	}
	return NULL;
}

static int endpoint_start(struct endpoint *ep)
{
	int rv = nng_aio_alloc(&ep->aio, NULL, NULL);

	if (rv)
		return tls_nng_errno(rv);
	rv = pthread_create(&ep->thread, NULL, endpoint_main, ep);
	if (rv)
		return -rv;
	ep->running = true;
	return 0;
}

static void endpoint_close(struct endpoint *ep)
{
	/* Stop the receive aio (the thread then ends with NNG_ECANCELED) before closing the
	 * socket: closing a socket while a receive with a timeout is pending races with
	 * nng 1.5's expire thread, which can then lock the closed socket's freed mutex. */
	if (ep->running) {
		nng_aio_stop(ep->aio);
		pthread_join(ep->thread, NULL);
	}
	ep->running = false;
	if (ep->open)
		closewatch_close(ep->sock);
	ep->open = false;
	if (ep->aio)
		nng_aio_free(ep->aio);
	ep->aio = NULL;
}

/* ---- publisher --------------------------------------------------------------------- */

struct pubsub_pub {
	struct endpoint ep;
	size_t max_msg;
	unsigned drop_every;
	_Atomic uint64_t seq;
	_Atomic uint64_t sent;
	_Atomic uint64_t dropped;
	_Atomic int peers;
};

static void pub_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct pubsub_pub *p = arg;

	(void)pipe;
	atomic_fetch_add(&p->peers, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

int pubsub_pub_open(struct pubsub_pub **out, const struct pubsub_opts *opts)
{
	struct pubsub_pub *p = NULL;
	const char *fault;
	int err = 0;

	if (!out || !opts || opts->sz < sizeof(*opts) || !opts->url)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->max_msg = opts->max_msg ? opts->max_msg : XDROP_PUBSUB_MAX_MSG;
	fault = getenv(XDROP_FAULT_DROP_ENV);
	if (fault && atoi(fault) > 0) {
		p->drop_every = (unsigned)atoi(fault);
		log_warn("pubsub: fault hook active: dropping every %u-th message on %s",
			 p->drop_every, opts->url);
	}
	err = endpoint_open(&p->ep, nng_pub0_open, p->max_msg);
	if (err)
		goto out;
	nng_pipe_notify(p->ep.sock, NNG_PIPE_EV_ADD_POST, pub_pipe_cb, p);
	nng_pipe_notify(p->ep.sock, NNG_PIPE_EV_REM_POST, pub_pipe_cb, p);
	err = endpoint_connect(&p->ep, opts);
	if (err)
		goto out;
	*out = p;
	p = NULL;
out:
	pubsub_pub_close(p);
	return err;
}

/* Sends a ready frame (topic included), applying the fault hook. Takes no ownership. */
static int pub_send_frame(struct pubsub_pub *p, const void *frame, size_t len)
{
	uint64_t n = atomic_fetch_add(&p->seq, 1) + 1;
	int rv;

	if (len > p->max_msg)
		return -EMSGSIZE;
	if (p->drop_every && n % p->drop_every == 0) {
		atomic_fetch_add(&p->dropped, 1);
		return 0;
	}
	rv = nng_send(p->ep.sock, (void *)frame, len, 0);
	if (rv)
		return tls_nng_errno(rv);
	atomic_fetch_add(&p->sent, 1);
	return 0;
}

int pubsub_pub_send(struct pubsub_pub *p, const char *topic, const ProtobufCMessage *msg)
{
	size_t tlen, mlen;
	uint8_t *buf;
	int err;

	if (!p || !topic || !msg)
		return -EINVAL;
	tlen = strlen(topic);
	mlen = protobuf_c_message_get_packed_size(msg);
	if (tlen + mlen > p->max_msg)
		return -EMSGSIZE;
	buf = malloc(tlen + mlen + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, topic, tlen);
	protobuf_c_message_pack(msg, buf + tlen);
	err = pub_send_frame(p, buf, tlen + mlen);
	free(buf);
	return err;
}

int pubsub_pub_delta(struct pubsub_pub *p, const Xdrop__V1__Delta *d)
{
	return pubsub_pub_send(p, XDROP_TOPIC_DELTA, d ? &d->base : NULL);
}

int pubsub_beacon_frame(const Xdrop__V1__Beacon *b, const uint8_t *key, size_t keylen,
			uint8_t **frame, size_t *len)
{
	const size_t tlen = strlen(XDROP_TOPIC_BEACON);
	uint8_t *signed_b = NULL, *buf;
	size_t slen = 0;
	int err;

	err = beaconsig_sign(b, key, keylen, &signed_b, &slen);
	if (err)
		return err;
	buf = malloc(tlen + slen);
	if (!buf) {
		free(signed_b);
		return -ENOMEM;
	}
	memcpy(buf, XDROP_TOPIC_BEACON, tlen);
	memcpy(buf + tlen, signed_b, slen);
	free(signed_b);
	*frame = buf;
	*len = tlen + slen;
	return 0;
}

int pubsub_pub_beacon(struct pubsub_pub *p, const Xdrop__V1__Beacon *b, const uint8_t *key,
		      size_t keylen)
{
	uint8_t *frame = NULL;
	size_t len = 0;
	int err;

	if (!p)
		return -EINVAL;
	err = pubsub_beacon_frame(b, key, keylen, &frame, &len);
	if (!err)
		err = pub_send_frame(p, frame, len);
	free(frame);
	return err;
}

int pubsub_pub_peers(const struct pubsub_pub *p)
{
	return atomic_load(&p->peers);
}

uint64_t pubsub_pub_sent(const struct pubsub_pub *p)
{
	return atomic_load(&p->sent);
}

uint64_t pubsub_pub_dropped(const struct pubsub_pub *p)
{
	return atomic_load(&p->dropped);
}

void pubsub_pub_close(struct pubsub_pub *p)
{
	if (!p)
		return;
	endpoint_close(&p->ep);
	free(p);
}

/* ---- delta subscriber -------------------------------------------------------------- */

struct pubsub_sub {
	struct endpoint ep;
	struct pubsub_sub_ops ops;
	size_t max_msg;
	atomic_bool connected; /* set by nng's pipe callback, consumed by the tick */

	pthread_mutex_t lock;
	bool synced;
	uint64_t applied_rev;
	char hash[HASH_MAX];
	uint64_t seen;
	bool notify;			  /* need_snapshot to be called */
	bool notifying;			  /* need_snapshot is running */
	enum pubsub_resync_reason reason; /* ... for this reason */
	int64_t waiting_since;		  /* ms, when notify was last raised */
	Xdrop__V1__Delta **pending;	  /* sorted by revision, unique */
	size_t n_pending;
	/* deltas that continue the applied revision, each the one before, waiting for one
	 * apply_batch call (only while synced) */
	Xdrop__V1__Delta *ready[BATCH_MAX];
	size_t n_ready;
	struct pubsub_sub_stats st;
	/* redial on silence (step 1 of the recovery timeline, lib/recovery.h): a dialing
	 * subscriber that hears nothing, not even the once-a-second heartbeat, for
	 * XDROP_PUBSUB_SILENCE_MS opens a fresh socket and dials again (a stalled or
	 * half-open pipe is otherwise never noticed) */
	char *url;
	struct tls_opts tls;
	bool has_tls;
	atomic_llong last_frame_ms;
};

static const char *const reason_names[] = {
    [PUBSUB_RESYNC_CONNECT] = "connect",
    [PUBSUB_RESYNC_GAP] = "gap",
    [PUBSUB_RESYNC_BEHIND] = "behind",
    [PUBSUB_RESYNC_HASH] = "hash mismatch",
    [PUBSUB_RESYNC_APPLY_FAILED] = "apply failed",
    [PUBSUB_RESYNC_OVERFLOW] = "overflow",
    [PUBSUB_RESYNC_RETRY] = "retry",
    [PUBSUB_RESYNC_FORCED] = "forced",
};

const char *pubsub_resync_reason_name(enum pubsub_resync_reason why)
{
	if ((unsigned)why >= sizeof(reason_names) / sizeof(reason_names[0]))
		return "unknown";
	return reason_names[why];
}

/* Lock held. Leaves the synced state (if in it) and raises need_snapshot. */
static void sub_wait_snapshot(struct pubsub_sub *s, enum pubsub_resync_reason why)
{
	s->synced = false;
	s->notify = true;
	s->reason = why;
	s->waiting_since = clock_mono_ms();
	if (why == PUBSUB_RESYNC_GAP || why == PUBSUB_RESYNC_BEHIND)
		s->st.gaps++;
}

/*
 * Lock not held. Calls need_snapshot if it was raised. Never re-enters it: a resync raised
 * while it runs (say, the snapshot it installed does not reach the buffered deltas) stays
 * raised for the next frame or tick, so a stale snapshot source cannot recurse forever.
 */
static void sub_flush_notify(struct pubsub_sub *s)
{
	enum pubsub_resync_reason why;
	uint64_t applied, seen;
	bool notify;

	pthread_mutex_lock(&s->lock);
	notify = s->notify && !s->notifying;
	why = s->reason;
	applied = s->applied_rev;
	seen = s->seen;
	if (notify) {
		s->notify = false;
		s->notifying = true;
		s->st.resyncs++;
	}
	pthread_mutex_unlock(&s->lock);
	if (!notify)
		return;
	log_info("pubsub: need snapshot (%s): applied %llu, seen %llu",
		 pubsub_resync_reason_name(why), (unsigned long long)applied,
		 (unsigned long long)seen);
	if (s->ops.need_snapshot)
		s->ops.need_snapshot(s->ops.arg, why, applied, seen);
	/* the callback ran on this thread (a large snapshot takes seconds to fetch): nothing
	 * could be received meanwhile, so silence counts from now, not from the last frame */
	atomic_store(&s->last_frame_ms, clock_mono_ms());
	pthread_mutex_lock(&s->lock);
	s->notifying = false;
	pthread_mutex_unlock(&s->lock);
}

static void sub_clear_pending(struct pubsub_sub *s)
{
	for (size_t i = 0; i < s->n_pending; i++)
		xdrop__v1__delta__free_unpacked(s->pending[i], NULL);
	s->n_pending = 0;
}

/* Lock held. Buffers d while waiting; returns true when s took ownership of d. */
static bool sub_buffer(struct pubsub_sub *s, Xdrop__V1__Delta *d)
{
	size_t i;

	if (d->revision <= s->applied_rev) {
		s->st.stale++;
		return false;
	}
	if (s->n_pending == XDROP_PUBSUB_MAX_PENDING) {
		/* The snapshot to come will be newer than most of these anyway. */
		sub_clear_pending(s);
		s->st.overflows++;
		sub_wait_snapshot(s, PUBSUB_RESYNC_OVERFLOW);
	}
	for (i = s->n_pending; i > 0 && s->pending[i - 1]->revision > d->revision; i--)
		;
	if (i > 0 && s->pending[i - 1]->revision == d->revision) {
		s->st.stale++;
		return false;
	}
	memmove(&s->pending[i + 1], &s->pending[i], (s->n_pending - i) * sizeof(*s->pending));
	s->pending[i] = d;
	s->n_pending++;
	return true;
}

/* Lock held. Applies d on top of the applied revision; false on failure (now waiting). */
static bool sub_apply(struct pubsub_sub *s, const Xdrop__V1__Delta *d)
{
	int err = s->ops.apply ? s->ops.apply(s->ops.arg, d) : 0;

	if (err) {
		log_warn("pubsub: applying delta %llu failed: %s", (unsigned long long)d->revision,
			 strerror(-err));
		sub_wait_snapshot(s, PUBSUB_RESYNC_APPLY_FAILED);
		return false;
	}
	s->applied_rev = d->revision;
	snprintf(s->hash, sizeof(s->hash), "%s", d->content_hash);
	s->st.applied++;
	return true;
}

/* The revision the next delta must continue: the last ready one's, or the applied. */
static uint64_t sub_tip(const struct pubsub_sub *s)
{
	return s->n_ready ? s->ready[s->n_ready - 1]->revision : s->applied_rev;
}

/* Lock held. Applies the ready deltas in one apply_batch call. */
static void sub_flush_ready(struct pubsub_sub *s)
{
	size_t n = s->n_ready, done = 0;
	int err;

	if (!n)
		return;
	err = s->ops.apply_batch(s->ops.arg, s->ready, n, &done);
	for (size_t i = 0; i < done && i < n; i++) {
		s->applied_rev = s->ready[i]->revision;
		snprintf(s->hash, sizeof(s->hash), "%s", s->ready[i]->content_hash);
		s->st.applied++;
	}
	if (err || done < n) {
		log_warn("pubsub: applying delta %llu failed: %s",
			 (unsigned long long)s->ready[done < n ? done : n - 1]->revision,
			 strerror(err ? -err : EIO));
		sub_wait_snapshot(s, PUBSUB_RESYNC_APPLY_FAILED);
	}
	for (size_t i = 0; i < n; i++)
		xdrop__v1__delta__free_unpacked(s->ready[i], NULL);
	s->n_ready = 0;
}

/* Lock held. Takes d (continuing the tip) for the next apply_batch; false when it did not
 * (no batch callback, a full batch whose apply failed, or d does not continue). */
static bool sub_ready_push(struct pubsub_sub *s, Xdrop__V1__Delta *d)
{
	if (!s->ops.apply_batch)
		return false;
	if (s->n_ready == BATCH_MAX)
		sub_flush_ready(s);
	if (!s->synced || d->base_revision != sub_tip(s))
		return false;
	s->ready[s->n_ready++] = d;
	return true;
}

/* Lock held. Applies buffered deltas that continue the applied revision. */
static void sub_drain(struct pubsub_sub *s)
{
	size_t i = 0;

	while (s->synced && i < s->n_pending) {
		Xdrop__V1__Delta *d = s->pending[i];

		if (d->revision <= sub_tip(s)) {
			s->st.stale++;
			xdrop__v1__delta__free_unpacked(d, NULL);
		} else if (sub_ready_push(s, d)) {
			/* applied with the batch */
		} else if (s->synced && d->base_revision == sub_tip(s)) {
			sub_apply(s, d);
			xdrop__v1__delta__free_unpacked(d, NULL);
		} else {
			if (s->synced)
				sub_wait_snapshot(s, PUBSUB_RESYNC_GAP);
			break;
		}
		i++;
	}
	memmove(s->pending, &s->pending[i], (s->n_pending - i) * sizeof(*s->pending));
	s->n_pending -= i;
	sub_flush_ready(s);
}

/* Lock held. The state machine for one decoded delta; returns true if s kept d. */
static bool sub_handle(struct pubsub_sub *s, Xdrop__V1__Delta *d)
{
	bool heartbeat = d->n_ops == 0 && d->base_revision == d->revision;

	s->st.received++;
	if (d->revision > s->seen)
		s->seen = d->revision;
	if (!heartbeat && s->synced && d->revision > sub_tip(s) && sub_ready_push(s, d))
		return true;
	sub_flush_ready(s);
	if (heartbeat) {
		s->st.heartbeats++;
		if (!s->synced)
			return false;
		if (d->revision > s->applied_rev)
			sub_wait_snapshot(s, PUBSUB_RESYNC_BEHIND);
		else if (d->revision == s->applied_rev && d->content_hash[0] && s->hash[0] &&
			 strcmp(d->content_hash, s->hash) != 0)
			sub_wait_snapshot(s, PUBSUB_RESYNC_HASH);
		return false;
	}
	if (!s->synced)
		return sub_buffer(s, d);
	if (d->revision <= s->applied_rev) {
		s->st.stale++;
		return false;
	}
	if (d->base_revision != s->applied_rev) {
		sub_wait_snapshot(s, PUBSUB_RESYNC_GAP);
		return sub_buffer(s, d);
	}
	sub_apply(s, d);
	return false;
}

/* One frame; ready deltas stay ready until the next flush. */
static int sub_feed(struct pubsub_sub *s, const void *frame, size_t len, bool flush)
{
	const size_t tlen = strlen(XDROP_TOPIC_DELTA);
	Xdrop__V1__Delta *d = NULL;
	bool kept;

	if (len >= tlen && memcmp(frame, XDROP_TOPIC_DELTA, tlen) == 0 && len <= s->max_msg)
		d = xdrop__v1__delta__unpack(NULL, len - tlen, (const uint8_t *)frame + tlen);
	/* A delta that moves nowhere, or backwards, is as useless as an undecodable one. */
	if (d && (strlen(d->content_hash) >= HASH_MAX ||
		  (d->n_ops && d->base_revision >= d->revision))) {
		xdrop__v1__delta__free_unpacked(d, NULL);
		d = NULL;
	}
	pthread_mutex_lock(&s->lock);
	if (!d) {
		s->st.malformed++;
		pthread_mutex_unlock(&s->lock);
		return -EBADMSG;
	}
	kept = sub_handle(s, d);
	if (flush)
		sub_flush_ready(s);
	pthread_mutex_unlock(&s->lock);
	if (!kept)
		xdrop__v1__delta__free_unpacked(d, NULL);
	sub_flush_notify(s);
	return 0;
}

int pubsub_sub_feed(struct pubsub_sub *s, const void *frame, size_t len)
{
	return sub_feed(s, frame, len, true);
}

/* The receive thread's frames: deltas that continue each other wait in ready for the
 * tick after the frames waiting on the socket (endpoint_main), applied as one batch. */
static void sub_on_frame(void *owner, const void *frame, size_t len)
{
	struct pubsub_sub *s = owner;

	atomic_store(&s->last_frame_ms, clock_mono_ms());
	if (sub_feed(owner, frame, len, false))
		log_debug("pubsub: ignored a malformed delta frame of %zu bytes", len);
}

static int sub_socket(struct pubsub_sub *s);

/* Runs on the endpoint thread between receives, so the socket may be replaced here. */
static void sub_redial_if_silent(struct pubsub_sub *s)
{
	struct pubsub_opts o = {.sz = sizeof(o), .url = s->url, .tls = s->has_tls ? &s->tls : NULL};
	int err;

	if (!s->url || clock_mono_ms() - atomic_load(&s->last_frame_ms) < XDROP_PUBSUB_SILENCE_MS)
		return;
	atomic_store(&s->last_frame_ms, clock_mono_ms());
	log_warn("pubsub: nothing from %s for %d ms: dialing again", s->url,
		 XDROP_PUBSUB_SILENCE_MS);
	if (s->ep.open)
		closewatch_close(s->ep.sock);
	s->ep.open = false;
	err = sub_socket(s);
	if (!err)
		err = endpoint_connect(&s->ep, &o);
	if (err)
		log_warn("pubsub: dialing %s again failed: %s", s->url, strerror(-err));
}

static void sub_on_tick(void *owner)
{
	struct pubsub_sub *s = owner;

	pthread_mutex_lock(&s->lock);
	sub_flush_ready(s);
	pthread_mutex_unlock(&s->lock);
	sub_redial_if_silent(s);
	pthread_mutex_lock(&s->lock);
	if (atomic_exchange(&s->connected, false))
		sub_wait_snapshot(s, PUBSUB_RESYNC_CONNECT);
	else if (!s->synced && !s->notify &&
		 clock_mono_ms() - s->waiting_since >= XDROP_PUBSUB_RESYNC_RETRY_MS)
		sub_wait_snapshot(s, PUBSUB_RESYNC_RETRY);
	pthread_mutex_unlock(&s->lock);
	sub_flush_notify(s);
}

static void sub_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct pubsub_sub *s = arg;

	(void)pipe;
	(void)ev;
	atomic_store(&s->connected, true);
}

/* A fresh SUB socket with the delta subscription and the connect notification. */
static int sub_socket(struct pubsub_sub *s)
{
	int rv, err = endpoint_open(&s->ep, nng_sub0_open, s->max_msg);

	if (err)
		return err;
	rv = nng_socket_set(s->ep.sock, NNG_OPT_SUB_SUBSCRIBE, XDROP_TOPIC_DELTA,
			    strlen(XDROP_TOPIC_DELTA));
	if (!rv)
		rv = nng_socket_set_int(s->ep.sock, NNG_OPT_RECVBUF, XDROP_PUBSUB_RECVBUF);
	if (!rv)
		rv = nng_pipe_notify(s->ep.sock, NNG_PIPE_EV_ADD_POST, sub_pipe_cb, s);
	return tls_nng_errno(rv);
}

int pubsub_sub_open(struct pubsub_sub **out, const struct pubsub_opts *opts,
		    const struct pubsub_sub_ops *ops, uint64_t revision, const char *hash)
{
	struct pubsub_sub *s = NULL;
	int err = 0;

	if (!out || !opts || opts->sz < sizeof(*opts) || !ops)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->ops = *ops;
	s->max_msg = opts->max_msg ? opts->max_msg : XDROP_PUBSUB_MAX_MSG;
	s->synced = true;
	s->applied_rev = revision;
	s->seen = revision;
	snprintf(s->hash, sizeof(s->hash), "%s", hash ? hash : "");
	s->pending = calloc(XDROP_PUBSUB_MAX_PENDING, sizeof(*s->pending));
	if (!s->pending) {
		err = -ENOMEM;
		goto out;
	}
	if (opts->url) {
		err = sub_socket(s);
		if (err)
			goto out;
		if (!opts->listen) {
			s->url = strdup(opts->url);
			if (!s->url) {
				err = -ENOMEM;
				goto out;
			}
			if (opts->tls) {
				s->tls = *opts->tls;
				s->has_tls = true;
			}
			atomic_store(&s->last_frame_ms, clock_mono_ms());
		}
		err = endpoint_connect(&s->ep, opts);
		if (err)
			goto out;
		s->ep.on_frame = sub_on_frame;
		s->ep.on_tick = sub_on_tick;
		s->ep.owner = s;
		err = endpoint_start(&s->ep);
		if (err)
			goto out;
	}
	*out = s;
	s = NULL;
out:
	pubsub_sub_close(s);
	return err;
}

int pubsub_sub_set_revision(struct pubsub_sub *s, uint64_t revision, const char *hash)
{
	pthread_mutex_lock(&s->lock);
	sub_flush_ready(s);
	s->synced = true;
	s->notify = false;
	s->applied_rev = revision;
	if (revision > s->seen)
		s->seen = revision;
	snprintf(s->hash, sizeof(s->hash), "%s", hash ? hash : "");
	sub_drain(s);
	pthread_mutex_unlock(&s->lock);
	sub_flush_notify(s);
	return 0;
}

void pubsub_sub_resync(struct pubsub_sub *s)
{
	pthread_mutex_lock(&s->lock);
	sub_flush_ready(s);
	sub_wait_snapshot(s, PUBSUB_RESYNC_FORCED);
	pthread_mutex_unlock(&s->lock);
	sub_flush_notify(s);
}

void pubsub_sub_get_stats(struct pubsub_sub *s, struct pubsub_sub_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	out->revision = s->applied_rev;
	out->synced = s->synced;
	pthread_mutex_unlock(&s->lock);
}

void pubsub_sub_close(struct pubsub_sub *s)
{
	if (!s)
		return;
	endpoint_close(&s->ep);
	for (size_t i = 0; i < s->n_ready; i++)
		xdrop__v1__delta__free_unpacked(s->ready[i], NULL);
	if (s->pending)
		sub_clear_pending(s);
	free(s->pending);
	free(s->url);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- beacon collector -------------------------------------------------------------- */

struct pubsub_collector {
	struct endpoint ep;
	struct pubsub_collector_ops ops;
	size_t max_msg;
	pthread_mutex_t lock; /* stats and serialized delivery */
	struct pubsub_collector_stats st;
};

static int collector_verify(struct pubsub_collector *c, const void *frame, size_t len)
{
	const size_t tlen = strlen(XDROP_TOPIC_BEACON);
	Xdrop__V1__Beacon *b = NULL;
	int err;

	if (len < tlen || len > c->max_msg || memcmp(frame, XDROP_TOPIC_BEACON, tlen) != 0)
		return -EBADMSG;
	err =
	    beaconsig_verify((const uint8_t *)frame + tlen, len - tlen, c->ops.key, c->ops.arg, &b);
	if (!err && c->ops.beacon)
		c->ops.beacon(c->ops.arg, b);
	xdrop__v1__beacon__free_unpacked(b, NULL);
	return err;
}

int pubsub_collector_feed(struct pubsub_collector *c, const void *frame, size_t len)
{
	int err;

	pthread_mutex_lock(&c->lock);
	c->st.received++;
	err = collector_verify(c, frame, len);
	if (!err)
		c->st.accepted++;
	else if (err == -ENOENT)
		c->st.unknown_node++;
	else if (err == -EACCES)
		c->st.bad_proof++;
	else
		c->st.malformed++;
	pthread_mutex_unlock(&c->lock);
	return err;
}

static void collector_on_frame(void *owner, const void *frame, size_t len)
{
	int err = pubsub_collector_feed(owner, frame, len);

	if (err)
		log_debug("pubsub: beacon rejected: %s", strerror(-err));
}

int pubsub_collector_open(struct pubsub_collector **out, const struct pubsub_opts *opts,
			  const struct pubsub_collector_ops *ops)
{
	struct pubsub_collector *c = NULL;
	int rv, err = 0;

	if (!out || !opts || opts->sz < sizeof(*opts) || !ops)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->ops = *ops;
	/* anyone who reaches the health port can send to it, and the SUB socket queues
	 * XDROP_PUBSUB_RECVBUF frames: a beacon is a few kB, so the limit is small */
	c->max_msg = opts->max_msg ? opts->max_msg : XDROP_BEACON_MAX_MSG;
	if (c->max_msg > XDROP_BEACON_MAX_MSG)
		c->max_msg = XDROP_BEACON_MAX_MSG;
	if (opts->url) {
		err = endpoint_open(&c->ep, nng_sub0_open, c->max_msg);
		if (err)
			goto out;
		rv = nng_socket_set(c->ep.sock, NNG_OPT_SUB_SUBSCRIBE, XDROP_TOPIC_BEACON,
				    strlen(XDROP_TOPIC_BEACON));
		if (!rv)
			rv = nng_socket_set_int(c->ep.sock, NNG_OPT_RECVBUF, XDROP_PUBSUB_RECVBUF);
		if (rv) {
			err = tls_nng_errno(rv);
			goto out;
		}
		err = endpoint_connect(&c->ep, opts);
		if (err)
			goto out;
		c->ep.on_frame = collector_on_frame;
		c->ep.owner = c;
		err = endpoint_start(&c->ep);
		if (err)
			goto out;
	}
	*out = c;
	c = NULL;
out:
	pubsub_collector_close(c);
	return err;
}

void pubsub_collector_get_stats(struct pubsub_collector *c, struct pubsub_collector_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	pthread_mutex_unlock(&c->lock);
}

void pubsub_collector_close(struct pubsub_collector *c)
{
	if (!c)
		return;
	endpoint_close(&c->ep);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
