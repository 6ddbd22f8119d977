// SPDX-License-Identifier: MIT
/*
 * tls: listeners and dialers for every URL scheme, TLS configuration from certificate
 * paths, and the translation of nng errors into negative errno values (see tls.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "log.h"
#include "tls.h"

/* Certificates and keys are small; anything larger is not a PEM file we want. */
#define XDROP_TLS_MAX_PEM (1024 * 1024)

int tls_nng_errno(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case NNG_EINTR:
		return -EINTR;
	case NNG_ENOMEM:
		return -ENOMEM;
	case NNG_EINVAL:
		return -EINVAL;
	case NNG_EBUSY:
		return -EBUSY;
	case NNG_ETIMEDOUT:
		return -ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return -ECONNREFUSED;
	case NNG_ECLOSED:
		return -EBADF;
	case NNG_EAGAIN:
		return -EAGAIN;
	case NNG_ENOTSUP:
		return -ENOTSUP;
	case NNG_EADDRINUSE:
		return -EADDRINUSE;
	case NNG_ESTATE:
		return -EALREADY;
	case NNG_ENOENT:
		return -ENOENT;
	case NNG_EPROTO:
		return -EPROTO;
	case NNG_EUNREACHABLE:
		return -EHOSTUNREACH;
	case NNG_EADDRINVAL:
		return -EADDRNOTAVAIL;
	case NNG_EPERM:
		return -EPERM;
	case NNG_EMSGSIZE:
		return -EMSGSIZE;
	case NNG_ECONNABORTED:
		return -ECONNABORTED;
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		return -ECONNRESET;
	case NNG_ECANCELED:
		return -ECANCELED;
	case NNG_ENOFILES:
		return -EMFILE;
	case NNG_ENOSPC:
		return -ENOSPC;
	case NNG_EEXIST:
		return -EEXIST;
	case NNG_EREADONLY:
	case NNG_EWRITEONLY:
		return -EROFS;
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return -EACCES;
	case NNG_ENOARG:
	case NNG_EAMBIGUOUS:
	case NNG_EBADTYPE:
		return -EINVAL;
	default:
		if (rv & NNG_ESYSERR)
			return -(rv & ~NNG_ESYSERR);
		if (rv > NNG_ESYSERR - 64 && rv < NNG_ESYSERR)
			return -EADDRNOTAVAIL; /* a getaddrinfo() failure, see tls_strerror */
		return -EIO;
	}
}

const char *tls_strerror(int rv)
{
	static _Thread_local char buf[128];

	if (rv & NNG_ETRANERR)
		snprintf(buf, sizeof(buf), "transport error %d", rv & ~NNG_ETRANERR);
	else if (rv & NNG_ESYSERR)
		snprintf(buf, sizeof(buf), "%s", strerror(rv & ~NNG_ESYSERR));
	else if (rv > NNG_ESYSERR - 64 && rv < NNG_ESYSERR)
		/* nng 1.5.2 reports an unmapped getaddrinfo() result as NNG_ESYSERR plus the
		 * (negative) EAI_ code, which nng_strerror prints as "Unknown error #..." */
		snprintf(buf, sizeof(buf), "address lookup failed: %s",
			 gai_strerror(rv - NNG_ESYSERR));
	else
		snprintf(buf, sizeof(buf), "%s", nng_strerror(rv));
	return buf;
}

int tls_opts_copy(struct tls_opts *dst, char *strings[XDROP_TLS_STRINGS],
		  const struct tls_opts *src)
{
	const char *const in[XDROP_TLS_STRINGS] = {src->ca_file, src->cert_file, src->key_file,
						   src->key_pass, src->server_name};

	*dst = *src;
	for (int i = 0; i < XDROP_TLS_STRINGS; i++) {
		strings[i] = in[i] ? strdup(in[i]) : NULL;
		if (in[i] && !strings[i])
			return -ENOMEM;
	}
	dst->ca_file = strings[0];
	dst->cert_file = strings[1];
	dst->key_file = strings[2];
	dst->key_pass = strings[3];
	dst->server_name = strings[4];
	return 0;
}

