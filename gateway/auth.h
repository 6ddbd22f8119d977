/* SPDX-License-Identifier: MIT */
/*
 * auth: what the gateway itself checks about a caller, before the upstream checks the key.
 *
 * Credentials, in this order: `X-API-Key: KEY`, `Authorization: Bearer KEY`, or the UI's
 * session cookie `xdrop_session`. The gateway does not keep a key list: a key is forwarded
 * as the RPC auth_token and the upstream decides (controller: KeyService keys stored
 * hashed, compared in constant time, scopes admin and read_only; node mode: the agent's
 * rpc.admin_keys / rpc.read_only_keys, compared in constant time). Every failure, from
 * either side, gets the same 401 body; a read-only key on a write gets 403.
 *
 * Sessions: POST /api/auth/login with a key checks it upstream and issues a random 256-bit
 * token in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS). The gateway keeps only
 * the SHA-256 of the token, and looks it up by comparing digests in constant time; the key
 * it stands for is held in memory until the session ends (logout, expiry, restart).
 * Failed credentials are limited per client address (lib/limiter.h: auth.login_attempts
 * failures per auth.login_window, IPv6 by /64, auth.limiter_slots addresses tracked, then
 * one shared overflow bucket): every path counts (X-API-Key, Authorization: Bearer, the
 * session cookie, POST /api/auth/login), and a client over the limit gets 429 with
 * Retry-After for every request that carries a credential, before it is checked, except
 * the cookie of a live session (earned by a login that passed the limiter; 256 random
 * bits cannot be guessed), so logged-in UI users keep working while an attack spread over
 * many addresses has filled the table and closed the overflow bucket for newcomers.
 *
 * CSRF: a cookie-authenticated request with an unsafe method must carry
 * `Content-Type: application/json` or the XDROP_CSRF_HEADER header (the web UI sends it
 * on every call), body or not; a cross-site form or image can set neither without a CORS
 * preflight, which the gateway never grants. Otherwise 403.
 *
 * With auth.enabled: false (a loopback demo), no credentials are asked for and every call
 * goes upstream with upstream.token.
 */
#ifndef XDROP_GW_AUTH_H
#define XDROP_GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_config.h"

#define XDROP_SESSION_COOKIE "xdrop_session"
#define XDROP_MAX_KEY	     512 /* longest API key accepted in a header */

struct auth;
struct http_request;

int auth_open(struct auth **out, const struct gw_config *c);
void auth_close(struct auth *a);

/*
 * Resolves rq's credentials into rq->token (borrowed from the request's headers or from
 * the session table, valid until the request ends) and rq->cookie_auth. Returns 0, or
 * -EACCES when auth is on and no credential (or no live session) was presented.
 */
int auth_request(struct auth *a, struct http_request *rq);

#define XDROP_CSRF_HEADER "X-Requested-With"

/* True when rq carries a credential to check (a key header, the session cookie, or it is
 * a login), i.e. when the limiter applies to it. */
bool auth_presents_credential(const struct http_request *rq);

/* Whether rq's client may present a credential now: 0, or -EAGAIN with *retry_s. */
int auth_limit_check(struct auth *a, const struct http_request *rq, unsigned *retry_s);

/* Sources in the limiter's table (and its size in *slots, the overflow bucket's state). */
unsigned auth_limiter_used(struct auth *a, unsigned *slots, bool *overflow);

/* Counts one failed credential from rq's client. */
void auth_limit_fail(struct auth *a, const struct http_request *rq);

/* False when rq is a cookie-authenticated unsafe request without the JSON content type or
 * the XDROP_CSRF_HEADER (answer 403). */
bool auth_csrf_ok(const struct http_request *rq);

/*
 * Starts a session for key (copied) with scope (may be ""); writes the cookie value (hex,
 * NUL-terminated) to token, which needs 65 bytes. Returns 0, or -ENOMEM / -ENOSPC (the
 * oldest session is evicted first, so -ENOSPC does not happen in practice).
 */
int auth_session_new(struct auth *a, const char *key, const char *scope, char *token, size_t len);

/* Ends the session of rq's cookie, if any. */
void auth_session_end(struct auth *a, const struct http_request *rq);

/* The scope recorded at login for rq's session ("" if unknown or not a session). Copied
 * into buf. */
const char *auth_session_scope(struct auth *a, const struct http_request *rq, char *buf,
			       size_t len);

/* Constant-time comparison of two byte strings of length n. */
bool auth_ct_equal(const void *a, const void *b, size_t n);

#endif
