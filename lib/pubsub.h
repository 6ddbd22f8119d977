/* SPDX-License-Identifier: MIT */
/*
 * pubsub: revisioned rule pushes and signed health beacons over nng PUB/SUB.
 *
 * A frame is a topic prefix followed by one serialized protobuf message:
 *   "delta:"  + xdrop.v1.Delta         controller -> agents (controller PUB listens)
 *   "beacon:" + xdrop.v1.SignedBeacon  agents -> controller (controller SUB listens)
 *
 * The delta subscriber keeps the applied revision. A delta whose base_revision equals it is
 * handed to the application's apply callback; an older one is ignored; anything else is a
 * gap. A heartbeat (a delta without ops whose base_revision equals its revision) that is
 * ahead of the applied revision, or at it with another content hash, also means the node
 * is behind. On a gap, a (re)connection, a failed apply or a buffer overflow the subscriber
 * calls need_snapshot once, buffers later deltas (at most XDROP_PUBSUB_MAX_PENDING), and
 * waits for pubsub_sub_set_revision() with the revision of the snapshot the application
 * installed; it then applies the buffered deltas that follow it, in revision order.
 *
 * PUB/SUB may drop messages (slow subscribers, reconnects); the revision protocol is what
 * makes that safe. A fault hook for tests: when the environment variable
 * XDROP_FAULT_DROP_EVERY_N is set to N > 0 when a publisher opens, it silently skips every
 * Nth message it is asked to send.
 *
 * Beacons are authenticated by lib/beaconsig (a SignedBeacon: HMAC-SHA256 over the
 * serialized Beacon with the node's beacon key); this module frames them with their topic,
 * sends them, and has the collector verify each one before the application sees it.
 */
#ifndef XDROP_PUBSUB_H
#define XDROP_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "beaconsig.h" /* XDROP_BEACON_MAX_KEY */
#include "recovery.h"  /* XDROP_PUBSUB_SILENCE_MS, XDROP_PUBSUB_RESYNC_RETRY_MS */
#include "tls.h"
#include "xdrop.pb-c.h"

#define XDROP_TOPIC_DELTA    "delta:"
#define XDROP_TOPIC_BEACON   "beacon:"
#define XDROP_PUBSUB_MAX_MSG (16u * 1024 * 1024) /* default frame limit */
#define XDROP_BEACON_MAX_MSG                                                                       \
	(64u * 1024)		      /* a beacon frame, topic included: the health port's limit */
#define XDROP_PUBSUB_MAX_PENDING 4096 /* deltas buffered while waiting for a snapshot */
#define XDROP_PUBSUB_RECVBUF	 1024 /* messages queued in a SUB socket */
#define XDROP_FAULT_DROP_ENV	 "XDROP_FAULT_DROP_EVERY_N"

struct pubsub_opts {
	size_t sz;		    /* sizeof(struct pubsub_opts) */
	const char *url;	    /* NULL: no socket (the *_feed functions only) */
	bool listen;		    /* listen on url instead of dialing it */
	size_t max_msg;		    /* frame limit; 0 = XDROP_PUBSUB_MAX_MSG */
	const struct tls_opts *tls; /* for tls+tcp:// URLs */
};

/* ---- publisher --------------------------------------------------------------------- */

struct pubsub_pub;

/* Opens a PUB socket on opts->url. Returns 0 and *out (pubsub_pub_close), or -errno. */
int pubsub_pub_open(struct pubsub_pub **out, const struct pubsub_opts *opts);

/*
 * Publishes topic + msg. Never blocks: PUB drops for peers that are not keeping up.
 * Returns 0 (also when the fault hook skipped it), -EMSGSIZE above max_msg, or -errno.
 * Thread-safe.
 */
int pubsub_pub_send(struct pubsub_pub *p, const char *topic, const ProtobufCMessage *msg);

/* Publishes d on XDROP_TOPIC_DELTA. */
int pubsub_pub_delta(struct pubsub_pub *p, const Xdrop__V1__Delta *d);

