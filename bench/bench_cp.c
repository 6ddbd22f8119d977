// SPDX-License-Identifier: MIT
/*
 * bench_cp: control-plane timings for bench/control.sh, taken from outside the daemons.
 *
 *   bench_cp writes HOST:PORT KEY PUSH_URL COUNT FIRST TIMEOUT_MS URL TOKEN [URL TOKEN]...
 *   bench_cp converge CTL_URL KEY SINCE_US TIMEOUT_MS INTERVAL_MS URL TOKEN [URL TOKEN]...
 *   bench_cp prims DIR COUNT
 *
 * writes: COUNT single-rule POST /api/v1/rules on one keep-alive connection to the
 * gateway, one after the other; rule i drops UDP from 20.0.0.0 + FIRST + i. For each it
 * waits until every node (URL, node token: AgentService.Info) reports the write's
 * revision, and splits the time with the timestamps the system already hands out:
 *   t_send     the request leaves (this process, CLOCK_REALTIME like the daemons)
 *   created    rule.created_at in the answer: the controller's handler started
 *              (controller/service/service_coll.c coll_create, just before store_add)
 *   committing Delta.created_at, taken by store/store_changes.c change_commit just before
 *              COMMIT
 *   pushed     this process received the delta on the controller's PUB socket (it
 *              subscribes like an agent does)
 *   answered   the whole HTTP answer has arrived
 *   applied    a node's Info shows the revision (the agent reports it after the data-plane
 *              switch, the grace period and its journal write)
 * The nodes are polled every 200 us; a poll is one RPC, timed on the idle nodes before the
 * writes (node_info_poll_rpc: the resolution of the applied figures; while an agent
 * applies a delta, Info waits for it). With CP_RAW=FILE each write's send -> applied on
 * every node (ms) is also appended to FILE, one per line, so that the writes of several
 * concurrent bench_cp processes can be taken together.
 *
 * converge: polls the nodes every INTERVAL_MS until each reports the controller's
 * revision and content hash (StatsService.Info with KEY); times are ms since SINCE_US
 * (CLOCK_REALTIME microseconds, taken by the caller before it started the agents).
 *
 * prims: the kernel and disk primitives a node pays per applied delta, measured alone:
 * one update of a map-in-map slot (the agent's grace period: the kernel returns only
 * after an RCU grace period) and one small append + fdatasync in DIR (the agent's
 * journal, agent/ruleset/journal.c rs_journal_append).
 *
 * Output: tab-separated rows on stdout, "metric p50 p99 max n" (ms) for writes and prims,
 * "node up_ms converged_ms" for converge after a "revision R hash H" line. Errors go to
 * stderr. Exit 0, 1 when some write or node did not finish in time, 2 on usage or setup
 * errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "pubsub.h"
#include "rulehash.h"
#include "tls.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

#define CP_MAX_NODES   8
#define CP_RING	       4096	 /* deltas remembered by revision */
#define CP_HTTP_BUF    (1 << 20) /* one answer */
#define CP_POLL_US     200	 /* between polling rounds while waiting for nodes */
#define CP_SUB_WAIT_MS 5000	 /* the subscriber must hear a heartbeat within this */
#define CP_MAX_FAILED  10	 /* writes that may fail or be late before the run stops */
#define CP_IDLE_POLLS  100	 /* Info calls per node timed before the writes */

static int64_t rt_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ms_of(int64_t ns)
{
	return (double)ns / 1e6;
}

/* ---- samples and percentiles ---- */

struct series {
	const char *name;
	double *v;
	size_t n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (!n)
		return -1;
	return v[r ? r - 1 : 0];
}

static void series_print(struct series *s)
{
	if (!s->n) {
		printf("%s\t-\t-\t-\t0\n", s->name);
		return;
	}
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	printf("%s\t%.2f\t%.2f\t%.2f\t%zu\n", s->name, pct(s->v, s->n, 50), pct(s->v, s->n, 99),
	       s->v[s->n - 1], s->n);
}

/* ---- the delta subscriber ---- */

struct seen {
	uint64_t revision;
	int64_t created_at; /* Delta.created_at */
	int64_t received;   /* here */
};

struct sub {
	nng_socket sock;
	pthread_t thread;
	pthread_mutex_t lock;
	bool started, stop, heard;
	struct seen ring[CP_RING];
};

