#!/bin/bash
# SPDX-License-Identifier: MIT
# node.sh start|stop|restart|status [--config FILE] [--pid-file F] [--log-file F]:
# xdrop-agent without systemd; see scripts/xdrop.sh.
exec "$(dirname "$0")/xdrop.sh" "${1:-}" agent "${@:2}"
