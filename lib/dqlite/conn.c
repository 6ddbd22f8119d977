// SPDX-License-Identifier: MIT
/*
 * dqlite/conn: one connection to one node (see conn.h). The socket is non-blocking from
 * its creation; send and recv loops wait in poll() for at most the time left before the
 * call's deadline (lib/clock), so no path can block past it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dqlite/conn.h"

struct dq_conn {
	int fd;
	bool broken;
	bool failure; /* the last response was a well-formed FAILURE */
	int call_timeout_ms;
	char address[XDROP_DQ_MAX_ADDRESS];
	struct dq_error err;
	uint8_t *rx; /* body of the last response */
};

int dq_error_errno(uint64_t code)
{
	if (code == XDROP_DQ_SQLITE_NOT_LEADER)
		return -EREMCHG;
	if (code == XDROP_DQ_SQLITE_LEADERSHIP_LOST)
		return -ECONNABORTED;
	if ((code & 0xff) == 5 || (code & 0xff) == 6) /* SQLITE_BUSY, SQLITE_LOCKED */
		return -EBUSY;
	return -EIO;
}

/* Splits "host:port" / "[v6]:port" into host and port. */
static int split_address(const char *address, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(address, ':');
	const char *h = address;
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	n = (size_t)(colon - address);
	if (n && address[0] == '[') {
		if (address[n - 1] != ']')
			return -EINVAL;
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* Waits for events on fd until deadline_ms: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - clock_mono_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err = 0, rc;
	socklen_t elen = sizeof(err);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto fail;
	}
	rc = wait_fd(fd, POLLOUT, deadline_ms);
	if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		rc = -errno;
	else if (rc == 0 && err)
		rc = -err;
	if (rc)
		goto fail;
	/* One small request waits for one small response: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A cut link sends no reset: data left unacknowledged, or keepalive probes (each
	 * second) left unanswered, end the connection after XDROP_DQ_USER_TIMEOUT_MS rather
	 * than the whole call timeout, and the session turns to the new leader. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &(int){XDROP_DQ_USER_TIMEOUT_MS},
		   sizeof(int));
	return fd;
fail:
	close(fd);
	return rc;
}

static int dial(const char *address, int64_t deadline_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[XDROP_DQ_MAX_ADDRESS], port[16];
	int rc = split_address(address, host, sizeof(host), port, sizeof(port));

	if (rc)
		return rc;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EADDRNOTAVAIL;
	rc = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai, deadline_ms);
		if (rc >= 0)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

static int (*default_dial)(void *arg, const char *address, int timeout_ms);
static void *default_dial_arg;

void dq_conn_set_default_dial(int (*fn)(void *arg, const char *address, int timeout_ms), void *arg)
{
	default_dial = fn;
	default_dial_arg = arg;
}

/* A connect hook (the options', else the default one), its socket made non-blocking as
 * ours are. */
static int hook_dial(int (*fn)(void *, const char *, int), void *arg, const char *address,
		     int64_t deadline_ms)
{
	int64_t left = deadline_ms - clock_mono_ms();
	int fd = fn(arg, address, left > 0 ? (int)left : 1), fl;

	if (fd < 0)
		return fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		fl = -errno;
		close(fd);
		return fl;
	}
	return fd;
}

static int send_all(struct dq_conn *c, const uint8_t *p, size_t n, int64_t deadline_ms)
{
	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		int rc;

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno != EAGAIN)
			return -errno;
		rc = wait_fd(c->fd, POLLOUT, deadline_ms);
		if (rc)
			return rc;
	}
	return 0;
}

static int recv_all(struct dq_conn *c, uint8_t *p, size_t n, int64_t deadline_ms)
{
	while (n) {
		ssize_t k = recv(c->fd, p, n, 0);
		int rc;

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return -ECONNRESET; /* the node closed the connection */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		rc = wait_fd(c->fd, POLLIN, deadline_ms);
		if (rc)
			return rc;
	}
	return 0;
}

void dq_conn_close(struct dq_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->rx);
	free(c);
}

