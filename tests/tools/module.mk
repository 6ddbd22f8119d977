# SPDX-License-Identifier: MIT
# tests/tools/: command-line helpers for the namespace lab tests and the demo.
# xdrop-lab drives the data-plane library (attach, fast-forward, rules, counters) on a pin
# directory; built without sanitizers so it runs anywhere the lab scripts run it.
LAB_SRCS := tests/tools/xdrop-lab.c
LAB_BIN  := $(BIN)/xdrop-lab

$(LAB_SRCS:%.c=$(OBJ)/%.o): XCFLAGS += -Iagent
$(LAB_SRCS:%.c=$(OBJ)/%.o): $(BPF_SKEL)
$(LAB_BIN): $(LAB_SRCS:%.c=$(OBJ)/%.o) $(DP_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_BPF)

ALL_TARGETS += $(LAB_BIN)
CHECK_SOURCES += $(LAB_SRCS)

# xdrop-dqlite-node runs one libdqlite node (id, address, data dir, join list) for the
# dqlite client's cluster tests (lib/dqlite/module.mk), with TLS (lib/dqtls) on request;
# built without sanitizers.
DQNODE_SRCS := tests/tools/xdrop-dqlite-node.c
$(BIN)/xdrop-dqlite-node: $(DQNODE_SRCS:%.c=$(OBJ)/%.o) $(DQ_A) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ -ldqlite $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(BIN)/xdrop-dqlite-node
CHECK_SOURCES += $(DQNODE_SRCS)

# xdrop-dqlite-transfer hands a dqlite cluster's leadership to one node (the controller
# cluster fault suite reads a restarted follower's own copy that way).
DQXFER_SRCS := tests/tools/xdrop-dqlite-transfer.c
$(BIN)/xdrop-dqlite-transfer: $(DQXFER_SRCS:%.c=$(OBJ)/%.o) $(DQ_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ -lpthread

ALL_TARGETS += $(BIN)/xdrop-dqlite-transfer
CHECK_SOURCES += $(DQXFER_SRCS)
