# SPDX-License-Identifier: MIT
# tests/agent/: the agent's suites (namespace labs with real XDP) and their RPC test client.
CALL_BIN := $(BIN)/xdrop-call
$(OBJ)/tests/agent/xdrop-call.o: | $(PROTO_H)
$(CALL_BIN): $(OBJ)/tests/agent/xdrop-call.o $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(CALL_BIN)
CHECK_SOURCES += tests/agent/xdrop-call.c

# The agent's namespace lab (issue 4, item 6): the sanitized daemon driven over node RPC.
AGENT_SUITES := tests/agent/test_agent.sh
$(AGENT_SUITES): $(AGENT_SAN_BIN) $(CALL_BIN)
TEST_SUITES += $(AGENT_SUITES)
