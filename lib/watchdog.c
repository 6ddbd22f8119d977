// SPDX-License-Identifier: MIT
/*
 * watchdog: see watchdog.h.
 */
#include <errno.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rpc.h"
#include "tls.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

#define WD_SLOTS 16 /* closes watched at once; more run unwatched */

static _Atomic int64_t close_since[WD_SLOTS];
static char **saved_argv;
static char saved_exe[4096]; /* the program's path, so that the new image keeps its name */
static unsigned exit_secs;
static int exit_code;

int64_t wd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Test hook: XDROP_FAULT_WEDGE_CLOSE=1 makes the process's first watched close hang for an
 * hour before closing, as the nng bug does. The variable is removed from the environment
 * first, so that the image wd_reexec() starts runs clean. */
static void fault_wedge(void)
{
	static atomic_bool checked;

	if (atomic_exchange(&checked, true) || !getenv("XDROP_FAULT_WEDGE_CLOSE"))
		return;
	unsetenv("XDROP_FAULT_WEDGE_CLOSE");
	log_warn("fault hook: this close hangs (XDROP_FAULT_WEDGE_CLOSE)");
	sleep(3600);
}

void wd_close(nng_socket sock)
{
	int slot = -1;

	for (int i = 0; i < WD_SLOTS && slot < 0; i++) {
		int64_t free_slot = 0;

		if (atomic_compare_exchange_strong(&close_since[i], &free_slot, wd_now_ms()))
			slot = i;
	}
	fault_wedge();
	nng_close(sock);
	if (slot >= 0)
		atomic_store(&close_since[slot], 0);
}

int64_t wd_stuck_ms(void)
{
	int64_t now = wd_now_ms(), worst = 0;

	for (int i = 0; i < WD_SLOTS; i++) {
		int64_t since = atomic_load(&close_since[i]);

		if (since && now - since > worst)
			worst = now - since;
	}
	return worst;
}

static void *exit_main(void *arg)
{
	(void)arg;
	sleep(exit_secs);
	log_error("still stopping after %u s (a close in the messaging library does not return):"
		  " exiting now",
		  exit_secs);
	_exit(exit_code);
	return NULL;
}

int wd_exit_after(unsigned secs, int code)
{
	pthread_t t;
	int rv;

	exit_secs = secs;
	exit_code = code;
	rv = pthread_create(&t, NULL, exit_main, NULL);
	if (rv)
		return -rv;
	pthread_detach(t);
	return 0;
}

#define WD_PING_EVERY_MS   5000
#define WD_PING_TIMEOUT_MS 3000

static struct wd_monitor_opts mon;
static char *mon_url;
static _Atomic int64_t ping_ok_ms;

int wd_ping(const char *url, const struct tls_opts *tls, unsigned timeout_ms)
{
	Xdrop__V1__PingRequest q = XDROP__V1__PING_REQUEST__INIT;
	struct rpc_client_opts co = {
	    .sz = sizeof(co), .url = url, .timeout_ms = timeout_ms, .tls = tls};
	struct rpc_client *cl = NULL;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st = {0};
	int err = rpc_client_open(&cl, &co);

	if (!err)
		err = rpc_client_call(cl, &xdrop__v1__health_service__descriptor, "Ping", &q.base,
				      &resp, &st);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	rpc_client_close(cl);
	return err;
}

static void *ping_main(void *arg)
{
	(void)arg;
	for (;;) {
		usleep((mon.ping_every_ms ? mon.ping_every_ms : WD_PING_EVERY_MS) * 1000);
		if (wd_ping(mon_url, NULL, WD_PING_TIMEOUT_MS) == 0)
			atomic_store(&ping_ok_ms, wd_now_ms());
	}
	return NULL;
}

static void *monitor_main(void *arg)
{
	int64_t last = wd_now_ms();

	(void)arg;
	for (;;) {
		int64_t now, closing, idle = 0, silent = 0;
		int err;

		sleep(1);
		now = wd_now_ms();
		if (now - last > 3000) {
			/* the whole process was stopped (SIGSTOP, a paused VM) or starved: start
			 * the clocks afresh instead of blaming the library for the pause */
			last = now;
			if (mon.beat)
				atomic_store(mon.beat, now);
			atomic_store(&ping_ok_ms, now);
			continue;
		}
		last = now;
		closing = wd_stuck_ms();
		if (mon.beat)
			idle = now - atomic_load(mon.beat);
		if (mon_url)
			silent = now - atomic_load(&ping_ok_ms);
		if (*mon.stopping || ((!mon.close_limit_ms || closing < mon.close_limit_ms) &&
				      (!mon.beat_limit_ms || idle < mon.beat_limit_ms) &&
				      (!mon.ping_limit_ms || silent < mon.ping_limit_ms)))
			continue;
		log_error("messaging stuck (an nng close pending %lld ms, main loop idle %lld ms, "
			  "own RPC silent %lld ms): restarting in place",
			  (long long)closing, (long long)idle, (long long)silent);
		if (*mon.stopping)
			continue;
		err = wd_reexec();
		log_error("restart in place failed: %s; exiting", strerror(-err));
		_exit(1);
	}
	return NULL;
}

int wd_monitor_start(const struct wd_monitor_opts *o)
{
	pthread_t t;
	int rv;

	if (!o || o->sz < sizeof(*o) || !o->stopping || !saved_argv ||
	    (o->ping_limit_ms &&
	     o->ping_limit_ms <= (o->ping_every_ms ? o->ping_every_ms : WD_PING_EVERY_MS)))
		return -EINVAL;
	mon = *o;
	if (o->ping_url && o->ping_limit_ms && !tls_url_is_tls(o->ping_url)) {
		mon_url = strdup(o->ping_url);
		if (!mon_url)
			return -ENOMEM;
		atomic_store(&ping_ok_ms, wd_now_ms());
		rv = pthread_create(&t, NULL, ping_main, NULL);
		if (rv)
			return -rv;
		pthread_detach(t);
	}
	rv = pthread_create(&t, NULL, monitor_main, NULL);
	if (rv)
		return -rv;
	pthread_detach(t);
	return 0;
}

void wd_save_argv(char **argv)
{
	ssize_t n = readlink("/proc/self/exe", saved_exe, sizeof(saved_exe) - 1);

	saved_exe[n > 0 ? n : 0] = '\0';
	saved_argv = argv;
}

int wd_reexec(void)
{
	if (!saved_argv)
		return -EINVAL;
	/* the new image opens its own sockets, maps and listeners */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC))
		return -errno;
	execv(saved_exe[0] ? saved_exe : "/proc/self/exe", saved_argv);
	return -errno;
}
