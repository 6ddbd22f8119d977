/* SPDX-License-Identifier: MIT */
/*
 * rulehash: the content hash of a rule set (docs/sync.md). Order-independent and
 * incremental: each entry's digest is SHA-256 over a kind byte ('R' or 'W') and its packed
 * protobuf (a Rule with stats cleared); the set's hash is the sum of the digests as 256-bit
 * little-endian integers, modulo 2^256.
 */
#ifndef XDROP_RULEHASH_H
#define XDROP_RULEHASH_H

#include <stdint.h>

#include "xdrop.pb-c.h"

#define RULEHASH_LEN 32
#define RULEHASH_HEX (2 * RULEHASH_LEN + 1)

struct rulehash {
	uint8_t sum[RULEHASH_LEN];
};

/* The empty set. */
void rulehash_init(struct rulehash *h);

/* Digest of one entry. Return 0 or -ENOMEM. */
int rulehash_rule_digest(const Xdrop__V1__Rule *r, uint8_t out[RULEHASH_LEN]);
int rulehash_wl_digest(const Xdrop__V1__WhitelistEntry *w, uint8_t out[RULEHASH_LEN]);
/* The digest of a Rule or a WhitelistEntry (told by its descriptor); -EINVAL for any
 * other message. */
int rulehash_digest(const ProtobufCMessage *m, uint8_t out[RULEHASH_LEN]);

/* Adds or removes one entry's digest. */
void rulehash_add(struct rulehash *h, const uint8_t d[RULEHASH_LEN]);
void rulehash_sub(struct rulehash *h, const uint8_t d[RULEHASH_LEN]);

/* 64 lower-case hex digits and a NUL; returns out. */
char *rulehash_hex(const struct rulehash *h, char out[RULEHASH_HEX]);

#endif