/*
 * Signs b with key (keylen 1..XDROP_BEACON_MAX_KEY bytes) and publishes it on
 * XDROP_TOPIC_BEACON. Returns 0, -EINVAL for a bad key or a beacon without node_id.
 */
int pubsub_pub_beacon(struct pubsub_pub *p, const Xdrop__V1__Beacon *b, const uint8_t *key,
		      size_t keylen);

/* Connected peers right now. */
int pubsub_pub_peers(const struct pubsub_pub *p);

/* Messages sent and messages skipped by the fault hook since open. */
uint64_t pubsub_pub_sent(const struct pubsub_pub *p);
uint64_t pubsub_pub_dropped(const struct pubsub_pub *p);

/* Closes the socket and frees p. NULL is fine. */
void pubsub_pub_close(struct pubsub_pub *p);

/*
 * Builds the signed beacon frame (topic included) into *frame (free()) of *len bytes.
 * Returns 0 or -EINVAL / -ENOMEM. pubsub_pub_beacon uses it; so can other transports.
 */
int pubsub_beacon_frame(const Xdrop__V1__Beacon *b, const uint8_t *key, size_t keylen,
			uint8_t **frame, size_t *len);

/* ---- delta subscriber -------------------------------------------------------------- */

struct pubsub_sub;

enum pubsub_resync_reason {
	PUBSUB_RESYNC_CONNECT,	    /* connected or reconnected to the publisher */
	PUBSUB_RESYNC_GAP,	    /* a delta does not follow the applied revision */
	PUBSUB_RESYNC_BEHIND,	    /* a heartbeat is ahead of the applied revision */
	PUBSUB_RESYNC_HASH,	    /* same revision, different content hash */
	PUBSUB_RESYNC_APPLY_FAILED, /* the apply callback returned an error */
	PUBSUB_RESYNC_OVERFLOW,	    /* too many deltas buffered while waiting */
	PUBSUB_RESYNC_RETRY,	    /* no snapshot installed within the retry time */
	PUBSUB_RESYNC_FORCED,	    /* pubsub_sub_resync() */
};

const char *pubsub_resync_reason_name(enum pubsub_resync_reason why);

struct pubsub_sub_ops {
	/*
	 * Applies d, whose base_revision is the applied revision. Returns 0, or a negative
	 * errno, which makes the subscriber ask for a snapshot (return -EBADMSG when the
	 * content hash after applying differs from d->content_hash). Called with the
	 * subscriber's lock held: must not call pubsub_sub_* functions. d is borrowed.
	 */
	int (*apply)(void *arg, const Xdrop__V1__Delta *d);
	/*
	 * Optional: applies ds[0..n), each continuing the one before it (the first the
	 * applied revision), as apply would one by one; *applied is how many of them, from
	 * the first, are applied. Returns 0 or the first failure's error (then *applied < n).
	 * Deltas that arrive together (waiting on the socket, or buffered during a snapshot)
	 * are handed over together, so the application can apply them in one switch. Same
	 * locking rules as apply; the deltas are borrowed.
	 */
	int (*apply_batch)(void *arg, Xdrop__V1__Delta *const *ds, size_t n, size_t *applied);
	/*
	 * Deltas cannot continue: fetch a snapshot (SyncService.GetSnapshot) and call
	 * pubsub_sub_set_revision() once it is installed; may do so from inside this callback
	 * or later from any thread. Called without locks held, once per resync (again after
	 * XDROP_PUBSUB_RESYNC_RETRY_MS without a snapshot), never re-entered: a resync raised
	 * while it runs is reported at the next frame or receive tick (100 ms). applied is the
	 * applied revision, seen the newest revision seen on the wire.
	 */
	void (*need_snapshot)(void *arg, enum pubsub_resync_reason why, uint64_t applied,
			      uint64_t seen);
	void *arg;
};

