# SPDX-License-Identifier: MIT
# cli/: xdropctl, the command line over RPC. It shares lib/json (the one JSON <-> proto
# conversion, lib/json.mk) with the gateway.
# xdropctl.c is main and the command table; ctl.h says which file holds what.
CTL_SRCS := cli/xdropctl.c cli/options.c cli/call.c cli/output.c cli/fields.c cli/csv.c \
	cli/transfer.c cli/feeds.c cli/cmd_rules.c cli/cmd_nodes.c cli/cmd_keys.c cli/cmd_stats.c
CTL_BIN := $(BIN)/xdropctl
$(CTL_SRCS:%.c=$(OBJ)/%.o): | $(PROTO_H)
$(CTL_BIN): $(CTL_SRCS:%.c=$(OBJ)/%.o) $(JSON_A) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(JSON_LDLIBS) $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(CTL_BIN)
CHECK_SOURCES += $(CTL_SRCS) cli/ctl.h

# xdropctl against real controllers (ipc://, and tls+tcp:// with client certificates);
# skipped when the controller is not built. Needs no root.
CLI_SUITES := tests/cli/test_cli.sh tests/cli/test_feeds.sh
$(CLI_SUITES): $(CTL_BIN)
TEST_SUITES += $(CLI_SUITES)

# tests/tools/xdrop-fake-agent: beacons and AgentService.TopTalkers with known figures, so
# that test_cli.sh checks what xdropctl prints of them through a real controller.
FAKE_AGENT_SRCS := tests/tools/xdrop-fake-agent.c
FAKE_AGENT_BIN  := $(BIN)/xdrop-fake-agent
$(FAKE_AGENT_SRCS:%.c=$(OBJ)/%.o): | $(PROTO_H)
$(FAKE_AGENT_BIN): $(FAKE_AGENT_SRCS:%.c=$(OBJ)/%.o) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(FAKE_AGENT_BIN)
CHECK_SOURCES += $(FAKE_AGENT_SRCS)
$(CLI_SUITES): $(FAKE_AGENT_BIN)
