# SPDX-License-Identifier: MIT
# gateway/: xdrop-gateway (REST API, web UI files, SSE, /metrics) on libmicrohttpd and cJSON.
# The JSON <-> proto conversion is lib/json (lib/json.mk), shared with xdropctl.
GW_SRCS    := gateway/main.c gateway/gw_config.c gateway/upstream.c gateway/auth.c \
	gateway/http.c gateway/routes.c gateway/api.c gateway/api_op.c gateway/api_batch.c gateway/api_put.c gateway/api_list.c gateway/api_compat.c gateway/api_compat_node.c gateway/api_source.c gateway/api_anomaly.c gateway/api_top.c gateway/api_cluster.c gateway/static.c gateway/sse.c \
	gateway/metrics.c gateway/metrics_fmt.c gateway/metrics_fleet.c gateway/metrics_rules.c gateway/cache.c gateway/framing.c gateway/webpass.c
GW_BIN     := $(BIN)/xdrop-gateway
GW_SAN_BIN := $(BIN)/xdrop-gateway-san
GW_LDLIBS  := -lmicrohttpd -lcjson -lyaml -lm $(RPC_LDLIBS) $(LDLIBS_BPF)

GW_ALL_SRCS := $(GW_SRCS)
$(GW_ALL_SRCS:%.c=$(OBJ)/%.o) $(GW_ALL_SRCS:%.c=$(SANOBJ)/%.o): XCFLAGS += -Igateway
$(GW_ALL_SRCS:%.c=$(OBJ)/%.o) $(GW_ALL_SRCS:%.c=$(SANOBJ)/%.o): | $(PROTO_H)

$(GW_BIN): $(GW_ALL_SRCS:%.c=$(OBJ)/%.o) $(JSON_A) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(GW_LDLIBS)
# the same daemon under ASan+UBSan: the REST suites run this one
$(GW_SAN_BIN): $(GW_ALL_SRCS:%.c=$(SANOBJ)/%.o) $(JSON_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(GW_LDLIBS)

ALL_TARGETS += $(GW_BIN) $(GW_SAN_BIN)
TEST_SUITES += tests/gateway/test_rest.sh tests/gateway/test_limits.sh tests/gateway/test_controller.sh \
	tests/gateway/test_batch.sh \
	tests/gateway/test_compat.sh tests/gateway/test_anomaly.sh tests/gateway/test_cluster.sh
CHECK_SOURCES += $(GW_ALL_SRCS) $(filter-out gateway/main.h gateway/api_op.h gateway/api_batch.h gateway/api_put.h gateway/api_list.h gateway/api_compat.h gateway/api_compat_node.h gateway/api_source.h gateway/api_anomaly.h gateway/api_top.h gateway/api_cluster.h gateway/metrics_fleet.h gateway/metrics_fmt.h \
	gateway/metrics_rules.h,$(GW_ALL_SRCS:.c=.h)) \
	gateway/gateway.h gateway/metrics_int.h

# Test: build/tests/test_metrics (cmocka): the node and traffic families of /metrics from
# made-up replies (each packet once, escaping, one-hot, node mode).
GW_METRICS_TEST_OBJS := $(SANOBJ)/gateway/metrics_fleet.o $(SANOBJ)/gateway/metrics_fmt.o
$(SANOBJ)/tests/gateway/test_metrics.o: XCFLAGS += -Igateway
$(SANOBJ)/tests/gateway/test_metrics.o: | $(PROTO_H)
$(TBIN)/test_metrics: $(SANOBJ)/tests/gateway/test_metrics.o $(GW_METRICS_TEST_OBJS) $(RPC_SAN_A) \
	$(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcmocka $(RPC_LDLIBS) $(LDLIBS_BPF)
ALL_TARGETS += $(TBIN)/test_metrics
TEST_SUITES += $(TBIN)/test_metrics
CHECK_SOURCES += tests/gateway/test_metrics.c
