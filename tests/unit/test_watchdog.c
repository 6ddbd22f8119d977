// SPDX-License-Identifier: MIT
/*
 * test_watchdog: the guard against a wedged nng (lib/watchdog.c, lib/closewatch.c,
 * lib/sdnotify.c). A watched close is reported while it hangs (the XDROP_FAULT_WEDGE_CLOSE
 * hook makes one hang, once) and not after it returned; wd_exit_after() ends a process
 * that does not stop in time with the code given; the monitor ends a process with
 * XDROP_EXIT_WEDGED (75) when a close hangs, its loop stops or its own RPC listener does
 * not answer, and not when the listener answers or is merely busy with slow calls; the
 * sd_notify sender reaches a real AF_UNIX datagram socket, and the monitor tells it
 * READY=1, WATCHDOG=1 and why it gave up; the systemd units and scripts/supervise.sh
 * carry lib/recovery.h's values. Every monitor case runs in a forked child: nng may not
 * be used across fork(), and the monitor ends its process; the monitor cases are a table.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "closewatch.h"
#include "log.h"
#include "rpc.h"
#include "sdnotify.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

#define SLOW_CALL_MS  3000 /* a legitimate call longer than the test's ping limit */
#define PING_LIMIT_MS 1000

/* waits at most limit_ms for the child; returns its exit code, or -1 (killed, timed out) */
static int child_code(pid_t pid, int limit_ms)
{
	int64_t end = clock_mono_ms() + limit_ms;
	int status;

	while (clock_mono_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* A datagram socket bound at path (a file name, or "@name": abstract), as systemd's. */
static int notify_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	else
		unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
			 0);
	return fd;
}

/* Every datagram waiting on fd, joined with '|' into buf. */
static void notify_read(int fd, char *buf, size_t size)
{
	char msg[512];
	size_t used = 0;
	ssize_t n;

	buf[0] = '\0';
	while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) >= 0) {
		msg[n] = '\0';
		used += (size_t)snprintf(buf + used, size - used, "%s|", msg);
		if (used >= size)
			break;
	}
}

/* ---- closes ------------------------------------------------------------------------ */

static void test_close_unwatched_after_return(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		nng_socket s;

		if (nng_req0_open(&s))
			_exit(10);
		closewatch_close(s);
		_exit(closewatch_pending_ms() == 0 ? 0 : 11);
	}
	assert_int_equal(child_code(pid, 10000), 0);
}

static void *close_thread(void *arg)
{
	closewatch_close(*(nng_socket *)arg);
	return NULL;
}

/* The hook's file, created: the first watched close hangs and removes it. */
static void wedge_file(char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/xdrop-wd-test-%d.wedge", (int)getpid());
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(9);
	close(fd);
	setenv(XDROP_FAULT_WEDGE_CLOSE_ENV, path, 1);
}

static void test_hanging_close_reported(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static nng_socket s;
		char path[96];
		pthread_t t;
		int64_t end;

		wedge_file(path, sizeof(path));
		if (nng_req0_open(&s) || pthread_create(&t, NULL, close_thread, &s))
			_exit(10);
		for (end = clock_mono_ms() + 5000; clock_mono_ms() < end; usleep(20000)) {
			if (closewatch_pending_ms() >= 1500) /* reported; fires once: file gone */
				_exit(access(path, F_OK) == 0 ? 11 : 0);
		}
		_exit(12); /* never reported */
	}
	assert_int_equal(child_code(pid, 10000), 0);
}

/* Without the hook's file the same variable hangs nothing (it fired before a restart). */
static void test_hook_without_file_is_clean(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		nng_socket s;

		setenv(XDROP_FAULT_WEDGE_CLOSE_ENV, "/tmp/xdrop-wd-test-no-such-file", 1);
		if (nng_req0_open(&s))
			_exit(10);
		closewatch_close(s);
		_exit(closewatch_pending_ms() == 0 ? 0 : 11);
	}
	assert_int_equal(child_code(pid, 10000), 0);
}

static void test_exit_after(void **state)
{
	int64_t t0 = clock_mono_ms();
	char path[96], got[1024];
	int fd;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/xdrop-wd-test-%d-stop.notify", (int)getpid());
	fd = notify_socket(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv(XDROP_NOTIFY_SOCKET_ENV, path, 1);
		if (wd_exit_after(1, 7))
			_exit(10);
		sleep(20); /* "stuck stopping" */
		_exit(11);
	}
	assert_int_equal(child_code(pid, 10000), 7);
	assert_true(clock_mono_ms() - t0 >= 900);
	notify_read(fd, got, sizeof(got));
	assert_string_equal(got, "STOPPING=1|");
	close(fd);
	unlink(path);
}

