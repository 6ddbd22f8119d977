// SPDX-License-Identifier: MIT
/*
 * rulehash: see rulehash.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "rulehash.h"

void rulehash_init(struct rulehash *h)
{
	memset(h, 0, sizeof(*h));
}

static int digest(uint8_t kind, const ProtobufCMessage *m, uint8_t out[RULEHASH_LEN])
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len + 1);

	if (!buf)
		return -ENOMEM;
	buf[0] = kind;
	protobuf_c_message_pack(m, buf + 1);
	mbedtls_sha256_ret(buf, len + 1, out, 0); /* mbedTLS 2.28: the _ret form */
	free(buf);
	return 0;
}

int rulehash_rule_digest(const Xdrop__V1__Rule *r, uint8_t out[RULEHASH_LEN])
{
	Xdrop__V1__Rule copy = *r;

	copy.stats = NULL; /* read-only counters are not content */
	return digest('R', &copy.base, out);
}

int rulehash_wl_digest(const Xdrop__V1__WhitelistEntry *w, uint8_t out[RULEHASH_LEN])
{
	Xdrop__V1__WhitelistEntry copy = *w;

	copy.stats = NULL; /* read-only counters are not content */
	return digest('W', &copy.base, out);
}

void rulehash_add(struct rulehash *h, const uint8_t d[RULEHASH_LEN])
{
	unsigned carry = 0;

	for (int i = 0; i < RULEHASH_LEN; i++) {
		unsigned s = (unsigned)h->sum[i] + d[i] + carry;

		h->sum[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

void rulehash_sub(struct rulehash *h, const uint8_t d[RULEHASH_LEN])
{
	int borrow = 0;

	for (int i = 0; i < RULEHASH_LEN; i++) {
		int s = (int)h->sum[i] - d[i] - borrow;

		borrow = s < 0;
		h->sum[i] = (uint8_t)(s + (borrow ? 256 : 0));
	}
}

char *rulehash_hex(const struct rulehash *h, char out[RULEHASH_HEX])
{
	/* most significant byte first, like any number */
	for (int i = 0; i < RULEHASH_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", h->sum[RULEHASH_LEN - 1 - i]);
	return out;
}

int rulehash_digest(const ProtobufCMessage *m, uint8_t out[RULEHASH_LEN])
{
	if (m->descriptor == &xdrop__v1__rule__descriptor)
		return rulehash_rule_digest((const Xdrop__V1__Rule *)m, out);
	if (m->descriptor == &xdrop__v1__whitelist_entry__descriptor)
		return rulehash_wl_digest((const Xdrop__V1__WhitelistEntry *)m, out);
	return -EINVAL;
}
