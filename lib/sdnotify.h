/* SPDX-License-Identifier: MIT */
/*
 * sdnotify: the service manager's notification protocol (sd_notify(3)), the few lines
 * XDrop needs without linking libsystemd.
 *
 * systemd passes a unit of Type=notify (or with NotifyAccess=) the path of a datagram
 * socket in $NOTIFY_SOCKET (a leading '@' means the abstract namespace); the service
 * sends newline-separated assignments to it: READY=1 once it serves, STOPPING=1 when it
 * begins to stop, WATCHDOG=1 as a keepalive when the unit sets WatchdogSec=, STATUS=...
 * for `systemctl status`. Without $NOTIFY_SOCKET (no systemd, a lab, a test) nothing is
 * sent. The wedge monitor (lib/watchdog.h) is the only caller in the daemons.
 */
#ifndef XDROP_SDNOTIFY_H
#define XDROP_SDNOTIFY_H

#define XDROP_NOTIFY_SOCKET_ENV "NOTIFY_SOCKET"

/*
 * Sends state (e.g. "READY=1", "WATCHDOG=1\nSTATUS=serving") as one datagram to
 * $NOTIFY_SOCKET. Returns 1 when sent, 0 when the variable is unset or empty (no service
 * manager listens), -EINVAL for a path that is not absolute nor abstract or too long,
 * else -errno of socket(2)/sendto(2). Never blocks; thread-safe; async-signal-safe except
 * for getenv().
 */
int sdnotify(const char *state);

#endif