/* ---- sd_notify ------------------------------------------------------------------- */

static void test_sdnotify_datagram(void **state)
{
	char path[96], abstract[96], got[1024];
	int fd, afd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/xdrop-wd-test-%d.notify", (int)getpid());
	snprintf(abstract, sizeof(abstract), "@xdrop-wd-test-%d", (int)getpid());
	fd = notify_socket(path);
	afd = notify_socket(abstract);

	unsetenv(XDROP_NOTIFY_SOCKET_ENV);
	assert_int_equal(sdnotify("READY=1"), 0); /* no service manager: nothing sent */
	setenv(XDROP_NOTIFY_SOCKET_ENV, path, 1);
	assert_int_equal(sdnotify("READY=1"), 1);
	assert_int_equal(sdnotify("WATCHDOG=1\nSTATUS=serving"), 1);
	notify_read(fd, got, sizeof(got));
	assert_string_equal(got, "READY=1|WATCHDOG=1\nSTATUS=serving|");

	setenv(XDROP_NOTIFY_SOCKET_ENV, abstract, 1);
	assert_int_equal(sdnotify("STOPPING=1"), 1);
	notify_read(afd, got, sizeof(got));
	assert_string_equal(got, "STOPPING=1|");

	setenv(XDROP_NOTIFY_SOCKET_ENV, "relative/path", 1);
	assert_int_equal(sdnotify("READY=1"), -EINVAL);
	unlink(path);
	setenv(XDROP_NOTIFY_SOCKET_ENV, path, 1); /* nobody listens any more */
	assert_int_equal(sdnotify("READY=1"), -ENOENT);
	unsetenv(XDROP_NOTIFY_SOCKET_ENV);
	close(fd);
	close(afd);
}

/* ---- the monitor ------------------------------------------------------------------- */

static enum rpc_code ping(struct rpc_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage *resp, void *arg)
{
	(void)call;
	(void)req;
	(void)resp;
	(void)arg;
	return RPC_OK;
}

/* A legitimate call that takes longer than the ping limit (a big batch). */
static enum rpc_code slow_batch(struct rpc_call *call, const ProtobufCMessage *req,
				ProtobufCMessage *resp, void *arg)
{
	(void)call;
	(void)req;
	(void)resp;
	(void)arg;
	usleep(SLOW_CALL_MS * 1000);
	return RPC_OK;
}

static volatile sig_atomic_t stopping;

/* An RPC server at url with workers workers, Ping and a slow RuleService.BatchCreate. */
static struct rpc_server *serve(const char *url, unsigned workers)
{
	struct rpc_server_opts so = {.sz = sizeof(so), .url = url, .workers = workers, .name = "t"};
	struct rpc_server *srv = NULL;

	if (rpc_server_open(&srv, &so) ||
	    rpc_server_register(srv, &xdrop__v1__health_service__descriptor, "Ping", ping, NULL) ||
	    rpc_server_register(srv, &xdrop__v1__rule_service__descriptor, "BatchCreate",
				slow_batch, NULL) ||
	    rpc_server_start(srv))
		_exit(10);
	return srv;
}

/* The monitor options of these tests: a ping every 200 ms, 300 ms to answer, 1 s limit. */
static struct wd_monitor_opts test_opts(const char *url)
{
	struct wd_monitor_opts o = {.sz = sizeof(o),
				    .ping_url = url,
				    .ping_every_ms = 200,
				    .ping_timeout_ms = 300,
				    .ping_limit_ms = PING_LIMIT_MS,
				    .stopping = &stopping};
	return o;
}

static void url_of(char *url, size_t size, const char *what)
{
	snprintf(url, size, "ipc:///tmp/xdrop-wd-test-%d-%s.sock", (int)getpid(), what);
}

/* Runs fn in a child with NOTIFY_SOCKET set; returns its exit code and what it notified. */
static int in_child(void (*fn)(const char *), const char *url, char *notified, size_t size)
{
	char path[96];
	int fd, code;
	pid_t pid;

	snprintf(path, sizeof(path), "/tmp/xdrop-wd-test-%d-mon.notify", (int)getpid());
	fd = notify_socket(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv(XDROP_NOTIFY_SOCKET_ENV, path, 1);
		fn(url);
		_exit(0);
	}
	code = child_code(pid, 30000);
	notify_read(fd, notified, size);
	close(fd);
	unlink(path);
	unlink(url + strlen("ipc://"));
	return code;
}

