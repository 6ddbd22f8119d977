// SPDX-License-Identifier: MIT
/*
 * dqtls: TLS in front of libdqlite (see dqtls.h). nng's byte streams (nng_stream over
 * tls+tcp://, mbedTLS) carry the TLS side; the plain side is a socket: the local node's
 * address for accepted connections, one end of a socketpair for dialed ones. A pump is
 * two detached threads that share it: each copies one direction and, when its side ends,
 * closes the stream and shuts the socket down, which ends the other; the last to leave
 * frees the pump.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dqtls.h"
#include "log.h"

#define PUMP_BUF 16384

struct pump {
	struct dqtls *t;
	nng_stream *s;
	nng_stream_dialer *dialer;  /* dialed pumps keep theirs until the end */
	nng_aio *up_aio, *down_aio; /* the stream's send and receive */
	int fd;			    /* -1 until an accepted pump connects to the local node */
	int refs;		    /* threads still running, under t->lock */
	struct pump *prev, *next;   /* t->pumps */
};

struct dqtls {
	struct tls_opts o;
	char *strings[XDROP_TLS_STRINGS];
	char local[108];
	nng_stream_listener *listener;
	pthread_t accept_thread;
	bool accepting;
	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when a pump ends */
	struct pump *pumps;
	unsigned n;
	bool closing;
};

static int address_url(const char *address, char *url, size_t len)
{
	if (!address || !strchr(address, ':') ||
	    (size_t)snprintf(url, len, "tls+tcp://%s", address) >= len)
		return -EINVAL;
	return 0;
}

/* Sends all n bytes of p on the stream: 0 or an nng error. */
static int stream_send_all(nng_stream *s, nng_aio *aio, const uint8_t *p, size_t n)
{
	while (n) {
		nng_iov iov = {.iov_buf = (void *)p, .iov_len = n};
		size_t k;
		int rv;

		nng_aio_set_iov(aio, 1, &iov);
		nng_stream_send(s, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv)
			return rv;
		k = nng_aio_count(aio);
		p += k;
		n -= k;
	}
	return 0;
}

/* Receives some bytes into buf: their count, or 0 at the end (closed or failed). */
static size_t stream_recv(nng_stream *s, nng_aio *aio, uint8_t *buf, size_t len)
{
	nng_iov iov = {.iov_buf = buf, .iov_len = len};

	nng_aio_set_iov(aio, 1, &iov);
	nng_stream_recv(s, aio);
	nng_aio_wait(aio);
	return nng_aio_result(aio) ? 0 : nng_aio_count(aio);
}

static int fd_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Ends both directions (either thread may call it, more than once). nng 1.5.2 does not
 * abort a TLS stream's pending receive when the stream is closed: the aios are stopped
 * (which also fails any operation started on them later). */
static void pump_shut(struct pump *p)
{
	nng_stream_close(p->s);
	nng_aio_stop(p->up_aio);
	nng_aio_stop(p->down_aio);
	if (p->fd >= 0)
		shutdown(p->fd, SHUT_RDWR);
}

/* A thread leaves p: the last one frees it. */
static void pump_leave(struct pump *p)
{
	struct dqtls *t = p->t;
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --p->refs == 0;
	if (last) {
		if (p->prev)
			p->prev->next = p->next;
		else
			t->pumps = p->next;
		if (p->next)
			p->next->prev = p->prev;
		t->n--;
		pthread_cond_broadcast(&t->idle);
	}
	pthread_mutex_unlock(&t->lock);
	if (!last)
		return;
	nng_stream_free(p->s);
	nng_aio_free(p->up_aio);
	nng_aio_free(p->down_aio);
	if (p->dialer)
		nng_stream_dialer_free(p->dialer);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

/* socket -> TLS */
static void *pump_up(void *arg)
{
	struct pump *p = arg;
	uint8_t *buf = malloc(PUMP_BUF);

	for (; buf;) {
		ssize_t k = recv(p->fd, buf, PUMP_BUF, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || stream_send_all(p->s, p->up_aio, buf, (size_t)k))
			break;
	}
	pump_shut(p);
	free(buf);
	pump_leave(p);
	return NULL;
}

/* Connects to the local node's address ("@abstract" or "host:port"): fd or -errno. */
static int local_connect(const char *local)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[108], *colon;
	int fd, rc = -EADDRNOTAVAIL;

	if (local[0] == '@') {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		size_t n = strlen(local);

		memcpy(sa.sun_path + 1, local + 1, n - 1); /* abstract: a leading NUL */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&sa,
			    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == 0)
			return fd;
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	snprintf(host, sizeof(host), "%s", local);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			rc = fd;
			break;
		}
		rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

