// SPDX-License-Identifier: MIT
/*
 * preauth_tool: the hostile and the patient clients of tests/security/test_preauth.sh.
 *
 *   preauth_tool flood URL SECONDS THREADS SIZE
 *       THREADS REQ sockets each send frames of SIZE bytes without a valid credential,
 *       one after the other, for SECONDS: 2-byte unknown envelope fields; a valid
 *       envelope (RuleService.List, a wrong key) around a payload of unknown fields; a
 *       key-less HealthService.Ping whose payload is unknown fields. Meanwhile one
 *       long-lived client pings every 50 ms and a fresh client (a new connection, like the
 *       wedge monitor's) every 500 ms. Prints "frames=N replies=N ping_gap_ms=N
 *       fresh_ping_max_ms=N pings=N fresh_pings=N" and exits 0.
 *   preauth_tool partial HOST PORT ANNOUNCE SEND WAIT_MS
 *       A raw TCP peer: the SP handshake of a REQ socket, then an 8-byte length header
 *       announcing ANNOUNCE bytes and only SEND of them; waits up to WAIT_MS for the server
 *       to close the connection. Prints "closed_after_ms=N" (exit 0) or "open_after_ms=N"
 *       (exit 1).
 *   preauth_tool beacons URL SECONDS SIZE
 *       A PUB socket that dials the controller's health port, as an agent does, and
 *       publishes "beacon:" followed by SIZE bytes of 2-byte unknown fields, as fast as
 *       nng takes them, for SECONDS. Prints "frames=N" and exits 0.
 *   preauth_tool idle URL SLEEP_MS
 *       One long-lived client: a Ping, SLEEP_MS of silence, a Ping again (the server may
 *       have closed the idle connection meanwhile: nng dials again). Prints
 *       "second_ping_ms=N" and exits 0 when both pings were answered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "pubsub.h"
#include "rpc.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

#define PING_EVERY_MS  50
#define FRESH_EVERY_MS 500

static const char *url;
static int64_t end_ms;
static size_t frame_size;
static _Atomic uint64_t frames, replies;

/* size (even) bytes of 2-byte unknown fields (field 15, varint 1): the worst case for
 * protobuf-c, one unknown-field record per two bytes */
static void fill_unknown(uint8_t *p, size_t size)
{
	for (size_t i = 0; i + 1 < size; i += 2) {
		p[i] = 0x78;
		p[i + 1] = 0x01;
	}
}

/* Frame `kind` of frame_size bytes; returns NULL when out of memory. */
static uint8_t *make_frame(int kind, size_t *len)
{
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	uint8_t *f = malloc(frame_size), *pay;
	size_t head, plen;

	if (!f)
		return NULL;
	if (kind == 0) {
		fill_unknown(f, frame_size);
		*len = frame_size;
		return f;
	}
	rq.service = kind == 1 ? "xdrop.v1.RuleService" : "xdrop.v1.HealthService";
	rq.method = kind == 1 ? "List" : "Ping";
	rq.auth_token = kind == 1 ? "not-a-key" : "";
	rq.call_id = 7;
	/* the payload fills the frame: its length prefix takes 4 bytes for 2..16 MiB */
	head = xdrop__v1__rpc_request__get_packed_size(&rq) + 1 + 4;
	plen = (frame_size - head) & ~(size_t)1;
	pay = malloc(plen);
	if (!pay) {
		free(f);
		return NULL;
	}
	fill_unknown(pay, plen);
	rq.payload.data = pay;
	rq.payload.len = plen;
	*len = xdrop__v1__rpc_request__pack(&rq, f);
	free(pay);
	return f;
}

