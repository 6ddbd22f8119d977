// SPDX-License-Identifier: MIT
/*
 * http: libmicrohttpd wiring, body collection with limits, the request deadline reaper,
 * and turning a struct http_reply into a response (see http.h for the limits).
 *
 * Request lifecycle: the first callback for a request asks the caller's handler for the
 * body limit and refuses an announced oversize body; the following callbacks collect the
 * body; the last one runs the handler (routing, authentication and the rest live above
 * this file: main.c passes routes.c's). The per-connection
 * state (from NOTIFY_CONNECTION) tracks whether the connection is receiving a request, for
 * the deadline reaper, or handling one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "framing.h"
#include "http.h"
#include "log.h"
#include "ticker.h"

#define REAPER_PERIOD_MS 200
enum conn_phase { PHASE_RECEIVING, PHASE_HANDLING };

/* One open connection, for the deadline reaper. */
struct conn_state {
	int fd;
	enum conn_phase phase;
	int64_t since_ms; /* start of the current receiving phase */
	bool nul_in_url;  /* the request line being parsed decoded a NUL (framing.h) */
	struct conn_state *prev, *next;
};

struct http_server {
	struct gateway *gw;
	struct http_handler h;
	struct MHD_Daemon *d;
	char *cert, *key; /* PEM, kept for libmicrohttpd's lifetime */
	pthread_mutex_t lock;
	struct conn_state *conns;
	struct ticker *reaper;
};

/* One request in progress. */
struct req_state {
	struct http_request rq;
	size_t limit, cap;
	bool too_large;
	bool answered; /* a response was queued on the first call */
};

const char *http_status_code(unsigned status)
{
	static const struct {
		unsigned status;
		const char *code;
	} codes[] = {
	    {400, "INVALID_ARGUMENT"}, {401, "UNAUTHENTICATED"},   {403, "PERMISSION_DENIED"},
	    {404, "NOT_FOUND"},	       {405, "INVALID_ARGUMENT"},  {409, "ALREADY_EXISTS"},
	    {413, "TOO_LARGE"},	       {415, "INVALID_ARGUMENT"},  {422, "FAILED_PRECONDITION"},
	    {429, "TOO_MANY"},	       {501, "UNIMPLEMENTED"},	   {502, "UNKNOWN"},
	    {503, "UNAVAILABLE"},      {504, "DEADLINE_EXCEEDED"}, {507, "RESOURCE_EXHAUSTED"},
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].status == status)
			return codes[i].code;
	return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
}

int http_error(struct http_reply *rp, unsigned status, const char *field, const char *fmt, ...)
{
	const char *code = rp->error_code ? rp->error_code : http_status_code(status);
	char msg[512];
	va_list ap;
	cJSON *o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rp->error_code = NULL;
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddStringToObject(o, "error", msg) ||
		  (field && *field && !cJSON_AddStringToObject(o, "field", field)) ||
		  !cJSON_AddStringToObject(o, "code", code))) {
		cJSON_Delete(o);
		o = NULL;
	}
	cJSON_Delete(rp->json);
	rp->json = NULL;
	return http_json(rp, status, o);
}

int http_json(struct http_reply *rp, unsigned status, cJSON *obj)
{
	cJSON_Delete(rp->json);
	rp->json = obj;
	rp->status = obj ? status : 500;
	return 0;
}

const char *http_header(const struct http_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct unknown_arg {
	const char *const *known;
	char *name;
	size_t len;
	bool found;
};

static enum MHD_Result unknown_one(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct unknown_arg *a = cls;

	(void)kind;
	(void)value;
	for (size_t i = 0; a->known[i]; i++)
		if (!strcmp(key, a->known[i]))
			return MHD_YES;
	snprintf(a->name, a->len, "%s", key);
	a->found = true;
	return MHD_NO; /* the first unknown one is enough */
}

bool http_query_unknown(const struct http_request *rq, const char *const *known, char *name,
			size_t len)
{
	struct unknown_arg a = {.known = known, .name = name, .len = len};

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, unknown_one, &a);
	return a.found;
}

