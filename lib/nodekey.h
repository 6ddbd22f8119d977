/* SPDX-License-Identifier: MIT */
/*
 * nodekey: what a node key becomes at rest, and the keys derived from it.
 *
 * A node key K (the secret part of the node token "node:<id>:<K>") is shared by the
 * controller and the agent. The controller keeps K only for as long as it takes to derive
 * from it; what it stores is the record
 *
 *     nkv1:<hex V>:<hex B>     V = HMAC-SHA256(K, "xdrop node verifier v1")
 *                              B = HMAC-SHA256(K, "xdrop beacon v1")
 *
 * V verifies a presented token (constant-time compare of HMAC(K', label) with V); B signs
 * and verifies beacons (the agent derives B from K on its side). Neither gives K back (HMAC
 * is one-way), so a copy of the database does not let its reader call the controller's
 * RPC as the node. B does let its holder sign beacons, and so does the controller call
 * token derived from it (below), which the agent accepts for the two calls the controller
 * makes (ForceSync, RuleStats): that is what a leaked database exposes about nodes.
 *
 *     ctl:<node id>:<hex HMAC-SHA256(B, "xdrop controller call v1")>
 *
 * Node keys are high-entropy random strings (or config secrets the operator chose), so one
 * HMAC is the right cost: there is nothing to stretch.
 */
#ifndef XDROP_NODEKEY_H
#define XDROP_NODEKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XDROP_NODEKEY_LEN	 32 /* bytes of V, B, the call MAC */
#define XDROP_NODEKEY_PREFIX	 "nkv1:"
#define XDROP_NODEKEY_RECORD_MAX (5 + 64 + 1 + 64 + 1) /* with its NUL */
#define XDROP_NODEKEY_CTL_PREFIX "ctl:"

/* B of key K (the agent signs its beacons with it). */
void nodekey_beacon_key(const char *key, uint8_t out[XDROP_NODEKEY_LEN]);

/* The record of key K into out (XDROP_NODEKEY_RECORD_MAX bytes). */
void nodekey_record(const char *key, char out[XDROP_NODEKEY_RECORD_MAX]);

/* True when s has the shape of a record (not a plaintext key). */
bool nodekey_is_record(const char *s);

/* B from a record. Returns 0, or -EINVAL when rec is not a record. */
int nodekey_record_beacon_key(const char *rec, uint8_t out[XDROP_NODEKEY_LEN]);

/*
 * Whether key K matches record rec. rec may be NULL (no such node): the same HMAC and
 * comparison then run against a fixed dummy verifier and the answer is false, so the time
 * taken does not tell whether the node exists. Constant time in the content of K and rec.
 */
bool nodekey_verify(const char *rec, const char *key);

/* How many times nodekey_verify ran in this process (tests prove both paths run it). */
unsigned long nodekey_verify_count(void);

/* The controller call token of node_id from its B into out (len bytes). -ENOSPC if short. */
int nodekey_ctl_token(const char *node_id, const uint8_t b[XDROP_NODEKEY_LEN], char *out,
		      size_t len);

#endif