static void *flood_main(void *arg)
{
	int kind = (int)(intptr_t)arg % 3;
	uint8_t *frame[3] = {NULL, NULL, NULL};
	size_t len[3];
	nng_socket s;

	if (nng_req0_open(&s) || nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0) ||
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000) ||
	    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000) ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) ||
	    nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK))
		return NULL;
	for (int k = 0; k < 3; k++)
		if (!(frame[k] = make_frame(k, &len[k])))
			goto out;
	while (clock_mono_ms() < end_ms) {
		void *buf = NULL;
		size_t n = 0;

		kind = (kind + 1) % 3;
		if (nng_send(s, frame[kind], len[kind], 0))
			continue;
		atomic_fetch_add(&frames, 1);
		if (nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
			atomic_fetch_add(&replies, 1);
			nng_free(buf, n);
		}
	}
out:
	for (int k = 0; k < 3; k++)
		free(frame[k]);
	nng_close(s);
	return NULL;
}

static int ping(struct rpc_client *c)
{
	Xdrop__V1__PingRequest q = XDROP__V1__PING_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int err = rpc_client_call(c, &xdrop__v1__health_service__descriptor, "Ping", &q.base, &resp,
				  NULL);

	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return err;
}

static int64_t fresh_max_ms;
static unsigned fresh_pings;

static void *fresh_main(void *arg)
{
	(void)arg;
	while (clock_mono_ms() < end_ms) {
		int64_t t0 = clock_mono_ms(), dt;

		if (wd_ping(url, NULL, 5000) == 0)
			fresh_pings++;
		dt = clock_mono_ms() - t0;
		if (dt > fresh_max_ms)
			fresh_max_ms = dt;
		usleep(FRESH_EVERY_MS * 1000);
	}
	return NULL;
}

static int flood(int argc, char **argv)
{
	struct rpc_client_opts co = {.sz = sizeof(co), .timeout_ms = 5000};
	unsigned threads, pings = 0;
	struct rpc_client *c = NULL;
	pthread_t th[64], fresh;
	int64_t last, gap = 0;

	if (argc != 6)
		return 2;
	url = co.url = argv[2];
	threads = (unsigned)atoi(argv[4]);
	frame_size = (size_t)strtoull(argv[5], NULL, 10) & ~(size_t)1;
	if (threads < 1 || threads > 64 || frame_size < 1024 || rpc_client_open(&c, &co))
		return 2;
	end_ms = clock_mono_ms() + atoi(argv[3]) * 1000;
	if (ping(c)) {
		fprintf(stderr, "the server does not answer Ping before the flood\n");
		return 1;
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, flood_main, (void *)(intptr_t)i);
	pthread_create(&fresh, NULL, fresh_main, NULL);
	last = clock_mono_ms();
	while (clock_mono_ms() < end_ms) {
		if (ping(c) == 0) {
			int64_t now = clock_mono_ms();

			if (now - last > gap)
				gap = now - last;
			last = now;
			pings++;
		}
		usleep(PING_EVERY_MS * 1000);
	}
	if (clock_mono_ms() - last > gap)
		gap = clock_mono_ms() - last;
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	pthread_join(fresh, NULL);
	rpc_client_close(c);
	printf("frames=%llu replies=%llu ping_gap_ms=%lld fresh_ping_max_ms=%lld pings=%u "
	       "fresh_pings=%u\n",
	       (unsigned long long)frames, (unsigned long long)replies, (long long)gap,
	       (long long)fresh_max_ms, pings, fresh_pings);
	return 0;
}