static void reply_free(struct http_reply *rp)
{
	cJSON_Delete(rp->json);
	free(rp->text);
	free(rp->set_cookie);
	if (rp->fd >= 0)
		close(rp->fd);
	if (rp->reader_free && rp->reader_cls)
		rp->reader_free(rp->reader_cls);
}

/* Builds and queues the response; consumes rp. */
static enum MHD_Result send_reply(struct http_request *rq, struct http_reply *rp)
{
	struct gateway *gw = rq->gw;
	struct MHD_Response *r = NULL;
	enum MHD_Result ret;
	char buf[32];

	if (rp->reader) {
		void *cls = rp->reader_cls;

		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, rp->reader, cls,
						      rp->reader_free);
		rp->reader_cls = NULL; /* owned by the response now (or freed here) */
		if (!r && rp->reader_free)
			rp->reader_free(cls);
	} else if (rp->fd >= 0) {
		r = MHD_create_response_from_fd64(rp->fd_size, rp->fd);
		if (r)
			rp->fd = -1;
	} else {
		char *body = NULL;
		size_t len = 0;

		if (!rp->json && !rp->text)
			http_error(rp, rp->status ? rp->status : 500, NULL, "no response");
		if (rp->json) {
			body = cJSON_PrintUnformatted(rp->json);
			len = body ? strlen(body) : 0;
			rp->content_type = "application/json";
			if (!body)
				rp->status = 500;
		} else {
			body = rp->text;
			len = rp->text_len;
			rp->text = NULL;
		}
		r = MHD_create_response_from_buffer(len, body ? body : (void *)"",
						    body ? MHD_RESPMEM_MUST_FREE
							 : MHD_RESPMEM_PERSISTENT);
		if (!r)
			free(body);
	}
	if (!r) {
		reply_free(rp);
		return MHD_NO;
	}
	if (rp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
				rp->cache_control ? rp->cache_control : "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	if (rp->html)
		MHD_add_response_header(r, "Content-Security-Policy",
					rp->csp ? rp->csp : GW_UI_CSP);
	if (rp->set_cookie)
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, rp->set_cookie);
	if (rp->allow[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rp->allow);
	if (rp->retry_after) {
		snprintf(buf, sizeof(buf), "%u", rp->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, buf);
	}
	if (rq->replayed)
		MHD_add_response_header(r, "Idempotent-Replayed", "true");
	if (rp->reader) {
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	}
	if (rp->status >= 100 && rp->status < 600)
		atomic_fetch_add(&gw->ctr.http_status[rp->status / 100], 1);
	ret = MHD_queue_response(rq->conn, rp->status, r);
	MHD_destroy_response(r);
	reply_free(rp);
	return ret;
}

static struct conn_state *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* libmicrohttpd's unescaping, noting a decoded NUL on the connection (framing.h). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	struct conn_state *cs = conn_of(c);
	bool nul;
	size_t n = framing_unescape(s, &nul);

	(void)cls;
	if (nul && cs)
		cs->nul_in_url = true;
	return n;
}

/* The framing checks of the first callback of a request: 0, or a 400 queued. */
static int refuse_framing(struct req_state *st, const char *version, enum MHD_Result *ret)
{
	struct conn_state *cs = conn_of(st->rq.conn);
	const char *field = NULL, *why = NULL;
	struct http_reply rp = {.fd = -1};

	if (cs && cs->nul_in_url) {
		cs->nul_in_url = false;
		field = "url";
		why = "the path or query holds a NUL (%00)";
	} else if (framing_check(st->rq.conn, version, &field, &why) == 0) {
		return 0;
	}
	http_error(&rp, 400, field, "bad request framing: %s", why);
	st->answered = true;
	*ret = send_reply(&st->rq, &rp);
	return -EINVAL;
}

