// SPDX-License-Identifier: MIT
/*
 * xdrop-waitrev: how long after a REST write every node enforces it. Used by the system
 * and fault suites and by bench/control.sh.
 *
 *   xdrop-waitrev [--post HOST:PORT PATH KEY BODY] TIMEOUT_MS REV URL TOKEN [URL TOKEN]...
 *
 * With --post it sends one HTTP/1.1 POST of BODY (JSON) to the gateway, takes the
 * revision from the answer's "revision" (the write's sync outcome) and starts the clock
 * when the whole answer has arrived; otherwise the clock starts at once and REV is the
 * revision to wait for. It then polls AgentService.Info on every node (URL, node token)
 * until its applied revision is >= REV, and prints one line: the revision, then per node
 * the milliseconds from the REST answer (or from start) to that node's applied revision
 * (the data-plane switch happens before the agent reports the revision). Exit 0 when every
 * node got there within TIMEOUT_MS, 1 otherwise (the laggards print -1), 2 on errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "xdrop.pb-c.h"

#define MAX_NODES 64

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One POST; returns the revision found in the answer, or -1. */
static long long post(const char *hostport, const char *path, const char *key, const char *body)
{
	static char buf[1 << 20];
	char host[64], *colon, *p;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	size_t n = 0;
	ssize_t r;
	int fd, one = 1, len;

	snprintf(host, sizeof(host), "%s", hostport);
	colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = 0;
	sa.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("xdrop-waitrev: connect");
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	len = snprintf(buf, sizeof(buf),
		       "POST %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n%s",
		       path, hostport, key, strlen(body), body);
	if (len <= 0 || (size_t)len >= sizeof(buf) || write(fd, buf, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	if (strncmp(buf, "HTTP/1.1 2", 10)) {
		fprintf(stderr, "xdrop-waitrev: %.300s\n", buf);
		return -1;
	}
	p = strstr(buf, "\"revision\":");
	return p ? strtoll(p + 11, NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	struct rpc_client *c[MAX_NODES] = {0};
	double done[MAX_NODES], t0, timeout;
	long long rev;
	int i = 1, n, left, rc = 0;

	if (argc > 1 && !strcmp(argv[1], "--post")) {
		if (argc < 7)
			goto usage;
		i = 6;
	}
	if (argc - i < 4 || (argc - i - 2) % 2)
		goto usage;
	n = (argc - i - 2) / 2;
	if (n > MAX_NODES)
		goto usage;
	timeout = atof(argv[i]);
	for (int k = 0; k < n; k++) {
		struct rpc_client_opts o = {.sz = sizeof(o)};

		o.url = argv[i + 2 + 2 * k];
		o.auth_token = argv[i + 3 + 2 * k];
		o.timeout_ms = 2000;
		if (rpc_client_open(&c[k], &o)) {
			fprintf(stderr, "xdrop-waitrev: cannot open %s\n", o.url);
			return 2;
		}
		done[k] = -1;
	}
	if (i == 6) {
		rev = post(argv[2], argv[3], argv[4], argv[5]);
		if (rev < 0)
			return 2;
	} else {
		rev = atoll(argv[i + 1]);
	}
	t0 = now_ms();
	left = n;
	while (left && now_ms() - t0 < timeout) {
		for (int k = 0; k < n; k++) {
			Xdrop__V1__InfoRequest q = XDROP__V1__INFO_REQUEST__INIT;
			Xdrop__V1__InfoReply *r = NULL;
			struct rpc_status st;

			if (done[k] >= 0)
				continue;
			if (!rpc_client_call(c[k], &xdrop__v1__agent_service__descriptor, "Info",
					     &q.base, (ProtobufCMessage **)&r, &st) &&
			    r) {
				if ((long long)r->revision >= rev) {
					done[k] = now_ms() - t0;
					left--;
				}
				xdrop__v1__info_reply__free_unpacked(r, NULL);
			}
		}
		if (left)
			usleep(200);
	}
	printf("%lld", rev);
	for (int k = 0; k < n; k++) {
		printf(" %.2f", done[k]);
		if (done[k] < 0)
			rc = 1;
		rpc_client_close(c[k]);
	}
	printf("\n");
	return rc;
usage:
	fprintf(stderr, "usage: xdrop-waitrev [--post HOST:PORT PATH KEY BODY] TIMEOUT_MS REV "
			"URL TOKEN [URL TOKEN]...\n");
	return 2;
}