void dq_conn_shutdown(struct dq_conn *c)
{
	if (c && c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

int dq_conn_open(struct dq_conn **out, const char *address, const struct dq_conn_opts *opts,
		 char *why, size_t why_len)
{
	int connect_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
							      : XDROP_DQ_CONNECT_TIMEOUT_MS;
	int64_t deadline = clock_mono_ms() + connect_ms;
	struct dq_buf hs = {0};
	struct dq_conn *c;
	int rc;

	*out = NULL;
	if (!address || strlen(address) >= XDROP_DQ_MAX_ADDRESS)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->call_timeout_ms =
	    opts && opts->call_timeout_ms > 0 ? opts->call_timeout_ms : XDROP_DQ_CALL_TIMEOUT_MS;
	strcpy(c->address, address);
	if (opts && opts->dial)
		rc = hook_dial(opts->dial, opts->dial_arg, address, deadline);
	else if (default_dial)
		rc = hook_dial(default_dial, default_dial_arg, address, deadline);
	else
		rc = dial(address, deadline);
	if (rc < 0)
		goto out;
	c->fd = rc;
	rc = dq_wire_handshake(&hs);
	if (rc == 0)
		rc = send_all(c, hs.p, hs.len, deadline);
out:
	dq_buf_free(&hs);
	if (rc < 0) {
		if (why)
			snprintf(why, why_len, "dqlite node %s: %s", address,
				 rc == -EINVAL		? "not a host:port address"
				 : rc == -EADDRNOTAVAIL ? "cannot resolve the host"
							: strerror(-rc));
		dq_conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void dq_conn_set_call_timeout(struct dq_conn *c, int ms)
{
	if (ms > 0)
		c->call_timeout_ms = ms;
}

/* What each errno of conn.h means to a caller. */
static const char *meaning(int rc)
{
	switch (rc) {
	case -EREMCHG:
		return "not the leader";
	case -ECONNABORTED:
		return "leadership lost during the request (its outcome is unknown)";
	case -EBUSY:
		return "busy";
	case -EIO:
		return "request failed";
	case -EPROTO:
		return "malformed response";
	case -ENOTCONN:
		return "connection broken by an earlier error";
	default:
		return strerror(-rc);
	}
}

char *dq_conn_why(const struct dq_conn *c, int rc, char *buf, size_t len)
{
	if (c->failure && c->err.code)
		snprintf(buf, len, "dqlite node %s: %s (%llu: %s)", c->address, meaning(rc),
			 (unsigned long long)c->err.code, c->err.msg);
	else
		snprintf(buf, len, "dqlite node %s: %s", c->address, meaning(rc));
	return buf;
}

const char *dq_conn_address(const struct dq_conn *c)
{
	return c->address;
}

const struct dq_error *dq_conn_error(const struct dq_conn *c)
{
	return &c->err;
}

bool dq_conn_broken(const struct dq_conn *c)
{
	return c->broken;
}

void dq_conn_set_broken(struct dq_conn *c)
{
	c->broken = true;
}

uint8_t *dq_conn_take_body(struct dq_conn *c)
{
	uint8_t *b = c->rx;

	c->rx = NULL;
	return b;
}

/* Keeps a FAILURE's code and message; returns its errno (or -EPROTO if malformed). */
static int take_failure(struct dq_conn *c, const struct dq_msg *m)
{
	const char *msg;
	uint64_t code;

	if (dq_wire_failure(m->body, m->len, &code, &msg) < 0)
		return -EPROTO;
	c->err.code = code;
	c->failure = true;
	snprintf(c->err.msg, sizeof(c->err.msg), "%s", msg);
	return dq_error_errno(code);
}

static int recv_msg(struct dq_conn *c, struct dq_msg *m, int64_t deadline_ms)
{
	uint8_t hdr[XDROP_DQ_HEADER_SIZE];
	struct dq_header h;
	int rc = recv_all(c, hdr, sizeof(hdr), deadline_ms);

	if (rc == 0)
		rc = dq_wire_header(hdr, &h);
	if (rc)
		return rc;
	free(c->rx);
	/* One spare byte so that even an empty body is a real allocation. */
	c->rx = malloc((size_t)h.words * 8 + 1);
	if (!c->rx)
		return -ENOMEM;
	rc = recv_all(c, c->rx, (size_t)h.words * 8, deadline_ms);
	if (rc)
		return rc;
	*m = (struct dq_msg){
	    .type = h.type, .schema = h.schema, .body = c->rx, .len = (size_t)h.words * 8};
	if (m->type == XDROP_DQ_RES_FAILURE)
		return take_failure(c, m);
	return 0;
}

/* A FAILURE leaves the stream in step; anything else breaks the connection. */
static int finish(struct dq_conn *c, const struct dq_msg *m, int want, int rc)
{
	if (rc == 0 && want >= 0 && m->type != want)
		rc = -EPROTO;
	if (rc < 0 && !c->failure)
		c->broken = true;
	return rc;
}

int dq_conn_recv(struct dq_conn *c, struct dq_msg *msg)
{
	int rc;

	if (c->broken)
		return -ENOTCONN;
	*msg = (struct dq_msg){.type = 0xff};
	c->err.code = 0;
	c->failure = false;
	rc = recv_msg(c, msg, clock_mono_ms() + c->call_timeout_ms);
	return finish(c, msg, -1, rc);
}

int dq_conn_call(struct dq_conn *c, const struct dq_buf *req, int want, struct dq_msg *msg)
{
	int64_t deadline = clock_mono_ms() + c->call_timeout_ms;
	int rc;

	if (c->broken)
		return -ENOTCONN;
	*msg = (struct dq_msg){.type = 0xff};
	c->err.code = 0;
	c->failure = false;
	rc = send_all(c, req->p, req->len, deadline);
	if (rc == 0)
		rc = recv_msg(c, msg, deadline);
	return finish(c, msg, want, rc);
}