static void set_phase(struct http_server *s, struct MHD_Connection *c, enum conn_phase p)
{
	struct conn_state *cs = conn_of(c);

	if (!cs)
		return;
	pthread_mutex_lock(&s->lock);
	cs->phase = p;
	cs->since_ms = clock_mono_ms();
	pthread_mutex_unlock(&s->lock);
}

static void client_text(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
			  (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  (socklen_t)len);
}

/* The caller's handler, then the reply. */
static enum MHD_Result dispatch(struct http_server *s, struct req_state *st)
{
	struct http_reply rp = {.status = 200, .fd = -1};

	s->h.handle(s->h.ctx, &st->rq, &rp);
	return send_reply(&st->rq, &rp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_state *st = *con_cls;

	if (!st) {
		enum MHD_Result ret;
		const char *cl;

		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		st->rq.gw = s->gw;
		st->rq.conn = conn;
		st->rq.method = method;
		st->rq.url = url;
		st->rq.token = "";
		client_text(conn, st->rq.client, sizeof(st->rq.client));
		atomic_fetch_add(&s->gw->ctr.requests, 1);
		if (refuse_framing(st, version, &ret))
			return ret;
		st->limit = s->h.body_limit(s->h.ctx, &st->rq);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > st->limit) {
			struct http_reply rp = {.fd = -1};

			atomic_fetch_add(&s->gw->ctr.body_too_large, 1);
			http_error(&rp, 413, NULL, "request body above the limit of %zu bytes",
				   st->limit);
			st->answered = true;
			return send_reply(&st->rq, &rp);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (st->answered || st->too_large)
			return MHD_YES;
		if (st->rq.body_len + n > st->limit) {
			st->too_large = true;
			free(st->rq.body);
			st->rq.body = NULL;
			st->rq.body_len = 0;
			return MHD_YES;
		}
		if (st->rq.body_len + n + 1 > st->cap) {
			size_t cap = st->cap ? st->cap : 4096;
			char *nb;

			while (cap < st->rq.body_len + n + 1)
				cap *= 2;
			nb = realloc(st->rq.body, cap);
			if (!nb)
				return MHD_NO;
			st->rq.body = nb;
			st->cap = cap;
		}
		memcpy(st->rq.body + st->rq.body_len, upload_data, n);
		st->rq.body_len += n;
		st->rq.body[st->rq.body_len] = 0;
		return MHD_YES;
	}
	if (st->answered)
		return MHD_YES;
	set_phase(s, conn, PHASE_HANDLING);
	if (st->too_large) {
		struct http_reply rp = {.fd = -1};

		atomic_fetch_add(&s->gw->ctr.body_too_large, 1);
		http_error(&rp, 413, NULL, "request body above the limit of %zu bytes", st->limit);
		return send_reply(&st->rq, &rp);
	}
	return dispatch(s, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_state *st = *con_cls;

	(void)toe;
	if (st) {
		free(st->rq.body);
		free(st);
		*con_cls = NULL;
	}
	set_phase(s, conn, PHASE_RECEIVING);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	struct conn_state *cs;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		cs = calloc(1, sizeof(*cs));
		*socket_context = cs;
		if (!cs)
			return;
		cs->fd = ci ? ci->connect_fd : -1;
		cs->phase = PHASE_RECEIVING;
		cs->since_ms = clock_mono_ms();
		pthread_mutex_lock(&s->lock);
		/* an fd number reused before an old entry went: the old one is stale */
		for (struct conn_state *o = s->conns; o; o = o->next)
			if (o->fd == cs->fd)
				o->fd = -1;
		cs->next = s->conns;
		if (s->conns)
			s->conns->prev = cs;
		s->conns = cs;
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_add(&s->gw->ctr.connections, 1);
		return;
	}
	cs = *socket_context;
	if (!cs)
		return;
	pthread_mutex_lock(&s->lock);
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		s->conns = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	pthread_mutex_unlock(&s->lock);
	free(cs);
	*socket_context = NULL;
	atomic_fetch_sub(&s->gw->ctr.connections, 1);
}

/* Shuts the socket of every connection that has been receiving one request for longer
 * than the deadline; libmicrohttpd's thread then sees EOF and closes it. */
static void reap(void *arg)
{
	struct http_server *s = arg;
	int64_t deadline = s->gw->cfg->request_deadline_ms;
	int64_t now = clock_mono_ms();

	pthread_mutex_lock(&s->lock);
	for (struct conn_state *cs = s->conns; cs; cs = cs->next) {
		if (cs->fd < 0 || cs->phase != PHASE_RECEIVING || now - cs->since_ms < deadline)
			continue;
		shutdown(cs->fd, SHUT_RDWR);
		cs->fd = -1;
		atomic_fetch_add(&s->gw->ctr.deadline_cut, 1);
	}
	pthread_mutex_unlock(&s->lock);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_LEVEL_DEBUG, fmt, ap);
}

