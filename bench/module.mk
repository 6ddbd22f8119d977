# SPDX-License-Identifier: MIT
# bench/: data-plane benchmarks run by make bench (bench/run.sh), never by make test.
# Built without sanitizers: they measure.
BENCH_BINS := $(BIN)/bench_dp $(BIN)/bench_lab
BENCH_OBJS := $(OBJ)/bench/bench_dp.o $(OBJ)/bench/bench_lab.o
$(BENCH_OBJS): XCFLAGS += -Itests/lib -Iagent -Ibench
$(BENCH_OBJS): $(BPF_SKEL)

$(BIN)/bench_dp: $(OBJ)/bench/bench_dp.o $(OBJ)/tests/lib/pkt.o $(DP_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_BPF)

$(BIN)/bench_lab: $(OBJ)/bench/bench_lab.o $(OBJ)/tests/lib/pkt.o $(DP_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_BPF)

BENCH_TARGETS += $(BENCH_BINS)
CHECK_SOURCES += bench/bench_dp.c bench/bench_lab.c bench/benchset.h
