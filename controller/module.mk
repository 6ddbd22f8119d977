# SPDX-License-Identifier: MIT
# controller/: xdrop-controller (SQLite store, services, pushes, node health, stats), and
# the unit test of the shared YAML loader (lib/config.c).
CONFIG_LDLIBS := -lyaml

$(TBIN)/test_config: $(SANOBJ)/tests/unit/test_config.o $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(CONFIG_LDLIBS) -lcmocka

ALL_TARGETS += $(TBIN)/test_config
TEST_SUITES += $(TBIN)/test_config
CHECK_SOURCES += tests/unit/test_config.c

# The controller's modules are an archive (normal and ASan+UBSan) so that tests link them
# without main.c. The store (controller/store/) and the RPC services (controller/service/)
# are folders; their headers are found through CTRL_INC.
CTRL_STORE_SRCS := $(addprefix controller/store/,db.c db_dqlite.c db_copy.c store_open.c store_db.c store_changes.c \
	store_coll.c store_merge.c store_source.c store_query.c store_nodes.c store_keys.c store_secure.c \
	store_row.c)
CTRL_SERVICE_SRCS := $(addprefix controller/service/,service.c service_util.c service_coll.c service_source.c \
	service_nodes.c service_stats.c service_keys.c service_sync.c service_stage.c service_cluster.c)
CTRL_SRCS   := $(CTRL_STORE_SRCS) $(CTRL_SERVICE_SRCS) controller/config.c controller/rules.c \
	controller/rulecounters.c controller/talkers.c controller/fanout.c \
	controller/nodes.c controller/publish.c controller/stats.c controller/auth.c \
	controller/idempotency.c controller/cluster_cfg.c controller/lease.c
CTRL_INC    := -Icontroller -Icontroller/store -Icontroller/service
CTRL_A      := $(BUILD)/libxdrop-ctrl.a
CTRL_SAN_A  := $(BUILD)/libxdrop-ctrl-san.a
CTRL_LDLIBS := -lsqlite3 $(CONFIG_LDLIBS) $(RPC_LDLIBS) $(LDLIBS_BPF)
CTRL_TEST_LIBS := $(CTRL_SAN_A) $(RPC_SAN_A) $(DQ_SAN_A) $(LIB_SAN_A)