static void *sub_main(void *arg)
{
	struct sub *s = arg;
	size_t tlen = strlen(XDROP_TOPIC_DELTA);

	while (!s->stop) {
		Xdrop__V1__Delta *d;
		nng_msg *m;
		int64_t now;

		if (nng_recvmsg(s->sock, &m, 0))
			continue; /* the receive timeout: look at stop again */
		now = rt_ns();
		if (nng_msg_len(m) > tlen) {
			d = xdrop__v1__delta__unpack(NULL, nng_msg_len(m) - tlen,
						     (uint8_t *)nng_msg_body(m) + tlen);
			if (d) {
				pthread_mutex_lock(&s->lock);
				s->heard = true;
				if (d->revision != d->base_revision) {
					struct seen *e = &s->ring[d->revision % CP_RING];

					e->revision = d->revision;
					e->created_at = d->created_at;
					e->received = now;
				}
				pthread_mutex_unlock(&s->lock);
				xdrop__v1__delta__free_unpacked(d, NULL);
			}
		}
		nng_msg_free(m);
	}
	return NULL;
}

/* Subscribes to url's deltas and waits for the first frame. Returns 0 or -errno. */
static int sub_open(struct sub *s, const char *url)
{
	int rv;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	if ((rv = nng_sub0_open(&s->sock)) ||
	    (rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, XDROP_TOPIC_DELTA,
				 strlen(XDROP_TOPIC_DELTA))) ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, 100)) ||
	    (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, XDROP_PUBSUB_MAX_MSG)) ||
	    (rv = nng_dial(s->sock, url, NULL, NNG_FLAG_NONBLOCK))) {
		fprintf(stderr, "bench_cp: subscribe %s: %s\n", url, tls_strerror(rv));
		return -EIO;
	}
	if (pthread_create(&s->thread, NULL, sub_main, s))
		return -EAGAIN;
	s->started = true;
	for (int i = 0; i < CP_SUB_WAIT_MS / 10; i++) {
		bool heard;

		pthread_mutex_lock(&s->lock);
		heard = s->heard;
		pthread_mutex_unlock(&s->lock);
		if (heard)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "bench_cp: no frame from %s within %d ms\n", url, CP_SUB_WAIT_MS);
	return -ETIMEDOUT;
}

static void sub_close(struct sub *s)
{
	if (s->started) {
		s->stop = true;
		pthread_join(s->thread, NULL);
	}
	nng_close(s->sock);
	pthread_mutex_destroy(&s->lock);
}

/* The delta of revision rev, waiting up to wait_ms for it. Returns 0 or -ENOENT. */
static int sub_find(struct sub *s, uint64_t rev, int wait_ms, struct seen *out)
{
	for (int i = 0; i <= wait_ms; i++) {
		bool found;

		pthread_mutex_lock(&s->lock);
		*out = s->ring[rev % CP_RING];
		found = out->revision == rev;
		pthread_mutex_unlock(&s->lock);
		if (found)
			return 0;
		usleep(1000);
	}
	return -ENOENT;
}

/* ---- HTTP/1.1 over one keep-alive connection ---- */

struct http {
	struct sockaddr_in sa;
	char hostport[64];
	int fd;
	char *buf;
};

static int http_open(struct http *h, const char *hostport)
{
	char host[64], *colon;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	snprintf(h->hostport, sizeof(h->hostport), "%s", hostport);
	snprintf(host, sizeof(host), "%s", hostport);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	h->sa.sin_family = AF_INET;
	h->sa.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &h->sa.sin_addr) != 1)
		return -EINVAL;
	h->buf = malloc(CP_HTTP_BUF);
	return h->buf ? 0 : -ENOMEM;
}

