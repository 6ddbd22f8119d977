# SPDX-License-Identifier: MIT
# agent/: the node agent. Its data-plane library: dataplane.h (the API) implemented by
# dataplane/ (one file per responsibility, dataplane/dp_priv.h between them) and attach.c.
DP_SRCS  := $(addprefix agent/dataplane/dp_,txn.c replace.c entries.c prefix.c plens.c presence.c \
	slots.c gen.c mapio.c adopt.c open.c counters.c query.c ports.c migrate.c bloom6.c) agent/attach.c
DP_A     := $(BUILD)/libxdrop-dp.a
DP_SAN_A := $(BUILD)/libxdrop-dp-san.a
DP_LIBS  := $(DP_A) $(LIB_A) $(LDLIBS_BPF)
DP_SAN_LIBS := $(DP_SAN_A) $(LIB_SAN_A) $(LDLIBS_BPF)

$(DP_SRCS:%.c=$(OBJ)/%.o) $(DP_SRCS:%.c=$(SANOBJ)/%.o): $(BPF_SKEL)
$(DP_SRCS:%.c=$(OBJ)/%.o) $(DP_SRCS:%.c=$(SANOBJ)/%.o): XCFLAGS += -Iagent
# rm first: ar r keeps members no longer listed (the monolithic dataplane.o of older trees)
$(DP_A): $(DP_SRCS:%.c=$(OBJ)/%.o)
	rm -f $@ && ar rcs $@ $^
$(DP_SAN_A): $(DP_SRCS:%.c=$(SANOBJ)/%.o)
	rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(DP_A) $(DP_SAN_A)
CHECK_SOURCES += $(DP_SRCS) agent/dataplane.h agent/dataplane/dp_priv.h agent/attach.h

# The daemon. The rule set (agent/ruleset/) and its field access are also linked by the
# rule-set unit test, without main.c.
RULESET_SRCS := agent/ruleset/kind.c agent/ruleset/model.c agent/ruleset/change.c agent/ruleset/group.c agent/ruleset/expiry.c \
	agent/ruleset/delta.c agent/ruleset/journal.c agent/ruleset/stage.c agent/ruleset/local.c \
	agent/ruleset/query.c agent/ruleset/open.c agent/ruleset/snapfile.c
AGENT_SRCS := agent/main.c agent/agent_config.c $(RULESET_SRCS) agent/stats.c agent/stats_figs.c agent/stats_ids.c agent/sync.c \
	agent/beacon.c agent/service.c agent/protect.c agent/ifwatch.c agent/detach.c agent/wedge.c \
	agent/talkers.c agent/talkers_rpc.c
AGENT_BIN  := $(BIN)/xdrop-agent
AGENT_SAN_BIN := $(BIN)/xdrop-agent-san

