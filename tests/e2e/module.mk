# SPDX-License-Identifier: MIT
# tests/e2e/: namespace-lab scenarios, one per file, each printing TAP. They drive the data
# plane through build/bin/xdrop-lab (tests/tools/) until the agent exists.
E2E_SUITES := tests/e2e/test_veth.sh

$(E2E_SUITES): $(BIN)/xdrop-lab
TEST_SUITES += $(E2E_SUITES)

# The whole system in a namespace lab (issue 8): REST -> controller -> agents -> packets,
# and the fault matrix. xdrop-waitrev times a REST write until every node applied it.
WAITREV_BIN := $(BIN)/xdrop-waitrev
$(OBJ)/tests/e2e/xdrop-waitrev.o: | $(PROTO_H)
$(WAITREV_BIN): $(OBJ)/tests/e2e/xdrop-waitrev.o $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)
ALL_TARGETS += $(WAITREV_BIN)
CHECK_SOURCES += tests/e2e/xdrop-waitrev.c
SYSTEM_SUITES := tests/e2e/test_system.sh tests/e2e/test_faults.sh tests/e2e/test_traffic.sh \
	tests/e2e/test_catchup.sh
$(SYSTEM_SUITES): $(BIN)/xdrop-controller $(BIN)/xdrop-gateway $(BIN)/xdrop-agent \
	$(BIN)/xdrop-call $(WAITREV_BIN)
TEST_SUITES += $(SYSTEM_SUITES)
# The clients of a controller cluster (issue 18): agent, gateway and xdropctl given three.
tests/e2e/test_cluster_clients.sh: $(BIN)/xdrop-controller $(BIN)/xdrop-gateway $(BIN)/xdrop-agent \
	$(BIN)/xdrop-call $(BIN)/xdropctl
TEST_SUITES += tests/e2e/test_cluster_clients.sh
# Backup, restore and SQLite <-> cluster conversion (xdrop-controller --backup/--restore).
tests/e2e/test_cluster_backup.sh: $(BIN)/xdrop-controller $(BIN)/xdrop-gateway $(BIN)/xdrop-agent \
	$(BIN)/xdrop-call $(BIN)/xdropctl
TEST_SUITES += tests/e2e/test_cluster_backup.sh
