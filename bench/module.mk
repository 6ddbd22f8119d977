# SPDX-License-Identifier: MIT
# bench/: benchmarks run by make bench, never by make test. Built without sanitizers: they
# measure. Data plane: bench/run.sh (bench_dp, bench_lab). Control plane: bench/control.sh
# (bench_cp: REST write -> enforced timings with their breakdown, full-sync convergence,
# the kernel and disk primitives a node pays per delta). The agent: bench/agent.sh (a
# standalone agent's memory, idle CPU and restart time with 1M rules imported by xdropctl).
BENCH_BINS := $(BIN)/bench_dp $(BIN)/bench_lab $(BIN)/bench_cp
BENCH_OBJS := $(OBJ)/bench/bench_dp.o $(OBJ)/bench/bench_cmp.o $(OBJ)/bench/bench_lab.o
$(BENCH_OBJS): XCFLAGS += -Itests/lib -Iagent -Ibench
$(BENCH_OBJS): $(BPF_SKEL)

$(BIN)/bench_dp: $(OBJ)/bench/bench_dp.o $(OBJ)/bench/bench_cmp.o $(OBJ)/tests/lib/pkt.o $(DP_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_BPF)

$(BIN)/bench_lab: $(OBJ)/bench/bench_lab.o $(OBJ)/tests/lib/pkt.o $(DP_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_BPF)

$(OBJ)/bench/bench_cp.o: | $(PROTO_H)
$(BIN)/bench_cp: $(OBJ)/bench/bench_cp.o $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)

BENCH_TARGETS += $(BENCH_BINS)
CHECK_SOURCES += bench/bench_dp.c bench/bench_cmp.c bench/bench_cmp.h bench/bench_lab.c bench/benchset.h bench/bench_cp.c

# sim_nodes: a simulated fleet (real pubsub, beacons and snapshot RPC; no data plane)
# against one controller, for bench/fleet.sh.
$(OBJ)/bench/sim_nodes.o: | $(PROTO_H)
$(BIN)/sim_nodes: $(OBJ)/bench/sim_nodes.o $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)
BENCH_TARGETS += $(BIN)/sim_nodes
CHECK_SOURCES += bench/sim_nodes.c
