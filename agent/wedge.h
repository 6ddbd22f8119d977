/* SPDX-License-Identifier: MIT */
/*
 * wedge: the agent's self-check, the wedge monitor of lib/watchdog.h with the agent's
 * limits: a pending nng close, an idle housekeeping loop, or an RPC listener that does
 * not answer the agent's own Ping while it is not busy; the reaction is an exit with
 * XDROP_EXIT_WEDGED for the service manager to restart the agent.
 */
#ifndef XDROP_WEDGE_H
#define XDROP_WEDGE_H

#include <signal.h>
#include <stdint.h>

#include "agent_config.h"

struct rpc_server;

/* Starts the monitor for the agent configured by c: srv is its RPC server (whose load
 * tells busy from wedged; borrowed until wd_exit_after(), called before the server is
 * closed), beat the housekeeping loop's last round (clock_mono_ms), stopping the daemon's
 * stop flag (both borrowed for the process's life). Returns 0 or a negative errno
 * (logged). */
int wedge_start(const struct agent_config *c, const struct rpc_server *srv, _Atomic int64_t *beat,
		volatile sig_atomic_t *stopping);

#endif
