// SPDX-License-Identifier: MIT
/*
 * wedge: the agent's self-check; see wedge.h.
 *
 * The wedge monitor (lib/watchdog.h): an nng close pending XDROP_WEDGE_CLOSE_MS, a
 * housekeeping loop idle XDROP_WEDGE_LOOP_MS, or an RPC listener that has not answered
 * the agent's own Ping (asked like any client would) for XDROP_WEDGE_PING_AGENT_MS while
 * it was not busy with calls means the messaging library is stuck and the agent can no
 * longer follow the controller or answer RPC. It then exits with XDROP_EXIT_WEDGED and
 * its service manager (systemd, or scripts/supervise.sh in the labs and the demo) starts
 * the installed binary again, which adopts the pinned program and maps like any restart,
 * so filtering never stops. The timeline of every recovery timer is lib/recovery.h.
 * A listener that stopped answering is not closed and opened again within the process:
 * nng 1.5.2's ipc listener stops accepting once a client disconnects before the SP
 * handshake (and has been seen to stop after SIGSTOP/SIGCONT), and closing such a
 * listener leaks what nng holds for it (about 4 kB, 25 kB with the agent's sockets, on
 * every reopen; LeakSanitizer reported it). A fresh process holds nothing of the old one.
 * The check covers plain listeners only: a TLS listener may demand a client certificate
 * the agent does not have.
 */
#include <string.h>

#include "log.h"
#include "watchdog.h"
#include "wedge.h"

int wedge_start(const struct agent_config *c, const struct rpc_server *srv, _Atomic int64_t *beat,
		volatile sig_atomic_t *stopping)
{
	struct wd_monitor_opts wo = {.sz = sizeof(wo),
				     .close_limit_ms = XDROP_WEDGE_CLOSE_MS,
				     .beat = beat,
				     .beat_limit_ms = XDROP_WEDGE_LOOP_MS,
				     .ping_url = c->rpc_listen,
				     .ping_limit_ms = XDROP_WEDGE_PING_AGENT_MS,
				     .stopping = stopping,
				     .rpc = srv};
	int err = wd_monitor_start(&wo);

	if (err)
		log_error("wedge monitor: %s", strerror(-err));
	return err;
}
