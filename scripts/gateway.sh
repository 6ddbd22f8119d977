#!/bin/bash
# SPDX-License-Identifier: MIT
# gateway.sh start|stop|restart|status [--config FILE] [--pid-file F] [--log-file F]:
# xdrop-gateway without systemd; see scripts/xdrop.sh.
exec "$(dirname "$0")/xdrop.sh" "${1:-}" gateway "${@:2}"
