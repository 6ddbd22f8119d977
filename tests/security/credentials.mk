# SPDX-License-Identifier: MIT
# tests/security/credentials.mk: what tests/security/test_credentials.sh runs beside the
# daemons (xdrop-call as an RPC client with any token).
tests/security/test_credentials.sh: $(BIN)/xdrop-call