$(CTRL_SRCS:%.c=$(OBJ)/%.o) $(CTRL_SRCS:%.c=$(SANOBJ)/%.o): | $(PROTO_H)
$(CTRL_SRCS:%.c=$(OBJ)/%.o) $(CTRL_SRCS:%.c=$(SANOBJ)/%.o): XCFLAGS += $(CTRL_INC)
$(CTRL_A): $(CTRL_SRCS:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(CTRL_SAN_A): $(CTRL_SRCS:%.c=$(SANOBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# C suites: tests/unit/test_store*.c and tests/controller/*.c, linked against the archives.
CTRL_TESTS := test_store test_store_durability test_lease
$(CTRL_TESTS:%=$(SANOBJ)/tests/unit/%.o): XCFLAGS += $(CTRL_INC)
$(CTRL_TESTS:%=$(SANOBJ)/tests/unit/%.o): | $(PROTO_H)
$(CTRL_TESTS:%=$(TBIN)/%): $(TBIN)/%: $(SANOBJ)/tests/unit/%.o $(CTRL_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(CTRL_LDLIBS) -lcmocka

ALL_TARGETS += $(CTRL_A) $(CTRL_SAN_A) $(CTRL_TESTS:%=$(TBIN)/%)
TEST_SUITES += $(CTRL_TESTS:%=$(TBIN)/%)

# test_store_dqlite: test_store.c again, on a real 3-node dqlite cluster (store_fixture.h,
# tests/lib/dqcluster.h: xdrop-dqlite-node processes on loopback).
$(SANOBJ)/tests/unit/test_store_dqlite.o: tests/unit/test_store.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(XCFLAGS) $(CTRL_INC) -Itests/lib -DXDROP_STORE_ON_DQLITE $(SANFLAGS) -MMD -MP \
		-c $< -o $@
$(TBIN)/test_store_dqlite: $(SANOBJ)/tests/unit/test_store_dqlite.o $(CTRL_TEST_LIBS) \
		| $(BIN)/xdrop-dqlite-node
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $(filter-out |,$^) $(CTRL_LDLIBS) -lcmocka

ALL_TARGETS += $(TBIN)/test_store_dqlite
TEST_SUITES += $(TBIN)/test_store_dqlite
CHECK_SOURCES += tests/lib/dqcluster.h
CHECK_SOURCES += $(CTRL_SRCS) $(wildcard controller/*.h controller/store/*.h controller/service/*.h) \
	$(CTRL_TESTS:%=tests/unit/%.c) tests/unit/store_fixture.h

# The daemon.
$(OBJ)/controller/main.o: XCFLAGS += $(CTRL_INC)
# controller/cluster.c (the embedded dqlite node) links libdqlite: the daemon only.
$(OBJ)/controller/main.o $(OBJ)/controller/cluster.o $(OBJ)/controller/backup.o: | $(PROTO_H)
$(OBJ)/controller/cluster.o $(OBJ)/controller/backup.o: XCFLAGS += $(CTRL_INC)
$(BIN)/xdrop-controller: $(OBJ)/controller/main.o $(OBJ)/controller/cluster.o \
		$(OBJ)/controller/backup.o $(CTRL_A) $(RPC_A) \
		$(DQ_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(CTRL_LDLIBS) -ldqlite

ALL_TARGETS += $(BIN)/xdrop-controller
CHECK_SOURCES += controller/main.c controller/cluster.c controller/backup.c

# End-to-end suites of the controller: tests/controller/test_*.c with the harness
# (in-process controller, toy agents on lib/pubsub); test_nodes also makes certificates
# with openssl, test_ctl_config reads controller/config.example.yaml.
CTRL_E2E := test_push test_service test_nodes test_ctl_config test_idempotency test_traffic \
	test_anomaly \
	test_source test_stage
CTRL_HARNESS := $(SANOBJ)/tests/controller/harness.o
$(CTRL_E2E:%=$(SANOBJ)/tests/controller/%.o) $(CTRL_HARNESS): XCFLAGS += $(CTRL_INC) -Itests/controller
$(CTRL_E2E:%=$(SANOBJ)/tests/controller/%.o) $(CTRL_HARNESS): | $(PROTO_H)
$(CTRL_E2E:%=$(TBIN)/%): $(TBIN)/%: $(SANOBJ)/tests/controller/%.o $(CTRL_HARNESS) $(CTRL_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(CTRL_LDLIBS) -lcmocka

ALL_TARGETS += $(CTRL_E2E:%=$(TBIN)/%)
TEST_SUITES += $(CTRL_E2E:%=$(TBIN)/%)
CHECK_SOURCES += $(wildcard tests/controller/*.c tests/controller/*.h)

# The periodic work (heartbeat, expiry sweep, stats sampler) keeps its pace on the
# monotonic clock: every clock read of this binary goes through the test's clock_gettime
# (--wrap), which puts the wall clock an hour ahead of the kernel's.
$(SANOBJ)/tests/controller/test_periodic.o: XCFLAGS += $(CTRL_INC)
$(SANOBJ)/tests/controller/test_periodic.o: | $(PROTO_H)
$(TBIN)/test_periodic: $(SANOBJ)/tests/controller/test_periodic.o $(CTRL_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -Wl,--wrap=clock_gettime -o $@ $^ $(CTRL_LDLIBS) -lcmocka

ALL_TARGETS += $(TBIN)/test_periodic
TEST_SUITES += $(TBIN)/test_periodic

# The real binary driven with nngcat and protoc: config errors, key bootstrap, SIGTERM,
# kill -9 during 10,000-rule batches, one controller per database, the ipc wedge.
TEST_SUITES += tests/controller/daemon.sh
tests/controller/daemon.sh: $(BIN)/xdrop-controller $(BIN)/xdrop-call

# Three real controllers forming a dqlite cluster (cluster sections) on loopback: writes
# through the leader, kill -9 of the leader, the new one serving, nothing lost or doubled,
# the revision without a gap.
TEST_SUITES += tests/controller/cluster.sh
tests/controller/cluster.sh: $(BIN)/xdrop-controller $(BIN)/xdropctl

# The same cluster in three network namespaces with the history checker
# (tests/lib/history.py) and the real gateway: kill -9 of the leader under 100 writes/s,
# the leader's link cut (its side refuses at once), a follower restarted, all three
# restarted, a follower replaced by a new machine. The slowest suite (about 3 min).
TEST_SUITES += tests/controller/cluster_faults.sh
FAULT_SUITES += tests/controller/cluster_faults.sh # make test-faults: it alone
tests/controller/cluster_faults.sh: $(BIN)/xdrop-controller $(BIN)/xdropctl \
	$(BIN)/xdrop-dqlite-transfer $(BIN)/xdrop-gateway