static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	int err = 0;

	*out = NULL;
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		err = -EINVAL;
		goto out;
	}
	buf = calloc(1, (size_t)n + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		err = -EIO;
		goto out;
	}
	*out = buf;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return err;
}

int http_start(struct http_server **out, struct gateway *gw, const struct http_handler *h)
{
	const struct gw_config *c = gw->cfg;
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss = {0};
	unsigned flags =
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int err = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->gw = gw;
	s->h = *h;
	pthread_mutex_init(&s->lock, NULL);
	if (strchr(c->listen_host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)c->listen_port);
		if (inet_pton(AF_INET6, c->listen_host, &a6->sin6_addr) != 1)
			err = -EINVAL;
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)c->listen_port);
		if (inet_pton(AF_INET, c->listen_host, &a4->sin_addr) != 1)
			err = -EINVAL;
	}
	if (err) {
		log_error("listen: %s is not an IP address", c->listen_host);
		goto out;
	}
	if (c->https_cert) {
		if ((err = read_file(c->https_cert, &s->cert)) ||
		    (err = read_file(c->https_key, &s->key))) {
			log_error("https: cannot read %s: %s",
				  s->cert ? c->https_key : c->https_cert, strerror(-err));
			goto out;
		}
		flags |= MHD_USE_TLS;
	}
	{
		struct MHD_OptionItem ops[] = {
		    {MHD_OPTION_SOCK_ADDR, 0, &ss},
		    {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
		    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)c->max_connections, NULL},
		    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)c->per_client_connections, NULL},
		    {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->idle_timeout_s, NULL},
		    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->header_max, NULL},
		    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
		    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
		    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s},
		    {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, s},
		    /* without HTTPS the array ends here */
		    {s->key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key},
		    {MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert},
		    {MHD_OPTION_END, 0, NULL},
		};

		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, ops,
					MHD_OPTION_END);
	}
	if (!s->d) {
		err = -EADDRNOTAVAIL;
		log_error("cannot listen on %s:%u (in use, or TLS settings refused)",
			  c->listen_host, c->listen_port);
		goto out;
	}
	{
		struct ticker_opts to = {
		    .sz = sizeof(to),
		    .name = "gw-reaper",
		    .period_ms = REAPER_PERIOD_MS,
		    .fn = reap,
		    .arg = s,
		};

		err = ticker_start(&s->reaper, &to);
		if (err) {
			log_error("cannot start the request deadline reaper: %s", strerror(-err));
			goto out;
		}
	}
	*out = s;
	return 0;
out:
	http_stop(s);
	return err;
}

unsigned http_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);

	return di ? di->port : 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	s->gw->stopping = 1;
	if (s->d)
		MHD_stop_daemon(s->d);
	ticker_stop(s->reaper);
	free(s->cert);
	free(s->key);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