static int partial(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	uint8_t hello[8] = {0, 'S', 'P', 0, 0, 48 /* REQ0 */, 0, 0}, peer[8], hdr[8];
	uint64_t announce;
	size_t send_n;
	int64_t t0, wait_ms;
	int fd;

	if (argc != 7)
		return 2;
	a.sin_port = htons((uint16_t)atoi(argv[3]));
	announce = strtoull(argv[4], NULL, 10);
	send_n = (size_t)atoi(argv[5]);
	wait_ms = atoll(argv[6]);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    write(fd, hello, sizeof(hello)) != sizeof(hello) ||
	    recv(fd, peer, sizeof(peer), MSG_WAITALL) != sizeof(peer)) {
		fprintf(stderr, "handshake failed: %s\n", strerror(errno));
		return 2;
	}
	for (int i = 0; i < 8; i++)
		hdr[i] = (uint8_t)(announce >> (56 - 8 * i));
	if (write(fd, hdr, sizeof(hdr)) != sizeof(hdr) ||
	    write(fd, "\x0a\x01x", send_n > 3 ? 3 : send_n) < 0)
		return 2;
	t0 = clock_mono_ms();
	while (clock_mono_ms() - t0 < wait_ms) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char b;

		if (poll(&p, 1, 100) > 0 && recv(fd, &b, 1, 0) <= 0) {
			printf("closed_after_ms=%lld\n", (long long)(clock_mono_ms() - t0));
			close(fd);
			return 0;
		}
	}
	printf("open_after_ms=%lld\n", (long long)(clock_mono_ms() - t0));
	close(fd);
	return 1;
}

static int idle(int argc, char **argv)
{
	struct rpc_client_opts co = {.sz = sizeof(co), .timeout_ms = 5000};
	struct rpc_client *c = NULL;
	int64_t t0;
	int rc = 1;

	if (argc != 4)
		return 2;
	co.url = argv[2];
	if (rpc_client_open(&c, &co))
		return 2;
	if (ping(c) == 0) {
		usleep((useconds_t)atoi(argv[3]) * 1000);
		t0 = clock_mono_ms();
		if (ping(c) == 0) {
			printf("second_ping_ms=%lld\n", (long long)(clock_mono_ms() - t0));
			rc = 0;
		}
	}
	rpc_client_close(c);
	return rc;
}

static int beacons(int argc, char **argv)
{
	const size_t tlen = strlen(XDROP_TOPIC_BEACON);
	nng_socket sock = NNG_SOCKET_INITIALIZER;
	uint64_t sent = 0;
	uint8_t *frame;
	size_t size;
	int64_t end;

	if (argc != 5)
		return 2;
	size = (size_t)strtoull(argv[4], NULL, 10) & ~(size_t)1;
	frame = malloc(tlen + size);
	if (!frame || nng_pub0_open(&sock) || nng_dial(sock, argv[2], NULL, NNG_FLAG_NONBLOCK)) {
		free(frame);
		return 2;
	}
	memcpy(frame, XDROP_TOPIC_BEACON, tlen);
	fill_unknown(frame + tlen, size);
	end = clock_mono_ms() + atoi(argv[3]) * 1000LL;
	while (clock_mono_ms() < end) {
		/* a PUB socket drops what it cannot queue: pace the sender a little */
		if (nng_send(sock, frame, tlen + size, 0) == 0)
			sent++;
		if (sent % 64 == 0)
			usleep(1000);
	}
	printf("frames=%llu\n", (unsigned long long)sent);
	fflush(stdout);
	/* No nng_close: nng 1.5.2's close can wait forever for a pipe whose 16 MiB send the
	 * controller cut off (it refuses frames over XDROP_BEACON_MAX_MSG), about 1 run in
	 * 10 here. The flood is what this mode is for; the process ends without the wait. */
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "flood") == 0)
		return flood(argc, argv);
	if (argc > 1 && strcmp(argv[1], "partial") == 0)
		return partial(argc, argv);
	if (argc > 1 && strcmp(argv[1], "idle") == 0)
		return idle(argc, argv);
	if (argc > 1 && strcmp(argv[1], "beacons") == 0)
		return beacons(argc, argv);
	fprintf(stderr, "usage: preauth_tool flood URL SECONDS THREADS SIZE\n"
			"       preauth_tool partial HOST PORT ANNOUNCE SEND WAIT_MS\n"
			"       preauth_tool idle URL SLEEP_MS\n"
			"       preauth_tool beacons URL SECONDS SIZE\n");
	return 2;
}
