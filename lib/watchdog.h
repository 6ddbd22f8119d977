/* SPDX-License-Identifier: MIT */
/*
 * watchdog: a daemon's wedge monitor, its bounded stop, and its link to the service
 * manager.
 *
 * nng 1.5 (Debian 12's) has been seen to hang for ever in nng_close() after the process
 * was stopped and continued (its pipe reaper waits for an aio task that never runs), and
 * its ipc:// listener stops serving once a client disconnects before the SP handshake.
 * Neither can be repaired from inside the process: closing a wedged listener and opening
 * it again leaks what nng holds for it, and every later close waits behind the stuck one.
 * The wedge monitor (wd_monitor_start) detects such a state and ends the process with
 * XDROP_EXIT_WEDGED (75); the service manager starts it again (systemd: Restart= in
 * scripts/systemd/, counted in NRestarts; labs and the demo: scripts/supervise.sh). The
 * running binary is never replaced by another one: after a package upgrade the new
 * version starts only when the operator or the service manager starts it.
 *
 * The monitor also speaks the service manager's notification protocol (lib/sdnotify.h):
 * READY=1 when it starts (the daemon serves), WATCHDOG=1 at every look while the process
 * is not wedged (the units' WatchdogSec= kills a process whose monitor stopped looking),
 * STOPPING=1 from wd_exit_after(). Every timer is in lib/recovery.h, the one timeline.
 *
 * Arrows: the watchdog reads the RPC server's load (rpc_server_load) and the watched
 * closes (lib/closewatch.h); neither of them knows the watchdog.
 */
#ifndef XDROP_WATCHDOG_H
#define XDROP_WATCHDOG_H

#include <signal.h>
#include <stdint.h>

#include "recovery.h" /* XDROP_EXIT_WEDGED, XDROP_STOP_LIMIT_S, XDROP_WEDGE_* */

struct rpc_server;
struct tls_opts;

/* From now on, if the process is still running secs seconds later, it logs why and ends
 * with _exit(code). Tells the service manager STOPPING=1, and makes the monitor let go
 * of its rpc server (call it before closing the server). Returns 0 or -errno (the
 * thread could not be started). */
int wd_exit_after(unsigned secs, int code);

/*
 * The wedge monitor of a daemon: a thread that looks every XDROP_WEDGE_TICK_MS and ends
 * the process with _exit(XDROP_EXIT_WEDGED), after logging "messaging stuck (...)", when
 *   - a closewatch_close() has been pending for close_limit_ms, or
 *   - *beat (the daemon's own loop, clock_mono_ms) is older than beat_limit_ms, or
 *   - its own RPC listener at ping_url has not answered HealthService.Ping (asked every
 *     ping_every_ms by a second thread, like any client would, given ping_timeout_ms)
 *     for ping_limit_ms, which must exceed ping_every_ms + ping_timeout_ms.
 *     A ping that fails while every worker of rpc (the server listening at ping_url) was
 *     in a call is not held against the listener: it is busy, not wedged, unless a call
 *     has been running for call_limit_ms.
 * Nothing is checked while *stopping is set; a gap between two looks longer than
 * XDROP_WEDGE_PAUSE_MS (the process was stopped) starts every clock afresh. A zero limit
 * (or NULL beat/ping_url, or a TLS ping_url, whose listener may demand a client
 * certificate) turns that check off; zero ping_every_ms, ping_timeout_ms, call_limit_ms
 * take the XDROP_WEDGE_* defaults; NULL rpc: every failed ping counts.
 * Sends READY=1 once running. One monitor per process. Returns 0, -EINVAL (bad options),
 * -EALREADY (a second call) or -errno.
 */
struct wd_monitor_opts {
	size_t sz; /* sizeof(struct wd_monitor_opts) */
	unsigned close_limit_ms;
	_Atomic int64_t *beat;
	unsigned beat_limit_ms;
	const char *ping_url;
	unsigned ping_every_ms;
	unsigned ping_limit_ms;
	volatile sig_atomic_t *stopping;
	const struct rpc_server *rpc; /* borrowed until wd_exit_after(), which the daemon
					 calls before it closes the server */
	unsigned ping_timeout_ms;
	unsigned call_limit_ms;
};
int wd_monitor_start(const struct wd_monitor_opts *o);

/* Calls HealthService.Ping at url like any client would (a fresh socket, closed after).
 * Returns 0 on an answer, else -errno. */
int wd_ping(const char *url, const struct tls_opts *tls, unsigned timeout_ms);

#endif