$(AGENT_SRCS:%.c=$(OBJ)/%.o) $(AGENT_SRCS:%.c=$(SANOBJ)/%.o): XCFLAGS += -Iagent
$(AGENT_SRCS:%.c=$(OBJ)/%.o) $(AGENT_SRCS:%.c=$(SANOBJ)/%.o): | $(PROTO_H) $(BPF_SKEL)
$(AGENT_BIN): $(AGENT_SRCS:%.c=$(OBJ)/%.o) $(DP_A) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lyaml -lpthread
# the same daemon under ASan+UBSan, for the agent's tests
$(AGENT_SAN_BIN): $(AGENT_SRCS:%.c=$(SANOBJ)/%.o) $(DP_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lyaml -lpthread

ALL_TARGETS += $(AGENT_BIN) $(AGENT_SAN_BIN)
CHECK_SOURCES += $(AGENT_SRCS) agent/agent_config.h agent/ruleset.h agent/stats.h agent/stats_figs.h agent/stats_ids.h \
	agent/sync.h agent/beacon.h agent/service.h agent/ruleset/model.h \
	agent/protect.h agent/ifwatch.h agent/detach.h agent/wedge.h agent/talkers.h \
	agent/talkers_rpc.h

# The rule set's unit suite: the real module on an unpinned data plane (tests/lib/testdp).
$(SANOBJ)/tests/unit/test_ruleset.o: XCFLAGS += -Iagent -Itests/lib
$(SANOBJ)/tests/unit/test_ruleset.o: | $(PROTO_H) $(BPF_SKEL)
$(TBIN)/test_ruleset: $(SANOBJ)/tests/unit/test_ruleset.o $(RULESET_SRCS:%.c=$(SANOBJ)/%.o) \
		$(SANOBJ)/tests/lib/testdp.o $(SANOBJ)/tests/lib/pkt.o $(DP_SAN_A) $(RPC_SAN_A) \
		$(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lcmocka -lpthread

ALL_TARGETS += $(TBIN)/test_ruleset
TEST_SUITES += $(TBIN)/test_ruleset
CHECK_SOURCES += tests/unit/test_ruleset.c

# The snapshot file's packed form (agent/ruleset/snapfile.c), on the same kind of data plane.
$(SANOBJ)/tests/unit/test_snapfile.o: XCFLAGS += -Iagent -Itests/lib
$(SANOBJ)/tests/unit/test_snapfile.o: | $(PROTO_H) $(BPF_SKEL)
$(TBIN)/test_snapfile: $(SANOBJ)/tests/unit/test_snapfile.o $(RULESET_SRCS:%.c=$(SANOBJ)/%.o) \
		$(SANOBJ)/tests/lib/testdp.o $(SANOBJ)/tests/lib/pkt.o $(DP_SAN_A) $(RPC_SAN_A) \
		$(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lcmocka -lpthread

ALL_TARGETS += $(TBIN)/test_snapfile
TEST_SUITES += $(TBIN)/test_snapfile
CHECK_SOURCES += tests/unit/test_snapfile.c

# Changes that do not wait for each other (ruleset/group.c): coalesced switches, atomic
# under concurrent writers and probes through the real program.
$(SANOBJ)/tests/unit/test_ruleset_group.o: XCFLAGS += -Iagent -Itests/lib
$(SANOBJ)/tests/unit/test_ruleset_group.o: | $(PROTO_H) $(BPF_SKEL)
$(TBIN)/test_ruleset_group: $(SANOBJ)/tests/unit/test_ruleset_group.o \
		$(RULESET_SRCS:%.c=$(SANOBJ)/%.o) $(SANOBJ)/tests/lib/testdp.o \
		$(SANOBJ)/tests/lib/pkt.o $(DP_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lcmocka -lpthread

ALL_TARGETS += $(TBIN)/test_ruleset_group
TEST_SUITES += $(TBIN)/test_ruleset_group
CHECK_SOURCES += tests/unit/test_ruleset_group.c

# The snapshot fetch (agent/sync.c) against a fake controller, into a real rule set.
$(SANOBJ)/tests/unit/test_sync.o: XCFLAGS += -Iagent -Itests/lib
$(SANOBJ)/tests/unit/test_sync.o: | $(PROTO_H) $(BPF_SKEL)
$(TBIN)/test_sync: $(SANOBJ)/tests/unit/test_sync.o $(SANOBJ)/agent/sync.o \
		$(RULESET_SRCS:%.c=$(SANOBJ)/%.o) $(SANOBJ)/tests/lib/testdp.o $(SANOBJ)/tests/lib/pkt.o \
		$(DP_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lcmocka -lpthread

ALL_TARGETS += $(TBIN)/test_sync
TEST_SUITES += $(TBIN)/test_sync
CHECK_SOURCES += tests/unit/test_sync.c

# The sampler's unit suite: agent/stats.c with the real rule set on an unpinned data plane.
$(SANOBJ)/tests/unit/test_stats.o: XCFLAGS += -Iagent -Itests/lib
$(SANOBJ)/tests/unit/test_stats.o: | $(PROTO_H) $(BPF_SKEL)
$(TBIN)/test_stats: $(SANOBJ)/tests/unit/test_stats.o $(RULESET_SRCS:%.c=$(SANOBJ)/%.o) \
		$(SANOBJ)/agent/stats.o $(SANOBJ)/agent/stats_figs.o $(SANOBJ)/agent/stats_ids.o $(SANOBJ)/tests/lib/testdp.o $(SANOBJ)/tests/lib/pkt.o \
		$(DP_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF) -lcmocka -lpthread

ALL_TARGETS += $(TBIN)/test_stats
TEST_SUITES += $(TBIN)/test_stats
CHECK_SOURCES += tests/unit/test_stats.c

# The top-talker engine's unit suites: the engine fed synthetic samples with the time
# passed in (test_talkers), its RPC handler through rpc_server_process and the top_talkers
# config keys (test_talkers_rpc).
TALKERS_TESTS := test_talkers test_talkers_rpc
$(TBIN)/test_talkers: $(SANOBJ)/agent/talkers.o
$(TBIN)/test_talkers_rpc: $(addprefix $(SANOBJ)/agent/,talkers.o talkers_rpc.o agent_config.o)
$(TALKERS_TESTS:%=$(SANOBJ)/tests/unit/%.o): XCFLAGS += -Iagent -Itests/lib
$(TALKERS_TESTS:%=$(SANOBJ)/tests/unit/%.o): | $(PROTO_H) $(BPF_SKEL)
$(TALKERS_TESTS:%=$(TBIN)/%): $(TBIN)/%: $(SANOBJ)/tests/unit/%.o $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(RPC_LDLIBS) $(LDLIBS_BPF) \
		-lyaml -lcmocka -lpthread

ALL_TARGETS += $(TALKERS_TESTS:%=$(TBIN)/%)
TEST_SUITES += $(TALKERS_TESTS:%=$(TBIN)/%)
CHECK_SOURCES += $(TALKERS_TESTS:%=tests/unit/%.c)
