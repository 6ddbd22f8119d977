// SPDX-License-Identifier: MIT
/*
 * nodekey: node key verifiers and derived keys (see nodekey.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>

#include "nodekey.h"

static const char LABEL_VERIFIER[] = "xdrop node verifier v1";
static const char LABEL_BEACON[] = "xdrop beacon v1";
static const char LABEL_CTL[] = "xdrop controller call v1";

static atomic_ulong verifications;

static void hmac(const uint8_t *key, size_t keylen, const char *label,
		 uint8_t out[XDROP_NODEKEY_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	/* SHA-256 is compiled into every mbedTLS build; md is never NULL in practice, and an
	 * all-zero output would match nothing (a verifier is never all zero but by chance) */
	memset(out, 0, XDROP_NODEKEY_LEN);
	if (md)
		mbedtls_md_hmac(md, key, keylen, (const uint8_t *)label, strlen(label), out);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -EINVAL;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

void nodekey_beacon_key(const char *key, uint8_t out[XDROP_NODEKEY_LEN])
{
	hmac((const uint8_t *)key, strlen(key), LABEL_BEACON, out);
}

void nodekey_record(const char *key, char out[XDROP_NODEKEY_RECORD_MAX])
{
	uint8_t v[XDROP_NODEKEY_LEN], b[XDROP_NODEKEY_LEN];
	const size_t p = strlen(XDROP_NODEKEY_PREFIX);

	hmac((const uint8_t *)key, strlen(key), LABEL_VERIFIER, v);
	nodekey_beacon_key(key, b);
	memcpy(out, XDROP_NODEKEY_PREFIX, p);
	hex(v, sizeof(v), out + p);
	out[p + 2 * sizeof(v)] = ':';
	hex(b, sizeof(b), out + p + 2 * sizeof(v) + 1);
}

/* V and B of a record; -EINVAL when rec has another shape. */
static int parse(const char *rec, uint8_t v[XDROP_NODEKEY_LEN], uint8_t b[XDROP_NODEKEY_LEN])
{
	const size_t p = strlen(XDROP_NODEKEY_PREFIX);

	if (!rec || strlen(rec) != XDROP_NODEKEY_RECORD_MAX - 1 ||
	    strncmp(rec, XDROP_NODEKEY_PREFIX, p) != 0 || rec[p + 2 * XDROP_NODEKEY_LEN] != ':')
		return -EINVAL;
	if (unhex(rec + p, v, XDROP_NODEKEY_LEN) ||
	    unhex(rec + p + 2 * XDROP_NODEKEY_LEN + 1, b, XDROP_NODEKEY_LEN))
		return -EINVAL;
	return 0;
}

bool nodekey_is_record(const char *s)
{
	uint8_t v[XDROP_NODEKEY_LEN], b[XDROP_NODEKEY_LEN];

	return parse(s, v, b) == 0;
}

int nodekey_record_beacon_key(const char *rec, uint8_t out[XDROP_NODEKEY_LEN])
{
	uint8_t v[XDROP_NODEKEY_LEN];

	return parse(rec, v, out);
}

bool nodekey_verify(const char *rec, const char *key)
{
	/* stands in for an absent node: an HMAC output nobody can aim at */
	static const uint8_t dummy[XDROP_NODEKEY_LEN] = {
	    0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15, 0xf3, 0x9c, 0xc0,
	    0x60, 0x5c, 0xed, 0xc8, 0x34, 0x10, 0x82, 0x27, 0x6b, 0xf3, 0xa2,
	    0x72, 0x39, 0x8b, 0x7a, 0x4e, 0x1f, 0x2d, 0x05, 0x9a, 0x66};
	uint8_t want[XDROP_NODEKEY_LEN], b[XDROP_NODEKEY_LEN], got[XDROP_NODEKEY_LEN];
	bool real = parse(rec, want, b) == 0;
	uint8_t d = 0;

	atomic_fetch_add(&verifications, 1);
	if (!real)
		memcpy(want, dummy, sizeof(want));
	hmac((const uint8_t *)key, key ? strlen(key) : 0, LABEL_VERIFIER, got);
	for (size_t i = 0; i < sizeof(got); i++)
		d |= (uint8_t)(got[i] ^ want[i]);
	return real && d == 0;
}

unsigned long nodekey_verify_count(void)
{
	return atomic_load(&verifications);
}

int nodekey_ctl_token(const char *node_id, const uint8_t b[XDROP_NODEKEY_LEN], char *out,
		      size_t len)
{
	uint8_t mac[XDROP_NODEKEY_LEN];
	char h[2 * XDROP_NODEKEY_LEN + 1];
	int n;

	hmac(b, XDROP_NODEKEY_LEN, LABEL_CTL, mac);
	hex(mac, sizeof(mac), h);
	n = snprintf(out, len, "%s%s:%s", XDROP_NODEKEY_CTL_PREFIX, node_id, h);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
