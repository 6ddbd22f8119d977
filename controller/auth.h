/* SPDX-License-Identifier: MIT */
/*
 * auth: who may call what on the controller's RPC port.
 *
 * API keys look like "xdk_<id>_<secret>"; the store keeps the id, the scope and
 * SHA-256(salt || secret) with a random salt, and a presented secret is compared in
 * constant time. A key given in the config (bootstrap_admin_key) may have any form: it is
 * stored under the id "bootstrap" and tried when a token does not name a key id.
 * Node tokens are "node:<node id>:<node key>" (docs/sync.md) and may call SyncService and
 * HealthService only. HealthService.Ping needs nothing. Read methods need a read_only or
 * admin key; every other method (writes, force sync, key management) needs admin.
 */
#ifndef XDROP_CONTROLLER_AUTH_H
#define XDROP_CONTROLLER_AUTH_H

#include <stdbool.h>

#include "rpc.h"
#include "store.h"

#define XDROP_KEY_SECRET_BYTES 24 /* random bytes of a generated secret (48 hex digits) */
#define XDROP_KEY_MAX	       (XDROP_STORE_MAX_ID + 64)
#define XDROP_BOOTSTRAP_KEY_ID "bootstrap"
#define XDROP_KEY_TOUCH_NS     (60ll * 1000000000) /* last_used_at is written at most this often */

enum auth_kind { AUTH_ADMIN, AUTH_READ_ONLY, AUTH_NODE, AUTH_NONE };

/* What the auth hook attaches to a call (rpc_call_principal). */
struct principal {
	enum auth_kind kind;
	char id[XDROP_STORE_MAX_ID + 1]; /* key id or node id */
};

/* Random lower-case hex of nbytes bytes into out (2 * nbytes + 1). */
void auth_random_hex(char *out, size_t nbytes);

/*
 * Creates a key with scope ("admin" | "read_only") and name; the full token (shown once)
 * goes to token (XDROP_KEY_MAX bytes), the row to *out when not NULL (free out->name).
 * Returns 0, -EINVAL for a bad scope, or -errno.
 */
int auth_key_create(struct store *s, const char *name, const char *scope, char *token,
		    struct store_key *out);

/*
 * Makes sure an admin key exists: stores `key` under XDROP_BOOTSTRAP_KEY_ID when given
 * (replacing an older one), else, when no admin key exists at all, creates one and writes
 * its token to key_file (mode 0600) and the log. Returns 0 or -errno.
 */
int auth_bootstrap(struct store *s, const char *key, const char *key_file);

/* The rpc auth hook; arg is the store. */
enum rpc_code auth_hook(struct rpc_call *call, const char *token, void *arg);

#endif
