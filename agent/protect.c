// SPDX-License-Identifier: MIT
/*
 * protect: the agent's protected control flows; see protect.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "log.h"
#include "protect.h"

#define MAX_PEERS 16 /* addresses one controller host name may resolve to */
#define MAX_URLS  24 /* controller addresses: 3 keys, each a list (a cluster's controllers) */

/* nng schemes over TCP, and those that never touch the network. */
static const char *const tcp_schemes[] = {"tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6",
					  "ws",	 "ws4",	 "ws6",	 "wss",	    "wss4",	"wss6"};
static const char *const local_schemes[] = {"ipc", "inproc", "abstract"};

static bool in_list(const char *s, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && !strncmp(s, list[i], len))
			return true;
	return false;
}

/* Splits an nng URL: *tcp false for a local transport (nothing to protect), else the host
 * (brackets removed, "" when absent) and the port. Returns 0 or -EINVAL with *why. */
static int url_split(const char *url, bool *tcp, char *host, size_t hlen, uint16_t *port,
		     const char **why)
{
	const char *sep = strstr(url, "://"), *h, *end, *colon;
	size_t slen;
	char *pend;
	long v;

	if (!sep) {
		*why = "not a URL (scheme://host:port)";
		return -EINVAL;
	}
	slen = (size_t)(sep - url);
	if (in_list(url, slen, local_schemes, sizeof(local_schemes) / sizeof(*local_schemes))) {
		*tcp = false;
		return 0;
	}
	if (!in_list(url, slen, tcp_schemes, sizeof(tcp_schemes) / sizeof(*tcp_schemes))) {
		*why = "transport scheme unknown to the control-flow protection";
		return -EINVAL;
	}
	*tcp = true;
	h = sep + 3;
	end = h + strcspn(h, "/");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb) {
			*why = "IPv6 address without its closing ']'";
			return -EINVAL;
		}
		colon = rb[1] == ':' ? rb + 1 : NULL;
		h++;
		slen = (size_t)(rb - h);
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		slen = (size_t)((colon ? colon : end) - h);
	}
	if (slen >= hlen) {
		*why = "host name too long";
		return -EINVAL;
	}
	memcpy(host, h, slen);
	host[slen] = '\0';
	if (!colon) {
		/* websocket URLs may leave the port to the scheme */
		if (url[0] == 'w') {
			*port = url[2] == 's' ? 443 : 80;
			return 0;
		}
		*why = "no port";
		return -EINVAL;
	}
	errno = 0;
	v = strtol(colon + 1, &pend, 10);
	if (errno || pend != end || v < 1 || v > 65535) {
		*why = "port must be 1-65535";
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

/* Every address host resolves to (resolved once, now), IPv4 as IPv4-mapped. */
static int resolve(const char *host, struct xdrop_addr *out, size_t max, size_t *n,
		   const char **why)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	static const struct xdrop_addr zero6;
	struct xdrop_addr a;
	bool dup;
	int rc;

	*n = 0;
	if (!*host || !strcmp(host, "*")) {
		*why = "a controller URL needs a host";
		return -EINVAL;
	}
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc) {
		*why = gai_strerror(rc);
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			char txt[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, txt,
				  sizeof(txt));
			addr_parse(txt, &a, why);
		} else if (ai->ai_family == AF_INET6) {
			memcpy(a.b, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		/* an unspecified address names no peer */
		if (!memcmp(&a, &zero6, sizeof(a)) ||
		    (addr_is_v4(&a) && !a.b[12] && !a.b[13] && !a.b[14] && !a.b[15]))
			continue;
		dup = false;
		for (size_t i = 0; i < *n && !dup; i++)
			dup = !memcmp(&out[i], &a, sizeof(a));
		if (!dup && *n < max)
			out[(*n)++] = a;
	}
	freeaddrinfo(res);
	if (!*n) {
		*why = "resolves to no usable address";
		return -EINVAL;
	}
	return 0;
}

