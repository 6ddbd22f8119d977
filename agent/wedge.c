// SPDX-License-Identifier: MIT
/*
 * wedge: the agent's self-check; see wedge.h.
 *
 * The wedge monitor (lib/watchdog.h): an nng close pending WEDGE_CLOSE_MS, a
 * housekeeping loop idle WEDGE_LOOP_MS, or an RPC listener that has not answered the
 * agent's own Ping (asked every 5 s like any client would) for WEDGE_PING_MS means the
 * messaging library is stuck and the agent can no longer follow the controller or answer
 * RPC. It then starts afresh in place (same PID, same arguments): the new image adopts
 * the pinned program and maps like any restart, so filtering never stops.
 * A listener that stopped answering is not closed and opened again within the process:
 * nng 1.5.2's ipc listener stops accepting once a client disconnects before the SP
 * handshake (and has been seen to stop after SIGSTOP/SIGCONT), and closing such a
 * listener leaks what nng holds for it (about 4 kB, 25 kB with the agent's sockets, on
 * every reopen; LeakSanitizer reported it). A fresh image holds nothing of the old one.
 * The check covers plain listeners only: a TLS listener may demand a client certificate
 * the agent does not have.
 */
#include <string.h>

#include "log.h"
#include "watchdog.h"
#include "wedge.h"

#define WEDGE_CLOSE_MS 10000
#define WEDGE_LOOP_MS  30000
#define WEDGE_PING_MS  12000

int wedge_start(const struct agent_config *c, _Atomic int64_t *beat,
		volatile sig_atomic_t *stopping)
{
	struct wd_monitor_opts wo = {.sz = sizeof(wo),
				     .close_limit_ms = WEDGE_CLOSE_MS,
				     .beat = beat,
				     .beat_limit_ms = WEDGE_LOOP_MS,
				     .ping_url = c->rpc_listen,
				     .ping_limit_ms = WEDGE_PING_MS,
				     .stopping = stopping};
	int err = wd_monitor_start(&wo);

	if (err)
		log_error("wedge monitor: %s", strerror(-err));
	return err;
}
