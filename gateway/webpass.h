/* SPDX-License-Identifier: MIT */
/*
 * webpass: the optional user name and password login of XDrop 2.7's web UI
 * (auth.web_username, auth.web_password_hash). The password is stored only as a
 * PBKDF2-HMAC-SHA256 hash (mbedTLS): "pbkdf2-sha256$ITERATIONS$SALT_HEX$KEY_HEX" with a
 * 16-byte random salt and a 32-byte key. `xdrop-gateway --hash-password` prints the value
 * for a password read from stdin.
 */
#ifndef XDROP_GW_WEBPASS_H
#define XDROP_GW_WEBPASS_H
#include <stdbool.h>
#include <stddef.h>

#define WEBPASS_ITERATIONS 210000 /* of a new hash */
#define WEBPASS_MIN_ITER   10000  /* the fewest a configured hash may have */
#define WEBPASS_MAX_ITER   10000000
#define WEBPASS_MAX_LEN	   128 /* bytes of a password */

/* 0 when encoded is a well-formed hash (iterations in range), else -EINVAL. */
int webpass_check(const char *encoded);

/* True when password matches encoded (constant-time comparison of the keys). */
bool webpass_verify(const char *encoded, const char *password);

/* --hash-password: reads one line from stdin, prints its hash. Returns the exit status. */
int webpass_main(void);

#endif
