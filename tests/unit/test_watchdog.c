// SPDX-License-Identifier: MIT
/*
 * test_watchdog: the guard against a wedged nng (lib/watchdog.c). A watched close is
 * reported while it hangs (the XDROP_FAULT_WEDGE_CLOSE hook makes one hang) and not after
 * it returned; wd_exit_after() ends a process that does not stop in time with the code
 * given; wd_reexec() starts the same program afresh with descriptors above stderr closed;
 * the monitor restarts a process whose own RPC listener does not answer, and only that.
 * Every case runs in a forked child: nng may not be used across fork().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "log.h"
#include "rpc.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

#define PROBE_ARG "--reexec-probe"

/* waits at most limit_ms for the child; returns its exit code, or -1 (killed, timed out) */
static int child_code(pid_t pid, int limit_ms)
{
	int64_t end = wd_now_ms() + limit_ms;
	int status;

	while (wd_now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

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
		wd_close(s);
		_exit(wd_stuck_ms() == 0 ? 0 : 11);
	}
	assert_int_equal(child_code(pid, 10000), 0);
}

static void *close_thread(void *arg)
{
	wd_close(*(nng_socket *)arg);
	return NULL;
}

static void test_hanging_close_reported(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static nng_socket s;
		pthread_t t;
		int64_t end;

		setenv("XDROP_FAULT_WEDGE_CLOSE", "1", 1);
		if (nng_req0_open(&s) || pthread_create(&t, NULL, close_thread, &s))
			_exit(10);
		for (end = wd_now_ms() + 5000; wd_now_ms() < end; usleep(20000)) {
			if (wd_stuck_ms() >= 1500)
				_exit(getenv("XDROP_FAULT_WEDGE_CLOSE") ? 11 : 0);
		}
		_exit(12); /* never reported */
	}
	assert_int_equal(child_code(pid, 10000), 0);
}

static void test_exit_after(void **state)
{
	int64_t t0 = wd_now_ms();
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (wd_exit_after(1, 7))
			_exit(10);
		sleep(20); /* "stuck stopping" */
		_exit(11);
	}
	assert_int_equal(child_code(pid, 10000), 7);
	assert_true(wd_now_ms() - t0 >= 900);
}

static void test_reexec(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static char self[] = "test_watchdog", probe[] = PROBE_ARG;
		static char *argv[] = {self, probe, NULL};
		char fdstr[16];
		int fds[2];

		if (pipe(fds)) /* without O_CLOEXEC: wd_reexec must close it anyway */
			_exit(10);
		snprintf(fdstr, sizeof(fdstr), "%d", fds[0]);
		setenv("WD_PROBE_FD", fdstr, 1);
		wd_save_argv(argv);
		wd_reexec();
		_exit(11); /* wd_reexec returned */
	}
	assert_int_equal(child_code(pid, 10000), 42);
}

static enum rpc_code ping(struct rpc_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage *resp, void *arg)
{
	(void)call;
	(void)req;
	(void)resp;
	(void)arg;
	return RPC_OK;
}

/* The monitor in a child whose own listener answers (live) or does not exist: exits 42
 * from the re-executed probe image if the monitor restarted it, 0 if it did not within
 * 3 s, 10+ on a set-up failure. */
static void monitor_child(bool live, const char *url)
{
	static char self[] = "test_watchdog", probe[] = PROBE_ARG;
	static char *argv[] = {self, probe, NULL};
	static volatile sig_atomic_t stopping;
	struct wd_monitor_opts o = {.sz = sizeof(o),
				    .ping_url = url,
				    .ping_every_ms = 200,
				    .ping_limit_ms = 1000,
				    .stopping = &stopping};
	struct rpc_server_opts so = {.sz = sizeof(so), .url = url, .name = "test"};
	struct rpc_server *srv = NULL;

	setenv("WD_PROBE_FD", "1000", 1); /* never open: the probe answers 42 */
	wd_save_argv(argv);
	if (live &&
	    (rpc_server_open(&srv, &so) ||
	     rpc_server_register(srv, &xdrop__v1__health_service__descriptor, "Ping", ping, NULL) ||
	     rpc_server_start(srv)))
		_exit(10);
	if (wd_monitor_start(&o))
		_exit(11);
	sleep(3);
	_exit(0);
}

static void test_monitor_restarts_on_silent_rpc(void **state)
{
	char url[96];
	pid_t pid;

	(void)state;
	snprintf(url, sizeof(url), "ipc:///tmp/xdrop-wd-test-%d-none.sock", (int)getpid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		monitor_child(false, url);
	assert_int_equal(child_code(pid, 20000), 42);
}

static void test_monitor_leaves_answering_rpc(void **state)
{
	char url[96];
	pid_t pid;

	(void)state;
	snprintf(url, sizeof(url), "ipc:///tmp/xdrop-wd-test-%d-live.sock", (int)getpid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		monitor_child(true, url);
	assert_int_equal(child_code(pid, 20000), 0);
	unlink(url + strlen("ipc://"));
}

/* The re-executed image: 42 if the inherited pipe is closed, 43 if not. */
static int probe(void)
{
	const char *fd = getenv("WD_PROBE_FD");

	if (!fd)
		return 44;
	return fcntl(atoi(fd), F_GETFD) == -1 && errno == EBADF ? 42 : 43;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_close_unwatched_after_return),
	    cmocka_unit_test(test_hanging_close_reported),
	    cmocka_unit_test(test_exit_after),
	    cmocka_unit_test(test_reexec),
	    cmocka_unit_test(test_monitor_restarts_on_silent_rpc),
	    cmocka_unit_test(test_monitor_leaves_answering_rpc),
	};

	if (argc > 1 && !strcmp(argv[1], PROBE_ARG))
		return probe();
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("watchdog", tests, NULL, NULL);
}
