// SPDX-License-Identifier: MIT
/*
 * auth: API keys (salted SHA-256, constant-time comparison), node tokens and the scope
 * table of methods; see auth.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "clock.h"
#include "auth.h"
#include "dqlite/session.h"
#include "log.h"
#include "nodekey.h"
#include "rule.h"

void auth_random_hex(char *out, size_t nbytes)
{
	uint8_t b[64];
	size_t got = 0;

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	while (got < nbytes) {
		ssize_t n = getrandom(b + got, nbytes - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void key_hash(const uint8_t salt[XDROP_KEY_SALT_LEN], const char *secret,
		     uint8_t out[XDROP_KEY_HASH_LEN])
{
	mbedtls_sha256_context c;

	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts_ret(&c, 0);
	mbedtls_sha256_update_ret(&c, salt, XDROP_KEY_SALT_LEN);
	mbedtls_sha256_update_ret(&c, (const uint8_t *)secret, strlen(secret));
	mbedtls_sha256_finish_ret(&c, out);
	mbedtls_sha256_free(&c);
}

static bool equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

static bool scope_ok(const char *scope)
{
	return scope && (strcmp(scope, "admin") == 0 || strcmp(scope, "read_only") == 0);
}

static int put_key(struct store *s, const char *id, const char *name, const char *scope,
		   const char *secret, bool replace, struct store_key *out)
{
	struct store_key k = {0};
	int err;

	snprintf(k.id, sizeof(k.id), "%s", id);
	snprintf(k.scope, sizeof(k.scope), "%s", scope);
	k.name = (char *)(name ? name : "");
	k.created_at = clock_wall_ns();
	if (getrandom(k.salt, sizeof(k.salt), 0) != (ssize_t)sizeof(k.salt))
		return -EIO;
	key_hash(k.salt, secret, k.hash);
	err = store_key_put(s, &k, replace);
	if (!err && out) {
		*out = k;
		out->name = strdup(k.name);
		if (!out->name)
			return -ENOMEM;
	}
	return err;
}

int auth_key_create(struct store *s, const char *name, const char *scope, char *token,
		    struct store_key *out)
{
	char id[XDROP_UUID_LEN], secret[2 * XDROP_KEY_SECRET_BYTES + 1];
	int err;

	if (!scope_ok(scope))
		return -EINVAL;
	auth_random_hex(id, 8);
	auth_random_hex(secret, XDROP_KEY_SECRET_BYTES);
	err = put_key(s, id, name, scope, secret, false, out);
	if (!err)
		snprintf(token, XDROP_KEY_MAX, "xdk_%s_%s", id, secret);
	return err;
}

int auth_bootstrap(struct store *s, const char *key, const char *key_file)
{
	char token[XDROP_KEY_MAX];
	struct store_key *keys = NULL;
	size_t n = 0;
	bool have_admin = false;
	int err, fd;

	if (key && key[0]) {
		err = put_key(s, XDROP_BOOTSTRAP_KEY_ID, "bootstrap (config)", "admin", key, true,
			      NULL);
		if (!err)
			log_info("auth: admin key from the config installed as \"%s\"",
				 XDROP_BOOTSTRAP_KEY_ID);
		return err;
	}
	err = store_key_list(s, &keys, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		have_admin |= strcmp(keys[i].scope, "admin") == 0;
	store_free_keys(keys, n);
	if (have_admin)
		return 0;
	err = auth_key_create(s, "bootstrap (generated)", "admin", token, NULL);
	if (err)
		return err;
	if (key_file && key_file[0]) {
		fd = open(key_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dprintf(fd, "%s\n", token) < 0) {
			err = -errno;
			log_error("auth: cannot write the admin key to %s: %s", key_file,
				  strerror(errno));
		}
		if (fd >= 0)
			close(fd);
		if (!err)
			log_info("auth: generated an admin key, written to %s", key_file);
	}
	log_info("auth: generated admin key: %s", token);
	return err;
}

/* The methods a read_only key may call, per service; anything else needs admin. */
static bool is_read(const char *service, const char *method)
{
	static const struct {
		const char *service, *methods[8];
	} reads[] = {
	    {"xdrop.v1.RuleService", {"List", "Get", "Top"}},
	    {"xdrop.v1.WhitelistService", {"List", "Get"}},
	    {"xdrop.v1.NodeService", {"List", "Get", "GetStats"}},
	    {"xdrop.v1.StatsService", {"Get", "History", "Info", "RuleStats", "TopTalkers"}},
	    {"xdrop.v1.KeyService", {"Whoami"}},
	    {"xdrop.v1.SyncService", {"GetRevision", "GetSnapshot", "GetDeltas"}},
	    {"xdrop.v1.ClusterService", {"Status"}},
	};

	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		if (strcmp(reads[i].service, service) != 0)
			continue;
		for (size_t j = 0; j < 8 && reads[i].methods[j]; j++)
			if (strcmp(reads[i].methods[j], method) == 0)
				return true;
	}
	return false;
}