void tls_opts_free(char *strings[XDROP_TLS_STRINGS])
{
	for (int i = 0; i < XDROP_TLS_STRINGS; i++) {
		free(strings[i]);
		strings[i] = NULL;
	}
}

int tls_url_host(const char *url, char *buf, size_t len)
{
	const char *h = url ? strstr(url, "://") : NULL, *end;
	size_t n;

	if (!h || !len)
		return -EINVAL;
	h += 3;
	if (*h == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = h + strcspn(h, ":/");
	}
	if (!end || end == h)
		return -EINVAL;
	n = (size_t)(end - h);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return 0;
}

bool tls_name_is_ip(const char *name)
{
	unsigned char a[16];

	return name && (inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1);
}

bool tls_url_is_tls(const char *url)
{
	return url && strncmp(url, "tls+", 4) == 0;
}

/* Reads a whole PEM file into a NUL-terminated buffer the caller frees. */
static int read_pem(const char *path, char **out)
{
	FILE *f = NULL;
	char *buf = NULL;
	long len;
	int err = 0;

	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		log_error("tls: open %s failed: %s", path, strerror(errno));
		goto out;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		err = -EIO;
		goto out;
	}
	if (len == 0 || len > XDROP_TLS_MAX_PEM) {
		err = -EINVAL;
		log_error("tls: %s: size %ld out of range", path, len);
		goto out;
	}
	buf = malloc((size_t)len + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		err = -EIO;
		log_error("tls: read %s failed", path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	free(buf);
	if (f)
		fclose(f);
	return err;
}

/*
 * The name a client checks in the server's certificate: server_name, else url's host; NULL
 * when the check is off (skip_name_check, insecure, or a diagnostic dial).
 */
static int client_name(const struct tls_opts *o, const char *url, bool diagnostic, char *buf,
		       size_t len, const char **name)
{
	int err;

	*name = NULL;
	if (diagnostic || o->insecure || o->skip_name_check)
		return 0;
	if (o->server_name) {
		*name = o->server_name;
		return 0;
	}
	err = tls_url_host(url, buf, len);
	if (err) {
		log_error("tls: %s: no host to check the server certificate against", url);
		return err;
	}
	*name = buf;
	return 0;
}

/* Builds the TLS configuration of one endpoint; *out is released with nng_tls_config_free. */
static int build_config(nng_tls_config **out, bool server, const struct tls_opts *o,
			const char *url, bool diagnostic)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL, host[256];
	const char *name = NULL;
	nng_tls_auth_mode mode;
	int rv, err = 0;

	if (server && (!o || !o->cert_file || !o->key_file)) {
		log_error("tls: a tls+tcp listener needs cert_file and key_file");
		return -EINVAL;
	}
	if (server && o->require_client_cert && !o->ca_file) {
		log_error("tls: mutual TLS needs ca_file to verify clients");
		return -EINVAL;
	}
	if (!server && (!o || (!o->ca_file && !o->insecure))) {
		log_error("tls: a tls+tcp dialer needs ca_file (or insecure)");
		return -EINVAL;
	}
	if (!server) {
		err = client_name(o, url, diagnostic, host, sizeof(host), &name);
		if (err)
			return err;
	}
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv) {
		err = tls_nng_errno(rv);
		goto out;
	}
	if (o->ca_file) {
		rv = nng_tls_config_ca_file(cfg, o->ca_file);
		if (rv) {
			log_error("tls: CA file %s: %s", o->ca_file, tls_strerror(rv));
			err = tls_nng_errno(rv);
			goto out;
		}
	}
	if (o->cert_file || o->key_file) {
		if (!o->cert_file || !o->key_file) {
			log_error("tls: cert_file and key_file go together");
			err = -EINVAL;
			goto out;
		}
		err = read_pem(o->cert_file, &cert);
		if (err)
			goto out;
		err = read_pem(o->key_file, &key);
		if (err)
			goto out;
		rv = nng_tls_config_own_cert(cfg, cert, key, o->key_pass);
		if (rv) {
			log_error("tls: certificate %s / key %s: %s", o->cert_file, o->key_file,
				  tls_strerror(rv));
			err = tls_nng_errno(rv);
			goto out;
		}
	}
	if (server)
		mode = o->require_client_cert ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE;
	else if (diagnostic)
		mode = NNG_TLS_AUTH_MODE_OPTIONAL;
	else
		mode = o->insecure ? NNG_TLS_AUTH_MODE_NONE : NNG_TLS_AUTH_MODE_REQUIRED;
	rv = nng_tls_config_auth_mode(cfg, mode);
	if (!rv && name)
		rv = nng_tls_config_server_name(cfg, name);
	if (rv) {
		err = tls_nng_errno(rv);
		goto out;
	}
	*out = cfg;
	cfg = NULL;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	free(cert);
	free(key);
	return err;
}