static void http_close(struct http *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

static int http_connect(struct http *h)
{
	int one = 1;

	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0)
		return -errno;
	if (connect(h->fd, (struct sockaddr *)&h->sa, sizeof(h->sa))) {
		int err = -errno;

		http_close(h);
		return err;
	}
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* The value of header name in the header block hdr (NUL-terminated), or NULL. */
static const char *header(const char *hdr, const char *name)
{
	size_t l = strlen(name);

	for (const char *p = strstr(hdr, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (!strncasecmp(p + 2, name, l) && p[2 + l] == ':')
			return p + 3 + l;
	return NULL;
}

/*
 * One POST of body to path; the answer's status and body (NUL-terminated, in h->buf) come
 * back through *status and *resp. Reconnects once when the kept-alive connection was
 * closed. Returns 0 or -errno.
 */
static int http_post(struct http *h, const char *path, const char *key, const char *body,
		     int *status, const char **resp)
{
	char req[1024];
	const char *cl, *end;
	size_t n = 0, need;
	ssize_t r;
	int len;

	len = snprintf(req, sizeof(req),
		       "POST %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		       path, h->hostport, key, strlen(body));
	if (len <= 0 || (size_t)len >= sizeof(req))
		return -EINVAL;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (h->fd < 0 && http_connect(h))
			return -ECONNREFUSED;
		/* MSG_NOSIGNAL: a connection the gateway closed must not kill us with SIGPIPE */
		if (send(h->fd, req, (size_t)len, MSG_NOSIGNAL) == len &&
		    send(h->fd, body, strlen(body), MSG_NOSIGNAL) == (ssize_t)strlen(body))
			break;
		http_close(h);
		if (attempt)
			return -EPIPE;
	}
	for (;;) {
		r = read(h->fd, h->buf + n, CP_HTTP_BUF - 1 - n);
		if (r <= 0) {
			http_close(h);
			return -ECONNRESET;
		}
		n += (size_t)r;
		h->buf[n] = 0;
		end = strstr(h->buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = header(h->buf, "Content-Length");
		if (!cl) { /* no length: the body runs to the end of the connection */
			while (n < CP_HTTP_BUF - 1 &&
			       (r = read(h->fd, h->buf + n, CP_HTTP_BUF - 1 - n)) > 0)
				n += (size_t)r;
			h->buf[n] = 0;
			http_close(h);
			break;
		}
		need = (size_t)(end + 4 - h->buf) + strtoul(cl, NULL, 10);
		if (need >= CP_HTTP_BUF)
			return -EMSGSIZE;
		if (n >= need)
			break;
	}
	*status = (int)strtol(h->buf + 9, NULL, 10);
	*resp = strstr(h->buf, "\r\n\r\n") + 4;
	if (header(h->buf, "Connection") && strstr(header(h->buf, "Connection"), "close"))
		http_close(h);
	return 0;
}

/* "2026-05-07T12:00:00.123456789Z" after "name":" in s, as ns since the epoch, or -1. */
static int64_t json_time(const char *s, const char *name)
{
	char pat[64];
	const char *p;
	struct tm tm = {0};
	int64_t frac = 0, scale = 100000000;

	snprintf(pat, sizeof(pat), "\"%s\":\"", name);
	p = strstr(s, pat);
	if (!p)
		return -1;
	p = strptime(p + strlen(pat), "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	return (int64_t)timegm(&tm) * 1000000000 + frac;
}

/* ---- nodes ---- */

struct node {
	struct rpc_client *c;
	const char *url;
};

static int nodes_open(struct node *nd, int n, char **args, unsigned timeout_ms)
{
	for (int k = 0; k < n; k++) {
		struct rpc_client_opts o = {.sz = sizeof(o)};

		o.url = nd[k].url = args[2 * k];
		o.auth_token = args[2 * k + 1];
		o.timeout_ms = timeout_ms;
		if (rpc_client_open(&nd[k].c, &o)) {
			fprintf(stderr, "bench_cp: cannot open %s\n", o.url);
			return -EIO;
		}
	}
	return 0;
}

static void nodes_close(struct node *nd, int n)
{
	for (int k = 0; k < n; k++)
		rpc_client_close(nd[k].c);
}

/* AgentService.Info (or StatsService.Info on a controller); *rev = -1 when it failed. */
static void info(struct rpc_client *c, const ProtobufCServiceDescriptor *svc, long long *rev,
		 char *hash, size_t hlen)
{
	Xdrop__V1__InfoRequest q = XDROP__V1__INFO_REQUEST__INIT;
	Xdrop__V1__InfoReply *r = NULL;
	struct rpc_status st;

	*rev = -1;
	if (hash)
		hash[0] = 0;
	if (rpc_client_call(c, svc, "Info", &q.base, (ProtobufCMessage **)&r, &st) || !r)
		return;
	*rev = (long long)r->revision;
	if (hash)
		snprintf(hash, hlen, "%s", r->content_hash ? r->content_hash : "");
	xdrop__v1__info_reply__free_unpacked(r, NULL);
}

/* ---- writes ---- */

/* Appends s's values to the file named by CP_RAW (when set), one per line. */
static void raw_write(const struct series *s)
{
	const char *path = getenv("CP_RAW");
	FILE *f = path && *path ? fopen(path, "a") : NULL;

	for (size_t i = 0; f && i < s->n; i++)
		fprintf(f, "%.3f\n", s->v[i]);
	if (f)
		fclose(f);
}

enum {
	M_REST,
	M_GW_IN,
	M_STORE,
	M_COMMIT_ANSWER,
	M_COMMIT_PUSH,
	M_PUSH_APPLIED,
	M_ANSWER_APPLIED,
	M_TOTAL,
	M_POLL,
	M_NODE0, /* then one per node: send -> that node applied */
};

static int cmd_writes(int argc, char **argv)
{
	static const char *const names[] = {
	    "rest_answer",	     "send_to_handler",		"handler_to_commit",
	    "commit_to_answer",	     "commit_to_push_received", "push_to_applied_all",
	    "answer_to_applied_all", "send_to_applied_all",	"node_info_rpc_idle",
	};
	struct series m[M_NODE0 + CP_MAX_NODES] = {{0}};
	struct node nd[CP_MAX_NODES] = {{0}};
	char body[512], names_node[CP_MAX_NODES][32];
	struct http h = {0};
	struct sub sub;
	bool sub_ok = false;
	unsigned count, first, failed = 0, late = 0;
	double timeout_ms, gap_ms;
	int n, nm, rc = 2;

	if (argc < 9 || (argc - 7) % 2)
		return -1;
	n = (argc - 7) / 2;
	if (n > CP_MAX_NODES)
		return -1;
	count = (unsigned)strtoul(argv[4], NULL, 10);
	first = (unsigned)strtoul(argv[5], NULL, 10);
	timeout_ms = atof(argv[6]);
	/* CP_GAP_MS: a pause between one write being applied and the next being sent (0: back
	 * to back, each write arriving while the nodes may still be in the previous one's RCU
	 * grace period) */
	gap_ms = getenv("CP_GAP_MS") ? atof(getenv("CP_GAP_MS")) : 0;
	nm = M_NODE0 + n;
	for (int i = 0; i < nm; i++) {
		m[i].v = calloc((size_t)count + CP_IDLE_POLLS * CP_MAX_NODES + 1, sizeof(double));
		if (!m[i].v)
			goto out;
		if (i < M_NODE0) {
			m[i].name = names[i];
		} else {
			snprintf(names_node[i - M_NODE0], sizeof(names_node[0]),
				 "send_to_applied_node%d", i - M_NODE0 + 1);
			m[i].name = names_node[i - M_NODE0];
		}
	}
	if (http_open(&h, argv[1]) || nodes_open(nd, n, argv + 7, 2000))
		goto out;
	/* the resolution of "applied": one Info call on an idle node */
	for (int k = 0; k < n; k++) {
		for (int j = 0; j < CP_IDLE_POLLS; j++) {
			int64_t q0 = rt_ns();
			long long r;

			info(nd[k].c, &xdrop__v1__agent_service__descriptor, &r, NULL, 0);
			if (r >= 0)
				m[M_POLL].v[m[M_POLL].n++] = ms_of(rt_ns() - q0);
		}
	}
	sub_ok = true; /* sub_close copes with a half-opened subscriber */
	if (sub_open(&sub, argv[3]))
		goto out;
	rc = 0;
	for (unsigned i = 0; i < count && failed + late < CP_MAX_FAILED; i++) {
		uint32_t a = 0x14000000u + first + i; /* 20.0.0.0 + FIRST + i */

		if (gap_ms > 0 && i > 0)
			usleep((useconds_t)(gap_ms * 1000));
		int64_t t_send, t_ans, created, t_node[CP_MAX_NODES], last = 0;
		const char *resp = NULL, *p;
		struct seen dl;
		long long rev;
		int status, left = n;

		snprintf(
		    body, sizeof(body),
		    "{\"name\":\"cp-bench-%u\",\"src_ip\":\"%u.%u.%u.%u\",\"protocol\":\"udp\","
		    "\"dst_port\":5011,\"action\":\"drop\"}",
		    first + i, a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
		t_send = rt_ns();
		if (http_post(&h, "/api/v1/rules", argv[2], body, &status, &resp) ||
		    status != 201) {
			fprintf(stderr, "bench_cp: write %u: HTTP %d %.300s\n", i,
				h.buf ? (int)strtol(h.buf + 9, NULL, 10) : 0, resp ? resp : "");
			failed++;
			continue;
		}
		t_ans = rt_ns();
		p = strstr(resp, "\"revision\":");
		rev = p ? strtoll(p + 11, NULL, 10) : -1;
		created = json_time(resp, "created_at");
		if (rev <= 0 || created < 0) {
			fprintf(stderr, "bench_cp: write %u: no revision or created_at in %.300s\n",
				i, resp);
			failed++;
			continue;
		}
		for (int k = 0; k < n; k++)
			t_node[k] = -1;
		while (left && ms_of(rt_ns() - t_ans) < timeout_ms) {
			for (int k = 0; k < n; k++) {
				long long r;

				if (t_node[k] >= 0)
					continue;
				info(nd[k].c, &xdrop__v1__agent_service__descriptor, &r, NULL, 0);
				if (r >= rev) {
					t_node[k] = rt_ns();
					left--;
					if (t_node[k] > last)
						last = t_node[k];
				}
			}
			if (left)
				usleep(CP_POLL_US);
		}
		if (left) {
			fprintf(stderr, "bench_cp: write %u (revision %lld): %d node(s) late\n", i,
				rev, left);
			late++;
			rc = 1;
			continue;
		}
		m[M_REST].v[m[M_REST].n++] = ms_of(t_ans - t_send);
		m[M_GW_IN].v[m[M_GW_IN].n++] = ms_of(created - t_send);
		m[M_ANSWER_APPLIED].v[m[M_ANSWER_APPLIED].n++] = ms_of(last - t_ans);
		m[M_TOTAL].v[m[M_TOTAL].n++] = ms_of(last - t_send);
		for (int k = 0; k < n; k++)
			m[M_NODE0 + k].v[m[M_NODE0 + k].n++] = ms_of(t_node[k] - t_send);
		if (sub_find(&sub, (uint64_t)rev, 1000, &dl)) {
			fprintf(stderr, "bench_cp: revision %lld never seen on the push socket\n",
				rev);
			continue;
		}
		m[M_STORE].v[m[M_STORE].n++] = ms_of(dl.created_at - created);
		m[M_COMMIT_ANSWER].v[m[M_COMMIT_ANSWER].n++] = ms_of(t_ans - dl.created_at);
		m[M_COMMIT_PUSH].v[m[M_COMMIT_PUSH].n++] = ms_of(dl.received - dl.created_at);
		m[M_PUSH_APPLIED].v[m[M_PUSH_APPLIED].n++] = ms_of(last - dl.received);
	}
	if (failed)
		rc = 1;
	raw_write(&m[M_TOTAL]);
	printf("writes\t%u\tok\t%zu\tfailed\t%u\tlate\t%u\n", count, m[M_TOTAL].n, failed, late);
	for (int i = 0; i < nm; i++)
		series_print(&m[i]);
out:
	if (sub_ok)
		sub_close(&sub);
	nodes_close(nd, n);
	http_close(&h);
	free(h.buf);
	for (int i = 0; i < nm; i++)
		free(m[i].v);
	return rc;
}

/* ---- converge ---- */

static int cmd_converge(int argc, char **argv)
{
	struct rpc_client_opts co = {.sz = sizeof(co), .timeout_ms = 30000};
	struct node nd[CP_MAX_NODES] = {{0}};
	struct rpc_client *ctl = NULL;
	char want[RULEHASH_HEX + 8], hash[RULEHASH_HEX + 8];
	double up[CP_MAX_NODES], done[CP_MAX_NODES];
	long long rev, got[CP_MAX_NODES];
	int64_t since;
	double timeout_ms, interval_ms;
	int n, left, rc = 2;

	if (argc < 8 || (argc - 6) % 2)
		return -1;
	n = (argc - 6) / 2;
	if (n > CP_MAX_NODES)
		return -1;
	since = strtoll(argv[3], NULL, 10) * 1000;
	timeout_ms = atof(argv[4]);
	interval_ms = atof(argv[5]);
	co.url = argv[1];
	co.auth_token = argv[2];
	if (rpc_client_open(&ctl, &co) || nodes_open(nd, n, argv + 6, 2000))
		goto out;
	info(ctl, &xdrop__v1__stats_service__descriptor, &rev, want, sizeof(want));
	if (rev < 0) {
		fprintf(stderr, "bench_cp: the controller's Info failed\n");
		goto out;
	}
	for (int k = 0; k < n; k++) {
		up[k] = done[k] = -1;
		got[k] = -1;
	}
	left = n;
	rc = 0;
	while (left && ms_of(rt_ns() - since) < timeout_ms) {
		for (int k = 0; k < n; k++) {
			if (done[k] >= 0)
				continue;
			info(nd[k].c, &xdrop__v1__agent_service__descriptor, &got[k], hash,
			     sizeof(hash));
			if (got[k] >= 0 && up[k] < 0)
				up[k] = ms_of(rt_ns() - since);
			if (got[k] == rev && !strcmp(hash, want)) {
				done[k] = ms_of(rt_ns() - since);
				left--;
			}
		}
		if (left)
			usleep((useconds_t)(interval_ms * 1000));
	}
	printf("revision\t%lld\thash\t%s\n", rev, want);
	for (int k = 0; k < n; k++) {
		printf("node%d\t%.0f\t%.0f\t%lld\n", k + 1, up[k], done[k], got[k]);
		if (done[k] < 0)
			rc = 1;
	}
out:
	nodes_close(nd, n);
	rpc_client_close(ctl);
	return rc;
}

/* ---- prims ---- */

static int cmd_prims(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo);
	struct series g = {.name = "map_in_map_update_grace_period"};
	struct series f = {.name = "journal_append_fdatasync"};
	char path[512], rec[256];
	int inner = -1, outer = -1, fd = -1, rc = 2;
	unsigned count;
	uint32_t zero = 0;

	if (argc != 3)
		return -1;
	count = (unsigned)strtoul(argv[2], NULL, 10);
	g.v = calloc(count + 1, sizeof(double));
	f.v = calloc(count + 1, sizeof(double));
	snprintf(path, sizeof(path), "%s/bench-cp-journal.%d", argv[1], (int)getpid());
	memset(rec, 'j', sizeof(rec));
	if (!g.v || !f.v)
		goto out;
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cp_inner", 4, 4, 1, NULL);
	mo.inner_map_fd = inner;
	outer =
	    inner < 0 ? -1 : bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "cp_outer", 4, 4, 1, &mo);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (outer < 0 || fd < 0) {
		fprintf(stderr, "bench_cp: prims: %s\n", outer < 0 ? "map create" : path);
		goto out;
	}
	for (unsigned i = 0; i < count; i++) {
		int64_t t0 = rt_ns();

		if (bpf_map_update_elem(outer, &zero, &inner, BPF_ANY))
			goto out;
		g.v[g.n++] = ms_of(rt_ns() - t0);
		t0 = rt_ns();
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) || fdatasync(fd))
			goto out;
		f.v[f.n++] = ms_of(rt_ns() - t0);
	}
	series_print(&g);
	series_print(&f);
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (outer >= 0)
		close(outer);
	if (inner >= 0)
		close(inner);
	free(g.v);
	free(f.v);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = -1;

	if (argc > 1 && !strcmp(argv[1], "writes"))
		rc = cmd_writes(argc - 1, argv + 1);
	else if (argc > 1 && !strcmp(argv[1], "converge"))
		rc = cmd_converge(argc - 1, argv + 1);
	else if (argc > 1 && !strcmp(argv[1], "prims"))
		rc = cmd_prims(argc - 1, argv + 1);
	if (rc >= 0)
		return rc;
	fprintf(
	    stderr,
	    "usage: bench_cp writes HOST:PORT KEY PUSH_URL COUNT FIRST TIMEOUT_MS URL TOKEN...\n"
	    "       bench_cp converge CTL_URL KEY SINCE_US TIMEOUT_MS INTERVAL_MS URL TOKEN...\n"
	    "       bench_cp prims DIR COUNT\n");
	return 2;
}
