// SPDX-License-Identifier: MIT
/* webpass: see webpass.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "webpass.h"

#define SALT_LEN 16
#define KEY_LEN	 32
#define PREFIX	 "pbkdf2-sha256$"

/* Constant-time equality of n bytes (no auth.h: that would be an include cycle). */
static bool same(const unsigned char *a, const unsigned char *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static int derive(const char *pw, const unsigned char *salt, size_t salt_len, unsigned iterations,
		  unsigned char key[KEY_LEN])
{
	mbedtls_md_context_t md;
	int rc;

	mbedtls_md_init(&md);
	rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	if (!rc)
		rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pw, strlen(pw), salt,
					       salt_len, iterations, KEY_LEN, key);
	mbedtls_md_free(&md);
	return rc ? -EIO : 0;
}

/* Exactly n bytes of hex from s (ending at end) into out. Returns 0 or -EINVAL. */
static int unhex(const char *s, const char *end, unsigned char *out, size_t n)
{
	if ((size_t)(end - s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
		    !strchr("0123456789abcdef", s[2 * i + 1]))
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* Splits encoded into its iterations, salt and key. Returns 0 or -EINVAL. */
static int parse(const char *encoded, unsigned *iter, unsigned char salt[SALT_LEN],
		 unsigned char key[KEY_LEN])
{
	const char *p = encoded + strlen(PREFIX), *d1, *d2;
	char *end;
	unsigned long n;

	if (strncmp(encoded, PREFIX, strlen(PREFIX)))
		return -EINVAL;
	n = strtoul(p, &end, 10);
	if (end == p || *end != '$' || n < WEBPASS_MIN_ITER || n > WEBPASS_MAX_ITER)
		return -EINVAL;
	d1 = end + 1;
	d2 = strchr(d1, '$');
	if (!d2 || unhex(d1, d2, salt, SALT_LEN) ||
	    unhex(d2 + 1, d2 + 1 + strlen(d2 + 1), key, KEY_LEN))
		return -EINVAL;
	*iter = (unsigned)n;
	return 0;
}

int webpass_check(const char *encoded)
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	unsigned iter;

	return parse(encoded, &iter, salt, key);
}

bool webpass_verify(const char *encoded, const char *password)
{
	unsigned char salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
	unsigned iter;
	bool ok;

	if (!encoded || !*encoded || strlen(password) > WEBPASS_MAX_LEN ||
	    parse(encoded, &iter, salt, want) || derive(password, salt, SALT_LEN, iter, got))
		return false;
	ok = same(want, got, KEY_LEN);
	explicit_bzero(got, sizeof(got));
	return ok;
}

int webpass_main(void)
{
	char pw[WEBPASS_MAX_LEN + 2];
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	size_t n;

	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "xdrop-gateway --hash-password: no password on stdin\n");
		return 2;
	}
	n = strcspn(pw, "\r\n");
	if (n > WEBPASS_MAX_LEN || (!pw[n] && !feof(stdin)) || n == 0) {
		fprintf(stderr, "xdrop-gateway --hash-password: 1 to %d bytes, one line\n",
			WEBPASS_MAX_LEN);
		return 2;
	}
	pw[n] = 0;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt) ||
	    derive(pw, salt, SALT_LEN, WEBPASS_ITERATIONS, key)) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "xdrop-gateway --hash-password: cannot hash\n");
		return 1;
	}
	explicit_bzero(pw, sizeof(pw));
	printf(PREFIX "%d$", WEBPASS_ITERATIONS);
	for (size_t i = 0; i < SALT_LEN; i++)
		printf("%02x", salt[i]);
	putchar('$');
	for (size_t i = 0; i < KEY_LEN; i++)
		printf("%02x", key[i]);
	putchar('\n');
	return 0;
}
