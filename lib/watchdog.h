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

/* Keeps argv for wd_reexec(); call at the start of main(). */
void wd_save_argv(char **argv);

/* Replaces the process image with a fresh start of the same program and arguments (the
 * PID stays); every descriptor above stderr is closed on exec. Returns only on failure,
 * with -errno. */
int wd_reexec(void);

#endif
