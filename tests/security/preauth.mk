# SPDX-License-Identifier: MIT
# tests/security/test_preauth.sh (issue 11, items 1, 3 first bullet, 7 RPC names, 8): the
# hostile and patient RPC clients (build/bin/preauth_tool) and the unit suite of the RPC
# server's pre-authentication limits (build/tests/test_rpc_preauth, cmocka over inproc://).
PREAUTH_TOOL := $(BIN)/preauth_tool
$(OBJ)/tests/security/preauth_tool.o: | $(PROTO_H)
$(PREAUTH_TOOL): $(OBJ)/tests/security/preauth_tool.o $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)

PREAUTH_UNIT := $(TBIN)/test_rpc_preauth
$(SANOBJ)/tests/security/test_rpc_preauth.o: | $(PROTO_H)
$(PREAUTH_UNIT): $(SANOBJ)/tests/security/test_rpc_preauth.o $(RPC_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_TEST_LDLIBS)

tests/security/test_preauth.sh: $(PREAUTH_TOOL) $(PREAUTH_UNIT)
ALL_TARGETS += $(PREAUTH_TOOL) $(PREAUTH_UNIT)
TEST_SUITES += $(PREAUTH_UNIT)
CHECK_SOURCES += tests/security/preauth_tool.c tests/security/test_rpc_preauth.c
