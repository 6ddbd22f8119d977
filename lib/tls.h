/* SPDX-License-Identifier: MIT */
/*
 * tls: nng endpoints (listeners and dialers) for tcp://, tls+tcp://, ipc:// and inproc://
 * URLs, with the TLS settings every XDrop socket shares, and the one place where nng error
 * numbers become negative errno values.
 *
 * A URL with the scheme tls+tcp:// gets an nng_tls_config built from struct tls_opts
 * (certificate paths from the daemons' config files). Any other scheme ignores the TLS
 * options, so callers never branch on the scheme. Mutual TLS: a server with
 * require_client_cert refuses peers without a certificate signed by its CA; a client
 * presents cert_file/key_file when given.
 */
#ifndef XDROP_TLS_H
#define XDROP_TLS_H

#include <stdbool.h>
#include <nng/nng.h>

struct tls_opts {
	const char *ca_file;	  /* PEM CA bundle used to verify the peer */
	const char *cert_file;	  /* our certificate (PEM), may hold the chain */
	const char *key_file;	  /* our private key (PEM) */
	const char *key_pass;	  /* key password, or NULL */
	const char *server_name;  /* client: name the server cert must carry (NULL: URL host) */
	bool require_client_cert; /* server: mutual TLS */
	bool insecure;		  /* client: do not verify the server (tests only) */
};

/*
 * Translates an nng error number (NNG_E*) into a negative errno value; 0 stays 0.
 */
int tls_nng_errno(int nng_rv);

/* True when url uses the tls+tcp:// scheme. */
bool tls_url_is_tls(const char *url);

/*
 * Starts a listener on sock for url. For tls+tcp:// URLs opts must name cert_file and
 * key_file (and ca_file when require_client_cert is set); opts may be NULL otherwise.
 * Returns 0, or a negative errno (-EINVAL for a bad URL or missing TLS settings,
 * -EADDRINUSE, -EACCES for unreadable certificates, ...); the listener is closed on failure.
 * On success *out (may be NULL) receives the listener, owned by the socket.
 */
int tls_listen(nng_socket sock, const char *url, const struct tls_opts *opts, nng_listener *out);

/*
 * Starts a dialer on sock for url. The dial is asynchronous: the socket reconnects on its
 * own, so the peer need not be up yet. For tls+tcp:// URLs the server certificate is
 * verified against opts->ca_file unless opts->insecure; cert_file/key_file are presented
 * when set (mutual TLS). Returns 0 or a negative errno.
 */
int tls_dial(nng_socket sock, const char *url, const struct tls_opts *opts, nng_dialer *out);

/*
 * Returns the local TCP port a listener is bound to (for URLs with port 0), or a negative
 * errno.
 */
int tls_listener_port(nng_listener l);

#endif
