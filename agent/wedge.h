/* SPDX-License-Identifier: MIT */
/*
 * wedge: the agent's self-check, the wedge monitor of lib/watchdog.h with the agent's
 * limits: a pending nng close, an idle housekeeping loop, or an RPC listener that does
 * not answer the agent's own Ping.
 */
#ifndef XDROP_WEDGE_H
#define XDROP_WEDGE_H

#include <signal.h>
#include <stdint.h>

#include "agent_config.h"

/* Starts the monitor for the agent configured by c: beat is the housekeeping loop's last
 * round (wd_now_ms), stopping the daemon's stop flag (both borrowed for the process's
 * life). Returns 0 or a negative errno (logged). */
int wedge_start(const struct agent_config *c, _Atomic int64_t *beat,
		volatile sig_atomic_t *stopping);

#endif
