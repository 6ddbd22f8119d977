// SPDX-License-Identifier: MIT
/* beaconsig: signing and verifying health beacons (see beaconsig.h). */
#include "beaconsig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "rpc_frame.h"

static int beacon_hmac(const uint8_t *key, size_t keylen, const uint8_t *in, size_t len,
		       uint8_t out[XDROP_BEACON_HMAC_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (!md || mbedtls_md_hmac(md, key, keylen, in, len, out))
		return -EIO;
	return 0;
}

/* Compares without an early exit so that timing tells nothing about the MAC. */
static bool equal_ct(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

int beaconsig_sign(const Xdrop__V1__Beacon *b, const uint8_t *key, size_t keylen, uint8_t **out,
		   size_t *len)
{
	Xdrop__V1__SignedBeacon sb = XDROP__V1__SIGNED_BEACON__INIT;
	uint8_t mac[XDROP_BEACON_HMAC_LEN];
	uint8_t *body = NULL, *buf = NULL;
	size_t blen;
	int err;

	if (!b || !key || !keylen || keylen > XDROP_BEACON_MAX_KEY || !b->node_id ||
	    !b->node_id[0] || strlen(b->node_id) >= XDROP_BEACON_MAX_NODE_ID)
		return -EINVAL;
	blen = xdrop__v1__beacon__get_packed_size(b);
	body = malloc(blen ? blen : 1);
	if (!body)
		return -ENOMEM;
	xdrop__v1__beacon__pack(b, body);
	err = beacon_hmac(key, keylen, body, blen, mac);
	if (err)
		goto out;
	sb.node_id = b->node_id;
	sb.beacon.data = body;
	sb.beacon.len = blen;
	sb.hmac_sha256.data = mac;
	sb.hmac_sha256.len = sizeof(mac);
	*len = xdrop__v1__signed_beacon__get_packed_size(&sb);
	buf = malloc(*len ? *len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	xdrop__v1__signed_beacon__pack(&sb, buf);
	*out = buf;
out:
	free(body);
	return err;
}

int beaconsig_verify(const void *buf, size_t len, beaconsig_key_fn key_fn, void *arg,
		     Xdrop__V1__Beacon **out)
{
	Xdrop__V1__SignedBeacon *sb = NULL;
	Xdrop__V1__Beacon *b = NULL;
	struct rpc_budget budget;
	uint8_t key[XDROP_BEACON_MAX_KEY], mac[XDROP_BEACON_HMAC_LEN];
	size_t keylen = sizeof(key);
	int err = 0;

	*out = NULL;
	/* not yet authenticated: decoded within a budget, so unknown fields cost little */
	rpc_budget_init(&budget, rpc_budget_for(len));
	sb = xdrop__v1__signed_beacon__unpack(&budget.base, len, buf);
	if (!sb || !sb->node_id[0] || strlen(sb->node_id) >= XDROP_BEACON_MAX_NODE_ID) {
		err = -EBADMSG;
		goto out;
	}
	if (!key_fn || key_fn(arg, sb->node_id, key, &keylen) || !keylen || keylen > sizeof(key)) {
		err = -ENOENT;
		goto out;
	}
	err = beacon_hmac(key, keylen, sb->beacon.data, sb->beacon.len, mac);
	if (err)
		goto out;
	if (sb->hmac_sha256.len != sizeof(mac) ||
	    !equal_ct(mac, sb->hmac_sha256.data, sizeof(mac))) {
		err = -EACCES;
		goto out;
	}
	b = xdrop__v1__beacon__unpack(NULL, sb->beacon.len, sb->beacon.data);
	if (!b) {
		err = -EBADMSG;
		goto out;
	}
	if (strcmp(b->node_id, sb->node_id) != 0) {
		err = -EACCES;
		xdrop__v1__beacon__free_unpacked(b, NULL);
		goto out;
	}
	*out = b;
out:
	memset(key, 0, sizeof(key));
	xdrop__v1__signed_beacon__free_unpacked(sb, &budget.base);
	return err;
}
