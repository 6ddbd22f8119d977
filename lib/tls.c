// SPDX-License-Identifier: MIT
/*
 * tls: listeners and dialers for every URL scheme, TLS configuration from certificate
 * paths, and the translation of nng errors into negative errno values (see tls.h).
 */
#include <errno.h>
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
		return -EIO;
	}
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

/* Builds the TLS configuration of one endpoint; *out is released with nng_tls_config_free. */
static int build_config(nng_tls_config **out, bool server, const struct tls_opts *o)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
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
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv) {
		err = tls_nng_errno(rv);
		goto out;
	}
	if (o->ca_file) {
		rv = nng_tls_config_ca_file(cfg, o->ca_file);
		if (rv) {
			log_error("tls: CA file %s: %s", o->ca_file, nng_strerror(rv));
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
				  nng_strerror(rv));
			err = tls_nng_errno(rv);
			goto out;
		}
	}
	if (server)
		mode = o->require_client_cert ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE;
	else
		mode = o->insecure ? NNG_TLS_AUTH_MODE_NONE : NNG_TLS_AUTH_MODE_REQUIRED;
	rv = nng_tls_config_auth_mode(cfg, mode);
	if (!rv && !server && o->server_name)
		rv = nng_tls_config_server_name(cfg, o->server_name);
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
		log_error("listen on %s failed: %s", url, nng_strerror(rv));
		err = tls_nng_errno(rv);
		goto out;
	}
	created = true;
	if (tls_url_is_tls(url)) {
		err = build_config(&cfg, true, opts);
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
		log_error("listen on %s failed: %s", url, nng_strerror(rv));
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

int tls_dial(nng_socket sock, const char *url, const struct tls_opts *opts, nng_dialer *out)
{
	nng_dialer d = NNG_DIALER_INITIALIZER;
	nng_tls_config *cfg = NULL;
	bool created = false;
	int rv, err = 0;

	if (!url)
		return -EINVAL;
	rv = nng_dialer_create(&d, sock, url);
	if (rv) {
		log_error("dial %s failed: %s", url, nng_strerror(rv));
		err = tls_nng_errno(rv);
		goto out;
	}
	created = true;
	if (tls_url_is_tls(url)) {
		err = build_config(&cfg, false, opts);
		if (err)
			goto out;
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		if (rv) {
			err = tls_nng_errno(rv);
			goto out;
		}
	}
	rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv) {
		log_error("dial %s failed: %s", url, nng_strerror(rv));
		err = tls_nng_errno(rv);
		goto out;
	}
	if (out)
		*out = d;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	if (err && created)
		nng_dialer_close(d);
	return err;
}

int tls_listener_port(nng_listener l)
{
	int port = 0;
	int rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);

	return rv ? tls_nng_errno(rv) : port;
}