/*
 * TLS -> socket. An accepted pump (fd -1) first waits for the peer's first bytes, which
 * complete the handshake (mutual TLS: its certificate verified), and only then connects
 * to the local node and starts the other direction.
 */
static void *pump_down(void *arg)
{
	struct pump *p = arg;
	uint8_t *buf = malloc(PUMP_BUF);
	size_t k;
	pthread_t th;

	if (!buf)
		goto out;
	while ((k = stream_recv(p->s, p->down_aio, buf, PUMP_BUF)) > 0) {
		if (p->fd < 0) {
			int fd = local_connect(p->t->local);

			if (fd < 0) {
				log_warn("dqtls: cannot reach the local node at %s: %s",
					 p->t->local, strerror(-fd));
				break;
			}
			pthread_mutex_lock(&p->t->lock);
			if (p->t->closing) {
				pthread_mutex_unlock(&p->t->lock);
				close(fd);
				break;
			}
			p->fd = fd;
			p->refs++;
			pthread_mutex_unlock(&p->t->lock);
			if (pthread_create(&th, NULL, pump_up, p) != 0) {
				pump_leave(p); /* the reference just taken */
				break;
			}
			pthread_detach(th);
		}
		if (fd_write_all(p->fd, buf, k))
			break;
	}
out:
	pump_shut(p);
	free(buf);
	pump_leave(p);
	return NULL;
}

/* Registers a pump on s (fd: the plain side, -1 for an accepted one) and starts its
 * threads. On failure s, the dialer and fd are released here. */