struct pubsub_sub_stats {
	uint64_t revision; /* applied */
	bool synced;	   /* false while waiting for a snapshot */
	uint64_t received; /* delta frames, heartbeats included */
	uint64_t applied;  /* deltas applied */
	uint64_t stale;	   /* deltas at or below the applied revision, ignored */
	uint64_t heartbeats;
	uint64_t gaps;	    /* resyncs for GAP or BEHIND */
	uint64_t resyncs;   /* need_snapshot calls */
	uint64_t malformed; /* frames that did not decode */
	uint64_t overflows;
};

/*
 * Opens a subscriber at the given applied revision and content hash (0 and NULL for an
 * empty node) and, when opts->url is set, subscribes to XDROP_TOPIC_DELTA and starts a
 * receive thread; callbacks then run on that thread. A dialing subscriber that hears
 * nothing for XDROP_PUBSUB_SILENCE_MS (the publisher sends a heartbeat every second)
 * dials again on a fresh socket; it keeps opts->url (copied) and opts->tls (its strings
 * are borrowed: they must outlive the subscriber). Returns 0 and *out
 * (pubsub_sub_close), or -errno.
 */
int pubsub_sub_open(struct pubsub_sub **out, const struct pubsub_opts *opts,
		    const struct pubsub_sub_ops *ops, uint64_t revision, const char *hash);

/*
 * Processes one frame as if received (topic included); callbacks run on the calling
 * thread. Returns 0, or -EBADMSG for a frame that is not a delta (counted, ignored).
 */
int pubsub_sub_feed(struct pubsub_sub *s, const void *frame, size_t len);

/*
 * The application installed a snapshot at revision with content hash (may be NULL):
 * continue from there, applying buffered newer deltas. May trigger another need_snapshot
 * (on the calling thread) when the buffer does not continue the snapshot. Returns 0.
 */
int pubsub_sub_set_revision(struct pubsub_sub *s, uint64_t revision, const char *hash);

/* Requests a snapshot now (force sync). */
void pubsub_sub_resync(struct pubsub_sub *s);

void pubsub_sub_get_stats(struct pubsub_sub *s, struct pubsub_sub_stats *out);

/* Stops the receive thread, closes the socket, frees buffered deltas and s. NULL is fine. */
void pubsub_sub_close(struct pubsub_sub *s);

/* ---- beacon collector -------------------------------------------------------------- */

struct pubsub_collector;

struct pubsub_collector_ops {
	/*
	 * Copies node_id's key into key (room for XDROP_BEACON_MAX_KEY bytes), sets *len and
	 * returns 0; returns -ENOENT for an unknown node.
	 */
	int (*key)(void *arg, const char *node_id, uint8_t *key, size_t *len);
	/* A verified beacon; b is borrowed for the call. Replays are the caller's to judge
	 * (b->seq, b->sent_at). */
	void (*beacon)(void *arg, const Xdrop__V1__Beacon *b);
	void *arg;
};

struct pubsub_collector_stats {
	uint64_t received;
	uint64_t accepted;
	uint64_t malformed;
	uint64_t unknown_node;
	uint64_t bad_proof;
};

/*
 * Opens a SUB socket for XDROP_TOPIC_BEACON on opts->url (normally listening) and starts a
 * receive thread. Returns 0 and *out (pubsub_collector_close), or -errno.
 */
int pubsub_collector_open(struct pubsub_collector **out, const struct pubsub_opts *opts,
			  const struct pubsub_collector_ops *ops);

/*
 * Verifies and delivers one frame (topic included). Returns 0 when ops->beacon was called,
 * -EBADMSG (malformed), -ENOENT (unknown node) or -EACCES (bad HMAC or node id mismatch).
 */
int pubsub_collector_feed(struct pubsub_collector *c, const void *frame, size_t len);

void pubsub_collector_get_stats(struct pubsub_collector *c, struct pubsub_collector_stats *out);

void pubsub_collector_close(struct pubsub_collector *c);

#endif
