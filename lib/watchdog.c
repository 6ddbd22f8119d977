// SPDX-License-Identifier: MIT
/*
 * watchdog: see watchdog.h. The monitor and its own-ping prober are two tickers
 * (lib/ticker.h) that run for the life of the process; the prober is apart so that a
 * ping waiting for its timeout never delays a look at the other checks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "closewatch.h"
#include "log.h"
#include "rpc.h"
#include "sdnotify.h"
#include "ticker.h"
#include "tls.h"
#include "watchdog.h"
#include "xdrop.pb-c.h"

static unsigned exit_secs;
static int exit_code;
static void monitor_detach(void);

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

	sdnotify("STOPPING=1");
	monitor_detach(); /* the daemon closes its RPC server next */
	exit_secs = secs;
	exit_code = code;
	rv = pthread_create(&t, NULL, exit_main, NULL);
	if (rv)
		return -rv;
	pthread_detach(t);
	return 0;
}

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

/* ---- the monitor ------------------------------------------------------------------- */

static struct wd_monitor_opts mon;			     /* with the defaults filled in */
static pthread_mutex_t rpc_lock = PTHREAD_MUTEX_INITIALIZER; /* guards mon.rpc */
static char *mon_url; /* ping_url when the ping check is on */
static struct ticker *mon_ticker, *ping_ticker;
static _Atomic int64_t ping_ok_ms; /* last answer, or last failure excused as busy */
static atomic_bool ping_busy;	   /* the last failure was excused (logged once) */
static int64_t last_look_ms;	   /* the monitor thread's own */

/*
 * Whether a ping attempt that began at t0 and failed found the listener busy rather
 * than wedged: every worker was in a call at some moment since t0 (so the ping may just
 * be queued behind them), and no call has been running for call_limit_ms (a worker stuck
 * in a call for that long is no better than a wedged listener).
 */
static bool listener_busy(int64_t t0)
{
	struct rpc_server_load l = {0};

	pthread_mutex_lock(&rpc_lock);
	if (mon.rpc)
		rpc_server_load(mon.rpc, &l);
	pthread_mutex_unlock(&rpc_lock);
	if (!l.workers || l.saturated_ms < t0)
		return false;
	return !l.oldest_ms || clock_mono_ms() - l.oldest_ms < mon.call_limit_ms;
}

static void ping_tick(void *arg)
{
	int64_t t0 = clock_mono_ms();

	(void)arg;
	if (wd_ping(mon_url, NULL, mon.ping_timeout_ms) == 0) {
		atomic_store(&ping_busy, false);
		atomic_store(&ping_ok_ms, clock_mono_ms());
		return;
	}
	if (!listener_busy(t0))
		return;
	if (!atomic_exchange(&ping_busy, true))
		log_info("own RPC ping unanswered while every worker is in a call: busy, not "
			 "wedged");
	atomic_store(&ping_ok_ms, clock_mono_ms());
}

/* From now on the monitor no longer reads the RPC server's load (stopping: the daemon is
 * about to free it); returns once no reader is left. */
static void monitor_detach(void)
{
	pthread_mutex_lock(&rpc_lock);
	mon.rpc = NULL;
	pthread_mutex_unlock(&rpc_lock);
}

/* Logs why, tells the service manager, and ends the process for it to restart. */
static void exit_wedged(int64_t closing, int64_t idle, int64_t silent)
{
	char status[160];

	log_error("messaging stuck (an nng close pending %lld ms, main loop idle %lld ms, "
		  "own RPC silent %lld ms): exiting with status %d for the service manager to "
		  "restart",
		  (long long)closing, (long long)idle, (long long)silent, XDROP_EXIT_WEDGED);
	snprintf(status, sizeof(status), "STATUS=wedged: close %lld ms, loop %lld ms, RPC %lld ms",
		 (long long)closing, (long long)idle, (long long)silent);
	sdnotify(status);
	_exit(XDROP_EXIT_WEDGED);
}

static void monitor_tick(void *arg)
{
	int64_t now = clock_mono_ms(), closing, idle = 0, silent = 0;

	(void)arg;
	if (now - last_look_ms > XDROP_WEDGE_PAUSE_MS) {
		/* the whole process was stopped (SIGSTOP, a paused VM) or starved: start the
		 * clocks afresh instead of blaming the library for the pause */
		last_look_ms = now;
		if (mon.beat)
			atomic_store(mon.beat, now);
		atomic_store(&ping_ok_ms, now);
		sdnotify("WATCHDOG=1");
		return;
	}
	last_look_ms = now;
	closing = closewatch_pending_ms();
	if (mon.beat)
		idle = now - atomic_load(mon.beat);
	if (mon_url)
		silent = now - atomic_load(&ping_ok_ms);
	if (!*mon.stopping && ((mon.close_limit_ms && closing >= mon.close_limit_ms) ||
			       (mon.beat_limit_ms && idle >= mon.beat_limit_ms) ||
			       (mon_url && silent >= mon.ping_limit_ms)))
		exit_wedged(closing, idle, silent);
	sdnotify("WATCHDOG=1");
}

/* Copies o into mon with the defaults filled in; -EINVAL for options that cannot work. */
static int monitor_opts(const struct wd_monitor_opts *o)
{
	if (!o || o->sz < sizeof(*o) || !o->stopping)
		return -EINVAL;
	pthread_mutex_lock(&rpc_lock);
	mon = *o;
	pthread_mutex_unlock(&rpc_lock);
	if (!mon.ping_every_ms)
		mon.ping_every_ms = XDROP_WEDGE_PING_EVERY_MS;
	if (!mon.ping_timeout_ms)
		mon.ping_timeout_ms = XDROP_WEDGE_PING_TIMEOUT_MS;
	if (!mon.call_limit_ms)
		mon.call_limit_ms = XDROP_WEDGE_CALL_MS;
	if (mon.ping_limit_ms && mon.ping_limit_ms <= mon.ping_every_ms + mon.ping_timeout_ms)
		return -EINVAL;
	return 0;
}

int wd_monitor_start(const struct wd_monitor_opts *o)
{
	struct ticker_opts to = {.sz = sizeof(to), .name = "wd-monitor", .fn = monitor_tick};
	int err;

	if (mon_ticker)
		return -EALREADY;
	err = monitor_opts(o);
	if (err)
		return err;
	last_look_ms = clock_mono_ms();
	atomic_store(&ping_ok_ms, last_look_ms);
	if (o->ping_url && o->ping_limit_ms && !tls_url_is_tls(o->ping_url)) {
		struct ticker_opts po = {.sz = sizeof(po),
					 .name = "wd-ping",
					 .period_ms = mon.ping_every_ms,
					 .fn = ping_tick};

		mon_url = strdup(o->ping_url);
		if (!mon_url)
			return -ENOMEM;
		err = ticker_start(&ping_ticker, &po);
		if (err)
			goto fail;
	}
	to.period_ms = XDROP_WEDGE_TICK_MS;
	err = ticker_start(&mon_ticker, &to);
	if (err)
		goto fail;
	sdnotify("READY=1");
	return 0;
fail:
	ticker_stop(ping_ticker);
	ping_ticker = NULL;
	free(mon_url);
	mon_url = NULL;
	return err;
}