static int pump_start(struct dqtls *t, nng_stream *s, nng_stream_dialer *d, int fd)
{
	struct pump *p = calloc(1, sizeof(*p));
	pthread_t th;

	if (p &&
	    (nng_aio_alloc(&p->up_aio, NULL, NULL) || nng_aio_alloc(&p->down_aio, NULL, NULL))) {
		nng_aio_free(p->up_aio);
		free(p);
		p = NULL;
	}
	if (!p) {
		nng_stream_free(s);
		if (d)
			nng_stream_dialer_free(d);
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	p->t = t;
	p->s = s;
	p->dialer = d;
	p->fd = fd;
	p->refs = fd >= 0 ? 2 : 1;
	pthread_mutex_lock(&t->lock);
	p->next = t->pumps;
	if (t->pumps)
		t->pumps->prev = p;
	t->pumps = p;
	t->n++;
	pthread_mutex_unlock(&t->lock);
	if (pthread_create(&th, NULL, pump_down, p) != 0) {
		p->refs = 1;
		pump_shut(p);
		pump_leave(p);
		return -EAGAIN;
	}
	pthread_detach(th);
	if (fd >= 0) {
		if (pthread_create(&th, NULL, pump_up, p) != 0) {
			pump_shut(p);
			pump_leave(p);
			return -EAGAIN;
		}
		pthread_detach(th);
	}
	return 0;
}

int dqtls_open(struct dqtls **out, const struct tls_opts *o)
{
	struct dqtls *t = calloc(1, sizeof(*t));
	int err;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	err = tls_opts_copy(&t->o, t->strings, o);
	if (err) {
		tls_opts_free(t->strings);
		free(t);
		return err;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->idle, NULL);
	*out = t;
	return 0;
}

static void *accept_loop(void *arg)
{
	struct dqtls *t = arg;
	nng_aio *aio = NULL;

	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		return NULL;
	for (;;) {
		int rv;

		nng_stream_listener_accept(t->listener, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv == NNG_ECLOSED)
			break;
		if (rv == 0)
			pump_start(t, nng_aio_get_output(aio, 0), NULL, -1);
		else
			usleep(20000); /* out of descriptors, ...: not a busy loop */
	}
	nng_aio_free(aio);
	return NULL;
}

int dqtls_listen(struct dqtls *t, const char *address, const char *local)
{
	nng_tls_config *cfg = NULL;
	char url[300];
	int rv, err;

	if (t->listener || !local || strlen(local) >= sizeof(t->local) ||
	    address_url(address, url, sizeof(url)))
		return -EINVAL;
	snprintf(t->local, sizeof(t->local), "%s", local);
	err = tls_config_build(&cfg, true, &t->o, url);
	if (err)
		return err;
	rv = nng_stream_listener_alloc(&t->listener, url);
	rv = rv ?: nng_stream_listener_set_ptr(t->listener, NNG_OPT_TLS_CONFIG, cfg);
	rv = rv ?: nng_stream_listener_listen(t->listener);
	nng_tls_config_free(cfg);
	if (rv) {
		log_error("dqtls: listen on %s failed: %s", address, tls_strerror(rv));
		nng_stream_listener_free(t->listener);
		t->listener = NULL;
		return tls_nng_errno(rv);
	}
	if (pthread_create(&t->accept_thread, NULL, accept_loop, t) != 0) {
		nng_stream_listener_free(t->listener);
		t->listener = NULL;
		return -EAGAIN;
	}
	t->accepting = true;
	return 0;
}

int dqtls_port(const struct dqtls *t)
{
	int port = 0, rv;

	if (!t->listener)
		return -EINVAL;
	rv = nng_stream_listener_get_int(t->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	return rv ? tls_nng_errno(rv) : port;
}

int dqtls_dial(struct dqtls *t, const char *address, int timeout_ms)
{
	nng_stream_dialer *d = NULL;
	nng_tls_config *cfg = NULL;
	nng_aio *aio = NULL;
	char url[300];
	int sv[2] = {-1, -1}, rv, err;

	if (address_url(address, url, sizeof(url)))
		return -EINVAL;
	err = tls_config_build(&cfg, false, &t->o, url);
	if (err)
		return err;
	rv = nng_stream_dialer_alloc(&d, url);
	rv = rv ?: nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	rv = rv ?: nng_aio_alloc(&aio, NULL, NULL);
	nng_tls_config_free(cfg);
	if (!rv) {
		nng_aio_set_timeout(aio, timeout_ms > 0 ? timeout_ms : XDROP_DQTLS_CONNECT_MS);
		nng_stream_dialer_dial(d, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	if (!rv && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		err = -errno;
	if (rv || err) {
		if (!rv)
			nng_stream_free(nng_aio_get_output(aio, 0));
		nng_aio_free(aio);
		nng_stream_dialer_free(d);
		return rv ? tls_nng_errno(rv) : err;
	}
	err = pump_start(t, nng_aio_get_output(aio, 0), d, sv[0]);
	nng_aio_free(aio);
	if (err) {
		close(sv[1]);
		return err;
	}
	return sv[1];
}

int dqtls_conn_dial(void *arg, const char *address, int timeout_ms)
{
	return dqtls_dial(arg, address, timeout_ms);
}

int dqtls_connect_func(void *arg, const char *address, int *fd)
{
	int rc = dqtls_dial(arg, address, XDROP_DQTLS_CONNECT_MS);

	if (rc < 0)
		return 1; /* DQLITE_ERROR */
	*fd = rc;
	return 0;
}

unsigned dqtls_active(struct dqtls *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void dqtls_close(struct dqtls *t)
{
	if (!t)
		return;
	if (t->listener)
		nng_stream_listener_close(t->listener);
	if (t->accepting)
		pthread_join(t->accept_thread, NULL);
	pthread_mutex_lock(&t->lock);
	t->closing = true;
	for (struct pump *p = t->pumps; p; p = p->next)
		pump_shut(p);
	while (t->n)
		pthread_cond_wait(&t->idle, &t->lock);
	pthread_mutex_unlock(&t->lock);
	if (t->listener)
		nng_stream_listener_free(t->listener);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	tls_opts_free(t->strings);
	free(t);
}