static void monitor_silent(const char *url)
{
	struct wd_monitor_opts o = test_opts(url); /* nobody listens at url */

	if (wd_monitor_start(&o))
		_exit(11);
	sleep(4);
}

static void monitor_live(const char *url)
{
	struct wd_monitor_opts o = test_opts(url);

	o.rpc = serve(url, 2);
	if (wd_monitor_start(&o))
		_exit(11);
	sleep(3);
}

struct batch_caller {
	const char *url;
	int64_t until_ms;
};

/* Sends slow batches back to back until until_ms: one worker kept busy. */
static void *call_batches(void *arg)
{
	const struct batch_caller *b = arg;
	struct rpc_client_opts co = {.sz = sizeof(co), .url = b->url, .timeout_ms = 10000};
	struct rpc_client *cl = NULL;

	if (rpc_client_open(&cl, &co))
		_exit(12);
	while (clock_mono_ms() < b->until_ms) {
		Xdrop__V1__BatchCreateRulesRequest q = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		struct rpc_status st = {0};

		if (rpc_client_call(cl, &xdrop__v1__rule_service__descriptor, "BatchCreate",
				    &q.base, &resp, &st))
			_exit(13);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	rpc_client_close(cl);
	return NULL;
}

enum busy_view {
	BUSY_LOAD,  /* the monitor reads the server's load */
	BUSY_BLIND, /* it does not */
	BUSY_STUCK, /* it does, but calls count as stuck after 500 ms */
};

/* Both workers busy with slow batches for two rounds (6 s, six ping limits), then 1 s
 * idle; the monitor sees them as view says. Ends normally if the monitor let it be. */
static void monitor_busy(const char *url, enum busy_view view)
{
	struct wd_monitor_opts o = test_opts(url);
	struct batch_caller b = {.url = url, .until_ms = clock_mono_ms() + SLOW_CALL_MS + 500};
	struct rpc_server *srv = serve(url, 2);
	pthread_t t[2];

	if (view != BUSY_BLIND)
		o.rpc = srv;
	if (view == BUSY_STUCK)
		o.call_limit_ms = 500;
	if (wd_monitor_start(&o))
		_exit(11);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, call_batches, &b))
			_exit(14);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	sleep(1); /* idle again: the pings go through */
}

static void monitor_busy_load(const char *url)
{
	monitor_busy(url, BUSY_LOAD);
}

static void monitor_busy_blind(const char *url)
{
	monitor_busy(url, BUSY_BLIND);
}

static void monitor_busy_stuck(const char *url)
{
	monitor_busy(url, BUSY_STUCK);
}

static void monitor_hanging_close(const char *url)
{
	struct wd_monitor_opts o = {.sz = sizeof(o), .close_limit_ms = 1000, .stopping = &stopping};
	static nng_socket s;
	char path[96];
	pthread_t t;

	(void)url;
	wedge_file(path, sizeof(path));
	if (wd_monitor_start(&o) || nng_req0_open(&s) || pthread_create(&t, NULL, close_thread, &s))
		_exit(11);
	sleep(4);
}

static void monitor_stale_beat(const char *url)
{
	static _Atomic int64_t beat;
	struct wd_monitor_opts o = {
	    .sz = sizeof(o), .beat = &beat, .beat_limit_ms = 1000, .stopping = &stopping};

	(void)url;
	atomic_store(&beat, clock_mono_ms()); /* and never again */
	if (wd_monitor_start(&o))
		_exit(11);
	sleep(4);
}

/* One monitor case: a child process, how it must end, what it must have notified (it
 * always starts with READY=1; an exit 75 always says STATUS=wedged:, an end without one
 * never does). */
struct monitor_case {
	const char *tag; /* for the socket's name */
	void (*child)(const char *url);
	int code;
	const char *notified; /* also in what it notified; NULL: nothing more */
};

