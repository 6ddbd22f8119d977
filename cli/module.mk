# SPDX-License-Identifier: MIT
# cli/: xdropctl, the command line over RPC. It shares lib/json (the one JSON <-> proto
# conversion, lib/json.mk) with the gateway.
CTL_BIN := $(BIN)/xdropctl
$(OBJ)/cli/xdropctl.o: | $(PROTO_H)
$(CTL_BIN): $(OBJ)/cli/xdropctl.o $(JSON_A) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(JSON_LDLIBS) $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(CTL_BIN)
CHECK_SOURCES += cli/xdropctl.c

# xdropctl against real controllers (ipc://, and tls+tcp:// with client certificates);
# skipped when the controller is not built. Needs no root.
CLI_SUITES := tests/cli/test_cli.sh
$(CLI_SUITES): $(CTL_BIN)
TEST_SUITES += $(CLI_SUITES)
