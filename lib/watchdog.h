/* SPDX-License-Identifier: MIT */
/*
 * watchdog: guards a daemon against a wedged messaging library.
 *
 * nng 1.5 (Debian 12's) has been seen to hang for ever in nng_close() after the process
 * was stopped and continued (SIGSTOP/SIGCONT, a paused VM): its pipe reaper waits for an
 * aio task that never runs, and from then on every close waits behind it. Every socket of
 * the RPC and pub/sub layers is closed through wd_close(), which publishes when the close
 * began; a daemon's monitor asks wd_stuck_ms() and restarts itself in place
 * (wd_reexec()) when a close has not returned for many seconds. wd_exit_after() bounds
 * the time a daemon may take to stop, so that SIGTERM always ends it.
 */
#ifndef XDROP_WATCHDOG_H
#define XDROP_WATCHDOG_H

#include <nng/nng.h>
#include <signal.h>
#include <stdint.h>

/* Seconds a daemon may take to stop after SIGTERM before wd_exit_after() ends it. */
#define XDROP_STOP_LIMIT_S 10

/* CLOCK_MONOTONIC in milliseconds. */
int64_t wd_now_ms(void);

/* nng_close(sock), watched. */
void wd_close(nng_socket sock);

/* How long the oldest wd_close() still in progress has been running (0: none). */
int64_t wd_stuck_ms(void);

/* From now on, if the process is still running secs seconds later, it logs why and ends
 * with _exit(code). Returns 0 or -errno (the thread could not be started). */
int wd_exit_after(unsigned secs, int code);

/*
 * The wedge monitor of a daemon: a thread that checks every second and restarts the
 * process in place (wd_reexec) when
 *   - a wd_close() has been pending for close_limit_ms, or
 *   - *beat (the daemon's own loop, CLOCK_MONOTONIC ms) is older than beat_limit_ms, or
 *   - its own RPC listener at ping_url has not answered HealthService.Ping (asked every
 *     ping_every_ms, default 5 s, by a second thread, like any client would) for
 *     ping_limit_ms (which must be longer than ping_every_ms).
 * Nothing happens once *stopping is set. A zero limit (or NULL beat/ping_url, or a TLS
 * ping_url, whose listener may demand a client certificate) turns that check off.
 * Needs wd_save_argv(). Returns 0 or -errno.
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
};
int wd_monitor_start(const struct wd_monitor_opts *o);

/* Calls HealthService.Ping at url like any client would (a fresh socket, closed after).
 * Returns 0 on an answer, else -errno. */
struct tls_opts;
int wd_ping(const char *url, const struct tls_opts *tls, unsigned timeout_ms);

/* Keeps argv for wd_reexec(); call at the start of main(). */
void wd_save_argv(char **argv);

/* Replaces the process image with a fresh start of the same program and arguments (the
 * PID stays); every descriptor above stderr is closed on exec. Returns only on failure,
 * with -errno. */
int wd_reexec(void);

#endif