/* Adds a port to the entry of peer (created on first use); local says which list. */
static int add_port(struct protect_set *ps, const struct xdrop_addr *peer, uint16_t port,
		    bool local, const char *key)
{
	struct xdrop_protect_key k;
	__be16 *ports, p = htons(port);
	size_t i;
	char a[XDROP_ADDR_STRLEN];

	memset(&k, 0, sizeof(k));
	k.peer = *peer;
	k.proto = IPPROTO_TCP;
	for (i = 0; i < ps->n; i++)
		if (!memcmp(&ps->keys[i], &k, sizeof(k)))
			break;
	if (i == ps->n) {
		if (ps->n == XDROP_MAX_PROTECT)
			return -E2BIG;
		ps->keys[ps->n] = k;
		memset(&ps->vals[ps->n], 0, sizeof(ps->vals[0]));
		ps->n++;
	}
	ports = local ? ps->vals[i].local_port : ps->vals[i].peer_port;
	for (size_t j = 0; j < XDROP_PROTECT_PORTS; j++) {
		if (ports[j] == p)
			return 0;
		if (ports[j])
			continue;
		ports[j] = p;
		addr_format(peer, a, sizeof(a));
		if (local)
			snprintf(ps->text[ps->ntext], PROTECT_TEXT_LEN, "tcp %s -> agent:%u (%s)",
				 a, port, key);
		else
			snprintf(ps->text[ps->ntext], PROTECT_TEXT_LEN,
				 addr_is_v4(peer) ? "tcp %s:%u -> agent (%s)"
						  : "tcp [%s]:%u -> agent (%s)",
				 a, port, key);
		ps->textp[ps->ntext] = ps->text[ps->ntext];
		ps->ntext++;
		return 0;
	}
	return -E2BIG;
}

int protect_build(const struct agent_config *c, struct protect_set *out)
{
	const char *const keys[3] = {"controller.rpc", "controller.push", "controller.health"};
	const char *const urls[3] = {c->controller_rpc, c->controller_push, c->controller_health};
	struct xdrop_addr peers[MAX_URLS][MAX_PEERS];
	size_t npeers[MAX_URLS] = {0}, nurls = 0;
	char host[256], one[512];
	uint16_t port, listen_port = 0;
	const char *why = NULL, *key = NULL;
	bool tcp;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!c->protect_control || !c->controller_rpc)
		return 0;
	key = "rpc.listen";
	err = url_split(c->rpc_listen, &tcp, host, sizeof(host), &port, &why);
	if (err)
		goto fail;
	if (tcp)
		listen_port = port;
	for (int k = 0; k < 3; k++) {
		/* each address of the key's list (several controllers: joined by commas) */
		for (const char *a = urls[k], *end; *a; a = *end ? end + 1 : end) {
			size_t u = nurls;

			key = keys[k];
			end = a + strcspn(a, ",");
			if (u == MAX_URLS || (size_t)(end - a) >= sizeof(one))
				goto fail_full;
			snprintf(one, sizeof(one), "%.*s", (int)(end - a), a);
			err = url_split(one, &tcp, host, sizeof(host), &port, &why);
			if (!err && tcp && resolve(host, peers[u], MAX_PEERS, &npeers[u], &why)) {
				log_warn("config %s: host %s: %s; the protected control flows stay "
					 "as pinned by the previous run",
					 key, host, why);
				return -EAGAIN;
			}
			if (err)
				goto fail;
			nurls++;
			for (size_t i = 0; i < npeers[u]; i++) {
				err = add_port(out, &peers[u][i], port, false, key);
				if (err)
					goto fail_full;
			}
		}
	}
	key = "rpc.listen";
	for (size_t u = 0; u < nurls && listen_port; u++) {
		for (size_t i = 0; i < npeers[u]; i++) {
			err = add_port(out, &peers[u][i], listen_port, true, key);
			if (err)
				goto fail_full;
		}
	}
	for (size_t i = 0; i < out->ntext; i++)
		log_info("protected control flow: %s", out->text[i]);
	return 0;
fail_full:
	why = "too many controller addresses and ports to protect";
fail:
	log_error("config %s: %s (control-flow protection; protect_control: false turns it off)",
		  key, why ? why : strerror(-err));
	return -EINVAL;
}

int protect_apply(struct dataplane *dp, const struct protect_set *ps)
{
	int err = dataplane_set_protect(dp, ps->keys, ps->vals, ps->n);

	if (err)
		log_error("protected control flows: writing the data plane failed: %s",
			  strerror(-err));
	else if (!ps->n)
		log_info("no protected control flows (protect_control off, or no controller)");
	return err;
}