static enum rpc_code check_node(struct store *s, const char *token, struct principal *p)
{
	const char *id = token + 5, *colon = strchr(id, ':');
	struct store_node sn;
	char nid[XDROP_STORE_MAX_ID + 1];
	size_t idlen;
	bool ok, found;
	int rc;

	if (!colon || (idlen = (size_t)(colon - id)) == 0 || idlen > XDROP_STORE_MAX_ID)
		return RPC_UNAUTHENTICATED;
	memcpy(nid, id, idlen);
	nid[idlen] = '\0';
	if (!rule_id_ok(nid)) /* the one id rule (lib/rule.h), for tokens as for creation */
		return RPC_UNAUTHENTICATED;
	rc = store_node_get(s, nid, &sn);
	if (rc < 0 && rc != -ENOENT) /* no answer from the store (a cut-off cluster node) */
		return RPC_UNAVAILABLE;
	found = rc == 0;
	/* an unknown node runs the same verification against a dummy verifier, so the
	 * answer's timing does not tell which node ids exist */
	ok = nodekey_verify(found ? sn.cred : NULL, colon + 1);
	if (found)
		store_node_free(&sn);
	if (!ok)
		return RPC_UNAUTHENTICATED;
	p->kind = AUTH_NODE;
	snprintf(p->id, sizeof(p->id), "%s", nid);
	return RPC_OK;
}

/* Verifies secret against key row id: 1 match (row in *k, free k->name), 0 not, -1 the
 * store did not answer (a cluster node cut off from the others): no verdict either way. */
static int verify(struct store *s, const char *id, const char *secret, struct store_key *k)
{
	uint8_t h[XDROP_KEY_HASH_LEN];
	int rc = store_key_get(s, id, k);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return -1;
	key_hash(k->salt, secret, h);
	if (equal_ct(h, k->hash, sizeof(h)))
		return 1;
	free(k->name);
	return 0;
}

static enum rpc_code check_key(struct store *s, const char *token, struct principal *p)
{
	char id[XDROP_STORE_MAX_ID + 1];
	struct store_key k;
	int ok = 0;
	int64_t now;

	if (strncmp(token, "xdk_", 4) == 0) {
		const char *sep = strchr(token + 4, '_');
		size_t len = sep ? (size_t)(sep - token - 4) : 0;

		if (len && len <= XDROP_STORE_MAX_ID) {
			memcpy(id, token + 4, len);
			id[len] = '\0';
			ok = verify(s, id, sep + 1, &k);
		}
	}
	if (ok == 0) /* the config's key may have any form */
		ok = verify(s, XDROP_BOOTSTRAP_KEY_ID, token, &k);
	if (ok < 0)
		return RPC_UNAVAILABLE;
	if (!ok)
		return RPC_UNAUTHENTICATED;
	free(k.name);
	p->kind = strcmp(k.scope, "admin") == 0 ? AUTH_ADMIN : AUTH_READ_ONLY;
	snprintf(p->id, sizeof(p->id), "%s", k.id);
	now = clock_wall_ns();
	if (now - k.last_used_at > XDROP_KEY_TOUCH_NS)
		store_key_touch(s, k.id, now);
	return RPC_OK;
}

#define STORE_NO_ANSWER                                                                            \
	"the store does not answer (this controller is cut off from its cluster's "                \
	"majority?); try again or another controller"

enum rpc_code auth_hook(struct rpc_call *call, const char *token, void *arg)
{
	struct store *s = arg;
	const char *service = rpc_call_service(call), *method = rpc_call_method(call);
	struct principal *p = rpc_call_alloc(call, sizeof(*p));
	enum rpc_code rc;

	if (!p)
		return RPC_RESOURCE_EXHAUSTED;
	p->kind = AUTH_NONE;
	rpc_call_set_principal(call, p);
	if (strcmp(service, "xdrop.v1.HealthService") == 0)
		return RPC_OK;
	if (!dq_session_gate_open()) {
		/* a controller of a cluster whose node knows no leader: nothing can be read or
		 * written here now; refused before the store is asked, and the client sent on
		 * to another controller (RpcReply.try_elsewhere) */
		rpc_call_set_try_elsewhere(call);
		return rpc_call_error(call, RPC_UNAVAILABLE, NULL, "%s; nothing was changed",
				      XDROP_DQ_NO_LEADER);
	}
	if (!token || !token[0])
		return RPC_UNAUTHENTICATED;
	if (strlen(token) > XDROP_RPC_MAX_TOKEN)
		return RPC_UNAUTHENTICATED;
	if (strncmp(token, "node:", 5) == 0) {
		rc = check_node(s, token, p);
		if (rc == RPC_OK && strcmp(service, "xdrop.v1.SyncService") != 0)
			return RPC_PERMISSION_DENIED;
	} else {
		rc = check_key(s, token, p);
	}
	if (rc == RPC_UNAVAILABLE)
		return rpc_call_error(call, rc, NULL, "%s", STORE_NO_ANSWER);
	if (rc != RPC_OK || p->kind == AUTH_NODE)
		return rc;
	if (p->kind == AUTH_ADMIN || is_read(service, method))
		return RPC_OK;
	return RPC_PERMISSION_DENIED;
}
