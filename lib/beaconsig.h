/* SPDX-License-Identifier: MIT */
/*
 * beaconsig: signing and verifying health beacons, apart from the pub/sub transport that
 * carries them (lib/pubsub frames them with the "beacon:" topic and sends or receives).
 *
 * The sender serializes the Beacon, computes HMAC-SHA256 over those bytes with the node's
 * beacon key and wraps both in a SignedBeacon. The verifier decodes the SignedBeacon within
 * a budget (anyone may send one: it is not authenticated yet), looks the key up by the
 * node id it names, compares the MAC in constant time, and only then decodes the Beacon
 * and checks that it names the same node.
 */
#ifndef XDROP_BEACONSIG_H
#define XDROP_BEACONSIG_H

#include <stddef.h>
#include <stdint.h>

#include "xdrop.pb-c.h"

#define XDROP_BEACON_MAX_KEY	 64  /* bytes of a beacon key */
#define XDROP_BEACON_HMAC_LEN	 32  /* HMAC-SHA256 */
#define XDROP_BEACON_MAX_NODE_ID 128 /* bytes of a node id, NUL included */

/*
 * Signs b with key (keylen 1..XDROP_BEACON_MAX_KEY bytes): *out (free()) holds the packed
 * SignedBeacon of *len bytes. Returns 0, -EINVAL (bad key, a beacon without a node id or
 * with one too long) or -ENOMEM / -EIO.
 */
int beaconsig_sign(const Xdrop__V1__Beacon *b, const uint8_t *key, size_t keylen, uint8_t **out,
		   size_t *len);

/* Copies node_id's beacon key into key (room for XDROP_BEACON_MAX_KEY bytes), sets *len
 * and returns 0; returns -ENOENT for an unknown node. */
typedef int (*beaconsig_key_fn)(void *arg, const char *node_id, uint8_t *key, size_t *len);

/*
 * Verifies the packed SignedBeacon buf of len bytes with the key that key_fn gives for the
 * node it names. Returns 0 with *out set to the verified Beacon (free with
 * xdrop__v1__beacon__free_unpacked), -EBADMSG (malformed), -ENOENT (unknown node) or
 * -EACCES (the MAC does not match, or the Beacon names another node).
 */
int beaconsig_verify(const void *buf, size_t len, beaconsig_key_fn key_fn, void *arg,
		     Xdrop__V1__Beacon **out);

#endif
