# SPDX-License-Identifier: MIT
# tests/compat/: XDrop 2.7's documented REST examples (cases.json, written from its
# controller/API.md and node/API.md) replayed against the gateway in controller mode and
# in node mode (issue 14; tests/compat/README.md). XDROP_COMPAT_PENDING=1 adds
# cases-pending.json, the examples other branches are implementing.
COMPAT_SUITES := tests/compat/test_compat_controller.sh tests/compat/test_compat_node.sh
tests/compat/test_compat_controller.sh: $(BIN)/xdrop-controller $(BIN)/xdrop-gateway \
	$(BIN)/xdrop-agent $(BIN)/xdrop-call
tests/compat/test_compat_node.sh: $(GW_SAN_BIN) $(BIN)/xdrop-agent
TEST_SUITES += $(COMPAT_SUITES)
