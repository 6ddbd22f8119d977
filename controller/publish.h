/* SPDX-License-Identifier: MIT */
/*
 * publish: the controller's PUB socket. Every committed change goes out as its Delta
 * (store's commit hook, called under the store's writer lock, so deltas leave in revision
 * order), and a heartbeat delta (no ops, base_revision == revision) states the current
 * revision and content hash every interval, so a node notices a lost final push.
 */
#ifndef XDROP_CONTROLLER_PUBLISH_H
#define XDROP_CONTROLLER_PUBLISH_H

#include <stdint.h>

#include "store.h"
#include "tls.h"

#define XDROP_HEARTBEAT_MS 1000

struct publish;

/*
 * Listens on url (PUB), starts the heartbeat ticker (lib/ticker: every interval_ms on the
 * monotonic clock, the first at once; 0 = XDROP_HEARTBEAT_MS) and installs itself as st's
 * commit hook. Returns 0 and *out (publish_close) or -errno.
 */
int publish_open(struct publish **out, struct store *st, const char *url,
		 const struct tls_opts *tls, unsigned interval_ms);

/* Messages sent and skipped by the fault hook (XDROP_FAULT_DROP_EVERY_N). */
uint64_t publish_sent(const struct publish *p);
uint64_t publish_dropped(const struct publish *p);

/* Unhooks from the store, stops the heartbeat, closes the socket. NULL is fine. */
void publish_close(struct publish *p);

#endif
