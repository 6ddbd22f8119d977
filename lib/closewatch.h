/* SPDX-License-Identifier: MIT */
/*
 * closewatch: nng_close() that says how long it has been running.
 *
 * nng 1.5 (Debian 12's) has been seen to hang for ever in nng_close() after the process
 * was stopped and continued (SIGSTOP/SIGCONT, a paused VM): its pipe reaper waits for an
 * aio task that never runs, and from then on every close waits behind it. The RPC and
 * pub/sub layers close every socket through closewatch_close(), which publishes when the
 * close began; the wedge monitor (lib/watchdog.h) reads closewatch_pending_ms() and ends
 * the daemon when a close has not returned for XDROP_WEDGE_CLOSE_MS. This module knows
 * nothing of the monitor: the arrow runs from the watchdog down to it.
 *
 * Fault hook for tests: when XDROP_FAULT_WEDGE_CLOSE names a file that exists, the first
 * watched close of the process removes the file and hangs for an hour before closing,
 * as the nng bug does. Removing the file makes the hook fire once across restarts: the
 * process its service manager starts again runs clean.
 */
#ifndef XDROP_CLOSEWATCH_H
#define XDROP_CLOSEWATCH_H

#include <stdint.h>

#include <nng/nng.h>

#define XDROP_FAULT_WEDGE_CLOSE_ENV "XDROP_FAULT_WEDGE_CLOSE"

/* nng_close(sock), watched: at most 16 closes at once are watched, more run unwatched.
 * Thread-safe. */
void closewatch_close(nng_socket sock);

/* How long the oldest closewatch_close() still in progress has been running, in ms of the
 * monotonic clock (0: none). Thread-safe. */
int64_t closewatch_pending_ms(void);

#endif
