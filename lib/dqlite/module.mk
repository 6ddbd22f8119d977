# SPDX-License-Identifier: MIT
# lib/dqlite: XDrop's client of dqlite's wire protocol (libdqlite 1.11 ships none): wire
# (encoding, decoding), rows (result sets), conn (one connection, timeouts, errors), client
# and leader (the requests as calls, leader discovery, joining), session (one database
# through whichever node leads, reconnected and retried). An archive of its own:
# link $(DQ_A) before $(LIB_A) (it uses lib/clock). No library beyond libc.
DQ_SRCS := lib/dqlite/wire.c lib/dqlite/wire_decode.c lib/dqlite/rows.c lib/dqlite/conn.c \
	lib/dqlite/client.c lib/dqlite/leader.c lib/dqlite/session.c
DQ_HDRS := lib/dqlite/wire.h lib/dqlite/rows.h lib/dqlite/conn.h lib/dqlite/client.h \
	lib/dqlite/session.h
DQ_A     := $(BUILD)/libxdrop-dqlite.a
DQ_SAN_A := $(BUILD)/libxdrop-dqlite-san.a

$(DQ_A): $(DQ_SRCS:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(DQ_SAN_A): $(DQ_SRCS:%.c=$(SANOBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(DQ_A) $(DQ_SAN_A)
CHECK_SOURCES += $(DQ_SRCS) $(DQ_HDRS)

# Tests (cmocka, ASan+UBSan). test_dqlite_wire: every request against hand-written bytes,
# every response decoded from hand-built frames, each frame cut short at every length and
# bounded random mutations (no read past a body). test_dqlite_cluster: a real 3-node cluster
# of xdrop-dqlite-node processes (tests/tools/) on loopback: SQL through the leader,
# follower refusals, kill -9 of the leader and the client following the new one, removal
# and re-addition of a node, a node that never answers. test_dqlite_conn: the connection
# against a scripted fake node (FAILURE codes, oversize, wrong or cut responses, silence,
# ROWS in parts, INTERRUPT draining what was in flight).
$(TBIN)/test_dqlite_wire: $(SANOBJ)/tests/unit/test_dqlite_wire.o $(DQ_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcmocka
$(SANOBJ)/tests/unit/test_dqlite_cluster.o: XCFLAGS += -Itests/lib
$(TBIN)/test_dqlite_cluster: $(SANOBJ)/tests/unit/test_dqlite_cluster.o $(DQ_SAN_A) $(LIB_SAN_A) \
		| $(BIN)/xdrop-dqlite-node
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $(filter-out |,$^) -lcmocka -lpthread

$(TBIN)/test_dqlite_conn: $(SANOBJ)/tests/unit/test_dqlite_conn.o $(DQ_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcmocka -lpthread

# test_dqlite_tls (run by tests/dqlite/tls.sh, which makes its certificates): the cluster
# over mutual TLS (lib/dqtls, in the RPC archive): replication, refused certificates,
# plaintext refused. tests/lib/dqcluster.h runs the xdrop-dqlite-node processes (with the
# --tls-* arguments in cl.extra, and a rogue node's own).
$(SANOBJ)/tests/unit/test_dqlite_tls.o: XCFLAGS += -Itests/lib
$(TBIN)/test_dqlite_tls: $(SANOBJ)/tests/unit/test_dqlite_tls.o \
		$(DQ_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A) | $(BIN)/xdrop-dqlite-node
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $(filter-out |,$^) -lcmocka $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(TBIN)/test_dqlite_tls
TEST_SUITES += tests/dqlite/tls.sh
CHECK_SOURCES += tests/unit/test_dqlite_tls.c

DQ_TESTS := test_dqlite_wire test_dqlite_conn test_dqlite_cluster
ALL_TARGETS += $(DQ_TESTS:%=$(TBIN)/%)
TEST_SUITES += $(DQ_TESTS:%=$(TBIN)/%)
CHECK_SOURCES += $(DQ_TESTS:%=tests/unit/%.c)

# tests/fuzz/dqlite.sh: libFuzzer on the response decoders (fuzz_dqlite, FUZZ_SECONDS,
# default 60), built from source with clang like fuzz_rpc (lib/rpc.mk's FUZZ_CC).
DQ_FUZZ_SRCS := tests/fuzz/fuzz_dqlite.c lib/dqlite/wire_decode.c lib/dqlite/rows.c
$(TBIN)/fuzz_dqlite: $(DQ_FUZZ_SRCS) $(DQ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -I. -Ilib \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $(DQ_FUZZ_SRCS)

ALL_TARGETS += $(TBIN)/fuzz_dqlite
TEST_SUITES += tests/fuzz/dqlite.sh
