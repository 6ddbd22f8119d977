/* SPDX-License-Identifier: MIT */
/*
 * cache: a small cache of serialized reply bodies, one per credential, for a read endpoint
 * that dashboards and scripts poll (GET /api/v1/stats: each upstream call costs the
 * gateway and the controller far more CPU than answering a stored body).
 *
 * Keys: the SHA-256 digest of the credential the request goes upstream with (the API key,
 * or the key a UI session stands for); the credential itself is never stored. A lookup
 * compares the digest with every slot in constant time. A caller can only ever be served
 * a body stored under its own credential, so a wrong key never matches and still goes
 * upstream (and gets 401 there).
 *
 * Freshness: an entry is served for ttl_ms counted from the moment the upstream call that
 * produced it began, then it is gone; a reply never replaces one whose call began later.
 * The upstream does not see a hit: a key revoked upstream keeps reading the body cached
 * for it until that expires, at most ttl_ms after the revocation.
 *
 * Bounds: at most max_entries credentials (a new one takes an empty or expired slot, else
 * the oldest entry's) and bodies of at most max_body bytes (a larger one is not stored).
 * Callers store successful replies only; an error is never cached.
 *
 * Thread-safe: one mutex; bodies are copied in and out under it (they are small).
 */
#ifndef XDROP_GW_CACHE_H
#define XDROP_GW_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;

/* The SHA-256 digest of a credential: what the cache is keyed by. */
struct cache_key {
	unsigned char digest[32];
};

/*
 * Creates a cache. ttl_ms 0 means no caching: *out is NULL, which every function below
 * accepts (a lookup misses, a store does nothing). Returns 0, or -ENOMEM / -EINVAL
 * (max_entries 0) with *out NULL.
 */
int cache_open(struct cache **out, unsigned ttl_ms, size_t max_entries, size_t max_body);

/* Frees every entry and c. NULL is fine. */
void cache_close(struct cache *c);

/* The key of credential (NUL-terminated; "" is a valid credential). */
void cache_key_of(const char *credential, struct cache_key *k);

/*
 * Looks up k. On a hit returns 0 with a copy of the body in *body (NUL-terminated, owned
 * by the caller, free()) and its length in *len. Returns -ENOENT when there is no live
 * entry (or c is NULL) and -ENOMEM when the copy fails; *body is then NULL.
 */
int cache_get(struct cache *c, const struct cache_key *k, char **body, size_t *len);

/*
 * Stores a copy of body (len bytes) under k, as of asked: the clock_mono_ms() taken before
 * the upstream call that produced it. Kept unless an entry for k from a later call is
 * already there; a body above max_body is not stored. Returns 0 (also when not stored, or
 * c is NULL) or -ENOMEM.
 */
int cache_put(struct cache *c, const struct cache_key *k, int64_t asked, const char *body,
	      size_t len);

#endif
