/* SPDX-License-Identifier: MIT */
/*
 * recovery: the recovery timeline, every timer by which an XDrop daemon gets over a fault
 * in its messaging (nng) or in itself, in one place and in the order in which they act.
 * docs/architecture.md ("Recovery") draws the same timeline; the systemd units in
 * scripts/systemd/ and the lab supervisor scripts/supervise.sh repeat the values that
 * cannot include a header, and tests/unit/test_watchdog.c checks that they agree.
 *
 * The rule is that the cheapest layer that can repair a fault acts first and every layer
 * above it waits for longer than the one below needs:
 *   1. a dialing subscriber that hears nothing redials (XDROP_PUBSUB_SILENCE_MS);
 *   2. the daemon's wedge monitor (lib/watchdog.h) ends the process with
 *      XDROP_EXIT_WEDGED when a close hangs, its own loop stops, or its own RPC listener
 *      stops answering while not busy (XDROP_WEDGE_*);
 *   3. the service manager (systemd, or scripts/supervise.sh in labs and the demo) starts
 *      it again after XDROP_RESTART_DELAY_S, and kills one whose monitor itself stopped
 *      (WatchdogSec=, XDROP_SYSTEMD_WATCHDOG_S);
 *   4. on stop, a daemon ends XDROP_STOP_LIMIT_S after SIGTERM even if a close hangs,
 *      before the service manager's own SIGKILL (XDROP_STOP_TIMEOUT_S).
 * This header includes nothing: every layer may use it without an arrow back up.
 */
#ifndef XDROP_RECOVERY_H
#define XDROP_RECOVERY_H

/* Exit status of a daemon whose wedge monitor found it stuck (EX_TEMPFAIL of
 * sysexits.h): "restart me". The units restart on it (Restart=on-failure/always) and
 * systemd counts it in NRestarts; scripts/supervise.sh restarts on it and nothing else. */
#define XDROP_EXIT_WEDGED 75

/* ---- 1. transport: the subscriber redials --------------------------------------------- */
/* A dialing subscriber that has heard nothing (not even a heartbeat, sent every second
 * by default) for this long opens a fresh socket and dials again. */
#define XDROP_PUBSUB_SILENCE_MS 5000
/* A subscriber waiting for a snapshot asks again after this long without one. */
#define XDROP_PUBSUB_RESYNC_RETRY_MS 3000

/* ---- 2. the wedge monitor (lib/watchdog.h) -------------------------------------------- */
#define XDROP_WEDGE_TICK_MS	    1000 /* the monitor looks every second */
#define XDROP_WEDGE_PAUSE_MS	    3000 /* a longer gap between looks: the process was stopped */
#define XDROP_WEDGE_PING_EVERY_MS   5000 /* own Ping asked every ... */
#define XDROP_WEDGE_PING_TIMEOUT_MS 3000 /* ... and given this long to answer */
/* An nng close pending this long: nng's reaper is stuck and every later close waits. */
#define XDROP_WEDGE_CLOSE_MS 10000
/* The agent's own RPC listener unanswered (and not busy) this long. An agent restart is
 * cheap: it adopts its pinned program and maps, filtering never stops. */
#define XDROP_WEDGE_PING_AGENT_MS 12000
/* The controller's: longer, since its restart costs more (every node takes a snapshot). */
#define XDROP_WEDGE_PING_CONTROLLER_MS 20000
/* The agent's housekeeping loop (expiry, interface watch) idle this long. */
#define XDROP_WEDGE_LOOP_MS 30000
/* A listener whose workers are all in calls is busy, not wedged, unless a call has run
 * this long: far beyond any legitimate call (a 10,000-rule batch takes seconds). */
#define XDROP_WEDGE_CALL_MS 300000

/* ---- 3. the service manager -------------------------------------------------------- */
#define XDROP_RESTART_DELAY_S	 1  /* RestartSec= in the units, the supervisor's pause */
#define XDROP_SYSTEMD_WATCHDOG_S 30 /* WatchdogSec=: the monitor's keepalive stopped */

/* ---- 4. stopping ------------------------------------------------------------------- */
/* Seconds a daemon may take to stop after SIGTERM before wd_exit_after() ends it. */
#define XDROP_STOP_LIMIT_S 10
/* TimeoutStopSec= in the units: systemd's SIGKILL comes after the daemon's own limit. */
#define XDROP_STOP_TIMEOUT_S 20

/* The order above, checked. */
_Static_assert(XDROP_WEDGE_PING_TIMEOUT_MS < XDROP_WEDGE_PING_EVERY_MS, "one own ping at a time");
_Static_assert(2 * XDROP_WEDGE_PING_EVERY_MS <= XDROP_WEDGE_PING_AGENT_MS &&
		   XDROP_WEDGE_PING_AGENT_MS <= XDROP_WEDGE_PING_CONTROLLER_MS,
	       "a listener is declared wedged only after two own pings failed");
_Static_assert(XDROP_WEDGE_PING_EVERY_MS + XDROP_WEDGE_PING_TIMEOUT_MS < XDROP_WEDGE_PING_AGENT_MS,
	       "wd_monitor_start's own rule: an attempt ends before the limit");
_Static_assert(XDROP_WEDGE_TICK_MS < XDROP_WEDGE_PAUSE_MS, "a pause is longer than a tick");
_Static_assert(XDROP_PUBSUB_SILENCE_MS < XDROP_WEDGE_CLOSE_MS &&
		   XDROP_PUBSUB_SILENCE_MS < XDROP_WEDGE_PING_AGENT_MS,
	       "a lost connection is redialed before the monitor gives up on the process");
_Static_assert(XDROP_WEDGE_CLOSE_MS <= XDROP_WEDGE_PING_AGENT_MS &&
		   XDROP_WEDGE_PING_CONTROLLER_MS <= XDROP_WEDGE_LOOP_MS &&
		   XDROP_WEDGE_LOOP_MS < XDROP_WEDGE_CALL_MS,
	       "the wedge limits, shortest first");
_Static_assert(XDROP_SYSTEMD_WATCHDOG_S * 1000 >= 10 * XDROP_WEDGE_TICK_MS,
	       "systemd acts only after ten missed keepalives");
_Static_assert(XDROP_STOP_LIMIT_S < XDROP_STOP_TIMEOUT_S,
	       "the daemon's own stop limit comes before systemd's SIGKILL");

#endif
