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
 *
 * Server name: a client checks that the server's certificate carries server_name, or, when
 * none is given, the host of the URL it dials (an IP address or a DNS name). mbedTLS 2.28
 * (Debian 12) compares that name with the certificate's DNS SANs (or its CN when it has
 * none) and never with IP-address SANs: a server reached by IP address needs a certificate
 * that carries the address as a DNS SAN or CN, or the client names the certificate's DNS
 * name in server_name. skip_name_check turns the name check off (any certificate from the
 * CA is then accepted, so one node's certificate can impersonate the controller); the
 * daemons log a warning when it is set. insecure turns off every check (tests only).
 */
#ifndef XDROP_TLS_H
#define XDROP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

struct tls_opts {
	const char *ca_file;	  /* PEM CA bundle used to verify the peer */
	const char *cert_file;	  /* our certificate (PEM), may hold the chain */
	const char *key_file;	  /* our private key (PEM) */
	const char *key_pass;	  /* key password, or NULL */
	const char *server_name;  /* client: name the server cert must carry (NULL: URL host) */
	bool require_client_cert; /* server: mutual TLS */
	bool insecure;		  /* client: do not verify the server (tests only) */
	bool skip_name_check;	  /* client: verify the CA but not the name (logged) */
};

/* Number of strings in struct tls_opts (for tls_opts_copy). */
#define XDROP_TLS_STRINGS 5

/*
 * Copies src into dst with copies of its strings, which are kept in strings[] and freed with
 * tls_opts_free(strings) (also after a failure). Returns 0 or -ENOMEM.
 */
int tls_opts_copy(struct tls_opts *dst, char *strings[XDROP_TLS_STRINGS],
		  const struct tls_opts *src);
void tls_opts_free(char *strings[XDROP_TLS_STRINGS]);

/*
 * The text of an nng error number, for every value nng returns: unlike nng_strerror() in
 * nng 1.5.2 it decodes NNG_ESYSERR|errno (strerror), NNG_ESYSERR plus a negative
 * getaddrinfo() code (gai_strerror) and NNG_ETRANERR|code. The text lives in a
 * thread-local buffer valid until the thread's next call. Every nng error that is logged or
 * reported goes through it.
 */
const char *tls_strerror(int nng_rv);

/*
 * Copies the host of url ("tls+tcp://host:port", "tcp://[v6]:port") into buf, without the
 * brackets of an IPv6 literal. Returns 0, -EINVAL when url has no host, -ENAMETOOLONG.
 */
int tls_url_host(const char *url, char *buf, size_t len);

/* True when name is an IPv4 or IPv6 address literal. */
bool tls_name_is_ip(const char *name);

/*
 * Creates a dialer on sock for url with its TLS configuration, without starting it.
 * diagnostic: verify the peer optionally (the handshake succeeds whatever the result, which
 * the pipe then reports as NNG_OPT_TLS_VERIFIED) and check no name; used to tell a
 * certificate from an unknown CA from one with another name. Returns 0 or a negative
 * errno; on success the caller starts or closes *out.
 */
int tls_dialer_create(nng_socket sock, const char *url, const struct tls_opts *opts,
		      bool diagnostic, nng_dialer *out);

/*
 * Builds the TLS configuration of a server (server) or a client endpoint for url, as the
 * listeners and dialers above do (certificates, CA, mutual TLS, the name checked), for
 * users of nng's byte streams (lib/dqtls). Returns 0 and *out (nng_tls_config_free) or
 * a negative errno.
 */
int tls_config_build(nng_tls_config **out, bool server, const struct tls_opts *opts,
		     const char *url);

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
