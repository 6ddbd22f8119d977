# SPDX-License-Identifier: MIT
# lib/json: the one JSON <-> protobuf conversion (lib/json.h), linked by the gateway and by
# xdropctl. It is an archive of its own because it needs the generated schema (proto/) and
# cJSON, which the rest of libxdrop does not: link $(JSON_A) before $(RPC_A) and $(LIB_A)
# (it uses the schema's descriptors and lib/clock), with -lcjson -lm.
JSON_SRCS  := lib/json.c lib/decoder.c
JSON_A     := $(BUILD)/libxdrop-json.a
JSON_SAN_A := $(BUILD)/libxdrop-json-san.a
JSON_LDLIBS := -lcjson -lm

$(JSON_SRCS:%.c=$(OBJ)/%.o) $(JSON_SRCS:%.c=$(SANOBJ)/%.o): | $(PROTO_H)
$(JSON_A): $(JSON_SRCS:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(JSON_SAN_A): $(JSON_SRCS:%.c=$(SANOBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Test: build/tests/test_json (cmocka): JSON -> proto -> JSON round trips, the refusals
# (each naming its field), integers, times, durations, masks, the /stats fields.
$(SANOBJ)/tests/unit/test_json.o: | $(PROTO_H)
$(TBIN)/test_json: $(SANOBJ)/tests/unit/test_json.o $(JSON_SAN_A) $(RPC_SAN_A) $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(JSON_LDLIBS) -lcmocka $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(JSON_A) $(JSON_SAN_A) $(TBIN)/test_json
TEST_SUITES += $(TBIN)/test_json
CHECK_SOURCES += $(JSON_SRCS) $(JSON_SRCS:.c=.h) tests/unit/test_json.c
