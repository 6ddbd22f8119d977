# SPDX-License-Identifier: MIT
# tests/security/test_lockout.sh also drives the data-plane tool (a pinned counter map of an
# older layout carried over) and the RPC test client.
tests/security/test_lockout.sh: $(BIN)/xdrop-lab $(BIN)/xdrop-call