static const struct monitor_case monitor_cases[] = {
    {"none", monitor_silent, XDROP_EXIT_WEDGED, NULL},
    {"live", monitor_live, 0, "WATCHDOG=1|WATCHDOG=1|"},
    {"busy", monitor_busy_load, 0, NULL},
    /* the same load unseen is taken for a wedge: the busy case really has the ping fail
     * for longer than the limit */
    {"blind", monitor_busy_blind, XDROP_EXIT_WEDGED, NULL},
    {"stuck", monitor_busy_stuck, XDROP_EXIT_WEDGED, NULL},
    {"close", monitor_hanging_close, XDROP_EXIT_WEDGED, "STATUS=wedged: close "},
    {"beat", monitor_stale_beat, XDROP_EXIT_WEDGED, NULL},
};

static void test_monitor_case(void **state)
{
	const struct monitor_case *c = *state;
	char url[96], got[8192];

	url_of(url, sizeof(url), c->tag);
	assert_int_equal(in_child(c->child, url, got, sizeof(got)), c->code);
	assert_memory_equal(got, "READY=1|", 8);
	if (c->code == XDROP_EXIT_WEDGED)
		assert_non_null(strstr(got, "STATUS=wedged:"));
	else
		assert_null(strstr(got, "STATUS=wedged"));
	if (c->notified)
		assert_non_null(strstr(got, c->notified));
}

static void test_monitor_opts_checked(void **state)
{
	struct wd_monitor_opts o = test_opts("ipc:///tmp/unused");

	(void)state;
	o.ping_limit_ms = 500; /* not above every + timeout */
	assert_int_equal(wd_monitor_start(&o), -EINVAL);
	o = test_opts("ipc:///tmp/unused");
	o.stopping = NULL;
	assert_int_equal(wd_monitor_start(&o), -EINVAL);
	o = test_opts("ipc:///tmp/unused");
	o.sz = 8;
	assert_int_equal(wd_monitor_start(&o), -EINVAL);
}

/* ---- the values outside C -------------------------------------------------------- */

/* The value of "key=" in file (first match) as a long, or -1. */
static long file_value(const char *file, const char *key)
{
	char line[512];
	size_t len = strlen(key);
	long v = -1;
	FILE *f = fopen(file, "r");

	if (!f) {
		print_error("cannot open %s (run from the source tree)\n", file);
		return -1;
	}
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == '=') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void test_units_and_supervisor_agree(void **state)
{
	static const char *const daemons[] = {"scripts/systemd/xdrop-agent.service",
					      "scripts/systemd/xdrop-controller.service"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(file_value(daemons[i], "WatchdogSec"), XDROP_SYSTEMD_WATCHDOG_S);
		assert_int_equal(file_value(daemons[i], "RestartSec"), XDROP_RESTART_DELAY_S);
		assert_int_equal(file_value(daemons[i], "TimeoutStopSec"), XDROP_STOP_TIMEOUT_S);
	}
	assert_int_equal(file_value("scripts/systemd/xdrop-gateway.service", "RestartSec"),
			 XDROP_RESTART_DELAY_S);
	assert_int_equal(file_value("scripts/systemd/xdrop-gateway.service", "TimeoutStopSec"),
			 XDROP_STOP_TIMEOUT_S);
	assert_int_equal(file_value("scripts/supervise.sh", "WEDGED"), XDROP_EXIT_WEDGED);
	assert_int_equal(file_value("scripts/supervise.sh", "DELAY"), XDROP_RESTART_DELAY_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_close_unwatched_after_return),
	    cmocka_unit_test(test_hanging_close_reported),
	    cmocka_unit_test(test_hook_without_file_is_clean),
	    cmocka_unit_test(test_exit_after),
	    cmocka_unit_test(test_sdnotify_datagram),
#define MONITOR_CASE(i, what)                                                                      \
	{"monitor: " what, test_monitor_case, NULL, NULL, (void *)&monitor_cases[i]}
	    MONITOR_CASE(0, "own RPC silent: exit 75"),
	    MONITOR_CASE(1, "own RPC answers: keeps running, keepalives sent"),
	    MONITOR_CASE(2, "all workers in slow legitimate calls: busy, not wedged"),
	    MONITOR_CASE(3, "the same without the server's load: exit 75"),
	    MONITOR_CASE(4, "calls running past call_limit_ms: exit 75"),
	    MONITOR_CASE(5, "a close hangs: exit 75"),
	    MONITOR_CASE(6, "the daemon's loop stopped: exit 75"),
	    cmocka_unit_test(test_monitor_opts_checked),
	    cmocka_unit_test(test_units_and_supervisor_agree),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("watchdog", tests, NULL, NULL);
}
