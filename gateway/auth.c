// SPDX-License-Identifier: MIT
/*
 * auth: credential extraction, the session table and the login limiter (see auth.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/sha256.h>

#include "auth.h"
#include "clock.h"
#include "http.h"
#include "limiter.h"

struct session {
	unsigned char digest[32]; /* SHA-256 of the cookie token */
	char *key;		  /* the API key the session stands for */
	char scope[16];
	int64_t expires; /* clock_mono_ms() */
	bool used;
};

struct auth {
	const struct gw_config *cfg;
	pthread_mutex_t lock;
	struct session *sessions; /* GW_MAX_SESSIONS */
	struct limiter *limiter;  /* failed credentials per client (lib/limiter.h) */
};

bool auth_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static void digest(const char *token, unsigned char out[32])
{
	mbedtls_sha256_ret((const unsigned char *)token, strlen(token), out, 0);
}

int auth_open(struct auth **out, const struct gw_config *c)
{
	struct auth *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->cfg = c;
	pthread_mutex_init(&a->lock, NULL);
	a->sessions = calloc(GW_MAX_SESSIONS, sizeof(*a->sessions));
	if (!a->sessions ||
	    limiter_open(&a->limiter, c->limiter_slots ? c->limiter_slots : XDROP_LIMITER_SLOTS,
			 c->login_attempts, c->login_window_s)) {
		auth_close(a);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

static void session_clear(struct session *s)
{
	if (s->key) {
		explicit_bzero(s->key, strlen(s->key));
		free(s->key);
	}
	memset(s, 0, sizeof(*s));
}

void auth_close(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; a->sessions && i < GW_MAX_SESSIONS; i++)
		session_clear(&a->sessions[i]);
	free(a->sessions);
	limiter_close(a->limiter);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The cookie's value from a Cookie header, or NULL. */
static const char *cookie_token(const struct http_request *rq, char *buf, size_t len)
{
	const char *h = http_header(rq, "Cookie");
	const char *p;
	size_t name_len = strlen(XDROP_SESSION_COOKIE), n;

	for (p = h; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		if (!strncmp(p, XDROP_SESSION_COOKIE, name_len) && p[name_len] == '=') {
			p += name_len + 1;
			n = strcspn(p, ";");
			if (n == 0 || n >= len)
				return NULL;
			memcpy(buf, p, n);
			buf[n] = 0;
			return buf;
		}
		p = strchr(p, ';');
	}
	return NULL;
}

/* Index of the live session whose digest matches, or -1. Every slot is compared, so the
 * time taken does not depend on where (or whether) the match is. Lock held. */
static int find_session(struct auth *a, const unsigned char d[32])
{
	int64_t now = clock_mono_ms();
	int found = -1;

	for (int i = 0; i < GW_MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];
		bool eq = auth_ct_equal(s->digest, d, 32);

		if (s->used && s->expires <= now) {
			session_clear(s);
			continue;
		}
		if (eq && s->used)
			found = i;
	}
	return found;
}

/*
 * The session's key is copied into a per-thread buffer, so the request keeps a valid
 * token even if the session ends meanwhile (connection threads handle one request at a
 * time).
 */
static __thread char session_key_copy[XDROP_MAX_KEY + 1];

int auth_request(struct auth *a, struct http_request *rq)
{
	const char *k = http_header(rq, "X-API-Key");
	const char *authz = http_header(rq, "Authorization");
	char tok[80];
	unsigned char d[32];
	int i;

	rq->token = "";
	rq->cookie_auth = false;
	if (!a->cfg->auth_enabled) {
		rq->token = a->cfg->upstream_token;
		return 0;
	}
	if (!k && authz && !strncasecmp(authz, "Bearer ", 7)) {
		k = authz + 7;
		while (*k == ' ')
			k++;
	}
	if (k && *k && strlen(k) <= XDROP_MAX_KEY) {
		rq->token = k;
		return 0;
	}
	if (k)
		return -EACCES;
	if (!cookie_token(rq, tok, sizeof(tok)))
		return -EACCES;
	digest(tok, d);
	pthread_mutex_lock(&a->lock);
	i = find_session(a, d);
	if (i >= 0)
		snprintf(session_key_copy, sizeof(session_key_copy), "%s", a->sessions[i].key);
	pthread_mutex_unlock(&a->lock);
	if (i < 0)
		return -EACCES;
	rq->token = session_key_copy;
	rq->cookie_auth = true;
	return 0;
}

bool auth_presents_credential(const struct http_request *rq)
{
	char tok[80];

	return http_header(rq, "X-API-Key") || http_header(rq, "Authorization") ||
	       cookie_token(rq, tok, sizeof(tok)) ||
	       (!strcmp(rq->method, "POST") && !strcmp(rq->url, "/api/auth/login"));
}

/* True when rq's only credential is the cookie of a live session. */
static bool live_session_only(struct auth *a, const struct http_request *rq)
{
	char tok[80];
	unsigned char d[32];
	int i;

	if (http_header(rq, "X-API-Key") || http_header(rq, "Authorization") ||
	    !cookie_token(rq, tok, sizeof(tok)))
		return false;
	digest(tok, d);
	pthread_mutex_lock(&a->lock);
	i = find_session(a, d);
	pthread_mutex_unlock(&a->lock);
	return i >= 0;
}

int auth_limit_check(struct auth *a, const struct http_request *rq, unsigned *retry_s)
{
	struct limiter_src src;

	if (!a->cfg->auth_enabled || limiter_src_from_text(rq->client, &src))
		return 0;
	/* a live session was earned by a login that passed the limiter, and a cookie cannot
	 * be guessed (256 random bits): the UI keeps working while the table is full */
	if (live_session_only(a, rq))
		return 0;
	return limiter_check(a->limiter, &src, retry_s);
}

unsigned auth_limiter_used(struct auth *a, unsigned *slots, bool *overflow)
{
	*slots = a->cfg->limiter_slots ? a->cfg->limiter_slots : XDROP_LIMITER_SLOTS;
	return limiter_used(a->limiter, overflow);
}

void auth_limit_fail(struct auth *a, const struct http_request *rq)
{
	struct limiter_src src;

	if (a->cfg->auth_enabled && !limiter_src_from_text(rq->client, &src))
		limiter_fail(a->limiter, &src);
}

bool auth_csrf_ok(const struct http_request *rq)
{
	const char *ct = http_header(rq, "Content-Type");

	if (!rq->cookie_auth || !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD") ||
	    !strcmp(rq->method, "OPTIONS"))
		return true;
	return (ct && !strncasecmp(ct, "application/json", 16)) ||
	       http_header(rq, XDROP_CSRF_HEADER);
}

int auth_session_new(struct auth *a, const char *key, const char *scope, char *token, size_t len)
{
	unsigned char raw[32];
	struct session *slot = NULL;
	int64_t now = clock_mono_ms();
	char *copy;

	if (len < 65)
		return -EINVAL;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < GW_MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (s->used && s->expires <= now)
			session_clear(s);
		if (!s->used) {
			slot = s;
			break;
		}
		if (!slot || s->expires < slot->expires)
			slot = s; /* the oldest, evicted when the table is full */
	}
	session_clear(slot);
	digest(token, slot->digest);
	slot->key = copy;
	snprintf(slot->scope, sizeof(slot->scope), "%s", scope ? scope : "");
	slot->expires = now + (int64_t)a->cfg->session_ttl_s * 1000;
	slot->used = true;
	pthread_mutex_unlock(&a->lock);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

void auth_session_end(struct auth *a, const struct http_request *rq)
{
	char tok[80];
	unsigned char d[32];
	int i;

	if (!cookie_token(rq, tok, sizeof(tok)))
		return;
	digest(tok, d);
	pthread_mutex_lock(&a->lock);
	i = find_session(a, d);
	if (i >= 0)
		session_clear(&a->sessions[i]);
	pthread_mutex_unlock(&a->lock);
}

const char *auth_session_scope(struct auth *a, const struct http_request *rq, char *buf, size_t len)
{
	char tok[80];
	unsigned char d[32];
	int i;

	buf[0] = 0;
	if (!cookie_token(rq, tok, sizeof(tok)))
		return buf;
	digest(tok, d);
	pthread_mutex_lock(&a->lock);
	i = find_session(a, d);
	if (i >= 0)
		snprintf(buf, len, "%s", a->sessions[i].scope);
	pthread_mutex_unlock(&a->lock);
	return buf;
}
