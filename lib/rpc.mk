# SPDX-License-Identifier: MIT
# lib/ RPC layer: protobuf framing over nng (rpc), pub/sub (pubsub) and beacon signatures
# (beaconsig), endpoints and TLS (tls),
# the guard against a wedged nng (watchdog, closewatch, sdnotify; timers in recovery.h).
# Archives: build/libxdrop-rpc.a (daemons) and build/libxdrop-rpc-san.a (ASan+UBSan, tests).
# Link them with $(RPC_LDLIBS) and lib/log.c (build/libxdrop.a).
#
# Tests: build/tests/test_rpc, build/tests/test_pubsub (cmocka over inproc://),
# tests/rpc/interop.sh (nngcat + protoc against build/tests/rpc_test_server),
# tests/rpc/tls.sh (generated certificates, build/tests/test_rpc_tls),
# tests/fuzz/run.sh (libFuzzer build/tests/fuzz_rpc for FUZZ_SECONDS, default 60).
RPC_SRCS     := lib/rpc.c lib/rpc_server.c lib/rpc_frame.c lib/rpc_pipes.c lib/rpc_client.c \
	lib/dial.c lib/pubsub.c lib/beaconsig.c lib/tls.c lib/rulepb.c lib/pbfield.c lib/rulehash.c lib/watchdog.c lib/closewatch.c lib/sdnotify.c lib/nodekey.c \
	lib/limiter.c lib/authlimit.c lib/talkreq.c lib/dqtls.c
RPC_OBJS     := $(RPC_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/$(PROTO_C:.c=.o)
RPC_SAN_OBJS := $(RPC_SRCS:%.c=$(SANOBJ)/%.o) $(SANOBJ)/$(PROTO_C:.c=.o)
RPC_A        := $(BUILD)/libxdrop-rpc.a
RPC_SAN_A    := $(BUILD)/libxdrop-rpc-san.a
RPC_LDLIBS   := -lnng -lprotobuf-c -lmbedcrypto -lpthread

FUZZ_SECONDS ?= 60
export FUZZ_SECONDS
FUZZ_CC      ?= clang-14

$(RPC_A): $(RPC_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(RPC_SAN_A): $(RPC_SAN_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Test programs link lib/log.c, clock.c and ticker.c as objects so they do not wait on the
# rest of libxdrop.
RPC_TEST_LIBS := $(RPC_SAN_A) $(SANOBJ)/lib/log.o $(SANOBJ)/lib/clock.o $(SANOBJ)/lib/ticker.o
RPC_TEST_LDLIBS := $(RPC_LDLIBS) -lcmocka $(LDLIBS_BPF)
RPC_TESTS := $(TBIN)/test_rpc $(TBIN)/test_pubsub $(TBIN)/test_rpc_tls $(TBIN)/rpc_test_server \
	$(TBIN)/test_watchdog

$(RPC_TESTS): $(TBIN)/%: $(SANOBJ)/tests/unit/%.o $(RPC_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_TEST_LDLIBS)
# test_rpc's services and helpers are a file of their own
$(TBIN)/test_rpc: $(SANOBJ)/tests/unit/rpc_fixture.o $(SANOBJ)/lib/clock.o
$(SANOBJ)/tests/unit/rpc_fixture.o: | $(PROTO_H)

# Everything that includes the generated header waits for it.
$(RPC_OBJS) $(RPC_SAN_OBJS) $(RPC_TESTS:$(TBIN)/%=$(SANOBJ)/tests/unit/%.o): | $(PROTO_H)

# The fuzzer is built from source with clang: libFuzzer, ASan and UBSan in one runtime.
FUZZ_SRCS := tests/fuzz/fuzz_rpc.c $(filter-out lib/authlimit.c,$(RPC_SRCS)) $(PROTO_C) lib/log.c lib/clock.c lib/ticker.c lib/rule.c lib/addr.c
$(TBIN)/fuzz_rpc: $(FUZZ_SRCS) lib/rpc.h lib/pubsub.h lib/tls.h $(PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -I. -Ilib -Ibpf -I$(GEN) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $(FUZZ_SRCS) $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(RPC_A) $(RPC_SAN_A) $(RPC_TESTS) $(TBIN)/fuzz_rpc
TEST_SUITES += $(TBIN)/test_rpc $(TBIN)/test_pubsub $(TBIN)/test_watchdog tests/rpc/interop.sh \
	tests/rpc/tls.sh tests/fuzz/run.sh
CHECK_SOURCES += $(RPC_SRCS) $(wildcard $(RPC_SRCS:.c=.h)) lib/recovery.h $(wildcard tests/unit/test_rpc*.c \
	tests/unit/test_pubsub*.c tests/unit/test_watchdog.c tests/unit/rpc_test_server.c \
	tests/unit/rpc_fixture.c tests/unit/rpc_fixture.h \
	tests/fuzz/*.c)

# lib/rulepb (proto <-> spec <-> BPF key/value), table-driven; lib/rule and lib/addr's suites
# are in lib/module.mk.
$(TBIN)/test_rulepb: $(SANOBJ)/tests/unit/test_rulepb.o $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lprotobuf-c -lcmocka
$(SANOBJ)/tests/unit/test_rulepb.o: | $(PROTO_H)
ALL_TARGETS += $(TBIN)/test_rulepb
TEST_SUITES += $(TBIN)/test_rulepb
CHECK_SOURCES += tests/unit/test_rulepb.c
