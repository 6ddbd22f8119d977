#!/bin/bash
# SPDX-License-Identifier: MIT
# controller.sh start|stop|restart|status [--config FILE] [--pid-file F] [--log-file F]:
# xdrop-controller without systemd; see scripts/xdrop.sh.
exec "$(dirname "$0")/xdrop.sh" "${1:-}" controller "${@:2}"
