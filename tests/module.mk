# SPDX-License-Identifier: MIT
# tests/: suites run by make test (all print TAP). C suites are built with ASan+UBSan.
TESTLIB_SRCS := tests/lib/pkt.c tests/lib/testdp.c tests/lib/refmatch.c
TEST_CFLAGS  := -Itests/lib -Iagent
TESTLIB_SAN_OBJS := $(TESTLIB_SRCS:%.c=$(SANOBJ)/%.o)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(OBJ)/%.o)
$(TESTLIB_SAN_OBJS) $(TESTLIB_OBJS): XCFLAGS += $(TEST_CFLAGS)
$(TESTLIB_SAN_OBJS) $(TESTLIB_OBJS): $(BPF_SKEL)

# C test suites: tests/<dir>/test_<name>.c -> build/tests/test_<name>
DP_TESTS := test_verdicts test_differential test_atomicity test_ring test_cfg_migrate test_ratelimit \
	test_dataplane test_counters test_prefix_lookup
$(foreach t,$(DP_TESTS),$(eval $(TBIN)/$(t): $(SANOBJ)/tests/bpf/$(t).o $(TESTLIB_SAN_OBJS) $(DP_SAN_A) $(LIB_SAN_A)))
$(DP_TESTS:%=$(SANOBJ)/tests/bpf/%.o): XCFLAGS += $(TEST_CFLAGS)
$(DP_TESTS:%=$(SANOBJ)/tests/bpf/%.o): $(BPF_SKEL)
$(DP_TESTS:%=$(TBIN)/%):
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_BPF) -lcmocka -lpthread

TEST_SUITES += $(DP_TESTS:%=$(TBIN)/%)
CHECK_SOURCES += $(TESTLIB_SRCS) $(TESTLIB_SRCS:.c=.h) $(DP_TESTS:%=tests/bpf/%.c) tests/lib/tmpdir.h \
	tests/lib/capture.h

# scripts/structure-check (run by make check) on made-up trees: each rule caught, clean passes.
TEST_SUITES += tests/scripts/test_structure_check.sh

# Top talkers measured in the kernel, below the agent: the real program's samples through
# the engine (agent/talkers.c) on a known mix.
$(SANOBJ)/tests/bpf/test_talkers_dp.o: XCFLAGS += $(TEST_CFLAGS)
$(SANOBJ)/tests/bpf/test_talkers_dp.o: $(BPF_SKEL) | $(PROTO_H)
$(TBIN)/test_talkers_dp: $(SANOBJ)/tests/bpf/test_talkers_dp.o $(SANOBJ)/agent/talkers.o $(SANOBJ)/lib/talkreq.o \
		$(TESTLIB_SAN_OBJS) $(DP_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_BPF) -lcmocka -lpthread -lm

ALL_TARGETS += $(TBIN)/test_talkers_dp
TEST_SUITES += $(TBIN)/test_talkers_dp
CHECK_SOURCES += tests/bpf/test_talkers_dp.c

# scripts/demo.sh bounded (DEMO_SECONDS) under its own name and port: the xdropctl export
# lines, a clean end on DEMO_SECONDS, SIGTERM and Ctrl-C, a dead daemon named and the demo
# stopped, nothing left behind.
TEST_SUITES += tests/scripts/test_demo.sh

# scripts/controller.sh and node.sh (scripts/xdrop.sh) with a real controller and an agent
# in a namespace: start, status (filtering), double start refused, stop, stale pid files.
TEST_SUITES += tests/scripts/test_xdrop_sh.sh

# docs/operations.md: every "```sh runnable" block runs as written in a lab (controller and
# gateway, private /var/lib and /var/backups); the backup is private, the restore restores.
TEST_SUITES += tests/scripts/test_docs_runnable.sh

# make demo-ha (scripts/demo.sh ha): three controllers in namespaces, the status line's
# leader, ha-kill-leader leading to a new leader while writes go on, ha-heal, nothing left.
TEST_SUITES += tests/scripts/test_demo_ha.sh