int tls_config_build(nng_tls_config **out, bool server, const struct tls_opts *opts,
		     const char *url)
{
	return build_config(out, server, opts, url, false);
}

int tls_listen(nng_socket sock, const char *url, const struct tls_opts *opts, nng_listener *out)
{
	nng_listener l = NNG_LISTENER_INITIALIZER;
	nng_tls_config *cfg = NULL;
	bool created = false;
	int rv, err = 0;

	if (!url)
		return -EINVAL;
	rv = nng_listener_create(&l, sock, url);
	if (rv) {
		log_error("listen on %s failed: %s", url, tls_strerror(rv));
		err = tls_nng_errno(rv);
		goto out;
	}
	created = true;
	if (tls_url_is_tls(url)) {
		err = build_config(&cfg, true, opts, url, false);
		if (err)
			goto out;
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		if (rv) {
			err = tls_nng_errno(rv);
			goto out;
		}
	}
	rv = nng_listener_start(l, 0);
	if (rv) {
		log_error("listen on %s failed: %s", url, tls_strerror(rv));
		err = tls_nng_errno(rv);
		goto out;
	}
	if (out)
		*out = l;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	if (err && created)
		nng_listener_close(l);
	return err;
}

int tls_dialer_create(nng_socket sock, const char *url, const struct tls_opts *opts,
		      bool diagnostic, nng_dialer *out)
{
	nng_dialer d = NNG_DIALER_INITIALIZER;
	nng_tls_config *cfg = NULL;
	bool created = false;
	int rv, err = 0;

	if (!url)
		return -EINVAL;
	rv = nng_dialer_create(&d, sock, url);
	if (rv) {
		log_error("dial %s failed: %s", url, tls_strerror(rv));
		err = tls_nng_errno(rv);
		goto out;
	}
	created = true;
	if (tls_url_is_tls(url)) {
		err = build_config(&cfg, false, opts, url, diagnostic);
		if (err)
			goto out;
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		if (rv) {
			err = tls_nng_errno(rv);
			goto out;
		}
	}
	*out = d;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	if (err && created)
		nng_dialer_close(d);
	return err;
}

int tls_dial(nng_socket sock, const char *url, const struct tls_opts *opts, nng_dialer *out)
{
	nng_dialer d = NNG_DIALER_INITIALIZER;
	int rv, err;

	err = tls_dialer_create(sock, url, opts, false, &d);
	if (err)
		return err;
	if (tls_url_is_tls(url) && opts && opts->skip_name_check)
		log_warn("tls: %s: the server certificate's name is not checked "
			 "(skip_name_check): any certificate from the CA is accepted",
			 url);
	rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv) {
		log_error("dial %s failed: %s", url, tls_strerror(rv));
		nng_dialer_close(d);
		return tls_nng_errno(rv);
	}
	if (out)
		*out = d;
	return 0;
}

int tls_listener_port(nng_listener l)
{
	int port = 0;
	int rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);

	return rv ? tls_nng_errno(rv) : port;
}
